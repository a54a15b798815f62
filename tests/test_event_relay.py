"""The event relay: committed outbox rows in commit order, none lost, across processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import EventType
from sharegraph.datastore.models import Event, Tenant
from sharegraph.datastore.relay import (
    START,
    CommittedEvent,
    EventRelay,
    cursor_at,
    head,
    read_after,
)
from sharegraph.worker import EVENT_RETENTION, Scheduler
from sharegraph.worker.event_retention import event_retention

from .conftest import DatabaseFactory, require_postgres


@pytest.fixture
def postgresql() -> None:
    require_postgres()  # here, outside the event loop the async fixtures run in


async def _tenant(db: Database) -> uuid.UUID:
    async with db.read_session() as session:
        found = await session.scalar(select(Tenant.id).limit(1))
    assert found is not None
    return found


def _event(tenant: uuid.UUID, record_id: uuid.UUID | None = None) -> Event:
    return Event(
        event_type=EventType.CREATED,
        record_type="Client",
        record_id=record_id or uuid.uuid4(),
        tenant_id=tenant,
        record_version=1,
    )


async def _write(db: Database, tenant: uuid.UUID) -> uuid.UUID:
    from sharegraph.datastore.engine import EVENTS_WRITTEN

    record_id = uuid.uuid4()
    async with db.write_session() as session:
        session.add(_event(tenant, record_id))
        session.info[EVENTS_WRITTEN] = True
    return record_id


async def _take(
    events: AsyncIterator[CommittedEvent], n: int, seconds: float = 10.0
) -> list[CommittedEvent]:
    taken: list[CommittedEvent] = []

    async def run() -> None:
        async for event in events:
            taken.append(event)
            if len(taken) == n:
                return

    await asyncio.wait_for(run(), seconds)
    return taken


async def test_two_writes_committing_out_of_order_are_both_read(
    postgresql: None, databases: DatabaseFactory
) -> None:
    """The first transaction takes the lower position but commits last: a reader tailing
    "position > last" would skip it; the relay holds the later one back and reads both."""
    db = await databases.copy("postgresql", "demo")
    try:
        tenant = await _tenant(db)
        async with db.read_session() as session:
            cursor = await head(session)
        first = db.engine.connect()
        async with first as a:
            await a.begin()
            await a.execute(
                Event.__table__.insert().values(
                    event_type=EventType.CREATED,
                    record_type="Client",
                    record_id=uuid.uuid4(),
                    tenant_id=tenant,
                    record_version=1,
                )
            )
            second = await _write(db, tenant)  # a higher position, committed first
            async with db.read_session() as session:
                held = await read_after(session, cursor)
                naive = (
                    await session.scalars(select(Event.position).where(Event.record_id == second))
                ).all()
            assert held == []  # held back behind the first, still running
            assert len(naive) == 1  # a position tail would already have moved past the first
            await a.commit()
        found: list[CommittedEvent] = []
        for _ in range(200):  # another database's long transaction on the server holds us too
            async with db.read_session() as session:
                found = await read_after(session, cursor)
            if len(found) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(found) == 2
        assert found[0].position < found[1].position or found[0].xid < found[1].xid
        assert second in {e.record_id for e in found}
        assert found == sorted(found, key=lambda e: e.cursor)
    finally:
        await db.dispose()


async def test_a_reader_gets_every_event_from_its_cursor(
    databases: DatabaseFactory, backend: str
) -> None:
    db = await databases.copy(backend, "demo")
    relay = EventRelay(db, poll_seconds=30)  # woken by the writes, not by the poll
    try:
        tenant = await _tenant(db)
        live = relay.events()
        await relay.start()
        taking = asyncio.create_task(_take(live, 3))
        await asyncio.sleep(0.05)
        written = [await _write(db, tenant) for _ in range(3)]
        got = await taking
        assert [e.record_id for e in got] == written

        # Resume after the first: the two after it, read from the table.
        async with db.read_session() as session:
            after = await cursor_at(session, got[0].position)
        assert after is not None
        again = await _take(relay.events(after), 2)
        assert [e.record_id for e in again] == written[1:]
    finally:
        await relay.stop()
        await db.dispose()


async def test_a_slow_reader_falls_back_to_the_table_and_loses_nothing(
    databases: DatabaseFactory, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sharegraph.datastore import relay as relay_module

    monkeypatch.setattr(relay_module, "QUEUE_BATCHES", 1)
    db = await databases.copy(backend, "demo")
    relay = EventRelay(db, poll_seconds=30, batch_size=1)
    try:
        tenant = await _tenant(db)
        await relay.start()
        slow = relay.events()
        first = asyncio.create_task(_take(slow, 1))
        await asyncio.sleep(0.05)
        written = [await _write(db, tenant) for _ in range(6)]
        await first  # the reader now has batches waiting, more than its queue holds
        await asyncio.sleep(0.3)
        rest = await _take(slow, 5)
        assert [e.record_id for e in rest] == written[1:]
    finally:
        await relay.stop()
        await db.dispose()


async def test_a_busy_reader_takes_what_it_missed_from_its_queue_not_from_the_table(
    databases: DatabaseFactory, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hundreds of subscription cohorts read the relay; each one re-reading the table whenever
    the tail moved on while it was busy made them all later (issue 13's figures)."""
    from sharegraph.datastore import relay as relay_module

    db = await databases.copy(backend, "demo")
    relay = EventRelay(db, poll_seconds=30)
    try:
        tenant = await _tenant(db)
        await relay.start()
        readers: list[asyncio.Task[Any] | None] = []
        real = relay_module.read_after

        async def counting(session: Any, cursor: Any, size: int) -> list[CommittedEvent]:
            readers.append(asyncio.current_task())
            return await real(session, cursor, size)

        monkeypatch.setattr(relay_module, "read_after", counting)
        gate = asyncio.Event()
        taken: list[CommittedEvent] = []

        async def busy() -> None:
            async for event in relay.events():
                taken.append(event)
                if len(taken) == 1:
                    await gate.wait()  # busy while the tail reads the next ones
                if len(taken) == 4:
                    return

        task = asyncio.create_task(busy())
        # A reader reads from when it registers: the writes must come after, however loaded
        # the machine (a fixed pause let them come first now and then, and the test waited
        # for events its reader had never been meant to see).
        for _ in range(250):
            if relay.readers:
                break
            await asyncio.sleep(0.02)
        assert relay.readers == 1
        written = [await _write(db, tenant) for _ in range(4)]
        for _ in range(100):  # the tail has read all four
            if len(readers) >= 4 and len(taken) == 1:
                break
            await asyncio.sleep(0.02)
        gate.set()
        await asyncio.wait_for(task, 10)
        assert [e.record_id for e in taken] == written
        assert task not in readers  # all four came through its queue
    finally:
        await relay.stop()
        await db.dispose()


async def test_pruning_removes_old_events_and_forgets_their_cursors(
    databases: DatabaseFactory, backend: str
) -> None:
    db = await databases.copy(backend, "demo")
    try:
        tenant = await _tenant(db)
        await _write(db, tenant)
        async with db.read_session() as session:
            (old,) = (
                await session.scalars(select(Event.position).order_by(Event.position.desc()))
            ).all()[:1]
        async with db.write_session() as session:
            await session.execute(
                update(Event)
                .where(Event.position == old)
                .values(occurred_at=datetime.now(UTC) - timedelta(days=8))
            )
        await _write(db, tenant)
        # The worker's kind, as `serve` and `sharegraph worker` run it.
        scheduler = Scheduler(db, [event_retention(timedelta(days=7))])
        report = await scheduler.run_once()
        assert report.kind(EVENT_RETENTION).done >= 1
        async with db.read_session() as session:
            assert await cursor_at(session, old) is None
            assert len(await read_after(session, START)) >= 1  # the recent one stays
    finally:
        await db.dispose()


@pytest.mark.multiprocess
async def test_notify_wakes_another_process_and_it_catches_up_after_a_reconnect(
    postgresql: None, databases: DatabaseFactory
) -> None:
    """Two Database objects stand for two processes (no in-process wake-up between them); the
    poll is 30 s, so only NOTIFY (and the catch-up after a reconnect) can deliver in time."""
    db = await databases.copy("postgresql", "demo")
    other = Database(db.url)
    relay = EventRelay(db, poll_seconds=30)
    try:
        tenant = await _tenant(db)
        await relay.start()
        events = relay.events()
        await asyncio.sleep(0.5)  # the LISTEN is in place
        taking = asyncio.create_task(_take(events, 1, seconds=5))
        await asyncio.sleep(0.05)
        first = await _write(other, tenant)
        assert [e.record_id for e in await taking] == [first]

        # Cut the LISTEN connection; a write lands while it reconnects.
        async with other.write_session() as session:
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                )
            )
        second = await _write(other, tenant)
        got = await _take(events, 1, seconds=8)
        assert [e.record_id for e in got] == [second]
    finally:
        await relay.stop()
        await other.dispose()
        await db.dispose()


async def test_stopping_as_a_wake_up_arrives_still_stops(
    databases: DatabaseFactory, backend: str
) -> None:
    """A stop whose cancellation meets a wake-up completing in the same turn of the loop: on
    Python 3.11, ``asyncio.wait_for`` returned the wake-up and swallowed the cancellation, and
    ``stop()`` waited forever for a tail that went on polling (seen as a hanging test)."""
    db = await databases.copy(backend, "demo")
    try:
        for _ in range(30):
            relay = EventRelay(db, poll_seconds=30, listen=False)
            await relay.start()
            await asyncio.sleep(0.01)  # the tail waits for a wake-up
            relay.wake()
            await asyncio.sleep(0)  # the wake-up's waiter completes in this turn
            await asyncio.wait_for(relay.stop(), 5)
    finally:
        await db.dispose()
