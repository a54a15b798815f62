"""Filter and sort inputs, and their translation to datastore filters."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import func

from sharegraph.datastore import models as m
from sharegraph.graph.enums import Channel, RiskLevel
from sharegraph.graph.relay import from_global_id
from sharegraph.queries.contacts import ClientFilter, ContactRecordFilter
from sharegraph.queries.directory import DirectoryFilter, Near
from sharegraph.queries.pagination import SortKey


def decode_ids(ids: list[strawberry.ID] | None, expected: str) -> tuple[uuid.UUID, ...]:
    return tuple(from_global_id(i, expected=expected)[1] for i in ids or [])


def decode_id(global_id: strawberry.ID | None, expected: str) -> uuid.UUID | None:
    return None if global_id is None else from_global_id(global_id, expected=expected)[1]


def require_id(global_id: strawberry.ID, expected: str) -> uuid.UUID:
    """The row id in a required global id (``BAD_USER_INPUT`` when it names another type)."""
    return from_global_id(global_id, expected=expected)[1]


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

    def used_fields(self, type_name: str) -> list[str]:
        """The fields of ``type_name`` this filter reads (searched text is handled apart)."""
        used = {
            "taxonomyTerms": bool(self.taxonomy_term_ids) and type_name != "Location",
            "organization": self.organization_id is not None,
            "service": self.service_id is not None,
            "location": self.location_id is not None,
            "taxonomy": self.taxonomy_id is not None,
            "parent": self.parent_id is not None,
            "updatedAt": self.modified_after is not None,
            "tenant": bool(self.tenant_ids),
        }
        if self.near is not None:
            used[
                {"Service": "locations", "ServiceAtLocation": "location"}.get(type_name, "latitude")
            ] = True
        return [name for name, on in used.items() if on]

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


def directory_sort_field(model: Any, sort: DirectorySort) -> str:
    if sort.name.startswith("NAME"):
        return "name" if hasattr(model, "name") else "updatedAt"
    return "updatedAt"


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
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Only these contact records (global ids); ids of records you cannot see "
        "match nothing, and so does an empty list.",
    )
    tenant_ids: list[strawberry.ID] | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    updated_after: datetime | None = None
    channels: list[Channel] | None = None
    risk_levels: list[RiskLevel] | None = None
    client_id: strawberry.ID | None = None
    need_term_ids: list[strawberry.ID] | None = None
    caller_county: str | None = None

    def used_fields(self) -> list[str]:
        # `ids` is not listed: it filters on identity, which is never withheld on a visible row.
        used = {
            "tenant": bool(self.tenant_ids),
            "startedAt": self.started_after is not None or self.started_before is not None,
            "updatedAt": self.updated_after is not None,
            "channel": bool(self.channels),
            "riskLevel": bool(self.risk_levels),
            "client": self.client_id is not None,
            "needs": bool(self.need_term_ids),
            "callerCounty": self.caller_county is not None,
        }
        return [name for name, on in used.items() if on]

    def to_filter(self) -> ContactRecordFilter:
        return ContactRecordFilter(
            ids=None if self.ids is None else decode_ids(self.ids, "ContactRecord"),
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


def contact_record_sort_field(sort: ContactRecordSort) -> str:
    return "startedAt" if sort.name.startswith("STARTED") else "updatedAt"


@strawberry.input
class ClientFilterInput:
    tenant_ids: list[strawberry.ID] | None = None
    last_name: str | None = None
    date_of_birth: date | None = None
    phone: str | None = None
    county: str | None = None
    postal_code: str | None = None

    def used_fields(self) -> list[str]:
        used = {
            "tenant": bool(self.tenant_ids),
            "lastName": self.last_name is not None,
            "dateOfBirth": self.date_of_birth is not None,
            "phone": self.phone is not None,
            "county": self.county is not None,
            "postalCode": self.postal_code is not None,
        }
        return [name for name, on in used.items() if on]

    def to_filter(self) -> ClientFilter:
        return ClientFilter(
            tenant_ids=decode_ids(self.tenant_ids, "Tenant"),
            last_name=self.last_name,
            date_of_birth=self.date_of_birth,
            phone=self.phone,
            county=self.county,
            postal_code=self.postal_code,
        )


def contact_record_sort_keys(sort: ContactRecordSort) -> list[SortKey]:
    descending = sort.name.endswith("_DESC")
    column = (
        m.ContactRecord.started_at
        if sort.name.startswith("STARTED")
        else m.ContactRecord.updated_at
    )
    return [SortKey(column, descending), SortKey(m.ContactRecord.id, descending)]
