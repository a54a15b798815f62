"""import jobs: resource directory files uploaded through the API, imported by the scheduler

A tenant-owned record table with migration 0003's row-level security, like export jobs.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORD_TABLES: tuple[str, ...] = ("import_jobs",)
DIRECTORY_TABLES: tuple[str, ...] = ()

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)


def _enable_rls(table: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    rls = importlib.import_module(
        "sharegraph.datastore.migrations.versions.0003_row_level_security"
    )
    predicate = rls._tenant_predicate(rls.RECORD_SETTING)
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
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {rls.APP_ROLE}")


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("requested_by_id", sa.Uuid(), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("detected_format", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("strict", sa.Boolean(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_path", sa.String(length=1024), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("bytes_read", sa.BigInteger(), nullable=True),
        sa.Column("bytes_total", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("finished_at", WHEN, nullable=True),
        sa.Column("committed", sa.Boolean(), nullable=False),
        sa.Column("counts", JSON, nullable=True),
        sa.Column("problems", JSON, nullable=True),
        sa.Column("omitted_problems", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["principals.id"],
            name=op.f("fk_import_jobs_requested_by_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_import_jobs_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
    )
    op.create_index(
        op.f("ix_import_jobs_requested_by_id"), "import_jobs", ["requested_by_id"], unique=False
    )
    op.create_index(
        op.f("ix_import_jobs_status_created_at"),
        "import_jobs",
        ["status", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_import_jobs_tenant_id"), "import_jobs", ["tenant_id"], unique=False)
    for table in RECORD_TABLES:
        _enable_rls(table)


def downgrade() -> None:
    op.drop_table("import_jobs")
