"""PostgreSQL row-level security (migration 0003, ``datastore.rls``): defense in depth.

RLS bounds tenants only; the access plan's row scopes stay the real guard (tested elsewhere).
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from sharegraph.benchmarks.overhead import RoundTrips
from sharegraph.datastore import engine as engine_module
from sharegraph.datastore import migrate, rls
from sharegraph.datastore.base import TenantOwned
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import EventType
from sharegraph.datastore.models import (
    AuditEvent,
    Base,
    Client,
    ContactRecord,
    Event,
    Service,
    Tenant,
)
from sharegraph.datastore.rls import RlsScope

from .builders import add_tenant_with_admin
from .conftest import POSTGRES_URL, DatabaseFactory, _admin

NOT_ON_SQLITE = "row-level security is PostgreSQL-only (SQLite has no RLS; scopes are a no-op)"


# Migrations that put tables under row-level security, each with its own table lists.
RLS_MIGRATIONS = (
    "0003_row_level_security",
    "0005_closed_loop_referral",
    "0006_data_exchange",
    "0010_referral_notes",
    "0013_webhooks",
    "0015_import_jobs",
)


def _migration() -> ModuleType:
    return importlib.import_module(
        "sharegraph.datastore.migrations.versions.0003_row_level_security"
    )


def _protected(kind: str) -> set[str]:
    """``DIRECTORY_TABLES`` or ``RECORD_TABLES`` across every migration that adds RLS, after
    the moves later migrations make (``MOVED_TO_DIRECTORY``)."""
    tables: set[str] = set()
    moved: set[str] = set()
    for name in RLS_MIGRATIONS:
        module = importlib.import_module(f"sharegraph.datastore.migrations.versions.{name}")
        tables.update(getattr(module, kind))
        moved.update(getattr(module, "MOVED_TO_DIRECTORY", ()))
    return tables | moved if kind == "DIRECTORY_TABLES" else tables - moved


@pytest.fixture
def postgresql(backend: str) -> str:
    if backend != "postgresql":
        pytest.skip(NOT_ON_SQLITE)
    return backend


@pytest.fixture
async def pg_seeded(postgresql: str, seeded_db: Database) -> AsyncIterator[Database]:
    """A private demo network on PostgreSQL, for tests that write (skipped before seeding).

    Its pool is closed at the end of the test: the factory keeps every database until the end
    of the session, and idle pooled connections count against the cluster's max_connections.
    """
    yield seeded_db
    await seeded_db.dispose()


@pytest.fixture
async def pg_demo(postgresql: str, demo_db: Database) -> Database:
    """The shared, read-only demo network on PostgreSQL."""
    return demo_db


async def _tenant_ids(db: Database) -> dict[str, uuid.UUID]:
    async with db.read_session() as session:
        rows = (await session.execute(select(Tenant.name, Tenant.id))).all()
    return {name: tenant_id for name, tenant_id in rows}


def _only(*tenants: uuid.UUID) -> frozenset[uuid.UUID]:
    return frozenset(tenants)


async def _count(session: AsyncSession, model: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _tenants_seen(session: AsyncSession, model: Any) -> set[uuid.UUID]:
    return set((await session.scalars(select(model.tenant_id).distinct())).all())


async def _who(session: AsyncSession) -> tuple[str, str, str | None, str | None, int]:
    row = (
        await session.execute(
            text(
                "SELECT current_user, session_user,"
                " current_setting('sharegraph.record_tenants', true),"
                " current_setting('sharegraph.directory_tenants', true), pg_backend_pid()"
            )
        )
    ).one()
    return row[0], row[1], row[2], row[3], row[4]


# -- (a) a scope limited to one tenant ------------------------------------------------------------


async def test_a_scoped_transaction_sees_and_writes_only_its_tenants(pg_seeded: Database) -> None:
    tenants = await _tenant_ids(pg_seeded)
    prairie, lakeside = tenants["Prairie 211"], tenants["Lakeside Crisis Line"]
    async with pg_seeded.read_session() as session:
        everyone = {m: await _tenants_seen(session, m) for m in (ContactRecord, Client)}
        prairie_records = await _count_where(session, ContactRecord, prairie)
        prairie_clients = await _count_where(session, Client, prairie)
    assert len(everyone[ContactRecord]) > 1 and len(everyone[Client]) > 1, everyone
    assert prairie_records and prairie_clients

    scope = RlsScope(record_tenants=_only(prairie), directory_tenants=_only(prairie))
    async with pg_seeded.read_session(rls=scope) as session:
        # No WHERE clause: the policies alone hide the other tenants' rows.
        assert await _tenants_seen(session, ContactRecord) == {prairie}
        assert await _tenants_seen(session, Client) == {prairie}
        assert await _count(session, ContactRecord) == prairie_records
        assert await _count(session, Client) == prairie_clients
        assert (await _who(session))[0] == rls.APP_ROLE

    # WITH CHECK: inserting a row for another tenant is refused ...
    with pytest.raises(DBAPIError, match="row-level security"):
        async with pg_seeded.write_session(rls=scope) as session:
            session.add(Client(tenant_id=lakeside, first_name="Smuggled"))
    # ... so is moving one of ours to another tenant; other tenants' rows cannot be touched.
    with pytest.raises(DBAPIError, match="row-level security"):
        async with pg_seeded.write_session(rls=scope) as session:
            first = await session.scalar(select(Client.id).limit(1))
            await session.execute(
                update(Client).where(Client.id == first).values(tenant_id=lakeside)
            )
    async with pg_seeded.write_session(rls=scope) as session:
        result = await session.execute(
            update(Client).where(Client.tenant_id == lakeside).values(first_name="Overwritten")
        )
        assert result.rowcount == 0  # type: ignore[attr-defined]
        session.add(Client(tenant_id=prairie, first_name="Allowed"))
    async with pg_seeded.read_session() as session:
        names = set(
            await session.scalars(select(Client.first_name).where(Client.tenant_id == lakeside))
        )
        assert "Overwritten" not in names and "Smuggled" not in names
        allowed = await session.scalar(
            select(Client.tenant_id).where(Client.first_name == "Allowed")
        )
        assert allowed == prairie


async def _count_where(session: AsyncSession, model: Any, tenant: uuid.UUID) -> int:
    statement = select(func.count()).select_from(model).where(model.tenant_id == tenant)
    return int(await session.scalar(statement) or 0)


async def test_an_empty_scope_sees_nothing_and_no_scope_sees_everything(
    pg_demo: Database,
) -> None:
    nothing = RlsScope(record_tenants=frozenset(), directory_tenants=frozenset())
    async with pg_demo.read_session(rls=nothing) as session:
        assert await _count(session, ContactRecord) == 0
        assert await _count(session, Service) == 0
    async with pg_demo.read_session() as session:  # the login role, as before this feature
        assert len(await _tenants_seen(session, ContactRecord)) == 3


async def test_scoped_transactions_append_to_the_logs_but_cannot_rewrite_them(
    pg_seeded: Database,
) -> None:
    tenants = await _tenant_ids(pg_seeded)
    prairie = tenants["Prairie 211"]
    scope = RlsScope(record_tenants=_only(prairie), directory_tenants=None)
    async with pg_seeded.write_session(rls=scope) as session:
        client = Client(id=uuid.uuid4(), tenant_id=prairie)
        session.add(client)
        session.add(
            Event(
                event_type=EventType.CREATED,
                record_type="Client",
                record_id=client.id,
                tenant_id=prairie,
                record_version=1,
            )
        )
        session.add(AuditEvent(tenant_id=prairie, action="read", record_type="Client"))
    async with pg_seeded.read_session(rls=scope) as session:
        # No RLS on the logs: written and read on behalf of many tenants.
        assert len(await _tenants_seen(session, Event)) == 3
    with pytest.raises(DBAPIError, match="permission denied"):
        async with pg_seeded.write_session(rls=scope) as session:
            await session.execute(update(Event).values(record_version=2))


async def test_a_scope_rides_the_begin_of_each_transaction(pg_demo: Database) -> None:
    """Each transaction of a scoped session begins with its scope in one round trip (BEGIN
    and the set_config SELECT in one simple query); its statements follow without another."""
    scope = RlsScope(record_tenants=None, directory_tenants=None)
    trips = RoundTrips(record=True)
    with trips.counting():
        async with pg_demo.read_session(rls=scope) as session:
            await _count(session, ContactRecord)
            await _count(session, Client)
            await session.commit()
            assert (await _who(session))[0] == rls.APP_ROLE
    begins = [call for call in trips.calls if "BEGIN" in call]
    assert len(begins) == 2, trips.calls
    assert all(call.startswith("Connection.execute BEGIN") for call in begins), begins
    assert all("set_config('role'" in call for call in begins), begins
    assert sum("set_config" in call for call in trips.calls) == 2, trips.calls


async def test_a_transaction_with_its_own_isolation_level_is_scoped_too(
    pg_demo: Database,
) -> None:
    """Where asyncpg's BEGIN would carry more than the default (here SERIALIZABLE), the scope
    follows the adapter's own BEGIN as a statement of its own: the same scope either way."""
    tenants = await _tenant_ids(pg_demo)
    lakeside = tenants["Lakeside Crisis Line"]
    scope = RlsScope(record_tenants=_only(lakeside), directory_tenants=None)
    async with pg_demo.engine.connect() as connection:
        await connection.execution_options(isolation_level="SERIALIZABLE")
        await connection.begin()
        await connection.run_sync(rls.apply_to_connection, scope)
        row = (
            await connection.execute(
                text(
                    "SELECT current_user, current_setting('transaction_isolation'),"
                    " current_setting('sharegraph.record_tenants')"
                )
            )
        ).one()
        seen = set((await connection.scalars(select(ContactRecord.tenant_id).distinct())).all())
        await connection.rollback()
    assert tuple(row) == (rls.APP_ROLE, "serializable", str(lakeside))
    assert seen == {lakeside}


# -- (b) pooled connections do not carry a scope into the next transaction ------------------------


@pytest.fixture
async def one_connection_db(
    pg_demo: Database, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Database]:
    """A second Database on the seeded database whose pool holds exactly one connection."""

    def one_connection(url: str, *, echo: bool = False) -> AsyncEngine:
        return create_async_engine(url, echo=echo, pool_size=1, max_overflow=0)

    monkeypatch.setattr(engine_module, "create_engine", one_connection)
    db = Database(pg_demo.url)
    yield db
    await db.dispose()


async def test_a_pooled_connection_does_not_carry_a_scope_into_the_next_request(
    one_connection_db: Database,
) -> None:
    db = one_connection_db
    tenants = await _tenant_ids(db)
    prairie, riverbend = tenants["Prairie 211"], tenants["Riverbend 211"]
    login = make_url(db.url).username
    prairie_only = RlsScope(record_tenants=_only(prairie), directory_tenants=_only(prairie))
    riverbend_only = RlsScope(record_tenants=_only(riverbend), directory_tenants=_only(riverbend))
    async with db.read_session() as session:
        riverbend_records = await _count_where(session, ContactRecord, riverbend)

    async with db.write_session(rls=prairie_only) as session:
        user, _, records, directory, pid = await _who(session)
        assert (user, records, directory) == (rls.APP_ROLE, str(prairie), str(prairie))
        assert await _tenants_seen(session, ContactRecord) == {prairie}

    async with db.read_session() as session:  # the next request, unscoped, same connection
        user, session_user, records, directory, same_pid = await _who(session)
        assert same_pid == pid
        assert user == session_user == login
        assert records in ("", None) and directory in ("", None)
        assert len(await _tenants_seen(session, ContactRecord)) == 3

    async with db.read_session(rls=riverbend_only) as session:  # a scope for another tenant
        user, _, records, _, same_pid = await _who(session)
        assert (same_pid, user, records) == (pid, rls.APP_ROLE, str(riverbend))
        assert await _count(session, ContactRecord) == riverbend_records
        assert await _tenants_seen(session, ContactRecord) == {riverbend}
        assert await _tenants_seen(session, Client) == {riverbend}


async def test_a_scope_is_reapplied_after_commit_and_rollback_and_gone_after_a_failure(
    one_connection_db: Database,
) -> None:
    db = one_connection_db
    tenants = await _tenant_ids(db)
    lakeside = tenants["Lakeside Crisis Line"]
    scope = RlsScope(record_tenants=_only(lakeside), directory_tenants=None)
    async with db.read_session(rls=scope) as session:
        assert await _tenants_seen(session, ContactRecord) == {lakeside}
        await session.commit()
        assert (await _who(session))[0] == rls.APP_ROLE
        assert await _tenants_seen(session, ContactRecord) == {lakeside}
        await session.rollback()
        assert await _tenants_seen(session, Client) == {lakeside}
        savepoint = await session.begin_nested()
        await savepoint.rollback()
        assert await _tenants_seen(session, Client) == {lakeside}

    with pytest.raises(DBAPIError):
        async with db.write_session(rls=scope) as session:
            await session.execute(text("SELECT 1/0"))
    async with db.read_session() as session:
        user, session_user, records, _, _ = await _who(session)
        assert user == session_user and records in ("", None)


async def test_a_scope_that_fails_at_begin_leaves_the_pooled_connection_clean(
    one_connection_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The BEGIN went out, the scope failed: the request gets a database error, and the one
    pooled connection is rolled back, not handed on inside an aborted transaction."""
    db = one_connection_db
    scope = RlsScope(record_tenants=None, directory_tenants=None)
    monkeypatch.setattr(RlsScope, "settings", "SELECT 1/0")
    with pytest.raises(DBAPIError, match="division by zero"):
        async with db.read_session(rls=scope) as session:
            await _count(session, ContactRecord)
    monkeypatch.undo()
    async with db.read_session() as session:
        user, session_user, records, _, _ = await _who(session)
        assert user == session_user and records in ("", None)
        assert await _count(session, ContactRecord) > 0


async def _clean_and_next_scope_applies(db: Database, scope: RlsScope, tenant: uuid.UUID) -> None:
    """The one pooled connection is idle (the server says no transaction is open on it), under
    the login role with no scope; then ``scope`` applies on it."""
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert not raw.driver_connection.is_in_transaction()  # type: ignore[union-attr]
    async with db.read_session() as session:
        user, session_user, records, directory, _ = await _who(session)
        assert user == session_user and records in ("", None) and directory in ("", None)
    async with db.read_session(rls=scope) as session:
        assert (await _who(session))[2] == str(tenant)
        assert await _tenants_seen(session, ContactRecord) == {tenant}


async def test_a_request_cancelled_mid_begin_leaves_the_pooled_connection_clean(
    one_connection_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task is cancelled (a client gone, the time limit) while the BEGIN and its scope
    are on the wire: the one pooled connection comes back out of any transaction, under the
    login role with no scope, and the next principal's scope applies on it."""
    db = one_connection_db
    tenants = await _tenant_ids(db)
    prairie, riverbend = tenants["Prairie 211"], tenants["Riverbend 211"]
    prairie_only = RlsScope(record_tenants=_only(prairie), directory_tenants=_only(prairie))
    riverbend_only = RlsScope(record_tenants=_only(riverbend), directory_tenants=_only(riverbend))
    # (from an equal scope: the one the request uses must not have cached its own text yet)
    slow = "SELECT pg_sleep(0.5); " + RlsScope(prairie_only.record_tenants, None).settings

    async def scoped_read() -> None:
        async with db.read_session(rls=prairie_only) as session:
            await _count(session, ContactRecord)

    monkeypatch.setattr(RlsScope, "settings", slow)
    for delay in (0.05, 0.3):
        task = asyncio.create_task(scoped_read())
        await asyncio.sleep(delay)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    monkeypatch.undo()
    await _clean_and_next_scope_applies(db, riverbend_only, riverbend)


async def test_a_request_timed_out_mid_statement_leaves_the_pooled_connection_clean(
    one_connection_db: Database,
) -> None:
    """asyncio.timeout ends a scoped statement: the connection is rolled back, unscoped."""
    db = one_connection_db
    tenants = await _tenant_ids(db)
    prairie, riverbend = tenants["Prairie 211"], tenants["Riverbend 211"]
    prairie_only = RlsScope(record_tenants=_only(prairie), directory_tenants=_only(prairie))
    riverbend_only = RlsScope(record_tenants=_only(riverbend), directory_tenants=_only(riverbend))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            async with db.read_session(rls=prairie_only) as session:
                await session.execute(text("SELECT pg_sleep(2)"))
    await _clean_and_next_scope_applies(db, riverbend_only, riverbend)


# -- (c) directory scope "*" ----------------------------------------------------------------------


async def test_every_tenant_directory_with_own_records(pg_demo: Database) -> None:
    tenants = await _tenant_ids(pg_demo)
    lakeside = tenants["Lakeside Crisis Line"]
    async with pg_demo.read_session() as session:
        directory_owners = await _tenants_seen(session, Service)
        services = await _count(session, Service)
    assert len(directory_owners) > 1

    scope = RlsScope(record_tenants=_only(lakeside), directory_tenants=None)
    async with pg_demo.read_session(rls=scope) as session:
        assert (await _who(session))[3] == rls.EVERY_TENANT
        assert await _tenants_seen(session, Service) == directory_owners
        assert await _count(session, Service) == services
        assert await _tenants_seen(session, ContactRecord) == {lakeside}

    # "*" for records too; directory limited to one tenant.
    scope = RlsScope(record_tenants=None, directory_tenants=_only(lakeside))
    async with pg_demo.read_session(rls=scope) as session:
        assert len(await _tenants_seen(session, ContactRecord)) == 3
        assert await _tenants_seen(session, Service) <= {lakeside}


# -- (d) the migration across databases of one cluster --------------------------------------------


def _alembic(db_connection: Connection, action: str, revision: str) -> None:
    config = migrate.alembic_config()
    config.attributes["connection"] = db_connection
    getattr(command, action)(config, revision)


async def _run(db: Database, action: str, revision: str) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(_alembic, action, revision)


async def _rls_state(db: Database) -> dict[str, tuple[bool, bool, int]]:
    """table -> (RLS enabled, forced, number of policies), for tables with either."""
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                " (SELECT count(*) FROM pg_policies p"
                "  WHERE p.schemaname = current_schema() AND p.tablename = c.relname)"
                " FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace"
                " AND c.relkind = 'r'"
            )
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows if r[1] or r[2] or r[3]}


async def _app_role_privileges(db: Database, table: str) -> set[str]:
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT privilege_type FROM information_schema.role_table_grants"
                " WHERE grantee = :role AND table_name = :table"
            ),
            {"role": rls.APP_ROLE, "table": table},
        )
        return {r[0] for r in rows}


async def test_the_migration_is_idempotent_across_databases_of_one_cluster(
    postgresql: str, databases: DatabaseFactory
) -> None:
    protected = _protected("DIRECTORY_TABLES") | _protected("RECORD_TABLES")
    first, second = await databases.create("postgresql"), await databases.create("postgresql")
    await migrate.upgrade(first)
    await migrate.upgrade(second)  # the role exists already: no error
    for db in (first, second):
        assert await _rls_state(db) == {t: (True, True, 2) for t in protected}
        assert await _app_role_privileges(db, "events") == {"SELECT", "INSERT"}
        assert await _app_role_privileges(db, "audit_events") == {"SELECT", "INSERT"}
        assert await _app_role_privileges(db, "alembic_version") == set()
        # case notes are append-only (migration 0010)
        assert await _app_role_privileges(db, "referral_notes") == {"SELECT", "INSERT"}
        assert await _app_role_privileges(db, "clients") == {
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
        }

    await _run(first, "downgrade", "0002")
    assert await _rls_state(first) == {}
    assert await _app_role_privileges(first, "clients") == set()
    async with second.engine.connect() as connection:  # the role survives for the others
        role = await connection.execute(
            text("SELECT rolcanlogin, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = :r"),
            {"r": rls.APP_ROLE},
        )
        assert role.one() == (False, False, False)
    assert await _rls_state(second) == {t: (True, True, 2) for t in protected}
    await _scoped_write_and_read(second)

    await migrate.upgrade(first)
    assert await _rls_state(first) == {t: (True, True, 2) for t in protected}
    await _scoped_write_and_read(first)
    for db in (first, second):
        await db.dispose()  # the factory drops them at the end of the session


async def _scoped_write_and_read(db: Database) -> None:
    mine, _ = await add_tenant_with_admin(db, f"Tenant {uuid.uuid4().hex[:8]}", uuid.uuid4().hex)
    theirs, _ = await add_tenant_with_admin(db, f"Tenant {uuid.uuid4().hex[:8]}", uuid.uuid4().hex)
    async with db.write_session() as session:
        session.add_all([Client(tenant_id=mine), Client(tenant_id=theirs)])
    scope = RlsScope(record_tenants=_only(mine), directory_tenants=_only(mine))
    async with db.write_session(rls=scope) as session:
        session.add(Client(tenant_id=mine))
        await session.flush()
        assert await _tenants_seen(session, Client) == {mine}
        assert await _count(session, Client) == 2


# -- a migration run by a non-superuser owner -----------------------------------------------------


@pytest.fixture
async def owner_db(postgresql: str) -> AsyncIterator[Database]:
    """A database owned by, migrated by and served to a non-superuser login role."""
    owner = f"sg_owner_{uuid.uuid4().hex[:10]}"
    name = f"sg_test_{uuid.uuid4().hex[:12]}"
    await _admin(f"CREATE ROLE {owner} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS")
    await _admin(f'CREATE DATABASE "{name}" OWNER {owner}')
    url = make_url(POSTGRES_URL).set(username=owner, database=name)
    db = Database(url.render_as_string(hide_password=False))
    try:
        yield db
    finally:
        await db.dispose()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await _admin(f"DROP ROLE IF EXISTS {owner}")


async def test_a_non_superuser_owner_keeps_full_access_and_may_switch_role(
    owner_db: Database,
) -> None:
    await migrate.upgrade(owner_db)
    async with owner_db.read_session() as session:
        user, _, _, _, _ = await _who(session)
        member = await session.scalar(
            text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": rls.APP_ROLE}
        )
        superuser = await session.scalar(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        )
        assert member is True and superuser is False, user
    # Unscoped, the owner writes and reads every tenant under FORCE RLS (owner_access) ...
    await _scoped_write_and_read(owner_db)
    async with owner_db.read_session() as session:
        assert len(await _tenants_seen(session, Client)) == 2
    # ... and upgrading again (a no-op) or downgrading and upgrading works as the owner.
    await migrate.upgrade(owner_db)
    await _run(owner_db, "downgrade", "0002")
    await migrate.upgrade(owner_db)
    await _scoped_write_and_read(owner_db)


# -- SQLite ---------------------------------------------------------------------------------------


async def test_a_scope_is_a_no_op_on_sqlite(backend: str, migrated_db: Database) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite-specific")
    mine, _ = await add_tenant_with_admin(migrated_db, "Mine", "mine-admin")
    theirs, _ = await add_tenant_with_admin(migrated_db, "Theirs", "theirs-admin")
    async with migrated_db.write_session() as session:
        session.add_all([Client(tenant_id=mine), Client(tenant_id=theirs)])
    scope = RlsScope(record_tenants=_only(mine), directory_tenants=_only(mine))
    async with migrated_db.read_session(rls=scope) as session:
        await rls.apply(session, scope)
        assert await _tenants_seen(session, Client) == {mine, theirs}


# -- (e) the frozen table lists -------------------------------------------------------------------


def test_every_tenant_owned_table_has_row_level_security() -> None:
    """A new TenantOwned model needs its table in migration 0003's lists (via a new migration)."""
    from sharegraph.authz.plan import DIRECTORY_MODELS

    module = _migration()
    models: list[Any] = [mapper.class_ for mapper in Base.registry.mappers]
    tenant_owned = {model.__tablename__ for model in models if issubclass(model, TenantOwned)}
    directory = _protected("DIRECTORY_TABLES")
    records = _protected("RECORD_TABLES")
    assert not directory & records
    assert sorted(tenant_owned - directory - records) == [], "TenantOwned tables without RLS"
    assert sorted((directory | records) - tenant_owned) == [], "RLS on unknown tables"
    # Inventories are no domain type (admins manage them), but select directory records.
    inventories = {"inventories", "inventory_items"}
    assert directory == {model.__tablename__ for model in DIRECTORY_MODELS} | inventories
    with_tenant_id = {t.name for t in Base.metadata.tables.values() if "tenant_id" in t.c}
    unexplained = with_tenant_id - directory - records - set(module.NO_RLS_TENANT_TABLES)
    assert sorted(unexplained) == [], "tables with a tenant_id and no decision about RLS"
    assert module.APP_ROLE == rls.APP_ROLE
    assert module.RECORD_SETTING == rls.RECORD_TENANTS_SETTING
    assert module.DIRECTORY_SETTING == rls.DIRECTORY_TENANTS_SETTING
