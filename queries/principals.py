"""Principals, roles and API keys, managed by tenant admins.

Who administers whom:

* a tenant's principals are managed by the tenant-admins of that tenant;
* a partner organization's principals are managed by the tenant-admins of every tenant whose
  resource directory lists that partner (``Organization.partner_organization_id`` ->
  ``Organization.tenant_id``).

A caller who administers no tenant gets ``FORBIDDEN``; a principal or key outside what the
caller administers does not exist for them (``NOT_FOUND``). Every change bumps the policy
version and adds one audit row in the same transaction; audit details carry ids, names and key
prefixes, never a key's plaintext or hash.

Write functions take a session from ``Database.write_session()`` (one transaction: a refusal
raised here rolls back everything) and the acting runtime principal. The actor's tenant-admin
grants are confirmed against the database inside that transaction, so a role revoked since the
request was authenticated no longer counts.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.credentials import generate_key
from sharegraph.authz.principal import Principal as Actor
from sharegraph.datastore import audit
from sharegraph.datastore.chunks import chunks
from sharegraph.datastore.enums import PrincipalKind, Role
from sharegraph.datastore.models import (
    ApiKey,
    Organization,
    PartnerOrganization,
    Principal,
    RoleAssignment,
    Tenant,
)
from sharegraph.datastore.policy_version import bump
from sharegraph.errors import BadUserInput, Conflict, Forbidden, NotFound

# Audit actions, one row per change.
PRINCIPAL_CREATE = "principal.create"
ROLE_ASSIGN = "role.assign"
ROLE_REVOKE = "role.revoke"
KEY_CREATE = "key.create"
KEY_ROTATE = "key.rotate"
KEY_REVOKE = "key.revoke"
ACTIONS = (PRINCIPAL_CREATE, ROLE_ASSIGN, ROLE_REVOKE, KEY_CREATE, KEY_ROTATE, KEY_REVOKE)

DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=30)

TENANT_ROLES = frozenset({Role.TENANT_ADMIN, Role.CALL_TAKER, Role.API_CLIENT})
PARTNER_ROLES = frozenset({Role.PORTAL_USER})

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_TEXT = 255
MAX_EMAIL = 320


@dataclass(frozen=True)
class Domain:
    """A tenant or a partner organization: where a principal lives or a role applies."""

    tenant_id: uuid.UUID | None = None
    partner_organization_id: uuid.UUID | None = None

    def check(self) -> None:
        if (self.tenant_id is None) == (self.partner_organization_id is None):
            raise BadUserInput(
                "give exactly one of tenantId and partnerOrganizationId", reason="BAD_DOMAIN"
            )

    @classmethod
    def home_of(cls, principal: Principal) -> Domain:
        return cls(principal.tenant_id, principal.partner_organization_id)

    def detail(self) -> dict[str, str | None]:
        return {
            "tenant_id": _str(self.tenant_id),
            "partner_organization_id": _str(self.partner_organization_id),
        }


@dataclass(frozen=True)
class NewPrincipal:
    kind: PrincipalKind
    name: str
    home: Domain
    display_name: str | None = None
    email: str | None = None
    roles: tuple[Role, ...] = ()


@dataclass(frozen=True)
class IssuedApiKey:
    """A stored key and its plaintext, which is shown once and never stored."""

    key: ApiKey
    plaintext: str


@dataclass(frozen=True)
class RotatedApiKey:
    key: ApiKey
    plaintext: str
    previous: ApiKey


# -- helpers ---------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _str(value: object | None) -> str | None:
    return None if value is None else str(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def admin_tenants(actor: Actor) -> frozenset[uuid.UUID]:
    """The tenants whose tenant-admin role the actor's credentials carry."""
    return frozenset(
        grant.tenant_id
        for grant in actor.roles
        if grant.role is Role.TENANT_ADMIN and grant.tenant_id is not None
    )


async def administered_tenants(session: AsyncSession, actor: Actor) -> frozenset[uuid.UUID]:
    """The tenants the actor administers, confirmed in ``session``; ``FORBIDDEN`` if none."""
    claimed = admin_tenants(actor)
    confirmed: frozenset[uuid.UUID] = frozenset()
    if claimed:
        found = await session.scalars(
            select(RoleAssignment.tenant_id)
            .join(Principal, Principal.id == RoleAssignment.principal_id)
            .where(
                RoleAssignment.principal_id == actor.id,
                RoleAssignment.role == Role.TENANT_ADMIN,
                RoleAssignment.tenant_id.in_(sorted(claimed)),
                Principal.disabled.is_(False),
            )
        )
        confirmed = frozenset(t for t in found.all() if t is not None)
    if not confirmed:
        raise Forbidden(
            "only tenant admins manage principals, roles and API keys", reason="NOT_TENANT_ADMIN"
        )
    return confirmed


def _managed_partners(tenants: Iterable[uuid.UUID]) -> Select[Any]:
    return select(Organization.partner_organization_id).where(
        Organization.tenant_id.in_(sorted(tenants)),
        Organization.partner_organization_id.is_not(None),
    )


def administered(tenants: Iterable[uuid.UUID]) -> ColumnElement[bool]:
    """Principals whose home is one of ``tenants`` or a partner their directories list."""
    tenants = sorted(tenants)
    return or_(
        Principal.tenant_id.in_(tenants),
        Principal.partner_organization_id.in_(_managed_partners(tenants)),
    )


async def _managing_tenant(
    session: AsyncSession, tenants: frozenset[uuid.UUID], partner_id: uuid.UUID
) -> uuid.UUID | None:
    """The (first, by id) tenant among ``tenants`` whose directory lists the partner."""
    found = await session.scalar(
        select(Organization.tenant_id)
        .where(
            Organization.partner_organization_id == partner_id,
            Organization.tenant_id.in_(sorted(tenants)),
        )
        .order_by(Organization.tenant_id)
        .limit(1)
    )
    return found


async def _domain_tenant(
    session: AsyncSession, tenants: frozenset[uuid.UUID], domain: Domain
) -> uuid.UUID:
    """The administered tenant that answers for ``domain`` (the audit row's tenant).

    Tenants and partner organizations are visible to the whole network, so a domain the actor
    does not administer is ``FORBIDDEN`` (not hidden); an unknown one is ``BAD_USER_INPUT``.
    """
    if domain.tenant_id is not None:
        if domain.tenant_id in tenants:
            return domain.tenant_id
        if await session.get(Tenant, domain.tenant_id) is None:
            raise BadUserInput("tenantId does not name a tenant", reason="UNKNOWN_TENANT")
        raise Forbidden("you are not a tenant admin of this tenant", reason="NOT_TENANT_ADMIN")
    assert domain.partner_organization_id is not None
    managing = await _managing_tenant(session, tenants, domain.partner_organization_id)
    if managing is not None:
        return managing
    if await session.get(PartnerOrganization, domain.partner_organization_id) is None:
        raise BadUserInput(
            "partnerOrganizationId does not name a partner organization",
            reason="UNKNOWN_PARTNER_ORGANIZATION",
        )
    raise Forbidden(
        "this partner organization is not listed in a directory you administer",
        reason="NOT_TENANT_ADMIN",
    )


async def _principal_tenant(
    session: AsyncSession, tenants: frozenset[uuid.UUID], principal: Principal
) -> uuid.UUID:
    return await _domain_tenant(session, tenants, Domain.home_of(principal))


async def _target(
    session: AsyncSession, tenants: frozenset[uuid.UUID], principal_id: uuid.UUID
) -> Principal:
    found = await session.scalar(
        select(Principal).where(Principal.id == principal_id, administered(tenants))
    )
    if found is None:
        raise NotFound("no principal with this id", reason="UNKNOWN_PRINCIPAL")
    return found


async def _key_and_owner(
    session: AsyncSession, tenants: frozenset[uuid.UUID], key_id: uuid.UUID
) -> tuple[ApiKey, Principal]:
    found = (
        await session.execute(
            select(ApiKey, Principal)
            .join(Principal, Principal.id == ApiKey.principal_id)
            .where(ApiKey.id == key_id, administered(tenants))
            .with_for_update(of=ApiKey)
        )
    ).first()
    if found is None:
        raise NotFound("no API key with this id", reason="UNKNOWN_API_KEY")
    return found[0], found[1]


async def _audit(
    session: AsyncSession,
    actor: Actor,
    tenant_id: uuid.UUID,
    action: str,
    record_type: str,
    record_id: uuid.UUID,
    detail: dict[str, Any],
) -> None:
    await session.flush()  # ids of new rows are known
    await audit.record(
        session,
        tenant_id=tenant_id,
        principal_id=actor.id,
        action=action,
        record_type=record_type,
        record_ids=[record_id],
        detail=detail,
    )


def _check_role_domain(role: Role, domain: Domain) -> None:
    if domain.tenant_id is not None and role not in TENANT_ROLES:
        raise BadUserInput(
            f"{role.value} is a role within partner organizations, not within tenants",
            reason="ROLE_DOMAIN",
        )
    if domain.partner_organization_id is not None and role not in PARTNER_ROLES:
        raise BadUserInput(
            f"{role.value} is a role within tenants, not within partner organizations",
            reason="ROLE_DOMAIN",
        )


def _check_text(field: str, value: str | None, limit: int = MAX_TEXT) -> None:
    if value is None:
        return
    if not value.strip():
        raise BadUserInput(f"{field} cannot be blank; leave it out instead", reason="BAD_TEXT")
    if len(value) > limit:
        raise BadUserInput(f"{field} is longer than {limit} characters", reason="BAD_TEXT")


def _check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise BadUserInput(
            "name must be 1 to 255 letters, digits or `. _ @ + -`, starting with a letter or digit",
            reason="BAD_NAME",
        )


def _check_email(email: str | None) -> None:
    if email is None:
        return
    _check_text("email", email, MAX_EMAIL)
    if not EMAIL_PATTERN.fullmatch(email):
        raise BadUserInput("email is not an email address", reason="BAD_EMAIL")


def _check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        raise BadUserInput(
            "expiresAt needs a time zone offset (for example 2027-01-31T00:00:00Z)",
            reason="BAD_EXPIRY",
        )
    if expires_at <= now:
        raise BadUserInput("expiresAt must be in the future", reason="BAD_EXPIRY")


async def _name_taken(session: AsyncSession, name: str) -> bool:
    # Names are compared case-insensitively, so `Prairie-Admin` cannot pose as `prairie-admin`.
    found = await session.scalar(
        select(Principal.id).where(func.lower(Principal.name) == name.lower()).limit(1)
    )
    return found is not None


async def _flush_or_conflict(session: AsyncSession, message: str, reason: str) -> None:
    """Flush; a unique violation from a concurrent writer becomes ``CONFLICT``.

    The exception leaves the transaction block, so nothing of it is committed.
    """
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(message, reason=reason) from exc


# -- reads -----------------------------------------------------------------------------------


async def principals_of_tenant(
    session: AsyncSession,
    actor: Actor,
    tenant_id: uuid.UUID,
    *,
    include_partners: bool = False,
) -> Select[Any]:
    """The principals of a tenant the actor administers (and of the partners it lists)."""
    tenants = await administered_tenants(session, actor)
    await _domain_tenant(session, tenants, Domain(tenant_id=tenant_id))
    condition: ColumnElement[bool] = Principal.tenant_id == tenant_id
    if include_partners:
        partners = _managed_partners([tenant_id])
        condition = or_(condition, Principal.partner_organization_id.in_(partners))
    return select(Principal).where(condition)


async def get_principal(session: AsyncSession, actor: Actor, principal_id: uuid.UUID) -> Principal:
    tenants = await administered_tenants(session, actor)
    return await _target(session, tenants, principal_id)


async def role_assignments(
    session: AsyncSession, principal_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[RoleAssignment]]:
    """Role assignments by principal, for principals already authorized by the caller."""
    grouped: dict[uuid.UUID, list[RoleAssignment]] = defaultdict(list)
    for batch in chunks(principal_ids):
        found = await session.scalars(
            select(RoleAssignment)
            .where(RoleAssignment.principal_id.in_(batch))
            .order_by(RoleAssignment.role, RoleAssignment.created_at, RoleAssignment.id)
        )
        for row in found.all():
            grouped[row.principal_id].append(row)
    return grouped


async def api_keys(
    session: AsyncSession, principal_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ApiKey]]:
    """API keys by principal, newest first, for principals already authorized by the caller."""
    grouped: dict[uuid.UUID, list[ApiKey]] = defaultdict(list)
    for batch in chunks(principal_ids):
        found = await session.scalars(
            select(ApiKey)
            .where(ApiKey.principal_id.in_(batch))
            .order_by(ApiKey.created_at.desc(), ApiKey.id)
        )
        for row in found.all():
            grouped[row.principal_id].append(row)
    return grouped


# -- principals ------------------------------------------------------------------------------


async def create_principal(session: AsyncSession, actor: Actor, new: NewPrincipal) -> Principal:
    tenants = await administered_tenants(session, actor)
    new.home.check()
    tenant_id = await _domain_tenant(session, tenants, new.home)
    _check_name(new.name)
    _check_text("displayName", new.display_name)
    _check_email(new.email)
    roles = tuple(dict.fromkeys(new.roles))
    for role in roles:
        _check_role_domain(role, new.home)
    taken = "a principal with this name already exists; names are unique across the network"
    if await _name_taken(session, new.name):
        raise Conflict(taken, reason="NAME_TAKEN")
    row = Principal(
        name=new.name,
        display_name=new.display_name,
        email=new.email,
        kind=new.kind,
        tenant_id=new.home.tenant_id,
        partner_organization_id=new.home.partner_organization_id,
        disabled=False,
    )
    session.add(row)
    await _flush_or_conflict(session, taken, "NAME_TAKEN")
    for role in roles:
        session.add(
            RoleAssignment(
                principal_id=row.id,
                role=role,
                tenant_id=new.home.tenant_id,
                partner_organization_id=new.home.partner_organization_id,
            )
        )
    await _audit(
        session,
        actor,
        tenant_id,
        PRINCIPAL_CREATE,
        "Principal",
        row.id,
        {
            "principal_id": str(row.id),
            "name": row.name,
            "kind": row.kind.value,
            **new.home.detail(),
            "roles": [role.value for role in roles],
        },
    )
    await bump(session)
    await session.flush()
    return row


# -- roles -----------------------------------------------------------------------------------


async def _role_target(
    session: AsyncSession,
    actor: Actor,
    principal_id: uuid.UUID,
    role: Role,
    domain: Domain | None,
) -> tuple[frozenset[uuid.UUID], Principal, Domain]:
    tenants = await administered_tenants(session, actor)
    target = await _target(session, tenants, principal_id)
    home = Domain.home_of(target)
    domain = home if domain is None else domain
    domain.check()
    _check_role_domain(role, domain)
    if domain != home:
        raise BadUserInput(
            "roles are held within the principal's own tenant or partner organization",
            reason="ROLE_OUTSIDE_HOME",
        )
    return tenants, target, domain


def _assignment_in(domain: Domain) -> ColumnElement[bool]:
    if domain.tenant_id is not None:
        return RoleAssignment.tenant_id == domain.tenant_id
    return RoleAssignment.partner_organization_id == domain.partner_organization_id


async def assign_role(
    session: AsyncSession,
    actor: Actor,
    principal_id: uuid.UUID,
    role: Role,
    domain: Domain | None = None,
) -> Principal:
    """Grant ``role`` within ``domain`` (default: the principal's home). Idempotent."""
    tenants, target, domain = await _role_target(session, actor, principal_id, role, domain)
    held = await session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.principal_id == target.id,
            RoleAssignment.role == role,
            _assignment_in(domain),
        )
    )
    if held is not None:
        return target
    assignment = RoleAssignment(
        principal_id=target.id,
        role=role,
        tenant_id=domain.tenant_id,
        partner_organization_id=domain.partner_organization_id,
    )
    session.add(assignment)
    await _flush_or_conflict(
        session, "the role was changed at the same time; try again", "CONCURRENT_CHANGE"
    )
    await _audit(
        session,
        actor,
        await _principal_tenant(session, tenants, target),
        ROLE_ASSIGN,
        "RoleAssignment",
        assignment.id,
        {
            "principal_id": str(target.id),
            "principal_name": target.name,
            "role": role.value,
            **domain.detail(),
        },
    )
    await bump(session)
    return target


async def _refuse_last_admin(
    session: AsyncSession, actor: Actor, assignment: RoleAssignment
) -> None:
    """An admin may not drop their own last tenant-admin role, nor leave a tenant adminless."""
    own = await session.scalar(
        select(func.count(RoleAssignment.id)).where(
            RoleAssignment.principal_id == actor.id, RoleAssignment.role == Role.TENANT_ADMIN
        )
    )
    # Lock the tenant's admin assignments: two admins removing themselves at once queue here,
    # and the second sees the first one gone.
    admins = (
        await session.scalars(
            select(RoleAssignment.principal_id)
            .join(Principal, Principal.id == RoleAssignment.principal_id)
            .where(
                RoleAssignment.role == Role.TENANT_ADMIN,
                RoleAssignment.tenant_id == assignment.tenant_id,
                Principal.disabled.is_(False),
            )
            .with_for_update(of=RoleAssignment)
        )
    ).all()
    others = [p for p in admins if p != actor.id]
    if (own or 0) <= 1 or not others:
        raise BadUserInput(
            "you cannot revoke your own last tenant-admin role (nor leave a tenant without an "
            "admin); ask another admin to do it",
            reason="LAST_ADMIN",
        )


async def revoke_role(
    session: AsyncSession,
    actor: Actor,
    principal_id: uuid.UUID,
    role: Role,
    domain: Domain | None = None,
) -> Principal:
    """Withdraw ``role`` within ``domain`` (default: the principal's home). Idempotent."""
    tenants, target, domain = await _role_target(session, actor, principal_id, role, domain)
    assignment = await session.scalar(
        select(RoleAssignment).where(
            RoleAssignment.principal_id == target.id,
            RoleAssignment.role == role,
            _assignment_in(domain),
        )
    )
    if assignment is None:
        return target
    if target.id == actor.id and role is Role.TENANT_ADMIN:
        await _refuse_last_admin(session, actor, assignment)
    assignment_id = assignment.id
    await session.delete(assignment)
    await _audit(
        session,
        actor,
        await _principal_tenant(session, tenants, target),
        ROLE_REVOKE,
        "RoleAssignment",
        assignment_id,
        {
            "principal_id": str(target.id),
            "principal_name": target.name,
            "role": role.value,
            **domain.detail(),
        },
    )
    await bump(session)
    await session.flush()
    return target


# -- API keys --------------------------------------------------------------------------------


def _new_key(
    principal_id: uuid.UUID, label: str | None, expires_at: datetime | None
) -> IssuedApiKey:
    issued = generate_key()
    row = ApiKey(
        principal_id=principal_id,
        prefix=issued.prefix,
        key_hash=issued.key_hash,
        label=label,
        demo=False,
        expires_at=expires_at,
        revoked_at=None,
        last_used_at=None,
    )
    return IssuedApiKey(key=row, plaintext=issued.plaintext)


def _key_detail(key: ApiKey, owner: Principal) -> dict[str, Any]:
    # Ids, the public prefix and dates only: never the plaintext or the hash.
    return {
        "principal_id": str(owner.id),
        "principal_name": owner.name,
        "key_id": str(key.id),
        "prefix": key.prefix,
        "label": key.label,
        "expires_at": _iso(key.expires_at),
    }


async def create_api_key(
    session: AsyncSession,
    actor: Actor,
    principal_id: uuid.UUID,
    label: str | None = None,
    expires_at: datetime | None = None,
) -> IssuedApiKey:
    tenants = await administered_tenants(session, actor)
    owner = await _target(session, tenants, principal_id)
    _check_text("label", label)
    _check_expiry(expires_at, _now())
    if owner.disabled:
        raise BadUserInput("this principal is disabled", reason="PRINCIPAL_DISABLED")
    issued = _new_key(owner.id, label, expires_at)
    session.add(issued.key)
    await session.flush()
    await _audit(
        session,
        actor,
        await _principal_tenant(session, tenants, owner),
        KEY_CREATE,
        "ApiKey",
        issued.key.id,
        _key_detail(issued.key, owner),
    )
    await bump(session)
    return issued


async def rotate_api_key(
    session: AsyncSession,
    actor: Actor,
    key_id: uuid.UUID,
    overlap: timedelta = DEFAULT_OVERLAP,
    *,
    label: str | None = None,
    expires_at: datetime | None = None,
) -> RotatedApiKey:
    """Issue a replacement; the old key keeps working for ``overlap`` (never past its expiry).

    The new key takes ``label`` (default: the old key's) and ``expires_at`` (default: the old
    key's lifetime counted from now, or no expiry if the old key had none).
    """
    tenants = await administered_tenants(session, actor)
    old, owner = await _key_and_owner(session, tenants, key_id)
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise BadUserInput(
            "the overlap must be between 0 seconds and 30 days", reason="BAD_OVERLAP"
        )
    now = _now()
    _check_text("label", label)
    _check_expiry(expires_at, now)
    if old.revoked_at is not None and old.revoked_at <= now:
        raise BadUserInput(
            "this API key is revoked; create a new key instead", reason="KEY_REVOKED"
        )
    if old.expires_at is not None and old.expires_at <= now:
        raise BadUserInput(
            "this API key has expired; create a new key instead", reason="KEY_EXPIRED"
        )
    if owner.disabled:
        raise BadUserInput("this principal is disabled", reason="PRINCIPAL_DISABLED")
    if expires_at is None and old.expires_at is not None:
        expires_at = now + (old.expires_at - old.created_at)
    issued = _new_key(owner.id, label if label is not None else old.label, expires_at)
    session.add(issued.key)
    previous_expiry = old.expires_at
    cutoff = now + overlap
    old.expires_at = cutoff if previous_expiry is None else min(previous_expiry, cutoff)
    await session.flush()
    await _audit(
        session,
        actor,
        await _principal_tenant(session, tenants, owner),
        KEY_ROTATE,
        "ApiKey",
        old.id,
        {
            **_key_detail(issued.key, owner),
            "previous_key_id": str(old.id),
            "previous_prefix": old.prefix,
            "previous_expires_at": _iso(old.expires_at),
            "overlap_seconds": int(overlap.total_seconds()),
        },
    )
    await bump(session)
    return RotatedApiKey(key=issued.key, plaintext=issued.plaintext, previous=old)


async def revoke_api_key(session: AsyncSession, actor: Actor, key_id: uuid.UUID) -> ApiKey:
    """Refuse the key from now on. Revoking a revoked key changes nothing."""
    tenants = await administered_tenants(session, actor)
    key, owner = await _key_and_owner(session, tenants, key_id)
    now = _now()
    if key.revoked_at is not None and key.revoked_at <= now:
        return key
    key.revoked_at = now
    await session.flush()
    await _audit(
        session,
        actor,
        await _principal_tenant(session, tenants, owner),
        KEY_REVOKE,
        "ApiKey",
        key.id,
        {**_key_detail(key, owner), "revoked_at": _iso(now)},
    )
    await bump(session)
    return key


__all__ = [
    "ACTIONS",
    "DEFAULT_OVERLAP",
    "MAX_OVERLAP",
    "Domain",
    "IssuedApiKey",
    "NewPrincipal",
    "RotatedApiKey",
    "administered",
    "administered_tenants",
    "api_keys",
    "assign_role",
    "create_api_key",
    "create_principal",
    "get_principal",
    "principals_of_tenant",
    "revoke_api_key",
    "revoke_role",
    "role_assignments",
    "rotate_api_key",
]
