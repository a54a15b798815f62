"""The fixed cost of one ``POST /graphql``: latency, CPU and database round trips per request.

``python -m sharegraph.benchmarks.overhead [--database URL] [--requests N]`` runs N sequential
requests of ``benchmarks/run.py``'s by-id and 100-record documents as ``prairie-admin``,
in process (``httpx.ASGITransport``: no sockets, no uvicorn), and prints per document:

- p50 latency (``time.perf_counter``);
- CPU time per request (``time.process_time``: every thread of the process, so aiosqlite's
  worker thread is counted; the database server's CPU is not);
- database round trips per request (median): every call into the driver that waits for the
  server, counted by wrapping the driver (asyncpg: ``Connection.execute/fetch*/executemany/
  prepare`` and ``PreparedStatement.fetch*/executemany/cursor``; aiosqlite: every call its
  worker thread runs for a connection, ``Connection._execute``). Pool pre-pings, BEGIN/COMMIT
  and the audit write's own connection are included, the app's background tasks (the policy
  store's version check) are not; an API key's use, written once a minute, can add a few to
  one request, hence the median;
- Python function calls per request, from a second pass of N requests under ``cProfile``
  (which counts each resumption of a coroutine as a call): the steadiest measure of the
  Python work a request does, where CPU time swings with what else the machine runs.

Round trips and Python calls are what to compare across changes on a shared machine; CPU time
and latency move with the load (state it with every figure). The database is seeded with the
demo network at ``--scale`` when empty (a SQLite file ``var/overhead-<scale>.db`` by
default).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import pstats
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from sharegraph import demo
from sharegraph.benchmarks.run import CONTACT_RECORD, CONTACT_RECORDS, DEFAULT_PRINCIPAL
from sharegraph.datastore import models as m
from sharegraph.datastore.engine import Database
from sharegraph.graph.relay import to_global_id
from sharegraph.settings import FairnessSettings, Settings
from sharegraph.web.app import create_app


class RoundTrips:
    """Counts calls into the database driver that wait for the server, made by the task that
    entered :meth:`counting` and the tasks it starts (the audit's group commit), not by the
    app's background tasks (the policy store's version check)."""

    def __init__(self, *, record: bool = False) -> None:
        self.count = 0
        self.record = record
        self.calls: list[str] = []  # with ``record``: what each call was (a test's message)
        self._mine: ContextVar[bool] = ContextVar("round_trips_counted", default=False)

    def _wrap(self, owner: Any, name: str) -> Callable[[], None]:
        original = getattr(owner, name)

        @functools.wraps(original)
        async def counted(*args: Any, **kwargs: Any) -> Any:
            if self._mine.get():
                self.count += 1
                if self.record:
                    self.calls.append(f"{owner.__name__}.{name} {_what(args)}".strip())
            return await original(*args, **kwargs)

        setattr(owner, name, counted)
        return lambda: setattr(owner, name, original)

    def reset(self) -> None:
        self.count = 0
        self.calls.clear()

    @contextmanager
    def counting(self) -> Iterator[RoundTrips]:
        undo: list[Callable[[], None]] = []
        mine = self._mine.set(True)
        try:
            import asyncpg  # type: ignore[import-untyped]
            from asyncpg.prepared_stmt import PreparedStatement  # type: ignore[import-untyped]

            for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval", "prepare"):
                undo.append(self._wrap(asyncpg.Connection, name))
            for name in ("fetch", "fetchrow", "fetchval", "executemany", "cursor"):
                undo.append(self._wrap(PreparedStatement, name))
        except ImportError:
            pass
        import aiosqlite

        undo.append(self._wrap(aiosqlite.Connection, "_execute"))
        try:
            yield self
        finally:
            self._mine.reset(mine)
            for step in reversed(undo):
                step()


def _what(args: tuple[Any, ...]) -> str:
    """A short name for a driver call: its SQL, or aiosqlite's function."""
    if args and hasattr(args[0], "get_query"):  # an asyncpg prepared statement
        return " ".join(str(args[0].get_query()).split())[:120]
    if len(args) < 2:
        return ""
    target = args[1]
    query = getattr(target, "func", target)  # aiosqlite: functools.partial(cursor.execute, ...)
    text = str(getattr(query, "__qualname__", query))
    if hasattr(target, "args") and target.args:
        text += f" {str(target.args[0])[:80]!r}"
    return " ".join(text.split())[:120]


async def principal_and_record(db: Database, settings: Settings) -> tuple[dict[str, str], Any]:
    """The demo principals' API keys, and the contact record of DEFAULT_PRINCIPAL's tenant with
    the most referrals (what the by-id documents look up)."""
    keys = {
        str(p["name"]): str(p["apiKey"]) for p in demo.demo_principal_keys(settings.demo_secret)
    }
    async with db.read_session() as session:
        tenant = await session.scalar(
            select(m.Principal.tenant_id).where(m.Principal.name == DEFAULT_PRINCIPAL)
        )
        record = await session.scalar(
            select(m.Referral.contact_record_id)
            .where(m.Referral.tenant_id == tenant)
            .group_by(m.Referral.contact_record_id)
            .order_by(func.count().desc(), m.Referral.contact_record_id)
            .limit(1)
        )
    return keys, record


async def measure(
    url: str, scale: int, requests: int, profile_to: str | None = None
) -> list[dict[str, Any]]:
    # No scheduler (its polls are not the request's) and no per-principal limits.
    settings = Settings.from_env(
        database_url=url, fairness=FairnessSettings.unlimited(), scheduler=False
    )
    db = Database(url)
    await demo.seed(db, scale=scale, demo_secret=settings.demo_secret)
    keys, record = await principal_and_record(db, settings)
    documents = [
        ("contact-record-by-id", CONTACT_RECORD, {"id": to_global_id("ContactRecord", record)}),
        ("contact-records-100", CONTACT_RECORDS, {}),
    ]
    app = create_app(settings, database=db)
    results = []
    trips = RoundTrips()
    headers = {"Authorization": f"Bearer {keys[DEFAULT_PRINCIPAL]}"}
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                for name, query, variables in documents:
                    body = {"query": query, "variables": variables}

                    async def post(body: dict[str, Any] = body, name: str = name) -> None:
                        response = await http.post("/graphql", json=body, headers=headers)
                        answer = response.json()
                        if response.status_code != 200 or answer.get("data") is None:
                            raise RuntimeError(f"{name}: {response.status_code} {answer}")

                    for _ in range(max(3, requests // 10)):  # warm-up: caches, plans, pool
                        await post()
                    latencies, counts = [], []
                    with trips.counting():
                        cpu = time.process_time()
                        for _ in range(requests):
                            trips.reset()
                            started = time.perf_counter()
                            await post()
                            latencies.append(time.perf_counter() - started)
                            counts.append(trips.count)
                        cpu = time.process_time() - cpu
                    profile = cProfile.Profile()  # a pass of its own: cProfile slows it down
                    profile.enable()
                    for _ in range(requests):
                        await post()
                    profile.disable()
                    if profile_to is not None:
                        profile.dump_stats(f"{profile_to}-{name}.pstats")
                    calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
                    results.append(
                        {
                            "document": name,
                            "p50_ms": round(statistics.median(latencies) * 1000, 2),
                            "cpu_ms_per_request": round(cpu / requests * 1000, 2),
                            "round_trips": statistics.median(counts),
                            "round_trips_min_max": (min(counts), max(counts)),
                            "python_calls": round(calls / requests),
                        }
                    )
    finally:
        await db.dispose()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sharegraph.benchmarks.overhead")
    parser.add_argument("--database", default=None, help="default: var/overhead-<scale>.db")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--profile",
        default=None,
        metavar="PREFIX",
        help="write the cProfile pass of each document to PREFIX-<document>.pstats",
    )
    args = parser.parse_args(argv)
    url = args.database or f"sqlite+aiosqlite:///{Path('var') / f'overhead-{args.scale}.db'}"
    with open("/proc/loadavg") as loadavg:
        load_before = " ".join(loadavg.read().split()[:3])
    results = asyncio.run(measure(url, args.scale, args.requests, args.profile))
    with open("/proc/loadavg") as loadavg:
        load_after = " ".join(loadavg.read().split()[:3])
    print(f"{url.split('://')[0]}, {args.requests} requests, load {load_before} -> {load_after}")
    for row in results:
        print(
            f"  {row['document']:22} p50 {row['p50_ms']:7.2f} ms  "
            f"cpu {row['cpu_ms_per_request']:7.2f} ms/request  "
            f"round trips {row['round_trips']:g} (min {row['round_trips_min_max'][0]}, "
            f"max {row['round_trips_min_max'][1]})  python calls {row['python_calls']}"
        )


if __name__ == "__main__":
    main()
