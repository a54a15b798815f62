"""`ReferralQueue.lengthOverTime`, `.capacityOverTime` and `contactFormVersions`: the reads the console's queue
dashboard and network pages needed, checked at the API, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from sharegraph.datastore.models import CapacityChange, QueueEntry, QueueProgram, ServiceCapacity
from sharegraph.graph.relay import from_global_id

from .conftest import Api, StatementCounter

LENGTHS = """
query($from: DateTime!, $to: DateTime!, $buckets: Int!) {
  referralQueues(first: 10) { edges { node {
    id name
    lengthOverTime(from: $from, to: $to, buckets: $buckets) { at waiting }
  } } }
}
"""


def _span(days: int = 30, buckets: int = 12) -> dict[str, Any]:
    end = datetime.now(UTC).replace(microsecond=0)
    return {
        "from": (end - timedelta(days=days)).isoformat(),
        "to": end.isoformat(),
        "buckets": buckets,
    }


def _waiting_at(rows: list[Any], moment: datetime) -> int:
    return sum(
        1
        for r in rows
        if r.enqueued_at <= moment
        and (r.assigned_at is None or r.assigned_at > moment)
        and (r.removed_at is None or r.removed_at > moment)
    )


async def test_queue_length_over_time_counts_the_entries_waiting_then(api: Api) -> None:
    data = await api.data("prairie-admin", LENGTHS, _span())
    queues = [e["node"] for e in data["referralQueues"]["edges"]]
    assert queues
    async with api.database.read_session() as session:
        for queue in queues:
            points = queue["lengthOverTime"]
            assert len(points) == 12
            rows = (
                await session.scalars(
                    select(QueueEntry).where(QueueEntry.queue_id == from_global_id(queue["id"])[1])
                )
            ).all()
            expected = [_waiting_at(list(rows), datetime.fromisoformat(p["at"])) for p in points]
            assert [p["waiting"] for p in points] == expected
            assert any(expected), queue["name"]  # the demo has people waiting


async def test_bounds_are_bad_user_input(api: Api) -> None:
    for variables, reason in (
        (_span(buckets=500), "TOO_MANY_BUCKETS"),
        (_span(buckets=1), "TOO_FEW_BUCKETS"),
        (_span(days=400), "RANGE_TOO_LONG"),
        ({**_span(), "to": _span()["from"]}, "BAD_RANGE"),
    ):
        body = await api.gql("prairie-admin", LENGTHS, variables)
        codes = {(e["extensions"]["code"], e["extensions"].get("reason")) for e in body["errors"]}
        assert codes == {("BAD_USER_INPUT", reason)}, body


async def test_a_partner_counts_only_the_entries_it_may_see(api: Api) -> None:
    """The pantry sees the entries assigned to its programs: only those are counted, never
    the tenant's whole queue."""
    span = _span()
    mine = await api.data("prairie-admin", LENGTHS, span)
    theirs = await api.data("eastside-portal", LENGTHS, span)
    admin = {e["node"]["id"]: e["node"]["lengthOverTime"] for e in mine["referralQueues"]["edges"]}
    seen = [e["node"] for e in theirs["referralQueues"]["edges"]]
    assert seen
    for queue in seen:
        pairs = zip(queue["lengthOverTime"], admin[queue["id"]], strict=True)
        assert all(p["waiting"] <= a["waiting"] for p, a in pairs)
    assert sum(p["waiting"] for q in seen for p in q["lengthOverTime"]) < sum(
        p["waiting"] for points in admin.values() for p in points
    )


async def test_one_statement_for_every_queue(api: Api, count_statements: StatementCounter) -> None:
    await api.data("prairie-admin", LENGTHS, _span())
    count_statements.statements.clear()
    await api.data("prairie-admin", LENGTHS, _span(buckets=48))
    lengths = [s for s in count_statements.statements if "queue_entries" in s.lower()]
    assert len(lengths) == 1, lengths


async def test_contact_form_versions_are_those_you_may_see(api: Api) -> None:
    query = "{ contactFormVersions { id formId formName version } viewer { tenant { id } } }"
    prairie = (await api.data("prairie-admin", query))["contactFormVersions"]
    names = {v["formName"] for v in prairie}
    assert "Prairie 211 after-hours crisis line" in names or len(names) >= 2, names
    riverbend = (await api.data("riverbend-admin", query))["contactFormVersions"]
    # Riverbend is not shared Prairie's forms: it sees its own only.
    assert {v["formId"] for v in riverbend}.isdisjoint({v["formId"] for v in prairie})
    partner = await api.gql("eastside-portal", query)
    assert partner.get("data") is None or partner["data"]["contactFormVersions"] == []


CAPACITY = """
query($from: DateTime!, $to: DateTime!, $buckets: Int!) {
  referralQueues(first: 10) { edges { node {
    id
    capacityOverTime(from: $from, to: $to, buckets: $buckets) {
      program { id name } points { at available maximum }
    }
  } } }
}
"""


async def test_capacity_over_time_follows_the_capacity_history(api: Api) -> None:
    data = await api.data("prairie-admin", CAPACITY, _span(days=20, buckets=10))
    queues = [e["node"] for e in data["referralQueues"]["edges"]]
    async with api.database.read_session() as session:
        for queue in queues:
            served = (
                await session.scalars(
                    select(QueueProgram.program_id).where(
                        QueueProgram.queue_id == from_global_id(queue["id"])[1]
                    )
                )
            ).all()
            assert {
                from_global_id(p["program"]["id"])[1] for p in queue["capacityOverTime"]
            } == set(served)
            for program in queue["capacityOverTime"]:
                capacities = (
                    await session.scalars(
                        select(ServiceCapacity.id).where(
                            ServiceCapacity.program_id
                            == from_global_id(program["program"]["id"])[1]
                        )
                    )
                ).all()
                history = (
                    await session.scalars(
                        select(CapacityChange)
                        .where(CapacityChange.capacity_id.in_(capacities))
                        .order_by(CapacityChange.changed_at)
                    )
                ).all()
                for point in program["points"]:
                    moment = datetime.fromisoformat(point["at"])
                    latest: dict[Any, Any] = {}
                    for change in history:
                        if change.changed_at <= moment:
                            latest[change.capacity_id] = change
                    expected = sum(c.available for c in latest.values()) if latest else None
                    assert point["available"] == expected, (program["program"]["name"], point)
            assert any(p["available"] for pr in queue["capacityOverTime"] for p in pr["points"])


async def test_capacity_over_time_is_bounded_and_batched(
    api: Api, count_statements: StatementCounter
) -> None:
    body = await api.gql("prairie-admin", CAPACITY, _span(buckets=97))
    assert {e["extensions"].get("reason") for e in body["errors"]} == {"TOO_MANY_BUCKETS"}
    await api.data("prairie-admin", CAPACITY, _span())
    count_statements.statements.clear()
    await api.data("prairie-admin", CAPACITY, _span(buckets=30))
    history = [s for s in count_statements.statements if "capacity_history" in s.lower()]
    assert len(history) == 1, history


def test_the_schema_states_the_bounds_it_enforces() -> None:
    from pathlib import Path

    from sharegraph.graph.types.queues import MAX_BUCKETS, MAX_SPAN

    sdl = (Path(__file__).parent.parent / "schema.graphql").read_text(encoding="utf-8")
    stated = f"at most {MAX_SPAN.days} days and {MAX_BUCKETS} buckets"
    assert sdl.count(stated) == 2
