"""Filter and sort inputs, and their translation to datastore filters."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import func

from ..datastore import models as m
from ..datastore.queries.contacts import ContactRecordFilter
from ..datastore.queries.directory import DirectoryFilter, Near
from ..datastore.queries.pagination import SortKey
from .enums import Channel, RiskLevel
from .relay import from_global_id


def decode_ids(ids: list[strawberry.ID] | None, expected: str) -> tuple[uuid.UUID, ...]:
    return tuple(from_global_id(i, expected=expected)[1] for i in ids or [])


def decode_id(global_id: strawberry.ID | None, expected: str) -> uuid.UUID | None:
    return None if global_id is None else from_global_id(global_id, expected=expected)[1]


@strawberry.input
class NearInput:
    latitude: float
    longitude: float
    radius_km: float


@strawberry.input(description="Filters for directory lists; all given conditions must hold.")
class DirectoryFilterInput:
    search: str | None = strawberry.field(
        default=None,
        description="Words that must all match name, alternate name or description "
        "(case-insensitive; each word also matches as a prefix).",
    )
    taxonomy_term_ids: list[strawberry.ID] | None = None
    organization_id: strawberry.ID | None = None
    service_id: strawberry.ID | None = None
    location_id: strawberry.ID | None = None
    taxonomy_id: strawberry.ID | None = None
    parent_id: strawberry.ID | None = strawberry.field(
        default=None, description="Taxonomy terms only."
    )
    near: NearInput | None = None
    modified_after: datetime | None = None
    tenant_ids: list[strawberry.ID] | None = None

    def to_filter(self) -> DirectoryFilter:
        near = self.near
        return DirectoryFilter(
            search=self.search,
            taxonomy_term_ids=decode_ids(self.taxonomy_term_ids, "TaxonomyTerm"),
            organization_id=decode_id(self.organization_id, "Organization"),
            service_id=decode_id(self.service_id, "Service"),
            location_id=decode_id(self.location_id, "Location"),
            taxonomy_id=decode_id(self.taxonomy_id, "Taxonomy"),
            near=Near(near.latitude, near.longitude, near.radius_km) if near else None,
            modified_after=self.modified_after,
            tenant_ids=decode_ids(self.tenant_ids, "Tenant"),
            extra={"parent_id": decode_id(self.parent_id, "TaxonomyTerm")}
            if self.parent_id
            else {},
        )


@strawberry.enum
class DirectorySort(Enum):
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    UPDATED_AT_ASC = "UPDATED_AT_ASC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"


def directory_sort_keys(model: Any, sort: DirectorySort) -> list[SortKey]:
    descending = sort.name.endswith("_DESC")
    if sort.name.startswith("NAME"):
        # Keyset pagination needs non-null keys; service-at-locations have no name of their own.
        column: Any = getattr(model, "name", model.created_at)
        if model is m.Location:
            column = func.coalesce(m.Location.name, "")
    else:
        column = model.updated_at
    return [SortKey(column, descending), SortKey(model.id, descending)]


@strawberry.input
class ContactRecordFilterInput:
    tenant_ids: list[strawberry.ID] | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    updated_after: datetime | None = None
    channels: list[Channel] | None = None
    risk_levels: list[RiskLevel] | None = None
    client_id: strawberry.ID | None = None
    need_term_ids: list[strawberry.ID] | None = None
    caller_county: str | None = None

    def to_filter(self) -> ContactRecordFilter:
        return ContactRecordFilter(
            tenant_ids=decode_ids(self.tenant_ids, "Tenant"),
            started_after=self.started_after,
            started_before=self.started_before,
            updated_after=self.updated_after,
            channels=tuple(self.channels or ()),
            risk_levels=tuple(self.risk_levels or ()),
            client_id=decode_id(self.client_id, "Client"),
            need_term_ids=decode_ids(self.need_term_ids, "TaxonomyTerm"),
            caller_county=self.caller_county,
        )


@strawberry.enum
class ContactRecordSort(Enum):
    STARTED_AT_DESC = "STARTED_AT_DESC"
    STARTED_AT_ASC = "STARTED_AT_ASC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"
    UPDATED_AT_ASC = "UPDATED_AT_ASC"


def contact_record_sort_keys(sort: ContactRecordSort) -> list[SortKey]:
    descending = sort.name.endswith("_DESC")
    column = (
        m.ContactRecord.started_at
        if sort.name.startswith("STARTED")
        else m.ContactRecord.updated_at
    )
    return [SortKey(column, descending), SortKey(m.ContactRecord.id, descending)]
