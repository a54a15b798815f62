"""sharing agreements consents inventories

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:05:00.710035
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inventories",
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_inventories_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventories")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_inventories_tenant_id_name")),
    )
    op.create_index(op.f("ix_inventories_tenant_id"), "inventories", ["tenant_id"], unique=False)
    op.create_table(
        "inventory_items",
        sa.Column("inventory_id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inventory_id"],
            ["inventories.id"],
            name=op.f("fk_inventory_items_inventory_id_inventories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_inventory_items_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_items")),
        sa.UniqueConstraint(
            "inventory_id",
            "record_type",
            "record_id",
            name=op.f("uq_inventory_items_inventory_id_record_type_record_id"),
        ),
    )
    op.create_index(
        op.f("ix_inventory_items_inventory_id"), "inventory_items", ["inventory_id"], unique=False
    )
    op.create_index(
        op.f("ix_inventory_items_record_id"), "inventory_items", ["record_id"], unique=False
    )
    op.create_index(
        op.f("ix_inventory_items_tenant_id"), "inventory_items", ["tenant_id"], unique=False
    )
    op.create_table(
        "client_consents",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column(
            "recipient_kind",
            sa.Enum(
                "tenant",
                "partner",
                "public",
                name="recipient_kind",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("recipient_tenant_id", sa.Uuid(), nullable=True),
        sa.Column("recipient_partner_id", sa.Uuid(), nullable=True),
        sa.Column("purpose", sa.String(length=255), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(recipient_kind = 'tenant' AND recipient_tenant_id IS NOT NULL) OR (recipient_kind = 'partner' AND recipient_partner_id IS NOT NULL)",
            name=op.f("ck_client_consents_recipient"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_consents_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["recipient_partner_id"],
            ["partner_organizations.id"],
            name=op.f("fk_client_consents_recipient_partner_id_partner_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["recipient_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_client_consents_recipient_tenant_id_tenants"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["principals.id"],
            name=op.f("fk_client_consents_recorded_by_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_client_consents_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_consents")),
    )
    op.create_index(
        op.f("ix_client_consents_client_id"), "client_consents", ["client_id"], unique=False
    )
    op.create_index(
        op.f("ix_client_consents_tenant_id"), "client_consents", ["tenant_id"], unique=False
    )
    op.create_table(
        "sharing_agreements",
        sa.Column(
            "name",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(length=255), nullable=False),
        sa.Column(
            "grantee_kind",
            sa.Enum(
                "tenant",
                "partner",
                "public",
                name="grantee_kind",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("grantee_tenant_id", sa.Uuid(), nullable=True),
        sa.Column("grantee_partner_id", sa.Uuid(), nullable=True),
        sa.Column(
            "grantee_role",
            sa.Enum(
                "tenant-admin",
                "call-taker",
                "api-client",
                "portal-user",
                name="grantee_role",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column(
            "actions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "denied_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "answer_sensitivity",
            sa.Enum(
                "public",
                "internal",
                "pii",
                "clinical",
                "part2",
                name="answer_sensitivity",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column("row_scope", sa.String(length=255), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(grantee_kind = 'tenant' AND grantee_tenant_id IS NOT NULL AND grantee_partner_id IS NULL) OR (grantee_kind = 'partner' AND grantee_partner_id IS NOT NULL AND grantee_tenant_id IS NULL) OR (grantee_kind = 'public' AND grantee_tenant_id IS NULL AND grantee_partner_id IS NULL AND grantee_role IS NULL)",
            name=op.f("ck_sharing_agreements_grantee"),
        ),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from",
            name=op.f("ck_sharing_agreements_validity"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["principals.id"],
            name=op.f("fk_sharing_agreements_created_by_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["grantee_partner_id"],
            ["partner_organizations.id"],
            name=op.f("fk_sharing_agreements_grantee_partner_id_partner_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["grantee_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_sharing_agreements_grantee_tenant_id_tenants"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_sharing_agreements_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_agreements")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_sharing_agreements_tenant_id_name")),
    )
    op.create_index(
        op.f("ix_sharing_agreements_grantee_partner_id"),
        "sharing_agreements",
        ["grantee_partner_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_sharing_agreements_grantee_tenant_id"),
        "sharing_agreements",
        ["grantee_tenant_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_sharing_agreements_tenant_id"), "sharing_agreements", ["tenant_id"], unique=False
    )
    op.add_column(
        "instance", sa.Column("policy_version", sa.Integer(), server_default="1", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("instance", "policy_version")
    op.drop_index(op.f("ix_sharing_agreements_tenant_id"), table_name="sharing_agreements")
    op.drop_index(op.f("ix_sharing_agreements_grantee_tenant_id"), table_name="sharing_agreements")
    op.drop_index(op.f("ix_sharing_agreements_grantee_partner_id"), table_name="sharing_agreements")
    op.drop_table("sharing_agreements")
    op.drop_index(op.f("ix_client_consents_tenant_id"), table_name="client_consents")
    op.drop_index(op.f("ix_client_consents_client_id"), table_name="client_consents")
    op.drop_table("client_consents")
    op.drop_index(op.f("ix_inventory_items_tenant_id"), table_name="inventory_items")
    op.drop_index(op.f("ix_inventory_items_record_id"), table_name="inventory_items")
    op.drop_index(op.f("ix_inventory_items_inventory_id"), table_name="inventory_items")
    op.drop_table("inventory_items")
    op.drop_index(op.f("ix_inventories_tenant_id"), table_name="inventories")
    op.drop_table("inventories")
