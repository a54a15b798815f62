"""Referral queues (iCarol ReferralQ) over GraphQL, on both backends.

The people: Prairie 211's admin runs the queues, its call-takers put callers in them and assign
them to programs with free slots; Harbor Housing (`harbor-portal`) and the Eastside pantry
(`eastside-portal`) see only the entries assigned to their own programs; Lakeside's staff keep
their own queue and cannot touch Prairie's.
"""

from __future__ import annotations

import asyncio
import statistics
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, update

from sharegraph.authz import scopes
from sharegraph.authz.scopes import Grantee
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import CapacityStatus, ReferralStatus
from sharegraph.datastore.models import (
    CapacityChange,
    ContactFormVersion,
    ContactRecord,
    Event,
    QueueEntry,
    QueueProgram,
    QueueStatus,
    Referral,
    ReferralQueue,
    ServiceCapacity,
)
from sharegraph.demo import demo_id
from sharegraph.graph.relay import from_global_id, to_global_id

from .conftest import Api, StatementCounter, make_api

PRAIRIE = demo_id("tenant", "prairie")
LAKESIDE = demo_id("tenant", "lakeside")
HOUSING = demo_id("referral-queue", "housing")
FOOD = demo_id("referral-queue", "food")
LAKESIDE_SHELTER = demo_id("referral-queue", "lakeside-shelter")
HARBOR_SHELTER = demo_id("program", "harbor-shelter")
SHELTER_BEDS = demo_id("service-capacity", "harbor-shelter")
HARBOR_PROGRAMS = {demo_id("program", "harbor-shelter"), demo_id("program", "harbor-rrh")}
EASTSIDE_PROGRAMS = {demo_id("program", "eastside-boxes"), demo_id("program", "eastside-mobile")}

QUEUES = """
query { referralQueues(first: 50) { totalCount edges { node {
  id uuid name tenant { name } statuses { key label canonicalStatus position }
  programs { name } forms { formName }
} } } }
"""
QUEUE = """
query($id: ID!, $first: Int, $filter: QueueEntryFilterInput) { referralQueue(id: $id) {
  id name version
  dashboard {
    counts { status { key canonicalStatus } count } awaiting waitingMedianSeconds
    waitingOldestSeconds
    capacity { program { uuid name } available reserved free capacities { uuid free } }
  }
  entries(first: $first, filter: $filter) { totalCount edges { node {
    id uuid version priority enqueuedAt assignedAt removedAt
    status { key } canonicalStatus assignedProgram { uuid name } referral { status }
  } } }
} }
"""
ENTRIES_NESTED = """
query($id: ID!, $first: Int) { referralQueue(id: $id) { entries(first: $first, filter: {includeRemoved: true}) {
  edges { node {
    id priority status { key label canonicalStatus } canonicalStatus
    queue { name } client { firstName } contactRecord { startedAt needs { name } }
    assignedProgram { name organization { name } } referral { status program { name } }
  } }
} } }
"""
CREATE_QUEUE = """
mutation($input: CreateReferralQueueInput!) { createReferralQueue(input: $input) {
  referralQueue { id uuid name version statuses { key canonicalStatus } programs { uuid } forms { id } need { code } }
} }
"""
UPDATE_QUEUE = """
mutation($input: UpdateReferralQueueInput!) { updateReferralQueue(input: $input) {
  referralQueue { id name version active description statuses { key label } programs { uuid } }
} }
"""
ENQUEUE = """
mutation($input: EnqueueClientInput!) { enqueueClient(input: $input) {
  queueEntry { id uuid version status { key } canonicalStatus priority client { uuid } }
} }
"""
ASSIGN = """
mutation($input: AssignQueueEntryInput!) { assignQueueEntry(input: $input) {
  queueEntry { id version status { key } canonicalStatus assignedAt assignedProgram { uuid } }
  referral { uuid status program { uuid } }
} }
"""
STATUS = """
mutation($input: UpdateQueueEntryStatusInput!) { updateQueueEntryStatus(input: $input) {
  queueEntry { id version status { key } canonicalStatus }
} }
"""
PRIORITY = """
mutation($input: ReprioritizeQueueEntryInput!) { reprioritizeQueueEntry(input: $input) {
  queueEntry { id version priority }
} }
"""
REMOVE = """
mutation($input: RemoveQueueEntryInput!) { removeQueueEntry(input: $input) {
  queueEntry { id version status { key } removedAt removalReason }
  referral { status statusReason }
} }
"""
CAPACITY = """
query($id: ID!) { node(id: $id) { ... on ServiceCapacity { id version available reserved free } } }
"""
UPDATE_CAPACITY = """
mutation($input: UpdateCapacityInput!) { updateCapacity(input: $input) {
  capacity { id version available reserved free }
} }
"""
STATUSES = [
    {"key": "waiting", "label": "Waiting", "canonicalStatus": "REQUESTED"},
    {"key": "placed", "label": "Placed", "canonicalStatus": "ACCEPTED"},
    {"key": "done", "label": "Done", "canonicalStatus": "COMPLETED"},
    {"key": "closed", "label": "Closed", "canonicalStatus": "CANCELLED"},
]
NEW = {"key": "new", "label": "New", "canonicalStatus": "REQUESTED"}


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def reasons(body: dict[str, Any]) -> list[str | None]:
    return [e["extensions"].get("reason") for e in body.get("errors", [])]


def gid(type_name: str, row_id: uuid.UUID) -> str:
    return to_global_id(type_name, row_id)


async def _scalar(db: Database, statement: Any) -> Any:
    async with db.read_session() as session:
        return await session.scalar(statement)


async def _all(db: Database, statement: Any) -> list[Any]:
    async with db.read_session() as session:
        return list((await session.execute(statement)).all())


async def _events(db: Database, record_id: uuid.UUID) -> list[tuple[str, int]]:
    rows = await _all(
        db,
        select(Event.event_type, Event.record_version)
        .where(Event.record_id == record_id)
        .order_by(Event.position),
    )
    return [(str(t.value), v) for t, v in rows]


async def _records(db: Database, tenant: uuid.UUID, count: int) -> list[uuid.UUID]:
    """Contact records of a tenant that are in no queue yet."""
    queued = select(QueueEntry.contact_record_id).where(QueueEntry.contact_record_id.is_not(None))
    async with db.read_session() as session:
        found = await session.scalars(
            select(ContactRecord.id)
            .where(ContactRecord.tenant_id == tenant, ContactRecord.id.not_in(queued))
            .order_by(ContactRecord.id)
            .limit(count)
        )
        return list(found)


async def _set_capacity(db: Database, available: int, reserved: int = 0) -> None:
    async with db.write_session() as session:
        await session.execute(
            update(ServiceCapacity)
            .where(ServiceCapacity.id == SHELTER_BEDS)
            .values(available=available, reserved=reserved, status=CapacityStatus.CAPACITY)
        )


async def _capacity(db: Database) -> tuple[int, int, int]:
    row = (
        await _all(
            db,
            select(
                ServiceCapacity.available, ServiceCapacity.reserved, ServiceCapacity.version
            ).where(ServiceCapacity.id == SHELTER_BEDS),
        )
    )[0]
    return int(row[0]), int(row[1]), int(row[2])


async def _new_queue(api: Api, name: str, program: uuid.UUID = HARBOR_SHELTER) -> str:
    data = await api.data(
        "prairie-admin",
        CREATE_QUEUE,
        {"input": {"name": name, "statuses": STATUSES, "programIds": [gid("Program", program)]}},
    )
    return str(data["createReferralQueue"]["referralQueue"]["id"])


async def _enqueue(api: Api, queue: str, record: uuid.UUID, **extra: Any) -> dict[str, Any]:
    data = await api.data(
        "prairie-call-taker",
        ENQUEUE,
        {"input": {"queueId": queue, "contactRecordId": gid("ContactRecord", record), **extra}},
    )
    entry: dict[str, Any] = data["enqueueClient"]["queueEntry"]
    return entry


# -- reading ------------------------------------------------------------------------------------


async def test_a_call_taker_sees_its_tenants_queues_with_their_statuses(api: Api) -> None:
    data = await api.data("prairie-call-taker", QUEUES)
    queues = {e["node"]["name"]: e["node"] for e in data["referralQueues"]["edges"]}
    assert set(queues) == {"Emergency food", "Supportive housing"}
    housing = queues["Supportive housing"]
    assert housing["tenant"]["name"] == "Prairie 211"
    assert [s["key"] for s in housing["statuses"]] == [
        "waiting",
        "assigned",
        "paused",
        "housed",
        "closed",
    ]
    assert housing["statuses"][0]["canonicalStatus"] == "REQUESTED"
    assert {p["name"] for p in housing["programs"]} == {"Rapid Re-Housing", "Emergency Shelter"}
    assert {f["formName"] for f in housing["forms"]} == {
        "Standard call report",
        "After-hours intake",
    }

    lakeside = await api.data("lakeside-call-taker", QUEUES)
    assert [e["node"]["name"] for e in lakeside["referralQueues"]["edges"]] == [
        "After-hours shelter beds"
    ]


async def test_another_tenants_queue_does_not_exist_for_you(api: Api) -> None:
    body = await api.gql("lakeside-admin", QUEUE, {"id": gid("ReferralQueue", HOUSING)})
    assert body["data"]["referralQueue"] is None and codes(body) == ["NOT_FOUND"]
    body = await api.gql(
        "riverbend-call-taker", "query($id: ID!) { node(id: $id) { id } }",
        {"id": gid("ReferralQueue", LAKESIDE_SHELTER)},
    )  # fmt: skip
    assert body["data"]["node"] is None


async def test_the_dashboard_counts_what_the_queue_holds(api: Api) -> None:
    body = await api.data("prairie-admin", QUEUE, {"id": gid("ReferralQueue", HOUSING)})
    dashboard = body["referralQueue"]["dashboard"]
    now = datetime.now(UTC)
    async with api.database.read_session() as session:
        entries = list(
            await session.scalars(select(QueueEntry).where(QueueEntry.queue_id == HOUSING))
        )
        awaiting_keys = set(
            await session.scalars(
                select(QueueStatus.key).where(
                    QueueStatus.queue_id == HOUSING,
                    QueueStatus.canonical_status.in_([ReferralStatus.REQUESTED]),
                )
            )
        )
        capacities = list(
            await session.scalars(
                select(ServiceCapacity)
                .join(QueueProgram, QueueProgram.program_id == ServiceCapacity.program_id)
                .where(QueueProgram.queue_id == HOUSING)
            )
        )
    per_status = Counter(e.status_key for e in entries)
    assert {c["status"]["key"]: c["count"] for c in dashboard["counts"]} == {
        "waiting": per_status["waiting"],
        "assigned": per_status["assigned"],
        "paused": per_status["paused"],
        "housed": per_status["housed"],
        "closed": per_status["closed"],
    }
    waits = [
        (now - e.enqueued_at).total_seconds()
        for e in entries
        if e.status_key in awaiting_keys and e.removed_at is None and e.assigned_program_id is None
    ]
    assert waits, "the demo has callers waiting for housing"
    assert dashboard["awaiting"] == len(waits)
    assert abs(dashboard["waitingOldestSeconds"] - max(waits)) < 60
    assert abs(dashboard["waitingMedianSeconds"] - statistics.median(waits)) < 60
    by_program = {c["program"]["uuid"]: c for c in dashboard["capacity"]}
    assert set(by_program) == {str(p) for p in HARBOR_PROGRAMS}
    for capacity in capacities:
        shown = by_program[str(capacity.program_id)]
        assert shown["available"] == capacity.available
        assert shown["reserved"] == capacity.reserved
        assert shown["free"] == capacity.available - capacity.reserved


async def test_entries_filter_by_status_and_awaiting(api: Api) -> None:
    queue = gid("ReferralQueue", HOUSING)
    waiting = await api.data(
        "prairie-admin", QUEUE, {"id": queue, "first": 100, "filter": {"statuses": ["waiting"]}}
    )
    entries = waiting["referralQueue"]["entries"]
    assert entries["totalCount"] > 0
    assert {e["node"]["status"]["key"] for e in entries["edges"]} == {"waiting"}
    priorities = [e["node"]["priority"] for e in entries["edges"]]
    assert priorities == sorted(priorities, reverse=True)  # most urgent first
    awaiting = await api.data(
        "prairie-admin", QUEUE, {"id": queue, "first": 100, "filter": {"awaiting": True}}
    )
    assert (
        awaiting["referralQueue"]["entries"]["totalCount"]
        == awaiting["referralQueue"]["dashboard"]["awaiting"]
    )
    assigned = await api.data(
        "prairie-admin",
        QUEUE,
        {"id": queue, "first": 100, "filter": {"canonicalStatuses": ["ACCEPTED"]}},
    )
    assert {
        e["node"]["canonicalStatus"] for e in assigned["referralQueue"]["entries"]["edges"]
    } == {"ACCEPTED"}


async def test_a_partner_sees_only_entries_assigned_to_its_programs(api: Api) -> None:
    harbor = await api.data("harbor-portal", QUEUES)
    assert [e["node"]["name"] for e in harbor["referralQueues"]["edges"]] == ["Supportive housing"]
    eastside = await api.data("eastside-portal", QUEUES)
    assert [e["node"]["name"] for e in eastside["referralQueues"]["edges"]] == ["Emergency food"]

    body = await api.data(
        "harbor-portal",
        QUEUE,
        {"id": gid("ReferralQueue", HOUSING), "first": 100, "filter": {"includeRemoved": True}},
    )
    entries = body["referralQueue"]["entries"]
    expected = await _scalar(
        api.database,
        select(func.count()).where(
            QueueEntry.queue_id == HOUSING,
            QueueEntry.removed_at.is_(None),
            QueueEntry.assigned_program_id.in_(HARBOR_PROGRAMS),
        ),
    )
    assert entries["totalCount"] == expected > 0
    assert {e["node"]["assignedProgram"]["uuid"] for e in entries["edges"]} <= {
        str(p) for p in HARBOR_PROGRAMS
    }
    # The dashboard counts only what the partner may see: nobody waiting is Harbor's yet.
    dashboard = body["referralQueue"]["dashboard"]
    assert sum(c["count"] for c in dashboard["counts"]) == expected
    assert dashboard["awaiting"] == 0

    # The pantry's queue is not Harbor's, nor is a Lakeside queue Harbor's shelter serves.
    for queue in (FOOD, LAKESIDE_SHELTER):
        denied = await api.gql("harbor-portal", QUEUE, {"id": gid("ReferralQueue", queue)})
        assert denied["data"]["referralQueue"] is None and codes(denied) == ["NOT_FOUND"]


async def test_queue_rows_never_fall_back_to_every_row_of_the_owner(demo_db: Database) -> None:
    """Only `all` and the partner scopes select queue rows; every other scope selects none."""
    grantees = [
        Grantee(tenant_id=PRAIRIE),
        Grantee(partner_id=demo_id("partner-organization", "harbor")),
    ]
    others = [
        "follow_up_assigned_to_grantee",
        f"shared_form:{demo_id('contact-form', 'prairie-after-hours')}",
        "region:Bluestem County",
        "region:5",
        f"inventory:{uuid.uuid4()}",
    ]
    async with demo_db.read_session() as session:
        for model in (ReferralQueue, QueueEntry):
            total = await session.scalar(select(func.count()).select_from(model))
            assert total
            for grantee in grantees:
                for text in others:
                    where = scopes.sql(model, scopes.parse(text), grantee)
                    found = await session.scalar(
                        select(func.count()).where(where).select_from(model)
                    )
                    assert found == 0, (model.__name__, text, grantee)
        partner = await session.scalar(
            select(func.count())
            .where(scopes.sql(QueueEntry, scopes.parse("assigned_to_grantee"), grantees[1]))
            .select_from(QueueEntry)
        )
        assert 0 < partner < total


async def test_the_entries_list_costs_the_same_statements_for_few_and_many(
    api: Api, count_statements: StatementCounter
) -> None:
    # A first request outside the count: its API key is looked up once, then remembered.
    await api.data(
        "prairie-admin", ENTRIES_NESTED, {"id": gid("ReferralQueue", HOUSING), "first": 1}
    )
    counts = []
    for first in (5, 30):
        count_statements.statements.clear()
        data = await api.data(
            "prairie-admin", ENTRIES_NESTED, {"id": gid("ReferralQueue", HOUSING), "first": first}
        )
        assert len(data["referralQueue"]["entries"]["edges"]) == first
        counts.append(count_statements.count)
    assert counts[0] == counts[1], count_statements.statements
    assert counts[0] <= 22, count_statements.statements


# -- writing ------------------------------------------------------------------------------------


async def test_an_admin_creates_and_updates_a_queue(write_api: Api) -> None:
    db = write_api.database
    form_version = await _scalar(
        db,
        select(ContactFormVersion.id)
        .where(ContactFormVersion.form_id == demo_id("contact-form", "prairie-standard"))
        .limit(1),
    )
    body = await write_api.data(
        "prairie-admin",
        CREATE_QUEUE,
        {
            "input": {
                "name": "Winter beds",
                "description": "Overflow beds when it is below freezing.",
                "needTermId": gid("TaxonomyTerm", demo_id("taxonomy-term", "BH-1800.8500")),
                "statuses": STATUSES,
                "programIds": [gid("Program", HARBOR_SHELTER)],
                "formIds": [gid("ContactFormVersion", form_version)],
            }
        },
    )
    queue = body["createReferralQueue"]["referralQueue"]
    assert queue["version"] == 1 and queue["need"]["code"] == "BH-1800.8500"
    assert [s["key"] for s in queue["statuses"]] == ["waiting", "placed", "done", "closed"]
    assert [p["uuid"] for p in queue["programs"]] == [str(HARBOR_SHELTER)]
    assert len(queue["forms"]) == 1
    queue_id = uuid.UUID(queue["uuid"])
    assert await _events(db, queue_id) == [("created", 1)]

    # The same name twice is a conflict; bad status lists are refused before anything is written.
    again = await write_api.gql(
        "prairie-admin", CREATE_QUEUE, {"input": {"name": "Winter beds", "statuses": STATUSES}}
    )
    assert reasons(again) == ["NAME_TAKEN"]
    before = await _scalar(db, select(func.count()).select_from(ReferralQueue))
    for statuses, reason in (
        ([{"key": "done", "label": "Done", "canonicalStatus": "COMPLETED"}], "NO_AWAITING_STATUS"),
        ([STATUSES[0], STATUSES[0]], "DUPLICATE"),
        ([{"key": "Bad Key", "label": "x", "canonicalStatus": "REQUESTED"}], "BAD_STATUS_KEY"),
    ):
        bad = await write_api.gql(
            "prairie-admin", CREATE_QUEUE, {"input": {"name": "Bad", "statuses": statuses}}
        )
        assert codes(bad) == ["BAD_USER_INPUT"] and reasons(bad) == [reason]
        if reason == "NO_AWAITING_STATUS":  # statuses named as the enum names them
            assert "REQUESTED (or DRAFT)" in bad["errors"][0]["message"]
    assert await _scalar(db, select(func.count()).select_from(ReferralQueue)) == before

    updated = await write_api.data(
        "prairie-admin",
        UPDATE_QUEUE,
        {
            "input": {
                "id": queue["id"],
                "version": 1,
                "name": "Winter overflow beds",
                "description": None,
                "statuses": [*STATUSES, {"key": "paused", "label": "Paused", "canonicalStatus": "ON_HOLD"}],
                "programIds": [gid("Program", HARBOR_SHELTER), gid("Program", demo_id("program", "harbor-rrh"))],
            }
        },
    )  # fmt: skip
    changed = updated["updateReferralQueue"]["referralQueue"]
    assert changed["name"] == "Winter overflow beds" and changed["version"] == 2
    assert changed["description"] is None
    assert [s["key"] for s in changed["statuses"]][-1] == "paused"
    assert {p["uuid"] for p in changed["programs"]} == {str(p) for p in HARBOR_PROGRAMS}
    assert await _events(db, queue_id) == [("created", 1), ("updated", 2)]

    stale = await write_api.gql(
        "prairie-admin", UPDATE_QUEUE, {"input": {"id": queue["id"], "version": 1, "active": False}}
    )
    assert codes(stale) == ["CONFLICT"] and reasons(stale) == ["VERSION_MISMATCH"]

    # A status with entries in it cannot be dropped.
    record = (await _records(db, PRAIRIE, 1))[0]
    await _enqueue(write_api, queue["id"], record)
    drop = await write_api.gql(
        "prairie-admin",
        UPDATE_QUEUE,
        {"input": {"id": queue["id"], "version": 2, "statuses": [NEW, *STATUSES[1:]]}},
    )
    assert reasons(drop) == ["STATUS_IN_USE"]


async def test_only_admins_of_the_owner_edit_a_queue(write_api: Api) -> None:
    queue = gid("ReferralQueue", HOUSING)
    update_input = {"input": {"id": queue, "version": 1, "name": "Mine now"}}
    call_taker = await write_api.gql("prairie-call-taker", UPDATE_QUEUE, update_input)
    assert codes(call_taker) == ["FORBIDDEN"] and reasons(call_taker) == ["OPERATION_DENIED"]
    other_admin = await write_api.gql("lakeside-admin", UPDATE_QUEUE, update_input)
    assert codes(other_admin) == ["NOT_FOUND"]
    partner = await write_api.gql(
        "harbor-portal", CREATE_QUEUE, {"input": {"name": "Ours", "statuses": STATUSES}}
    )
    assert codes(partner) == ["FORBIDDEN"]
    cross = await write_api.gql(
        "lakeside-admin",
        CREATE_QUEUE,
        {"input": {"tenantId": gid("Tenant", PRAIRIE), "name": "Planted", "statuses": STATUSES}},
    )
    assert codes(cross) in (["NOT_FOUND"], ["FORBIDDEN"])
    assert (
        await _scalar(
            write_api.database,
            select(func.count()).where(ReferralQueue.name.in_(["Mine now", "Ours", "Planted"])),
        )
        == 0
    )


async def test_a_call_taker_cannot_touch_another_tenants_queue(write_api: Api) -> None:
    db = write_api.database
    record = (await _records(db, LAKESIDE, 1))[0]
    body = await write_api.gql(
        "lakeside-call-taker",
        ENQUEUE,
        {
            "input": {
                "queueId": gid("ReferralQueue", HOUSING),
                "contactRecordId": gid("ContactRecord", record),
            }
        },
    )
    assert codes(body) == ["NOT_FOUND"]
    entry = await _scalar(
        db,
        select(QueueEntry)
        .where(QueueEntry.queue_id == HOUSING, QueueEntry.assigned_program_id.is_(None))
        .where(QueueEntry.removed_at.is_(None))
        .limit(1),
    )
    for mutation, extra in (
        (ASSIGN, {}),
        (STATUS, {"status": "paused"}),
        (PRIORITY, {"priority": 3}),
        (REMOVE, {"reason": "not ours"}),
    ):
        body = await write_api.gql(
            "lakeside-call-taker",
            mutation,
            {"input": {"id": gid("QueueEntry", entry.id), "version": entry.version, **extra}},
        )
        assert codes(body) == ["NOT_FOUND"], body
    # A partner may read its entries but not move them.
    harbor = await write_api.gql(
        "harbor-portal",
        STATUS,
        {
            "input": {
                "id": gid("QueueEntry", entry.id),
                "version": entry.version,
                "status": "paused",
            }
        },
    )
    assert codes(harbor) == ["FORBIDDEN"]
    assert await _scalar(db, select(QueueEntry.version).where(QueueEntry.id == entry.id)) == 1


async def test_a_caller_waits_is_assigned_when_a_program_has_room_and_leaves(
    write_api: Api,
) -> None:
    db = write_api.database
    await _set_capacity(db, available=1)
    queue = await _new_queue(write_api, "Tonight's beds")
    first, second = await _records(db, PRAIRIE, 2)

    entry = await _enqueue(write_api, queue, first, priority=2)
    assert entry["status"]["key"] == "waiting" and entry["canonicalStatus"] == "REQUESTED"
    assert entry["priority"] == 2 and entry["version"] == 1
    twice = await write_api.gql(
        "prairie-call-taker",
        ENQUEUE,
        {"input": {"queueId": queue, "contactRecordId": gid("ContactRecord", first)}},
    )
    assert reasons(twice) == ["ALREADY_QUEUED"]
    other = await _enqueue(write_api, queue, second)

    assigned = await write_api.data(
        "prairie-call-taker", ASSIGN, {"input": {"id": entry["id"], "version": 1}}
    )
    moved = assigned["assignQueueEntry"]
    assert moved["queueEntry"]["status"]["key"] == "placed"
    assert moved["queueEntry"]["canonicalStatus"] == "ACCEPTED"
    assert moved["queueEntry"]["assignedProgram"]["uuid"] == str(HARBOR_SHELTER)
    assert moved["queueEntry"]["version"] == 2 and moved["queueEntry"]["assignedAt"]
    assert moved["referral"]["status"] == "REQUESTED"
    assert moved["referral"]["program"]["uuid"] == str(HARBOR_SHELTER)
    assert await _capacity(db) == (1, 1, 2)

    # No bed left: the other caller stays awaiting services, nothing written.
    full = await write_api.gql(
        "prairie-call-taker", ASSIGN, {"input": {"id": other["id"], "version": 1}}
    )
    assert codes(full) == ["CONFLICT"] and reasons(full) == ["NO_CAPACITY"]
    row = await _scalar(db, select(QueueEntry).where(QueueEntry.id == uuid.UUID(other["uuid"])))
    assert row.status_key == "waiting" and row.version == 1 and row.referral_id is None
    assert await _capacity(db) == (1, 1, 2)

    # Harbor now sees the placed caller, and only that one.
    harbor = await write_api.data("harbor-portal", QUEUE, {"id": queue, "first": 10})
    assert [e["node"]["uuid"] for e in harbor["referralQueue"]["entries"]["edges"]] == [
        entry["uuid"]
    ]

    # Removing before service gives the bed back and cancels the referral.
    removed = await write_api.data(
        "prairie-call-taker",
        REMOVE,
        {"input": {"id": entry["id"], "version": 2, "reason": "Found a place with family."}},
    )
    out = removed["removeQueueEntry"]
    assert out["queueEntry"]["status"]["key"] == "closed" and out["queueEntry"]["removedAt"]
    assert out["referral"] == {"status": "CANCELLED", "statusReason": "Found a place with family."}
    assert await _capacity(db) == (1, 0, 3)
    assigned_again = await write_api.data(
        "prairie-call-taker", ASSIGN, {"input": {"id": other["id"], "version": 1}}
    )
    assert assigned_again["assignQueueEntry"]["referral"]["status"] == "REQUESTED"

    entry_id = uuid.UUID(entry["uuid"])
    assert await _events(db, entry_id) == [("created", 1), ("updated", 2), ("updated", 3)]
    referral_id = await _scalar(db, select(QueueEntry.referral_id).where(QueueEntry.id == entry_id))
    assert await _events(db, referral_id) == [("created", 1), ("updated", 2)]
    capacity_events = await _events(db, SHELTER_BEDS)
    assert capacity_events[-3:] == [("updated", 2), ("updated", 3), ("updated", 4)]


async def test_status_priority_and_version_conflicts(write_api: Api) -> None:
    db = write_api.database
    queue = await _new_queue(write_api, "Status board")
    (record,) = await _records(db, PRAIRIE, 1)
    entry = await _enqueue(write_api, queue, record)
    unknown = await write_api.gql(
        "prairie-call-taker", STATUS, {"input": {"id": entry["id"], "version": 1, "status": "lost"}}
    )
    assert codes(unknown) == ["BAD_USER_INPUT"] and reasons(unknown) == ["UNKNOWN_STATUS"]
    moved = await write_api.data(
        "prairie-call-taker", STATUS, {"input": {"id": entry["id"], "version": 1, "status": "done"}}
    )
    assert moved["updateQueueEntryStatus"]["queueEntry"]["canonicalStatus"] == "COMPLETED"
    stale = await write_api.gql(
        "prairie-call-taker", PRIORITY, {"input": {"id": entry["id"], "version": 1, "priority": 5}}
    )
    assert codes(stale) == ["CONFLICT"] and reasons(stale) == ["VERSION_MISMATCH"]
    assert stale["errors"][0]["extensions"]["currentVersion"] == 2
    bumped = await write_api.data(
        "prairie-call-taker", PRIORITY, {"input": {"id": entry["id"], "version": 2, "priority": 5}}
    )
    assert bumped["reprioritizeQueueEntry"]["queueEntry"] == {
        "id": entry["id"],
        "version": 3,
        "priority": 5,
    }
    huge = await write_api.gql(
        "prairie-call-taker",
        PRIORITY,
        {"input": {"id": entry["id"], "version": 3, "priority": 10**6}},
    )
    assert codes(huge) == ["BAD_USER_INPUT"]
    no_reason = await write_api.gql(
        "prairie-call-taker", REMOVE, {"input": {"id": entry["id"], "version": 3, "reason": " "}}
    )
    assert codes(no_reason) == ["BAD_USER_INPUT"]
    assert await _events(db, uuid.UUID(entry["uuid"])) == [
        ("created", 1),
        ("updated", 2),
        ("updated", 3),
    ]


async def test_retrying_with_an_idempotency_key_returns_the_first_result(
    write_api: Api,
) -> None:
    db = write_api.database
    await _set_capacity(db, available=5)
    queue = await _new_queue(write_api, "Retry safe")
    first, second = await _records(db, PRAIRIE, 2)
    variables = {
        "input": {
            "queueId": queue,
            "contactRecordId": gid("ContactRecord", first),
            "idempotencyKey": "enqueue-1",
        }
    }
    one = await write_api.data("prairie-call-taker", ENQUEUE, variables)
    two = await write_api.data("prairie-call-taker", ENQUEUE, variables)
    assert one == two
    entry = one["enqueueClient"]["queueEntry"]
    assert await _events(db, uuid.UUID(entry["uuid"])) == [("created", 1)]
    reused = await write_api.gql(
        "prairie-call-taker",
        ENQUEUE,
        {
            "input": {
                **variables["input"],
                "contactRecordId": gid("ContactRecord", second),
            }
        },
    )
    assert codes(reused) == ["CONFLICT"] and reasons(reused) == ["IDEMPOTENCY_KEY_REUSED"]

    assign = {"input": {"id": entry["id"], "version": 1, "idempotencyKey": "assign-1"}}
    first_try = await write_api.data("prairie-call-taker", ASSIGN, assign)
    retry = await write_api.data("prairie-call-taker", ASSIGN, assign)
    assert (
        first_try["assignQueueEntry"]["referral"]["uuid"]
        == retry["assignQueueEntry"]["referral"]["uuid"]
    )
    assert await _capacity(db) == (5, 1, 2)
    made = select(func.count()).where(
        Referral.contact_record_id == first, Referral.program_id == HARBOR_SHELTER
    )
    assert await _scalar(db, made) == 1


async def test_concurrent_assignments_never_overbook(
    seeded_db: Database, keys: dict[str, str], backend: str
) -> None:
    """50 callers assigned at once against 10 free beds: exactly 10 get one."""
    if backend != "postgresql":
        pytest.skip("concurrent writers are serialized on SQLite; the race is PostgreSQL's")
    db = seeded_db
    await _set_capacity(db, available=10)
    records = await _records(db, PRAIRIE, 50)
    assert len(records) == 50
    async for api in make_api(db, keys):
        queue = await _new_queue(api, "Rush hour")
        queue_id = from_global_id(queue)[1]
        async with db.write_session() as session:
            entries = [
                QueueEntry(
                    tenant_id=PRAIRIE,
                    queue_id=queue_id,
                    contact_record_id=record,
                    status_key="waiting",
                    version=1,
                )
                for record in records
            ]
            session.add_all(entries)
            await session.flush()
            entry_ids = [e.id for e in entries]
        results = await asyncio.gather(
            *(
                api.gql(
                    "prairie-call-taker",
                    ASSIGN,
                    {"input": {"id": gid("QueueEntry", e), "version": 1}},
                )
                for e in entry_ids
            )
        )
    won = [r for r in results if "errors" not in r]
    lost = [r for r in results if "errors" in r]
    assert len(won) == 10, [r.get("errors") for r in lost][:3]
    assert {(codes(r)[0], reasons(r)[0]) for r in lost} == {("CONFLICT", "NO_CAPACITY")}
    assert await _capacity(db) == (10, 10, 11)  # ten reservations, one version each
    placed = select(QueueEntry.referral_id).where(
        QueueEntry.queue_id == queue_id, QueueEntry.referral_id.is_not(None)
    )
    assert await _scalar(db, select(func.count()).select_from(placed.subquery())) == 10
    made = select(func.count()).where(
        Referral.id.in_(placed), Referral.status == ReferralStatus.REQUESTED
    )
    assert await _scalar(db, made) == 10
    waiting = select(func.count()).where(
        QueueEntry.queue_id == queue_id, QueueEntry.status_key == "waiting", QueueEntry.version == 1
    )
    assert await _scalar(db, waiting) == 40
    # The history never shows more reserved than available.
    history = await _all(
        db,
        select(CapacityChange.available, CapacityChange.reserved).where(
            CapacityChange.capacity_id == SHELTER_BEDS
        ),
    )
    assert all(0 <= reserved <= available for available, reserved in history)
    assert sorted(r for _, r in history if r)[-10:] == list(range(1, 11))


async def test_lakeside_places_a_caller_with_a_program_of_prairies_directory(
    write_api: Api,
) -> None:
    """Another tenant's queue may be served by a program of the shared directory: the slot is
    taken from the same capacity Prairie's queues use."""
    db = write_api.database
    await _set_capacity(db, available=2)
    queue = gid("ReferralQueue", LAKESIDE_SHELTER)
    data = await write_api.data(
        "lakeside-call-taker", QUEUE, {"id": queue, "first": 1, "filter": {"awaiting": True}}
    )
    entry = data["referralQueue"]["entries"]["edges"][0]["node"]
    placed = await write_api.data(
        "lakeside-call-taker", ASSIGN, {"input": {"id": entry["id"], "version": entry["version"]}}
    )
    assert placed["assignQueueEntry"]["queueEntry"]["status"]["key"] == "placed"
    assert placed["assignQueueEntry"]["referral"]["program"]["uuid"] == str(HARBOR_SHELTER)
    assert (await _capacity(db))[:2] == (2, 1)
    # Harbor has no agreement with Lakeside: the entry stays Lakeside's business.
    harbor = await write_api.gql("harbor-portal", QUEUE, {"id": queue})
    assert harbor["data"]["referralQueue"] is None
    prairie = await write_api.data(
        "prairie-admin", CAPACITY, {"id": gid("ServiceCapacity", SHELTER_BEDS)}
    )
    assert prairie["node"]["reserved"] == 1 and prairie["node"]["free"] == 1
