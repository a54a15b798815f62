"""Admin API for sharing: agreements (with a preview), explainAccess, effectivePermissions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import strawberry
from sqlalchemy import select

from ..authz.authenticate import load_principal
from ..authz.coordinates import OPERATIONS, TYPE_FIELDS, type_of
from ..authz.plan import MODEL_TYPES, Action
from ..authz.policy import ACTIONS, AgreementRow, enforce_sharing, principal_subject
from ..authz.principal import Principal
from ..authz.review import pending_review
from ..datastore import models as m
from ..datastore.enums import GranteeKind, Role, Sensitivity
from ..datastore.queries import principals, sharing
from ..errors import BadUserInput, Forbidden, NotFound, quote
from .context import Info
from .inputs import require_id
from .relay import from_global_id, to_global_id
from .types.base import NODE_TYPES, maybe
from .types.tenants import PartnerOrganization, Tenant

strawberry.enum(GranteeKind)


@strawberry.type
class Grantee:
    kind: GranteeKind
    tenant: Tenant | None
    partner_organization: PartnerOrganization | None
    role: Role | None


@strawberry.type
class SharingAgreement:
    row: strawberry.Private[Any]
    id: strawberry.ID
    uuid: uuid.UUID
    name: str
    purpose: str
    actions: list[str]
    fields: list[str]
    denied_fields: list[str]
    answer_sensitivity: Sensitivity | None
    row_scope: str
    valid_from: datetime | None
    valid_until: datetime | None
    emergency: bool
    revoked_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    catalogue_revision: int = strawberry.field(
        description="The field catalogue's revision when an admin last approved the agreement; "
        "its globs grant only the fields that existed then."
    )

    @strawberry.field(
        name="pendingReview",
        description="Fields its globs would grant that were added to the catalogue after it was "
        "last approved: not shared until `approveSharingAgreement` (or an update) approves them.",
    )
    def pending_review(self) -> list[str]:
        return pending_review(AgreementRow.of(self.row))

    @classmethod
    def of(cls, row: Any) -> SharingAgreement:
        return cls(
            row=row,
            id=strawberry.ID(to_global_id("SharingAgreement", row.id)),
            uuid=row.id,
            name=row.name,
            purpose=row.purpose,
            actions=list(row.actions),
            fields=list(row.fields),
            denied_fields=list(row.denied_fields or []),
            answer_sensitivity=row.answer_sensitivity,
            row_scope=row.row_scope,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            emergency=row.emergency,
            revoked_at=row.revoked_at,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            catalogue_revision=row.catalogue_revision,
        )

    @strawberry.field
    async def grantee(self, info: Info) -> Grantee:
        loaders = info.context.loaders
        return Grantee(
            kind=self.row.grantee_kind,
            tenant=maybe(Tenant, await loaders.one(m.Tenant, self.row.grantee_tenant_id)),
            partner_organization=maybe(
                PartnerOrganization,
                await loaders.one(m.PartnerOrganization, self.row.grantee_partner_id),
            ),
            role=self.row.grantee_role,
        )

    @strawberry.field
    async def owner(self, info: Info) -> Tenant | None:
        return maybe(Tenant, await info.context.loaders.one(m.Tenant, self.row.tenant_id))


@strawberry.input
class SharingAgreementInput:
    name: str
    purpose: str
    grantee_kind: GranteeKind
    grantee_tenant_id: strawberry.ID | None = None
    grantee_partner_id: strawberry.ID | None = None
    grantee_role: Role | None = None
    actions: list[str]
    fields: list[str] = strawberry.field(
        description="Coordinate globs: `Client.*`, `ContactRecord.startedAt`."
    )
    denied_fields: list[str] = strawberry.field(default_factory=list)
    answer_sensitivity: Sensitivity | None = strawberry.field(
        default=None, description="Grant form answers up to this sensitivity class."
    )
    row_scope: str = "all"
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    emergency: bool = False

    def to_input(self) -> sharing.AgreementInput:
        return sharing.AgreementInput(
            name=self.name,
            purpose=self.purpose,
            grantee_kind=self.grantee_kind,
            grantee_tenant_id=from_global_id(self.grantee_tenant_id, expected="Tenant")[1]
            if self.grantee_tenant_id
            else None,
            grantee_partner_id=from_global_id(
                self.grantee_partner_id, expected="PartnerOrganization"
            )[1]
            if self.grantee_partner_id
            else None,
            grantee_role=self.grantee_role,
            actions=tuple(self.actions),
            fields=tuple(self.fields),
            denied_fields=tuple(self.denied_fields),
            answer_sensitivity=self.answer_sensitivity,
            row_scope=self.row_scope,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            emergency=self.emergency,
        )


@strawberry.type
class AccessChange:
    grantee: str
    coordinate: str
    action: str
    row_scope: str
    change: str
    pending_review: bool = strawberry.field(
        description="A field added to the catalogue since the agreement was last approved, "
        "granted by saving it."
    )


@strawberry.type
class AgreementPayload:
    agreement: SharingAgreement | None


@strawberry.type
class Explanation:
    allowed: bool
    reason: str
    owner: Tenant | None
    roles: list[str]
    role_rule: list[str] | None
    agreement: SharingAgreement | None
    sharing_rule: list[str] | None
    row_scopes: list[str] = strawberry.field(
        description="Scopes under which the coordinate is shared."
    )
    record_in_scopes: list[str] | None = strawberry.field(
        description="Of those, the scopes the record falls under."
    )


@strawberry.type
class PermissionEntry:
    owner: Tenant | None
    type_name: str
    field: str
    action: str
    row_scopes: list[str]


def _own_admin_tenant(info: Info) -> uuid.UUID:
    principal = info.context.principal
    for grant in principal.roles:
        if grant.role is Role.TENANT_ADMIN and grant.tenant_id is not None:
            return grant.tenant_id
    raise Forbidden("only tenant admins may manage sharing", reason="NOT_ADMIN")


async def _policies_changed(info: Info) -> None:
    await info.context.see_own_writes()
    await info.context.policies.reload()


async def _subject_principal(info: Info, principal_id: strawberry.ID) -> Principal | None:
    """The principal an admin asks about, found exactly as ``principal(id:)`` finds it: a
    principal the caller does not administer is ``NOT_FOUND`` (so another tenant's principals
    cannot be probed), a caller who administers nothing is ``FORBIDDEN``. ``None`` when it is
    disabled: it has no access at all."""
    ctx = info.context
    async with ctx.db() as session:
        row = await principals.get_principal(
            session, ctx.principal, require_id(principal_id, "Principal")
        )
        return await load_principal(session, row.id)


@strawberry.type
class SharingAdminQuery:
    @strawberry.field(
        name="sharingAgreements", description="Your tenant's sharing agreements (admins)."
    )
    async def sharing_agreements(self, info: Info) -> list[SharingAgreement]:
        owner = _own_admin_tenant(info)
        async with info.context.db() as session:
            rows = await sharing.agreements_of(session, owner)
        return [SharingAgreement.of(r) for r in rows]

    @strawberry.field(
        name="previewSharingAgreement",
        description="What creating (no id) or replacing (id) an agreement would grant or revoke, "
        "per grantee and coordinate.",
    )
    async def preview_sharing_agreement(
        self, info: Info, input: SharingAgreementInput, id: strawberry.ID | None = None
    ) -> list[AccessChange]:
        owner = _own_admin_tenant(info)
        given = input.to_input()
        before = None
        async with info.context.db() as session:
            if id is not None:
                existing = await session.get(
                    m.SharingAgreement, from_global_id(id, expected="SharingAgreement")[1]
                )
                if existing is None or existing.tenant_id != owner:
                    raise NotFound("no such sharing agreement")
                before = AgreementRow.of(existing)
            await sharing.validate(session, owner, given, ignore=before.id if before else None)
        after = sharing.as_row(before.id if before else uuid.uuid4(), owner, given)
        changes = sharing.preview(info.context.policies.snapshot, before, after)
        return [
            AccessChange(
                grantee=c.grantee,
                coordinate=c.coordinate,
                action=c.action,
                row_scope=c.scope,
                change=c.change,
                pending_review=c.pending_review,
            )
            for c in changes
        ]

    @strawberry.field(name="explainAccess")
    async def explain_access(
        self,
        info: Info,
        principal_id: strawberry.ID,
        coordinate: str,
        record_id: strawberry.ID | None = None,
        action: str = "read",
    ) -> Explanation:
        subject = await _subject_principal(info, principal_id)
        admin_tenant = _own_admin_tenant(info)
        if action not in ACTIONS:
            raise BadUserInput(f"action must be one of {list(ACTIONS)}", reason="BAD_ACTION")
        snapshot = info.context.policies.snapshot
        type_name = type_of(coordinate)
        if type_name not in TYPE_FIELDS and coordinate not in OPERATIONS:
            raise BadUserInput(
                f"{quote(coordinate)} is not a known coordinate", reason="BAD_COORDINATE"
            )
        if subject is None:
            return _disabled_explanation()
        record = None
        owner = admin_tenant
        if record_id is not None:
            record_type, raw = from_global_id(record_id)
            if record_type not in NODE_TYPES:
                raise BadUserInput("recordId is not the id of a record", reason="BAD_ID")
            model, _ = NODE_TYPES[record_type]
            async with info.context.db() as session:
                record = await session.get(model, raw)
            if record is None or getattr(record, "tenant_id", None) != admin_tenant:
                raise NotFound("no such record in your tenant")
            owner = record.tenant_id
        elif subject.tenant_id != admin_tenant:
            owner = admin_tenant
        home = (
            f"tenant:{subject.tenant_id}"
            if subject.tenant_id
            else f"partner:{subject.partner_organization_id}"
        )
        roles = sorted(g.role.value for g in subject.roles)
        role_ok, role_rule = subject_role_check(snapshot, subject.id, home, coordinate, action)
        now = datetime.now(UTC)
        scopes_here = sorted(
            {r[5] for r in snapshot.sharing_rules() if r[0] == str(owner) and r[4] == "allow"}
        )
        allowed_scopes: list[str] = []
        sharing_rule: list[str] | None = None
        for scope in scopes_here:
            ok, rule = enforce_sharing(snapshot, subject.id, owner, coordinate, action, scope, now)
            if ok:
                allowed_scopes.append(scope)
                sharing_rule = sharing_rule or rule
        in_scopes: list[str] | None = None
        if record is not None and type(record) in MODEL_TYPES:
            plan = info.context.policies.plan_for(subject, now)
            clauses = plan.scope_clauses(type(record), owner, Action(action))
            in_scopes = []
            async with info.context.db() as session:
                for name, clause in clauses.items():
                    hit = await session.scalar(
                        select(type(record).id).where(type(record).id == record.id, clause)
                    )
                    if hit is not None and name in allowed_scopes:
                        in_scopes.append(name)
        allowed = role_ok and bool(allowed_scopes) and (in_scopes is None or bool(in_scopes))
        if not role_ok:
            held = ", ".join(roles) or "none"
            reason = f"no role of the principal ({held}) allows {action} on {coordinate}"
        elif not allowed_scopes and (
            waiting := _awaiting_review(snapshot, subject, owner, coordinate, action)
        ):
            reason = (
                f"{coordinate} is pending review: agreement {waiting.name!r} would share it "
                "once an admin approves the field (approveSharingAgreement)"
            )
        elif not allowed_scopes:
            reason = (
                f"no agreement of the owner shares {coordinate} for {action} with the principal "
                "(or a deny rule applies)"
            )
        elif in_scopes is not None and not in_scopes:
            reason = f"the record is outside the shared row scopes {allowed_scopes}"
        else:
            reason = "allowed"
        agreement = None
        if sharing_rule is not None and sharing_rule[8] in snapshot.agreements:
            async with info.context.db() as session:
                found = await session.get(m.SharingAgreement, uuid.UUID(sharing_rule[8]))
            agreement = SharingAgreement.of(found) if found is not None else None
        return Explanation(
            allowed=allowed,
            reason=reason,
            owner=maybe(Tenant, await info.context.loaders.one(m.Tenant, owner)),
            roles=roles,
            role_rule=role_rule,
            agreement=agreement,
            sharing_rule=sharing_rule,
            row_scopes=allowed_scopes,
            record_in_scopes=in_scopes,
        )

    @strawberry.field(
        name="effectivePermissions",
        description="Types x fields x actions with row scopes, per owner tenant.",
    )
    async def effective_permissions(
        self, info: Info, principal_id: strawberry.ID
    ) -> list[PermissionEntry]:
        subject = await _subject_principal(info, principal_id)
        admin_tenant = _own_admin_tenant(info)
        if subject is None:
            return []  # a disabled principal can do nothing
        plan = info.context.policies.plan_for(subject)
        merged: dict[tuple[uuid.UUID, str, str, str], set[str]] = {}
        for (action, type_name), by_owner in plan.core.grants.items():
            for owner, grants in by_owner.items():
                if owner != admin_tenant and subject.tenant_id != admin_tenant:
                    # an admin sees what flows out of its tenant, and its own staff's reach
                    continue
                for grant in grants:
                    names = [*grant.fields, *(f"answers.{k}" for k in grant.answer_keys)]
                    for name in names:
                        merged.setdefault((owner, type_name, name, action), set()).add(
                            str(grant.scope)
                        )
        tenants = {
            o: maybe(Tenant, await info.context.loaders.one(m.Tenant, o))
            for o in {k[0] for k in merged}
        }
        return [
            PermissionEntry(owner=tenants[o], type_name=t, field=f, action=a, row_scopes=sorted(s))
            for (o, t, f, a), s in sorted(
                merged.items(), key=lambda kv: (str(kv[0][0]), *kv[0][1:])
            )
        ]


def _awaiting_review(
    snapshot: Any, subject: Any, owner: uuid.UUID, coordinate: str, action: str
) -> AgreementRow | None:
    """An agreement of ``owner`` for ``subject`` that would grant ``coordinate`` once approved."""
    home = (
        f"tenant:{subject.tenant_id}"
        if subject.tenant_id
        else f"partner:{subject.partner_organization_id}"
    )
    subjects = {home, "public", *(f"{home}/role:{g.role.value}" for g in subject.roles)}
    for agreement in snapshot.agreements.values():
        if (
            agreement.owner == owner
            and agreement.subject in subjects
            and action in agreement.actions
            and coordinate in pending_review(agreement)
        ):
            return agreement  # type: ignore[no-any-return]
    return None


def _disabled_explanation() -> Explanation:
    return Explanation(
        allowed=False,
        reason="the principal is disabled: its credentials are refused",
        owner=None,
        roles=[],
        role_rule=None,
        agreement=None,
        sharing_rule=None,
        row_scopes=[],
        record_in_scopes=None,
    )


def subject_role_check(
    snapshot: Any, principal_id: uuid.UUID, home: str, coordinate: str, action: str
) -> tuple[bool, list[str] | None]:
    allowed, rule = snapshot.enforcer.enforce_ex(
        principal_subject(principal_id), home, coordinate, action
    )
    return bool(allowed), (list(rule) or None)


@strawberry.type
class SharingAdminMutation:
    @strawberry.mutation(name="createSharingAgreement")
    async def create_sharing_agreement(
        self, info: Info, input: SharingAgreementInput
    ) -> AgreementPayload:
        owner = _own_admin_tenant(info)
        async with info.context.write_session() as session:
            row = await sharing.create(session, info.context.principal, owner, input.to_input())
        await _policies_changed(info)
        return AgreementPayload(agreement=SharingAgreement.of(row))

    @strawberry.mutation(name="updateSharingAgreement")
    async def update_sharing_agreement(
        self, info: Info, id: strawberry.ID, version: int, input: SharingAgreementInput
    ) -> AgreementPayload:
        _own_admin_tenant(info)
        _, raw = from_global_id(id, expected="SharingAgreement")
        async with info.context.write_session() as session:
            row = await sharing.update(
                session, info.context.principal, raw, version, input.to_input()
            )
        await _policies_changed(info)
        return AgreementPayload(agreement=SharingAgreement.of(row))

    @strawberry.mutation(
        name="approveSharingAgreement",
        description="Approve an agreement at the field catalogue's current revision, so its "
        "globs grant the fields pending review (see `pendingReview`).",
    )
    async def approve_sharing_agreement(
        self, info: Info, id: strawberry.ID, version: int
    ) -> AgreementPayload:
        _own_admin_tenant(info)
        _, raw = from_global_id(id, expected="SharingAgreement")
        async with info.context.write_session() as session:
            row = await sharing.approve(session, info.context.principal, raw, version)
        await _policies_changed(info)
        return AgreementPayload(agreement=SharingAgreement.of(row))

    @strawberry.mutation(name="revokeSharingAgreement")
    async def revoke_sharing_agreement(self, info: Info, id: strawberry.ID) -> AgreementPayload:
        _own_admin_tenant(info)
        _, raw = from_global_id(id, expected="SharingAgreement")
        async with info.context.write_session() as session:
            row = await sharing.revoke(session, info.context.principal, raw)
        await _policies_changed(info)
        return AgreementPayload(agreement=SharingAgreement.of(row))
