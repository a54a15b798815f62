"""Closed-loop referrals over GraphQL: create, the FHIR Task lifecycle, outcomes, external ids,
idempotent retries and version conflicts, on both backends.

The people: Prairie 211's call-taker refers a caller to the Eastside food pantry, whose staff
answer through the provider portal (`eastside-portal`); Harbor Housing (`harbor-portal`) must
never touch the pantry's referrals, nor the pantry Harbor's.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from sharegraph.datastore.enums import ReferralStatus
from sharegraph.datastore.models import (
    ContactRecord,
    Event,
    Organization,
    Referral,
    ReferralStatusChange,
    Service,
    ServiceAtLocation,
)
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .conftest import Api

PRAIRIE = demo_id("tenant", "prairie")
EASTSIDE = demo_id("partner-organization", "eastside")
HARBOR = demo_id("partner-organization", "harbor")

CREATE = """
mutation Create($input: CreateReferralInput!) {
  createReferral(input: $input) {
    referral { id uuid status version history { fromStatus toStatus reason } }
  }
}
"""
STATUS = """
mutation Status($input: UpdateReferralStatusInput!) {
  updateReferralStatus(input: $input) {
    referral { id status statusReason version history { fromStatus toStatus reason } }
  }
}
"""
OUTCOME = """
mutation Outcome($input: AddOutcomeInput!) {
  addOutcome(input: $input) {
    outcome { code note outcomeDate }
    referral { id outcomes { code } }
  }
}
"""
EXTERNAL_ID = """
mutation ExternalId($input: SetReferralExternalIdInput!) {
  setReferralExternalId(input: $input) { referral { externalId version } }
}
"""


async def _scalar(api: Api, statement: Any) -> Any:
    async with api.database.read_session() as session:
        return await session.scalar(statement)


async def _partner_sal(api: Api, partner: uuid.UUID) -> uuid.UUID:
    """A service at location of an organization the partner runs, in Prairie's directory."""
    sal: uuid.UUID = await _scalar(
        api,
        select(ServiceAtLocation.id)
        .join(Service, Service.id == ServiceAtLocation.service_id)
        .join(Organization, Organization.id == Service.organization_id)
        .where(Organization.partner_organization_id == partner, Organization.tenant_id == PRAIRIE)
        .order_by(ServiceAtLocation.id)
        .limit(1),
    )
    assert sal is not None
    return sal


async def _prairie_record(api: Api) -> uuid.UUID:
    record: uuid.UUID = await _scalar(
        api,
        select(ContactRecord.id)
        .where(ContactRecord.tenant_id == PRAIRIE)
        .order_by(ContactRecord.id)
        .limit(1),
    )
    return record


async def _errors(api: Api, principal: str, query: str, variables: dict[str, Any]) -> Any:
    body = await api.gql(principal, query, variables)
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]


async def _refer_to(api: Api, partner: uuid.UUID, key: str | None = None) -> dict[str, Any]:
    variables = {
        "input": {
            "contactRecordId": to_global_id("ContactRecord", await _prairie_record(api)),
            "serviceAtLocationId": to_global_id(
                "ServiceAtLocation", await _partner_sal(api, partner)
            ),
            **({"idempotencyKey": key} if key else {}),
        }
    }
    data = await api.data("prairie-call-taker", CREATE, variables)
    referral: dict[str, Any] = data["createReferral"]["referral"]
    return referral


async def _events(api: Api, referral_uuid: str) -> list[tuple[str, int]]:
    async with api.database.read_session() as session:
        rows = await session.execute(
            select(Event.event_type, Event.record_version)
            .where(Event.record_id == uuid.UUID(referral_uuid))
            .order_by(Event.position)
        )
        return [(str(t), v) for t, v in rows.all()]


async def test_the_closed_loop_from_referral_to_outcome(write_api: Api) -> None:
    api = write_api
    referral = await _refer_to(api, EASTSIDE)
    assert referral["status"] == "REQUESTED" and referral["version"] == 1
    assert referral["history"] == [{"fromStatus": None, "toStatus": "REQUESTED", "reason": None}]

    steps = [("ACCEPTED", None), ("ON_HOLD", "waiting for ID documents"), ("IN_PROGRESS", None)]
    version = 1
    for status, reason in steps:
        data = await api.data(
            "eastside-portal",
            STATUS,
            {
                "input": {
                    "id": referral["id"],
                    "version": version,
                    "status": status,
                    "reason": reason,
                }
            },
        )
        changed = data["updateReferralStatus"]["referral"]
        version += 1
        assert changed["status"] == status and changed["version"] == version
        assert changed["statusReason"] == reason
    assert [h["toStatus"] for h in changed["history"]] == [
        "REQUESTED", "ACCEPTED", "ON_HOLD", "IN_PROGRESS",
    ]  # fmt: skip
    assert changed["history"][2]["reason"] == "waiting for ID documents"

    data = await api.data(
        "eastside-portal",
        EXTERNAL_ID,
        {"input": {"id": referral["id"], "version": version, "externalId": "PANTRY-4411"}},
    )
    assert data["setReferralExternalId"]["referral"] == {
        "externalId": "PANTRY-4411",
        "version": version + 1,
    }
    version += 1
    data = await api.data(
        "eastside-portal",
        OUTCOME,
        {
            "input": {
                "referralId": referral["id"],
                "code": "GOT_HELP",
                "note": "two boxes",
                "outcomeDate": date.today().isoformat(),
            }
        },
    )
    assert data["addOutcome"]["outcome"]["code"] == "GOT_HELP"
    assert data["addOutcome"]["referral"]["outcomes"] == [{"code": "GOT_HELP"}]
    await api.data(
        "eastside-portal",
        STATUS,
        {"input": {"id": referral["id"], "version": version, "status": "COMPLETED"}},
    )

    history = await _scalar(
        api,
        select(func.count())
        .select_from(ReferralStatusChange)
        .where(
            ReferralStatusChange.referral_id == uuid.UUID(referral["uuid"]),
            ReferralStatusChange.changed_by_id == demo_id("principal", "eastside-portal"),
        ),
    )
    assert history == 4  # accepted, on-hold, in-progress, completed: each with who
    # One event per write, carrying the version each write produced.
    assert await _events(api, referral["uuid"]) == [
        ("created", 1), ("updated", 2), ("updated", 3), ("updated", 4), ("updated", 5),
        ("updated", 6),
    ]  # fmt: skip
    outcome_events = await _scalar(
        api,
        select(func.count())
        .select_from(Event)
        .where(Event.record_type == "Outcome", Event.event_type == "created"),
    )
    assert outcome_events >= 1


async def test_the_pantry_cannot_touch_harbor_housings_referral(write_api: Api) -> None:
    api = write_api
    harbor_referral = await _refer_to(api, HARBOR)
    for query, extra in (
        (STATUS, {"status": "ACCEPTED"}),
        (EXTERNAL_ID, {"externalId": "X"}),
    ):
        variables = {"input": {"id": harbor_referral["id"], "version": 1, **extra}}
        ext = await _errors(api, "eastside-portal", query, variables)
        assert ext["code"] == "NOT_FOUND"
    outcome = {
        "referralId": harbor_referral["id"],
        "code": "GOT_HELP",
        "outcomeDate": date.today().isoformat(),
    }
    assert (await _errors(api, "eastside-portal", OUTCOME, {"input": outcome}))["code"] == (
        "NOT_FOUND"
    )
    # Harbor itself may accept it.
    data = await api.data(
        "harbor-portal",
        STATUS,
        {"input": {"id": harbor_referral["id"], "version": 1, "status": "ACCEPTED"}},
    )
    assert data["updateReferralStatus"]["referral"]["status"] == "ACCEPTED"


async def test_each_side_sets_only_its_own_statuses(write_api: Api) -> None:
    api = write_api
    referral = await _refer_to(api, EASTSIDE)
    # The referring center cannot accept on behalf of a partner that has a portal ...
    ext = await _errors(
        api,
        "prairie-call-taker",
        STATUS,
        {"input": {"id": referral["id"], "version": 1, "status": "ACCEPTED"}},
    )
    assert (ext["code"], ext["reason"]) == ("FORBIDDEN", "STATUS_NOT_YOURS")
    # ... and the partner cannot mark the referral entered-in-error, which is the referrer's.
    ext = await _errors(
        api,
        "eastside-portal",
        STATUS,
        {"input": {"id": referral["id"], "version": 1, "status": "ENTERED_IN_ERROR"}},
    )
    assert (ext["code"], ext["reason"]) == ("FORBIDDEN", "STATUS_NOT_YOURS")
    # The referrer may cancel, with a reason.
    data = await api.data(
        "prairie-call-taker",
        STATUS,
        {
            "input": {
                "id": referral["id"],
                "version": 1,
                "status": "CANCELLED",
                "reason": "caller found help elsewhere",
            }
        },
    )
    assert data["updateReferralStatus"]["referral"]["status"] == "CANCELLED"


async def test_illegal_transitions_and_missing_reasons_write_nothing(write_api: Api) -> None:
    api = write_api
    referral = await _refer_to(api, EASTSIDE)
    cases = [
        ({"status": "COMPLETED"}, "ILLEGAL_TRANSITION"),  # requested -> completed skips accepted
        ({"status": "REJECTED"}, "REASON_REQUIRED"),
        ({"status": "REJECTED", "reason": "   "}, "REASON_REQUIRED"),
    ]
    for extra, reason in cases:
        ext = await _errors(
            api,
            "eastside-portal",
            STATUS,
            {"input": {"id": referral["id"], "version": 1, **extra}},
        )
        assert (ext["code"], ext["reason"]) == ("BAD_USER_INPUT", reason), extra
    row = await _scalar(api, select(Referral).where(Referral.id == uuid.UUID(referral["uuid"])))
    assert (row.status, row.version) == (ReferralStatus.REQUESTED, 1)
    assert await _events(api, referral["uuid"]) == [("created", 1)]
    # A terminal status stays terminal.
    await api.data(
        "eastside-portal",
        STATUS,
        {"input": {"id": referral["id"], "version": 1, "status": "REJECTED", "reason": "full"}},
    )
    ext = await _errors(
        api,
        "eastside-portal",
        STATUS,
        {"input": {"id": referral["id"], "version": 2, "status": "ACCEPTED"}},
    )
    assert ext["reason"] == "ILLEGAL_TRANSITION"
    outcome = {
        "referralId": referral["id"],
        "code": "NO_CAPACITY",
        "outcomeDate": (date.today() + timedelta(days=5)).isoformat(),
    }
    ext = await _errors(api, "eastside-portal", OUTCOME, {"input": outcome})
    assert (ext["code"], ext["reason"]) == ("BAD_USER_INPUT", "FUTURE_DATE")


async def test_a_stale_version_is_a_conflict(write_api: Api) -> None:
    api = write_api
    referral = await _refer_to(api, EASTSIDE)
    accept = {"input": {"id": referral["id"], "version": 1, "status": "ACCEPTED"}}
    await api.data("eastside-portal", STATUS, accept)
    start = {"input": {"id": referral["id"], "version": 1, "status": "IN_PROGRESS"}}
    ext = await _errors(api, "eastside-portal", STATUS, start)
    assert (ext["code"], ext["reason"], ext["currentVersion"]) == (
        "CONFLICT",
        "VERSION_MISMATCH",
        2,
    )


async def test_a_retried_write_back_returns_the_first_result(write_api: Api) -> None:
    api = write_api
    before = await _scalar(api, select(func.count()).select_from(Referral))
    first = await _refer_to(api, EASTSIDE, key="create-1")
    again = await _refer_to(api, EASTSIDE, key="create-1")
    assert again["id"] == first["id"]
    after = await _scalar(api, select(func.count()).select_from(Referral))
    assert after == before + 1, "a retry with the same key created nothing new"

    accept = {
        "input": {
            "id": first["id"],
            "version": 1,
            "status": "ACCEPTED",
            "idempotencyKey": "accept-1",
        }
    }
    one = await api.data("eastside-portal", STATUS, accept)
    two = await api.data("eastside-portal", STATUS, accept)  # the retry: version 1 is stale now
    assert one["updateReferralStatus"]["referral"]["version"] == 2
    assert two["updateReferralStatus"]["referral"]["version"] == 2
    assert await _events(api, first["uuid"]) == [("created", 1), ("updated", 2)]

    reused = {"input": {**accept["input"], "status": "REJECTED", "reason": "full"}}
    ext = await _errors(api, "eastside-portal", STATUS, reused)
    assert (ext["code"], ext["reason"]) == ("CONFLICT", "IDEMPOTENCY_KEY_REUSED")
    # Keys belong to their principal: the same key from Prairie is a new key.
    third = await _refer_to(api, EASTSIDE, key="accept-1")
    assert third["id"] != first["id"]


async def test_creating_a_referral_needs_a_visible_record_and_target(write_api: Api) -> None:
    api = write_api
    record = to_global_id("ContactRecord", await _prairie_record(api))
    sal = to_global_id("ServiceAtLocation", await _partner_sal(api, EASTSIDE))
    cases = [
        # Lakeside's call-taker cannot see Prairie's record: it does not exist for them.
        (
            "lakeside-call-taker",
            {"contactRecordId": record, "serviceAtLocationId": sal},
            "NOT_FOUND",
        ),
        # Partners receive referrals; they do not make them.
        ("eastside-portal", {"contactRecordId": record, "serviceAtLocationId": sal}, "FORBIDDEN"),
        ("prairie-call-taker", {"contactRecordId": record}, "BAD_USER_INPUT"),
        (
            "prairie-call-taker",
            {
                "contactRecordId": record,
                "serviceAtLocationId": sal,
                "programId": to_global_id("Program", uuid.uuid4()),
            },
            "BAD_USER_INPUT",
        ),
        (
            "prairie-call-taker",
            {"contactRecordId": record, "serviceAtLocationId": sal, "status": "ACCEPTED"},
            "BAD_USER_INPUT",
        ),
        (
            "prairie-call-taker",
            {"contactRecordId": record, "programId": to_global_id("Program", uuid.uuid4())},
            "NOT_FOUND",
        ),
    ]
    before = await _scalar(api, select(func.count()).select_from(Referral))
    for principal, given, code in cases:
        ext = await _errors(api, principal, CREATE, {"input": given})
        assert ext["code"] == code, (principal, given, ext)
    assert await _scalar(api, select(func.count()).select_from(Referral)) == before


async def test_history_keeps_when(write_api: Api) -> None:
    api = write_api
    before = datetime.now(UTC) - timedelta(seconds=5)
    referral = await _refer_to(api, EASTSIDE)
    changed_at = await _scalar(
        api,
        select(ReferralStatusChange.changed_at).where(
            ReferralStatusChange.referral_id == uuid.UUID(referral["uuid"])
        ),
    )
    assert changed_at >= before


async def test_the_performer_may_not_cancel_and_the_requester_may_after_acceptance(
    write_api: Api,
) -> None:
    """FHIR Task lifecycle: the requester cancels; the performer rejects or fails instead."""
    api = write_api
    referral = await _refer_to(api, EASTSIDE)
    for version, status in ((1, "ACCEPTED"), (2, "IN_PROGRESS")):
        await api.data(
            "eastside-portal",
            STATUS,
            {"input": {"id": referral["id"], "version": version, "status": status}},
        )
    body = await api.gql(
        "eastside-portal",
        STATUS,
        {"input": {"id": referral["id"], "version": 3, "status": "CANCELLED", "reason": "full"}},
    )
    error = body["errors"][0]
    assert (error["extensions"]["code"], error["extensions"]["reason"]) == (
        "FORBIDDEN",
        "STATUS_NOT_YOURS",
    )
    assert "CANCELLED" in error["message"] and "FAILED" in error["message"]
    row = await _scalar(api, select(Referral).where(Referral.id == uuid.UUID(referral["uuid"])))
    assert (row.status, row.version) == (ReferralStatus.IN_PROGRESS, 3)
    # The performer fails what it cannot finish ...
    failed = await _refer_to(api, EASTSIDE)
    await api.data(
        "eastside-portal",
        STATUS,
        {"input": {"id": failed["id"], "version": 1, "status": "ACCEPTED"}},
    )
    data = await api.data(
        "eastside-portal",
        STATUS,
        {"input": {"id": failed["id"], "version": 2, "status": "FAILED", "reason": "no stock"}},
    )
    assert data["updateReferralStatus"]["referral"]["status"] == "FAILED"
    # ... and the requester cancels an accepted, in-progress referral.
    data = await api.data(
        "prairie-call-taker",
        STATUS,
        {
            "input": {
                "id": referral["id"],
                "version": 3,
                "status": "CANCELLED",
                "reason": "caller moved away",
            }
        },
    )
    assert data["updateReferralStatus"]["referral"]["status"] == "CANCELLED"


async def test_messages_name_statuses_as_the_enum_does(write_api: Api) -> None:
    api = write_api
    referral = await _refer_to(api, EASTSIDE)
    await api.data(
        "eastside-portal",
        STATUS,
        {"input": {"id": referral["id"], "version": 1, "status": "ACCEPTED"}},
    )
    body = await api.gql(
        "eastside-portal",
        STATUS,
        {"input": {"id": referral["id"], "version": 2, "status": "ACCEPTED"}},
    )
    error = body["errors"][0]
    assert error["extensions"]["reason"] == "ILLEGAL_TRANSITION"
    assert error["extensions"]["currentStatus"] == "ACCEPTED"
    assert "IN_PROGRESS" in error["message"] and "ON_HOLD" in error["message"]
    assert "in-progress" not in error["message"] and "accepted" not in error["message"]
    body = await api.gql(
        "eastside-portal",
        STATUS,
        {"input": {"id": referral["id"], "version": 2, "status": "ON_HOLD"}},
    )
    assert body["errors"][0]["message"] == "a reason is required to set a referral ON_HOLD"
