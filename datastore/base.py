"""Declarative base and mixins shared by every model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Index, MetaData, Uuid, text
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from sharegraph.datastore.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def partial_unique(table: str, columns: tuple[str, ...], *alternatives: str) -> list[Index]:
    """Uniqueness of ``columns`` plus whichever of ``alternatives`` is set.

    For rows where exactly one of several nullable columns is set (a role in a tenant *or* a
    partner organization): a plain unique constraint never fires, since NULLs are distinct.
    """
    return [
        Index(
            f"uq_{table}_{column}",
            *columns,
            column,
            unique=True,
            sqlite_where=text(f"{column} IS NOT NULL"),
            postgresql_where=text(f"{column} IS NOT NULL"),
        )
        for column in alternatives
    ]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), uuid.UUID: Uuid()}


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Versioned:
    """Optimistic concurrency: writers send the version they read; a newer one is a CONFLICT."""

    version: Mapped[int] = mapped_column(default=1, server_default="1")


class TenantOwned:
    """Every tenant-owned row carries its owner tenant; row scopes and RLS key on it."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"), index=True)
