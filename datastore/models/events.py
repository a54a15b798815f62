"""The change log / outbox, and the append-only audit table."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, FetchedValue, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sharegraph.datastore.base import Base, utcnow
from sharegraph.datastore.enums import EventType, db_enum
from sharegraph.datastore.types import JSONType

# An ordered position for consumers; SQLite only auto-increments "INTEGER PRIMARY KEY".
BigIntPk = BigInteger().with_variant(Integer(), "sqlite")


class Event(Base):
    """One row per committed write, in the same transaction as the write."""

    __tablename__ = "events"

    position: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    event_type: Mapped[EventType] = mapped_column(db_enum(EventType, "event_type"))
    record_type: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[uuid.UUID]
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    record_version: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    # PostgreSQL: the writing transaction's id, set by the database (commit-order reads, see
    # datastore/relay.py); empty on SQLite, where position order is commit order.
    xid: Mapped[int | None] = mapped_column(BigInteger, server_default=FetchedValue())

    __table_args__ = (
        Index(None, "record_type", "record_id"),
        Index("ix_events_xid_position", "xid", "position"),
        Index("ix_events_occurred_at", "occurred_at"),
    )


class AuditEvent(Base):
    """Append-only: triggers refuse UPDATE and DELETE on both backends."""

    __tablename__ = "audit_events"

    position: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    principal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    action: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(255))
    record_type: Mapped[str | None] = mapped_column(String(64))
    record_ids: Mapped[list[str] | None] = mapped_column(JSONType)
    coordinates: Mapped[list[str] | None] = mapped_column(JSONType)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
