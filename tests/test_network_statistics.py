"""Network statistics over a shared form: counted across the tenants that grant statistics,
grouped by need, channel, county and week, with cells that could single out a caller withheld.
Once another tenant's records may be counted (network mode), figures are rounded to 5 and cover
whole, completed weeks only; a tenant counting its own records gets exact counts."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from itertools import combinations
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from sharegraph.datastore.models import (
    AuditEvent,
    ContactFormVersion,
    ContactRecord,
    ContactRecordNeed,
)
from sharegraph.demo import demo_id
from sharegraph.graph import statistics as graph_statistics
from sharegraph.graph.relay import to_global_id
from sharegraph.queries.statistics import Disclosure, suppress

from .conftest import Api, StatementCounter

AFTER_HOURS = demo_id("contact-form", "prairie-after-hours")
PRAIRIE_ID, LAKESIDE_ID = demo_id("tenant", "prairie"), demo_id("tenant", "lakeside")
CHICAGO = ZoneInfo("America/Chicago")

STATS = """
query($form: ID!, $groupBy: [StatisticsDimension!], $threshold: Int! = 5, $from: Date, $to: Date) {
  networkStatistics(formId: $form, groupBy: $groupBy, threshold: $threshold, from: $from, to: $to) {
    formUuid timeZone groupBy threshold rounding total totalSuppressed
    cells { needTermId need { code } channel county week count suppressed }
  }
}
"""
SHARE = """
mutation($input: ShareContactFormInput!) {
  shareContactForm(input: $input) { applied agreements { name actions fields rowScope } }
}
"""
DIMENSION_OF = {"NEED": "needTermId", "CHANNEL": "channel", "COUNTY": "county", "WEEK": "week"}


def round5(n: int) -> int:
    return 5 * round(n / 5)


def monday_of(moment: datetime) -> datetime:
    """The instant the ISO week holding ``moment`` starts in Chicago (Prairie's clock)."""
    day = moment.astimezone(CHICAGO).date()
    return datetime.combine(day - timedelta(days=day.weekday()), time(0), tzinfo=CHICAGO)


def pin_clock(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(graph_statistics, "clock", lambda: moment.astimezone(UTC))


async def share_statistics_with_lakeside(api: Api) -> None:
    await api.data(
        "prairie-admin",
        SHARE,
        {
            "input": {
                "formId": str(AFTER_HOURS),
                "granteeTenantId": to_global_id("Tenant", LAKESIDE_ID),
                "statistics": True,
                "purpose": "network reporting",
            }
        },
    )


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def reasons(body: dict[str, Any]) -> list[str | None]:
    return [e["extensions"].get("reason") for e in body.get("errors", [])]


async def _records(api: Api, tenants: Iterable[uuid.UUID]) -> list[dict[str, Any]]:
    """The records on the after-hours form, read plainly, for the expected counts."""
    async with api.database.read_session() as session:
        versions = select(ContactFormVersion.id).where(ContactFormVersion.form_id == AFTER_HOURS)
        rows = (
            await session.execute(
                select(
                    ContactRecord.id,
                    ContactRecord.tenant_id,
                    ContactRecord.channel,
                    ContactRecord.caller_county,
                    ContactRecord.started_at,
                ).where(
                    ContactRecord.form_version_id.in_(versions),
                    ContactRecord.tenant_id.in_(list(tenants)),
                )
            )
        ).all()
        needs = (
            await session.execute(
                select(ContactRecordNeed.contact_record_id, ContactRecordNeed.taxonomy_term_id)
            )
        ).all()
    terms: dict[uuid.UUID, list[str]] = {}
    for record_id, term_id in needs:
        terms.setdefault(record_id, []).append(to_global_id("TaxonomyTerm", term_id))
    out = []
    for record_id, tenant_id, channel, county, started in rows:
        year, week, _ = started.astimezone(CHICAGO).isocalendar()
        out.append(
            {
                "channel": channel.name,
                "county": county,
                "week": f"{year}-W{week:02d}",
                "needs": terms.get(record_id) or [None],
                "day": started.astimezone(CHICAGO).date(),
                "started": started,
                "tenant": tenant_id,
            }
        )
    return out


def _expected(records: list[dict[str, Any]], group_by: list[str]) -> Counter[tuple[Any, ...]]:
    counted: Counter[tuple[Any, ...]] = Counter()
    for record in records:
        if "NEED" in group_by:
            for need in record["needs"]:
                counted[tuple(need if d == "NEED" else record[d.lower()] for d in group_by)] += 1
        else:
            counted[tuple(record[d.lower()] for d in group_by)] += 1
    return counted


def _cells(stats: dict[str, Any], group_by: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(c[DIMENSION_OF[d]] for d in group_by): c for c in stats["cells"]}


def _assert_safe(
    cells: dict[tuple[Any, ...], dict[str, Any]],
    truth: Counter[tuple[Any, ...]],
    threshold: int,
    rounded: bool = False,
) -> None:
    """Shown counts are true (rounded to 5 in network mode); small cells are withheld; no line
    (for any set of dimensions summed over) withholds a single cell or less than the threshold
    in all. Suppression is decided on the true counts."""
    assert set(cells) == set(truth)
    hidden = {k for k, c in cells.items() if c["suppressed"]}
    for key, cell in cells.items():
        if key in hidden:
            assert cell["count"] is None
        else:
            assert truth[key] >= threshold
            assert cell["count"] == (round5(truth[key]) if rounded else truth[key])
    width = len(next(iter(cells)))
    for size in range(1, width + 1):
        for summed in combinations(range(width), size):
            lines: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
            for key in cells:
                rest = tuple(v for i, v in enumerate(key) if i not in summed)
                lines.setdefault(rest, []).append(key)
            for line in lines.values():
                withheld = [k for k in line if k in hidden]
                if withheld and len(withheld) < len(line):
                    assert len(withheld) >= 2, line
                    assert sum(truth[k] for k in withheld) >= threshold, line


async def _stats(api: Api, principal: str, **variables: Any) -> dict[str, Any]:
    data = await api.data(principal, STATS, {"form": str(AFTER_HOURS), **variables})
    result: dict[str, Any] = data["networkStatistics"]
    return result


async def test_a_shared_form_is_counted_across_the_tenants_that_grant_statistics(
    write_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = write_api
    now = datetime.now(UTC)
    pin_clock(monkeypatch, now)
    lakeside_only = await _records(api, [LAKESIDE_ID])
    both = await _records(api, [PRAIRIE_ID, LAKESIDE_ID])
    prairie_only = await _records(api, [PRAIRIE_ID])
    assert lakeside_only and len(both) > len(lakeside_only)
    # What network mode counts: the weeks completed on Prairie's clock.
    completed = [r for r in both if r["started"] < monday_of(now)]

    # Before Prairie shares statistics, Lakeside counts only its own records on the form:
    # exact, this week's included.
    before = await _stats(api, "lakeside-admin")
    assert before["total"] == len(lakeside_only) and before["timeZone"] == "America/Chicago"
    assert before["rounding"] == 1

    shared = await api.data(
        "prairie-admin",
        SHARE,
        {
            "input": {
                "formId": str(AFTER_HOURS),
                "granteeTenantId": to_global_id("Tenant", LAKESIDE_ID),
                "statistics": True,
                "purpose": "network reporting",
            }
        },
    )
    [agreement] = shared["shareContactForm"]["agreements"]
    assert agreement["actions"] == ["statistics"]
    assert agreement["rowScope"] == f"shared_form:{AFTER_HOURS}"

    after = await _stats(api, "lakeside-call-taker", groupBy=["CHANNEL"])
    assert after["total"] == round5(len(completed)) and after["rounding"] == 5
    truth = _expected(completed, ["CHANNEL"])
    _assert_safe(_cells(after, ["CHANNEL"]), truth, 5, rounded=True)
    assert after["threshold"] == 5

    # Prairie reads Lakeside's records on the form, but Lakeside grants it no statistics:
    # Prairie's count is its own.
    prairie = await _stats(api, "prairie-admin", groupBy=["CHANNEL"])
    assert prairie["total"] == len(prairie_only) and prairie["rounding"] == 1

    # Now Lakeside shares statistics back, for the channel only.
    body = await api.gql(
        "lakeside-admin",
        """mutation($input: SharingAgreementInput!) { createSharingAgreement(input: $input) { agreement { id } } }""",
        {
            "input": {
                "name": "After-hours statistics for Prairie",
                "purpose": "network reporting",
                "granteeKind": "TENANT",
                "granteeTenantId": to_global_id("Tenant", PRAIRIE_ID),
                "actions": ["statistics"],
                "fields": ["ContactRecord.channel"],
                "rowScope": f"shared_form:{AFTER_HOURS}",
            }
        },
    )
    assert "errors" not in body, body
    prairie = await _stats(api, "prairie-admin", groupBy=["CHANNEL"])
    assert prairie["total"] == round5(len(completed)) and prairie["rounding"] == 5
    body = await api.gql("prairie-admin", STATS, {"form": str(AFTER_HOURS), "groupBy": ["COUNTY"]})
    assert codes(body) == ["FORBIDDEN"] and reasons(body) == ["FORBIDDEN_GROUP_BY"]
    assert body["errors"][0]["extensions"]["coordinate"] == "ContactRecord.callerCounty"

    # Once another tenant's records count, no caller goes below the default threshold.
    low = await _stats(api, "lakeside-admin", groupBy=["CHANNEL"], threshold=1)
    assert low["threshold"] == 5

    # Each tenant whose records were counted finds the disclosure in its trail.
    async with api.database.read_session() as session:
        trail = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.tenant_id == PRAIRIE_ID, AuditEvent.action == "disclosure"
                )
            )
        ).all()
    assert any(
        (e.detail or {}).get("statistics", {}).get("formId") == str(AFTER_HOURS) for e in trail
    )


async def test_counts_by_week_and_county_follow_the_form_owners_clock(api: Api) -> None:
    records = await _records(api, [PRAIRIE_ID])
    for group_by in (["WEEK"], ["COUNTY", "WEEK"], ["CHANNEL", "COUNTY"]):
        # Prairie counts only its own records here, so it may lower the threshold.
        stats = await _stats(api, "prairie-admin", groupBy=group_by, threshold=1)
        assert stats["threshold"] == 1 and stats["rounding"] == 1
        assert stats["groupBy"] == group_by
        cells = _cells(stats, group_by)
        assert {k: c["count"] for k, c in cells.items()} == dict(_expected(records, group_by))
        assert stats["total"] == len(records)

    # Any days, not only whole weeks: only Prairie's own records are counted.
    days = sorted(r["day"] for r in records)
    first, last = days[len(days) // 4], days[3 * len(days) // 4]
    if first.weekday() == 0:
        first += timedelta(days=1)
    window = [r for r in records if first <= r["day"] <= last]
    stats = await _stats(
        api,
        "prairie-admin",
        groupBy=["WEEK"],
        threshold=1,
        **{"from": first.isoformat(), "to": last.isoformat()},
    )
    assert stats["total"] == len(window)
    assert {k: c["count"] for k, c in _cells(stats, ["WEEK"]).items()} == dict(
        _expected(window, ["WEEK"])
    )


async def test_network_counts_cover_whole_completed_weeks_rounded_to_five(
    write_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = write_api
    await share_statistics_with_lakeside(api)
    records = sorted(await _records(api, [PRAIRIE_ID, LAKESIDE_ID]), key=lambda r: r["started"])
    # A week with records early in it and earlier weeks before it; "now" is its Thursday noon,
    # after those records.
    record = next(
        r for r in records[len(records) // 2 :] if r["started"].astimezone(CHICAGO).weekday() <= 2
    )
    this_week = monday_of(record["started"])
    thursday = this_week + timedelta(days=3, hours=12)
    next_week = this_week + timedelta(days=7)
    assert record["started"] < thursday
    pin_clock(monkeypatch, thursday)

    done = [r for r in records if r["started"] < this_week]
    stats = await _stats(api, "lakeside-call-taker", groupBy=["WEEK"])
    assert stats["rounding"] == 5 and stats["threshold"] == 5
    assert stats["total"] == round5(len(done))
    _assert_safe(_cells(stats, ["WEEK"]), _expected(done, ["WEEK"]), 5, rounded=True)
    assert (record["week"],) not in _cells(stats, ["WEEK"]), "the current week is not counted"
    shown = [c["count"] for c in stats["cells"] if not c["suppressed"]]
    assert shown and all(n % 5 == 0 and n >= 5 for n in shown)
    for group_by in (["CHANNEL", "COUNTY"], ["WEEK", "CHANNEL"], ["NEED"]):
        grouped = await _stats(api, "lakeside-call-taker", groupBy=group_by)
        _assert_safe(_cells(grouped, group_by), _expected(done, group_by), 5, rounded=True)
        assert grouped["total"] == round5(len(done))

    # Asking again later in the same week, or up to a Sunday in it, changes nothing: the
    # latest records cannot be differenced out.
    pin_clock(monkeypatch, this_week + timedelta(days=6, hours=23, minutes=59))
    assert await _stats(api, "lakeside-call-taker", groupBy=["WEEK"]) == stats
    sunday = (this_week + timedelta(days=6)).date().isoformat()
    assert await _stats(api, "lakeside-call-taker", groupBy=["WEEK"], to=sunday) == stats

    # Once the week is over it counts, whole.
    pin_clock(monkeypatch, next_week)
    done_now = [r for r in records if r["started"] < next_week]
    later = await _stats(api, "lakeside-call-taker", groupBy=["WEEK"])
    assert later["total"] == round5(len(done_now))
    assert (record["week"],) in _cells(later, ["WEEK"])

    # Periods are whole weeks: Monday to Sunday on Prairie's clock.
    monday = this_week.date() - timedelta(days=14)
    window = [r for r in records if monday <= r["day"] <= monday + timedelta(days=13)]
    two_weeks = await _stats(
        api,
        "lakeside-call-taker",
        **{"from": monday.isoformat(), "to": (monday + timedelta(days=13)).isoformat()},
    )
    assert two_weeks["total"] == (round5(len(window)) if len(window) >= 5 else None)
    for period in (
        {"from": (monday + timedelta(days=1)).isoformat()},
        {"to": (monday + timedelta(days=5)).isoformat()},
        {"from": monday.isoformat(), "to": (monday + timedelta(days=7)).isoformat()},
    ):
        body = await api.gql("lakeside-call-taker", STATS, {"form": str(AFTER_HOURS), **period})
        assert codes(body) == ["BAD_USER_INPUT"] and reasons(body) == ["UNALIGNED_PERIOD"]
        message = body["errors"][0]["message"]
        assert "Monday" in message and "Sunday" in message

    # Prairie, counting only its own records, still gets exact counts over any days, this
    # week's included.
    prairie = [r for r in records if r["tenant"] == PRAIRIE_ID]
    own = await _stats(api, "prairie-admin", threshold=1)
    assert own["total"] == len(prairie) and own["rounding"] == 1
    tuesday = this_week.date() + timedelta(days=1)
    own = await _stats(api, "prairie-admin", threshold=1, to=tuesday.isoformat())
    assert own["total"] == sum(r["day"] <= tuesday for r in prairie)


async def test_small_cells_are_withheld_and_cannot_be_derived(api: Api) -> None:
    records = await _records(api, [PRAIRIE_ID])
    withheld = 0
    for group_by in (["COUNTY"], ["COUNTY", "CHANNEL"], ["WEEK", "CHANNEL"]):
        stats = await _stats(api, "prairie-call-taker", groupBy=group_by)
        truth = _expected(records, group_by)
        cells = _cells(stats, group_by)
        _assert_safe(cells, truth, 5)
        withheld += sum(c["suppressed"] for c in cells.values())
        assert stats["total"] == len(records) and not stats["totalSuppressed"]
    assert withheld, "the demo has small cells"
    assert stats["rounding"] == 1, "Prairie counts its own records: exact"


async def test_counts_by_need_count_each_record_once_in_the_total(api: Api) -> None:
    records = await _records(api, [PRAIRIE_ID])
    stats = await _stats(api, "prairie-admin", groupBy=["NEED"])
    truth = _expected(records, ["NEED"])
    cells = _cells(stats, ["NEED"])
    _assert_safe(cells, truth, 5)
    assert stats["total"] == len(records) < sum(truth.values())
    shown = [c for c in cells.values() if not c["suppressed"]]
    assert shown and all(c["need"]["code"] for c in shown if c["needTermId"])


async def test_who_gets_no_statistics(api: Api) -> None:
    body = await api.gql("eastside-portal", STATS, {"form": str(AFTER_HOURS)})
    assert codes(body) == ["FORBIDDEN"] and reasons(body) == ["OPERATION_DENIED"]
    # Riverbend has no agreement touching Prairie's forms: the form does not exist for it.
    body = await api.gql("riverbend-admin", STATS, {"form": str(AFTER_HOURS)})
    assert codes(body) == ["NOT_FOUND"]
    body = await api.gql("prairie-admin", STATS, {"form": str(AFTER_HOURS), "threshold": 0})
    assert reasons(body) == ["BAD_THRESHOLD"]
    body = await api.gql(
        "prairie-admin", STATS, {"form": str(AFTER_HOURS), "from": "2026-02-02", "to": "2026-02-01"}
    )
    assert reasons(body) == ["BAD_DATE_RANGE"]
    # A form version's id names its form too.
    version = to_global_id(
        "ContactFormVersion", demo_id("contact-form-version", "prairie-after-hours:1")
    )
    data = await api.data("prairie-admin", STATS, {"form": version})
    assert data["networkStatistics"]["formUuid"] == str(AFTER_HOURS)


async def test_one_grouped_statement_whatever_the_number_of_cells(
    api: Api, count_statements: StatementCounter
) -> None:
    seen = []
    for group_by in (["CHANNEL"], ["NEED", "WEEK", "CHANNEL"]):
        count_statements.statements.clear()
        stats = await _stats(api, "prairie-admin", groupBy=group_by)
        grouped = [s for s in count_statements.statements if "GROUP BY" in s.upper()]
        assert len(grouped) == 1, grouped
        seen.append((len(stats["cells"]), count_statements.count))
    (few_cells, few), (many_cells, many) = seen
    assert many_cells > 10 * few_cells
    assert many <= few + 2  # the need terms, in one batch (and their audit row)


def test_network_figures_are_rounded_to_the_nearest_five() -> None:
    network = Disclosure(network=True, threshold=5, rounding=5)
    assert [network.shown(n) for n in (5, 6, 7, 8, 9, 10, 12, 13, 102)] == [
        5, 5, 5, 10, 10, 10, 10, 15, 100,
    ]  # fmt: skip
    own = Disclosure(network=False, threshold=1, rounding=1)
    assert [own.shown(n) for n in (1, 2, 7, 13)] == [1, 2, 7, 13]


def test_suppression_withholds_enough_to_protect_every_small_cell() -> None:
    # One small cell: the next smallest goes with it, so the total gives away only a sum.
    result = suppress({("a",): 3, ("b",): 10, ("c",): 20}, 33, 5)
    assert result.hidden == {("a",), ("b",)} and not result.total_hidden
    # Two tiny cells adding up to less than the threshold pull in a third.
    result = suppress({("a",): 1, ("b",): 1, ("c",): 50, ("d",): 60}, 112, 5)
    assert result.hidden == {("a",), ("b",), ("c",)}
    # Nothing small, nothing withheld; a small total is withheld.
    assert suppress({("a",): 5, ("b",): 9}, 14, 5).hidden == frozenset()
    assert suppress({(): 4}, 4, 5).total_hidden
    # Two dimensions: the margins another query could return are protected as well.
    cells = {("x", 1): 2, ("x", 2): 30, ("y", 1): 40, ("y", 2): 50}
    hidden = suppress(cells, 122, 5).hidden
    assert ("x", 1) in hidden
    for line in ([("x", 1), ("x", 2)], [("x", 1), ("y", 1)]):
        withheld = [k for k in line if k in hidden]
        assert len(withheld) >= 2 or len(withheld) == len(line)
