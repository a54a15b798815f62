"""Who is calling: the authenticated principal, independent of HTTP or GraphQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sharegraph.datastore.enums import PrincipalKind, Role


@dataclass(frozen=True)
class RoleGrant:
    role: Role
    tenant_id: uuid.UUID | None
    partner_organization_id: uuid.UUID | None


@dataclass(frozen=True)
class Principal:
    id: uuid.UUID
    name: str
    kind: PrincipalKind
    tenant_id: uuid.UUID | None
    partner_organization_id: uuid.UUID | None
    roles: frozenset[RoleGrant]

    def has_role(self, role: Role) -> bool:
        return any(grant.role is role for grant in self.roles)

    def administers(self, tenant_id: uuid.UUID | None) -> bool:
        """Whether the principal is a tenant admin of ``tenant_id``."""
        return tenant_id is not None and any(
            grant.role is Role.TENANT_ADMIN and grant.tenant_id == tenant_id for grant in self.roles
        )

    @property
    def is_partner(self) -> bool:
        return self.partner_organization_id is not None
