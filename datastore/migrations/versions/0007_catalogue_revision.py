"""catalogue revision of sharing agreements

An agreement's globs grant the fields the field catalogue held when an admin last approved it;
fields added later wait for review. Every existing agreement was written against revision 1
(the catalogue's first revision, which holds every field that existed before it), so existing
grants stay exactly as they were.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sharing_agreements") as batch:
        batch.add_column(
            sa.Column("catalogue_revision", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("sharing_agreements") as batch:
        batch.drop_column("catalogue_revision")
