"""Tenants, partner organizations and the viewer."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from sharegraph.datastore import models as m
from sharegraph.graph.context import Info
from sharegraph.graph.enums import PrincipalKind, Role
from sharegraph.graph.relay import Node
from sharegraph.graph.types.base import node_type

if TYPE_CHECKING:
    from sharegraph.graph.permissions import PermissionEntry


@node_type(m.Tenant)
@strawberry.type
class Tenant(Node):
    row: strawberry.Private[Any]
    uuid: uuid.UUID
    name: str
    time_zone: str


@node_type(m.PartnerOrganization)
@strawberry.type
class PartnerOrganization(Node):
    row: strawberry.Private[Any]
    uuid: uuid.UUID
    name: str


@strawberry.type
class RoleGrant:
    role: Role
    tenant: Tenant | None
    partner_organization: PartnerOrganization | None


@strawberry.type(description="Who is calling.")
class Viewer:
    id: strawberry.ID
    uuid: uuid.UUID
    name: str
    kind: PrincipalKind
    tenant: Tenant | None
    partner_organization: PartnerOrganization | None
    roles: list[RoleGrant]

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
