"""The event relay: committed outbox rows, in commit order, to any number of readers.

``events.position`` is taken from a sequence when a row is inserted, so two transactions can
commit in the other order and a reader tailing "position > last" would skip the later-committed
lower position for good. The relay reads instead in an order no commit can fall behind:

- PostgreSQL: every event row records its transaction's id (``xid``, migration 0009). A read
  first takes a *bound*: the oldest transaction id still running in this database
  (``pg_stat_activity.backend_xid``), or the next id to be assigned when none runs; then, in a
  later snapshot, it returns only rows whose transaction is below the bound, in ``(xid,
  position)`` order. Every transaction below the bound had ended before that later snapshot
  (it was not running when the bound was taken), so its rows are all visible or never will be:
  no row can appear below a reader's cursor. Rows of transactions still running are held back
  until they end, so a long write transaction in this database delays delivery for as long as
  it runs (correct, but late); other databases of the server do not (the server-wide
  ``pg_snapshot_xmin`` would let one database's long ``DROP DATABASE`` stall every relay).
  Prepared (two-phase) transactions are not used by sharegraph and not accounted for.
- SQLite: one writer at a time, so position order is commit order; ``xid`` is 0.

Wake-ups: on PostgreSQL a trigger NOTIFYs ``sharegraph_events`` with the highest position of
each insert (delivered at commit); the relay LISTENs through :func:`.listen.listen_forever`
(one reconnect loop) and catches up from its cursor after every reconnect. In this process a
committed write wakes the relay directly (``Database.event_listeners``). A slow poll catches
anything else (a write by another SQLite process, a lost notification).

:meth:`EventRelay.events` is the reusable part: an async iterator of committed events after a
cursor, for subscriptions, webhooks or replication. A reader that falls behind (its queue of
live batches fills up) is never blocked on and never loses events: it reads the rows it missed
from the table again before it rejoins the live stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import EventType
from sharegraph.datastore.listen import listen_forever
from sharegraph.datastore.models import Event

log = logging.getLogger("sharegraph.relay")

EVENTS_CHANNEL = "sharegraph_events"
POLL_SECONDS = 1.0  # PostgreSQL: NOTIFY wakes every process; the poll is a safety net
SQLITE_POLL_SECONDS = 0.25  # SQLite: other processes' writes are only seen by polling
HELD_BACK_POLL_SECONDS = 0.05  # while rows wait behind a running transaction
BATCH_SIZE = 500
QUEUE_BATCHES = 64  # live batches a reader may have unread before it reads from the table

_BOUND = text(
    "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint, "
    "ARRAY(SELECT backend_xid::text::bigint FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_xid IS NOT NULL)"
)


@dataclass(frozen=True, order=True)
class Cursor:
    """Where a reader stands: after the event with this commit-order key."""

    xid: int
    position: int


START = Cursor(0, 0)


@dataclass(frozen=True)
class CommittedEvent:
    position: int
    xid: int
    id: uuid.UUID
    event_type: EventType
    record_type: str
    record_id: uuid.UUID
    tenant_id: uuid.UUID
    record_version: int
    occurred_at: datetime
    actor_id: uuid.UUID | None

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.xid, self.position)


def _event(row: Event) -> CommittedEvent:
    return CommittedEvent(
        position=row.position,
        xid=row.xid or 0,
        id=row.id,
        event_type=row.event_type,
        record_type=row.record_type,
        record_id=row.record_id,
        tenant_id=row.tenant_id,
        record_version=row.record_version,
        occurred_at=row.occurred_at,
        actor_id=row.actor_id,
    )


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def _bound(session: AsyncSession) -> int:
    """The lowest transaction id (64-bit, like ``pg_current_xact_id()``) that may still be
    running in this database: rows of lower ids are final. Read it *before* the rows."""
    xmax: int
    running: list[int]
    xmax, running = (await session.execute(_BOUND)).one()
    # backend_xid is the 32-bit id: widen it into the epoch of xmax (running ids are within
    # 2^31 of it).
    widened = [(xmax & ~0xFFFFFFFF) | xid for xid in running]
    return min([x - (1 << 32) if x > xmax else x for x in widened] + [xmax])


async def read_after(
    session: AsyncSession, after: Cursor, limit: int = BATCH_SIZE
) -> list[CommittedEvent]:
    """Committed events after ``after``, in commit order; never one that a later read could
    find below another it returned."""
    query = select(Event).limit(limit)
    if _postgres(session):
        bound = await _bound(session)
        query = query.where(
            func.row(Event.xid, Event.position) > func.row(after.xid, after.position),
            Event.xid < bound,
        ).order_by(Event.xid, Event.position)
    else:
        query = query.where(Event.position > after.position).order_by(Event.position)
    rows = (await session.scalars(query)).all()
    return [_event(row) for row in rows]


async def head(session: AsyncSession) -> Cursor:
    """The cursor after every event that :func:`read_after` can return now."""
    if _postgres(session):
        bound = await _bound(session)
        query = (
            select(Event.xid, Event.position)
            .where(Event.xid < bound)
            .order_by(Event.xid.desc(), Event.position.desc())
            .limit(1)
        )
        found = (await session.execute(query)).first()
        return Cursor(found[0] or 0, found[1]) if found else START
    position = await session.scalar(select(func.max(Event.position)))
    return Cursor(0, position or 0)


async def held_back(session: AsyncSession) -> bool:
    """Whether committed rows wait behind a transaction still running (PostgreSQL)."""
    if not _postgres(session):
        return False
    bound = await _bound(session)
    query = select(Event.position).where(Event.xid >= bound).limit(1)
    return (await session.scalar(query)) is not None


async def cursor_at(session: AsyncSession, position: int) -> Cursor | None:
    """The cursor just after the event at ``position``; None when no such event is kept (pruned
    past the retention window, or never delivered)."""
    found = (
        await session.execute(select(Event.xid, Event.position).where(Event.position == position))
    ).first()
    return Cursor(found[0] or 0, found[1]) if found else None


async def prune(session: AsyncSession, before: datetime) -> int:
    """Delete events that occurred before ``before`` (the retention window); how many."""
    result: Any = await session.execute(delete(Event).where(Event.occurred_at < before))
    return int(result.rowcount or 0)


_LAGGED: list[CommittedEvent] = []  # the marker a reader finds when its queue overflowed


@dataclass(eq=False)
class _Reader:
    queue: asyncio.Queue[list[CommittedEvent]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_BATCHES)
    )

    def offer(self, batch: list[CommittedEvent]) -> None:
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            # Too slow: drop what it has not read and tell it to read from the table.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(_LAGGED)


class EventRelay:
    """One tail of the outbox per process, fanned out to its readers. It starts with its first
    reader and stops with :meth:`stop`."""

    def __init__(
        self,
        db: Database,
        *,
        poll_seconds: float | None = None,
        batch_size: int = BATCH_SIZE,
        listen: bool = True,
    ) -> None:
        self.db = db
        self.poll_seconds = poll_seconds or (
            SQLITE_POLL_SECONDS if db.dialect == "sqlite" else POLL_SECONDS
        )
        self.batch_size = batch_size
        self.listen = listen
        self.cursor = START
        self._readers: set[_Reader] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._started: asyncio.Future[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                async with self.db.read_session() as session:
                    self.cursor = await head(session)
            except BaseException as error:
                self._started.set_exception(error)
                self._started = None
                raise
            self._started.set_result(None)
            self.db.event_listeners.append(self.wake)
            self._tasks.append(asyncio.create_task(self._tail(), name="event-relay"))
            if self.listen and self.db.dialect == "postgresql":
                self._tasks.append(asyncio.create_task(self._listen(), name="event-relay-listen"))
        else:
            await self._started

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(ValueError):
            self.db.event_listeners.remove(self.wake)
        self._started = None

    @property
    def started(self) -> bool:
        """Whether :attr:`cursor` is where the tail stands (its first read of the head done)."""
        return self._started is not None and self._started.done()

    def wake(self) -> None:
        """Read the outbox now instead of at the next poll."""
        self._wake.set()

    @property
    def readers(self) -> int:
        return len(self._readers)

    # -- reading --------------------------------------------------------------------------
    async def events(self, after: Cursor | None = None) -> AsyncIterator[CommittedEvent]:
        """Every committed event after ``after`` (default: from now), in commit order, until
        the caller stops iterating."""
        await self.start()
        reader = _Reader()
        self._readers.add(reader)  # before catching up: nothing falls between the two
        cursor = self.cursor if after is None else after
        # The table is read only to catch up: at the start and after the queue overflowed. A
        # reader merely busy while the tail moved on finds those batches in its queue (offered
        # after it registered); reading the table then instead, every busy reader at once (a
        # subscription cohort each), fed on itself: the reads made them later still.
        behind = True
        try:
            while True:
                while behind and cursor < self.cursor:
                    async with self.db.read_session() as session:
                        batch = await read_after(session, cursor, self.batch_size)
                    if not batch:
                        break
                    for event in batch:
                        yield event
                        cursor = event.cursor
                batch = await reader.queue.get()
                behind = batch is _LAGGED
                for event in batch:
                    if event.cursor > cursor:
                        yield event
                        cursor = event.cursor
        finally:
            self._readers.discard(reader)

    async def between(self, after: Cursor, until: Cursor) -> AsyncIterator[CommittedEvent]:
        """The committed events after ``after`` up to ``until`` (a cursor the tail has reached:
        no event can still appear below it), in commit order, from the table."""
        while after < until:
            async with self.db.read_session() as session:
                batch = await read_after(session, after, self.batch_size)
            if not batch:
                return
            for event in batch:
                if event.cursor > until:
                    return
                yield event
                after = event.cursor

    async def _tail(self) -> None:
        while True:
            self._wake.clear()
            delay = self.poll_seconds
            try:
                while True:
                    async with self.db.read_session() as session:
                        batch = await read_after(session, self.cursor, self.batch_size)
                        if len(batch) < self.batch_size and await held_back(session):
                            delay = HELD_BACK_POLL_SECONDS
                    if not batch:
                        break
                    self.cursor = batch[-1].cursor
                    for reader in list(self._readers):
                        reader.offer(batch)
                    if len(batch) < self.batch_size:
                        break
            except Exception:  # the database may be restarting; the next pass catches up
                log.warning("event relay read failed", exc_info=True)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
            # arrives as the wake-up completes, and stop() then waited forever on this loop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _listen(self) -> None:
        async def caught_up() -> None:
            self.wake()  # anything committed while disconnected

        await listen_forever(
            self.db.url,
            [EVENTS_CHANNEL],
            lambda _channel, _payload: self.wake(),
            caught_up,
            name="event relay",
        )
