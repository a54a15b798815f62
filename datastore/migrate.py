"""Alembic migrations, driven programmatically over the app's own async engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from sharegraph.datastore.engine import Database
from sharegraph.errors import NotMigrated

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {heads}")
    return heads[0]


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as connection:
        return await connection.run_sync(_current_revision)


async def upgrade(db: Database, revision: str = "head") -> None:
    def _upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with db.engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def ensure_migrated(db: Database) -> None:
    """Refuse to serve an un-migrated or out-of-date database, saying how to fix it."""
    current = await current_revision(db)
    head = head_revision()
    if current != head:
        state = "not migrated" if current is None else f"at revision {current}, code expects {head}"
        raise NotMigrated(
            f"the database is {state}; run `sharegraph db upgrade --database URL` first",
            reason="NOT_MIGRATED",
        )
