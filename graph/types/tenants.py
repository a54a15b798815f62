"""Tenants, partner organizations and the viewer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry

from sharegraph.datastore import models as m
from sharegraph.graph.context import Info
from sharegraph.graph.enums import PrincipalKind, Role
from sharegraph.graph.relay import Node
from sharegraph.graph.types.base import node_type

if TYPE_CHECKING:
    from sharegraph.graph.permissions import PermissionEntry


@node_type(m.Tenant)
@strawberry.type(
    description=(
        "A helpline or 2-1-1 of the network; it owns its contact records, clients and directory."
    )
)
class Tenant(Node):
    row: strawberry.Private[Any]
    uuid: UUID = strawberry.field(description="The tenant's UUID.")
    name: str = strawberry.field(description="Its name.")
    time_zone: str = strawberry.field(
        description=(
            "Its IANA time zone (`America/Chicago`); schedules and statistics use its wall clock."
        )
    )


@node_type(m.PartnerOrganization)
@strawberry.type(
    description=(
        "An organization that receives referrals (a pantry, a "
        "shelter), listed in a tenant's directory; its portal users "
        "and keys work the referrals sent to it."
    )
)
class PartnerOrganization(Node):
    row: strawberry.Private[Any]
    uuid: UUID = strawberry.field(description="The partner organization's UUID.")
    name: str = strawberry.field(description="Its name.")


@strawberry.type(description=("A role a principal holds within a tenant or partner organization."))
class RoleGrant:
    role: Role = strawberry.field(description="The role.")
    tenant: Tenant | None = strawberry.field(
        description="The tenant it holds in, for a tenant's principal."
    )
    partner_organization: PartnerOrganization | None = strawberry.field(
        description=("The partner organization it holds in, for a partner's principal.")
    )


@strawberry.type(description="Who is calling.")
class Viewer:
    id: strawberry.ID = strawberry.field(description="Your principal's global id.")
    uuid: UUID = strawberry.field(description="Your principal's UUID.")
    name: str = strawberry.field(description="Your principal's sign-in name.")
    kind: PrincipalKind = strawberry.field(description="USER or API_CLIENT.")
    tenant: Tenant | None = strawberry.field(
        description=("Your home tenant (null for a partner organization's principal).")
    )
    partner_organization: PartnerOrganization | None = strawberry.field(
        description=("Your home partner organization (null for a tenant's principal).")
    )
    roles: list[RoleGrant] = strawberry.field(
        description=("Your roles, each within a tenant or partner organization.")
    )

    @strawberry.field(
        description="Everything you may do, as your tenant admin's `effectivePermissions` shows "
        "it for you: each field of each owner tenant's data with the actions, row scopes and "
        "sharing agreements (with their validity) it comes from, then the operations your roles "
        "allow. Read it instead of learning from `FORBIDDEN_FIELD` errors."
    )
    async def permissions(
        self, info: Info
    ) -> list[Annotated[PermissionEntry, strawberry.lazy("sharegraph.graph.permissions")]]:
        from sharegraph.graph.permissions import permission_entries  # it builds on Tenant

        return await permission_entries(info, info.context.plan)
