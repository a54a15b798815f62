"""Filter and sort inputs, and their translation to datastore filters."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import func

from sharegraph.datastore import models as m
from sharegraph.graph.enums import Channel, RiskLevel, describe_enum
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


@strawberry.input(description=("A circle on the map: a point (WGS 84) and a radius."))
class NearInput:
    latitude: float = strawberry.field(description="Degrees north, -90 to 90.")
    longitude: float = strawberry.field(description="Degrees east, -180 to 180.")
    radius_km: float = strawberry.field(description="The radius in kilometres (more than 0).")


@strawberry.input(description="Filters for directory lists; all given conditions must hold.")
class DirectoryFilterInput:
    search: str | None = strawberry.field(
        default=None,
        description="Words that must all match name, alternate name or description "
        "(case-insensitive; each word also matches as a prefix).",
    )
    taxonomy_term_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description=("Records linked to any of these taxonomy terms (global ids).")
    )
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="Records of this organization (global id)."
    )
    service_id: strawberry.ID | None = strawberry.field(
        default=None, description="Records of this service (global id)."
    )
    location_id: strawberry.ID | None = strawberry.field(
        default=None, description="Records at this location (global id)."
    )
    taxonomy_id: strawberry.ID | None = strawberry.field(
        default=None, description=("Taxonomy terms only: terms of this taxonomy (global id).")
    )
    parent_id: strawberry.ID | None = strawberry.field(
        default=None, description="Taxonomy terms only."
    )
    near: NearInput | None = strawberry.field(
        default=None,
        description=("Records within a distance of a point (locations, and services at them)."),
    )
    modified_after: datetime | None = strawberry.field(
        default=None, description=("Records changed after this instant (ISO 8601 with offset).")
    )
    tenant_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=("Owner tenants' global ids; left out: every directory you may see."),
    )

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


describe_enum(
    DirectorySort,
    ("The order of directory records (ties broken by id)."),
    NAME_ASC="By name, A to Z.",
    NAME_DESC="By name, Z to A.",
    UPDATED_AT_ASC=("Least recently changed first (for incremental sync)."),
    UPDATED_AT_DESC="Most recently changed first.",
)


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


@strawberry.input(
    description=(
        "Filters for contact records; all given conditions must hold,"
        " and each needs read access to the field it filters on."
    )
)
class ContactRecordFilterInput:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Only these contact records (global ids); ids of records you cannot see "
        "match nothing, and so does an empty list.",
    )
    tenant_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=("Owner tenants' global ids; left out: every owner whose records you may see."),
    )
    started_after: datetime | None = strawberry.field(
        default=None,
        description=("Records started at or after this instant (ISO 8601 with offset)."),
    )
    started_before: datetime | None = strawberry.field(
        default=None, description="Records started before this instant."
    )
    updated_after: datetime | None = strawberry.field(
        default=None, description=("Records changed after this instant (for incremental sync).")
    )
    channels: list[Channel] | None = strawberry.field(
        default=None, description="Records that came in on any of these channels."
    )
    risk_levels: list[RiskLevel] | None = strawberry.field(
        default=None, description="Records assessed at any of these risk levels."
    )
    client_id: strawberry.ID | None = strawberry.field(
        default=None, description="Records about this client (its global id)."
    )
    need_term_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description=("Records with any of these needs (taxonomy term global ids).")
    )
    caller_county: str | None = strawberry.field(
        default=None, description="Records whose caller's county is exactly this."
    )

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


describe_enum(
    ContactRecordSort,
    "The order of contact records (ties broken by id).",
    STARTED_AT_DESC="Newest contact first.",
    STARTED_AT_ASC="Oldest contact first.",
    UPDATED_AT_DESC="Most recently changed first.",
    UPDATED_AT_ASC=("Least recently changed first (for incremental sync)."),
)


def contact_record_sort_field(sort: ContactRecordSort) -> str:
    return "startedAt" if sort.name.startswith("STARTED") else "updatedAt"


@strawberry.input(
    description=(
        "Filters for clients; all given conditions must hold. "
        "Values match exactly, and each condition needs read access to its field."
    )
)
class ClientFilterInput:
    tenant_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=("Owner tenants' global ids; left out: every owner whose clients you may see."),
    )
    last_name: str | None = strawberry.field(
        default=None, description="The last name, exactly as stored."
    )
    date_of_birth: date | None = strawberry.field(
        default=None, description="The date of birth (`YYYY-MM-DD`)."
    )
    phone: str | None = strawberry.field(
        default=None, description="The phone number, exactly as stored."
    )
    county: str | None = strawberry.field(
        default=None, description="The county, exactly as stored."
    )
    postal_code: str | None = strawberry.field(default=None, description="The postal code.")

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
