"""Admin API: principals, their roles and their API keys (tenant admins only).

Merged into the Query and Mutation roots with ``strawberry.tools.merge_types``. The rules (who
administers whom, validation, audit, policy version) live in
``queries/principals.py``; this module translates ids and shapes payloads.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import strawberry
from strawberry.dataloader import DataLoader

from sharegraph.authz import signin
from sharegraph.datastore import models as m
from sharegraph.errors import Forbidden
from sharegraph.graph.arguments import INPUT, After, First
from sharegraph.graph.context import Info, RequestContext
from sharegraph.graph.enums import PrincipalKind, Role
from sharegraph.graph.inputs import decode_id, require_id
from sharegraph.graph.pagination import connection
from sharegraph.graph.relay import Connection, to_global_id
from sharegraph.graph.types.base import from_row, maybe
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.graph.types.tenants import PartnerOrganization, RoleGrant, Tenant
from sharegraph.queries import principals as q
from sharegraph.queries.pagination import SortKey

# -- types -----------------------------------------------------------------------------------


@strawberry.type(name="ApiKey", description="An API key; its secret part is shown only once.")
class ApiKey:
    row: strawberry.Private[Any]
    uuid: UUID = strawberry.field(description="The key's UUID.")
    prefix: str = strawberry.field(description="The public start of the key (`sg_<prefix>_...`).")
    label: str | None = strawberry.field(description="What the key is for, as its admin named it.")
    created_at: datetime = strawberry.field(description="When it was issued (UTC).")
    expires_at: datetime | None = strawberry.field(
        description="When it stops working (UTC); null: never."
    )
    revoked_at: datetime | None = strawberry.field(
        description="When it was revoked (UTC); null: not revoked."
    )
    last_used_at: datetime | None = strawberry.field(
        description="When it last authenticated a request (UTC, to the minute); null: never used."
    )

    @strawberry.field(description="The key's global id (not the key itself).")
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("ApiKey", self.row.id))

    @strawberry.field(description="Accepted right now: neither revoked nor expired.")
    def active(self) -> bool:
        now = datetime.now(UTC)
        revoked = self.row.revoked_at is not None and self.row.revoked_at <= now
        expired = self.row.expires_at is not None and self.row.expires_at <= now
        return not (revoked or expired)


@strawberry.enum(name="InvitationStatus", description="Where a person's latest invitation stands.")
class InvitationStatus(Enum):
    PENDING = strawberry.enum_value(
        signin.PENDING, description="Sent; its link can still be used to choose a password."
    )
    ACCEPTED = strawberry.enum_value(
        signin.ACCEPTED, description="The person chose a password: they can sign in."
    )
    EXPIRED = strawberry.enum_value(
        signin.EXPIRED,
        description="The link lapsed unused (or a later link replaced it): resend the invitation.",
    )


@strawberry.type(
    name="Invitation",
    description="The latest invitation e-mailed to a person (`inviteUser`, `resendInvitation`).",
)
class Invitation:
    status: InvitationStatus = strawberry.field(description="Where it stands.")
    sent_at: datetime = strawberry.field(description="When its link was issued (UTC).")
    expires_at: datetime = strawberry.field(description="When its link stops working (UTC).")
    accepted_at: datetime | None = strawberry.field(
        description="When the person chose a password (UTC); null until then."
    )


class _Related:
    """Roles and keys of a set of principals (one page), each loaded in one batch."""

    def __init__(self, context: RequestContext) -> None:
        async def load_roles(ids: list[uuid.UUID]) -> list[list[m.RoleAssignment]]:
            async with context.db() as session:
                grouped = await q.role_assignments(session, ids)
            return [grouped.get(i, []) for i in ids]

        async def load_keys(ids: list[uuid.UUID]) -> list[list[m.ApiKey]]:
            async with context.db() as session:
                grouped = await q.api_keys(session, ids)
            return [grouped.get(i, []) for i in ids]

        async def load_invitations(ids: list[uuid.UUID]) -> list[signin.InvitationState | None]:
            async with context.db() as session:
                found = await signin.invitation_states(session, ids)
            return [found.get(i) for i in ids]

        self.roles = DataLoader(load_fn=load_roles)
        self.keys = DataLoader(load_fn=load_keys)
        self.invitations = DataLoader(load_fn=load_invitations)


@strawberry.type(name="Principal", description="A user or an API client, as its admins see it.")
class Principal:
    row: strawberry.Private[Any]
    uuid: UUID = strawberry.field(description="The principal's UUID.")
    name: str = strawberry.field(description="Its unique sign-in name.")
    display_name: str | None = strawberry.field(description="A human-readable name.")
    email: str | None = strawberry.field(description="A contact e-mail address.")
    kind: PrincipalKind = strawberry.field(description="USER or API_CLIENT.")
    disabled: bool = strawberry.field(
        description=("A disabled principal can do nothing, whatever its roles and keys.")
    )
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    related: strawberry.Private[_Related | None] = None

    @strawberry.field(
        description=("The principal's global id (for `explainAccess`, `effectivePermissions`).")
    )
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Principal", self.row.id))

    def _related(self, info: Info) -> _Related:
        if self.related is None:
            self.related = _Related(info.context)
        return self.related

    @strawberry.field(description="Home tenant (null for a partner organization's principal).")
    async def tenant(self, info: Info) -> Tenant | None:
        return maybe(Tenant, await info.context.loaders.one(m.Tenant, self.row.tenant_id))

    @strawberry.field(description="Home partner organization (null for a tenant's principal).")
    async def partner_organization(self, info: Info) -> PartnerOrganization | None:
        row = await info.context.loaders.one(
            m.PartnerOrganization, self.row.partner_organization_id
        )
        return maybe(PartnerOrganization, row)

    @strawberry.field(description=("Its roles, each within a tenant or partner organization."))
    async def roles(self, info: Info) -> list[RoleGrant]:
        loaders = info.context.loaders
        grants = []
        for row in await self._related(info).roles.load(self.row.id):
            tenant = await loaders.one(m.Tenant, row.tenant_id)
            partner = await loaders.one(m.PartnerOrganization, row.partner_organization_id)
            grants.append(
                RoleGrant(
                    role=row.role,
                    tenant=maybe(Tenant, tenant),
                    partner_organization=maybe(PartnerOrganization, partner),
                )
            )
        return grants

    @strawberry.field(
        description="Its latest invitation to the portal; null when it was never invited."
    )
    async def invitation(self, info: Info) -> Invitation | None:
        found = await self._related(info).invitations.load(self.row.id)
        if found is None:
            return None
        return Invitation(
            status=InvitationStatus(found.state),
            sent_at=found.sent_at,
            expires_at=found.expires_at,
            accepted_at=found.accepted_at,
        )

    @strawberry.field(description="Every key of this principal, newest first.")
    async def api_keys(self, info: Info) -> list[ApiKey]:
        return [from_row(ApiKey, row) for row in await self._related(info).keys.load(self.row.id)]


def _principals(info: Info, rows: list[Any]) -> list[Principal]:
    related = _Related(info.context)
    nodes = [from_row(Principal, row) for row in rows]
    for node in nodes:
        node.related = related
    return nodes


async def _changed(info: Info) -> None:
    """After a committed change (each bumps the policy version): this process's next request
    sees it, remembered credentials included; others within about a second."""
    await info.context.see_own_writes()
    await info.context.policies.reload()


def _principal(info: Info, row: Any) -> Principal:
    return _principals(info, [row])[0]


# -- queries ---------------------------------------------------------------------------------


@strawberry.type
class PrincipalAdminQuery:
    @strawberry.field(
        description="Principals of your tenant (or of `tenantId`, if you administer it), by "
        "name. Tenant admins only."
    )
    async def principals(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        tenant_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description=(
                    "The global id of a tenant you administer; left out: your home tenant."
                )
            ),
        ] = None,
        include_partner_organizations: Annotated[
            bool,
            strawberry.argument(
                description="Also list principals of the partner organizations the tenant's "
                "directory lists (whom its admins manage)."
            ),
        ] = False,
    ) -> Connection[Principal]:
        ctx = info.context
        tenant = decode_id(tenant_id, "Tenant") or ctx.principal.tenant_id
        if tenant is None:
            raise Forbidden(
                "only tenant admins manage principals, roles and API keys",
                reason="NOT_TENANT_ADMIN",
            )
        async with ctx.db() as session:
            statement = await q.principals_of_tenant(
                session, ctx.principal, tenant, include_partners=include_partner_organizations
            )
        keys = [SortKey(m.Principal.name), SortKey(m.Principal.id)]
        page = await connection(
            info, Principal, m.Principal, statement, "NAME_ASC", keys, first=first, after=after
        )
        related = _Related(ctx)
        for edge in page.edges:
            edge.node.related = related
        return page

    @strawberry.field(description="A principal you administer; NOT_FOUND for any other.")
    async def principal(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The principal's global id.")],
    ) -> Principal | None:
        ctx = info.context
        async with ctx.db() as session:
            row = await q.get_principal(session, ctx.principal, require_id(id, "Principal"))
        return _principal(info, row)


# -- mutations -------------------------------------------------------------------------------


@strawberry.input(
    description=("A new user or API client in a tenant or partner organization you administer.")
)
@catalogued_input("Principal")
class CreatePrincipalInput:
    kind: PrincipalKind = strawberry.field(description="USER or API_CLIENT.")
    name: str = strawberry.field(description="Unique across the network (case-insensitive).")
    display_name: str | None = strawberry.field(default=None, description="A human-readable name.")
    email: str | None = strawberry.field(default=None, description="A contact e-mail address.")
    tenant_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Home tenant; defaults to yours unless partnerOrganizationId is given.",
    )
    partner_organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="Home partner organization, listed in your directory."
    )
    roles: list[Role] | None = strawberry.field(
        default=None, description="Roles granted within the home at once."
    )


@strawberry.type(description="The principal created.")
class CreatePrincipalPayload:
    principal: Principal = strawberry.field(description="The new principal.")


@strawberry.input(description="A role within a tenant or partner organization.")
@catalogued_input("Principal")
class PrincipalRoleInput:
    principal_id: strawberry.ID = strawberry.field(
        description="The global id of a principal you administer."
    )
    role: Role = strawberry.field(description="The role to grant or revoke.")
    tenant_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to the principal's home."
    )
    partner_organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="Defaults to the principal's home."
    )

    def domain(self) -> q.Domain | None:
        if self.tenant_id is None and self.partner_organization_id is None:
            return None
        return q.Domain(
            decode_id(self.tenant_id, "Tenant"),
            decode_id(self.partner_organization_id, "PartnerOrganization"),
        )


@strawberry.type(description="The principal after the change.")
class PrincipalRolePayload:
    principal: Principal = strawberry.field(description="The principal with its roles now.")


@strawberry.input(description=("A new API key for a principal you administer (tenant admins)."))
@catalogued_input("ApiKey")
class CreateApiKeyInput:
    principal_id: strawberry.ID = strawberry.field(
        description=("The global id of the principal the key signs in as.")
    )
    label: str | None = strawberry.field(
        default=None, description=("What the key is for (shown to admins, never secret).")
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="With a time zone offset; null: never expires."
    )


@strawberry.type(description="The new key, shown once.")
class CreateApiKeyPayload:
    api_key: ApiKey = strawberry.field(description="The key's record.")
    plaintext_key: str | None = strawberry.field(
        description="The key itself: shown this once, never stored, never shown again."
    )
    principal: Principal = strawberry.field(description="The principal it signs in as.")


@strawberry.input(description=("The API key to replace, and how long the old one keeps working."))
@catalogued_input("ApiKey")
class RotateApiKeyInput:
    id: strawberry.ID
    overlap_seconds: int = strawberry.field(
        default=int(q.DEFAULT_OVERLAP.total_seconds()),
        description="How long the old key keeps working (0 to 30 days; never past its own expiry).",
    )
    label: str | None = strawberry.field(
        default=None, description="The new key's label; defaults to the old key's."
    )
    expires_at: datetime | None = strawberry.field(
        default=None,
        description="The new key's expiry; defaults to the old key's lifetime counted from now.",
    )


@strawberry.type(description="The new key (shown once) and the old one.")
class RotateApiKeyPayload:
    api_key: ApiKey = strawberry.field(description="The new key.")
    plaintext_key: str | None = strawberry.field(
        description="The new key itself: shown this once, never stored, never shown again."
    )
    previous_api_key: ApiKey = strawberry.field(
        description="The old key, with the expiry the overlap gave it."
    )


@strawberry.input(description="The API key to revoke.")
@catalogued_input("ApiKey")
class RevokeApiKeyInput:
    id: strawberry.ID


@strawberry.type(description="The revoked key.")
class RevokeApiKeyPayload:
    api_key: ApiKey = strawberry.field(description="The key, with `revokedAt` set.")


@strawberry.type
class PrincipalAdminMutation:
    @strawberry.mutation(
        name="createPrincipal",
        description=(
            "Creates a user or API client in a tenant you administer or a"
            " partner organization in your directory (tenant admins)."
        ),
    )
    async def create_principal(
        self, info: Info, input: Annotated[CreatePrincipalInput, INPUT]
    ) -> CreatePrincipalPayload:
        ctx = info.context
        tenant_id = decode_id(input.tenant_id, "Tenant")
        partner_id = decode_id(input.partner_organization_id, "PartnerOrganization")
        if tenant_id is None and partner_id is None:
            tenant_id = ctx.principal.tenant_id
        new = q.NewPrincipal(
            kind=input.kind,
            name=input.name,
            home=q.Domain(tenant_id, partner_id),
            display_name=input.display_name,
            email=input.email,
            roles=tuple(input.roles or ()),
        )
        async with ctx.write_session() as session:
            row = await q.create_principal(session, ctx.principal, new)
        await _changed(info)
        return CreatePrincipalPayload(principal=_principal(info, row))

    @strawberry.mutation(
        name="assignRole",
        description=(
            "Grants a role to a principal you administer, within its home"
            " or `tenantId` / `partnerOrganizationId` (tenant admins)."
        ),
    )
    async def assign_role(
        self, info: Info, input: Annotated[PrincipalRoleInput, INPUT]
    ) -> PrincipalRolePayload:
        ctx = info.context
        principal_id = require_id(input.principal_id, "Principal")
        domain = input.domain()
        async with ctx.write_session() as session:
            row = await q.assign_role(session, ctx.principal, principal_id, input.role, domain)
        await _changed(info)
        return PrincipalRolePayload(principal=_principal(info, row))

    @strawberry.mutation(
        name="revokeRole",
        description=("Takes a role away from a principal you administer (tenant admins)."),
    )
    async def revoke_role(
        self, info: Info, input: Annotated[PrincipalRoleInput, INPUT]
    ) -> PrincipalRolePayload:
        ctx = info.context
        principal_id = require_id(input.principal_id, "Principal")
        domain = input.domain()
        async with ctx.write_session() as session:
            row = await q.revoke_role(session, ctx.principal, principal_id, input.role, domain)
        await _changed(info)
        return PrincipalRolePayload(principal=_principal(info, row))

    @strawberry.mutation(
        name="createApiKey",
        description=(
            "Issues an API key for a principal you administer (tenant "
            "admins); the key is in `plaintextKey`, this once."
        ),
    )
    async def create_api_key(
        self, info: Info, input: Annotated[CreateApiKeyInput, INPUT]
    ) -> CreateApiKeyPayload:
        ctx = info.context
        principal_id = require_id(input.principal_id, "Principal")
        async with ctx.write_session() as session:
            issued = await q.create_api_key(
                session, ctx.principal, principal_id, input.label, input.expires_at
            )
            owner = await session.get(m.Principal, principal_id)
        await _changed(info)
        return CreateApiKeyPayload(
            api_key=from_row(ApiKey, issued.key),
            plaintext_key=issued.plaintext,
            principal=_principal(info, owner),
        )

    @strawberry.mutation(
        name="rotateApiKey",
        description=(
            "Issues a new key in place of an old one, which keeps working"
            " for `overlapSeconds` (tenant admins)."
        ),
    )
    async def rotate_api_key(
        self, info: Info, input: Annotated[RotateApiKeyInput, INPUT]
    ) -> RotateApiKeyPayload:
        ctx = info.context
        key_id = require_id(input.id, "ApiKey")
        async with ctx.write_session() as session:
            rotated = await q.rotate_api_key(
                session,
                ctx.principal,
                key_id,
                timedelta(seconds=input.overlap_seconds),
                label=input.label,
                expires_at=input.expires_at,
            )
        await _changed(info)
        return RotateApiKeyPayload(
            api_key=from_row(ApiKey, rotated.key),
            plaintext_key=rotated.plaintext,
            previous_api_key=from_row(ApiKey, rotated.previous),
        )

    @strawberry.mutation(name="revokeApiKey", description="Stops a key at once (tenant admins).")
    async def revoke_api_key(
        self, info: Info, input: Annotated[RevokeApiKeyInput, INPUT]
    ) -> RevokeApiKeyPayload:
        ctx = info.context
        key_id = require_id(input.id, "ApiKey")
        async with ctx.write_session() as session:
            key = await q.revoke_api_key(session, ctx.principal, key_id)
        await _changed(info)
        return RevokeApiKeyPayload(api_key=from_row(ApiKey, key))


__all__ = [
    "ApiKey",
    "Principal",
    "PrincipalAdminMutation",
    "PrincipalAdminQuery",
]
