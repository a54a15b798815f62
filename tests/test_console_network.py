"""The console's network area (/console/network): shared contact forms, follow-up hand-offs,
inventories and network statistics, over httpx on both backends. Every change made on a page
is checked again through the API."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sharegraph.datastore.engine import Database

from .conftest import Api, make_api
from .console_support import console as console  # the fixture
from .portal_support import Portal, open_portal, portal_settings, set_password

OVERVIEW = "/console/network"


@pytest.fixture
async def admin_api(console: Portal, keys: dict[str, str]) -> AsyncIterator[Api]:
    """The API on the console's own database, to check what the pages changed."""
    async for api in make_api(console.db, keys):
        yield api


def main(page: str) -> str:
    return page.split('<main id="main">', 1)[1]


async def _forms(api: Api) -> list[dict[str, Any]]:
    data = await api.data("prairie-admin", "{ contactFormVersions { id formId formName } }")
    return list(data["contactFormVersions"])


async def _tenant(api: Api, name: str) -> str:
    tenants = (await api.data("prairie-admin", "{ tenants { id name } }"))["tenants"]
    return str(next(t["id"] for t in tenants if t["name"] == name))


async def _live_shares(api: Api, form_id: str) -> list[dict[str, Any]]:
    data = await api.data(
        "prairie-admin",
        "{ sharingAgreements { name rowScope actions revokedAt grantee { tenant { name } } } }",
    )
    return [
        a
        for a in data["sharingAgreements"]
        if a["rowScope"] == f"shared_form:{form_id}" and a["revokedAt"] is None
    ]


async def test_the_overview_shows_the_demo_networks_shares(console: Portal, admin_api: Api) -> None:
    page = await console.browser.http.get(OVERVIEW)
    assert page.status_code == 200 and 'class="problem"' not in page.text
    body = main(page.text)
    forms = await _forms(admin_api)
    for form in forms:
        assert html.escape(form["formName"]) in body
    # Prairie shares its after-hours form with Lakeside (the demo's "After-hours intake").
    after_hours = next(f for f in forms if f["formName"] == "After-hours intake")
    card = body.split(f'id="form-{after_hours["formId"]}"', 1)[1].split('class="card', 1)[0]
    assert "Lakeside Crisis Line" in card and "After-hours intake (read, write)" in card
    # Follow-ups handed to Lakeside, under which agreement, with the API's counts.
    lakeside = await _tenant(admin_api, "Lakeside Crisis Line")
    counted = await admin_api.data(
        "prairie-admin",
        """query($t: ID!) {
             open: followUps(first: 0, filter: {assignedTenantId: $t, status: OPEN}) { totalCount }
             all: followUps(first: 0, filter: {assignedTenantId: $t}) { totalCount }
           }""",
        {"t": lakeside},
    )
    follow_ups = body.split('id="follow-ups-heading"', 1)[1]
    assert "Follow-ups handed to lakeside" in follow_ups
    assert "follow-ups assigned to that tenant" in follow_ups
    expected = f"{counted['open']['totalCount']} / {counted['all']['totalCount']}"
    assert f'<span class="follow-up-count">{expected}</span>' in follow_ups
    assert counted["all"]["totalCount"] > 0


async def test_sharing_and_unsharing_a_form_version(console: Portal, admin_api: Api) -> None:
    forms = await _forms(admin_api)
    standard = next(f for f in forms if f["formName"] == "Standard call report")
    riverbend = await _tenant(admin_api, "Riverbend 211")
    assert await _live_shares(admin_api, standard["formId"]) == []

    shared = await console.browser.submit(
        OVERVIEW,
        OVERVIEW + "/share",
        {
            "formId": standard["id"],  # a version's id: the share covers the whole form
            "granteeTenantId": riverbend,
            "search": "on",
            "statistics": "on",
            "purpose": "regional planning",
        },
    )
    assert shared.status_code == 303 and shared.headers["location"] == OVERVIEW + "?done=shared"
    live = await _live_shares(admin_api, standard["formId"])
    assert {a["grantee"]["tenant"]["name"] for a in live} == {"Riverbend 211"}
    assert sorted(a for agreement in live for a in agreement["actions"]) == ["read", "statistics"]
    page = await console.browser.http.get(shared.headers["location"])
    assert "The form is shared." in page.text
    card = main(page.text).split(f'id="form-{standard["formId"]}"', 1)[1].split("</table>")[0]
    assert "Riverbend 211" in card
    assert "Read its records (read)" in card
    assert "Count them in network statistics (statistics)" in card

    unshared = await console.browser.submit(
        OVERVIEW,
        OVERVIEW + "/unshare",
        {"formId": standard["formId"], "granteeTenantId": riverbend},
    )
    assert unshared.status_code == 303
    assert await _live_shares(admin_api, standard["formId"]) == []
    page = await console.browser.http.get(OVERVIEW)
    card = main(page.text).split(f'id="form-{standard["formId"]}"', 1)[1].split('class="card', 1)[0]
    assert "Riverbend 211" not in card and "Not shared with another tenant." in card


async def test_a_bad_share_gets_the_apis_problem(console: Portal, admin_api: Api) -> None:
    forms = await _forms(admin_api)
    riverbend = await _tenant(admin_api, "Riverbend 211")
    bad = await console.browser.submit(
        OVERVIEW,
        OVERVIEW + "/share",
        {"formId": forms[0]["id"], "granteeTenantId": riverbend, "edit": "on", "purpose": "x"},
    )
    assert bad.status_code == 400
    assert "BAD_USER_INPUT" in bad.text and "INVALID_FORM_SHARE" in bad.text
    assert "edit needs search" in bad.text
    live = await _live_shares(admin_api, forms[0]["formId"])
    assert "Riverbend 211" not in {a["grantee"]["tenant"]["name"] for a in live}


INVENTORIES = "/console/network/inventories"
LISTED = "{ inventories { id name description items { record { id } } } }"


async def test_editing_an_inventory_changes_it(console: Portal, admin_api: Api) -> None:
    created = await console.browser.submit(
        INVENTORIES, INVENTORIES, {"name": "Winter shelters", "description": "for cold nights"}
    )
    assert created.status_code == 303
    found = (await admin_api.data("prairie-admin", LISTED))["inventories"]
    winter = next(i for i in found if i["name"] == "Winter shelters")
    assert winter["description"] == "for cold nights" and winter["items"] == []

    page = await console.browser.http.get(created.headers["location"])
    assert "Winter shelters" in page.text and "The inventory is created." in page.text
    service = re.search(
        r'<option value="([^"]+)">([^<]+)</option>', page.text.split('name="serviceId"')[1]
    )
    assert service
    added = await console.browser.submit(
        INVENTORIES, INVENTORIES + "/add", {"id": winter["id"], "serviceId": service.group(1)}
    )
    assert added.status_code == 303
    items = next(
        i
        for i in (await admin_api.data("prairie-admin", LISTED))["inventories"]
        if i["id"] == winter["id"]
    )["items"]
    assert [i["record"]["id"] for i in items] == [service.group(1)]
    page = await console.browser.http.get(INVENTORIES)
    assert html.escape(html.unescape(service.group(2))) in page.text.split("Winter shelters", 1)[1]

    renamed = await console.browser.submit(
        INVENTORIES,
        INVENTORIES + "/update",
        {"id": winter["id"], "name": "Cold-weather shelters", "description": ""},
    )
    assert renamed.status_code == 303
    removed = await console.browser.submit(
        INVENTORIES, INVENTORIES + "/remove", {"id": winter["id"], "recordId": service.group(1)}
    )
    assert removed.status_code == 303
    now = next(
        i
        for i in (await admin_api.data("prairie-admin", LISTED))["inventories"]
        if i["id"] == winter["id"]
    )
    assert now["name"] == "Cold-weather shelters" and now["description"] is None
    assert now["items"] == []

    deleted = await console.browser.submit(
        INVENTORIES, INVENTORIES + "/delete", {"id": winter["id"]}
    )
    assert deleted.status_code == 303
    assert winter["id"] not in {
        i["id"] for i in (await admin_api.data("prairie-admin", LISTED))["inventories"]
    }


async def test_a_nameless_inventory_is_refused_with_its_code(console: Portal) -> None:
    bad = await console.browser.submit(INVENTORIES, INVENTORIES, {"name": "  "})
    assert bad.status_code == 400 and "BAD_USER_INPUT" in bad.text


STATISTICS = "/console/network/statistics"


async def test_statistics_show_suppressed_cells_as_suppressed(
    console: Portal, admin_api: Api
) -> None:
    forms = await _forms(admin_api)
    after_hours = next(f for f in forms if f["formName"] == "After-hours intake")
    page = await console.browser.http.get(
        STATISTICS, params={"form": after_hours["formId"], "groupBy": "CHANNEL"}
    )
    assert page.status_code == 200 and 'class="problem"' not in page.text
    # The page's own window, read back off its form, asked of the API directly.
    start = re.search(r'name="from" type="date" value="([^"]+)"', page.text)
    end = re.search(r'name="to" type="date" value="([^"]+)"', page.text)
    assert start and end
    stats = (
        await admin_api.data(
            "prairie-admin",
            """query($f: ID!, $from: Date, $to: Date) {
                 networkStatistics(formId: $f, groupBy: [CHANNEL], from: $from, to: $to) {
                   threshold total totalSuppressed cells { channel count suppressed } } }""",
            {"f": after_hours["formId"], "from": start.group(1), "to": end.group(1)},
        )
    )["networkStatistics"]
    suppressed = [c for c in stats["cells"] if c["suppressed"]]
    assert suppressed, stats  # the demo's after-hours line has small cells
    body = main(page.text)
    assert f'<strong class="threshold">{stats["threshold"]}</strong>' in body
    rows = re.findall(r"<tr>\s*<td>([A-Z_]+)</td>\s*<td>(.*?)</td>\s*</tr>", body, re.S)
    shown = {channel: cell for channel, cell in rows}
    for cell in stats["cells"]:
        if cell["suppressed"]:
            assert 'class="suppressed"' in shown[cell["channel"]]
            assert '<span class="count">' not in shown[cell["channel"]]
        else:
            assert f'<span class="count">{cell["count"]}</span>' in shown[cell["channel"]]
    assert '<span class="count">0</span>' not in body or all(
        c["count"] == 0 for c in stats["cells"] if not c["suppressed"]
    )


async def test_a_bad_statistics_request_gets_its_code(console: Portal) -> None:
    page = await console.browser.http.get(STATISTICS, params={"threshold": "many"})
    assert page.status_code == 400 and "BAD_USER_INPUT" in page.text
    page = await console.browser.http.get(STATISTICS, params={"from": "2026-13-40"})
    assert page.status_code == 400 and "BAD_USER_INPUT" in page.text


async def test_non_admins_are_refused(seeded_db: Database) -> None:
    await set_password(seeded_db, "prairie-call-taker")
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        await p.browser.sign_in("prairie-call-taker")
        for path in (OVERVIEW, INVENTORIES, STATISTICS):
            page = await p.browser.http.get(path)
            assert page.status_code == 403, path
            assert "for tenant administrators" in page.text and "NOT_ADMIN" in page.text
            assert "Share a form" not in page.text
        token = await p.browser.token("/portal")
        posted = await p.browser.http.post(
            OVERVIEW + "/unshare",
            data={"csrf_token": token, "formId": "x", "granteeTenantId": "y"},
        )
        assert posted.status_code in (400, 403)


async def test_signed_out_visitors_are_sent_to_sign_in(seeded_db: Database) -> None:
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        page = await p.browser.http.get(OVERVIEW)
        assert page.status_code == 303 and page.headers["location"].startswith("/signin")
