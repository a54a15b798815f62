"""Seals over the append-only audit table: one hash chain per tenant (and one system-wide).

A seal covers, for one tenant (``tenant_id`` NULL: the system-wide rows), the audit rows whose
positions are in ``[first_position, last_position]``; seals of a chain are numbered 1, 2, ...
(``sequence``) and their ranges are contiguous (``first_position`` is the previous seal's
``last_position + 1``, or 1). ``datastore.audit`` computes and checks them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from sharegraph.datastore.base import Base, utcnow
from sharegraph.datastore.models.events import AuditEvent


class AuditSeal(Base):
    """Append-only: triggers refuse UPDATE and DELETE on both backends (TRUNCATE on PostgreSQL)."""

    __tablename__ = "audit_seals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    # The canonical row serialization the digest used (``datastore.audit_chain.SEAL_VERSION``).
    version: Mapped[int] = mapped_column(Integer)
    first_position: Mapped[int] = mapped_column(BigInteger)
    last_position: Mapped[int] = mapped_column(BigInteger)
    row_count: Mapped[int] = mapped_column(Integer)
    rows_digest: Mapped[str] = mapped_column(String(64))
    previous_seal_hash: Mapped[str] = mapped_column(String(64))
    seal_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sealed_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        # One seal per number and chain: a second sealer that raced past the lock fails here
        # instead of forking the chain. NULLs are distinct in unique indexes, hence two.
        Index(
            "uq_audit_seals_tenant_id_sequence",
            "tenant_id",
            "sequence",
            unique=True,
            sqlite_where=text("tenant_id IS NOT NULL"),
            postgresql_where=text("tenant_id IS NOT NULL"),
        ),
        Index(
            "uq_audit_seals_sequence",
            "sequence",
            unique=True,
            sqlite_where=text("tenant_id IS NULL"),
            postgresql_where=text("tenant_id IS NULL"),
        ),
    )


# Sealing, verifying and the admins' audit list walk one tenant's rows in position order.
AUDIT_EVENTS_BY_TENANT = Index(
    "ix_audit_events_tenant_id_position", AuditEvent.tenant_id, AuditEvent.position
)
