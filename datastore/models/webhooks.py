"""Webhook endpoints, the messages fanned out to them from the outbox, and each send attempt."""

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
from sharegraph.datastore.types import JSONType


class WebhookEndpoint(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    """Where to push events, which ones, and as whom (``principal_id``'s plan decides what a
    payload carries). The signing secret is encrypted at rest; during a rotation the previous
    one signs too until ``previous_secret_until``."""

    __tablename__ = "webhook_endpoints"

    # The partner organization owning it when a partner user made it (None: the tenant's).
    partner_organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partner_organizations.id"), index=True
    )
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(JSONType)
    filters: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    payload_mode: Mapped[str] = mapped_column(String(8), default="full")  # full | thin
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[datetime | None]
    # Fan-out position in the outbox (datastore/relay.py Cursor) and its lease.
    cursor_xid: Mapped[int] = mapped_column(BigInteger, default=0)
    cursor_position: Mapped[int] = mapped_column(BigInteger, default=0)
    fanout_lease_until: Mapped[datetime | None]
    # Circuit breaker: consecutive failed attempts, and no sends before this time.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    circuit_open_until: Mapped[datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)


class WebhookMessage(UUIDPrimaryKey, TenantOwned, Base):
    """One event for one endpoint: its id is the ``webhook-id`` of every attempt, its payload
    the exact bytes every attempt sends (rendered, and audited, once)."""

    __tablename__ = "webhook_messages"

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[uuid.UUID | None]  # None: a test send
    event_position: Mapped[int | None] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(64))
    record_type: Mapped[str | None] = mapped_column(String(64))
    record_id: Mapped[uuid.UUID | None]
    record_version: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index(None, "status", "next_attempt_at"),
    )


class WebhookAttempt(UUIDPrimaryKey, TenantOwned, Base):
    """One HTTP request of a message: outcome, latency and the start of the response body."""

    __tablename__ = "webhook_attempts"

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_messages.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    response_body: Mapped[str | None] = mapped_column(Text)
