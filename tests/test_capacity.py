"""Partner capacity: what partners report, what queue assignments reserve, and the history.

Harbor Housing (`harbor-portal`) reports its shelter's free beds through the provider portal;
Prairie 211's call-takers take beds by assigning callers from a queue. A report never erases a
reservation the partner has not seen, and nobody but the partner (and its directory's owner)
changes its figures.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import CapacityStatus
from sharegraph.datastore.models import CapacityChange, Event, ServiceCapacity
from sharegraph.demo import demo_id
from sharegraph.errors import BadUserInput, Conflict
from sharegraph.graph.relay import to_global_id
from sharegraph.queries import capacity as slots

from .conftest import Api

SHELTER_BEDS = demo_id("service-capacity", "harbor-shelter")
PANTRY_BOXES = demo_id("service-capacity", "eastside-boxes")
HARBOR_PORTAL = demo_id("principal", "harbor-portal")
CAPACITY_ID = to_global_id("ServiceCapacity", SHELTER_BEDS)

READ = """
query($id: ID!) { node(id: $id) { ... on ServiceCapacity {
  id version available reserved free maximum status note unit { name }
  history { available reserved status note changedAt }
} } }
"""
UPDATE = """
mutation($input: UpdateCapacityInput!) { updateCapacity(input: $input) {
  capacity { id version available reserved free maximum status note
    history { available reserved note } }
} }
"""
PROGRAM_CAPACITIES = """
query { organizations(filter: {search: "Harbor Housing"}, first: 1) { edges { node {
  programs { name capacities { id available reserved free version } }
} } } }
"""


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def reasons(body: dict[str, Any]) -> list[str | None]:
    return [e["extensions"].get("reason") for e in body.get("errors", [])]


async def _row(db: Database, capacity_id: uuid.UUID = SHELTER_BEDS) -> ServiceCapacity:
    async with db.read_session() as session:
        row = await session.get(ServiceCapacity, capacity_id)
        assert row is not None
        return row


async def _count(db: Database, statement: Any) -> int:
    async with db.read_session() as session:
        return int(await session.scalar(statement) or 0)


def _history(capacity_id: uuid.UUID = SHELTER_BEDS) -> Any:
    return select(func.count()).where(CapacityChange.capacity_id == capacity_id)


def _events(capacity_id: uuid.UUID = SHELTER_BEDS) -> Any:
    return select(func.count()).where(Event.record_id == capacity_id)


async def test_a_partner_reports_its_free_beds_and_the_history_keeps_who_and_when(
    write_api: Api,
) -> None:
    db = write_api.database
    read = await write_api.data("harbor-portal", READ, {"id": CAPACITY_ID})
    before = read["node"]
    assert before["free"] == before["available"] - before["reserved"]
    history_rows, events = await _count(db, _history()), await _count(db, _events())

    body = await write_api.data(
        "harbor-portal",
        UPDATE,
        {
            "input": {
                "id": CAPACITY_ID,
                "version": before["version"],
                "available": 7,
                "status": "CAPACITY",
                "note": "Two family rooms opened.",
            }
        },
    )
    after = body["updateCapacity"]["capacity"]
    assert after["version"] == before["version"] + 1
    assert (after["available"], after["reserved"], after["free"]) == (7, 0, 7)
    assert after["note"] == "Two family rooms opened." and after["maximum"] == before["maximum"]
    assert after["history"][0] == {
        "available": 7,
        "reserved": 0,
        "note": "Two family rooms opened.",
    }
    assert await _count(db, _history()) == history_rows + 1
    assert await _count(db, _events()) == events + 1
    async with db.read_session() as session:
        latest = await session.scalar(
            select(CapacityChange)
            .where(CapacityChange.capacity_id == SHELTER_BEDS)
            .order_by(CapacityChange.changed_at.desc())
            .limit(1)
        )
    assert latest is not None and latest.changed_by_id == HARBOR_PORTAL

    # The directory shows the new figure wherever the program appears.
    listed = await write_api.data("harbor-portal", PROGRAM_CAPACITIES)
    programs = listed["organizations"]["edges"][0]["node"]["programs"]
    shelter = next(p for p in programs if p["name"] == "Emergency Shelter")
    assert shelter["capacities"][0]["free"] == 7


async def test_a_report_never_erases_a_reservation_the_partner_has_not_seen(
    write_api: Api,
) -> None:
    db = write_api.database
    seen = (await write_api.data("harbor-portal", READ, {"id": CAPACITY_ID}))["node"]
    async with db.write_session() as session:
        await slots.reserve_slot(session, SHELTER_BEDS, actor_id=None)
    stale = await write_api.gql(
        "harbor-portal",
        UPDATE,
        {"input": {"id": CAPACITY_ID, "version": seen["version"], "available": 10}},
    )
    assert codes(stale) == ["CONFLICT"] and reasons(stale) == ["VERSION_MISMATCH"]
    row = await _row(db)
    assert (row.available, row.reserved) == (seen["available"], 1)

    # Re-read: the reservation is visible, so the new figure accounts for it.
    fresh = (await write_api.data("harbor-portal", READ, {"id": CAPACITY_ID}))["node"]
    assert fresh["reserved"] == 1 and fresh["free"] == seen["available"] - 1
    body = await write_api.data(
        "harbor-portal",
        UPDATE,
        {"input": {"id": CAPACITY_ID, "version": fresh["version"], "available": 2}},
    )
    assert body["updateCapacity"]["capacity"]["reserved"] == 0
    assert body["updateCapacity"]["capacity"]["free"] == 2

    # A report that leaves `available` out keeps the reservations made since.
    async with db.write_session() as session:
        await slots.reserve_slot(session, SHELTER_BEDS, actor_id=None)
    current = await _row(db)
    noted = await write_api.data(
        "harbor-portal",
        UPDATE,
        {"input": {"id": CAPACITY_ID, "version": current.version, "note": "Staff short tonight."}},
    )
    assert noted["updateCapacity"]["capacity"]["reserved"] == 1
    assert noted["updateCapacity"]["capacity"]["free"] == 1


async def test_only_the_partner_and_the_directory_owner_change_capacity(write_api: Api) -> None:
    db = write_api.database
    before = await _row(db)
    history = await _count(db, _history())
    attempt = {"input": {"id": CAPACITY_ID, "version": before.version, "available": 40}}
    for principal, code in (
        ("eastside-portal", "NOT_FOUND"),  # another partner's beds
        # places callers with Prairie's programs (it may take slots), but reports nothing
        ("lakeside-admin", "FORBIDDEN"),
        ("prairie-call-taker", "FORBIDDEN"),  # the role may not update capacity
        ("riverbend-api", "FORBIDDEN"),
    ):
        body = await write_api.gql(principal, UPDATE, attempt)
        assert codes(body) == [code], (principal, body)
    assert (await _row(db)).version == before.version
    assert await _count(db, _history()) == history

    # The pantry reports its own boxes; Prairie's admin may correct any of its directory's.
    boxes = await _row(db, PANTRY_BOXES)
    own = await write_api.data(
        "eastside-portal",
        UPDATE,
        {
            "input": {
                "id": to_global_id("ServiceCapacity", PANTRY_BOXES),
                "version": boxes.version,
                "available": 90,
            }
        },
    )
    assert own["updateCapacity"]["capacity"]["available"] == 90
    admin = await write_api.data(
        "prairie-admin",
        UPDATE,
        {"input": {"id": CAPACITY_ID, "version": before.version, "maximum": 45}},
    )
    assert admin["updateCapacity"]["capacity"]["maximum"] == 45


async def test_bad_figures_are_refused_before_anything_is_written(write_api: Api) -> None:
    db = write_api.database
    before = await _row(db)
    history, events = await _count(db, _history()), await _count(db, _events())
    for change in (
        {"available": -1},
        {"available": (before.maximum or 0) + 1},
        {"maximum": 1, "available": 2},
        {"note": "x" * 5000},
    ):
        body = await write_api.gql(
            "harbor-portal",
            UPDATE,
            {"input": {"id": CAPACITY_ID, "version": before.version, **change}},
        )
        assert codes(body) == ["BAD_USER_INPUT"], (change, body)
    after = await _row(db)
    assert (after.version, after.available, after.maximum) == (
        before.version,
        before.available,
        before.maximum,
    )
    assert await _count(db, _history()) == history and await _count(db, _events()) == events


async def test_a_retried_report_is_applied_once(write_api: Api) -> None:
    db = write_api.database
    before = await _row(db)
    history = await _count(db, _history())
    variables = {
        "input": {
            "id": CAPACITY_ID,
            "version": before.version,
            "available": 3,
            "idempotencyKey": "portal-7f3",
        }
    }
    first = await write_api.data("harbor-portal", UPDATE, variables)
    again = await write_api.data("harbor-portal", UPDATE, variables)
    assert first == again
    assert (await _row(db)).version == before.version + 1
    assert await _count(db, _history()) == history + 1
    reused = await write_api.gql(
        "harbor-portal",
        UPDATE,
        {"input": {**variables["input"], "available": 4}},
    )
    assert codes(reused) == ["CONFLICT"] and reasons(reused) == ["IDEMPOTENCY_KEY_REUSED"]


# -- the datastore functions the scheduler and the queues build on ------------------------------


async def _reserve(db: Database, count: int) -> None:
    async with db.write_session() as session:
        await session.execute(
            update(ServiceCapacity)
            .where(ServiceCapacity.id == SHELTER_BEDS)
            .values(available=4, reserved=0, status=CapacityStatus.CAPACITY)
        )
    for _ in range(count):
        async with db.write_session() as session:
            await slots.reserve_slot(session, SHELTER_BEDS, actor_id=None)


async def test_a_scheduled_change_never_drops_below_what_is_reserved(seeded_db: Database) -> None:
    await _reserve(seeded_db, 3)
    history = await _count(seeded_db, _history())
    events = await _count(seeded_db, _events())
    async with seeded_db.write_session() as session:
        capacity = await session.get(ServiceCapacity, SHELTER_BEDS)
        assert capacity is not None
        await slots.apply_capacity_change(
            session, capacity, available=1, note="Beds closed for cleaning.", actor_id=HARBOR_PORTAL
        )
    row = await _row(seeded_db)
    assert (row.available, row.reserved, row.note) == (3, 3, "Beds closed for cleaning.")
    async with seeded_db.read_session() as session:
        change = await session.scalar(
            select(CapacityChange)
            .where(CapacityChange.capacity_id == SHELTER_BEDS)
            .order_by(CapacityChange.changed_at.desc())
            .limit(1)
        )
    assert change is not None and change.available == 3 and change.changed_by_id == HARBOR_PORTAL
    assert "raised from 1 to 3" in (change.note or "")
    assert await _count(seeded_db, _history()) == history + 1
    assert await _count(seeded_db, _events()) == events + 1

    async with seeded_db.write_session() as session:
        capacity = await session.get(ServiceCapacity, SHELTER_BEDS)
        assert capacity is not None
        await slots.apply_capacity_change(session, capacity, available_delta=5)
        await slots.apply_capacity_change(
            session, capacity, available_delta=-100, status=CapacityStatus.WAITLIST
        )
    row = await _row(seeded_db)
    assert (row.available, row.reserved, row.status) == (3, 3, CapacityStatus.WAITLIST)
    with pytest.raises(BadUserInput):
        async with seeded_db.write_session() as session:
            capacity = await session.get(ServiceCapacity, SHELTER_BEDS)
            assert capacity is not None
            await slots.apply_capacity_change(session, capacity, available=1, available_delta=1)


async def test_no_slot_is_taken_when_none_is_free_or_the_status_says_no(
    seeded_db: Database,
) -> None:
    await _reserve(seeded_db, 4)
    with pytest.raises(Conflict) as full:
        async with seeded_db.write_session() as session:
            await slots.reserve_slot(session, SHELTER_BEDS, actor_id=None)
    assert full.value.reason == "NO_CAPACITY"
    async with seeded_db.write_session() as session:
        capacity = await session.get(ServiceCapacity, SHELTER_BEDS)
        assert capacity is not None
        await slots.apply_capacity_change(
            session, capacity, available_delta=2, status=CapacityStatus.WAITLIST
        )
    with pytest.raises(Conflict):
        async with seeded_db.write_session() as session:
            await slots.reserve_slot(session, SHELTER_BEDS, actor_id=None)
    row = await _row(seeded_db)
    assert (row.available, row.reserved) == (6, 4)


async def test_a_release_gives_back_only_a_slot_still_counted(seeded_db: Database) -> None:
    await _reserve(seeded_db, 2)
    held_since = utcnow()
    async with seeded_db.write_session() as session:
        await slots.reserve_slot(session, SHELTER_BEDS, actor_id=None)
    async with seeded_db.write_session() as session:
        released = await slots.release_slot(
            session, SHELTER_BEDS, held_since=held_since, actor_id=None
        )
    assert released is not None and (released.available, released.reserved) == (4, 2)

    # After the partner's report folded the reservations in, the partner decides about the slot.
    earlier = utcnow() - timedelta(seconds=1)
    async with seeded_db.write_session() as session:
        capacity = await session.get(ServiceCapacity, SHELTER_BEDS)
        assert capacity is not None
        await slots.report_capacity(
            session,
            capacity,
            slots.CapacityReport(available=1),
            expected_version=capacity.version,
            actor_id=HARBOR_PORTAL,
        )
    async with seeded_db.write_session() as session:
        folded = await slots.release_slot(session, SHELTER_BEDS, held_since=earlier, actor_id=None)
    assert folded is None
    row = await _row(seeded_db)
    assert (row.available, row.reserved) == (1, 0)
