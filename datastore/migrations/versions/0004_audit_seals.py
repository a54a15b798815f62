"""audit seals

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _make_seals_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_seals_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_seals is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_seals_append_only BEFORE UPDATE OR DELETE ON audit_seals "
            "FOR EACH ROW EXECUTE FUNCTION audit_seals_append_only()"
        )
        # Row triggers do not fire on TRUNCATE: refuse it on both audit tables.
        op.execute(
            "CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_seals_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )
        # 0003's default privileges gave the app role UPDATE and DELETE on new tables: like
        # audit_events, seals may only be read and appended.
        op.execute(
            "DO $$ BEGIN "
            "IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'sharegraph_app') THEN "
            "REVOKE UPDATE, DELETE, TRUNCATE ON audit_seals FROM sharegraph_app; "
            "END IF; END $$"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_seals_no_{operation.lower()} BEFORE {operation} ON audit_seals "
            "BEGIN SELECT RAISE(ABORT, 'audit_seals is append-only'); END"
        )


def _drop_seal_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_seals_no_truncate ON audit_seals")
        op.execute("DROP TRIGGER IF EXISTS audit_seals_append_only ON audit_seals")
        op.execute("DROP FUNCTION IF EXISTS audit_seals_append_only()")
        return
    for operation in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_seals_no_{operation}")


def upgrade() -> None:
    op.create_table(
        "audit_seals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("first_position", sa.BigInteger(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("rows_digest", sa.String(length=64), nullable=False),
        sa.Column("previous_seal_hash", sa.String(length=64), nullable=False),
        sa.Column("seal_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_seals_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_seals")),
        sa.UniqueConstraint("seal_hash", name=op.f("uq_audit_seals_seal_hash")),
    )
    op.create_index(
        "uq_audit_seals_tenant_id_sequence",
        "audit_seals",
        ["tenant_id", "sequence"],
        unique=True,
        sqlite_where=sa.text("tenant_id IS NOT NULL"),
        postgresql_where=sa.text("tenant_id IS NOT NULL"),
    )
    op.create_index(
        "uq_audit_seals_sequence",
        "audit_seals",
        ["sequence"],
        unique=True,
        sqlite_where=sa.text("tenant_id IS NULL"),
        postgresql_where=sa.text("tenant_id IS NULL"),
    )
    op.create_index(
        "ix_audit_events_tenant_id_position",
        "audit_events",
        ["tenant_id", "position"],
        unique=False,
    )
    _make_seals_append_only()


def downgrade() -> None:
    _drop_seal_guards()
    op.drop_index("ix_audit_events_tenant_id_position", table_name="audit_events")
    op.drop_index("uq_audit_seals_sequence", table_name="audit_seals")
    op.drop_index("uq_audit_seals_tenant_id_sequence", table_name="audit_seals")
    op.drop_table("audit_seals")
