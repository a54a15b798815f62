"""Fuzzing: schemathesis against the real app, counting server errors and non-JSON error bodies.

    .venv/bin/python -m sharegraph.benchmarks.fuzz                  # 1,200 cases, SQLite
    .venv/bin/python -m sharegraph.benchmarks.fuzz --quick          # ~100 cases, under a minute
    .venv/bin/python -m sharegraph.benchmarks.fuzz \\
        --database postgresql+asyncpg://postgres@127.0.0.1:5432/sg_fuzz   # created, then dropped

Seeds the demo network into a fresh database, serves the real app (``graph.app.create_app``)
under uvicorn on a loopback port in a background thread, and sends schemathesis-generated
requests from this thread to every :data:`TARGETS` entry: ``POST /graphql`` as a partner, as an
admin and anonymously (queries and mutations, valid and invalid documents), and the HSDS API
under ``/hsds/`` from the OpenAPI description committed in ``tests/data/hsds-3.0`` (valid and
invalid parameters), anonymously and with keys. Every response must be below 500, every error
response (status >= 400) a JSON body, and no body may carry an ``INTERNAL`` or code-less
error. Prints per target the cases run, the status and error-code histograms and each failure
with its request; exits 1 if any failed. benchmarks/README.md ("Fuzzing") has the figures.

The run writes to the database (admin mutations): it always works on a database of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import graphql
import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.transport import Response
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.graphql import nodes
from sqlalchemy import Uuid, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from sharegraph import demo
from sharegraph.benchmarks.run import serve
from sharegraph.datastore.base import Base
from sharegraph.datastore.engine import Database
from sharegraph.graph.relay import to_global_id
from sharegraph.settings import ExchangeSettings, Settings

DEFAULT_CASES = 1_200
QUICK_CASES = 100
OPENAPI = Path(__file__).resolve().parents[1] / "tests/data/hsds-3.0/schema/openapi.json"
# A request taking longer than this is reported as a failure (the app's own timeout is 30 s).
REQUEST_TIMEOUT = 60.0
SHOWN = 300  # characters of a request or a body printed for a failure
IDS_PER_MODEL = 3
# HSDS item routes in the OpenAPI description, and the model their ids are rows of.
HSDS_ITEMS = {
    "services": "Service",
    "organizations": "Organization",
    "service_at_locations": "ServiceAtLocation",
    "taxonomies": "Taxonomy",
    "taxonomy_terms": "TaxonomyTerm",
}

Kind = Literal["graphql", "hsds"]


@dataclass(frozen=True)
class Target:
    kind: Kind
    principal: str | None  # a demo principal's name; None: no credentials

    @property
    def name(self) -> str:
        return f"{self.kind} as {self.principal or 'anonymous'}"


TARGETS = (
    Target("graphql", "eastside-portal"),  # a partner: sharing plans, refusals
    Target("graphql", "prairie-admin"),  # a tenant admin: every admin mutation
    Target("graphql", None),
    Target("hsds", None),
    Target("hsds", "eastside-portal"),
    Target("hsds", "prairie-admin"),
)


@dataclass
class Failure:
    what: str  # "HTTP 500", "non-JSON error body", "INTERNAL or code-less error", "no response"
    request: str
    detail: str


@dataclass
class TargetResult:
    target: str
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)  # error codes in the bodies
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    slowest: tuple[float, str] = (0.0, "")  # seconds, and the request

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def _shorten(value: str, limit: int = SHOWN) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _describe(response: Response) -> str:
    request = response.request
    body = request.body
    shown = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    return _shorten(f"{request.method} {request.url} {shown}".strip())


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return _NOT_JSON


_NOT_JSON = object()


def error_codes(body: Any) -> list[str]:
    """The stable codes in a JSON body: GraphQL's ``errors[].extensions.code`` or HSDS's
    ``error.code``; ``data`` for a GraphQL answer without errors."""
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("error"), dict):
        return [str(body["error"].get("code"))]
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return sorted({str((e.get("extensions") or {}).get("code")) for e in errors})
    return ["data"] if "data" in body else []


def check(response: Response, codes: Counter[str]) -> Failure | None:
    """The fuzzing oracle: no 5xx, an error is a JSON body, and no error is ``INTERNAL`` (a
    resolver's unexpected exception inside a GraphQL 200 is a server error all the same)."""
    text = response.content.decode("utf-8", "replace")
    if response.status_code >= 500:
        return Failure(f"HTTP {response.status_code}", _describe(response), _shorten(text))
    kind = ";".join(response.headers.get("content-type", []))
    body = _json(response.content) if "json" in kind else _NOT_JSON
    if response.status_code >= 400 and body is _NOT_JSON:
        return Failure("non-JSON error body", _describe(response), _shorten(f"{kind}: {text}"))
    found = error_codes(body)
    codes.update(found)
    if "INTERNAL" in found or "None" in found:
        return Failure("INTERNAL or code-less error", _describe(response), _shorten(text))
    return None


# ---------------------------------------------------------------------------------------------
# The server, in a thread of its own (schemathesis sends with `requests`, synchronously)
# ---------------------------------------------------------------------------------------------


async def _admin(url: URL, statement: str) -> None:
    engine = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def fresh_database(database: str | None) -> Iterator[str]:
    """A new empty database: a temporary SQLite file by default; for a PostgreSQL URL, that
    database is created (it must not exist) and dropped afterwards."""
    if database is None:
        with tempfile.TemporaryDirectory(prefix="sharegraph-fuzz-") as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'fuzz.db'}"
        return
    url = make_url(database)
    if not url.drivername.startswith("postgresql"):
        path = Path(url.database or "")
        if path.exists():
            raise SystemExit(f"{path} exists: the fuzzing run writes; give a new file")
        try:
            yield database
        finally:
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
        return
    name = url.database
    if not name or name == "postgres":
        raise SystemExit("name a new database in the URL (it is created, then dropped)")
    try:
        asyncio.run(_admin(url, f'CREATE DATABASE "{name}"'))
    except DBAPIError as exc:  # it exists already, or the server refused
        raise SystemExit(f"cannot create the database {name!r}: {exc.orig}") from None
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class LiveServer:
    """Seeds the demo network and serves the app in a background thread's event loop."""

    def __init__(self, database_url: str, settings: Settings, scale: int) -> None:
        self.database_url = database_url
        self.settings = settings
        self.scale = scale
        self.base_url = ""
        self.seed_seconds = 0.0
        self.row_ids: dict[str, list[uuid.UUID]] = {}
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fuzz-server", daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError("the server did not start") from self._error
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the main thread by __enter__
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        db = Database(self.database_url)
        try:
            seeded = await demo.seed(db, scale=self.scale, demo_secret=self.settings.demo_secret)
            self.seed_seconds = seeded.seconds
            self.row_ids = await row_ids(db)
            async with serve(db, self.settings) as base_url:
                self.base_url = base_url
                self._ready.set()
                await self._stop.wait()
        finally:
            await db.dispose()


# ---------------------------------------------------------------------------------------------
# Fuzzing
# ---------------------------------------------------------------------------------------------


async def row_ids(db: Database, per_model: int = IDS_PER_MODEL) -> dict[str, list[uuid.UUID]]:
    """A few ids of every kind of seeded row, by model name (the GraphQL type's name)."""
    found: dict[str, list[uuid.UUID]] = {}
    async with db.read_session() as session:
        for mapper in Base.registry.mappers:
            model = mapper.class_
            column = mapper.columns.get("id")
            if column is None or not isinstance(column.type, Uuid) or mapper.inherits:
                continue
            ids = (await session.scalars(select(column).limit(per_model))).all()
            if ids:
                found[model.__name__] = list(ids)
    return found


def id_values(ids: dict[str, list[uuid.UUID]]) -> st.SearchStrategy[str]:
    """GraphQL ``ID`` arguments: mostly real global ids (random text dies at the first id
    check, which leaves everything behind it unexercised), some bare row UUIDs (form ids take
    those), some anything."""
    global_ids = sorted(to_global_id(name, i) for name, values in ids.items() for i in values)
    bare = sorted(str(i) for values in ids.values() for i in values)
    real = st.sampled_from(global_ids)
    return st.one_of(
        real, real, real, real, real, real, st.sampled_from(bare), st.text(max_size=40)
    )


def instants() -> st.SearchStrategy[str]:
    """``DateTime`` arguments: mostly instants the API stores (years 1000-9998, see
    graph/scalars.py), with any UTC offset; the rest from all of ``datetime``'s years."""
    offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
    storable = st.datetimes(datetime(1000, 1, 2), datetime(9998, 12, 30), timezones=offsets)
    anything = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-12))]))
    return st.one_of(storable, storable, storable, anything).map(datetime.isoformat)


def days() -> st.SearchStrategy[str]:
    """``Date`` arguments, likewise."""
    storable = st.dates(date(1000, 1, 1), date(9998, 12, 31))
    return st.one_of(storable, storable, storable, st.dates()).map(date.isoformat)


def register_scalars(ids: dict[str, list[uuid.UUID]]) -> None:
    """Replaces schemathesis's own strategies for these scalars, in this process."""
    schemathesis.graphql.scalar("ID", id_values(ids).map(nodes.String))
    schemathesis.graphql.scalar("DateTime", instants().map(nodes.String))
    schemathesis.graphql.scalar("Date", days().map(nodes.String))


def hsds_schema(base_url: str) -> dict[str, Any]:
    """The committed HSDS 3.0 OpenAPI description, served at ``base_url``/hsds.

    Its response schemas point at the compiled HSDS schemas on the web; they are emptied, so
    that nothing is fetched (only the status and the error bodies are checked here)."""
    raw: dict[str, Any] = json.loads(OPENAPI.read_text(encoding="utf-8"))
    raw["servers"] = [{"url": f"{base_url}/hsds"}]

    def local(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                return {}
            return {key: local(value) for key, value in node.items()}
        if isinstance(node, list):
            return [local(value) for value in node]
        return node

    schema: dict[str, Any] = local(raw)
    return schema


@dataclass
class Generator:
    """What generates a target's requests, and what learns from their answers."""

    strategy: st.SearchStrategy[Any]
    learn: Callable[[Any, Response], None] = lambda _case, _response: None


def harvest_queries(schema: graphql.GraphQLSchema) -> list[str]:
    """``{ field { edges { node { id } } } }`` (or ``{ field { id } }``) for every root query
    field that needs no argument and lists objects with ids."""
    assert schema.query_type is not None
    documents = []
    for name, root in schema.query_type.fields.items():
        required = [a for a in root.args.values() if graphql.is_required_argument(a)]
        found = graphql.get_named_type(root.type)
        if required or not isinstance(found, graphql.GraphQLObjectType):
            continue
        edges = found.fields.get("edges")
        if edges is not None:
            edge = graphql.get_named_type(edges.type)
            node = edge.fields.get("node") if isinstance(edge, graphql.GraphQLObjectType) else None
            named = graphql.get_named_type(node.type) if node is not None else None
            if isinstance(named, graphql.GraphQLObjectType) and "id" in named.fields:
                documents.append(f"{{ {name} {{ edges {{ node {{ id }} }} }} }}")
        elif "id" in found.fields:
            documents.append(f"{{ {name} {{ id }} }}")
    return documents


def graphql_generator(base_url: str, admin_key: str, ids: dict[str, list[uuid.UUID]]) -> Generator:
    """Valid and invalid documents for every query and mutation field.

    Random ids stop a request at the first id check, leaving what lies behind it untested, so
    valid documents take real ids: schemathesis's resource pool puts an id of the right type
    where it can tell the type from the argument (``serviceId``, ``service(id:)``), filled
    first from the admin's lists, then from every answer; elsewhere the ``ID`` scalar is a
    real id of any type, a row's bare UUID or any text."""
    register_scalars(ids)
    auth = {"Authorization": f"Bearer {admin_key}"}
    # The served schema, by introspection (on by default), as the admin sees it.
    schema = schemathesis.graphql.from_url(f"{base_url}/graphql", headers=auth, timeout=60)
    pool = schema.create_extra_data_source()
    with requests.Session() as http:
        for document in harvest_queries(schema.client_schema):
            answer = http.post(
                f"{base_url}/graphql", json={"query": document}, headers=auth, timeout=60
            ).json()
            if isinstance(answer.get("data"), dict):
                [operation] = graphql.parse(document).definitions
                assert isinstance(operation, graphql.OperationDefinitionNode)
                pool.capture(operation_node=operation, response_data=answer["data"])
    feedback = FeedbackSources(extra_data_source=pool)

    def learn(case: Any, response: Response) -> None:
        pool.record_response(operation=case.operation, response=response, case=case)

    strategy = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE, feedback=feedback),
        schema.as_strategy(GenerationMode.NEGATIVE),
    )
    return Generator(strategy, learn)


def hsds_generator(base_url: str, ids: dict[str, list[uuid.UUID]]) -> Generator:
    """Valid and invalid parameters for every operation of the HSDS OpenAPI description."""
    schema = schemathesis.openapi.from_dict(hsds_schema(base_url))
    schema.config.update(base_url=f"{base_url}/hsds")
    # The item routes with ids of rows that exist, besides generated ones (all 404s).
    items = [
        schema[f"/{path}/{{id}}"]["GET"].as_strategy(path_parameters={"id": str(row)})
        for path, model in HSDS_ITEMS.items()
        for row in ids.get(model, [])
    ]
    return Generator(
        st.one_of(
            schema.as_strategy(GenerationMode.POSITIVE),
            schema.as_strategy(GenerationMode.NEGATIVE),
            st.one_of(items),
        )
    )


def fuzz(
    target: Target,
    generator: Generator,
    cases: int,
    keys: dict[str, str],
    seed: int,
) -> TargetResult:
    """Send ``cases`` generated requests as the target's principal; record every answer."""
    result = TargetResult(target.name)
    headers = {"Authorization": f"Bearer {keys[target.principal]}"} if target.principal else {}
    started = time.perf_counter()

    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=cases,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # nothing fails inside, so nothing to shrink
        suppress_health_check=list(HealthCheck),
        verbosity=hypothesis.Verbosity.quiet,
    )
    @hypothesis.given(case=generator.strategy)
    def send(case: Any) -> None:
        if result.cases >= cases:
            return
        if target.principal is None:
            # A generated Authorization header would make an anonymous target a keyed one.
            for name in [h for h in (case.headers or {}) if h.lower() == "authorization"]:
                del case.headers[name]
        result.cases += 1
        try:
            response: Response = case.call(headers=headers, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:  # connection cut, timeout: no answer
            request = f"{case.method} {case.formatted_path} {case.query or ''} {case.body!r}"
            result.failures.append(
                Failure("no response", _shorten(request), _shorten(f"{type(exc).__name__}: {exc}"))
            )
            return
        result.statuses[response.status_code] += 1
        if response.elapsed > result.slowest[0]:
            result.slowest = (response.elapsed, _describe(response))
        generator.learn(case, response)
        failure = check(response, result.codes)
        if failure is not None:
            result.failures.append(failure)

    send()
    result.seconds = time.perf_counter() - started
    return result


def split(total: int, parts: int) -> list[int]:
    """``total`` cases over ``parts`` targets, as evenly as whole numbers allow."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@dataclass
class Report:
    backend: str
    cases: int
    seed: int
    seed_seconds: float
    seconds: float
    targets: list[TargetResult]

    @property
    def failures(self) -> int:
        return sum(len(t.failures) for t in self.targets)

    @property
    def server_errors(self) -> int:
        return sum(t.server_errors for t in self.targets)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "cases": self.cases,
            "server_errors": self.server_errors,
            "failures": self.failures,
            "seed": self.seed,
            "seed_seconds": round(self.seed_seconds, 1),
            "seconds": round(self.seconds, 1),
            "targets": [
                {
                    "target": t.target,
                    "cases": t.cases,
                    "statuses": {str(k): v for k, v in sorted(t.statuses.items())},
                    "codes": dict(sorted(t.codes.items())),
                    "server_errors": t.server_errors,
                    "seconds": round(t.seconds, 1),
                    "slowest": {"seconds": round(t.slowest[0], 3), "request": t.slowest[1]},
                    "failures": [vars(f) for f in t.failures],
                }
                for t in self.targets
            ],
        }


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(
    cases: int = DEFAULT_CASES,
    database: str | None = None,
    seed: int = 0,
    scale: int = 1,
    targets: tuple[Target, ...] = TARGETS,
) -> Report:
    """The whole fuzzing pass; the report says what failed (nothing is raised for it)."""
    started = time.perf_counter()
    with (
        fresh_database(database) as url,
        tempfile.TemporaryDirectory(prefix="sharegraph-fuzz-exports-") as exports,
    ):
        # Built in code, not from the environment: no scheduler (nothing is delivered
        # anywhere), no SMTP server, export files in a directory thrown away afterwards.
        settings = Settings(database_url=url, exchange=ExchangeSettings(export_dir=Path(exports)))
        keys = {
            str(p["name"]): str(p["apiKey"]) for p in demo.demo_principal_keys(settings.demo_secret)
        }
        backend = make_url(url).get_backend_name()
        progress(f"seeding the demo network (scale {scale}) into a fresh {backend} database ...")
        with LiveServer(url, settings, scale) as server:
            progress(f"  seeded in {server.seed_seconds:.1f}s; serving at {server.base_url}")
            built = {
                "graphql": graphql_generator(
                    server.base_url, keys["prairie-admin"], server.row_ids
                ),
                "hsds": hsds_generator(server.base_url, server.row_ids),
            }
            results = []
            shares = split(cases, len(targets))
            for index, (target, count) in enumerate(zip(targets, shares, strict=True)):
                progress(f"{target.name}: {count} cases ...")
                # A seed of its own: the HSDS targets would otherwise send the same requests.
                results.append(fuzz(target, built[target.kind], count, keys, seed + index))
    return Report(
        backend=backend,
        cases=sum(r.cases for r in results),
        seed=seed,
        seed_seconds=server.seed_seconds,
        seconds=time.perf_counter() - started,
        targets=results,
    )


def render(report: Report) -> str:
    lines = [
        f"Fuzzing ({report.backend}, schemathesis {schemathesis.__version__}, seed {report.seed}):"
        f" {report.cases:,} cases in {report.seconds:.0f}s (seeding {report.seed_seconds:.1f}s)",
        "",
        f"{'target':<32} {'cases':>6} {'5xx':>4} {'failures':>8} {'s':>6}  statuses",
    ]
    for t in report.targets:
        statuses = " ".join(f"{code}:{n}" for code, n in sorted(t.statuses.items()))
        lines.append(
            f"{t.target:<32} {t.cases:>6} {t.server_errors:>4} {len(t.failures):>8} "
            f"{t.seconds:>6.1f}  {statuses}"
        )
    lines += ["", 'error codes in the bodies ("data": an answer without errors):']
    for t in report.targets:
        shown = " ".join(f"{code}:{n}" for code, n in t.codes.most_common())
        lines.append(f"  {t.target:<30} {shown}")
    lines += ["", "slowest answer per target:"]
    for t in report.targets:
        lines.append(
            f"  {t.target:<30} {t.slowest[0] * 1000:>7.0f} ms  {_shorten(t.slowest[1], 120)}"
        )
    for t in report.targets:
        for f in t.failures:
            lines += [
                "",
                f"{t.target}: {f.what}",
                f"  request:  {f.request}",
                f"  answer:   {f.detail}",
            ]
    verdict = "no server errors, every error body JSON" if not report.failures else "FAILED"
    lines += ["", f"{report.server_errors} server errors, {report.failures} failures: {verdict}"]
    return "\n".join(lines)


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sharegraph.benchmarks.fuzz",
        description="Fuzz POST /graphql and the HSDS API with schemathesis: no 5xx, JSON errors.",
    )
    parser.add_argument(
        "--cases",
        type=int,
        default=None,
        help=f"generated requests in all (default {DEFAULT_CASES:,})",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_CASES} cases (a smoke run, under a minute)"
    )
    parser.add_argument(
        "--database",
        default=None,
        help="a NEW database URL, created then dropped (default: a temporary SQLite file)",
    )
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default random)")
    parser.add_argument("--json", action="store_true", dest="as_json", help="print one JSON object")
    args = parser.parse_args(argv)
    cases = args.cases or (QUICK_CASES if args.quick else DEFAULT_CASES)
    if cases < len(TARGETS):
        parser.error(f"--cases must be at least {len(TARGETS)}")
    # The app logs every 500 with its traceback under an incident id: keep those visible.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    report = run(cases=cases, database=args.database, seed=seed)
    print(json.dumps(report.as_dict(), indent=2) if args.as_json else render(report))
    sys.exit(1 if report.failures else 0)


if __name__ == "__main__":
    cli()
