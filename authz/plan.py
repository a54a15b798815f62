"""The access plan: the one object that decides which rows and fields a request may touch.

Every resolver and every datastore query takes the request's plan; nothing reads or writes a
tenant-owned table without asking it for a row filter first. The plan is data (sets of tenant
ids per kind of record and action), compiled once per request, so it can be inspected, cached
and tested apart from GraphQL.

Foundation rules (the sharing-policy issue replaces how the plan is computed, not who consults
it): a tenant's principals read and write their own tenant's rows; the resource directory of
every tenant is readable by every authenticated principal; partner organizations' users see
nothing but the shared directory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, false, true

from ..datastore.base import Base
from ..datastore.models import (
    Address,
    Attribute,
    Language,
    Location,
    Organization,
    PartnerOrganization,
    Phone,
    Program,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    Taxonomy,
    TaxonomyTerm,
    Tenant,
    Unit,
)
from ..errors import Forbidden, NotFound
from .principal import Principal


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    EXPORT = "export"
    SUBSCRIBE = "subscribe"


DIRECTORY_MODELS: frozenset[type[Base]] = frozenset(
    {
        Organization,
        Program,
        Service,
        Location,
        ServiceAtLocation,
        Address,
        Phone,
        Schedule,
        Taxonomy,
        TaxonomyTerm,
        Attribute,
        Language,
        ServiceArea,
        Unit,
        ServiceCapacity,
    }
)


# Who is in the network (tenant and partner names) is visible to every member of it.
NETWORK_MODELS: frozenset[type[Base]] = frozenset({Tenant, PartnerOrganization})


class Everyone:
    """Marker for "every tenant" (no tenant restriction)."""

    def __repr__(self) -> str:
        return "ALL"


ALL = Everyone()
TenantSet = frozenset[uuid.UUID] | Everyone


@dataclass(frozen=True)
class AccessPlan:
    principal: Principal
    # (kind, action) -> tenants whose rows that action may touch; kind is "directory"/"records".
    tenants: dict[tuple[str, Action], TenantSet] = field(default_factory=dict)
    denied_coordinates: frozenset[str] = frozenset()

    # -- rows ---------------------------------------------------------------------------------
    @staticmethod
    def kind_of(model: type[Base]) -> str:
        return "directory" if model in DIRECTORY_MODELS else "records"

    def tenant_set(self, model: type[Base], action: Action = Action.READ) -> TenantSet:
        return self.tenants.get((self.kind_of(model), action), frozenset())

    def row_filter(self, model: type[Any], action: Action = Action.READ) -> ColumnElement[bool]:
        """The SQL predicate limiting ``model`` rows to those this plan allows for ``action``."""
        if model in NETWORK_MODELS:
            return true() if action is Action.READ else false()
        allowed = self.tenant_set(model, action)
        if isinstance(allowed, Everyone):
            return true()
        if not allowed:
            return false()
        column = model.tenant_id
        if len(allowed) == 1:
            return column == next(iter(allowed))  # type: ignore[no-any-return]
        return column.in_(sorted(allowed))  # type: ignore[no-any-return]

    def allows_row(
        self, model: type[Base], tenant_id: uuid.UUID, action: Action = Action.READ
    ) -> bool:
        """The Python twin of :meth:`row_filter`, for rows already in hand."""
        if model in NETWORK_MODELS:
            return action is Action.READ
        allowed = self.tenant_set(model, action)
        return isinstance(allowed, Everyone) or tenant_id in allowed

    def require_write(self, model: type[Base], tenant_id: uuid.UUID) -> None:
        """Writes outside the plan's rows look like missing rows (``NOT_FOUND``)."""
        if not self.allows_row(model, tenant_id, Action.READ):
            raise NotFound(f"no such {model.__name__}")
        if not self.allows_row(model, tenant_id, Action.WRITE):
            raise Forbidden(f"you may not change this {model.__name__}")

    def writable_tenants(self, model: type[Base]) -> TenantSet:
        return self.tenant_set(model, Action.WRITE)

    # -- fields -------------------------------------------------------------------------------
    def can_read_field(self, coordinate: str) -> bool:
        return coordinate not in self.denied_coordinates


def compile_plan(principal: Principal, tenant_ids: Iterable[uuid.UUID] = ()) -> AccessPlan:
    """Foundation rules; see the module docstring."""
    del tenant_ids  # the sharing-policy compiler uses the list of known tenants
    own: TenantSet = frozenset({principal.tenant_id}) if principal.tenant_id else frozenset()
    tenants: dict[tuple[str, Action], TenantSet] = {
        ("directory", Action.READ): ALL,
        ("directory", Action.EXPORT): ALL,
        ("directory", Action.WRITE): own,
        ("records", Action.READ): own,
        ("records", Action.WRITE): own,
        ("records", Action.EXPORT): own,
        ("records", Action.SUBSCRIBE): own,
    }
    return AccessPlan(principal=principal, tenants=tenants)
