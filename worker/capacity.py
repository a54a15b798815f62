"""Scheduled capacity changes ("+5 slots on Monday") applied when they fall due.

Exactly once with any number of schedulers: the due rows are claimed (``FOR UPDATE SKIP
LOCKED``) in the write transaction that applies them and stamps ``applied_at``; a row another
scheduler holds is skipped, and once it unlocks it is no longer pending. The capacities a batch
touches are locked in id order before any is changed, so two schedulers (or an assignment)
never wait on each other in a cycle. Each change runs in a savepoint: a failing one is rolled
back alone, reported, and retried after a backoff.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.enums import EventType
from sharegraph.datastore.models import ScheduledCapacityChange, ServiceCapacity
from sharegraph.datastore.outbox import record_event
from sharegraph.datastore.work import DueWork, Job, claim
from sharegraph.queries.capacity import apply_capacity_change

SCHEDULED_CAPACITY = "scheduled-capacity"


def pending() -> ColumnElement[bool]:
    return and_(
        ScheduledCapacityChange.applied_at.is_(None),
        ScheduledCapacityChange.cancelled_at.is_(None),
    )


def _due(now: datetime, waiting: frozenset[str]) -> list[ColumnElement[bool]]:
    conditions = [pending(), ScheduledCapacityChange.apply_at <= now]
    if waiting:
        conditions.append(ScheduledCapacityChange.id.not_in([uuid.UUID(i) for i in waiting]))
    return conditions


async def apply_scheduled(
    session: AsyncSession, change: ScheduledCapacityChange, capacity: ServiceCapacity, now: datetime
) -> None:
    """Apply one claimed change to its (locked) capacity and stamp it applied."""
    await apply_capacity_change(
        session,
        capacity,
        available=change.available,
        available_delta=change.available_delta,
        maximum=change.maximum,
        status=change.status,
        note=change.note,
        actor_id=change.created_by_id,  # the history names who announced the change
    )
    change.applied_at = now
    await session.flush()
    record_event(session, change, EventType.UPDATED, None)


async def _lock_capacities(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ServiceCapacity]:
    statement = (
        select(ServiceCapacity)
        .where(ServiceCapacity.id.in_(sorted(set(ids))))
        .order_by(ServiceCapacity.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {c.id: c for c in (await session.scalars(statement)).all()}


async def _any_due(job: Job, waiting: frozenset[str]) -> bool:
    """A cheap read first, so an idle scheduler never takes SQLite's write lock."""
    async with job.db.read_session() as session:
        found: Any = await session.scalar(
            select(ScheduledCapacityChange.id).where(*_due(job.now, waiting)).limit(1)
        )
    return found is not None


async def run(job: Job) -> None:
    while True:
        waiting = job.waiting()
        if not await _any_due(job, waiting):
            return
        applied: list[str] = []
        async with job.db.write_session() as session:
            claimed = list(
                (
                    await session.scalars(
                        claim(
                            select(ScheduledCapacityChange)
                            .where(*_due(job.now, waiting))
                            .order_by(ScheduledCapacityChange.apply_at, ScheduledCapacityChange.id)
                            .limit(job.batch_size)
                        )
                    )
                ).all()
            )
            capacities = await _lock_capacities(session, [c.capacity_id for c in claimed])
            for change in claimed:
                capacity = capacities[change.capacity_id]
                try:
                    async with session.begin_nested():
                        await apply_scheduled(session, change, capacity, job.now)
                except Exception as error:  # this change only; the batch goes on
                    job.failed(str(change.id), error)
                else:
                    applied.append(str(change.id))
        for item in applied:  # committed
            job.succeeded(item)
        if len(claimed) < job.batch_size:
            return


SCHEDULED_CAPACITY_WORK = DueWork(SCHEDULED_CAPACITY, run)
