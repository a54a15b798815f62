"""Follow-ups: the after-hours center schedules call-backs that appear in the daytime center's
system, which completes them; nobody else sees them, and nothing is handed to a tenant the
record's owner does not share follow-ups with."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from sharegraph.datastore.enums import EventType
from sharegraph.datastore.models import ContactRecord, Event, FollowUp
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .conftest import Api

PRAIRIE = to_global_id("Tenant", demo_id("tenant", "prairie"))
RIVERBEND = to_global_id("Tenant", demo_id("tenant", "riverbend"))
CRISIS_FORM_VERSION = demo_id("contact-form-version", "lakeside-standard:1")
PRAIRIE_STANDARD_VERSION = demo_id("contact-form-version", "prairie-standard:1")

FIELDS = "id uuid dueAt status note completedAt version createdAt tenant { name } assignedTenant { name }"
CREATE = f"""
mutation($input: CreateFollowUpInput!) {{ createFollowUp(input: $input) {{ followUp {{ {FIELDS} }} }} }}
"""
UPDATE = f"""
mutation($input: UpdateFollowUpInput!) {{ updateFollowUp(input: $input) {{ followUp {{ {FIELDS} }} }} }}
"""
COMPLETE = f"""
mutation($input: CompleteFollowUpInput!) {{ completeFollowUp(input: $input) {{ followUp {{ {FIELDS} }} }} }}
"""
LIST = """
query($filter: FollowUpFilterInput, $first: Int) {
  followUps(filter: $filter, first: $first) {
    totalCount
    edges { node { id status dueAt note tenant { name } assignedTenant { name } contactRecord { id startedAt } } }
  }
}
"""


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def reasons(body: dict[str, Any]) -> list[str | None]:
    return [e["extensions"].get("reason") for e in body.get("errors", [])]


def soon(hours: int = 20) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0).isoformat()


async def _record(api: Api, tenant: str, form_version: uuid.UUID) -> str:
    async with api.database.read_session() as session:
        record_id = await session.scalar(
            select(ContactRecord.id)
            .where(
                ContactRecord.tenant_id == demo_id("tenant", tenant),
                ContactRecord.form_version_id == form_version,
            )
            .order_by(ContactRecord.id)
            .limit(1)
        )
    assert record_id is not None
    return to_global_id("ContactRecord", record_id)


async def _events(api: Api, follow_up_uuid: str) -> list[tuple[EventType, int]]:
    async with api.database.read_session() as session:
        rows = await session.execute(
            select(Event.event_type, Event.record_version)
            .where(Event.record_type == "FollowUp", Event.record_id == uuid.UUID(follow_up_uuid))
            .order_by(Event.position)
        )
        return [(t, v) for t, v in rows.all()]


async def _count(api: Api, model: Any) -> int:
    async with api.database.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _ids(api: Api, principal: str, flt: dict[str, Any] | None = None) -> set[str]:
    data = await api.data(principal, LIST, {"filter": flt, "first": 100})
    return {e["node"]["id"] for e in data["followUps"]["edges"]}


async def test_the_after_hours_center_hands_a_call_back_to_the_daytime_center(
    write_api: Api,
) -> None:
    api = write_api
    record = await _record(api, "lakeside", CRISIS_FORM_VERSION)
    due = soon()

    created = await api.data(
        "lakeside-call-taker",
        CREATE,
        {
            "input": {
                "contactRecordId": record,
                "dueAt": due,
                "note": "Call back about the food box in the morning.",
                "assignedTenantId": PRAIRIE,
                "idempotencyKey": "night-shift-1",
            }
        },
    )
    follow_up = created["createFollowUp"]["followUp"]
    assert follow_up["status"] == "OPEN" and follow_up["version"] == 1
    assert follow_up["tenant"]["name"] == "Lakeside Crisis Line"
    assert follow_up["assignedTenant"]["name"] == "Prairie 211"
    assert follow_up["createdAt"] is not None
    assert await _events(api, follow_up["uuid"]) == [(EventType.CREATED, 1)]

    # The daytime center finds it among the follow-ups assigned to it, with the record it is on
    # (but only what the hand-off agreement shares of that record).
    mine = {"assignedTenantId": PRAIRIE, "status": "OPEN", "dueBefore": soon(48)}
    assert follow_up["id"] in await _ids(api, "prairie-call-taker", mine)
    body = await api.gql(
        "prairie-call-taker",
        "query($id: ID!) { followUp(id: $id) { note contactRecord { startedAt narrative } } }",
        {"id": follow_up["id"]},
    )
    seen = body["data"]["followUp"]
    assert seen["note"] == "Call back about the food box in the morning."
    assert seen["contactRecord"]["startedAt"] is not None
    assert seen["contactRecord"]["narrative"] is None
    assert codes(body) == ["FORBIDDEN_FIELD"]

    # A third tenant has no trace of it.
    assert follow_up["id"] not in await _ids(api, "riverbend-admin")
    body = await api.gql(
        "riverbend-admin", "query($id: ID!) { node(id: $id) { id } }", {"id": follow_up["id"]}
    )
    assert body["data"]["node"] is None
    body = await api.gql(
        "riverbend-admin", COMPLETE, {"input": {"id": follow_up["id"], "version": 1}}
    )
    assert codes(body) == ["NOT_FOUND"]

    # The daytime center completes it; the after-hours center sees the result.
    completed = await api.data(
        "prairie-call-taker",
        COMPLETE,
        {"input": {"id": follow_up["id"], "version": 1, "note": "Reached the caller."}},
    )
    done = completed["completeFollowUp"]["followUp"]
    assert done["status"] == "COMPLETED" and done["version"] == 2
    assert done["completedAt"] is not None and done["note"] == "Reached the caller."
    async with api.database.read_session() as session:
        row = await session.get(FollowUp, uuid.UUID(follow_up["uuid"]))
        assert row is not None
        assert row.completed_by_id == demo_id("principal", "prairie-call-taker")
        assert row.created_by_id == demo_id("principal", "lakeside-call-taker")
    assert await _events(api, follow_up["uuid"]) == [
        (EventType.CREATED, 1),
        (EventType.UPDATED, 2),
    ]
    seen_by_owner = await api.data(
        "lakeside-call-taker",
        "query($id: ID!) { followUp(id: $id) { status } }",
        {"id": done["id"]},
    )
    assert seen_by_owner["followUp"]["status"] == "COMPLETED"
    assert follow_up["id"] in await _ids(api, "prairie-call-taker", {"status": "COMPLETED"})

    # Completing twice is refused, and an old version is a conflict.
    body = await api.gql(
        "prairie-call-taker", COMPLETE, {"input": {"id": done["id"], "version": 2}}
    )
    assert reasons(body) == ["NOT_OPEN"]
    body = await api.gql(
        "prairie-call-taker", COMPLETE, {"input": {"id": done["id"], "version": 1}}
    )
    assert reasons(body) == ["VERSION_MISMATCH"]


async def test_a_retry_with_the_same_key_schedules_one_follow_up(write_api: Api) -> None:
    api = write_api
    given = {
        "contactRecordId": await _record(api, "lakeside", CRISIS_FORM_VERSION),
        "dueAt": soon(),
        "assignedTenantId": PRAIRIE,
        "idempotencyKey": "retry-me",
    }
    first = await api.data("lakeside-call-taker", CREATE, {"input": given})
    count = await _count(api, FollowUp)
    events = await _count(api, Event)
    again = await api.data("lakeside-call-taker", CREATE, {"input": given})
    assert again["createFollowUp"]["followUp"]["id"] == first["createFollowUp"]["followUp"]["id"]
    assert (await _count(api, FollowUp), await _count(api, Event)) == (count, events)

    body = await api.gql(
        "lakeside-call-taker", CREATE, {"input": {**given, "note": "something else"}}
    )
    assert codes(body) == ["CONFLICT"] and reasons(body) == ["IDEMPOTENCY_KEY_REUSED"]


async def test_no_follow_up_goes_to_a_tenant_the_owner_does_not_share_follow_ups_with(
    write_api: Api,
) -> None:
    api = write_api
    record = await _record(api, "lakeside", CRISIS_FORM_VERSION)
    count, events = await _count(api, FollowUp), await _count(api, Event)

    body = await api.gql(
        "lakeside-call-taker",
        CREATE,
        {"input": {"contactRecordId": record, "dueAt": soon(), "assignedTenantId": RIVERBEND}},
    )
    assert codes(body) == ["FORBIDDEN"] and reasons(body) == ["NO_SHARING_AGREEMENT"]
    assert "sharing agreement" in body["errors"][0]["message"]

    # Nor can an existing follow-up be reassigned there.
    created = await api.data(
        "lakeside-call-taker", CREATE, {"input": {"contactRecordId": record, "dueAt": soon()}}
    )
    follow_up = created["createFollowUp"]["followUp"]
    assert follow_up["assignedTenant"]["name"] == "Lakeside Crisis Line"
    body = await api.gql(
        "lakeside-call-taker",
        UPDATE,
        {"input": {"id": follow_up["id"], "version": 1, "assignedTenantId": RIVERBEND}},
    )
    assert reasons(body) == ["NO_SHARING_AGREEMENT"]

    body = await api.gql(
        "lakeside-call-taker",
        CREATE,
        {
            "input": {
                "contactRecordId": record,
                "dueAt": soon(),
                "assignedTenantId": to_global_id("Tenant", uuid.uuid4()),
            }
        },
    )
    assert codes(body) == ["BAD_USER_INPUT"] and reasons(body) == ["UNKNOWN_ASSIGNEE"]
    assert (await _count(api, FollowUp), await _count(api, Event)) == (count + 1, events + 1)


async def test_reassigning_and_editing_follow_the_version_and_the_agreement(
    write_api: Api,
) -> None:
    api = write_api
    record = await _record(api, "lakeside", CRISIS_FORM_VERSION)
    created = await api.data(
        "lakeside-call-taker",
        CREATE,
        {"input": {"contactRecordId": record, "dueAt": soon(), "assignedTenantId": PRAIRIE}},
    )
    follow_up = created["createFollowUp"]["followUp"]

    moved = await api.data(
        "lakeside-call-taker",
        UPDATE,
        {"input": {"id": follow_up["id"], "version": 1, "dueAt": soon(30), "note": "later"}},
    )
    assert moved["updateFollowUp"]["followUp"]["version"] == 2
    assert moved["updateFollowUp"]["followUp"]["note"] == "later"

    body = await api.gql(
        "prairie-call-taker",
        UPDATE,
        {"input": {"id": follow_up["id"], "version": 1, "note": "stale"}},
    )
    assert codes(body) == ["CONFLICT"] and reasons(body) == ["VERSION_MISMATCH"]
    assert body["errors"][0]["extensions"]["currentVersion"] == 2

    # Handing it back to the owner takes it out of the daytime center's list.
    back = await api.data(
        "lakeside-call-taker",
        UPDATE,
        {"input": {"id": follow_up["id"], "version": 2, "assignedTenantId": None}},
    )
    assert back["updateFollowUp"]["followUp"]["assignedTenant"]["name"] == "Lakeside Crisis Line"
    assert follow_up["id"] not in await _ids(api, "prairie-call-taker")
    body = await api.gql(
        "prairie-call-taker", COMPLETE, {"input": {"id": follow_up["id"], "version": 3}}
    )
    assert codes(body) == ["NOT_FOUND"]

    body = await api.gql(
        "lakeside-call-taker",
        UPDATE,
        {"input": {"id": follow_up["id"], "version": 3, "status": "COMPLETED"}},
    )
    assert reasons(body) == ["USE_COMPLETE_FOLLOW_UP"]
    cancelled = await api.data(
        "lakeside-call-taker",
        UPDATE,
        {"input": {"id": follow_up["id"], "version": 3, "status": "CANCELLED"}},
    )
    assert cancelled["updateFollowUp"]["followUp"]["status"] == "CANCELLED"
    assert [v for _, v in await _events(api, follow_up["uuid"])] == [1, 2, 3, 4]


async def test_a_follow_up_for_a_colleague_shows_in_their_own_list(write_api: Api) -> None:
    api = write_api
    record = await _record(api, "prairie", PRAIRIE_STANDARD_VERSION)
    admin = to_global_id("Principal", demo_id("principal", "prairie-admin"))
    created = await api.data(
        "prairie-call-taker",
        CREATE,
        {"input": {"contactRecordId": record, "dueAt": soon(), "assignedPrincipalId": admin}},
    )
    follow_up = created["createFollowUp"]["followUp"]
    assert follow_up["assignedTenant"]["name"] == "Prairie 211"
    assert follow_up["id"] in await _ids(api, "prairie-admin", {"assignedToMe": True})
    assert follow_up["id"] not in await _ids(api, "prairie-call-taker", {"assignedToMe": True})

    # A user of another tenant cannot be named on a follow-up the owner keeps.
    outsider = to_global_id("Principal", demo_id("principal", "riverbend-call-taker"))
    body = await api.gql(
        "prairie-call-taker",
        CREATE,
        {
            "input": {
                "contactRecordId": record,
                "dueAt": soon(),
                "assignedTenantId": PRAIRIE,
                "assignedPrincipalId": outsider,
            }
        },
    )
    assert reasons(body) == ["UNKNOWN_ASSIGNEE"]


async def test_who_may_not_schedule_follow_ups(api: Api) -> None:
    record = await _record(api, "prairie", PRAIRIE_STANDARD_VERSION)
    given = {"input": {"contactRecordId": record, "dueAt": soon()}}

    body = await api.gql("eastside-portal", CREATE, given)
    assert codes(body) == ["FORBIDDEN"] and reasons(body) == ["OPERATION_DENIED"]
    # Another tenant's record it cannot see does not exist for it.
    body = await api.gql("riverbend-call-taker", CREATE, given)
    assert codes(body) == ["NOT_FOUND"]
    body = await api.gql(
        "prairie-call-taker", CREATE, {"input": {**given["input"], "dueAt": "2026-03-02T09:00:00"}}
    )
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_the_list_filters_only_on_what_the_caller_reads(api: Api) -> None:
    data = await api.data(
        "prairie-admin",
        "{ followUps(first: 100, sort: DUE_AT_DESC) { totalCount edges { node { dueAt tenant { name } assignedTenant { name } } } } }",
    )
    nodes = [e["node"] for e in data["followUps"]["edges"]]
    assert nodes and data["followUps"]["totalCount"] >= len(nodes)
    dues = [n["dueAt"] for n in nodes]
    assert dues == sorted(dues, reverse=True)
    # Prairie sees its own follow-ups and Lakeside's that concern it, never Riverbend's.
    assert {n["tenant"]["name"] for n in nodes} <= {"Prairie 211", "Lakeside Crisis Line"}

    # A partner organization reads no follow-ups at all.
    data = await api.data("eastside-portal", "{ followUps { totalCount } }")
    assert data["followUps"]["totalCount"] == 0
