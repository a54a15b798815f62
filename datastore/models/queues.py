"""Referral queues (iCarol ReferralQ): per-queue statuses mapped to the canonical lifecycle."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sharegraph.datastore.base import Base, TenantOwned, Timestamps, UUIDPrimaryKey, utcnow
from sharegraph.datastore.enums import ReferralStatus, db_enum
from sharegraph.datastore.types import name_type


class ReferralQueue(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    __tablename__ = "referral_queues"

    name: Mapped[str] = mapped_column(name_type())
    description: Mapped[str | None] = mapped_column(Text)
    need_term_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("taxonomy_terms.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)


class QueueStatus(UUIDPrimaryKey, TenantOwned, Base):
    """A queue's own status, mapped to a canonical referral status."""

    __tablename__ = "queue_statuses"

    queue_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referral_queues.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(255))
    canonical_status: Mapped[ReferralStatus] = mapped_column(
        db_enum(ReferralStatus, "referral_status")
    )
    position: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("queue_id", "key"),)


class QueueProgram(UUIDPrimaryKey, TenantOwned, Base):
    """A program (internal or a partner's) that serves a queue."""

    __tablename__ = "queue_programs"

    queue_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referral_queues.id", ondelete="CASCADE"), index=True
    )
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"), index=True)

    __table_args__ = (UniqueConstraint("queue_id", "program_id"),)


class QueueForm(UUIDPrimaryKey, TenantOwned, Base):
    __tablename__ = "queue_forms"

    queue_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referral_queues.id", ondelete="CASCADE"), index=True
    )
    form_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact_forms.id"), index=True)

    __table_args__ = (UniqueConstraint("queue_id", "form_id"),)


class QueueEntry(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    __tablename__ = "queue_entries"

    queue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referral_queues.id"), index=True)
    contact_record_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contact_records.id"), index=True
    )
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id"), index=True)
    status_key: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    assigned_program_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("programs.id"), index=True
    )
    assigned_at: Mapped[datetime | None]
    # The referral an assignment made, and the capacity slot it holds until released.
    referral_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("referrals.id"), index=True)
    capacity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("service_capacities.id"))
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]
    removal_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (Index(None, "queue_id", "status_key", "priority"),)
