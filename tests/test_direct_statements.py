"""datastore/direct.py: a kept Core statement run on asyncpg's own connection answers what
SQLAlchemy's run answers, for every shape of its parameters, and fails as SQLAlchemy fails."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, event, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from sharegraph.datastore import models as m
from sharegraph.datastore.direct import DirectStatement, execute_driver_sql
from sharegraph.datastore.engine import Database, create_engine
from sharegraph.datastore.enums import Channel

from .conftest import StatementCounter


@pytest.fixture
def postgresql(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("asyncpg's own connection: PostgreSQL only")


def _statement() -> Any:
    """Fixed values bound in the statement (an IN list, a scalar), as a compiled read's plan
    binds its tenants, and parameters given per run: a scalar and an expanding list."""
    return (
        select(m.ContactRecord.id, m.ContactRecord.tenant_id)
        .where(m.ContactRecord.tenant_id.in_(select(m.Tenant.id).where(m.Tenant.name != "")))
        .where(m.ContactRecord.id.in_(bindparam("ids", expanding=True)))
        .where(m.ContactRecord.id != bindparam("skip", type_=m.ContactRecord.id.type))
        .where(m.ContactRecord.started_at > datetime(2000, 1, 1, tzinfo=UTC))
        .order_by(m.ContactRecord.id)
    )


async def _sqlalchemy_rows(
    connection: AsyncConnection, statement: Any, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in (await connection.execute(statement, params)).all()]


async def test_the_same_rows_as_sqlalchemy_for_every_shape_of_parameters(
    demo_db: Database,
) -> None:
    async with demo_db.engine.connect() as connection:
        ids = list(
            (
                await connection.execute(
                    select(m.ContactRecord.id).order_by(m.ContactRecord.id).limit(6)
                )
            ).scalars()
        )
        statement = _statement()
        direct = DirectStatement(statement)
        for size in (1, 3, 6, 3, 1):  # new shapes and shapes seen before
            params = {"ids": ids[:size], "skip": ids[0]}
            expected = await _sqlalchemy_rows(connection, statement, params)
            found = [tuple(row) for row in await direct.rows(connection, params)]
            assert found == expected and len(found) == size - 1
        if demo_db.url.startswith("postgresql"):
            assert len(direct._prepared) == 3  # one compilation per shape, each kept
            assert all(p is not None for p in direct._prepared.values())


async def test_a_value_only_sqlalchemy_can_convert_is_left_to_it(demo_db: Database) -> None:
    """An enum bound in the statement needs SQLAlchemy's processing: it runs there."""
    statement = select(m.ContactRecord.id).where(m.ContactRecord.channel == Channel.CALL).limit(5)
    async with demo_db.engine.connect() as connection:
        expected = await _sqlalchemy_rows(connection, statement, {})
        found = [tuple(row) for row in await DirectStatement(statement).rows(connection)]
    assert found == expected and found


@pytest.mark.usefixtures("postgresql")
async def test_runs_on_asyncpg_without_sqlalchemy_unless_someone_watches(
    demo_db: Database,
) -> None:
    direct = DirectStatement(_statement())
    async with demo_db.engine.connect() as connection:
        ids = list((await connection.execute(select(m.ContactRecord.id).limit(2))).scalars())
        params = {"ids": ids, "skip": ids[0]}
        counter = StatementCounter()
        event.listen(demo_db.engine.sync_engine, "before_cursor_execute", counter)
        try:
            watched = await direct.rows(connection, params)
        finally:
            event.remove(demo_db.engine.sync_engine, "before_cursor_execute", counter)
        assert counter.count == 1  # a listener sees the statement: SQLAlchemy ran it
        assert not direct._prepared
        alone = await direct.rows(connection, params)
        assert [tuple(r) for r in alone] == [tuple(r) for r in watched]
        assert len(direct._prepared) == 1


@pytest.mark.usefixtures("postgresql")
async def test_a_lost_connection_fails_as_sqlalchemy_reports_it(demo_db: Database) -> None:
    """The request's outage handling (datastore/outage.py) needs SQLAlchemy's error with the
    connection marked invalid, so the pool replaces it."""
    direct = DirectStatement(_statement())
    async with demo_db.engine.connect() as connection:
        ids = list((await connection.execute(select(m.ContactRecord.id).limit(2))).scalars())
        params = {"ids": ids, "skip": ids[0]}
        await direct.rows(connection, params)
        raw = await connection.get_raw_connection()
        pid = raw.driver_connection.get_server_pid()  # type: ignore[union-attr]
        async with demo_db.engine.connect() as other:
            await other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        with pytest.raises(DBAPIError) as raised:
            await direct.rows(connection, params)
        assert raised.value.connection_invalidated


@pytest.mark.usefixtures("postgresql")
async def test_a_driver_statement_runs_on_asyncpg_and_fails_as_sqlalchemy_reports_it(
    demo_db: Database,
) -> None:
    engine = create_engine(demo_db.url, pool_size=1, autocommit=True)
    counter = StatementCounter()
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("CREATE TEMP TABLE t (n int)")
            event.listen(engine.sync_engine, "before_cursor_execute", counter)
            await execute_driver_sql(
                connection, "INSERT INTO t SELECT unnest($1::int[])", ([1, 2],)
            )
            event.remove(engine.sync_engine, "before_cursor_execute", counter)
            await execute_driver_sql(connection, "INSERT INTO t SELECT unnest($1::int[])", ([3],))
            rows = (await connection.exec_driver_sql("SELECT n FROM t ORDER BY n")).all()
            assert [n for (n,) in rows] == [1, 2, 3]
            assert counter.count == 1  # watched: SQLAlchemy ran the first
            raw = await connection.get_raw_connection()
            pid = raw.driver_connection.get_server_pid()  # type: ignore[union-attr]
            async with demo_db.engine.connect() as other:
                await other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            with pytest.raises(DBAPIError) as raised:
                await execute_driver_sql(connection, "INSERT INTO t VALUES ($1)", (4,))
            assert raised.value.connection_invalidated
    finally:
        await engine.dispose()
