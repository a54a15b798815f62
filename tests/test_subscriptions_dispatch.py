"""The live dispatcher: its batched read of stored rows (for the prefilters) raced by a cohort
that reads the relay on its own (resumed with `after`, or lagged), and the position it starts
reading the relay from: both backends. No event committed after a subscription began is lost."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import ContactRecord, QueueEntry
from sharegraph.demo import demo_id
from sharegraph.graph.live import LiveUpdates
from sharegraph.graph.relay import to_global_id

from .live_client import served
from .test_subscriptions import PRAIRIE, RECORDS, _touch_record

HOUSING_ID = demo_id("referral-queue", "housing")
HOUSING = to_global_id("ReferralQueue", HOUSING_ID)
ENTRIES = """
subscription($queue: ID!) { queueEntryChanged(queueId: $queue) { event { type } } }
"""
ENQUEUE = """
mutation($input: EnqueueClientInput!) { enqueueClient(input: $input) { queueEntry { id } } }
"""


async def _unqueued_record(db: Database) -> str:
    async with db.read_session() as session:
        queued = select(QueueEntry.contact_record_id).where(
            QueueEntry.queue_id == HOUSING_ID, QueueEntry.contact_record_id.is_not(None)
        )
        record = await session.scalar(
            select(ContactRecord.id)
            .where(ContactRecord.tenant_id == PRAIRIE, ContactRecord.id.not_in(queued))
            .order_by(ContactRecord.id)
            .limit(1)
        )
    assert record is not None
    return to_global_id("ContactRecord", record)


async def test_a_stored_row_read_in_flight_elsewhere_does_not_drop_the_event(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """A cohort reading on its own asks for an event's stored row just before the dispatcher's
    batch does: the batch waits for that read instead of routing the event without its row
    (which the queue prefilter takes for another queue's entry)."""
    async with served(seeded_db, keys) as live, live.client() as client:
        updates: LiveUpdates = live.app.state.live
        original = updates._stored_rows

        async def raced(events: Any) -> dict[int, Any]:
            elsewhere = [asyncio.create_task(updates._stored_row(e)) for e in events]
            await asyncio.sleep(0)  # their reads are in flight, their futures pending
            try:
                return await original(events)
            finally:
                await asyncio.gather(*elsewhere)

        updates._stored_rows = raced  # type: ignore[method-assign]
        await client.init("prairie-admin")
        await client.subscribe("q", ENTRIES, {"queue": HOUSING})
        await client.nothing_within(0.3)

        record = await _unqueued_record(seeded_db)
        await live.api.data(
            "prairie-call-taker",
            ENQUEUE,
            {"input": {"queueId": HOUSING, "contactRecordId": record}},
        )
        message = await client.receive(5)
        assert message["type"] == "next", message
        assert message["payload"]["data"]["queueEntryChanged"]["event"]["type"] == "CREATED"


async def test_a_reader_that_leaves_mid_read_does_not_stall_the_others(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """The cohort that began an event's stored-row read is cancelled (its members left): the
    read still settles for the dispatcher and the other cohorts waiting on it."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        async with seeded_db.read_session() as session:
            entry = await session.scalar(select(QueueEntry.id).limit(1))
        assert entry is not None
        event = SimpleNamespace(position=10**12, record_type="QueueEntry", record_id=entry)
        leaving = asyncio.create_task(updates._stored_row(event))
        await asyncio.sleep(0)  # its read has begun
        leaving.cancel()
        rows = await asyncio.wait_for(updates._stored_rows([event]), 5)
        assert rows[event.position].id == entry
        assert (await asyncio.wait_for(updates._stored_row(event), 5)).id == entry


async def test_an_event_committed_before_the_dispatcher_reads_the_relay_still_arrives(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """The first live cohort takes the relay's position, then starts the dispatcher; the tail
    may read an event before the dispatcher's own reader begins: it still reaches the cohort."""
    async with served(seeded_db, keys) as live, live.client() as client:
        updates: LiveUpdates = live.app.state.live
        original = updates._dispatch
        touched: list[str] = []

        async def late(*args: Any) -> None:
            before = updates.relay.cursor
            touched.append(await _touch_record(live.api, seeded_db, "while starting"))
            for _ in range(200):  # the tail has read it
                if updates.relay.cursor > before:
                    break
                await asyncio.sleep(0.02)
            assert updates.relay.cursor > before
            await original(*args)

        updates._dispatch = late  # type: ignore[method-assign]
        await client.init("prairie-admin")
        await client.subscribe("1", RECORDS)
        message = await client.receive(5)
        assert message["type"] == "next", message
        assert message["payload"]["data"]["contactRecordChanged"]["contactRecord"] == {
            "id": touched[0],
            "narrative": "while starting",
        }
