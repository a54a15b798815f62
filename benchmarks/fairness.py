"""Fairness benchmark: does one principal's flood of heavy queries slow everyone else down?

    .venv/bin/python -m sharegraph.benchmarks.fairness                    # SQLite var/bench-10.db
    .venv/bin/python -m sharegraph.benchmarks.fairness --database postgresql+asyncpg://...
    .venv/bin/python -m sharegraph.benchmarks.fairness --json --polite   # the flood honours 429s

Serves the real app under uvicorn on a loopback port in a child process (so the clients' own
work does not share the server's event loop), with the per-principal limits off, with the
defaults (``FairnessSettings.from_env``) and with the defaults but no separate cap on
expensive operations, and for each:

1. unloaded: ``--requests`` sequential simple queries as ``lakeside-admin`` and as many
   ``GET /healthz``: p50/p95;
2. loaded: the same while ``prairie-admin`` keeps ``--flood`` concurrent heavy queries in
   flight (``contactRecords(first: 100)`` with clients, needs and referrals, the ``run.py``
   scenario, ~60-100 ms each): each flood worker sends its next query as soon as the previous
   one is answered, refused (429) or not, unless ``--polite``, where it first sleeps
   ``Retry-After``.

Prints the simple query's loaded/unloaded p50 ratio (target: at most 5x with the limits on),
/healthz, and what the flood got (served, refused for concurrency or for cost).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sharegraph import demo
from sharegraph.benchmarks.run import CONTACT_RECORDS, PARTIAL_RESULT_CODES, default_database
from sharegraph.datastore.engine import Database
from sharegraph.settings import FairnessSettings, Settings

SIMPLE = "{ viewer { name tenant { name } } }"
HEAVY = CONTACT_RECORDS
SIMPLE_PRINCIPAL = "lakeside-admin"
FLOOD_PRINCIPAL = "prairie-admin"
TARGET_RATIO = 5.0
RAMP_SECONDS = 1.0


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p95_ms: float
    samples: int

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        cuts = statistics.quantiles(seconds, n=20, method="inclusive")
        return cls(round(cuts[9] * 1000, 2), round(cuts[18] * 1000, 2), len(seconds))


@dataclass
class Phase:
    simple: Latency
    healthz: Latency


@dataclass
class Run:
    limits: str  # "off", "on (defaults)", ...
    fairness: dict[str, Any]
    unloaded: Phase
    loaded: Phase
    ratio: float  # loaded simple p50 / unloaded simple p50
    flood: dict[str, int] = field(default_factory=dict)  # outcome -> count
    flood_seconds: float = 0.0


@dataclass
class Report:
    database: str
    dialect: str
    flood: int
    requests: int
    polite: bool
    load_average_at_start: list[float]
    runs: list[Run] = field(default_factory=list)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serving(database: str, limits: FairnessSettings) -> AsyncIterator[str]:
    """``sharegraph`` under uvicorn in a child process; yields its URL once it answers."""
    port = _free_port()
    command = [
        sys.executable, "-m", "sharegraph.benchmarks.fairness", "serve",
        "--database", database, "--port", str(port), "--limits", json.dumps(asdict(limits)),
    ]  # fmt: skip
    child = await asyncio.create_subprocess_exec(*command)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5.0) as http:
            for _ in range(600):
                if child.returncode is not None:
                    raise RuntimeError(f"the server exited with {child.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the server did not answer /healthz within 60 s")
        yield url
    finally:
        if child.returncode is None:
            child.terminate()
            try:
                await asyncio.wait_for(child.wait(), 30)
            except TimeoutError:
                child.kill()
                await child.wait()


def _serve(database: str, port: int, limits: dict[str, Any]) -> None:
    import uvicorn

    from sharegraph.web.app import create_app

    # The scheduler's background work would be noise here.
    settings = replace(
        Settings.from_env(database_url=database),
        fairness=FairnessSettings(**limits),
        scheduler=False,
    )
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="auto",
    )


async def _timed(count: int, call: Callable[[], Awaitable[None]]) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def _phase(url: str, keys: dict[str, str], requests: int) -> Phase:
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as http:
        headers = {"Authorization": f"Bearer {keys[SIMPLE_PRINCIPAL]}"}

        async def simple() -> None:
            response = await http.post("/graphql", json={"query": SIMPLE}, headers=headers)
            if response.status_code != 200 or "errors" in response.json():
                raise RuntimeError(f"simple query: {response.status_code} {response.text[:300]}")

        async def healthz() -> None:
            (await http.get("/healthz")).raise_for_status()

        simple_samples = await _timed(requests, simple)
        health_samples = await _timed(requests, healthz)
    return Phase(Latency.of(simple_samples), Latency.of(health_samples))


def _unexpected(body: dict[str, Any]) -> list[Any]:
    # Fields the sharing policies withhold on some rows come with a normal answer.
    codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors", [])]
    return [c for c in codes if c not in PARTIAL_RESULT_CODES]


async def _flood(
    url: str, key: str, workers: int, polite: bool, stop: asyncio.Event, outcomes: Counter[str]
) -> None:
    payload = {"query": HEAVY}
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=url, timeout=120.0, limits=limits) as http:

        async def worker() -> None:
            while not stop.is_set():
                try:
                    response = await http.post("/graphql", json=payload, headers=headers)
                except httpx.TransportError as error:
                    outcomes[type(error).__name__] += 1
                    continue
                if response.status_code == 429:
                    reason = response.json()["errors"][0]["extensions"]["reason"]
                    outcomes[f"429 {reason}"] += 1
                    if polite:
                        with contextlib.suppress(TimeoutError):
                            wait = float(response.headers.get("Retry-After", "1"))
                            await asyncio.wait_for(stop.wait(), wait)
                elif response.status_code == 200 and not _unexpected(response.json()):
                    outcomes["served"] += 1
                else:
                    outcomes[f"{response.status_code} other"] += 1

        await asyncio.gather(*(worker() for _ in range(workers)))


async def _run(
    database: str,
    limits: FairnessSettings,
    label: str,
    keys: dict[str, str],
    flood: int,
    requests: int,
    polite: bool,
) -> Run:
    async with serving(database, limits) as url:
        progress(f"limits {label}: warm-up, then {requests} simple queries and /healthz unloaded")
        async with httpx.AsyncClient(base_url=url, timeout=60.0) as http:
            for _ in range(5):  # the heavy query's plans and caches, once
                await http.post(
                    "/graphql",
                    json={"query": HEAVY},
                    headers={"Authorization": f"Bearer {keys[FLOOD_PRINCIPAL]}"},
                )
        await _phase(url, keys, max(10, requests // 10))  # warm-up
        unloaded = await _phase(url, keys, requests)
        progress(f"limits {label}: the same while {FLOOD_PRINCIPAL} floods with {flood} at once")
        stop = asyncio.Event()
        outcomes: Counter[str] = Counter()
        started = time.perf_counter()
        flooding = asyncio.create_task(
            _flood(url, keys[FLOOD_PRINCIPAL], flood, polite, stop, outcomes)
        )
        await asyncio.sleep(RAMP_SECONDS)
        try:
            loaded = await _phase(url, keys, requests)
        finally:
            stop.set()
            await flooding
        return Run(
            limits=label,
            fairness=asdict(limits),
            unloaded=unloaded,
            loaded=loaded,
            ratio=round(loaded.simple.p50_ms / unloaded.simple.p50_ms, 2),
            flood=dict(sorted(outcomes.items())),
            flood_seconds=round(time.perf_counter() - started, 1),
        )


async def _main(database: str | None, flood: int, requests: int, polite: bool) -> Report:
    url = database or default_database(10)
    settings = Settings.from_env(database_url=url)
    db = Database(url)
    try:
        progress(f"demo network in {make_url(db.url).render_as_string()} ...")
        await demo.seed(db, scale=10, demo_secret=settings.demo_secret)
        if db.dialect == "postgresql":
            async with db.engine.begin() as connection:
                await connection.execute(text("ANALYZE"))
        dialect = db.dialect
    finally:
        await db.dispose()
    principals = demo.demo_principal_keys(settings.demo_secret)
    keys = {str(p["name"]): str(p["apiKey"]) for p in principals}
    report = Report(
        database=make_url(url).render_as_string(hide_password=True),
        dialect=dialect,
        flood=flood,
        requests=requests,
        polite=polite,
        load_average_at_start=[round(x, 2) for x in os.getloadavg()],
    )
    defaults = FairnessSettings.from_env()
    runs = [
        (FairnessSettings.unlimited(), "off"),
        (defaults, "on (defaults)"),
    ]
    if defaults.expensive_cost:
        runs.append((replace(defaults, expensive_cost=0), "on, no expensive cap"))
    for limits, label in runs:
        report.runs.append(await _run(url, limits, label, keys, flood, requests, polite))
    return report


def _table(report: Report) -> None:
    print(
        f"{report.dialect}: {report.flood} concurrent heavy queries from {FLOOD_PRINCIPAL} "
        f"({'polite: sleeps Retry-After' if report.polite else 'retries at once'}), "
        f"{report.requests} simple queries from {SIMPLE_PRINCIPAL}; load average at start "
        f"{report.load_average_at_start}"
    )
    columns = (
        "limits", "simple p50", "simple p95", "loaded p50", "loaded p95", "ratio",
        "healthz p50", "loaded healthz p50", "loaded healthz p95", "flood outcomes",
    )  # fmt: skip
    print(" | ".join(columns))
    for run in report.runs:
        verdict = "met" if run.ratio <= TARGET_RATIO else "NOT met"
        print(
            " | ".join(
                [
                    run.limits,
                    f"{run.unloaded.simple.p50_ms:.1f}",
                    f"{run.unloaded.simple.p95_ms:.1f}",
                    f"{run.loaded.simple.p50_ms:.1f}",
                    f"{run.loaded.simple.p95_ms:.1f}",
                    f"{run.ratio:.2f}x ({verdict})",
                    f"{run.unloaded.healthz.p50_ms:.1f}",
                    f"{run.loaded.healthz.p50_ms:.1f}",
                    f"{run.loaded.healthz.p95_ms:.1f}",
                    ", ".join(f"{k}: {v}" for k, v in run.flood.items())
                    + f" in {run.flood_seconds:.0f} s",
                ]
            )
        )
    print(f"latencies in ms; target: loaded simple p50 at most {TARGET_RATIO:g}x unloaded")


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sharegraph.benchmarks.fairness",
        description="Another principal's latency while one principal floods the gateway.",
    )
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help=argparse.SUPPRESS)  # the child process
    serve.add_argument("--database", required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--limits", required=True)
    parser.add_argument("--database", default=None, help="database URL (default var/bench-10.db)")
    parser.add_argument("--flood", type=int, default=16, help="heavy queries in flight (16)")
    parser.add_argument("--requests", type=int, default=100, help="simple queries per phase")
    parser.add_argument(
        "--polite", action="store_true", help="the flood sleeps Retry-After after a 429"
    )
    parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON object")
    args = parser.parse_args(argv)
    if args.command == "serve":
        _serve(args.database, args.port, json.loads(args.limits))
        return
    if args.requests < 10 or args.flood < 1:
        parser.error("--requests must be at least 10 and --flood at least 1")
    with contextlib.redirect_stdout(sys.stderr):
        report = asyncio.run(_main(args.database, args.flood, args.requests, args.polite))
    if args.as_json:
        print(json.dumps(asdict(report), indent=2))
    else:
        _table(report)


if __name__ == "__main__":
    cli()
