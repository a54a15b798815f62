"""Sharing agreements: validation, audited writes that bump the policy version, preview."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz import policy as policy_module
from sharegraph.authz.catalogue import REVISION
from sharegraph.authz.compiler import compile_core
from sharegraph.authz.coordinates import is_known_pattern
from sharegraph.authz.policy import ACTIONS, AgreementRow, Snapshot
from sharegraph.authz.principal import Principal
from sharegraph.authz.review import pending_review
from sharegraph.authz.scopes import parse as parse_scope
from sharegraph.datastore import audit, policy_version
from sharegraph.datastore.enums import GranteeKind, Role, Sensitivity
from sharegraph.datastore.models import PartnerOrganization, SharingAgreement, Tenant
from sharegraph.errors import BadUserInput, Conflict, Forbidden, NotFound, quote


@dataclass(frozen=True)
class AgreementInput:
    name: str
    purpose: str
    grantee_kind: GranteeKind
    grantee_tenant_id: uuid.UUID | None
    grantee_partner_id: uuid.UUID | None
    grantee_role: Role | None
    actions: tuple[str, ...]
    fields: tuple[str, ...]
    denied_fields: tuple[str, ...] = ()
    answer_sensitivity: Sensitivity | None = None
    row_scope: str = "all"
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    emergency: bool = False


def require_admin(actor: Principal, tenant_id: uuid.UUID) -> None:
    if not actor.administers(tenant_id):
        raise Forbidden(
            "only the owner tenant's admins manage its sharing agreements", reason="NOT_ADMIN"
        )


async def validate(
    session: AsyncSession,
    owner: uuid.UUID,
    given: AgreementInput,
    *,
    ignore: uuid.UUID | None = None,
) -> None:
    """Everything wrong with an agreement, as BAD_USER_INPUT, before anything is written."""
    problems: list[str] = []
    if not given.name.strip():
        problems.append("name must not be empty")
    if not given.purpose.strip():
        problems.append("purpose must not be empty")
    bad_actions = sorted(set(given.actions) - set(ACTIONS))
    if not given.actions or bad_actions:
        problems.append(
            f"actions must be a non-empty subset of {list(ACTIONS)}"
            + (f"; unknown: {bad_actions}" if bad_actions else "")
        )
    if not given.fields and given.answer_sensitivity is None:
        problems.append("grant at least one field (or answers up to a sensitivity class)")
    unknown = [p for p in (*given.fields, *given.denied_fields) if not is_known_pattern(p)]
    if unknown:
        problems.append(f"unknown types or fields: {', '.join(unknown)}")
    if given.valid_from and given.valid_until and given.valid_until <= given.valid_from:
        problems.append("validUntil must be after validFrom")
    if given.emergency and given.valid_until is None:
        problems.append("emergency agreements must expire: set validUntil")
    try:
        parse_scope(given.row_scope)
    except BadUserInput as error:
        problems.append(error.message)
    if given.grantee_kind is GranteeKind.TENANT:
        if (
            given.grantee_tenant_id is None
            or await session.get(Tenant, given.grantee_tenant_id) is None
        ):
            problems.append("granteeTenantId must name a tenant")
        elif given.grantee_tenant_id == owner:
            problems.append("a tenant does not share with itself")
    elif given.grantee_kind is GranteeKind.PARTNER:
        if (
            given.grantee_partner_id is None
            or await session.get(PartnerOrganization, given.grantee_partner_id) is None
        ):
            problems.append("granteePartnerId must name a partner organization")
    elif given.grantee_role is not None:
        problems.append("a public grantee has no roles")
    if problems:
        raise BadUserInput("; ".join(problems), reason="INVALID_AGREEMENT")
    await _refuse_overlap(session, owner, given, ignore)


def _windows_overlap(
    a: AgreementInput | SharingAgreement, b: AgreementInput | SharingAgreement
) -> bool:
    far_past, far_future = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    return (a.valid_from or far_past) < (b.valid_until or far_future) and (
        b.valid_from or far_past
    ) < (a.valid_until or far_future)


async def _refuse_overlap(
    session: AsyncSession, owner: uuid.UUID, given: AgreementInput, ignore: uuid.UUID | None
) -> None:
    """Two live agreements giving the same grantee the same coordinate for the same action and
    rows at the same time make revoking one silently ineffective: refuse the second."""
    existing = (
        await session.scalars(
            select(SharingAgreement).where(
                SharingAgreement.tenant_id == owner,
                SharingAgreement.revoked_at.is_(None),
                SharingAgreement.grantee_kind == given.grantee_kind,
                SharingAgreement.row_scope == given.row_scope,
            )
        )
    ).all()
    for other in existing:
        if other.id == ignore:
            continue
        same_grantee = (
            other.grantee_tenant_id == given.grantee_tenant_id
            and other.grantee_partner_id == given.grantee_partner_id
            and other.grantee_role == given.grantee_role
        )
        shared_actions = set(other.actions) & set(given.actions)
        shared_fields = set(other.fields) & set(given.fields)
        if same_grantee and shared_actions and shared_fields and _windows_overlap(other, given):
            raise BadUserInput(
                f"overlaps agreement {quote(other.name)}: both grant {sorted(shared_fields)} for "
                f"{sorted(shared_actions)} on the same rows; edit that agreement instead",
                reason="OVERLAPPING_GRANT",
                agreementId=str(other.id),
            )


def _values(given: AgreementInput) -> dict[str, Any]:
    return {
        "name": given.name.strip(),
        "purpose": given.purpose.strip(),
        "grantee_kind": given.grantee_kind,
        "grantee_tenant_id": given.grantee_tenant_id,
        "grantee_partner_id": given.grantee_partner_id,
        "grantee_role": given.grantee_role,
        "actions": list(dict.fromkeys(given.actions)),
        "fields": list(dict.fromkeys(given.fields)),
        "denied_fields": list(dict.fromkeys(given.denied_fields)),
        "answer_sensitivity": given.answer_sensitivity,
        "row_scope": str(parse_scope(given.row_scope)),
        "valid_from": given.valid_from,
        "valid_until": given.valid_until,
        "emergency": given.emergency,
        # Saving an agreement approves it as the admin saw it previewed: at the catalogue's
        # current revision, fields pending review included.
        "catalogue_revision": REVISION,
    }


async def _audit(
    session: AsyncSession, actor: Principal, row: SharingAgreement, action: str
) -> None:
    await audit.record(
        session,
        tenant_id=row.tenant_id,
        principal_id=actor.id,
        action=f"policy.agreement.{action}",
        record_type="SharingAgreement",
        record_ids=[row.id],
        detail={"name": row.name, "version": row.version, **_describe(row)},
    )


def _describe(row: SharingAgreement) -> dict[str, Any]:
    return {
        "grantee": AgreementRow.of(row).subject,
        "actions": list(row.actions),
        "fields": list(row.fields),
        "deniedFields": list(row.denied_fields or []),
        "rowScope": row.row_scope,
        "catalogueRevision": row.catalogue_revision,
    }


async def create(
    session: AsyncSession, actor: Principal, owner: uuid.UUID, given: AgreementInput
) -> SharingAgreement:
    require_admin(actor, owner)
    await validate(session, owner, given)
    if await session.scalar(
        select(SharingAgreement.id).where(
            SharingAgreement.tenant_id == owner, SharingAgreement.name == given.name.strip()
        )
    ):
        raise Conflict(
            f"an agreement named {quote(given.name)} exists already", reason="NAME_TAKEN"
        )
    row = SharingAgreement(
        id=uuid.uuid4(), tenant_id=owner, created_by_id=actor.id, version=1, **_values(given)
    )
    session.add(row)
    await session.flush()
    await policy_version.bump(session)
    await _audit(session, actor, row, "create")
    return row


async def _owned(
    session: AsyncSession, actor: Principal, agreement_id: uuid.UUID
) -> SharingAgreement:
    row = await session.scalar(
        select(SharingAgreement).where(SharingAgreement.id == agreement_id).with_for_update()
    )
    if row is None or not actor.administers(row.tenant_id):
        raise NotFound("no such sharing agreement")
    return row


async def update(
    session: AsyncSession,
    actor: Principal,
    agreement_id: uuid.UUID,
    expected_version: int,
    given: AgreementInput,
) -> SharingAgreement:
    row = await _owned(session, actor, agreement_id)
    if row.revoked_at is not None:
        raise BadUserInput("a revoked agreement cannot change; create a new one", reason="REVOKED")
    if row.version != expected_version:
        raise Conflict(
            f"the agreement is at version {row.version}",
            reason="VERSION_MISMATCH",
            currentVersion=row.version,
        )
    await validate(session, row.tenant_id, given, ignore=row.id)
    for key, value in _values(given).items():
        setattr(row, key, value)
    row.version = expected_version + 1
    await session.flush()
    await policy_version.bump(session)
    await _audit(session, actor, row, "update")
    return row


async def approve(
    session: AsyncSession, actor: Principal, agreement_id: uuid.UUID, expected_version: int
) -> SharingAgreement:
    """Approve an agreement at the catalogue's current revision: its globs then grant the fields
    added since it was last approved (listed as pending review until now)."""
    row = await _owned(session, actor, agreement_id)
    if row.revoked_at is not None:
        raise BadUserInput("a revoked agreement cannot change; create a new one", reason="REVOKED")
    if row.version != expected_version:
        raise Conflict(
            f"the agreement is at version {row.version}",
            reason="VERSION_MISMATCH",
            currentVersion=row.version,
        )
    if row.catalogue_revision < REVISION:
        row.catalogue_revision = REVISION
        row.version = expected_version + 1
        await session.flush()
        await policy_version.bump(session)
        await _audit(session, actor, row, "approve")
    return row


async def revoke(
    session: AsyncSession, actor: Principal, agreement_id: uuid.UUID
) -> SharingAgreement:
    row = await _owned(session, actor, agreement_id)
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        row.version += 1
        await session.flush()
        await policy_version.bump(session)
        await _audit(session, actor, row, "revoke")
    return row


async def agreements_of(session: AsyncSession, owner: uuid.UUID) -> list[SharingAgreement]:
    return list(
        (
            await session.scalars(
                select(SharingAgreement)
                .where(SharingAgreement.tenant_id == owner)
                .order_by(SharingAgreement.name)
            )
        ).all()
    )


# -- preview -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    grantee: str
    coordinate: str
    action: str
    scope: str
    change: str  # "grant" | "revoke"
    # A grant of a field added to the catalogue after ``before`` was approved: saving approves it.
    pending_review: bool = False


def _reachable(
    snapshot: Snapshot, grantee: str, owner: uuid.UUID, now: datetime
) -> set[tuple[str, str, str]]:
    """(coordinate, action, scope) the owner's rules open to a grantee, before role limits."""
    home, _, role = grantee.partition("/role:")
    kind, _, ident = home.partition(":")
    roles = frozenset({role} if role else {r.value for r in Role})
    if kind == "public":
        core = compile_core(
            snapshot, home_tenant=None, home_partner=uuid.UUID(int=0), roles=roles, now=now
        )
    else:
        home_id = uuid.UUID(ident)
        core = compile_core(
            snapshot,
            home_tenant=home_id if kind == "tenant" else None,
            home_partner=home_id if kind == "partner" else None,
            roles=roles,
            now=now,
        )
    found: set[tuple[str, str, str]] = set()
    for (action, type_name), by_owner in core.grants.items():
        for grant in by_owner.get(owner, ()):
            found |= {(f"{type_name}.{f}", action, str(grant.scope)) for f in grant.fields}
            found |= {
                (f"ContactRecord.answers.{k}", action, str(grant.scope)) for k in grant.answer_keys
            }
    return found


def preview(
    snapshot: Snapshot,
    before: AgreementRow | None,
    after: AgreementRow | None,
    now: datetime | None = None,
) -> list[Change]:
    """What replacing ``before`` with ``after`` (either may be None) grants or revokes, per
    grantee and coordinate (ignoring what the grantee's roles would filter out)."""
    now = now or datetime.now(UTC)
    owner = (after or before).owner  # type: ignore[union-attr]
    agreements = {
        k: v for k, v in snapshot.agreements.items() if before is None or k != str(before.id)
    }
    if after is not None:
        agreements[str(after.id)] = after
    changed = policy_module.build(
        snapshot.version + 1,
        sorted(snapshot.tenants),
        list(agreements.values()),
        snapshot.answer_keys,
        [],
    )
    grantees = {a.subject for a in (before, after) if a is not None}
    pending = set(pending_review(before)) if before is not None else set()
    changes: list[Change] = []
    for grantee in sorted(grantees):
        old = _reachable(snapshot, grantee, owner, now)
        new = _reachable(changed, grantee, owner, now)
        changes += [
            Change(grantee, c, a, s, "grant", pending_review=c in pending)
            for c, a, s in sorted(new - old)
        ]
        changes += [Change(grantee, c, a, s, "revoke") for c, a, s in sorted(old - new)]
    return changes


def as_row(agreement_id: uuid.UUID, owner: uuid.UUID, given: AgreementInput) -> AgreementRow:
    values = _values(given)
    return AgreementRow(
        id=agreement_id,
        name=values["name"],
        owner=owner,
        grantee_kind=values["grantee_kind"],
        grantee_tenant_id=values["grantee_tenant_id"],
        grantee_partner_id=values["grantee_partner_id"],
        grantee_role=values["grantee_role"].value if values["grantee_role"] else None,
        actions=tuple(values["actions"]),
        fields=tuple(values["fields"]),
        denied_fields=tuple(values["denied_fields"]),
        answer_sensitivity=values["answer_sensitivity"],
        row_scope=values["row_scope"],
        valid_from=values["valid_from"],
        valid_until=values["valid_until"],
        purpose=values["purpose"],
        catalogue_revision=values["catalogue_revision"],
    )
