"""The outbox: every write of an evented record adds one event row in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.engine import EVENTS_WRITTEN
from sharegraph.datastore.enums import EventType
from sharegraph.datastore.models import Event


def record_event(
    session: AsyncSession, record: Any, event_type: EventType, actor_id: uuid.UUID | None
) -> Event:
    event = Event(
        event_type=event_type,
        record_type=type(record).__name__,
        record_id=record.id,
        tenant_id=record.tenant_id,
        record_version=_version(record),
        actor_id=actor_id,
    )
    session.add(event)
    session.info[EVENTS_WRITTEN] = True  # wakes this process's event relay on commit
    return event


async def record_events(
    session: AsyncSession,
    records: Iterable[tuple[Any, EventType]],
    actor_id: uuid.UUID | None,
) -> None:
    """:func:`record_event` for many records in one INSERT (an import writes thousands; the ORM
    would insert them one by one to learn each new position)."""
    rows = [
        {
            "event_type": event_type,
            "record_type": type(record).__name__,
            "record_id": record.id,
            "tenant_id": record.tenant_id,
            "record_version": _version(record),
            "actor_id": actor_id,
        }
        for record, event_type in records
    ]
    if rows:
        await session.execute(insert(Event), rows)
        session.info[EVENTS_WRITTEN] = True


def _version(record: Any) -> int:
    """The record's optimistic-concurrency version; 1 for records without one (a taxonomy's
    ``version`` is its edition, text)."""
    version = getattr(record, "version", 1)
    return version if isinstance(version, int) else 1
