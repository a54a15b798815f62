"""Fan-out: outbox events -> one message per (endpoint, matching event), at least once.

Each endpoint keeps its own cursor in the outbox (``datastore/relay.py`` ``read_after``, the
relay's commit-order read). A pass leases endpoints in a short transaction (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so two workers never fan out one endpoint at once), reads the events
after each cursor, renders the matching ones under the receiving principal's plan *outside* any
write transaction (rendering writes the disclosure audit row; SQLite has one writer), then
inserts the messages and moves the cursor in one transaction. A crash before that commit
leaves the cursor where it was: the events are rendered again (at least once); the unique
(endpoint, event) key keeps one message per event.
"""

from __future__ import annotations

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
    for receiver, patterns, cursor in await _lease(job):
        try:
            async with job.db.read_session() as session:
                events = await read_after(session, cursor, EVENTS_PER_PASS)
            messages = []
            for event in events:
                name = event_name(event)
                if name is None or not matches(patterns, name):
                    continue
                data = await render(receiver, event)
                if data is None:
                    continue
                messages.append(
                    _message(receiver, event, name, envelope(name, event, data), job.now)
                )
            last = events[-1].cursor if events else cursor
            async with job.db.write_session() as session:
                if messages:
                    await session.execute(_insert(session), messages)
                await session.execute(
                    update(WebhookEndpoint)
                    .where(WebhookEndpoint.id == receiver.endpoint_id)
                    .values(
                        cursor_xid=last.xid,
                        cursor_position=last.position,
                        fanout_lease_until=None,
                    )
                )
            job.succeeded(f"fanout:{receiver.endpoint_id}")
        except Exception as error:  # this endpoint waits for its lease to end; others go on
            job.failed(f"fanout:{receiver.endpoint_id}", error)


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
