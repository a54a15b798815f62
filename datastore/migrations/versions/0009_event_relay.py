"""event relay: commit-order keys and wake-ups for the outbox

``events.position`` comes from a sequence, taken when a row is inserted, so two transactions can
commit in the other order: a reader tailing "position > last" would skip the later-committed
lower position for good. On PostgreSQL every event row now records the id of the transaction
that wrote it (``xid``, from ``pg_current_xact_id()``); the relay (``datastore/relay.py``) reads
only rows whose transaction is older than the oldest one still running in the database, in
``(xid, position)`` order, so no row can appear behind it. SQLite has one writer at a time, so position order is commit order there and
``xid`` stays empty.

A statement trigger sends ``NOTIFY sharegraph_events, '<highest position>'`` (delivered at commit)
after every insert into ``events``, whatever path wrote it: a wake-up for the relays of every
process; the rows are read from the table.

``occurred_at`` gets an index for the retention job that prunes old events.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "sharegraph_events"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column(
                "xid",
                sa.BigInteger(),
                nullable=True,
                server_default=sa.text("(pg_current_xact_id()::text::bigint)")
                if postgres
                else None,
            )
        )
    op.create_index("ix_events_xid_position", "events", ["xid", "position"])
    op.create_index("ix_events_occurred_at", "events", ["occurred_at"])
    if postgres:
        op.execute(
            "CREATE FUNCTION sharegraph_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN "
            f"PERFORM pg_notify('{CHANNEL}', (SELECT max(position) FROM new_rows)::text); "
            "RETURN NULL; "
            "END $$"
        )
        op.execute(
            "CREATE TRIGGER events_notify AFTER INSERT ON events "
            "REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION sharegraph_events_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_notify ON events")
        op.execute("DROP FUNCTION IF EXISTS sharegraph_events_notify()")
    op.drop_index("ix_events_occurred_at", table_name="events")
    op.drop_index("ix_events_xid_position", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("xid")
