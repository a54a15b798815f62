"""Storage behaviour that must be the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from sharegraph.datastore import migrate
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import AuditEvent, Tenant
from sharegraph.errors import Conflict, NotMigrated
from sharegraph.settings import Settings
from sharegraph.web.app import create_app

from .builders import add_tenant_with_admin


async def test_migrations_have_one_head_and_upgrade_is_idempotent(migrated_db: Database) -> None:
    head = migrate.head_revision()
    assert await migrate.current_revision(migrated_db) == head
    await migrate.upgrade(migrated_db)
    assert await migrate.current_revision(migrated_db) == head


async def test_the_app_refuses_an_unmigrated_database(empty_db: Database) -> None:
    with pytest.raises(NotMigrated, match="sharegraph db upgrade"):
        await migrate.ensure_migrated(empty_db)
    app = create_app(Settings(database_url=empty_db.url), database=empty_db)
    with pytest.raises(NotMigrated):
        async with app.router.lifespan_context(app):
            pass


async def test_datetimes_come_back_utc_and_aware(migrated_db: Database) -> None:
    tenant_id, _ = await add_tenant_with_admin(migrated_db, "Zone 211", "zone-admin")
    chicago_evening = datetime(2026, 3, 8, 21, 30, tzinfo=timezone(timedelta(hours=-6)))
    async with migrated_db.write_session() as session:
        await session.execute(
            update(Tenant).where(Tenant.id == tenant_id).values(created_at=chicago_evening)
        )
    async with migrated_db.read_session() as session:
        stored = await session.scalar(select(Tenant.created_at).where(Tenant.id == tenant_id))
    assert stored is not None and stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)
    assert stored == chicago_evening
    assert stored.hour == 3  # 21:30 at UTC-6 is 03:30 UTC the next day


async def test_naive_datetimes_are_refused(migrated_db: Database) -> None:
    with pytest.raises(Exception, match="naive"):
        async with migrated_db.write_session() as session:
            session.add(Tenant(name="Naive", created_at=datetime(2026, 1, 1)))


async def test_names_sort_in_byte_order_whatever_the_locale(migrated_db: Database) -> None:
    for name in ("beta", "Alpha", "Ärzte", "alpha", "Zulu"):
        await add_tenant_with_admin(migrated_db, name, f"admin-{uuid.uuid4().hex[:6]}")
    async with migrated_db.read_session() as session:
        names = list((await session.scalars(select(Tenant.name).order_by(Tenant.name))).all())
    assert names == sorted(names, key=lambda n: n.encode())


async def test_audit_table_is_append_only(migrated_db: Database) -> None:
    async with migrated_db.write_session() as session:
        session.add(AuditEvent(action="read", record_type="ContactRecord", record_ids=["x"]))
    for statement in (update(AuditEvent).values(action="tampered"), delete(AuditEvent)):
        with pytest.raises((DBAPIError, IntegrityError), match="append-only"):
            async with migrated_db.write_session() as session:
                await session.execute(statement)
    async with migrated_db.read_session() as session:
        assert (await session.scalar(select(AuditEvent.action))) == "read"


@pytest.fixture
async def sqlite_db(migrated_db: Database, backend: str) -> AsyncIterator[Database]:
    if backend != "sqlite":
        pytest.skip("SQLite-specific")
    yield migrated_db


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_db: Database) -> None:
    async with sqlite_db.read_session() as session:
        assert (await session.scalar(text("PRAGMA journal_mode"))) == "wal"
        assert int(await session.scalar(text("PRAGMA busy_timeout")) or 0) >= 5000
        assert (await session.scalar(text("PRAGMA foreign_keys"))) == 1


async def test_concurrent_sqlite_writers_wait_instead_of_failing(sqlite_db: Database) -> None:
    async def writer(i: int) -> None:
        # Each transaction reads, then writes: without BEGIN IMMEDIATE the lock upgrade fails
        # with "database is locked" as soon as two run at once.
        async with sqlite_db.write_session() as session:
            await session.scalar(select(Tenant.id).limit(1))
            await asyncio.sleep(0.01)
            session.add(Tenant(name=f"Concurrent {i}"))

    await asyncio.gather(*(writer(i) for i in range(20)))
    async with sqlite_db.read_session() as session:
        count = len(
            (await session.scalars(select(Tenant.id).where(Tenant.name.like("Concurrent %")))).all()
        )
    assert count == 20


async def test_the_migrations_build_exactly_the_models(migrated_db: Database) -> None:
    """A model change without its migration fails here (search indexes are the database's own)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from sharegraph.datastore.models import Base

    def compare(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with migrated_db.engine.connect() as connection:
        differences = await connection.run_sync(compare)
    unexpected = [d for d in differences if "search" not in str(d) and "_fts" not in str(d)]
    assert unexpected == []


async def test_a_role_is_held_once_per_domain(migrated_db: Database) -> None:
    from sharegraph.datastore.enums import Role
    from sharegraph.datastore.models import Principal, RoleAssignment

    tenant_id, _ = await add_tenant_with_admin(migrated_db, "Dup 211", "dup-admin")
    async with migrated_db.read_session() as session:
        principal_id = await session.scalar(
            select(Principal.id).where(Principal.name == "dup-admin")
        )
    # The unique index refuses the duplicate; write sessions answer it as a CONFLICT.
    with pytest.raises(Conflict) as refused:
        async with migrated_db.write_session() as session:
            session.add(
                RoleAssignment(
                    principal_id=principal_id, role=Role.TENANT_ADMIN, tenant_id=tenant_id
                )
            )
    assert refused.value.reason == "ALREADY_EXISTS"
    assert isinstance(refused.value.__cause__, IntegrityError)


async def test_database_errors_do_not_carry_the_statements_values(migrated_db: Database) -> None:
    """A failing statement's error (what the logs and exception chains keep) names the SQL but
    not the values bound to it: those are callers' names, phone numbers and notes."""
    marker = "Jane Caller 555-0100"
    with pytest.raises(DBAPIError) as caught:
        async with migrated_db.read_session() as session:
            await session.execute(
                text("SELECT name FROM no_such_table WHERE name = :name"), {"name": marker}
            )
    message = str(caught.value)
    assert "no_such_table" in message
    assert marker not in message
