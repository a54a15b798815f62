"""Closed-loop referrals: creating them, the FHIR Task status lifecycle, outcomes, external ids.

Who may set which status follows the FHIR Task lifecycle (Gravity SDOH): the *referrer* (the
requester, the tenant that owns the referral) requests, cancels and marks entered-in-error; the
*performer* (the organization that receives it) accepts, rejects, starts, holds, fails and
completes. The performer never cancels: it rejects a referral it will not take and fails one it
cannot finish. When the receiving organization has no portal of its own (no partner
organization linked), the referring tenant records the performer's answers on its behalf.
Messages name statuses as the GraphQL enum does (``IN_PROGRESS``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.authz.scopes import received_by, referrals_to_organizations
from sharegraph.datastore import audit
from sharegraph.datastore.enums import EventType, OutcomeCode, ReferralStatus
from sharegraph.datastore.models import (
    ContactRecord,
    Organization,
    Outcome,
    Program,
    Referral,
    ReferralNote,
    ReferralStatusChange,
    Service,
    ServiceAtLocation,
)
from sharegraph.datastore.outbox import record_event
from sharegraph.datastore.versioning import bump
from sharegraph.errors import BadUserInput, Forbidden, NotFound

S = ReferralStatus
TERMINAL = frozenset({S.REJECTED, S.FAILED, S.COMPLETED, S.CANCELLED, S.ENTERED_IN_ERROR})
# from -> statuses it may move to (entered-in-error is reachable from every other status).
TRANSITIONS: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    S.DRAFT: frozenset({S.REQUESTED, S.CANCELLED}),
    S.REQUESTED: frozenset({S.ACCEPTED, S.REJECTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.IN_PROGRESS, S.ON_HOLD, S.FAILED, S.COMPLETED, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.ON_HOLD, S.FAILED, S.COMPLETED, S.CANCELLED}),
    S.ON_HOLD: frozenset({S.IN_PROGRESS, S.FAILED, S.CANCELLED}),
    **{status: frozenset() for status in TERMINAL},
}
REFERRER_SETS = frozenset({S.DRAFT, S.REQUESTED, S.CANCELLED, S.ENTERED_IN_ERROR})
PERFORMER_SETS = frozenset(
    {S.ACCEPTED, S.REJECTED, S.IN_PROGRESS, S.ON_HOLD, S.FAILED, S.COMPLETED}
)
REASON_REQUIRED = frozenset({S.REJECTED, S.CANCELLED, S.ON_HOLD, S.FAILED})
CREATABLE = frozenset({S.DRAFT, S.REQUESTED})
MAX_TEXT = 10_000
MAX_EXTERNAL_ID = 255


@dataclass(frozen=True)
class Sides:
    """Which ends of a referral the caller speaks for."""

    referrer: bool
    performer: bool


class Direction(StrEnum):
    RECEIVED = "received"  # to an organization the caller operates
    SENT = "sent"  # made by the caller's tenant


@dataclass(frozen=True)
class ReferralFilter:
    direction: Direction | None = None
    statuses: tuple[ReferralStatus, ...] = ()
    organization_id: uuid.UUID | None = None
    program_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None
    updated_after: datetime | None = None
    external_id: str | None = None


def referrals(plan: AccessPlan, flt: ReferralFilter) -> Select[Any]:
    """The referrals the plan lets through, narrowed by ``flt`` (the inbox and the outbox)."""
    statement = select(Referral).where(plan.row_filter(Referral))
    if flt.direction is Direction.RECEIVED:
        statement = statement.where(received_by(plan.core.grantee))
    elif flt.direction is Direction.SENT:
        home = plan.principal.tenant_id
        statement = statement.where(Referral.tenant_id == home if home else false())
    if flt.statuses:
        statement = statement.where(Referral.status.in_(flt.statuses))
    if flt.organization_id is not None:
        statement = statement.where(
            referrals_to_organizations(
                select(Organization.id).where(Organization.id == flt.organization_id)
            )
        )
    if flt.program_id is not None:
        statement = statement.where(Referral.program_id == flt.program_id)
    if flt.service_id is not None:
        statement = statement.where(
            Referral.service_at_location_id.in_(
                select(ServiceAtLocation.id).where(ServiceAtLocation.service_id == flt.service_id)
            )
        )
    if flt.updated_after is not None:
        statement = statement.where(Referral.updated_at > flt.updated_after)
    if flt.external_id is not None:
        statement = statement.where(Referral.external_id == flt.external_id)
    return statement


def check_transition(current: ReferralStatus, target: ReferralStatus, reason: str | None) -> None:
    allowed = TRANSITIONS[current] | (
        {S.ENTERED_IN_ERROR} if current is not S.ENTERED_IN_ERROR else set()
    )
    if target not in allowed:
        raise BadUserInput(
            f"a referral cannot go from {current.name} to {target.name}"
            + (
                f"; from {current.name} it may go to {', '.join(sorted(s.name for s in allowed))}"
                if allowed
                else ""
            ),
            reason="ILLEGAL_TRANSITION",
            currentStatus=current.name,
        )
    if target in REASON_REQUIRED and not (reason and reason.strip()):
        raise BadUserInput(
            f"a reason is required to set a referral {target.name}", reason="REASON_REQUIRED"
        )
    _check_text(reason, "reason")


def check_side(sides: Sides, target: ReferralStatus) -> None:
    if (target in REFERRER_SETS and sides.referrer) or (
        target in PERFORMER_SETS and sides.performer
    ):
        return
    who = "the receiving organization" if target in PERFORMER_SETS else "the referring center"
    message = f"only {who} may set a referral {target.name}"
    if target is S.CANCELLED and sides.performer:
        message += f"; the receiving organization sets {S.REJECTED.name} or {S.FAILED.name} instead"
    raise Forbidden(message, reason="STATUS_NOT_YOURS")


def _check_text(value: str | None, name: str, limit: int = MAX_TEXT) -> None:
    if value is not None and len(value) > limit:
        raise BadUserInput(f"{name} is longer than {limit} characters", reason="TOO_LONG")


async def receiving_organization(session: AsyncSession, referral: Referral) -> Organization | None:
    """The directory organization behind a referral's service at location or program."""
    if referral.service_at_location_id is not None:
        statement = (
            select(Organization)
            .join(Service, Service.organization_id == Organization.id)
            .join(ServiceAtLocation, ServiceAtLocation.service_id == Service.id)
            .where(ServiceAtLocation.id == referral.service_at_location_id)
        )
    else:
        statement = (
            select(Organization)
            .join(Program, Program.organization_id == Organization.id)
            .where(Program.id == referral.program_id)
        )
    return await session.scalar(statement)


async def sides(session: AsyncSession, plan: AccessPlan, referral: Referral) -> Sides:
    principal = plan.principal
    organization = await receiving_organization(session, referral)
    partner = organization.partner_organization_id if organization is not None else None
    referrer = principal.tenant_id == referral.tenant_id
    if partner is not None:
        performer = principal.partner_organization_id == partner
    else:
        # No portal behind the organization: its answers are recorded by the directory's owner.
        performer = organization is not None and principal.tenant_id == organization.tenant_id
    return Sides(referrer=referrer, performer=performer)


async def _visible(session: AsyncSession, plan: AccessPlan, model: type, row_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(model.id).where(model.id == row_id, plan.row_filter(model))  # type: ignore[attr-defined]
    )
    return found is not None


def _history(
    referral: Referral,
    from_status: ReferralStatus | None,
    reason: str | None,
    actor: uuid.UUID,
) -> ReferralStatusChange:
    return ReferralStatusChange(
        tenant_id=referral.tenant_id,
        referral_id=referral.id,
        from_status=from_status,
        to_status=referral.status,
        reason=reason,
        changed_by_id=actor,
        changed_at=datetime.now(UTC),
    )


async def create_referral(
    session: AsyncSession,
    plan: AccessPlan,
    contact_record_id: uuid.UUID,
    service_at_location_id: uuid.UUID | None,
    program_id: uuid.UUID | None,
    status: ReferralStatus,
) -> Referral:
    if (service_at_location_id is None) == (program_id is None):
        raise BadUserInput(
            "give exactly one of serviceAtLocationId and programId", reason="ONE_TARGET"
        )
    if status not in CREATABLE:
        raise BadUserInput("a new referral is draft or requested", reason="ILLEGAL_TRANSITION")
    record = await session.scalar(
        select(ContactRecord).where(
            ContactRecord.id == contact_record_id, plan.row_filter(ContactRecord)
        )
    )
    if record is None:
        raise NotFound("no such contact record")
    plan.require_owner_write(Referral, record.tenant_id)
    if service_at_location_id is not None and not await _visible(
        session, plan, ServiceAtLocation, service_at_location_id
    ):
        raise NotFound("no such service at location")
    if program_id is not None and not await _visible(session, plan, Program, program_id):
        raise NotFound("no such program")
    referral = Referral(
        id=uuid.uuid4(),
        tenant_id=record.tenant_id,
        contact_record_id=record.id,
        client_id=record.client_id,
        service_at_location_id=service_at_location_id,
        program_id=program_id,
        status=status,
        created_by_id=plan.principal.id,
        version=1,
    )
    session.add(referral)
    await session.flush()
    session.add(_history(referral, None, None, plan.principal.id))
    record_event(session, referral, EventType.CREATED, plan.principal.id)
    await session.flush()
    return referral


async def locked_referral(
    session: AsyncSession, plan: AccessPlan, referral_id: uuid.UUID
) -> Referral:
    """The referral, row-locked, if the caller may write it at all."""
    referral = await session.scalar(
        select(Referral)
        .where(Referral.id == referral_id, plan.row_filter(Referral, Action.WRITE))
        .with_for_update()
    )
    if referral is None:
        raise NotFound("no such referral you may change")
    return referral


async def update_status(
    session: AsyncSession,
    plan: AccessPlan,
    referral_id: uuid.UUID,
    expected_version: int,
    target: ReferralStatus,
    reason: str | None,
) -> Referral:
    referral = await locked_referral(session, plan, referral_id)
    check_side(await sides(session, plan, referral), target)
    bump(referral, expected_version, "referral")
    check_transition(referral.status, target, reason)
    previous = referral.status
    referral.status = target
    referral.status_reason = reason
    session.add(_history(referral, previous, reason, plan.principal.id))
    record_event(session, referral, EventType.UPDATED, plan.principal.id)
    await session.flush()
    return referral


async def set_external_id(
    session: AsyncSession,
    plan: AccessPlan,
    referral_id: uuid.UUID,
    expected_version: int,
    external_id: str | None,
) -> Referral:
    referral = await locked_referral(session, plan, referral_id)
    if not (await sides(session, plan, referral)).performer:
        raise Forbidden(
            "only the receiving organization sets its own id on a referral",
            reason="STATUS_NOT_YOURS",
        )
    bump(referral, expected_version, "referral")
    cleaned = external_id.strip() if external_id else None
    _check_text(cleaned, "externalId", MAX_EXTERNAL_ID)
    referral.external_id = cleaned or None
    record_event(session, referral, EventType.UPDATED, plan.principal.id)
    await session.flush()
    return referral


async def add_outcome(
    session: AsyncSession,
    plan: AccessPlan,
    referral_id: uuid.UUID,
    code: OutcomeCode,
    note: str | None,
    outcome_date: date,
    today: date,
) -> Outcome:
    referral = await locked_referral(session, plan, referral_id)
    if referral.status is S.ENTERED_IN_ERROR:
        raise BadUserInput("the referral was entered in error", reason="ILLEGAL_TRANSITION")
    # A day of slack: the partner's "today" may be ahead of UTC.
    if outcome_date > today + timedelta(days=1):
        raise BadUserInput("outcomeDate is in the future", reason="FUTURE_DATE")
    _check_text(note, "note")
    outcome = Outcome(
        id=uuid.uuid4(),
        tenant_id=referral.tenant_id,
        referral_id=referral.id,
        code=code,
        note=note,
        outcome_date=outcome_date,
        reported_by_id=plan.principal.id,
        version=1,
    )
    session.add(outcome)
    await session.flush()
    record_event(session, outcome, EventType.CREATED, plan.principal.id)
    await session.flush()
    return outcome


async def add_note(
    session: AsyncSession, plan: AccessPlan, referral_id: uuid.UUID, body: str
) -> ReferralNote:
    """Append a case note, owned by the referral's tenant and attributed to the caller."""
    referral = await locked_referral(session, plan, referral_id)
    if not body.strip():
        raise BadUserInput("a note needs some text", reason="MISSING_FIELD", field="body")
    _check_text(body, "body")
    principal = plan.principal
    note = ReferralNote(
        id=uuid.uuid4(),
        tenant_id=referral.tenant_id,
        referral_id=referral.id,
        body=body,
        author_id=principal.id,
        author_tenant_id=principal.tenant_id,
        author_partner_id=principal.partner_organization_id,
    )
    session.add(note)
    await session.flush()
    record_event(session, note, EventType.CREATED, principal.id)
    await audit.record(
        session,
        tenant_id=referral.tenant_id,
        principal_id=principal.id,
        action="record.referral_note.create",
        detail={"referral": referral.id},
        record_type="ReferralNote",
        record_ids=[note.id],
        coordinates=["ReferralNote.body"],
    )
    return note
