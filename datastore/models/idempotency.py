"""Idempotency keys: a retried write-back returns its first result instead of writing twice."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sharegraph.datastore.base import Base, UUIDPrimaryKey, utcnow
from sharegraph.datastore.types import JSONType


class IdempotencyKey(UUIDPrimaryKey, Base):
    """One key per principal: the operation, a hash of its input, and what it returned.

    Scoped to the principal (not a tenant), so one caller's keys never collide with another's.
    """

    __tablename__ = "idempotency_keys"

    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"))
    key: Mapped[str] = mapped_column(String(255))
    operation: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("principal_id", "key"),)
