"""Where each replication into an external database stands (``sharegraph replicate``), for the
``replicationStatus`` query; the target's own checkpoint row is what a rerun resumes from."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sharegraph.datastore.base import Base, utcnow


class ReplicationStatus(Base):
    """The last pass of one (principal, what, target)."""

    __tablename__ = "replication_status"

    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True
    )
    what: Mapped[str] = mapped_column(String(32), primary_key=True)
    target: Mapped[str] = mapped_column(String(500), primary_key=True)  # URL, password hidden
    mode: Mapped[str] = mapped_column(String(16))  # full | incremental
    cursor_position: Mapped[int] = mapped_column(BigInteger)
    policy_version: Mapped[int] = mapped_column(Integer)
    rows_written: Mapped[int] = mapped_column(BigInteger)
    rows_deleted: Mapped[int] = mapped_column(BigInteger)
    events: Mapped[int] = mapped_column(BigInteger)
    rows_per_second: Mapped[float] = mapped_column(Float)
    lag_seconds: Mapped[float] = mapped_column(Float)
    passed_at: Mapped[datetime] = mapped_column(default=utcnow)
