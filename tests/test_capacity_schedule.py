"""Scheduled capacity through the API: "5 new slots on Monday at 08:00" applies itself then, in
the owner tenant's time zone; only those who may change a capacity may schedule or cancel."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from sharegraph.datastore.enums import EventType
from sharegraph.datastore.localtime import local_to_utc
from sharegraph.datastore.models import (
    CapacityChange,
    Event,
    ScheduledCapacityChange,
    ServiceCapacity,
)
from sharegraph.demo import demo_id
from sharegraph.errors import BadUserInput
from sharegraph.graph.relay import from_global_id, to_global_id
from sharegraph.worker import SCHEDULED_CAPACITY, Scheduler
from sharegraph.worker.capacity import SCHEDULED_CAPACITY_WORK

from .conftest import Api

EASTSIDE_BOXES = demo_id("service-capacity", "eastside-boxes")  # 120 of 300 food boxes
HARBOR_SHELTER = demo_id("service-capacity", "harbor-shelter")  # 4 of 40 beds
BOXES_ID = to_global_id("ServiceCapacity", EASTSIDE_BOXES)
SHELTER_ID = to_global_id("ServiceCapacity", HARBOR_SHELTER)
# Prairie 211 is in America/Chicago. Daylight saving time starts on 2027-03-14.
MONDAY_BEFORE_DST = date(2027, 3, 8)
MONDAY_AFTER_DST = date(2027, 3, 15)

SCHEDULE = """
mutation($input: ScheduleCapacityInput!) {
  scheduleCapacity(input: $input) {
    scheduledChange { id applyAt availableDelta available maximum status note createdAt appliedAt cancelledAt }
    capacity { id available scheduled { id applyAt availableDelta } }
  }
}
"""
CANCEL = """
mutation($input: CancelScheduledCapacityInput!) {
  cancelScheduledCapacity(input: $input) {
    scheduledChange { id cancelledAt appliedAt }
    capacity { id scheduled { id } }
  }
}
"""
CAPACITY = """
query($id: ID!) {
  node(id: $id) {
    ... on ServiceCapacity { available maximum status note scheduled { id applyAt availableDelta } }
  }
}
"""


def codes(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [
        (e["extensions"]["code"], e["extensions"].get("reason")) for e in body.get("errors", [])
    ]


def five_more(when: date = MONDAY_AFTER_DST, at: str = "08:00", **extra: Any) -> dict[str, Any]:
    return {
        "capacityId": BOXES_ID,
        "localDate": when.isoformat(),
        "localTime": at,
        "availableDelta": 5,
        **extra,
    }


async def count(api: Api, model: Any, *where: Any) -> int:
    async with api.database.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def capacity(api: Api, capacity_id: uuid.UUID) -> ServiceCapacity:
    async with api.database.read_session() as session:
        row = await session.get(ServiceCapacity, capacity_id)
        assert row is not None
        return row


async def run_scheduler(api: Api, now: datetime) -> int:
    report = await Scheduler(api.database, [SCHEDULED_CAPACITY_WORK]).run_once(now)
    assert report.ok, report.to_json()
    return report.kind(SCHEDULED_CAPACITY).done


# -- the wall clock of the owner tenant --------------------------------------------------------


def test_monday_8am_in_chicago_follows_daylight_saving_time() -> None:
    chicago = "America/Chicago"
    assert local_to_utc(MONDAY_BEFORE_DST, time(8), chicago) == datetime(2027, 3, 8, 14, tzinfo=UTC)
    assert local_to_utc(MONDAY_AFTER_DST, time(8), chicago) == datetime(2027, 3, 15, 13, tzinfo=UTC)
    # Clocks fall back on 2027-11-07: 01:30 happens twice; it means the first (CDT).
    assert local_to_utc(date(2027, 11, 7), time(1, 30), chicago) == datetime(
        2027, 11, 7, 6, 30, tzinfo=UTC
    )
    # ...and spring forward on 2027-03-14: 02:30 never happens.
    with pytest.raises(BadUserInput) as refused:
        local_to_utc(date(2027, 3, 14), time(2, 30), chicago)
    assert refused.value.reason == "NONEXISTENT_LOCAL_TIME"
    assert local_to_utc(MONDAY_AFTER_DST, time(8), "Europe/Berlin") == datetime(
        2027, 3, 15, 7, tzinfo=UTC
    )


# -- the owner tenant schedules -----------------------------------------------------------------


async def test_five_more_boxes_on_monday_morning_apply_themselves_then(write_api: Api) -> None:
    api = write_api
    data = await api.data("prairie-admin", SCHEDULE, {"input": five_more(note="Truck restocks")})
    payload = data["scheduleCapacity"]
    change = payload["scheduledChange"]
    assert change["applyAt"] == "2027-03-15T13:00:00+00:00"  # 08:00 CDT
    assert (change["availableDelta"], change["available"], change["note"]) == (
        5,
        None,
        "Truck restocks",
    )
    assert change["appliedAt"] is None and change["cancelledAt"] is None
    assert payload["capacity"]["available"] == 120
    assert [s["id"] for s in payload["capacity"]["scheduled"]] == [change["id"]]
    change_id = from_global_id(change["id"], expected="ScheduledCapacityChange")[1]
    created = await count(
        api, Event, Event.record_id == change_id, Event.event_type == EventType.CREATED
    )
    assert created == 1
    async with api.database.read_session() as session:
        row = await session.get(ScheduledCapacityChange, change_id)
    assert row is not None and row.created_by_id == demo_id("principal", "prairie-admin")

    history = await count(api, CapacityChange, CapacityChange.capacity_id == EASTSIDE_BOXES)
    apply_at = datetime(2027, 3, 15, 13, tzinfo=UTC)
    assert await run_scheduler(api, apply_at - timedelta(minutes=1)) == 0
    assert await run_scheduler(api, apply_at) == 1
    assert await run_scheduler(api, apply_at + timedelta(hours=1)) == 0

    after = (await api.data("prairie-admin", CAPACITY, {"id": BOXES_ID}))["node"]
    assert (after["available"], after["note"], after["scheduled"]) == (125, "Truck restocks", [])
    assert (
        await count(api, CapacityChange, CapacityChange.capacity_id == EASTSIDE_BOXES)
        == history + 1
    )
    async with api.database.read_session() as session:
        latest = await session.scalar(
            select(CapacityChange)
            .where(CapacityChange.capacity_id == EASTSIDE_BOXES)
            .order_by(CapacityChange.changed_at.desc())
            .limit(1)
        )
    assert latest is not None and latest.available == 125
    assert latest.changed_by_id == demo_id("principal", "prairie-admin")


async def test_an_instant_and_a_new_figure_with_status(write_api: Api) -> None:
    api = write_api
    data = await api.data(
        "prairie-admin",
        SCHEDULE,
        {
            "input": {
                "capacityId": SHELTER_ID,
                "applyAt": "2027-03-15T08:00:00-05:00",
                "available": 0,
                "maximum": 30,
                "status": "WAITLIST",
            }
        },
    )
    change = data["scheduleCapacity"]["scheduledChange"]
    assert change["applyAt"] == "2027-03-15T13:00:00+00:00"
    assert (change["available"], change["maximum"], change["status"]) == (0, 30, "WAITLIST")
    await run_scheduler(api, datetime(2027, 3, 15, 13, tzinfo=UTC))
    shelter = await capacity(api, HARBOR_SHELTER)
    assert (shelter.available, shelter.maximum, shelter.status.value) == (0, 30, "waitlist")


async def test_bad_schedules_are_refused_with_reasons_and_write_nothing(write_api: Api) -> None:
    api = write_api
    before = await count(api, ScheduledCapacityChange)
    events = await count(api, Event)
    cases: list[tuple[dict[str, Any], str]] = [
        (five_more(when=date(2020, 3, 2)), "APPLY_AT_NOT_IN_FUTURE"),
        (
            {"capacityId": BOXES_ID, "applyAt": "2020-01-01T00:00:00Z", "availableDelta": 5},
            "APPLY_AT_NOT_IN_FUTURE",
        ),
        (five_more(available=10), "DELTA_AND_ABSOLUTE"),
        ({**five_more(), "availableDelta": None, "available": -1}, "NEGATIVE_FIGURE"),
        (five_more(maximum=-3), "NEGATIVE_FIGURE"),
        (
            {**five_more(), "availableDelta": None, "available": 50, "maximum": 40},
            "AVAILABLE_ABOVE_MAXIMUM",
        ),
        ({**five_more(), "availableDelta": None}, "NOTHING_TO_CHANGE"),
        (five_more(applyAt="2027-03-15T13:00:00Z"), "BAD_APPLY_AT"),
        ({"capacityId": BOXES_ID, "localDate": "2027-03-15", "availableDelta": 5}, "BAD_APPLY_AT"),
        (
            {"capacityId": BOXES_ID, "applyAt": "2027-03-15T13:00:00", "availableDelta": 5},
            "BAD_DATE_TIME",  # no UTC offset: refused by the DateTime scalar itself
        ),
        (five_more(when=date(2027, 3, 14), at="02:30"), "NONEXISTENT_LOCAL_TIME"),
        (five_more(note="x" * 2001), "NOTE_TOO_LONG"),
    ]
    for given, reason in cases:
        body = await api.gql("prairie-admin", SCHEDULE, {"input": given})
        assert codes(body) == [("BAD_USER_INPUT", reason)], (given, body)
    assert await count(api, ScheduledCapacityChange) == before
    assert await count(api, Event) == events


async def test_a_cancelled_change_does_not_apply(write_api: Api) -> None:
    api = write_api
    data = await api.data("prairie-admin", SCHEDULE, {"input": five_more()})
    change_id = data["scheduleCapacity"]["scheduledChange"]["id"]

    cancelled = await api.data(
        "prairie-admin", CANCEL, {"input": {"id": change_id, "idempotencyKey": "cancel-1"}}
    )
    payload = cancelled["cancelScheduledCapacity"]
    assert payload["scheduledChange"]["cancelledAt"] is not None
    assert payload["capacity"]["scheduled"] == []
    raw_id = from_global_id(change_id, expected="ScheduledCapacityChange")[1]
    assert (
        await count(api, Event, Event.record_id == raw_id, Event.event_type == EventType.UPDATED)
        == 1
    )
    # A retry with the same key answers the same; without one, it is already cancelled.
    again = await api.data(
        "prairie-admin", CANCEL, {"input": {"id": change_id, "idempotencyKey": "cancel-1"}}
    )
    assert again["cancelScheduledCapacity"]["scheduledChange"] == payload["scheduledChange"]
    body = await api.gql("prairie-admin", CANCEL, {"input": {"id": change_id}})
    assert codes(body) == [("CONFLICT", "ALREADY_CANCELLED")]

    assert await run_scheduler(api, datetime(2027, 3, 16, tzinfo=UTC)) == 0
    assert (await capacity(api, EASTSIDE_BOXES)).available == 120


async def test_an_applied_change_can_no_longer_be_cancelled(write_api: Api) -> None:
    api = write_api
    data = await api.data("prairie-admin", SCHEDULE, {"input": five_more()})
    change_id = data["scheduleCapacity"]["scheduledChange"]["id"]
    assert await run_scheduler(api, datetime(2027, 3, 16, tzinfo=UTC)) == 1
    body = await api.gql("prairie-admin", CANCEL, {"input": {"id": change_id}})
    assert codes(body) == [("CONFLICT", "ALREADY_APPLIED")]


async def test_a_retried_schedule_is_stored_once(write_api: Api) -> None:
    api = write_api
    before = await count(api, ScheduledCapacityChange)
    given = five_more(idempotencyKey="monday-boxes")
    first = await api.data("prairie-admin", SCHEDULE, {"input": given})
    second = await api.data("prairie-admin", SCHEDULE, {"input": given})
    assert (
        first["scheduleCapacity"]["scheduledChange"]["id"]
        == second["scheduleCapacity"]["scheduledChange"]["id"]
    )
    assert await count(api, ScheduledCapacityChange) == before + 1
    body = await api.gql("prairie-admin", SCHEDULE, {"input": {**given, "availableDelta": 6}})
    assert codes(body) == [("CONFLICT", "IDEMPOTENCY_KEY_REUSED")]


# -- who may not ---------------------------------------------------------------------------------


async def test_a_call_taker_may_not_schedule_capacity(write_api: Api) -> None:
    body = await write_api.gql("prairie-call-taker", SCHEDULE, {"input": five_more()})
    assert codes(body) == [("FORBIDDEN", "OPERATION_DENIED")]


async def test_another_center_cannot_schedule_for_prairies_programs(write_api: Api) -> None:
    """Lakeside reads Prairie's directory, capacity included, and may take slots when it places
    a caller, but may not announce capacity."""
    api = write_api
    before = await count(api, ScheduledCapacityChange)
    body = await api.gql("lakeside-admin", SCHEDULE, {"input": five_more()})
    assert codes(body) == [("FORBIDDEN", "FORBIDDEN_INPUT")]
    assert await count(api, ScheduledCapacityChange) == before

    data = await api.data("prairie-admin", SCHEDULE, {"input": five_more()})
    change_id = data["scheduleCapacity"]["scheduledChange"]["id"]
    body = await api.gql("lakeside-admin", CANCEL, {"input": {"id": change_id}})
    assert codes(body) == [("NOT_FOUND", None)]
    assert (await capacity(api, EASTSIDE_BOXES)).available == 120


async def test_other_centers_do_not_see_what_prairie_scheduled(write_api: Api) -> None:
    """The shared directory includes capacity, not the changes Prairie announced for it."""
    api = write_api
    await api.data("prairie-admin", SCHEDULE, {"input": five_more()})
    own = (await api.data("prairie-admin", CAPACITY, {"id": BOXES_ID}))["node"]
    assert len(own["scheduled"]) == 1
    for principal in ("lakeside-admin", "riverbend-call-taker"):
        seen = (await api.data(principal, CAPACITY, {"id": BOXES_ID}))["node"]
        assert seen["available"] == 120 and seen["scheduled"] == [], principal


# -- partners, through their own portal ----------------------------------------------------------
# The demo lets Eastside Food Pantry and Harbor Housing report capacity on Prairie 211's directory
# ("Capacity reporting by ...", demo/queues.py), scheduled changes included.

AGREE = """
mutation($input: SharingAgreementInput!) { createSharingAgreement(input: $input) { agreement { id } } }
"""
REVOKE = "mutation($id: ID!) { revokeSharingAgreement(id: $id) { agreement { revokedAt } } }"


async def test_the_pantry_schedules_for_its_own_program_and_sees_it(write_api: Api) -> None:
    api = write_api
    data = await api.data("eastside-portal", SCHEDULE, {"input": five_more()})
    change = data["scheduleCapacity"]["scheduledChange"]
    assert [s["id"] for s in data["scheduleCapacity"]["capacity"]["scheduled"]] == [change["id"]]
    seen = (await api.data("eastside-portal", CAPACITY, {"id": BOXES_ID}))["node"]
    assert [s["id"] for s in seen["scheduled"]] == [change["id"]]

    await run_scheduler(api, datetime(2027, 3, 15, 13, tzinfo=UTC))
    assert (await capacity(api, EASTSIDE_BOXES)).available == 125
    async with api.database.read_session() as session:
        latest = await session.scalar(
            select(CapacityChange)
            .where(CapacityChange.capacity_id == EASTSIDE_BOXES)
            .order_by(CapacityChange.changed_at.desc())
            .limit(1)
        )
    assert latest is not None and latest.changed_by_id == demo_id("principal", "eastside-portal")

    next_week = five_more(MONDAY_AFTER_DST + timedelta(days=7))
    second = await api.data("eastside-portal", SCHEDULE, {"input": next_week})
    second_id = second["scheduleCapacity"]["scheduledChange"]["id"]
    cancelled = await api.data("eastside-portal", CANCEL, {"input": {"id": second_id}})
    assert cancelled["cancelScheduledCapacity"]["scheduledChange"]["cancelledAt"] is not None


async def test_the_pantry_cannot_schedule_for_the_shelters_beds(write_api: Api) -> None:
    """Both partners may report capacity on Prairie's directory; each only for what it runs."""
    api = write_api
    before = await count(api, ScheduledCapacityChange)
    body = await api.gql("eastside-portal", SCHEDULE, {"input": five_more(capacityId=SHELTER_ID)})
    assert codes(body) == [("NOT_FOUND", None)]
    assert await count(api, ScheduledCapacityChange) == before

    # Nor cancel what Harbor Housing scheduled for its shelter.
    harbors = await api.data("harbor-portal", SCHEDULE, {"input": five_more(capacityId=SHELTER_ID)})
    change_id = harbors["scheduleCapacity"]["scheduledChange"]["id"]
    body = await api.gql("eastside-portal", CANCEL, {"input": {"id": change_id}})
    assert codes(body) == [("NOT_FOUND", None)]
    assert await run_scheduler(api, datetime(2027, 3, 16, tzinfo=UTC)) == 1
    assert (await capacity(api, HARBOR_SHELTER)).available == 9


async def test_a_partner_needs_grants_for_what_it_schedules(write_api: Api) -> None:
    """Prairie narrows the pantry's capacity agreement to reporting only: no scheduling."""
    api = write_api
    prairie = demo_id("tenant", "prairie")
    reporting = demo_id("sharing-agreement", f"Capacity reporting by eastside{prairie}")
    await api.data("prairie-admin", REVOKE, {"id": to_global_id("SharingAgreement", reporting)})
    body = await api.gql("eastside-portal", SCHEDULE, {"input": five_more()})
    assert codes(body) == [("NOT_FOUND", None)]  # no write grant on Prairie's capacity at all

    eastside = demo_id("partner-organization", "eastside")
    await api.data(
        "prairie-admin",
        AGREE,
        {
            "input": {
                "name": "Capacity figures by eastside",
                "purpose": "capacity updates",
                "granteeKind": "PARTNER",
                "granteePartnerId": to_global_id("PartnerOrganization", eastside),
                "actions": ["write"],
                "fields": ["ServiceCapacity.*"],
            }
        },
    )
    body = await api.gql("eastside-portal", SCHEDULE, {"input": five_more()})
    assert codes(body) == [("FORBIDDEN", "FORBIDDEN_INPUT")]
    assert set(body["errors"][0]["extensions"]["coordinates"]) == {
        "ScheduledCapacityChange.applyAt",
        "ScheduledCapacityChange.availableDelta",
    }
