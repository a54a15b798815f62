"""Tenants, partner organizations, principals, roles and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sharegraph.datastore.base import Base, UUIDPrimaryKey, partial_unique, utcnow
from sharegraph.datastore.enums import PrincipalKind, Role, db_enum
from sharegraph.datastore.types import name_type


class Instance(Base):
    """One row describing this installation: its signing secret and whether it holds demo data."""

    __tablename__ = "instance"

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    secret: Mapped[str] = mapped_column(String(128))
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped in the same transaction as every change to agreements, roles or consents;
    # gateways reload their policy snapshot when it moves.
    policy_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class Tenant(UUIDPrimaryKey, Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(name_type(), unique=True)
    # IANA zone: "Monday", "yesterday" and "week" are computed in it.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PartnerOrganization(UUIDPrimaryKey, Base):
    """A community organization that signs in to the provider portal; it may also be a tenant."""

    __tablename__ = "partner_organizations"

    name: Mapped[str] = mapped_column(name_type(), unique=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Principal(UUIDPrimaryKey, Base):
    """A user or an API client, member of exactly one tenant or one partner organization."""

    __tablename__ = "principals"

    name: Mapped[str] = mapped_column(name_type(), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    kind: Mapped[PrincipalKind] = mapped_column(db_enum(PrincipalKind, "principal_kind"))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    partner_organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partner_organizations.id"), index=True
    )
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "(tenant_id IS NULL) <> (partner_organization_id IS NULL)", name="one_home"
        ),
    )


class RoleAssignment(UUIDPrimaryKey, Base):
    """A role held within a tenant or within a partner organization (RBAC with domains)."""

    __tablename__ = "role_assignments"

    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[Role] = mapped_column(db_enum(Role, "role"))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    partner_organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partner_organizations.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "(tenant_id IS NULL) <> (partner_organization_id IS NULL)", name="one_domain"
        ),
        # NULLs are distinct in unique constraints: one partial unique index per kind of domain.
        *partial_unique(
            "role_assignments", ("principal_id", "role"), "tenant_id", "partner_organization_id"
        ),
    )


class ApiKey(UUIDPrimaryKey, Base):
    """An API key, stored as a SHA-256 hash (keys are 256-bit random, so no slow hash is needed).

    ``prefix`` is the public part of the key used to find the row without scanning.
    """

    __tablename__ = "api_keys"

    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(255))
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
