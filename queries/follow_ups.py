"""Follow-ups: call-backs scheduled on a contact record, for a user of the record's owner or for
another tenant the owner shares follow-ups with.

A follow-up belongs to the tenant that owns its contact record; the assignee tenant reaches it
through that owner's sharing agreements (typically the row scope
``follow_up_assigned_to_grantee``), never through anything stored on the follow-up itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz import scopes
from sharegraph.authz.compiler import compile_core
from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.authz.policy import Snapshot
from sharegraph.datastore.enums import EventType, FollowUpStatus, Role
from sharegraph.datastore.models import ContactRecord, FollowUp, Principal, Tenant
from sharegraph.datastore.outbox import record_event
from sharegraph.datastore.versioning import bump
from sharegraph.errors import BadUserInput, Forbidden, NotFound

UNSET: Any = object()

# Scopes under which a grantee reaches a follow-up whatever contact record it is on.
_RECORD_INDEPENDENT = frozenset({"all", "follow_up_assigned_to_grantee"})


@dataclass(frozen=True)
class FollowUpFilter:
    status: FollowUpStatus | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    assigned_principal_id: uuid.UUID | None = None
    assigned_tenant_id: uuid.UUID | None = None


def follow_ups(plan: AccessPlan, flt: FollowUpFilter) -> Select[Any]:
    statement = select(FollowUp).where(plan.row_filter(FollowUp))
    if flt.status is not None:
        statement = statement.where(FollowUp.status == flt.status)
    if flt.due_before is not None:
        statement = statement.where(FollowUp.due_at < flt.due_before)
    if flt.due_after is not None:
        statement = statement.where(FollowUp.due_at >= flt.due_after)
    if flt.assigned_principal_id is not None:
        statement = statement.where(FollowUp.assigned_principal_id == flt.assigned_principal_id)
    if flt.assigned_tenant_id is not None:
        statement = statement.where(FollowUp.assigned_tenant_id == flt.assigned_tenant_id)
    return statement


# -- assignment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    tenant_id: uuid.UUID
    principal_id: uuid.UUID | None


async def resolve_assignment(
    session: AsyncSession,
    owner: uuid.UUID,
    tenant_id: uuid.UUID | None,
    principal_id: uuid.UUID | None,
) -> Assignment:
    """Who a follow-up goes to: a user (of the given tenant, if one is given), a tenant, or by
    default the owner tenant itself."""
    if principal_id is not None:
        user = await session.get(Principal, principal_id)
        if user is None or user.disabled or user.tenant_id is None:
            raise BadUserInput(
                "assignedPrincipalId does not name an active user of a tenant",
                reason="UNKNOWN_ASSIGNEE",
            )
        if tenant_id is not None and user.tenant_id != tenant_id:
            raise BadUserInput(
                "assignedPrincipalId is not a user of assignedTenantId", reason="UNKNOWN_ASSIGNEE"
            )
        return Assignment(user.tenant_id, principal_id)
    if tenant_id is None:
        return Assignment(owner, None)
    if await session.get(Tenant, tenant_id) is None:
        raise BadUserInput("assignedTenantId does not name a tenant", reason="UNKNOWN_ASSIGNEE")
    return Assignment(tenant_id, None)


async def require_assignable(
    session: AsyncSession,
    snapshot: Snapshot,
    owner: uuid.UUID,
    record_id: uuid.UUID,
    assignee: uuid.UUID,
) -> None:
    """``FORBIDDEN`` (``NO_SHARING_AGREEMENT``) unless the owner's agreements let the assignee
    tenant see a follow-up on this record once it is assigned to it: the owner must not hand
    its records to a tenant it does not share follow-ups with."""
    if assignee == owner:
        return
    core = compile_core(
        snapshot,
        home_tenant=assignee,
        home_partner=None,
        roles=frozenset(r.value for r in Role),
    )
    granted = {g.scope for g in core.grants.get((Action.READ.value, "FollowUp"), {}).get(owner, ())}
    if any(s.name in _RECORD_INDEPENDENT for s in granted):
        return
    grantee = scopes.Grantee(tenant_id=assignee)
    by_record = [scopes.sql(ContactRecord, s, grantee) for s in granted]
    if by_record and await session.scalar(
        select(ContactRecord.id).where(ContactRecord.id == record_id, or_(*by_record))
    ):
        return
    raise Forbidden(
        "the record's owner has no sharing agreement that lets the assigned tenant see this "
        "follow-up (share follow-ups with it first, e.g. with row scope "
        "follow_up_assigned_to_grantee)",
        reason="NO_SHARING_AGREEMENT",
    )


async def creation_scopes(
    session: AsyncSession, plan: AccessPlan, record: ContactRecord, assigned_tenant: uuid.UUID
) -> frozenset[str]:
    """The caller's FollowUp write scopes a new follow-up on ``record`` assigned to
    ``assigned_tenant`` would fall under (a follow-up is in a record scope when its record is)."""
    grants = plan.grants("FollowUp", Action.WRITE).get(record.tenant_id, ())
    matched: set[str] = set()
    by_record: dict[str, Any] = {}
    for grant in grants:
        name = str(grant.scope)
        if grant.scope.name == "all":
            matched.add(name)
        elif grant.scope.name == "follow_up_assigned_to_grantee":
            if assigned_tenant == plan.principal.tenant_id:
                matched.add(name)
        else:
            by_record[name] = scopes.sql(ContactRecord, grant.scope, plan.core.grantee)
    if by_record:
        names = list(by_record)
        hits = (
            await session.execute(
                select(*(by_record[n].label(f"s{i}") for i, n in enumerate(names))).where(
                    ContactRecord.id == record.id
                )
            )
        ).first()
        if hits is not None:
            matched |= {n for n, hit in zip(names, hits, strict=True) if hit}
    return frozenset(matched)


# -- writes -------------------------------------------------------------------------------------


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise BadUserInput(
            f"{name} needs a UTC offset (e.g. 2026-03-02T09:00:00-06:00)", reason="BAD_TIME"
        )
    return moment


async def create_follow_up(
    session: AsyncSession,
    plan: AccessPlan,
    record: ContactRecord,
    due_at: datetime,
    note: str | None,
    assignment: Assignment,
) -> FollowUp:
    row = FollowUp(
        id=uuid.uuid4(),
        tenant_id=record.tenant_id,
        contact_record_id=record.id,
        assigned_tenant_id=assignment.tenant_id,
        assigned_principal_id=assignment.principal_id,
        due_at=_aware(due_at, "dueAt"),
        status=FollowUpStatus.OPEN,
        note=note,
        created_by_id=plan.principal.id,
        version=1,
    )
    session.add(row)
    await session.flush()
    record_event(session, row, EventType.CREATED, plan.principal.id)
    await session.flush()
    return row


async def locked(session: AsyncSession, plan: AccessPlan, follow_up_id: uuid.UUID) -> FollowUp:
    """The follow-up to change, locked, within the caller's write scopes."""
    row = await session.scalar(
        select(FollowUp)
        .where(FollowUp.id == follow_up_id, plan.row_filter(FollowUp, Action.WRITE))
        .with_for_update()
    )
    if row is None:
        raise NotFound("no such follow-up you may change")
    return row


@dataclass(frozen=True)
class FollowUpChanges:
    """``UNSET`` leaves a field as it is."""

    due_at: Any = UNSET
    note: Any = UNSET
    status: Any = UNSET
    assignment: Assignment | None = None


async def update_follow_up(
    session: AsyncSession,
    plan: AccessPlan,
    follow_up_id: uuid.UUID,
    expected_version: int,
    changes: FollowUpChanges,
) -> FollowUp:
    row = await locked(session, plan, follow_up_id)
    bump(row, expected_version, "follow-up")
    if changes.due_at is not UNSET:
        if changes.due_at is None:
            raise BadUserInput("dueAt cannot be cleared", reason="REQUIRED_FIELD")
        row.due_at = _aware(changes.due_at, "dueAt")
    if changes.note is not UNSET:
        row.note = changes.note
    if changes.status is not UNSET and changes.status is not row.status:
        if changes.status is FollowUpStatus.COMPLETED:
            raise BadUserInput(
                "complete a follow-up with completeFollowUp", reason="USE_COMPLETE_FOLLOW_UP"
            )
        if changes.status is None:
            raise BadUserInput("status cannot be cleared", reason="REQUIRED_FIELD")
        row.status = changes.status
        row.completed_at = None
        row.completed_by_id = None
    if changes.assignment is not None:
        row.assigned_tenant_id = changes.assignment.tenant_id
        row.assigned_principal_id = changes.assignment.principal_id
    await session.flush()
    record_event(session, row, EventType.UPDATED, plan.principal.id)
    await session.flush()
    return row


async def complete_follow_up(
    session: AsyncSession,
    plan: AccessPlan,
    follow_up_id: uuid.UUID,
    expected_version: int,
    note: Any = UNSET,
) -> FollowUp:
    row = await locked(session, plan, follow_up_id)
    bump(row, expected_version, "follow-up")
    if row.status is not FollowUpStatus.OPEN:
        raise BadUserInput(
            f"only an OPEN follow-up can be completed; this one is {row.status.name}",
            reason="NOT_OPEN",
        )
    row.status = FollowUpStatus.COMPLETED
    row.completed_at = datetime.now(UTC)
    row.completed_by_id = plan.principal.id
    if note is not UNSET:
        row.note = note
    await session.flush()
    record_event(session, row, EventType.UPDATED, plan.principal.id)
    await session.flush()
    return row
