"""referral notes

Partners' case notes on a referral (append-only, attributed), owned by the referral's tenant.
The new tenant-owned table gets migration 0003's row-level security, on the record setting.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tenant-owned tables this migration adds, with 0003's policies (tests read these lists).
DIRECTORY_TABLES: tuple[str, ...] = ()
RECORD_TABLES: tuple[str, ...] = ("referral_notes",)


def _enable_rls() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    rls = importlib.import_module(
        "sharegraph.datastore.migrations.versions.0003_row_level_security"
    )
    predicate = rls._tenant_predicate(rls.RECORD_SETTING)
    for table in RECORD_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} AS PERMISSIVE FOR ALL TO {rls.APP_ROLE} "
            f"USING ({predicate}) WITH CHECK ({predicate})"
        )
        op.execute(
            f"CREATE POLICY owner_access ON {table} AS PERMISSIVE FOR ALL TO CURRENT_USER "
            "USING (true) WITH CHECK (true)"
        )
        # Append-only: the app role may read and add notes, never change or delete them.
        op.execute(f"GRANT SELECT, INSERT ON {table} TO {rls.APP_ROLE}")
        op.execute(f"REVOKE UPDATE, DELETE ON {table} FROM {rls.APP_ROLE}")


def upgrade() -> None:
    op.create_table(
        "referral_notes",
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("author_tenant_id", sa.Uuid(), nullable=True),
        sa.Column("author_partner_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_notes_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["principals.id"], name=op.f("fk_referral_notes_author_id_principals")
        ),
        sa.ForeignKeyConstraint(
            ["author_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_referral_notes_author_tenant_id_tenants"),
        ),
        sa.ForeignKeyConstraint(
            ["author_partner_id"],
            ["partner_organizations.id"],
            name=op.f("fk_referral_notes_author_partner_id_partner_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_referral_notes_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_notes")),
    )
    op.create_index(
        op.f("ix_referral_notes_referral_id"), "referral_notes", ["referral_id"], unique=False
    )
    op.create_index(
        op.f("ix_referral_notes_tenant_id"), "referral_notes", ["tenant_id"], unique=False
    )
    _enable_rls()


def downgrade() -> None:
    op.drop_index(op.f("ix_referral_notes_tenant_id"), table_name="referral_notes")
    op.drop_index(op.f("ix_referral_notes_referral_id"), table_name="referral_notes")
    op.drop_table("referral_notes")
