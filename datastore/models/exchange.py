"""Data leaving the system on request or on a schedule: export jobs, export schedules and their
runs, and saved email templates with the sends made from them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sharegraph.datastore.base import Base, TenantOwned, Timestamps, UUIDPrimaryKey, utcnow
from sharegraph.datastore.types import JSONType, name_type


class ExportJob(UUIDPrimaryKey, TenantOwned, Base):
    """An export asked for through the API; the scheduler runs it, the file downloads through
    an authenticated URL until ``expires_at``."""

    __tablename__ = "export_jobs"

    requested_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), index=True)
    what: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(32))
    filters: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    file_path: Mapped[str | None] = mapped_column(String(1024))
    row_count: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    # The file carries 42 CFR Part 2 answers of another organization: the redisclosure notice
    # goes with every download of it.
    redisclosure_notice: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    __table_args__ = (Index(None, "status", "created_at"),)


class ExportSchedule(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    """A recurring delivery: what, which format, filters, a cron expression in the tenant's time
    zone, and where to (a directory or an SFTP server). Secrets are encrypted at rest."""

    __tablename__ = "export_schedules"

    name: Mapped[str] = mapped_column(name_type())
    what: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(32))
    filters: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    cron: Mapped[str] = mapped_column(String(128))
    # The principal whose access plan the export runs under.
    run_as_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"))
    destination_kind: Mapped[str] = mapped_column(String(16))  # directory | sftp
    destination: Mapped[dict[str, Any]] = mapped_column(JSONType)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    max_attempts: Mapped[int] = mapped_column(Integer, default=6)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)


class ExportRun(UUIDPrimaryKey, TenantOwned, Base):
    """One delivery of a schedule for one due time; unique per (schedule, due time), so two
    workers cannot both create it."""

    __tablename__ = "export_runs"

    schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("export_schedules.id", ondelete="CASCADE"), index=True
    )
    scheduled_for: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    lease_until: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    row_count: Mapped[int | None] = mapped_column(Integer)
    file_name: Mapped[str | None] = mapped_column(String(1024))
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("schedule_id", "scheduled_for"),)


class EmailTemplate(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    """A saved email for sending a contact record as a password-protected PDF."""

    __tablename__ = "email_templates"

    name: Mapped[str] = mapped_column(name_type())
    subject: Mapped[str] = mapped_column(String(998))
    body: Mapped[str] = mapped_column(Text)
    recipients: Mapped[list[str]] = mapped_column(JSONType)
    # Contact record fields (coordinates such as ``ContactRecord.narrative``) the PDF includes.
    fields: Mapped[list[str]] = mapped_column(JSONType)
    purpose: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)


class EmailSend(UUIDPrimaryKey, TenantOwned, Base):
    """One contact record sent from a template: to whom, when, by whom, and how it went."""

    __tablename__ = "email_sends"

    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("email_templates.id"), index=True)
    contact_record_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_records.id"), index=True
    )
    recipients: Mapped[list[str]] = mapped_column(JSONType)
    fields: Mapped[list[str]] = mapped_column(JSONType)
    sent_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16))  # sent | failed
    error: Mapped[str | None] = mapped_column(Text)


class ImportJob(UUIDPrimaryKey, TenantOwned, Base):
    """A resource directory file uploaded through the API (``POST /imports``); the scheduler
    imports it into the tenant's directory and keeps the report here (counts and the first
    problems, each with the row it came from)."""

    __tablename__ = "import_jobs"

    requested_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), index=True)
    format: Mapped[str] = mapped_column(String(32))  # as asked: auto or one importer's name
    detected_format: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(255))
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    strict: Mapped[bool] = mapped_column(Boolean, default=False)
    file_name: Mapped[str] = mapped_column(String(255))
    file_path: Mapped[str | None] = mapped_column(String(1024))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    # Progress: bytes of the input read so far, of how many (a ZIP's: its CSV files unpacked).
    bytes_read: Mapped[int | None] = mapped_column(BigInteger)
    bytes_total: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    committed: Mapped[bool] = mapped_column(Boolean, default=False)
    # {"created": n, "updated": n, "unchanged": n, "deactivated": n, "rejected": n, ...}
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # [{"severity", "code", "file", "line", "path", "message"}], the first MAX_PROBLEMS
    problems: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    omitted_problems: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index(None, "status", "created_at"),)
