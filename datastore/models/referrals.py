"""Referrals, their status history, outcomes and follow-ups."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sharegraph.datastore.base import Base, TenantOwned, Timestamps, UUIDPrimaryKey, utcnow
from sharegraph.datastore.enums import FollowUpStatus, OutcomeCode, ReferralStatus, db_enum


class Referral(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    """A contact record referred to a service at a location or to a program."""

    __tablename__ = "referrals"

    contact_record_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_records.id"), index=True
    )
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id"), index=True)
    service_at_location_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("service_at_locations.id"), index=True
    )
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("programs.id"), index=True)
    status: Mapped[ReferralStatus] = mapped_column(
        db_enum(ReferralStatus, "referral_status"), default=ReferralStatus.DRAFT
    )
    status_reason: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(255))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        CheckConstraint(
            "service_at_location_id IS NOT NULL OR program_id IS NOT NULL", name="has_target"
        ),
        Index(None, "tenant_id", "status"),
    )


class ReferralStatusChange(UUIDPrimaryKey, TenantOwned, Base):
    __tablename__ = "referral_status_history"

    referral_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[ReferralStatus | None] = mapped_column(
        db_enum(ReferralStatus, "from_status")
    )
    to_status: Mapped[ReferralStatus] = mapped_column(db_enum(ReferralStatus, "to_status"))
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Outcome(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    __tablename__ = "outcomes"

    referral_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[OutcomeCode] = mapped_column(db_enum(OutcomeCode, "outcome_code"))
    note: Mapped[str | None] = mapped_column(Text)
    outcome_date: Mapped[date] = mapped_column(Date)
    reported_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)


class FollowUp(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    """A call-back scheduled on a contact record; may be assigned to another tenant."""

    __tablename__ = "follow_ups"

    contact_record_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_records.id", ondelete="CASCADE"), index=True
    )
    assigned_tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id"), index=True
    )
    assigned_principal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id"), index=True
    )
    due_at: Mapped[datetime]
    status: Mapped[FollowUpStatus] = mapped_column(
        db_enum(FollowUpStatus, "follow_up_status"), default=FollowUpStatus.OPEN
    )
    note: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None]
    completed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)


class ReferralNote(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    """A case note on a referral: append-only, owned by the referral's tenant (whose agreements
    decide who reads it), attributed to the principal and organization that wrote it."""

    __tablename__ = "referral_notes"

    referral_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    author_tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    author_partner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partner_organizations.id")
    )
