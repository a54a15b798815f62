"""The console's live referral-queue dashboard (/console/queues), over httpx on both backends:
its numbers are the API's, its charts are accessible images with a table of the same numbers,
and it refreshes by htmx polling of a fragment."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from sharegraph.datastore.engine import Database

from .conftest import Api, make_api
from .console_support import console as console  # the fixture
from .portal_support import Portal, open_portal, portal_settings, set_password

DASHBOARD = "/console/queues"
LIVE = "/console/queues/live"

COUNTS = """
{ referralQueues(first: 10) { edges { node {
    id name
    dashboard { awaiting counts { count status { key label } } capacity { program { name } available } }
} } } }
"""


@pytest.fixture
async def admin_api(console: Portal, keys: dict[str, str]) -> AsyncIterator[Api]:
    async for api in make_api(console.db, keys):
        yield api


def _sections(page: str) -> dict[str, str]:
    """Each queue's section of the page, by the queue's global id."""
    found = re.findall(
        r'<section class="card queue"[^>]*data-queue-id="([^"]+)">(.*?)</section>', page, re.S
    )
    return dict(found)


def _column(table: str, column: int) -> list[str]:
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", table, re.S)
    return [re.findall(r"<td>(.*?)</td>", row)[column] for row in rows]


async def test_the_dashboard_shows_the_apis_counts(console: Portal, admin_api: Api) -> None:
    page = await console.browser.http.get(DASHBOARD)
    assert page.status_code == 200 and 'class="problem"' not in page.text
    sections = _sections(page.text)
    queues = [
        e["node"]
        for e in (await admin_api.data("prairie-admin", COUNTS))["referralQueues"]["edges"]
    ]
    assert queues and set(sections) == {q["id"] for q in queues}
    for queue in queues:
        section = sections[queue["id"]]
        assert queue["name"] in section
        shown = dict(
            re.findall(
                r'<tr data-status="([^"]+)"><th scope="row">[^<]*</th><td class="count">(\d+)</td>',
                section,
            )
        )
        expected = {c["status"]["key"]: str(c["count"]) for c in queue["dashboard"]["counts"]}
        assert shown == expected
        assert sum(map(int, expected.values())) > 0  # real demo data
        assert f'<dd class="awaiting">{queue["dashboard"]["awaiting"]}</dd>' in section
        assert re.search(r'<dd class="median">\d+ (min|h|d)', section)
        for program in queue["dashboard"]["capacity"]:
            assert program["program"]["name"] in section
            assert f'<td class="available">{program["available"]} / ' in section


async def test_the_charts_are_named_images_with_the_same_numbers_as_their_tables(
    console: Portal, admin_api: Api
) -> None:
    page = await console.browser.http.get(DASHBOARD, params={"days": "7", "buckets": "14"})
    assert page.status_code == 200
    for queue_id, section in _sections(page.text).items():
        charts = re.findall(r'(<svg class="chart" id="([^"]+)" role="img".*?</svg>)', section, re.S)
        assert [chart_id.split("-")[0] for _svg, chart_id in charts] == ["length", "capacity"]
        for svg, chart_id in charts:
            assert f'aria-labelledby="{chart_id}-title" aria-describedby="{chart_id}-desc"' in svg
            assert re.search(rf'<title id="{chart_id}-title">[^<]+over time</title>', svg)
            assert re.search(rf'<desc id="{chart_id}-desc">[^<]+</desc>', svg)
            table = section.split(f'data-chart="{chart_id}"', 1)[1].split("</table>", 1)[0]
            series = re.findall(r'data-series="([^"]+)" data-values="([^"]+)"', svg)
            assert series
            for n, (name, values) in enumerate(series):
                assert f'<th scope="col">{name}</th>' in table
                cells = [v if v != "—" else "-" for v in _column(table, n)]
                assert cells == values.split(), (chart_id, name)
        # The length chart's numbers are the API's, at the moments its table names.
        length_id = charts[0][1]
        table = section.split(f'data-chart="{length_id}"', 1)[1].split("</table>", 1)[0]
        moments = [
            datetime.fromisoformat(m) for m in re.findall(r'<time datetime="([^"]+)"', table)
        ]
        assert len(moments) == 14
        step = moments[1] - moments[0]
        answer = await admin_api.data(
            "prairie-admin",
            """query($id: ID!, $from: DateTime!, $to: DateTime!, $n: Int!) {
                 referralQueue(id: $id) { lengthOverTime(from: $from, to: $to, buckets: $n) {
                   waiting } } }""",
            {
                "id": queue_id,
                "from": (moments[0] - step).isoformat(),
                "to": moments[-1].isoformat(),
                "n": 14,
            },
        )
        expected = [str(p["waiting"]) for p in answer["referralQueue"]["lengthOverTime"]]
        assert _column(table, 0) == expected
        # And the capacity chart's table holds the API's capacityOverTime, program by program.
        capacity_id = charts[1][1]
        table = section.split(f'data-chart="{capacity_id}"', 1)[1].split("</table>", 1)[0]
        answer = await admin_api.data(
            "prairie-admin",
            """query($id: ID!, $from: DateTime!, $to: DateTime!, $n: Int!) {
                 referralQueue(id: $id) { capacityOverTime(from: $from, to: $to, buckets: $n) {
                   program { name } points { available maximum } } } }""",
            {
                "id": queue_id,
                "from": (moments[0] - step).isoformat(),
                "to": moments[-1].isoformat(),
                "n": 14,
            },
        )
        column = 0
        for program in answer["referralQueue"]["capacityOverTime"]:
            for figure in ("available", "maximum"):
                shown = _column(table, column)
                column += 1
                assert shown == [
                    "—" if p[figure] is None else str(p[figure]) for p in program["points"]
                ], (program["program"]["name"], figure)
        assert column > 0


async def test_the_dashboard_refreshes_a_fragment_every_five_seconds(console: Portal) -> None:
    page = await console.browser.http.get(DASHBOARD)
    poll = re.search(r'<div id="queues-live" hx-get="([^"]+)" hx-trigger="every 5s"', page.text)
    assert poll and poll.group(1).startswith(LIVE)
    fragment = await console.browser.http.get(poll.group(1).replace("&amp;", "&"))
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "<nav" not in fragment.text
    assert _sections(fragment.text).keys() == _sections(page.text).keys()
    assert 'role="img"' in fragment.text
    assert fragment.headers["content-security-policy"].startswith("default-src 'none'")


async def test_bad_input_gets_a_clear_problem(console: Portal) -> None:
    too_long = await console.browser.http.get(DASHBOARD, params={"days": "400"})
    assert too_long.status_code == 400
    assert "BAD_USER_INPUT" in too_long.text and "RANGE_TOO_LONG" in too_long.text
    too_many = await console.browser.http.get(LIVE, params={"buckets": "500"})
    assert too_many.status_code == 400 and "TOO_MANY_BUCKETS" in too_many.text
    # Said once, though every queue's two charts fail alike.
    assert too_long.text.count("RANGE_TOO_LONG") == 1
    assert too_many.text.count("TOO_MANY_BUCKETS") == 1
    assert "No referral queues" not in too_long.text + too_many.text
    too_many_page = await console.browser.http.get(DASHBOARD, params={"buckets": "500"})
    assert too_many_page.text.count("TOO_MANY_BUCKETS") == 1
    not_a_number = await console.browser.http.get(DASHBOARD, params={"days": "a week"})
    assert not_a_number.status_code == 400 and "BAD_USER_INPUT" in not_a_number.text
    # Beyond the calendar (datetime arithmetic overflows): a problem, not a plain-text 500.
    for days in ("100000000", "1000000000", "99999999999999999999"):
        for path in (DASHBOARD, LIVE):
            huge = await console.browser.http.get(path, params={"days": days})
            assert huge.status_code == 400, (path, days, huge.text[:200])
            assert "RANGE_TOO_LONG" in huge.text


async def test_non_admins_are_refused(seeded_db: Database) -> None:
    for name in ("prairie-call-taker", "eastside-portal"):
        await set_password(seeded_db, name)
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        for name in ("prairie-call-taker", "eastside-portal"):
            await p.browser.http.post(
                "/signout", data={"csrf_token": await p.browser.token("/signin")}
            )
            await p.browser.sign_in(name)
            for path in (DASHBOARD, LIVE):
                page = await p.browser.http.get(path)
                assert page.status_code == 403, (name, path)
                assert "NOT_ADMIN" in page.text and 'role="img"' not in page.text


async def test_a_poll_after_the_session_ended_sends_the_page_to_sign_in(
    seeded_db: Database,
) -> None:
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        polled = await p.browser.http.get(LIVE, headers={"HX-Request": "true"})
        assert polled.status_code == 204
        assert polled.headers["hx-redirect"] == "/signin?next=/console/queues"
        page = await p.browser.http.get(DASHBOARD)
        assert (
            page.status_code == 303 and page.headers["location"] == "/signin?next=/console/queues"
        )
