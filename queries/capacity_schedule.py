"""Scheduled capacity changes: announcing one ("+5 slots on Monday at 08:00") and cancelling it.

The scheduler applies them (``datastore.scheduler.capacity``). Validation happens before
anything is written; every write adds its event row in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.datastore.enums import CapacityStatus, EventType
from sharegraph.datastore.models import ScheduledCapacityChange, ServiceCapacity
from sharegraph.datastore.outbox import record_event
from sharegraph.errors import BadUserInput, Conflict, NotFound
from sharegraph.queries.capacity import MAX_NOTE


@dataclass(frozen=True)
class PlannedChange:
    """What is to change at ``apply_at``; ``None`` leaves a value as it is then."""

    apply_at: datetime
    available_delta: int | None = None
    available: int | None = None
    maximum: int | None = None
    status: CapacityStatus | None = None
    note: str | None = None

    def written_fields(self) -> list[str]:
        """The GraphQL fields this change sets (``applyAt`` always)."""
        given = {
            "availableDelta": self.available_delta,
            "available": self.available,
            "maximum": self.maximum,
            "status": self.status,
            "note": self.note,
        }
        return ["applyAt", *(name for name, value in given.items() if value is not None)]


def validate(change: PlannedChange, now: datetime) -> None:
    """``BAD_USER_INPUT`` (with a reason) for a change that cannot be scheduled."""
    if change.apply_at <= now:
        raise BadUserInput(
            f"applyAt ({change.apply_at.isoformat()}) must be in the future",
            reason="APPLY_AT_NOT_IN_FUTURE",
            field="applyAt",
        )
    if change.available_delta is not None and change.available is not None:
        raise BadUserInput(
            "give either availableDelta (a change) or available (a new figure), not both",
            reason="DELTA_AND_ABSOLUTE",
            field="availableDelta",
        )
    for name, value in (("available", change.available), ("maximum", change.maximum)):
        if value is not None and value < 0:
            raise BadUserInput(f"{name} cannot be negative", reason="NEGATIVE_FIGURE", field=name)
    if (
        change.available is not None
        and change.maximum is not None
        and change.available > change.maximum
    ):
        raise BadUserInput(
            f"available ({change.available}) cannot exceed maximum ({change.maximum})",
            reason="AVAILABLE_ABOVE_MAXIMUM",
            field="available",
        )
    if change.note is not None and len(change.note) > MAX_NOTE:
        raise BadUserInput(
            f"note is longer than {MAX_NOTE} characters", reason="NOTE_TOO_LONG", field="note"
        )
    if change.written_fields() == ["applyAt"]:
        raise BadUserInput(
            "nothing to change: give availableDelta, available, maximum, status or note",
            reason="NOTHING_TO_CHANGE",
        )


async def schedule_change(
    session: AsyncSession,
    plan: AccessPlan,
    capacity_id: uuid.UUID,
    change: PlannedChange,
    *,
    actor_id: uuid.UUID | None,
    now: datetime,
) -> ScheduledCapacityChange:
    """Record a validated change of a capacity the plan lets the caller write."""
    validate(change, now)
    capacity = await session.scalar(
        select(ServiceCapacity).where(
            ServiceCapacity.id == capacity_id, plan.row_filter(ServiceCapacity, Action.WRITE)
        )
    )
    if capacity is None:
        raise NotFound("no such capacity you may change")
    row = ScheduledCapacityChange(
        id=uuid.uuid4(),
        tenant_id=capacity.tenant_id,
        capacity_id=capacity.id,
        apply_at=change.apply_at,
        available_delta=change.available_delta,
        available=change.available,
        maximum=change.maximum,
        status=change.status,
        note=change.note,
        created_by_id=actor_id,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    record_event(session, row, EventType.CREATED, actor_id)
    return row


async def cancel_change(
    session: AsyncSession,
    plan: AccessPlan,
    change_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None,
    now: datetime,
) -> ScheduledCapacityChange:
    """Cancel a pending change. It waits for a scheduler applying it right now, and then is
    ``CONFLICT`` (``ALREADY_APPLIED``): a change is applied or cancelled, never both."""
    row = await session.scalar(
        select(ScheduledCapacityChange)
        .where(
            ScheduledCapacityChange.id == change_id,
            plan.row_filter(ScheduledCapacityChange, Action.WRITE),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("no such scheduled capacity change you may cancel")
    if row.applied_at is not None:
        raise Conflict(
            f"this change was already applied at {row.applied_at.isoformat()}",
            reason="ALREADY_APPLIED",
        )
    if row.cancelled_at is not None:
        raise Conflict(
            f"this change was already cancelled at {row.cancelled_at.isoformat()}",
            reason="ALREADY_CANCELLED",
        )
    row.cancelled_at = now
    await session.flush()
    record_event(session, row, EventType.UPDATED, actor_id)
    return row
