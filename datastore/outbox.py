"""The outbox: every write of an evented record adds one event row in the same transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from .enums import EventType
from .models import Event


def record_event(
    session: AsyncSession, record: Any, event_type: EventType, actor_id: uuid.UUID | None
) -> Event:
    event = Event(
        event_type=event_type,
        record_type=type(record).__name__,
        record_id=record.id,
        tenant_id=record.tenant_id,
        record_version=getattr(record, "version", 1),
        actor_id=actor_id,
    )
    session.add(event)
    return event
