"""Tenants and partner organizations."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from sharegraph.datastore import models as m
from sharegraph.graph.enums import Role
from sharegraph.graph.relay import Node
from sharegraph.graph.types.base import node_type


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
