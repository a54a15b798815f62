"""One principal's script must not starve everyone else: per-principal concurrency caps and cost
budgets answer the excess with 429 RATE_LIMITED while other callers and /healthz stay fast; a
database connection lost under a request ends it with a clean 503 SERVICE_UNAVAILABLE."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from graphql import DocumentNode
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import TimeoutError as PoolTimeout

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import Principal
from sharegraph.exporters.hsds import HsdsBuilder
from sharegraph.graph.context import RequestContext
from sharegraph.graph.document_cache import MAX_CACHED_CHARS
from sharegraph.graph.loaders import Loaders
from sharegraph.graph.schema import build_schema
from sharegraph.settings import FairnessSettings, Limits, Settings
from sharegraph.web.app import create_app
from sharegraph.web.fairness import ConcurrencyLimiter, CostBudget, Fairness, operation_cost

from .conftest import POSTGRES_URL, Api

VIEWER = "{ viewer { name tenant { name } } }"
SCRIPT = "prairie-api"  # the principal whose script floods the gateway
OTHER = "prairie-admin"

Action = Callable[[RequestContext], Awaitable[None]]


def limits(**given: Any) -> FairnessSettings:
    """Only the limits a test names; the others off."""
    off: dict[str, Any] = {
        "max_concurrent_per_principal": 0,
        "max_concurrent_per_client_ip": 0,
        "concurrency_wait_seconds": 0.0,
        "max_waiting_per_principal": 0,
        "cost_per_minute_per_principal": 0,
        "expensive_cost": 0,
    }
    return FairnessSettings(**{**off, **given})


@asynccontextmanager
async def serving(
    db: Database,
    keys: dict[str, str],
    fairness: FairnessSettings,
    *,
    clock: Callable[[], float] | None = None,
    request_timeout: float = Limits.request_timeout_seconds,
) -> AsyncIterator[tuple[FastAPI, Api]]:
    settings = Settings(
        database_url=db.url,
        fairness=fairness,
        limits=Limits(request_timeout_seconds=request_timeout),
    )
    app = create_app(settings, database=db)
    if clock is not None:
        app.state.fairness = Fairness(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sharegraph.test"
        ) as http:
            yield app, Api(http=http, keys=keys, database=db)


class Gate:
    """Holds a principal's requests in their first resolver until opened. ``before`` and
    ``after`` run there, on the request's own context, around that resolver's first read."""

    def __init__(self) -> None:
        self.principal: str | None = None
        self.count: int | None = None
        self.opened = asyncio.Event()
        self.held: set[int] = set()
        self.before: Action | None = None
        self.after: Action | None = None

    def hold(self, principal: str | None, count: int | None = None) -> None:
        """Hold ``principal``'s requests (only its first ``count``)."""
        self.principal, self.count = principal, count

    def holds(self, context: RequestContext) -> bool:
        if context.principal.name != self.principal or id(context) in self.held:
            return False
        return self.count is None or len(self.held) < self.count

    async def holding(self, count: int) -> None:
        await until(lambda: len(self.held) >= count)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    gate = Gate()
    original = Loaders.one

    async def one(self: Loaders, model: Any, row_id: uuid.UUID | None) -> Any:
        context = self._context
        if not gate.holds(context):
            return await original(self, model, row_id)
        gate.held.add(id(context))
        if gate.before is not None:
            await gate.before(context)
        await gate.opened.wait()
        found = await original(self, model, row_id)
        if gate.after is not None:
            await gate.after(context)
        return found

    monkeypatch.setattr(Loaders, "one", one)
    return gate


async def viewer(api: Api, principal: str) -> httpx.Response:
    return await api.post(principal, {"query": VIEWER})


async def until(condition: Callable[[], bool | Awaitable[bool]], *, within: float = 30.0) -> None:
    """Polls ``condition`` until it holds: the tests watch state owned by the server."""
    async with asyncio.timeout(within):
        while True:
            held = condition()
            if await held if inspect.isawaitable(held) else held:
                return
            await asyncio.sleep(0.005)


async def finished(tasks: list[asyncio.Task[httpx.Response]], count: int) -> list[httpx.Response]:
    await until(lambda: sum(t.done() for t in tasks) >= count)
    return [t.result() for t in tasks if t.done()]


def assert_rate_limited(response: httpx.Response, reason: str) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    extensions = error["extensions"]
    assert (extensions["code"], extensions["reason"]) == ("RATE_LIMITED", reason)
    assert extensions["retryAfter"] >= 1
    assert response.headers["Retry-After"] == str(extensions["retryAfter"])
    return int(extensions["retryAfter"])


async def principal_key(db: Database, name: str) -> str:
    async with db.read_session() as session:
        found = await session.scalar(select(Principal.id).where(Principal.name == name))
    return f"principal:{found}"


def bearer(keys: dict[str, str], principal: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[principal]}"}


# -- concurrency ---------------------------------------------------------------------------------


async def test_a_script_over_its_concurrency_cap_is_refused_while_others_are_served(
    demo_db: Database, keys: dict[str, str], gate: Gate
) -> None:
    async with serving(demo_db, keys, limits(max_concurrent_per_principal=1)) as (app, api):
        gate.hold(SCRIPT)
        burst = [asyncio.create_task(viewer(api, SCRIPT)) for _ in range(4)]
        await gate.holding(1)
        for response in await finished(burst, 3):
            assert_rate_limited(response, "CONCURRENCY")

        # Everyone else is served while the script's request still runs.
        other = await viewer(api, OTHER)
        assert other.json() == {
            "data": {"viewer": {"name": OTHER, "tenant": {"name": "Prairie 211"}}}
        }
        async with asyncio.timeout(1.0):
            health = await api.http.get("/healthz")
        assert health.json() == {"status": "ok"}
        [running] = [t for t in burst if not t.done()]

        gate.opened.set()
        assert (await running).json()["data"]["viewer"]["name"] == SCRIPT
        assert len(app.state.fairness.concurrency) == 0  # no per-principal state left behind


async def test_a_request_over_the_cap_waits_its_turn_briefly_instead_of_being_refused(
    demo_db: Database, keys: dict[str, str], gate: Gate
) -> None:
    fairness = limits(
        max_concurrent_per_principal=1, concurrency_wait_seconds=30.0, max_waiting_per_principal=1
    )
    async with serving(demo_db, keys, fairness) as (app, api):
        limiter: ConcurrencyLimiter = app.state.fairness.concurrency
        key = await principal_key(demo_db, SCRIPT)
        gate.hold(SCRIPT)
        first = asyncio.create_task(viewer(api, SCRIPT))
        await gate.holding(1)
        second = asyncio.create_task(viewer(api, SCRIPT))
        await until(lambda: limiter.waiting(key) == 1)
        # The queue holds one: a third is refused at once rather than queued.
        assert_rate_limited(await viewer(api, SCRIPT), "CONCURRENCY")

        gate.opened.set()
        assert (await first).status_code == 200
        assert (await second).status_code == 200  # served after the first, not refused
        assert len(limiter) == 0


async def test_a_request_that_waited_too_long_is_refused(
    demo_db: Database, keys: dict[str, str], gate: Gate
) -> None:
    fairness = limits(
        max_concurrent_per_principal=1, concurrency_wait_seconds=0.2, max_waiting_per_principal=4
    )
    async with serving(demo_db, keys, fairness) as (app, api):
        gate.hold(SCRIPT)
        first = asyncio.create_task(viewer(api, SCRIPT))
        await gate.holding(1)
        assert_rate_limited(await viewer(api, SCRIPT), "CONCURRENCY")
        gate.opened.set()
        assert (await first).status_code == 200
        assert len(app.state.fairness.concurrency) == 0


async def test_a_principal_runs_one_expensive_operation_at_a_time_and_its_cheap_ones_beside_it(
    demo_db: Database, keys: dict[str, str], gate: Gate
) -> None:
    settings = Settings(database_url=demo_db.url)
    schema = build_schema(settings)._schema
    expensive = operation_cost(schema, VIEWER, None, None, settings.limits)
    cheap_query = "{ viewer { name } }"
    assert operation_cost(schema, cheap_query, None, None, settings.limits) < expensive
    fairness = limits(max_concurrent_per_principal=2, expensive_cost=expensive)
    async with serving(demo_db, keys, fairness) as (app, api):
        gate.hold(SCRIPT, count=1)
        first = asyncio.create_task(viewer(api, SCRIPT))
        await gate.holding(1)

        refused = await viewer(api, SCRIPT)  # a second expensive one, though a slot is free
        assert_rate_limited(refused, "CONCURRENCY")
        assert "expensive" in refused.json()["errors"][0]["message"]
        cheap = await api.post(SCRIPT, {"query": cheap_query})
        assert cheap.json() == {"data": {"viewer": {"name": SCRIPT}}}
        assert (await viewer(api, OTHER)).status_code == 200  # one at a time per principal

        gate.opened.set()
        assert (await first).status_code == 200
        assert len(app.state.fairness.concurrency) == 0


# -- cost budget ---------------------------------------------------------------------------------


async def test_the_cost_budget_refuses_once_spent_and_recovers_after_retry_after(
    demo_db: Database, keys: dict[str, str]
) -> None:
    settings = Settings(database_url=demo_db.url)
    cost = operation_cost(build_schema(settings)._schema, VIEWER, None, None, settings.limits)
    now = [1000.0]
    fairness = limits(cost_per_minute_per_principal=3 * cost)
    async with serving(demo_db, keys, fairness, clock=lambda: now[0]) as (_app, api):
        for _ in range(3):
            assert (await viewer(api, SCRIPT)).status_code == 200
        retry_after = assert_rate_limited(await viewer(api, SCRIPT), "COST_BUDGET")
        assert retry_after == 20  # a third of a minute's budget comes back in 20 s
        assert (await viewer(api, OTHER)).status_code == 200  # a budget per principal

        now[0] += retry_after - 1
        assert_rate_limited(await viewer(api, SCRIPT), "COST_BUDGET")
        now[0] += 1
        assert (await viewer(api, SCRIPT)).status_code == 200


async def test_requests_refused_for_concurrency_spend_no_budget(
    demo_db: Database, keys: dict[str, str], gate: Gate
) -> None:
    settings = Settings(database_url=demo_db.url)
    cost = operation_cost(build_schema(settings)._schema, VIEWER, None, None, settings.limits)
    fairness = limits(max_concurrent_per_principal=1, cost_per_minute_per_principal=3 * cost)
    async with serving(demo_db, keys, fairness, clock=lambda: 0.0) as (_app, api):
        gate.hold(SCRIPT)
        burst = [asyncio.create_task(viewer(api, SCRIPT)) for _ in range(5)]
        await gate.holding(1)
        for response in await finished(burst, 4):
            assert_rate_limited(response, "CONCURRENCY")
        gate.opened.set()
        await asyncio.gather(*burst)
        # One ran; two more fit the budget, then it is spent.
        assert (await viewer(api, SCRIPT)).status_code == 200
        assert (await viewer(api, SCRIPT)).status_code == 200
        assert_rate_limited(await viewer(api, SCRIPT), "COST_BUDGET")


# -- HSDS and export downloads -------------------------------------------------------------------


async def test_hsds_reads_and_export_downloads_take_the_same_principals_slots(
    demo_db: Database, keys: dict[str, str], gate: Gate
) -> None:
    async with serving(demo_db, keys, limits(max_concurrent_per_principal=1)) as (_app, api):
        gate.hold(SCRIPT)
        running = asyncio.create_task(viewer(api, SCRIPT))
        await gate.holding(1)

        hsds = await api.http.get("/hsds/services", headers=bearer(keys, SCRIPT))
        assert hsds.status_code == 429
        error = hsds.json()["error"]  # the HSDS API's own error shape
        assert (error["code"], error["reason"], error["retryAfter"]) == (
            "RATE_LIMITED", "CONCURRENCY", 1,
        )  # fmt: skip
        assert hsds.headers["Retry-After"] == "1"
        download = await api.http.get(f"/exports/{uuid.uuid4()}", headers=bearer(keys, SCRIPT))
        assert_rate_limited(download, "CONCURRENCY")

        # Other principals and anonymous readers are not held up.
        assert (await api.http.get("/hsds/services")).status_code == 200
        assert (
            await api.http.get("/hsds/services", headers=bearer(keys, OTHER))
        ).status_code == 200
        missing = await api.http.get(f"/exports/{uuid.uuid4()}", headers=bearer(keys, OTHER))
        assert missing.status_code == 404

        gate.opened.set()
        assert (await running).status_code == 200
        again = await api.http.get("/hsds/services", headers=bearer(keys, SCRIPT))
        assert again.status_code == 200


async def test_anonymous_hsds_readers_are_limited_by_their_address(
    demo_db: Database, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, opened = asyncio.Event(), asyncio.Event()
    original = HsdsBuilder.service_objects

    async def service_objects(self: HsdsBuilder, rows: Any, *, full: bool) -> Any:
        if not entered.is_set():
            entered.set()
            await opened.wait()
        return await original(self, rows, full=full)

    monkeypatch.setattr(HsdsBuilder, "service_objects", service_objects)
    fairness = limits(max_concurrent_per_client_ip=1, max_concurrent_per_principal=1)
    async with serving(demo_db, keys, fairness) as (app, api):
        first = asyncio.create_task(api.http.get("/hsds/services"))
        async with asyncio.timeout(30):
            await entered.wait()
        refused = await api.http.get("/hsds/organizations")
        assert refused.status_code == 429
        assert refused.json()["error"]["reason"] == "CONCURRENCY"
        # A caller with credentials is a principal, not an address.
        served = await api.http.get("/hsds/organizations", headers=bearer(keys, OTHER))
        assert served.status_code == 200

        opened.set()
        assert (await first).status_code == 200
        assert (await api.http.get("/hsds/organizations")).status_code == 200
        assert len(app.state.fairness.concurrency) == 0


# -- the limiter on its own ----------------------------------------------------------------------


async def test_waiting_requests_are_served_first_come_first_served() -> None:
    limiter = ConcurrencyLimiter(wait_seconds=30.0, max_waiting=10)
    await limiter.acquire("k", 1)
    order: list[str] = []

    async def waiter(name: str) -> None:
        await limiter.acquire("k", 1)
        order.append(name)

    tasks = []
    for name in ("b", "c", "d"):
        tasks.append(asyncio.create_task(waiter(name)))
        await until(lambda: limiter.waiting("k") == len(tasks))
    for _ in range(3):
        limiter.release("k")
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    assert order == ["b", "c", "d"]
    limiter.release("k")
    assert len(limiter) == 0


async def test_a_waiter_that_goes_away_leaves_nothing_behind() -> None:
    limiter = ConcurrencyLimiter(wait_seconds=30.0, max_waiting=10)
    await limiter.acquire("k", 1)
    gone = asyncio.create_task(limiter.acquire("k", 1))
    await until(lambda: limiter.waiting("k") == 1)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert limiter.waiting("k") == 0
    limiter.release("k")
    assert len(limiter) == 0


def test_buckets_that_filled_up_again_are_forgotten() -> None:
    now = [0.0]
    budget = CostBudget(600, window_seconds=60.0, clock=lambda: now[0])
    budget.charge("busy", 600)
    budget.charge("light", 60)
    now[0] = 61.0
    budget.charge("busy", 600)  # refilled: a full minute's budget again
    assert len(budget) == 1  # "light" refilled and was dropped; "busy" is empty again


@pytest.mark.faults
async def test_no_free_database_connection_is_a_503_to_retry_not_an_internal_error(
    demo_db: Database, keys: dict[str, str], gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    async def pool_exhausted(_context: RequestContext) -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 10 reached, connection timed out")

    gate.before = pool_exhausted
    gate.opened.set()
    async with serving(demo_db, keys, limits()) as (_app, api):
        gate.hold(SCRIPT)
        response = await viewer(api, SCRIPT)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        [error] = response.json()["errors"]
        assert (error["extensions"]["code"], error["extensions"]["reason"]) == (
            "SERVICE_UNAVAILABLE", "DATABASE_BUSY",
        )  # fmt: skip
        assert errors_logged(caplog) == []


# -- a database connection lost under a request (PostgreSQL) -------------------------------------


async def admin_connection() -> Any:
    import asyncpg  # type: ignore[import-untyped]

    url = make_url(POSTGRES_URL)
    return await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        database=url.database,
    )  # fmt: skip


async def backend_pid(context: RequestContext) -> int:
    async with context.db() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


async def terminate(pid: int, *, when_running: str | None = None) -> None:
    """Ends the backend ``pid`` (once it runs ``when_running``), and waits until it is gone."""
    admin = await admin_connection()
    try:
        activity = "SELECT state, query FROM pg_stat_activity WHERE pid = $1"

        async def running() -> bool:
            row = await admin.fetchrow(activity, pid)
            return bool(row and row["state"] == "active" and when_running in row["query"])

        async def gone() -> bool:
            return await admin.fetchrow(activity, pid) is None

        if when_running is not None:
            await until(running)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        await until(gone)
    finally:
        await admin.close()


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture
def postgres_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("terminates a PostgreSQL backend under the request")


@pytest.mark.usefixtures("postgres_only")
@pytest.mark.faults
async def test_a_connection_lost_mid_query_ends_the_request_with_503(
    demo_db: Database, keys: dict[str, str], gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    async def slow_query(context: RequestContext) -> None:
        pid = await backend_pid(context)
        killer = asyncio.create_task(terminate(pid, when_running="pg_sleep"))
        try:
            async with context.db() as session:
                await session.execute(text("SELECT pg_sleep(30)"))
        finally:
            await killer

    gate.before = slow_query
    gate.opened.set()
    async with serving(demo_db, keys, limits()) as (_app, api):
        gate.hold(SCRIPT)
        response = await viewer(api, SCRIPT)
        assert response.status_code == 503
        [error] = response.json()["errors"]
        assert response.json()["data"] is None
        assert (error["extensions"]["code"], error["extensions"]["reason"]) == (
            "SERVICE_UNAVAILABLE", "DATABASE_CONNECTION_LOST",
        )  # fmt: skip
        assert errors_logged(caplog) == []

        gate.hold(None)
        assert (await viewer(api, SCRIPT)).json()["data"]["viewer"]["name"] == SCRIPT


@pytest.mark.usefixtures("postgres_only")
@pytest.mark.faults
async def test_a_connection_lost_after_the_last_read_still_answers_and_closes_quietly(
    demo_db: Database, keys: dict[str, str], gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    # What stopped the benchmark: the request read everything, its connection then died, and
    # closing the session (a ROLLBACK) raised InterfaceError out of the request.
    async def lose_connection(context: RequestContext) -> None:
        await terminate(await backend_pid(context))

    gate.after = lose_connection
    gate.opened.set()
    async with serving(demo_db, keys, limits()) as (_app, api):
        gate.hold(SCRIPT)
        response = await viewer(api, SCRIPT)
        assert response.status_code == 200
        assert response.json() == {
            "data": {"viewer": {"name": SCRIPT, "tenant": {"name": "Prairie 211"}}}
        }
        assert errors_logged(caplog) == []
        assert "lost before its session closed" in caplog.text  # the path this test is about
        gate.hold(None)
        assert (await viewer(api, OTHER)).status_code == 200


@pytest.mark.usefixtures("postgres_only")
@pytest.mark.faults
async def test_a_timeout_mid_query_ends_the_query_and_closes_the_session_cleanly(
    demo_db: Database, keys: dict[str, str], gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    pids: list[int] = []

    async def slow_query(context: RequestContext) -> None:
        pids.append(await backend_pid(context))
        async with context.db() as session:
            await session.execute(text("SELECT pg_sleep(30)"))

    gate.before = slow_query
    gate.opened.set()
    async with serving(demo_db, keys, limits(), request_timeout=0.5) as (_app, api):
        gate.hold(SCRIPT)
        response = await viewer(api, SCRIPT)
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "TIMEOUT"
        assert errors_logged(caplog) == []
        admin = await admin_connection()
        try:
            running = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'"

            async def stopped() -> bool:
                return bool(await admin.fetchval(running, pids[0]) == 0)

            await until(stopped, within=10)  # the database stops working on it too
        finally:
            await admin.close()
        gate.hold(None)
        assert (await viewer(api, SCRIPT)).status_code == 200


async def test_the_cost_admission_keeps_no_large_document_alive(api: Api, backend: str) -> None:
    """The cost admission parsed the operation through a cache of 256 documents of any size:
    a document passes the token limit with a string of megabytes in it, and each kept its text
    and that string alive (10 MB per 5 MB body, 2.5 GB for 256 of them)."""
    marker = f"large-document-kept-{backend}"
    for i in range(3):
        query = f'query {{ contactRecord(id: "{marker}{i}{"x" * 100_000}") {{ id }} }}'
        response = await api.post(OTHER, {"query": query})
        assert response.status_code == 200, response.text
    gc.collect()
    kept = [
        o
        for o in gc.get_objects()
        if isinstance(o, DocumentNode)
        and o.loc is not None
        and len(o.loc.source.body) > MAX_CACHED_CHARS
        and marker in o.loc.source.body
    ]
    assert kept == []
