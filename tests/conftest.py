"""Fixtures: every test that takes `backend` runs on SQLite and on PostgreSQL.

PostgreSQL tests run when a server answers (127.0.0.1:5432 or $SHAREGRAPH_TEST_POSTGRES_URL);
otherwise they are skipped with the reason, except under CI=true where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from sharegraph.datastore import migrate
from sharegraph.datastore.engine import Database
from sharegraph.settings import Settings
from sharegraph.web.app import create_app

POSTGRES_URL = os.environ.get(
    "SHAREGRAPH_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]
# Reference data the tests read, copied into the repository (see tests/data/README.md).
SAMPLE_DATA = Path(__file__).resolve().parent / "data"


def _postgres_unavailable_reason() -> str | None:
    import asyncpg  # type: ignore[import-untyped]

    url = make_url(POSTGRES_URL)

    async def probe() -> None:
        conn = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
            timeout=5,
        )
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # any failure to connect means "no server here"
        return f"PostgreSQL not reachable at {url.render_as_string(hide_password=True)}: {exc}"
    return None


_PG_REASON: str | None = None
_PG_CHECKED = False


def require_postgres() -> None:
    global _PG_REASON, _PG_CHECKED
    if not _PG_CHECKED:
        _PG_REASON = _postgres_unavailable_reason()
        _PG_CHECKED = True
    if _PG_REASON is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires PostgreSQL: {_PG_REASON}")
    pytest.skip(_PG_REASON)


async def _admin(sql: str) -> None:
    import asyncpg

    url = make_url(POSTGRES_URL)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class DatabaseFactory:
    """Creates databases for a backend and drops them at the end of the session.

    A migrated database and the demo network are built once per backend as templates; each test
    gets a copy (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), which
    takes milliseconds where migrating and seeding take seconds.
    """

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.created: list[tuple[str, Database]] = []
        self.templates: dict[tuple[str, str], str] = {}  # (backend, kind) -> file or db name

    async def create(self, backend: str, template: str | None = None) -> Database:
        """An empty database, or a copy of a template made by :meth:`template`."""
        name = f"sg_test_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            path = self.tmp / f"{name}.db"
            if template is not None:
                shutil.copyfile(template, path)
            url = f"sqlite+aiosqlite:///{path}"
        else:
            require_postgres()
            clause = f' TEMPLATE "{template}"' if template is not None else ""
            await _admin(f'CREATE DATABASE "{name}"{clause}')
            url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        db = Database(url)
        self.created.append((backend, db))
        return db

    async def template(self, backend: str, kind: str) -> str:
        """A database migrated (``kind`` "migrated") or seeded with the demo network ("demo"),
        closed so it can be copied."""
        key = (backend, kind)
        if key not in self.templates:
            from sharegraph import demo

            db = await self.create(backend)
            if kind == "demo":
                await demo.seed(db, scale=1, demo_secret=Settings().demo_secret)
            else:
                await migrate.upgrade(db)
            await db.dispose()  # no connection may stay open on a template
            found = make_url(db.url).database
            assert found is not None
            self.templates[key] = found
        return self.templates[key]

    async def copy(self, backend: str, kind: str) -> Database:
        return await self.create(backend, await self.template(backend, kind))

    async def drop_all(self) -> None:
        for _backend, db in self.created:
            await db.dispose()
        names = [make_url(db.url).database for b, db in self.created if b == "postgresql"]
        gate = asyncio.Semaphore(4)  # a few at a time: each DROP waits on its own checkpoint

        async def drop(name: str | None) -> None:
            async with gate:
                await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        await asyncio.gather(*(drop(n) for n in names))


@pytest.fixture(scope="session")
async def databases(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("db"))
    yield factory
    await factory.drop_all()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        require_postgres()
    return str(request.param)


@pytest.fixture
async def empty_db(databases: DatabaseFactory, backend: str) -> AsyncIterator[Database]:
    db = await databases.create(backend)
    yield db
    # Close its pool now (the database itself is dropped at the end of the session), so a
    # long run does not exhaust PostgreSQL's connection slots.
    await db.dispose()


@pytest.fixture
async def migrated_db(databases: DatabaseFactory, backend: str) -> AsyncIterator[Database]:
    """An empty, migrated database of one's own."""
    db = await databases.copy(backend, "migrated")
    yield db
    await db.dispose()


_DEMO: dict[str, Database] = {}


@pytest.fixture
async def demo_db(databases: DatabaseFactory, backend: str) -> Database:
    """The demo network, shared by read-only tests."""
    if backend not in _DEMO:
        _DEMO[backend] = await databases.copy(backend, "demo")
    return _DEMO[backend]


@pytest.fixture
async def seeded_db(databases: DatabaseFactory, backend: str) -> AsyncIterator[Database]:
    """A private copy of the demo network, for tests that write."""
    db = await databases.copy(backend, "demo")
    yield db
    await db.dispose()


@pytest.fixture(scope="session")
def keys() -> dict[str, str]:
    from sharegraph import demo

    return {p["name"]: p["apiKey"] for p in demo.demo_principal_keys(Settings().demo_secret)}


@dataclass
class Api:
    """A client for one app instance: `await api.gql("prairie-admin", query, variables)`."""

    http: httpx.AsyncClient
    keys: dict[str, str]
    database: Database
    app: Any = None

    def forget_credentials(self) -> None:
        """Drop the credentials the app remembers: for tests that change keys, principals or
        roles by hand, around the write paths that bump the policy version (a real process
        notices such a change only when its remembered credentials age out)."""
        self.app.state.auth.credentials.clear()

    async def post(
        self, principal: str | None, body: Any, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if principal is not None:
            all_headers["Authorization"] = f"Bearer {self.keys.get(principal, principal)}"
        return await self.http.post("/graphql", json=body, headers=all_headers)

    async def gql(
        self, principal: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.post(principal, {"query": query, "variables": variables or {}})
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self, principal: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The `data` of a response that must have no errors."""
        body = await self.gql(principal, query, variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result


async def make_api(
    db: Database, keys: dict[str, str], settings: Settings | None = None
) -> AsyncIterator[Api]:
    app = create_app(settings or Settings(database_url=db.url), database=db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sharegraph.test"
        ) as http:
            yield Api(http=http, keys=keys, database=db, app=app)


@pytest.fixture
async def api(demo_db: Database, keys: dict[str, str]) -> AsyncIterator[Api]:
    async for client in make_api(demo_db, keys):
        yield client


@pytest.fixture
async def write_api(seeded_db: Database, keys: dict[str, str]) -> AsyncIterator[Api]:
    async for client in make_api(seeded_db, keys):
        yield client


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        head = statement.lstrip().upper()
        if head.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            return
        if "instance.policy_version" in statement:
            return  # the policy store's periodic version check, not the request's
        if head.startswith("UPDATE API_KEYS SET LAST_USED_AT"):
            return  # an API key's use, written at most once a minute per key and process
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_statements(demo_db: Database) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    event.listen(demo_db.engine.sync_engine, "before_cursor_execute", counter)
    yield counter
    event.remove(demo_db.engine.sync_engine, "before_cursor_execute", counter)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Where the browser tests saved their screenshots (tests/test_portal_browser.py)."""
    if hasattr(config, "workerinput"):
        return
    folder = config._tmp_path_factory.getbasetemp() / "screens"  # type: ignore[attr-defined]
    if folder.is_dir() and any(folder.iterdir()):
        terminalreporter.write_line(f"portal screenshots: {folder}")
