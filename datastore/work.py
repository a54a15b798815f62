"""What one kind of due work is, and what it gets and reports in one pass of the scheduler.

A kind is a coroutine ``run(job)`` that claims its due rows and processes them. The shapes
that keep it exactly once:

- Database-only work (a scheduled capacity change): claim the due rows with
  :func:`claim` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write transactions are
  exclusive) inside the one write transaction that applies the work and stamps it done. A
  second process skips the locked rows and finds them done once they unlock. Each item runs
  in a savepoint, so one failing item is rolled back alone and the others still commit.
- Work with external side effects (an export delivered to SFTP): claim and stamp a lease in one
  short transaction, do the side effect outside it, then record the outcome (run history,
  next attempt) in another. Such kinds keep their attempts in their own rows and use
  :func:`retry_delay` for the backoff.

Kinds whose rows have no place for attempts report a failing item with :meth:`Job.failed`;
the scheduler logs it and keeps the item out of the kind's claims until its backoff elapses
(:meth:`Job.waiting`), in this process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.engine import Database

log = logging.getLogger("sharegraph.scheduler")

S = TypeVar("S", bound=Select[Any])

# PostgreSQL channel that wakes every scheduler at once (e.g. "an export job was queued").
DUE_WORK_CHANNEL = "sharegraph_due_work"

FIRST_RETRY = timedelta(seconds=5)
LAST_RETRY = timedelta(hours=1)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: 5 s, doubling, at most an hour."""
    exponent = max(0, min(attempts - 1, 20))
    delay: timedelta = FIRST_RETRY * 2**exponent
    return min(delay, LAST_RETRY)


def claim(statement: S, *, of: Any = None) -> S:
    """``statement`` locking the rows it returns, skipping rows another worker holds.

    SQLite compiles no locking clause: its write transaction already excludes other writers.
    """
    return statement.with_for_update(skip_locked=True, of=of)


async def notify_due(session: AsyncSession, kind: str) -> None:
    """Wake the schedulers listening on PostgreSQL when this transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :kind)"), {"channel": DUE_WORK_CHANNEL, "kind": kind}
        )


_HELD_HERE: set[str] = set()  # names this process holds (any backend)


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def exclusive(db: Database, name: str) -> AsyncIterator[bool]:
    """Hold ``name`` across every process on this database for the ``async with`` block, or
    learn that another holder has it (yields False; never waits). For long work with one
    runner at a time (a replication target), where claiming rows does not fit.

    PostgreSQL: a session advisory lock on a connection kept for the block (released by the
    server when the process dies, even by SIGKILL). SQLite: ``flock`` on a file beside the
    database (released by the kernel when the process dies); in memory: this process only.
    """
    if name in _HELD_HERE:
        yield False
        return
    _HELD_HERE.add(name)
    try:
        if db.dialect == "postgresql":
            key = _lock_key(name)
            async with db.engine.connect() as connection:
                held = bool(
                    await connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                )
                await connection.commit()  # no transaction stays open while the work runs
                try:
                    yield held
                finally:
                    if held:
                        await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        await connection.commit()
            return
        database = make_url(db.url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            yield True
            return
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        path = f"{database}.lock-{digest}"
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(descriptor)  # releases the lock
    finally:
        _HELD_HERE.discard(name)


@dataclass(frozen=True)
class Failure:
    item: str
    error: str
    attempts: int
    retry_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "error": self.error,
            "attempts": self.attempts,
            "retryAt": self.retry_at.isoformat(),
        }


@dataclass
class Retries:
    """Per-item backoff for kinds whose rows keep no attempts (in memory, per process)."""

    attempts: dict[tuple[str, str], int] = field(default_factory=dict)
    retry_at: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def failed(self, kind: str, item: str, now: datetime) -> tuple[int, datetime]:
        key = (kind, item)
        attempts = self.attempts.get(key, 0) + 1
        self.attempts[key] = attempts
        self.retry_at[key] = now + retry_delay(attempts)
        return attempts, self.retry_at[key]

    def succeeded(self, kind: str, item: str) -> None:
        self.attempts.pop((kind, item), None)
        self.retry_at.pop((kind, item), None)

    def waiting(self, kind: str, now: datetime) -> frozenset[str]:
        return frozenset(i for (k, i), at in self.retry_at.items() if k == kind and at > now)


@dataclass
class Job:
    """One kind's share of one scheduler pass: the database, the pass's clock, and the tally."""

    kind: str
    db: Database
    now: datetime
    retries: Retries
    batch_size: int = 100
    done: int = 0
    failures: list[Failure] = field(default_factory=list)
    # Set by a kind that stopped with work left that is due now (a time budget ran out): the
    # scheduler runs it again at once instead of after its poll.
    again: bool = False

    def succeeded(self, item: str) -> None:
        self.done += 1
        self.retries.succeeded(self.kind, item)

    def failed(self, item: str, error: BaseException) -> None:
        """Record a failed item: logged, reported, and retried after a growing delay."""
        attempts, retry_at = self.retries.failed(self.kind, item, self.now)
        message = f"{type(error).__name__}: {error}"
        self.failures.append(Failure(item, message, attempts, retry_at))
        log.warning(
            "%s: %s failed (attempt %d, retry after %s): %s",
            self.kind,
            item,
            attempts,
            retry_at.isoformat(),
            message,
            exc_info=error,
        )

    def waiting(self) -> frozenset[str]:
        """Items of this kind still backing off after a failure: leave them out of claims."""
        return self.retries.waiting(self.kind, self.now)


@dataclass(frozen=True)
class DueWork:
    """A kind of due work. ``every``: run at most this often (periodic upkeep such as sealing
    the audit trail); ``None``: look for due rows on every pass."""

    name: str
    run: Callable[[Job], Awaitable[None]]
    every: timedelta | None = None
    # Also run as soon as new events are committed to the outbox (webhooks), not only on the
    # poll: in this process right after the commit, on PostgreSQL on the relay's NOTIFY too.
    on_events: bool = False
    # Release what the kind holds (connection pools) when its scheduler stops.
    close: Callable[[], Awaitable[None]] | None = None


# -- jobs in a table of their own (export jobs, import jobs) -----------------------------------
# Such a table has `status` ("pending", "running", "done", "failed"), `lease_until`,
# `attempts`, `started_at`, `finished_at`, `error`, `created_at` and `id`.


def leased_job_due(model: Any, now: datetime) -> Any:
    """A pending job nobody holds, or a running one whose worker's lease ran out (it died)."""
    return or_(
        and_(
            model.status == "pending",
            or_(model.lease_until.is_(None), model.lease_until <= now),
        ),
        and_(model.status == "running", model.lease_until <= now),
    )


async def any_leased_job_due(db: Database, model: Any, now: datetime) -> bool:
    """A cheap read first, so an idle scheduler never takes SQLite's write lock."""
    async with db.read_session() as session:
        found = await session.scalar(select(model.id).where(leased_job_due(model, now)).limit(1))
    return found is not None


J = TypeVar("J")


async def claim_leased_job(
    db: Database,
    model: type[J],
    now: datetime,
    lease: timedelta,
    *,
    max_attempts: int,
    gave_up: str,
) -> tuple[J, bool] | None:
    """The oldest due job of ``model``, leased to the caller: ``(row, True)``. One whose
    workers died ``max_attempts`` times is marked failed with ``gave_up`` (``{attempts}`` is
    filled in) instead: ``(row, False)``. None when nothing is due."""
    table: Any = model
    async with db.write_session() as session:
        job: Any = await session.scalar(
            claim(
                select(table)
                .where(leased_job_due(table, now))
                .order_by(table.created_at, table.id)
                .limit(1)
            )
        )
        if job is None:
            return None
        if job.status == "running" and job.attempts >= max_attempts:
            job.status = "failed"
            job.lease_until = None
            job.finished_at = now
            job.error = gave_up.format(attempts=job.attempts)
            return job, False
        job.status = "running"
        job.attempts += 1
        job.lease_until = now + lease
        job.started_at = now
        return job, True
