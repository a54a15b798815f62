"""The resource directory, modelled on Open Referral HSDS 3.0 (+ 3.1 capacity)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sharegraph.datastore.base import (
    Base,
    TenantOwned,
    Timestamps,
    UUIDPrimaryKey,
    Versioned,
    partial_unique,
    utcnow,
)
from sharegraph.datastore.enums import (
    AddressType,
    CapacityStatus,
    LocationType,
    ServiceStatus,
    db_enum,
)
from sharegraph.datastore.types import name_type


class SourceTracked:
    """Imported records match on (tenant, source system, source key); see the import issue."""

    source_system: Mapped[str | None] = mapped_column(String(255))
    source_key: Mapped[str | None] = mapped_column(String(255))


def _source_unique(table: str) -> UniqueConstraint:
    return UniqueConstraint("tenant_id", "source_system", "source_key", name=f"uq_{table}_source")


class Organization(UUIDPrimaryKey, TenantOwned, Versioned, SourceTracked, Timestamps, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(name_type())
    alternate_name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(320))
    website: Mapped[str | None] = mapped_column(String(2048))
    tax_status: Mapped[str | None] = mapped_column(String(255))
    tax_id: Mapped[str | None] = mapped_column(String(64))
    year_incorporated: Mapped[int | None] = mapped_column(Integer)
    legal_status: Mapped[str | None] = mapped_column(String(255))
    logo: Mapped[str | None] = mapped_column(String(2048))
    uri: Mapped[str | None] = mapped_column(String(2048))
    parent_organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id"), index=True
    )
    # The partner organization (portal sign-in) that operates this directory organization.
    partner_organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partner_organizations.id"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (_source_unique("organizations"), Index(None, "tenant_id", "name"))


class Program(UUIDPrimaryKey, TenantOwned, Versioned, SourceTracked, Timestamps, Base):
    __tablename__ = "programs"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(name_type())
    alternate_name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (_source_unique("programs"),)


class Service(UUIDPrimaryKey, TenantOwned, Versioned, SourceTracked, Timestamps, Base):
    __tablename__ = "services"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(name_type())
    alternate_name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2048))
    email: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[ServiceStatus] = mapped_column(
        db_enum(ServiceStatus, "service_status"), default=ServiceStatus.ACTIVE
    )
    interpretation_services: Mapped[str | None] = mapped_column(Text)
    application_process: Mapped[str | None] = mapped_column(Text)
    fees_description: Mapped[str | None] = mapped_column(Text)
    eligibility_description: Mapped[str | None] = mapped_column(Text)
    minimum_age: Mapped[int | None] = mapped_column(Integer)
    maximum_age: Mapped[int | None] = mapped_column(Integer)
    alert: Mapped[str | None] = mapped_column(Text)
    wait_time: Mapped[str | None] = mapped_column(String(255))
    assured_date: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (_source_unique("services"), Index(None, "tenant_id", "name"))


class Location(UUIDPrimaryKey, TenantOwned, Versioned, SourceTracked, Timestamps, Base):
    __tablename__ = "locations"

    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id"), index=True
    )
    location_type: Mapped[LocationType] = mapped_column(
        db_enum(LocationType, "location_type"), default=LocationType.PHYSICAL
    )
    name: Mapped[str | None] = mapped_column(name_type())
    alternate_name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    transportation: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2048))
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6, asdecimal=False))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6, asdecimal=False))
    external_identifier: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        _source_unique("locations"),
        Index(None, "latitude", "longitude"),
        CheckConstraint("latitude IS NULL OR (latitude BETWEEN -90 AND 90)", name="latitude"),
        CheckConstraint("longitude IS NULL OR (longitude BETWEEN -180 AND 180)", name="longitude"),
    )


class ServiceAtLocation(UUIDPrimaryKey, TenantOwned, Versioned, SourceTracked, Timestamps, Base):
    """What a referral points at: one service delivered at one location."""

    __tablename__ = "service_at_locations"

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"), index=True)
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        _source_unique("service_at_locations"),
        UniqueConstraint("service_id", "location_id"),
    )


class Address(UUIDPrimaryKey, TenantOwned, Versioned, Timestamps, Base):
    __tablename__ = "addresses"

    location_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), index=True
    )
    attention: Mapped[str | None] = mapped_column(String(255))
    address_1: Mapped[str] = mapped_column(String(255))
    address_2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str] = mapped_column(String(255))
    region: Mapped[str | None] = mapped_column(String(255))
    state_province: Mapped[str] = mapped_column(String(255))
    postal_code: Mapped[str] = mapped_column(String(32), index=True)
    country: Mapped[str] = mapped_column(String(2))
    address_type: Mapped[AddressType] = mapped_column(
        db_enum(AddressType, "address_type"), default=AddressType.PHYSICAL
    )


class Phone(UUIDPrimaryKey, TenantOwned, Versioned, Timestamps, Base):
    __tablename__ = "phones"

    location_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), index=True
    )
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    service_at_location_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("service_at_locations.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(64))
    extension: Mapped[str | None] = mapped_column(String(32))
    type: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)


class Schedule(UUIDPrimaryKey, TenantOwned, Versioned, Timestamps, Base):
    """HSDS schedule: RFC 5545 recurrence parts plus human-readable notes."""

    __tablename__ = "schedules"

    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    location_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), index=True
    )
    service_at_location_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("service_at_locations.id", ondelete="CASCADE"), index=True
    )
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    dtstart: Mapped[date | None] = mapped_column(Date)
    timezone: Mapped[str | None] = mapped_column(String(64))
    until: Mapped[date | None] = mapped_column(Date)
    count: Mapped[int | None] = mapped_column(Integer)
    wkst: Mapped[str | None] = mapped_column(String(2))
    freq: Mapped[str | None] = mapped_column(String(16))
    interval: Mapped[int | None] = mapped_column(Integer)
    byday: Mapped[str | None] = mapped_column(String(64))
    byweekno: Mapped[str | None] = mapped_column(String(64))
    bymonthday: Mapped[str | None] = mapped_column(String(64))
    byyearday: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    opens_at: Mapped[str | None] = mapped_column(String(8))
    closes_at: Mapped[str | None] = mapped_column(String(8))
    schedule_link: Mapped[str | None] = mapped_column(String(2048))
    attending_type: Mapped[str | None] = mapped_column(String(255))
    notes: Mapped[str | None] = mapped_column(Text)


class Taxonomy(UUIDPrimaryKey, TenantOwned, SourceTracked, Timestamps, Base):
    __tablename__ = "taxonomies"

    name: Mapped[str] = mapped_column(name_type())
    description: Mapped[str | None] = mapped_column(Text)
    uri: Mapped[str | None] = mapped_column(String(2048))
    version: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (_source_unique("taxonomies"),)


class TaxonomyTerm(UUIDPrimaryKey, TenantOwned, Versioned, SourceTracked, Timestamps, Base):
    __tablename__ = "taxonomy_terms"

    taxonomy_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("taxonomies.id"), index=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("taxonomy_terms.id"), index=True)
    code: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(name_type())
    description: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    term_uri: Mapped[str | None] = mapped_column(String(2048))

    __table_args__ = (
        _source_unique("taxonomy_terms"),
        UniqueConstraint("tenant_id", "taxonomy_id", "code"),
    )


class Attribute(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    """Links a taxonomy term to any directory record (HSDS ``attribute``)."""

    __tablename__ = "attributes"

    link_id: Mapped[uuid.UUID] = mapped_column(index=True)
    link_type: Mapped[str] = mapped_column(String(64))
    link_entity: Mapped[str] = mapped_column(String(64))
    taxonomy_term_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("taxonomy_terms.id"), index=True)
    value: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        UniqueConstraint("link_entity", "link_id", "taxonomy_term_id"),
        Index(None, "taxonomy_term_id", "link_entity", "link_id"),
    )


class Language(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    __tablename__ = "languages"

    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    location_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), index=True
    )
    phone_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("phones.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class ServiceArea(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    __tablename__ = "service_areas"

    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    service_at_location_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("service_at_locations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    extent: Mapped[str | None] = mapped_column(Text)
    extent_type: Mapped[str | None] = mapped_column(String(32))
    uri: Mapped[str | None] = mapped_column(String(2048))


class Unit(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    """HSDS 3.1 unit of capacity (beds, appointments, vouchers)."""

    __tablename__ = "units"

    name: Mapped[str] = mapped_column(String(255))
    scheme: Mapped[str | None] = mapped_column(String(255))
    identifier: Mapped[str | None] = mapped_column(String(255))
    uri: Mapped[str | None] = mapped_column(String(2048))

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)


class ServiceCapacity(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    """HSDS 3.1 service_capacity, for a service or a program.

    ``available`` is what the partner reports; ``reserved`` is what queue assignments have
    taken since. Free slots are ``available - reserved`` and never negative.
    """

    __tablename__ = "service_capacities"

    service_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("services.id"), index=True)
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("programs.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"))
    available: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    maximum: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[CapacityStatus] = mapped_column(
        db_enum(CapacityStatus, "capacity_status"), default=CapacityStatus.CAPACITY
    )
    description: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    updated: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        CheckConstraint("(service_id IS NULL) <> (program_id IS NULL)", name="one_target"),
        CheckConstraint("available >= 0", name="available_non_negative"),
        CheckConstraint("reserved >= 0 AND reserved <= available", name="reserved_in_range"),
        CheckConstraint("maximum IS NULL OR maximum >= 0", name="maximum_non_negative"),
        *partial_unique("service_capacities", ("unit_id",), "service_id", "program_id"),
    )


class CapacityChange(UUIDPrimaryKey, TenantOwned, Base):
    """Full capacity history: who changed what, when."""

    __tablename__ = "capacity_history"

    capacity_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("service_capacities.id", ondelete="CASCADE"), index=True
    )
    available: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer)
    maximum: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[CapacityStatus] = mapped_column(db_enum(CapacityStatus, "capacity_status"))
    note: Mapped[str | None] = mapped_column(Text)
    changed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduledCapacityChange(UUIDPrimaryKey, TenantOwned, Base):
    """Capacity a partner announced ahead ("+5 slots on Monday"); the scheduler applies it once,
    at ``apply_at``, and stamps ``applied_at`` in the same transaction."""

    __tablename__ = "scheduled_capacity_changes"

    capacity_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("service_capacities.id", ondelete="CASCADE"), index=True
    )
    apply_at: Mapped[datetime]
    # Either a change of what is available or a new absolute figure.
    available_delta: Mapped[int | None] = mapped_column(Integer)
    available: Mapped[int | None] = mapped_column(Integer)
    maximum: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[CapacityStatus | None] = mapped_column(
        db_enum(CapacityStatus, "capacity_status")
    )
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(
            "(available_delta IS NULL) OR (available IS NULL)", name="delta_or_absolute"
        ),
        Index(
            None, "apply_at", postgresql_where=text("applied_at IS NULL AND cancelled_at IS NULL")
        ),
    )


class DirectoryChange(UUIDPrimaryKey, TenantOwned, Base):
    """Field history of the resource directory, after HSDS ``metadata``: one row per changed
    field (or one per create/deactivate), with who and when."""

    __tablename__ = "directory_changes"

    resource_id: Mapped[uuid.UUID] = mapped_column(index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # create | update | deactivate | delete
    field_name: Mapped[str | None] = mapped_column(String(64))
    previous_value: Mapped[str | None] = mapped_column(Text)
    replacement_value: Mapped[str | None] = mapped_column(Text)
    changed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
