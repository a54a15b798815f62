"""Engines and sessions with the same behaviour on SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InvalidatePoolError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from sharegraph.datastore.outage import raise_if_unavailable
from sharegraph.datastore.rls import RlsScope, apply_to_connection
from sharegraph.datastore.weeks import SQLITE_FUNCTION as ISO_WEEK_FUNCTION
from sharegraph.datastore.weeks import iso_week
from sharegraph.errors import Conflict

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out
# (see ``_check_on_checkout``); one in steady use never is.
PING_AFTER_IDLE_SECONDS = 30.0
_RETURNED_AT = "sharegraph_returned_at"
# Set in a session's ``info`` by the outbox when the transaction adds events.
EVENTS_WRITTEN = "sharegraph_events_written"

log = logging.getLogger("sharegraph.datastore")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def normalize_url(url: str) -> str:
    """Accept the plain driver-less forms users paste and pick the async drivers."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.drivername != "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql" and parsed.drivername != "postgresql+asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend not in {"sqlite", "postgresql"}:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql URLs")
    return parsed.render_as_string(hide_password=False)


def _distance_km(lat1: float | None, lon1: float | None, lat2: float, lon2: float) -> float | None:
    if lat1 is None or lon1 is None:
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's implicit
        # transactions would otherwise start DEFERRED ones behind our back).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        dbapi_connection.create_function("sg_distance_km", 4, _distance_km, deterministic=True)
        dbapi_connection.create_function(ISO_WEEK_FUNCTION, 2, iso_week, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock up front, so two writers queue on busy_timeout instead
        # of one failing with "database is locked" when it upgrades a read lock.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _check_on_checkout(engine: AsyncEngine) -> None:
    """What ``pool_pre_ping`` was for, without its three round trips on every checkout (BEGIN,
    ``;``, ROLLBACK: SQLAlchemy's asyncpg adapter pings inside a transaction).

    - A connection the server closed (PostgreSQL restarted, the backend was terminated) is
      known to the driver as soon as the event loop has read the close, at no cost
      (``asyncpg.Connection.is_closed``): it is replaced on checkout and, as after a failed
      pre-ping, every connection pooled before now is replaced when next checked out.
    - A connection idle for longer than ``PING_AFTER_IDLE_SECONDS`` may have been dropped
      silently on the way (a NAT or firewall forgetting idle flows; no close ever arrives):
      it is pinged first, as the pre-ping did.
    - A close that arrives after the checkout fails that statement as a disconnect, which
      SQLAlchemy turns into invalidating the pool (the request gets the clean, retryable
      ``DATABASE_CONNECTION_LOST``), as it did with the pre-ping for the same race.
    """
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        driver = record.driver_connection
        if driver is None or driver.is_closed():
            raise InvalidatePoolError("the database closed a pooled connection")
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at <= PING_AFTER_IDLE_SECONDS:
            return  # fresh from connect, or in steady use
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            if not isinstance(error, dialect.loaded_dbapi.Error):
                raise
            if not dialect.is_disconnect(error, dbapi_connection, None):
                raise
            raise InvalidatePoolError(
                "a pooled connection idle for a while no longer answers"
            ) from error


def create_engine(
    url: str, *, echo: bool = False, pool_size: int | None = None, autocommit: bool = False
) -> AsyncEngine:
    """The engine; ``pool_size`` fixes the pool at that many connections (no overflow);
    ``autocommit`` (PostgreSQL): its connections are in autocommit from the start.

    ``hide_parameters``: a database error's message (logged, and kept in exception chains)
    leaves out the statement's bound values, which are callers' names, phone numbers and case
    notes; the statement's text stays for debugging."""
    url = normalize_url(url)
    sized: dict[str, Any] = {}
    if pool_size is not None:
        sized = {"pool_size": pool_size, "max_overflow": 0}
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, hide_parameters=True, **sized)
        _configure_sqlite(engine)
        return engine
    # No pool_pre_ping (three round trips per checkout): ``_check_on_checkout`` keeps what it
    # was for, after a PostgreSQL restart the next request works.
    # JIT compilation costs ~100 ms and pays off only for long analytical queries; the sharing
    # scopes' subqueries can push short API queries over its cost threshold.
    engine = create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        **(sized or {"pool_size": 10, "max_overflow": 10}),
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
        connect_args={"server_settings": {"jit": "off"}},
    )
    _check_on_checkout(engine)
    return engine


@asynccontextmanager
async def _reading(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """``session`` for reads: the database out of reach is :class:`.outage.DatabaseUnavailable`;
    closed at the end, whatever happens."""
    try:
        yield session
    except (SQLAlchemyError, ConnectionError) as error:
        raise_if_unavailable([error])
        raise
    finally:
        await _close(session)


async def _close(session: AsyncSession) -> None:
    """Close ``session``; a connection already gone is discarded quietly (the pool replaces
    it), instead of failing the request over the ROLLBACK that closing sends."""
    try:
        # What `async with session` runs: the close completes even if the request is cancelled.
        await session.__aexit__(None, None, None)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        log.warning("a database connection was lost before its session closed; discarded")


_RLS_SCOPE = "sharegraph_rls_scope"


class _ScopedSession(Session):
    """The sessions :class:`Database` hands out: every transaction one begins is scoped by the
    RLS scope in its ``info`` (set by ``Database._carry``), if any. One listener on the class
    instead of one registered on every request's session."""


@event.listens_for(_ScopedSession, "after_begin")
def _apply_scope(session: Session, _transaction: SessionTransaction, conn: Connection) -> None:
    rls = session.info.get(_RLS_SCOPE)
    if rls is not None:
        apply_to_connection(conn, rls)


class Database:
    """The process's engine and the two kinds of sessions it hands out."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine = create_engine(self.url, echo=echo)
        self.dialect = self.engine.dialect.name
        self._read = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            autoflush=False,
            sync_session_class=_ScopedSession,
        )
        # One statement needs no transaction around it to see one snapshot: on PostgreSQL such
        # reads run in autocommit, without the BEGIN and ROLLBACK round trips.
        self._single_read = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._write = async_sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE"),
            expire_on_commit=False,
            autoflush=True,
            sync_session_class=_ScopedSession,
        )
        self._health: AsyncEngine | None = None
        self._own_engine: AsyncEngine | None = None
        self._own_autocommit: AsyncEngine | None = None
        # Called after a write session that added outbox events commits (the event relay).
        self.event_listeners: list[Callable[[], None]] = []

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _carry(self, session: AsyncSession, rls: RlsScope | None) -> None:
        """On PostgreSQL, scope every transaction the session begins (see ``datastore.rls``)."""
        if rls is None or self.is_sqlite:
            return
        session.sync_session.info[_RLS_SCOPE] = rls

    @asynccontextmanager
    async def read_session(self, rls: RlsScope | None = None) -> AsyncIterator[AsyncSession]:
        """A session for reads; :class:`.outage.DatabaseUnavailable` if the database is out of
        reach."""
        session = self._read()
        self._carry(session, rls)
        async with _reading(session):
            yield session

    @asynccontextmanager
    async def single_read_connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection for exactly one read statement (no ORM, no RLS scope: nothing to scope
        without a transaction): on PostgreSQL in autocommit, so the statement is the only
        round trip. Two statements on it would see two snapshots: use :meth:`read_session`.
        :class:`.outage.DatabaseUnavailable` if the database is out of reach."""
        connection = self._single_read.connect()
        try:
            await connection.start()
            yield connection
        except (SQLAlchemyError, ConnectionError) as error:
            raise_if_unavailable([error])
            raise
        finally:
            try:
                if connection.sync_connection is not None:  # None: it never got one (PoolTimeout)
                    await connection.close()
            except DBAPIError as error:
                if not error.connection_invalidated:
                    raise
                log.warning("a database connection was lost before it closed; discarded")

    @asynccontextmanager
    async def write_session(self, rls: RlsScope | None = None) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self._write() as session:
            self._carry(session, rls)
            try:
                async with session.begin():
                    yield session
                if session.info.pop(EVENTS_WRITTEN, False):
                    for listener in list(self.event_listeners):
                        listener()
            except IntegrityError as error:
                if not is_unique_violation(error):
                    raise
                # A concurrent writer won the race past the caller's own check (a name taken
                # between SELECT and INSERT): an answer, not an incident.
                raise Conflict(
                    "another change created the same record first; reload and try again",
                    reason="ALREADY_EXISTS",
                ) from error
            except (SQLAlchemyError, ConnectionError) as error:
                raise_if_unavailable([error], writing=True)
                raise

    @asynccontextmanager
    async def own_write_session(self) -> AsyncIterator[AsyncSession]:
        """A write transaction on a connection of its own, outside the pool: for the one task
        that writes what many requests wait for (the audit's group commit). Those requests hold
        pooled connections while they wait; this one must never queue behind them."""
        if self._own_engine is None:
            self._own_engine = create_engine(self.url, pool_size=1)
        session = AsyncSession(
            self._own_engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )
        try:
            async with session.begin():
                yield session
        except (SQLAlchemyError, ConnectionError) as error:
            raise_if_unavailable([error], writing=True)
            raise
        finally:
            await _close(session)

    @asynccontextmanager
    async def own_autocommit_connection(self) -> AsyncIterator[AsyncConnection]:
        """:meth:`own_write_session`'s connection in autocommit (PostgreSQL): each statement is
        its own transaction, committed (durable) when it returns; one round trip for one."""
        if self._own_autocommit is None:
            self._own_autocommit = create_engine(self.url, pool_size=1, autocommit=True)
        try:
            async with self._own_autocommit.connect() as connection:
                yield connection
        except (SQLAlchemyError, ConnectionError) as error:
            raise_if_unavailable([error], writing=True)
            raise

    async def ping(self) -> None:
        """``SELECT 1`` on a connection of its own, so a health check never queues behind
        requests for the pool."""
        if self._health is None:
            self._health = create_engine(self.url, pool_size=1)
        async with self._health.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._own_engine is not None:
            await self._own_engine.dispose()
        if self._own_autocommit is not None:
            await self._own_autocommit.dispose()
        if self._health is not None:
            await self._health.dispose()


def is_unique_violation(error: IntegrityError) -> bool:
    original = error.orig
    if getattr(original, "sqlstate", None) == "23505":  # asyncpg, via SQLAlchemy's adapter
        return True
    return "UNIQUE constraint failed" in str(original)  # sqlite3
