"""Contact forms, contact records and clients."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sharegraph.datastore.base import Base, TenantOwned, Timestamps, UUIDPrimaryKey
from sharegraph.datastore.enums import Channel, FieldType, RiskLevel, Sensitivity, db_enum
from sharegraph.datastore.types import JSONType, name_type


class ContactForm(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    __tablename__ = "contact_forms"

    name: Mapped[str] = mapped_column(name_type())
    description: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)


class ContactFormVersion(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    __tablename__ = "contact_form_versions"

    form_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_forms.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("form_id", "version"),)


class FormField(UUIDPrimaryKey, TenantOwned, Base):
    __tablename__ = "form_fields"

    form_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_form_versions.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(255))
    type: Mapped[FieldType] = mapped_column(db_enum(FieldType, "field_type"))
    options: Mapped[list[str] | None] = mapped_column(JSONType)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    sensitivity: Mapped[Sensitivity] = mapped_column(
        db_enum(Sensitivity, "sensitivity"), default=Sensitivity.INTERNAL
    )
    position: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("form_version_id", "key"),)


class Client(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    __tablename__ = "clients"

    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    date_of_birth: Mapped[date | None]
    postal_code: Mapped[str | None] = mapped_column(String(32))
    county: Mapped[str | None] = mapped_column(String(255))
    preferred_language: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)


class ContactRecord(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    """One interaction (iCarol "call report") on a channel, documented on a form version."""

    __tablename__ = "contact_records"

    form_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contact_form_versions.id"), index=True
    )
    channel: Mapped[Channel] = mapped_column(db_enum(Channel, "channel"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    worker_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"), index=True)
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id"), index=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    narrative: Mapped[str | None] = mapped_column(Text)
    risk_level: Mapped[RiskLevel | None] = mapped_column(db_enum(RiskLevel, "risk_level"))
    caller_postal_code: Mapped[str | None] = mapped_column(String(32))
    caller_county: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index(None, "tenant_id", "started_at", "id"),
        Index(None, "tenant_id", "updated_at", "id"),
    )


class ContactRecordNeed(UUIDPrimaryKey, TenantOwned, Base):
    """A need coded with a taxonomy term (the term may live in another tenant's directory)."""

    __tablename__ = "contact_record_needs"

    contact_record_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_records.id", ondelete="CASCADE"), index=True
    )
    taxonomy_term_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("taxonomy_terms.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("contact_record_id", "taxonomy_term_id"),)
