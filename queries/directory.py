"""Resource directory lists: filters, search and distance, always within the plan's rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select

from sharegraph.authz.scopes import Grantee, Scope
from sharegraph.authz.scopes import sql as scope_sql
from sharegraph.datastore.models import (
    Attribute,
    Location,
    Organization,
    Service,
    ServiceAtLocation,
    TaxonomyTerm,
)
from sharegraph.queries import geo, search

if TYPE_CHECKING:
    from sharegraph.authz.plan import AccessPlan


@dataclass(frozen=True)
class Near:
    latitude: float
    longitude: float
    radius_km: float


@dataclass(frozen=True)
class DirectoryFilter:
    search: str | None = None
    # indexed columns the caller may search (None: all of them)
    search_columns: tuple[str, ...] | None = None
    taxonomy_term_ids: tuple[uuid.UUID, ...] = ()
    organization_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    taxonomy_id: uuid.UUID | None = None
    near: Near | None = None
    modified_after: datetime | None = None
    tenant_ids: tuple[uuid.UUID, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    # only records of this inventory (the caller may see it: checked by the caller)
    inventory_id: uuid.UUID | None = None


def _tagged(
    plan: AccessPlan, entity: str, link_id: Any, term_ids: tuple[uuid.UUID, ...]
) -> ColumnElement[bool]:
    return exists(
        select(Attribute.id).where(
            Attribute.link_entity == entity,
            Attribute.link_id == link_id,
            Attribute.taxonomy_term_id.in_(term_ids),
            plan.row_filter(Attribute),
        )
    )


_LINKED_ENTITIES = (
    ("organization", Organization),
    ("service", Service),
    ("location", Location),
    ("service_at_location", ServiceAtLocation),
)


def in_inventory(plan: AccessPlan, model: Any, inventory_id: uuid.UUID) -> ColumnElement[bool]:
    """Records the inventory lists, read as its ``inventory:<id>`` row scope reads it (a service
    is in it when it or its organization is); taxonomy terms, when a listed record uses them."""
    if model is TaxonomyTerm:
        linked = [
            and_(
                Attribute.link_entity == entity,
                Attribute.link_id.in_(
                    select(linked_model.id).where(
                        in_inventory(plan, linked_model, inventory_id),
                        plan.row_filter(linked_model),
                    )
                ),
            )
            for entity, linked_model in _LINKED_ENTITIES
        ]
        return TaxonomyTerm.id.in_(
            select(Attribute.taxonomy_term_id).where(or_(*linked), plan.row_filter(Attribute))
        )
    return scope_sql(model, Scope("inventory", str(inventory_id)), Grantee())


def _locations_near(plan: AccessPlan, near: Near, dialect: str) -> Select[Any]:
    return select(Location.id).where(
        plan.row_filter(Location),
        geo.within(
            Location.latitude,
            Location.longitude,
            near.latitude,
            near.longitude,
            near.radius_km,
            dialect,
        ),
    )


def _common(plan: AccessPlan, model: Any, flt: DirectoryFilter, dialect: str) -> Select[Any]:
    statement = select(model).where(plan.row_filter(model))
    if flt.search:
        statement = statement.where(search.matches(model, flt.search, dialect, flt.search_columns))
    if flt.modified_after is not None:
        statement = statement.where(model.updated_at > flt.modified_after)
    if flt.tenant_ids:
        statement = statement.where(model.tenant_id.in_(flt.tenant_ids))
    if flt.inventory_id is not None:
        statement = statement.where(in_inventory(plan, model, flt.inventory_id))
    return statement


def organizations(plan: AccessPlan, flt: DirectoryFilter, dialect: str) -> Select[Any]:
    statement = _common(plan, Organization, flt, dialect)
    if flt.taxonomy_term_ids:
        statement = statement.where(
            _tagged(plan, "organization", Organization.id, flt.taxonomy_term_ids)
        )
    return statement


def services(plan: AccessPlan, flt: DirectoryFilter, dialect: str) -> Select[Any]:
    statement = _common(plan, Service, flt, dialect)
    if flt.organization_id:
        statement = statement.where(Service.organization_id == flt.organization_id)
    if flt.taxonomy_term_ids:
        statement = statement.where(_tagged(plan, "service", Service.id, flt.taxonomy_term_ids))
    if flt.near:
        statement = statement.where(
            exists(
                select(ServiceAtLocation.id).where(
                    ServiceAtLocation.service_id == Service.id,
                    plan.row_filter(ServiceAtLocation),
                    ServiceAtLocation.location_id.in_(_locations_near(plan, flt.near, dialect)),
                )
            )
        )
    return statement


def locations(plan: AccessPlan, flt: DirectoryFilter, dialect: str) -> Select[Any]:
    statement = _common(plan, Location, flt, dialect)
    if flt.organization_id:
        statement = statement.where(Location.organization_id == flt.organization_id)
    if flt.near:
        statement = statement.where(
            geo.within(
                Location.latitude,
                Location.longitude,
                flt.near.latitude,
                flt.near.longitude,
                flt.near.radius_km,
                dialect,
            )
        )
    if flt.taxonomy_term_ids:
        statement = statement.where(_tagged(plan, "location", Location.id, flt.taxonomy_term_ids))
    return statement


def service_at_locations(plan: AccessPlan, flt: DirectoryFilter, dialect: str) -> Select[Any]:
    statement = select(ServiceAtLocation).where(plan.row_filter(ServiceAtLocation))
    if flt.modified_after is not None:
        statement = statement.where(ServiceAtLocation.updated_at > flt.modified_after)
    if flt.tenant_ids:
        statement = statement.where(ServiceAtLocation.tenant_id.in_(flt.tenant_ids))
    if flt.inventory_id is not None:
        statement = statement.where(in_inventory(plan, ServiceAtLocation, flt.inventory_id))
    if flt.service_id:
        statement = statement.where(ServiceAtLocation.service_id == flt.service_id)
    if flt.location_id:
        statement = statement.where(ServiceAtLocation.location_id == flt.location_id)
    if flt.search or flt.organization_id or flt.taxonomy_term_ids:
        # Service-level filters apply through the service delivered at the location.
        service_filter = DirectoryFilter(
            search=flt.search,
            search_columns=flt.search_columns,
            organization_id=flt.organization_id,
            taxonomy_term_ids=flt.taxonomy_term_ids,
        )
        matching = services(plan, service_filter, dialect).with_only_columns(Service.id)
        statement = statement.where(ServiceAtLocation.service_id.in_(matching))
    if flt.near:
        statement = statement.where(
            ServiceAtLocation.location_id.in_(_locations_near(plan, flt.near, dialect))
        )
    return statement


def taxonomy_terms(plan: AccessPlan, flt: DirectoryFilter, dialect: str) -> Select[Any]:
    statement = _common(plan, TaxonomyTerm, flt, dialect)
    if flt.taxonomy_id:
        statement = statement.where(TaxonomyTerm.taxonomy_id == flt.taxonomy_id)
    parent = flt.extra.get("parent_id")
    if parent is not None:
        statement = statement.where(TaxonomyTerm.parent_id == parent)
    return statement
