"""The fixed cost of one GraphQL request, in database round trips, and what pooled
connections do when the database closes them (a restart) now that nothing pings them on
every checkout."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from sharegraph.benchmarks.overhead import RoundTrips
from sharegraph.benchmarks.run import CONTACT_RECORD
from sharegraph.datastore import engine as engine_module
from sharegraph.datastore import models as m
from sharegraph.datastore.engine import Database
from sharegraph.datastore.outage import DatabaseUnavailable
from sharegraph.graph.relay import to_global_id

from .conftest import POSTGRES_URL, Api, make_api

# Round trips of one `contactRecord(id:)` request as prairie-admin through the compiled path,
# as measured when this test was written; fewer is fine, more is a regression to explain.
# PostgreSQL: no authentication (the API key is remembered: authz/credential_cache.py), the
# read (BEGIN with the RLS set_config in one simple query, the statement, ROLLBACK), the audit
# rows (one INSERT, in autocommit). SQLite: every call aiosqlite hands to its thread (cursors, executes, fetches,
# closes).
MOST_ROUND_TRIPS = {"postgresql": 4, "sqlite": 17}
PING = "Connection.fetchrow ;"  # SQLAlchemy's asyncpg ping (inside BEGIN ... ROLLBACK)


@pytest.fixture
async def own_api(seeded_db: Database, keys: dict[str, str]) -> AsyncIterator[Api]:
    async for client in make_api(seeded_db, keys):
        yield client


async def _record_id(db: Database) -> str:
    async with db.read_session() as session:
        tenant = await session.scalar(
            select(m.Principal.tenant_id).where(m.Principal.name == "prairie-admin")
        )
        record = await session.scalar(
            select(m.Referral.contact_record_id)
            .where(m.Referral.tenant_id == tenant)
            .group_by(m.Referral.contact_record_id)
            .order_by(func.count().desc(), m.Referral.contact_record_id)
            .limit(1)
        )
    assert record is not None
    return to_global_id("ContactRecord", record)


async def _by_id(api: Api, record: str) -> dict[str, Any]:
    response = await api.post(
        "prairie-admin", {"query": CONTACT_RECORD, "variables": {"id": record}}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    assert body["data"]["contactRecord"]["referrals"], body
    return body


async def test_a_by_id_request_makes_few_round_trips(own_api: Api, backend: str) -> None:
    record = await _record_id(own_api.database)
    await _by_id(own_api, record)  # warm: plan cache, pool, the API key's use written
    await _by_id(own_api, record)
    trips = RoundTrips(record=True)
    with trips.counting():
        await _by_id(own_api, record)
    assert trips.count <= MOST_ROUND_TRIPS[backend], "\n".join(trips.calls)
    if backend == "postgresql":
        # No pre-ping on checkout (BEGIN; `;`; ROLLBACK), and the audit rows are written.
        assert PING not in trips.calls, trips.calls
        assert sum("INSERT INTO audit_events" in call for call in trips.calls) == 1, trips.calls


# -- PostgreSQL closing the pool's connections ----------------------------------------------


@pytest.fixture
def postgres_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("terminates PostgreSQL backends")


async def _admin() -> Any:
    import asyncpg  # type: ignore[import-untyped]

    url = make_url(POSTGRES_URL)
    return await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )


async def _terminate_every_backend_of(db: Database, *, wait: bool = True) -> int:
    """What a PostgreSQL restart does to a database's clients: every backend ends. Returns how
    many ended, once they are gone (``wait``) or at once."""
    name = make_url(db.url).database
    admin = await _admin()
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = $1"
        async with asyncio.timeout(30):
            while wait:
                if await admin.fetchval(gone, name):
                    break
                await asyncio.sleep(0.01)
    finally:
        await admin.close()
    return int(ended)


def _pooled_drivers(db: Database) -> list[Any]:
    """The asyncpg connections idle in the pool (SQLAlchemy's asyncio queue around asyncio's)."""
    records = db.engine.sync_engine.pool._pool._queue._queue  # type: ignore[attr-defined]
    return [r.driver_connection for r in list(records) if r.driver_connection is not None]


async def _closes_seen(drivers: list[Any]) -> None:
    """Wait for the event loop to have read the close of each of ``drivers``, as it has long
    done when a real restart's next request comes (right after the backends end, a request can
    still find one unread: it gets the retryable DATABASE_CONNECTION_LOST, as the test after
    next checks)."""
    async with asyncio.timeout(10):
        while True:
            if all(d.is_closed() for d in drivers):
                break
            await asyncio.sleep(0.01)


@pytest.mark.usefixtures("postgres_only")
async def test_requests_work_again_after_the_database_closed_every_connection(
    own_api: Api,
) -> None:
    record = await _record_id(own_api.database)
    # Several connections pooled: concurrent requests check out one each.
    await asyncio.gather(*(_by_id(own_api, record) for _ in range(4)))
    pooled = own_api.database.engine.sync_engine.pool.checkedin()  # type: ignore[attr-defined]
    assert pooled >= 2
    drivers = _pooled_drivers(own_api.database)
    assert await _terminate_every_backend_of(own_api.database) >= pooled
    await _closes_seen(drivers)
    # The very next request works (no pre-ping: the closed connections are seen as closed on
    # checkout and replaced), and so do concurrent ones.
    await _by_id(own_api, record)
    await asyncio.gather(*(_by_id(own_api, record) for _ in range(4)))
    async with own_api.database.read_session() as session:
        assert await session.scalar(text("SELECT 1")) == 1


@pytest.mark.usefixtures("postgres_only")
async def test_requests_racing_the_closes_get_a_retryable_answer_then_work(own_api: Api) -> None:
    """Requests sent the moment the backends end, before the closes are read, either work or
    get 503 DATABASE_CONNECTION_LOST (its connection replaced), never another error."""
    record = await _record_id(own_api.database)
    for _ in range(3):
        await asyncio.gather(*(_by_id(own_api, record) for _ in range(4)))
        drivers = _pooled_drivers(own_api.database)
        await _terminate_every_backend_of(own_api.database, wait=False)
        responses = await asyncio.gather(
            *(
                own_api.post(
                    "prairie-admin", {"query": CONTACT_RECORD, "variables": {"id": record}}
                )
                for _ in range(4)
            )
        )
        for response in responses:
            if response.status_code == 200:
                assert "errors" not in response.json(), response.text
                continue
            assert response.status_code == 503, response.text
            [error] = response.json()["errors"]
            assert error["extensions"]["reason"] == "DATABASE_CONNECTION_LOST", response.text
        await _closes_seen(drivers)
        await _by_id(own_api, record)


@pytest.mark.usefixtures("postgres_only")
async def test_a_connection_idle_for_long_is_pinged_before_use(
    own_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection dropped on the way without a close (a NAT forgetting an idle flow) is
    caught by a ping, but only after it sat idle; one in steady use is not pinged."""
    record = await _record_id(own_api.database)
    await _by_id(own_api, record)
    trips = RoundTrips(record=True)
    with trips.counting():
        await _by_id(own_api, record)
    assert PING not in trips.calls, trips.calls
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", -1.0)
    trips.reset()
    with trips.counting():
        await _by_id(own_api, record)
    assert PING in trips.calls, trips.calls


# -- the operation's measure, remembered ------------------------------------------------------


def test_a_documents_measure_is_remembered_per_page_size_not_per_id() -> None:
    from graphql import parse

    from sharegraph.graph.limits import measure, measure_query
    from sharegraph.graph.schema import build_schema
    from sharegraph.settings import Limits, Settings

    schema = build_schema(Settings())._schema  # type: ignore[attr-defined]
    limits = Limits()
    query = """query Q($id: ID!, $first: Int) {
      contactRecord(id: $id) { id }
      contactRecords(first: $first) { edges { node { id needs { code } } } }
    }"""
    parsed: list[int] = []

    def document() -> Any:
        parsed.append(1)
        return parse(query)

    def measured(variables: dict[str, Any]) -> Any:
        return measure_query(schema, query, document, None, variables, limits)

    ten = measured({"id": "a", "first": 10})
    assert measured({"id": "b", "first": 10}) is ten  # other ids: the same measure
    assert len(parsed) == 1
    hundred = measured({"id": "a", "first": 100})
    assert hundred is not None and ten is not None and hundred.cost > ten.cost
    default = measured({"id": "a"})  # no page size given: the default, measured anew
    assert len(parsed) == 3
    for got, variables in ((ten, {"first": 10}), (hundred, {"first": 100}), (default, {})):
        assert got == measure(schema, parse(query), None, {"id": "a", **variables}, limits)
    assert measure_query(schema, "{", lambda: None, None, {}, limits) is None  # no parse


# -- authentication's one-statement connection ------------------------------------------------


async def test_no_free_connection_for_authentication_is_database_busy(
    demo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool gives no connection in time: authentication's connection never started, and
    the request is refused as DATABASE_BUSY (a 503 to retry), not an error about closing a
    connection that never opened (a 500)."""
    real_create = engine_module.create_engine

    def one_connection(url: str, *, echo: bool = False) -> Any:
        engine = real_create(url, echo=echo, pool_size=1)
        engine.sync_engine.pool._timeout = 0.1  # type: ignore[attr-defined]
        return engine

    monkeypatch.setattr(engine_module, "create_engine", one_connection)
    db = Database(demo_db.url)
    try:
        async with db.engine.connect() as held:
            await held.execute(text("SELECT 1"))
            with pytest.raises(DatabaseUnavailable) as refused:
                async with db.single_read_connection() as connection:
                    await connection.execute(text("SELECT 1"))
        assert refused.value.reason == "DATABASE_BUSY"
        async with db.single_read_connection() as connection:  # free again: works
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await db.dispose()


async def test_a_database_that_refuses_connections_is_database_unreachable(
    demo_db: Database,
) -> None:
    """A server that is down refuses the socket: reads, authentication's connection and writes
    are each refused 503 DATABASE_UNREACHABLE (to retry), not an internal error."""
    if not demo_db.url.startswith("postgresql"):
        pytest.skip("SQLite opens a file, no server to refuse it")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    down = Database(str(make_url(demo_db.url).set(host="127.0.0.1", port=port)))
    try:
        with pytest.raises(DatabaseUnavailable) as reading:
            async with down.read_session() as session:
                await session.execute(text("SELECT 1"))
        with pytest.raises(DatabaseUnavailable) as authenticating:
            async with down.single_read_connection() as connection:
                await connection.execute(text("SELECT 1"))
        with pytest.raises(DatabaseUnavailable) as writing:
            async with down.write_session() as session:
                await session.execute(text("SELECT 1"))
        for refused in (reading, authenticating, writing):
            assert refused.value.reason == "DATABASE_UNREACHABLE"
    finally:
        await down.dispose()
