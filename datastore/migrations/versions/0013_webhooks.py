"""webhooks: endpoints, messages fanned out from the outbox, and send attempts

All three are tenant-owned record tables with migration 0003's row-level security. A message is
unique per (endpoint, outbox event): fanning out twice cannot send one event twice.

Revision ID: 0013
Revises: 0011
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORD_TABLES: tuple[str, ...] = ("webhook_attempts", "webhook_endpoints", "webhook_messages")
DIRECTORY_TABLES: tuple[str, ...] = ()

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)


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
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {rls.APP_ROLE}")


def _tenant() -> sa.Column[uuid.UUID]:
    return sa.Column(
        "tenant_id", sa.Uuid(), sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column("partner_organization_id", sa.Uuid(), sa.ForeignKey("partner_organizations.id")),
        sa.Column("principal_id", sa.Uuid(), sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("event_types", JSON, nullable=False),
        sa.Column("filters", JSON),
        sa.Column("payload_mode", sa.String(8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text()),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("previous_secret_encrypted", sa.Text()),
        sa.Column("previous_secret_until", WHEN),
        sa.Column("cursor_xid", sa.BigInteger(), nullable=False),
        sa.Column("cursor_position", sa.BigInteger(), nullable=False),
        sa.Column("fanout_lease_until", WHEN),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("circuit_open_until", WHEN),
        sa.Column("created_by_id", sa.Uuid(), sa.ForeignKey("principals.id")),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    for column in ("tenant_id", "partner_organization_id", "principal_id"):
        op.create_index(f"ix_webhook_endpoints_{column}", "webhook_endpoints", [column])
    op.create_table(
        "webhook_messages",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column(
            "endpoint_id",
            sa.Uuid(),
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.Uuid()),
        sa.Column("event_position", sa.BigInteger()),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("record_type", sa.String(64)),
        sa.Column("record_id", sa.Uuid()),
        sa.Column("record_version", sa.Integer()),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN),
        sa.Column("lease_until", WHEN),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("delivered_at", WHEN),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.UniqueConstraint(
            "endpoint_id", "event_id", name="uq_webhook_messages_endpoint_id_event_id"
        ),
    )
    op.create_index("ix_webhook_messages_tenant_id", "webhook_messages", ["tenant_id"])
    op.create_index("ix_webhook_messages_endpoint_id", "webhook_messages", ["endpoint_id"])
    op.create_index(
        "ix_webhook_messages_status_next_attempt_at",
        "webhook_messages",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _tenant(),
        sa.Column(
            "message_id",
            sa.Uuid(),
            sa.ForeignKey("webhook_messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "endpoint_id",
            sa.Uuid(),
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("attempted_at", WHEN, nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text()),
    )
    for column in ("tenant_id", "message_id", "endpoint_id"):
        op.create_index(f"ix_webhook_attempts_{column}", "webhook_attempts", [column])
    _enable_rls()


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_messages")
    op.drop_table("webhook_endpoints")
