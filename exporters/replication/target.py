"""The target database: any SQLAlchemy URL, its flat schema, and the checkpoint rows.

The schema is ours and stable (README, "Replication"): one table per kind of record, ids as
canonical UUID text with hyphens, the fields the principal may not read NULL. It is created on
first use and migrated by :data:`SCHEMA_VERSION` (recorded in ``sg_replication_schema``).

Each target holds the rows of one principal: a checkpoint of another principal for the same
kind of records is refused, so one principal's rows are never served to another's readers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sharegraph.errors import BadUserInput

T = TypeVar("T")

SCHEMA_VERSION = 2  # 2: sg_replication_progress (a first copy resumes where it stopped)
ID = String(36)  # canonical UUID text: 8-4-4-4-12 hex digits, lower case
WHEN = DateTime(timezone=True)

metadata = MetaData()

schema_version = Table(
    "sg_replication_schema",
    metadata,
    Column("version", Integer, primary_key=True),
)

checkpoint = Table(
    "sg_replication_checkpoint",
    metadata,
    Column("principal_id", ID, primary_key=True),
    Column("what", String(32), primary_key=True),  # contact-records | resources
    # The outbox position the target reflects: every event up to it is applied.
    Column("cursor_xid", BigInteger, nullable=False),
    Column("cursor_position", BigInteger, nullable=False),
    Column("policy_version", Integer, nullable=False),  # the sharing rules it was written under
    Column("reconciled_at", WHEN, nullable=False),  # the last complete full pass
    Column("updated_at", WHEN, nullable=False),
    Column("rows_written", BigInteger, nullable=False),
    Column("rows_per_second", Integer, nullable=False),  # of the last pass that wrote rows
    Column("lag_seconds", Integer, nullable=False),  # how far behind the last pass found it
)

# A full pass under way: where it stands, written with each page in the page's transaction, so a
# rerun after a crash continues after the last committed page (same pass id, same outbox
# position, same sharing rules) instead of copying everything again. Deleted when the pass ends.
progress = Table(
    "sg_replication_progress",
    metadata,
    Column("principal_id", ID, primary_key=True),
    Column("what", String(32), primary_key=True),
    Column("pass_id", String(32), nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("cursor_xid", BigInteger, nullable=False),  # the outbox head when the pass began
    Column("cursor_position", BigInteger, nullable=False),
    Column("phase", String(32), nullable=False),  # contact-records, then Client, Referral, Outcome
    Column("after_started_at", WHEN),  # the keyset position within the phase (the last row
    Column("after_id", ID),  # written): contact records by (started_at, id), the others by id
    Column("rows_written", BigInteger, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("seconds", Float, nullable=False),  # spent copying so far, over every run
    Column("started_at", WHEN, nullable=False),
    Column("updated_at", WHEN, nullable=False),
)

# Which pass last wrote a row: a full pass deletes the rows it did not write (left the scope).
_PASS = "replication_pass"

contact_record = Table(
    "contact_record",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant", Text),
    Column("form", Text),
    Column("form_version", Integer),
    Column("channel", Text),
    Column("started_at", WHEN),
    Column("ended_at", WHEN),
    Column("client_id", ID),
    Column("caller_postal_code", Text),
    Column("caller_county", Text),
    Column("risk_level", Text),
    Column("narrative", Text),
    Column("created_at", WHEN),
    Column("updated_at", WHEN),
    Column("version", Integer),
    Column("answers", Text),  # JSON object: form field key -> answer, the readable ones only
    Column(_PASS, String(32), nullable=False),
)

contact_record_need = Table(
    "contact_record_need",
    metadata,
    Column("contact_record_id", ID, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("need", Text, nullable=False),  # "Name (code)" of the taxonomy term
)


@dataclass(frozen=True)
class Checkpoint:
    principal_id: uuid.UUID
    what: str
    cursor_xid: int
    cursor_position: int
    policy_version: int
    reconciled_at: datetime
    updated_at: datetime
    rows_written: int
    rows_per_second: int
    lag_seconds: int


@dataclass(frozen=True)
class Progress:
    """A full pass under way (see :data:`progress`)."""

    principal_id: uuid.UUID
    what: str
    pass_id: str
    policy_version: int
    cursor_xid: int
    cursor_position: int
    phase: str
    after_started_at: datetime | None
    after_id: str | None
    rows_written: int
    pages: int
    seconds: float
    started_at: datetime
    updated_at: datetime


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_SECRET_WORDS = ("pass", "secret", "token", "key", "cert", "pwd", "odbc", "auth", "credential")


def _parsed(url: str) -> URL:
    """``make_url``, refusing a URL whose password holds an unencoded ``@``: SQLAlchemy ends
    the password at the first ``@`` and takes the rest of it for the host name, which would
    then be shown, logged and connected to."""
    parsed = make_url(url)
    if "@" in (parsed.host or ""):
        raise ValueError("an @ in the user name or password must be written %40")
    return parsed


def redacted(url: str) -> str:
    """``url`` to show and log: the password hidden, and query parameters that may carry one
    (``?password=``, ``sslpassword``, ``sslkey``, ``odbc_connect``...) too."""
    try:
        parsed = _parsed(url)
    except (ArgumentError, ValueError):
        return "<unparseable URL>"
    hidden = {
        name: ("***" if any(w in name.lower() for w in _SECRET_WORDS) else value)
        for name, value in parsed.query.items()
    }
    return parsed.set(query=hidden).render_as_string(hide_password=True)


def identity(url: str) -> str:
    """Which database ``url`` names, whatever its driver, user, password or options (backend,
    host, port, database): the name of its one-runner lock. Never holds a secret."""
    try:
        parsed = _parsed(url)
    except (ArgumentError, ValueError):
        return "<unparseable URL>"
    backend = parsed.get_backend_name()
    host = (parsed.host or "").lower()
    port = parsed.port or _DEFAULT_PORTS.get(backend) or ""
    return f"{backend}://{host}:{port}/{parsed.database or ''}"


_DEFAULT_PORTS: dict[str, int] = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}


class Target:
    """A connection to the target; work runs as functions of a sync :class:`Connection`, one
    transaction each, on a driver-appropriate engine (async drivers natively, sync drivers on
    one worker thread)."""

    def __init__(self, url: str) -> None:
        self.display = redacted(url)
        try:
            parsed = _parsed(url)
            dialect = parsed.get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError) as error:
            raise BadUserInput(
                f"the target URL {self.display} is not a SQLAlchemy database URL ({error})",
                reason="BAD_TARGET_URL",
            ) from None
        self.dialect = dialect.name
        self.identity = identity(url)
        self._async: AsyncEngine | None = None
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        try:
            # hide_parameters: an error of the target (a table of another shape, a full disk)
            # would otherwise carry the page's rows, narratives included, into the logs, the
            # scheduler's report and the command's output.
            if dialect.is_async:
                self._async = create_async_engine(parsed, hide_parameters=True)
            else:
                self._sync = create_engine(parsed, hide_parameters=True)
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="replication-target")
        except (ArgumentError, ImportError, TypeError) as error:
            raise BadUserInput(
                f"cannot use the target {self.display}: {error}", reason="BAD_TARGET_URL"
            ) from None

    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one transaction of the target (committed when it returns)."""
        try:
            if self._async is not None:
                async with self._async.begin() as connection:
                    return await connection.run_sync(work)
            assert self._sync is not None and self._thread is not None
            engine = self._sync

            def transaction() -> T:
                with engine.begin() as connection:
                    return work(connection)

            return await asyncio.get_running_loop().run_in_executor(self._thread, transaction)
        except (SQLAlchemyError, OSError) as error:
            if _is_connect_error(error):
                raise BadUserInput(
                    f"cannot connect to the target {self.display}: {_first_line(error)}",
                    reason="TARGET_UNREACHABLE",
                ) from None
            raise

    async def prepare(self) -> None:
        """Create (or migrate) the schema; a clear error when the target is out of reach."""
        await self.run(_create)

    async def dispose(self) -> None:
        if self._async is not None:
            await self._async.dispose()
        if self._sync is not None:
            self._sync.dispose()
        if self._thread is not None:
            self._thread.shutdown(wait=True)


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _is_connect_error(error: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(error, OSError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    text = str(error).lower()
    return isinstance(error, OperationalError) and ("connect" in text or "unable to open" in text)


def _create(connection: Connection) -> None:
    metadata.create_all(connection, checkfirst=True)
    found = connection.scalar(select(schema_version.c.version))
    if found is None:
        connection.execute(insert(schema_version).values(version=SCHEMA_VERSION))
    elif found > SCHEMA_VERSION:
        raise BadUserInput(
            f"the target's replication schema is version {found}, newer than this sharegraph "
            f"({SCHEMA_VERSION}); upgrade sharegraph",
            reason="TARGET_SCHEMA_NEWER",
        )
    elif found < SCHEMA_VERSION:
        # 1 -> 2: sg_replication_progress, created above by create_all; nothing else changes.
        connection.execute(update(schema_version).values(version=SCHEMA_VERSION))
    # Later versions migrate here, one step at a time, then record SCHEMA_VERSION.


def read_checkpoint(
    connection: Connection, principal_id: uuid.UUID, what: str
) -> Checkpoint | None:
    """This principal's checkpoint for ``what``; refuses a target another principal fills."""
    rows = connection.execute(select(checkpoint).where(checkpoint.c.what == what)).mappings()
    found = None
    for row in rows:
        if row["principal_id"] != str(principal_id):
            raise BadUserInput(
                f"this target already holds {what} replicated as another principal "
                f"({row['principal_id']}); use one target database per principal",
                reason="TARGET_OF_ANOTHER_PRINCIPAL",
            )
        found = Checkpoint(
            principal_id=principal_id,
            what=what,
            cursor_xid=row["cursor_xid"],
            cursor_position=row["cursor_position"],
            policy_version=row["policy_version"],
            reconciled_at=utc(row["reconciled_at"]),
            updated_at=utc(row["updated_at"]),
            rows_written=row["rows_written"],
            rows_per_second=row["rows_per_second"],
            lag_seconds=row["lag_seconds"],
        )
    return found


def write_checkpoint(connection: Connection, point: Checkpoint) -> None:
    values: dict[str, Any] = {
        "cursor_xid": point.cursor_xid,
        "cursor_position": point.cursor_position,
        "policy_version": point.policy_version,
        "reconciled_at": point.reconciled_at,
        "updated_at": point.updated_at,
        "rows_written": point.rows_written,
        "rows_per_second": point.rows_per_second,
        "lag_seconds": point.lag_seconds,
    }
    key = (checkpoint.c.principal_id == str(point.principal_id)) & (checkpoint.c.what == point.what)
    if connection.execute(update(checkpoint).where(key).values(**values)).rowcount == 0:
        connection.execute(
            insert(checkpoint).values(
                principal_id=str(point.principal_id), what=point.what, **values
            )
        )


def read_progress(connection: Connection, principal_id: uuid.UUID, what: str) -> Progress | None:
    """This principal's pass under way for ``what``; refuses a target another principal is
    filling (its first copy has no checkpoint yet, only progress and rows)."""
    row = None
    for found in connection.execute(select(progress).where(progress.c.what == what)).mappings():
        if found["principal_id"] != str(principal_id):
            raise BadUserInput(
                f"this target is being filled with {what} replicated as another principal "
                f"({found['principal_id']}); use one target database per principal",
                reason="TARGET_OF_ANOTHER_PRINCIPAL",
            )
        row = found
    if row is None:
        return None
    after = row["after_started_at"]
    return Progress(
        principal_id=principal_id,
        what=what,
        pass_id=row["pass_id"],
        policy_version=row["policy_version"],
        cursor_xid=row["cursor_xid"],
        cursor_position=row["cursor_position"],
        phase=row["phase"],
        after_started_at=utc(after) if after is not None else None,
        after_id=row["after_id"],
        rows_written=row["rows_written"],
        pages=row["pages"],
        seconds=row["seconds"],
        started_at=utc(row["started_at"]),
        updated_at=utc(row["updated_at"]),
    )


def write_progress(connection: Connection, point: Progress) -> None:
    """Where the pass stands, in the transaction of the page that brought it there."""
    key = (progress.c.principal_id == str(point.principal_id)) & (progress.c.what == point.what)
    connection.execute(delete(progress).where(key))
    values = {c.name: getattr(point, c.name) for c in progress.c}
    values["principal_id"] = str(point.principal_id)
    connection.execute(insert(progress).values(**values))


def end_progress(connection: Connection, principal_id: uuid.UUID, what: str) -> None:
    key = (progress.c.principal_id == str(principal_id)) & (progress.c.what == what)
    connection.execute(delete(progress).where(key))


def replace_rows(
    connection: Connection, table: Table, rows: list[dict[str, Any]], gone: list[str]
) -> None:
    """Idempotent upsert by id (delete, then insert, in the caller's transaction; portable to
    every dialect), and removal of ``gone`` ids."""
    ids = [r["id"] for r in rows] + gone
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        connection.execute(delete(table).where(table.c.id.in_(chunk)))
    if rows:
        connection.execute(insert(table), rows)


def sweep(connection: Connection, table: Table, pass_id: str) -> int:
    """Delete the rows a full pass did not write (they left the scope); how many."""
    result = connection.execute(delete(table).where(table.c[_PASS] != pass_id))
    return int(result.rowcount or 0)
