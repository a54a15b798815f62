"""Sharing agreements, client consents and inventories: the rows admins edit.

They are the source of truth; authz compiles them into the Casbin policy set.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sharegraph.datastore.base import Base, TenantOwned, Timestamps, UUIDPrimaryKey
from sharegraph.datastore.enums import GranteeKind, Role, Sensitivity, db_enum
from sharegraph.datastore.types import JSONType, name_type


class SharingAgreement(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    """Owner tenant (``tenant_id``) -> grantee: which coordinates, actions and rows.

    ``fields`` and ``denied_fields`` are coordinate globs (``ContactRecord.*``,
    ``Client.firstName``, ``ContactRecord.answers.*``); ``answer_sensitivity`` grants form
    answers up to that class. ``row_scope`` is one name from the vocabulary in
    ``authz/scopes.py`` (``all``, ``referred_to_grantee``, ``region:Polk``...).
    """

    __tablename__ = "sharing_agreements"

    name: Mapped[str] = mapped_column(name_type())
    purpose: Mapped[str] = mapped_column(String(255))
    grantee_kind: Mapped[GranteeKind] = mapped_column(db_enum(GranteeKind, "grantee_kind"))
    grantee_tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id"), index=True
    )
    grantee_partner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partner_organizations.id"), index=True
    )
    grantee_role: Mapped[Role | None] = mapped_column(db_enum(Role, "grantee_role"))
    actions: Mapped[list[str]] = mapped_column(JSONType)
    fields: Mapped[list[str]] = mapped_column(JSONType)
    denied_fields: Mapped[list[str]] = mapped_column(JSONType, default=list)
    answer_sensitivity: Mapped[Sensitivity | None] = mapped_column(
        db_enum(Sensitivity, "answer_sensitivity")
    )
    row_scope: Mapped[str] = mapped_column(String(255), default="all")
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The field catalogue's revision when an admin last approved the agreement (created, edited
    # or approved it): its globs grant only the fields that existed then. Rows written without
    # one (fixtures) get revision 1, so fields added later wait for review on them too.
    catalogue_revision: Mapped[int] = mapped_column(Integer, server_default="1")

    __table_args__ = (
        CheckConstraint(
            "(grantee_kind = 'tenant' AND grantee_tenant_id IS NOT NULL"
            " AND grantee_partner_id IS NULL)"
            " OR (grantee_kind = 'partner' AND grantee_partner_id IS NOT NULL"
            " AND grantee_tenant_id IS NULL)"
            " OR (grantee_kind = 'public' AND grantee_tenant_id IS NULL"
            " AND grantee_partner_id IS NULL AND grantee_role IS NULL)",
            name="grantee",
        ),
        CheckConstraint(
            "valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from", name="validity"
        ),
        UniqueConstraint("tenant_id", "name"),
    )


class ClientConsent(UUIDPrimaryKey, TenantOwned, Base):
    """A client's consent to disclose 42 CFR Part 2 answers to one recipient for one purpose."""

    __tablename__ = "client_consents"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"), index=True)
    recipient_kind: Mapped[GranteeKind] = mapped_column(db_enum(GranteeKind, "recipient_kind"))
    recipient_tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    recipient_partner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partner_organizations.id")
    )
    purpose: Mapped[str] = mapped_column(String(255))
    granted_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))

    __table_args__ = (
        CheckConstraint(
            "(recipient_kind = 'tenant' AND recipient_tenant_id IS NOT NULL)"
            " OR (recipient_kind = 'partner' AND recipient_partner_id IS NOT NULL)",
            name="recipient",
        ),
    )


class Inventory(UUIDPrimaryKey, TenantOwned, Timestamps, Base):
    """A named, curated selection of directory records for a region or a target group."""

    __tablename__ = "inventories"

    name: Mapped[str] = mapped_column(name_type())
    description: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)


class InventoryItem(UUIDPrimaryKey, TenantOwned, Base):
    __tablename__ = "inventory_items"

    inventory_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("inventories.id", ondelete="CASCADE"), index=True
    )
    record_type: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[uuid.UUID] = mapped_column(index=True)

    __table_args__ = (UniqueConstraint("inventory_id", "record_type", "record_id"),)
