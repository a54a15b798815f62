"""redisclosure notice on export jobs

An export file that carries 42 CFR Part 2 answers of another organization must reach its
downloader with the redisclosure notice; the job remembers that it does.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("export_jobs") as batch:
        batch.add_column(
            sa.Column("redisclosure_notice", sa.Boolean(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("export_jobs") as batch:
        batch.drop_column("redisclosure_notice")
