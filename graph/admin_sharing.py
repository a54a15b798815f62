"""Admin API for sharing: agreements (with a preview), explainAccess, effectivePermissions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry
from sqlalchemy import select

from sharegraph.authz import explain
from sharegraph.authz.authenticate import load_principal
from sharegraph.authz.coordinates import type_of
from sharegraph.authz.names import load_names, subject_ids
from sharegraph.authz.plan import MODEL_TYPES, AccessPlan, Action, has_scopes
from sharegraph.authz.policy import AgreementRow
from sharegraph.authz.principal import Principal
from sharegraph.authz.review import pending_review
from sharegraph.datastore import models as m
from sharegraph.datastore.enums import GranteeKind, Role, Sensitivity
from sharegraph.errors import BadUserInput, Forbidden, NotFound
from sharegraph.graph.arguments import ID, INPUT, VERSION
from sharegraph.graph.context import Info
from sharegraph.graph.enums import describe_enum
from sharegraph.graph.inputs import require_id
from sharegraph.graph.permissions import PermissionEntry, permission_entries
from sharegraph.graph.relay import from_global_id, to_global_id
from sharegraph.graph.sharing_catalogue import SharingCatalogue, sharing_catalogue
from sharegraph.graph.types.base import NODE_TYPES, maybe
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.graph.types.tenants import PartnerOrganization, Tenant
from sharegraph.queries import principals, sharing

describe_enum(
    GranteeKind,
    "Who a sharing agreement shares with.",
    TENANT="Another tenant (a helpline or 2-1-1), optionally only its principals with a role.",
    PARTNER="A partner organization (a pantry, a shelter) through its portal users and keys.",
    PUBLIC="Anyone, signed in or not (published directory data only).",
)
describe_enum(
    strawberry.enum(explain.Decision, name="AccessDecision"),
    "The kind of rule that decided an `explainAccess` question.",
    OWN_DATA="The owner's own data, and a role of the principal allows it.",
    AGREEMENT="A sharing agreement allows it.",
    ROLE_DENY="A deny line of the role policy refuses it.",
    NO_ROLE_RULE="No role of the principal allows it.",
    DENY_RULE="An agreement lists the field among its denied fields.",
    NO_AGREEMENT="No agreement shares it.",
    PENDING_REVIEW="An agreement would share it once an admin approves the new field.",
    NOT_VALID_NOW="An agreement shares it, but outside its validity window.",
    OUTSIDE_ROW_SCOPE="Shared, but the record is outside the agreement's row scope.",
    OPERATION_ALLOWED="An operation the principal's roles allow.",
    OPERATION_DENIED="An operation the principal's roles do not allow.",
    DISABLED="The principal is disabled: it has no access at all.",
)


@strawberry.type(description="Who an agreement shares with.")
class Grantee:
    kind: GranteeKind = strawberry.field(description="TENANT, PARTNER or PUBLIC.")
    tenant: Tenant | None = strawberry.field(description="The tenant, for TENANT.")
    partner_organization: PartnerOrganization | None = strawberry.field(
        description="The partner organization, for PARTNER."
    )
    role: Role | None = strawberry.field(
        description=("Only the grantee's principals with this role; null: all of them.")
    )


@strawberry.type(
    description=(
        "What one tenant shares with a grantee: coordinates, actions,"
        " rows and validity. Readable and writable by the owner "
        "tenant's admins."
    )
)
class SharingAgreement:
    row: strawberry.Private[Any]
    id: strawberry.ID = strawberry.field(description="The agreement's global id.")
    uuid: UUID = strawberry.field(description="The agreement's UUID.")
    name: str = strawberry.field(description="Its name, unique among the owner's agreements.")
    purpose: str = strawberry.field(
        description=("Why the data is shared (shown in audits and consent checks).")
    )
    actions: list[str] = strawberry.field(
        description=(
            "What the grantee may do: `read`, `write`, `export`, "
            "`subscribe`, `statistics`, `compose`."
        )
    )
    fields: list[str] = strawberry.field(
        description=("Coordinate globs it shares (`Client.*`, `ContactRecord.startedAt`).")
    )
    denied_fields: list[str] = strawberry.field(
        description=("Coordinates withheld even where `fields` matches them.")
    )
    answer_sensitivity: Sensitivity | None = strawberry.field(
        description=("The most sensitive class of form answers it shares; null: none.")
    )
    row_scope: str = strawberry.field(
        description=(
            "Which of the owner's rows it covers: `all`, "
            "`referred_to_grantee`, `assigned_to_grantee`, "
            "`follow_up_assigned_to_grantee`, `shared_form:<form id>`, "
            "`region:<county or postal prefix>` or `inventory:<inventory id>`."
        )
    )
    valid_from: datetime | None = strawberry.field(
        description="When it starts to apply (UTC); null: at once."
    )
    valid_until: datetime | None = strawberry.field(
        description="When it stops applying (UTC); null: until revoked."
    )
    emergency: bool = strawberry.field(
        description=("An emergency (break-glass) grant; it must have a `validUntil`.")
    )
    revoked_at: datetime | None = strawberry.field(
        description="When it was revoked (UTC); null while in force."
    )
    version: int = strawberry.field(
        description=("Increases with every change; pass it back to update or revoke.")
    )
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")
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

    @strawberry.field(description="Who it shares with.")
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

    @strawberry.field(description="The tenant whose data it shares.")
    async def owner(self, info: Info) -> Tenant | None:
        return maybe(Tenant, await info.context.loaders.one(m.Tenant, self.row.tenant_id))


@strawberry.input(
    description=(
        "A sharing agreement to create, replace or preview (tenant "
        "admins, for their own tenant's data)."
    )
)
@catalogued_input("SharingAgreement")
class SharingAgreementInput:
    name: str = strawberry.field(description="A name, unique among your tenant's agreements.")
    purpose: str = strawberry.field(description="Why the data is shared.")
    grantee_kind: GranteeKind = strawberry.field(description="TENANT, PARTNER or PUBLIC.")
    grantee_tenant_id: strawberry.ID | None = strawberry.field(
        default=None, description=("TENANT: the global id of the tenant (not your own).")
    )
    grantee_partner_id: strawberry.ID | None = strawberry.field(
        default=None, description=("PARTNER: the global id of the partner organization.")
    )
    grantee_role: Role | None = strawberry.field(
        default=None, description=("Only the grantee's principals with this role; left out: all.")
    )
    actions: list[str] = strawberry.field(
        description=(
            "What the grantee may do: `read`, `write`, `export`, "
            "`subscribe`, `statistics`, `compose`."
        )
    )
    fields: list[str] = strawberry.field(
        description="Coordinate globs: `Client.*`, `ContactRecord.startedAt`."
    )
    denied_fields: list[str] = strawberry.field(
        description=("Coordinates to withhold even where `fields` matches."), default_factory=list
    )
    answer_sensitivity: Sensitivity | None = strawberry.field(
        default=None, description="Grant form answers up to this sensitivity class."
    )
    row_scope: str = strawberry.field(
        default="all",
        description=(
            "Which of the owner's rows it covers: `all`, "
            "`referred_to_grantee`, `assigned_to_grantee`, "
            "`follow_up_assigned_to_grantee`, `shared_form:<form id>`, "
            "`region:<county or postal prefix>` or `inventory:<inventory id>`."
        ),
    )
    valid_from: datetime | None = strawberry.field(
        default=None,
        description=("When it starts to apply (ISO 8601 with offset); left out: at once."),
    )
    valid_until: datetime | None = strawberry.field(
        default=None,
        description=("When it stops applying (ISO 8601 with offset); left out: until revoked."),
    )
    emergency: bool = strawberry.field(
        default=False,
        description=("An emergency (break-glass) grant; it must have a `validUntil`."),
    )

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


@strawberry.type(description="One grant an agreement change would add or remove.")
class AccessChange:
    grantee: str = strawberry.field(
        description='Who gains or loses it, by name: "Eastside Food Pantry (portal-user)", '
        '"Lakeside Crisis Line", "the public".'
    )
    grantee_subject: str = strawberry.field(
        description="The same grantee as the policy spells it (`partner:<id>/role:portal-user`), "
        "for tooling."
    )
    coordinate: str = strawberry.field(description="The field (`Type.field`) or operation.")
    action: str = strawberry.field(description="The action (`read`, `write`...).")
    row_scope: str = strawberry.field(description="The rows it covers.")
    change: str = strawberry.field(description="`grant` or `revoke`.")
    pending_review: bool = strawberry.field(
        description="A field added to the catalogue since the agreement was last approved, "
        "granted by saving it."
    )


@strawberry.type(description="The agreement as written.")
class AgreementPayload:
    agreement: SharingAgreement | None = strawberry.field(description="The agreement as it is now.")


@strawberry.type(
    description="Whether a principal may act on a coordinate of your tenant's data, decided by "
    "the access plan enforcement uses, and the rule that decided."
)
class Explanation:
    allowed: bool = strawberry.field(description="What the principal's access plan decides.")
    decided_by: explain.Decision = strawberry.field(description="The kind of rule that decided.")
    reason: str = strawberry.field(description="The deciding rule, in a sentence.")
    owner: Tenant | None = strawberry.field(description="The tenant whose data it is.")
    roles: list[str] = strawberry.field(
        description="The principal's roles that count: those it holds in its own tenant or "
        "partner organization."
    )
    role_rule: list[str] | None = strawberry.field(
        description="The role policy line that decided the role check (role, coordinate glob, "
        "action, effect); null when no line of the principal's roles matches."
    )
    agreement: SharingAgreement | None = strawberry.field(
        description="The agreement whose rule decided (null for the owner's own data, and when "
        "no agreement is involved)."
    )
    sharing_rule: list[str] | None = strawberry.field(
        description="The sharing rule that decided, as the policy holds it (owner, subject, "
        "coordinate glob, action, effect, row scope, valid from, valid until, agreement, "
        "catalogue revision)."
    )
    grantee: str | None = strawberry.field(
        description='Who that sharing rule is for, by name ("Eastside Food Pantry", "the public").'
    )
    grantee_subject: str | None = strawberry.field(
        description="The same grantee as the policy spells it, for tooling."
    )
    row_scopes: list[str] = strawberry.field(
        description="Row scopes under which the coordinate is shared with the principal."
    )
    record_in_scopes: list[str] | None = strawberry.field(
        description="Of those, the scopes the record falls under (null without a recordId)."
    )


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
        name="sharingCatalogue",
        description="What an agreement can name: the field catalogue's types and fields with "
        "their sensitivity and the revision that added them, the catalogue's revision, the row "
        "scopes and the actions (tenant admins; for the sharing pickers).",
    )
    async def sharing_catalogue(self, info: Info) -> SharingCatalogue:
        # async on purpose: a synchronous refusal of a non-null root field makes graphql-core
        # settle its async siblings in the background, after the request's session is closed
        _own_admin_tenant(info)
        return sharing_catalogue()

    @strawberry.field(
        name="previewSharingAgreement",
        description="What creating (no id) or replacing (id) an agreement would grant or revoke, "
        "per grantee and coordinate.",
    )
    async def preview_sharing_agreement(
        self,
        info: Info,
        input: Annotated[SharingAgreementInput, INPUT],
        id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="The agreement to replace; left out: a new one."),
        ] = None,
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
        return await access_changes(info, changes)

    @strawberry.field(
        name="previewRevokeSharingAgreement",
        description="What revoking an agreement would revoke, per grantee and coordinate (what "
        "the grantee's other agreements also grant stays, and is not listed).",
    )
    async def preview_revoke_sharing_agreement(
        self, info: Info, id: Annotated[strawberry.ID, ID]
    ) -> list[AccessChange]:
        owner = _own_admin_tenant(info)
        async with info.context.db() as session:
            existing = await session.get(
                m.SharingAgreement, from_global_id(id, expected="SharingAgreement")[1]
            )
        if existing is None or existing.tenant_id != owner:
            raise NotFound("no such sharing agreement")
        if existing.revoked_at is not None:
            return []
        changes = sharing.preview(info.context.policies.snapshot, AgreementRow.of(existing), None)
        return await access_changes(info, changes)

    @strawberry.field(
        name="explainAccess",
        description="Whether a principal you administer may act on a coordinate of your "
        "tenant's data (on one record, given recordId), and the rule that decided. `action` "
        "defaults to read for fields; an operation (`createReferral`) is checked for its own.",
    )
    async def explain_access(
        self,
        info: Info,
        principal_id: Annotated[
            strawberry.ID,
            strawberry.argument(description="The global id of a principal (of any tenant)."),
        ],
        coordinate: Annotated[
            str,
            strawberry.argument(
                description=("A field (`Client.phone`) or an operation (`createReferral`).")
            ),
        ],
        record_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description=("The global id of one record, to check row scopes on it.")
            ),
        ] = None,
        action: Annotated[
            str | None,
            strawberry.argument(
                description=(
                    "`read`, `write`, `export`, `subscribe`, `statistics` or "
                    "`compose`; left out: read (fields) or the operation's own."
                )
            ),
        ] = None,
    ) -> Explanation:
        subject = await _subject_principal(info, principal_id)
        owner = _own_admin_tenant(info)
        policies = info.context.policies
        kind = explain.classify(coordinate, policies.snapshot.answer_keys.get(owner, {}))
        chosen = explain.action_for(kind, coordinate, action)
        if subject is None:
            return await _explanation(info, explain.DISABLED, None)
        now = datetime.now(UTC)
        # The snapshot and the plan are taken together: the walk must read the policy the plan
        # was compiled from.
        snapshot, plan = policies.snapshot, policies.plan_for(subject, now)
        record_scopes = None
        if record_id is not None:
            record_scopes = await _record_scopes(
                info, plan, owner, coordinate, kind, chosen, record_id
            )
        async with info.context.db() as session:
            names = await load_names(session, explain.names_needed(snapshot, plan.core, owner))
        verdict = explain.explain(
            snapshot,
            plan.core,
            owner,
            coordinate,
            chosen,
            names=names,
            now=now,
            record_scopes=record_scopes,
        )
        grantee = names.subject(verdict.sharing_rule[1]) if verdict.sharing_rule else None
        return await _explanation(info, verdict, owner, grantee)

    @strawberry.field(
        name="effectivePermissions",
        description="What a principal you administer may do: types x fields x actions with row "
        "scopes and the agreements behind them, per owner tenant (of your tenant's data, or all "
        "of it for your own staff), then the operations its roles allow. Each principal reads "
        "its own as `viewer { permissions }`.",
    )
    async def effective_permissions(
        self,
        info: Info,
        principal_id: Annotated[
            strawberry.ID, strawberry.argument(description="The global id of the principal.")
        ],
    ) -> list[PermissionEntry]:
        subject = await _subject_principal(info, principal_id)
        admin_tenant = _own_admin_tenant(info)
        if subject is None:
            return []  # a disabled principal can do nothing
        plan = info.context.policies.plan_for(subject)

        def shown(owner: uuid.UUID) -> bool:
            # an admin sees what flows out of its tenant, and its own staff's reach
            return owner == admin_tenant or subject.tenant_id == admin_tenant

        return await permission_entries(info, plan, shown)


async def access_changes(info: Info, changes: list[sharing.Change]) -> list[AccessChange]:
    """A preview's changes, with their grantees named (one query)."""
    async with info.context.db() as session:
        names = await load_names(session, subject_ids(c.grantee for c in changes))
    return [
        AccessChange(
            grantee=names.subject(c.grantee),
            grantee_subject=c.grantee,
            coordinate=c.coordinate,
            action=c.action,
            row_scope=c.scope,
            change=c.change,
            pending_review=c.pending_review,
        )
        for c in changes
    ]


async def _record_scopes(
    info: Info,
    plan: AccessPlan,
    owner: uuid.UUID,
    coordinate: str,
    kind: explain.CoordinateKind,
    action: str,
    record_id: strawberry.ID,
) -> set[str]:
    """The row scopes of the plan's grants on the coordinate's type that the record falls
    under (one query)."""
    if kind is explain.CoordinateKind.OPERATION:
        raise BadUserInput(
            "an operation is not decided per record: leave recordId out", reason="BAD_ID"
        )
    record_type, raw = from_global_id(record_id)
    if record_type not in NODE_TYPES:
        raise BadUserInput("recordId is not the id of a record", reason="BAD_ID")
    model, _ = NODE_TYPES[record_type]
    if MODEL_TYPES.get(model) != type_of(coordinate):
        raise BadUserInput(
            f"recordId is a {record_type}; {coordinate} needs the id of a {type_of(coordinate)}",
            reason="BAD_ID",
        )
    async with info.context.db() as session:
        record = await session.get(model, raw)
        if record is None or getattr(record, "tenant_id", None) != owner:
            raise NotFound("no such record in your tenant")
        clauses = plan.scope_clauses(model, owner, Action(action))
        if not has_scopes(model):
            return set(clauses)  # its rows are not selected by scope: every grant covers it
        names = list(clauses)
        if not names:
            return set()
        hits = (
            await session.execute(
                select(*(clauses[n].label(f"s{i}") for i, n in enumerate(names))).where(
                    model.id == record.id
                )
            )
        ).one()
    return {n for n, hit in zip(names, hits, strict=True) if hit}


async def _explanation(
    info: Info, verdict: explain.Verdict, owner: uuid.UUID | None, grantee: str | None = None
) -> Explanation:
    agreement = None
    if verdict.agreement is not None:
        async with info.context.db() as session:
            found = await session.get(m.SharingAgreement, verdict.agreement.id)
        agreement = SharingAgreement.of(found) if found is not None else None
    tenant = await info.context.loaders.one(m.Tenant, owner) if owner is not None else None
    return Explanation(
        allowed=verdict.allowed,
        decided_by=verdict.decided_by,
        reason=verdict.reason,
        owner=maybe(Tenant, tenant),
        roles=list(verdict.roles),
        role_rule=list(verdict.role_rule) if verdict.role_rule else None,
        agreement=agreement,
        sharing_rule=list(verdict.sharing_rule) if verdict.sharing_rule else None,
        grantee=grantee,
        grantee_subject=verdict.sharing_rule[1] if verdict.sharing_rule else None,
        row_scopes=list(verdict.row_scopes),
        record_in_scopes=None
        if verdict.record_in_scopes is None
        else list(verdict.record_in_scopes),
    )


@strawberry.type
class SharingAdminMutation:
    @strawberry.mutation(
        name="createSharingAgreement",
        description=(
            "Creates a sharing agreement on your tenant's data (tenant admins); it applies at once."
        ),
    )
    async def create_sharing_agreement(
        self, info: Info, input: Annotated[SharingAgreementInput, INPUT]
    ) -> AgreementPayload:
        owner = _own_admin_tenant(info)
        async with info.context.write_session() as session:
            row = await sharing.create(session, info.context.principal, owner, input.to_input())
        await _policies_changed(info)
        return AgreementPayload(agreement=SharingAgreement.of(row))

    @strawberry.mutation(
        name="updateSharingAgreement",
        description=(
            "Replaces an agreement's terms (tenant admins); its fields "
            "are approved again at the current catalogue revision."
        ),
    )
    async def update_sharing_agreement(
        self,
        info: Info,
        id: Annotated[strawberry.ID, ID],
        version: Annotated[int, VERSION],
        input: Annotated[
            SharingAgreementInput,
            INPUT,
        ],
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
        self, info: Info, id: Annotated[strawberry.ID, ID], version: Annotated[int, VERSION]
    ) -> AgreementPayload:
        _own_admin_tenant(info)
        _, raw = from_global_id(id, expected="SharingAgreement")
        async with info.context.write_session() as session:
            row = await sharing.approve(session, info.context.principal, raw, version)
        await _policies_changed(info)
        return AgreementPayload(agreement=SharingAgreement.of(row))

    @strawberry.mutation(
        name="revokeSharingAgreement",
        description=(
            "Revokes an agreement at once (tenant admins); it stays listed with `revokedAt`."
        ),
    )
    async def revoke_sharing_agreement(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The agreement's global id.")],
    ) -> AgreementPayload:
        _own_admin_tenant(info)
        _, raw = from_global_id(id, expected="SharingAgreement")
        async with info.context.write_session() as session:
            row = await sharing.revoke(session, info.context.principal, raw)
        await _policies_changed(info)
        return AgreementPayload(agreement=SharingAgreement.of(row))
