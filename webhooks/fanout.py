"""Fan-out: outbox events -> one message per (endpoint, matching event), at least once.

Each endpoint keeps its own cursor in the outbox (``datastore/relay.py`` ``read_after``, the
relay's commit-order read). A pass leases endpoints in a short transaction (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so two workers never fan out one endpoint at once), reads the events
after each cursor (once per distinct cursor), renders the matching ones under the receiving
principal's plan *outside* any write transaction (once per event for all the endpoints of one
principal and payload mode, up to :data:`RENDER_WINDOW` renderings at once; rendering writes
their disclosure audit rows together; SQLite has one writer), then inserts the messages and
moves the cursors in one transaction. A crash before that commit leaves the cursors where
they were: the events are rendered again (at least once); the unique (endpoint, event) key
keeps one message per event.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.models import WebhookEndpoint, WebhookMessage
from sharegraph.datastore.relay import CommittedEvent, Cursor, read_after
from sharegraph.datastore.work import Job, claim
from sharegraph.webhooks.events import event_name, matches
from sharegraph.webhooks.render import Receiver, Render

LEASE = timedelta(minutes=2)
EVENTS_PER_PASS = 500
RENDER_WINDOW = 8  # renderings in flight at once


def envelope(name: str, event: CommittedEvent, data: dict[str, object]) -> str:
    """The message body (Standard Webhooks' ``type``/``timestamp``/``data``); ``data`` always
    carries the record's id, type and ``version`` so a receiver can order per record."""
    return json.dumps(
        {
            "type": name,
            "timestamp": event.occurred_at.isoformat(),
            "data": {
                "recordType": event.record_type,
                "recordId": str(event.record_id),
                "version": event.record_version,
                "position": str(event.position),
                **data,
            },
        },
        separators=(",", ":"),
        default=str,
    )


async def _lease(job: Job) -> list[tuple[Receiver, list[str], Cursor]]:
    # The scheduler runs this on every commit with events: with no endpoint, take no write lock.
    async with job.db.read_session() as session:
        if (
            await session.scalar(
                select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True)).limit(1)
            )
            is None
        ):
            return []
    async with job.db.write_session() as session:
        rows = (
            await session.scalars(
                claim(
                    select(WebhookEndpoint)
                    .where(WebhookEndpoint.enabled.is_(True))
                    .where(
                        or_(
                            WebhookEndpoint.fanout_lease_until.is_(None),
                            WebhookEndpoint.fanout_lease_until < job.now,
                        )
                    )
                    .order_by(WebhookEndpoint.id)
                    .limit(job.batch_size)
                )
            )
        ).all()
        leased = []
        for row in rows:
            row.fanout_lease_until = job.now + LEASE
            receiver = Receiver(
                row.id, row.tenant_id, row.principal_id, row.payload_mode, row.filters or {}
            )
            leased.append(
                (receiver, list(row.event_types), Cursor(row.cursor_xid, row.cursor_position))
            )
        return leased


def _insert(session: AsyncSession) -> Any:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(WebhookMessage).on_conflict_do_nothing(
        index_elements=["endpoint_id", "event_id"]
    )


async def fan_out(job: Job, render: Render) -> None:
    """One pass over the endpoints leased: the events after each cursor (read once per distinct
    cursor: endpoints that kept up share one read), each event rendered once per group of
    endpoints with the same receiving principal and payload mode (one plan decides; one audit
    write for the group), then every message inserted and every cursor moved in one
    transaction. An endpoint whose rendering fails keeps its cursor and lease (retried after
    the lease); the others go on."""
    leased = await _lease(job)
    if not leased:
        return
    reads: dict[Cursor, list[CommittedEvent]] = {}
    wants: list[tuple[Receiver, list[str], Cursor, frozenset[uuid.UUID]]] = []
    failed: dict[uuid.UUID, BaseException] = {}
    for receiver, patterns, cursor in leased:
        try:
            if cursor not in reads:
                async with job.db.read_session() as session:
                    reads[cursor] = await read_after(session, cursor, EVENTS_PER_PASS)
        except Exception as error:  # this endpoint waits for its lease to end
            failed[receiver.endpoint_id] = error
            continue
        events = reads[cursor]
        last = events[-1].cursor if events else cursor
        wants.append((receiver, patterns, last, frozenset(e.id for e in events)))
    everything = sorted(
        {e.id: e for events in reads.values() for e in events}.values(), key=lambda e: e.cursor
    )
    messages: dict[uuid.UUID, list[dict[str, object]]] = {r.endpoint_id: [] for r, *_ in wants}
    asks: list[tuple[CommittedEvent, str, list[Receiver]]] = []
    for event in everything:
        name = event_name(event)
        if name is None:
            continue
        groups: dict[tuple[uuid.UUID, str], list[Receiver]] = {}
        for receiver, patterns, _last, ids in wants:
            if event.id in ids and receiver.endpoint_id not in failed and matches(patterns, name):
                key = (receiver.principal_id, receiver.payload_mode)
                groups.setdefault(key, []).append(receiver)
        asks.extend((event, name, group) for group in groups.values())
    # A rendering mostly waits on the database: several at once, the answers kept in order.
    window = asyncio.Semaphore(RENDER_WINDOW)

    async def rendered(event: CommittedEvent, group: list[Receiver]) -> Any:
        async with window:
            try:
                return await render(group, event)
            except Exception as error:
                return error

    answers = await asyncio.gather(*(rendered(event, group) for event, _name, group in asks))
    for (event, name, group), answer in zip(asks, answers, strict=True):
        if isinstance(answer, Exception):
            for receiver in group:
                failed.setdefault(receiver.endpoint_id, answer)
            continue
        for receiver, data in zip(group, answer, strict=True):
            if data is not None:
                payload = envelope(name, event, data)
                messages[receiver.endpoint_id].append(
                    _message(receiver, event, name, payload, job.now)
                )
    done = [(r, last) for r, _p, last, _i in wants if r.endpoint_id not in failed]
    try:
        if done:
            async with job.db.write_session() as session:
                rows = [m for r, _last in done for m in messages[r.endpoint_id]]
                if rows:
                    await session.execute(_insert(session), rows)
                for receiver, last in done:
                    await session.execute(
                        update(WebhookEndpoint)
                        .where(WebhookEndpoint.id == receiver.endpoint_id)
                        .values(
                            cursor_xid=last.xid,
                            cursor_position=last.position,
                            fanout_lease_until=None,
                        )
                    )
        for receiver, _last in done:
            job.succeeded(f"fanout:{receiver.endpoint_id}")
        if any(len(events) >= EVENTS_PER_PASS for events in reads.values()):
            job.again = True  # more events wait behind a full read
    except Exception as error:  # these endpoints wait for their lease to end
        for receiver, _last in done:
            failed[receiver.endpoint_id] = error
    for endpoint_id, problem in failed.items():
        job.failed(f"fanout:{endpoint_id}", problem)


def _message(
    receiver: Receiver, event: CommittedEvent, name: str, payload: str, now: datetime
) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "tenant_id": receiver.tenant_id,
        "endpoint_id": receiver.endpoint_id,
        "event_id": event.id,
        "event_position": event.position,
        "event_type": name,
        "record_type": event.record_type,
        "record_id": event.record_id,
        "record_version": event.record_version,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
