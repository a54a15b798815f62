"""Partner capacity: what a partner reports apart from what queue assignments reserve.

``available`` is the number of free slots the partner last reported; ``reserved`` is the slots
queue assignments have taken since. Free slots are ``available - reserved`` (a CHECK keeps
``reserved <= available``), so a partner's report never erases a reservation it has not seen,
and an assignment never overbooks:

- an assignment takes a slot with one conditional ``UPDATE`` (:func:`reserve_slot`); whoever
  loses the race for the last slot matches no row and gets ``CONFLICT`` / ``NO_CAPACITY``;
- every reservation bumps the capacity's version, so a partner's report (:func:`report_capacity`)
  carrying the version it read has seen every reservation counted in ``reserved``: its new
  figure already accounts for them, and ``reserved`` starts again from zero;
- a scheduled change (:func:`apply_capacity_change`) was announced before the reservations made
  since, so it keeps them and never lets ``available`` drop below ``reserved``.

Every change writes one history row (who, when, the figures after it) and one event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.datastore.base import utcnow
from sharegraph.datastore.enums import CapacityStatus, EventType
from sharegraph.datastore.models import (
    CapacityChange,
    Organization,
    Program,
    Service,
    ServiceCapacity,
    Unit,
)
from sharegraph.datastore.outbox import record_event
from sharegraph.datastore.versioning import check_version
from sharegraph.errors import BadUserInput, Conflict, NotFound

# Statuses under which an assignment may take a free slot: a waitlist or no-capacity status
# means the partner takes no new clients whatever the count says.
ASSIGNABLE_STATUSES = (CapacityStatus.CAPACITY, CapacityStatus.ADDITIONAL_ASSESSMENT_REQUIRED)
MAX_NOTE = 2_000


def free_slots(capacity: ServiceCapacity) -> int:
    return max(capacity.available - capacity.reserved, 0)


def takes_assignments(capacity: ServiceCapacity) -> bool:
    return capacity.status in ASSIGNABLE_STATUSES and free_slots(capacity) > 0


def _record_change(
    session: AsyncSession,
    capacity: ServiceCapacity,
    actor_id: uuid.UUID | None,
    note: str | None = None,
    at: datetime | None = None,
) -> CapacityChange:
    change = CapacityChange(
        tenant_id=capacity.tenant_id,
        capacity_id=capacity.id,
        available=capacity.available,
        reserved=capacity.reserved,
        maximum=capacity.maximum,
        status=capacity.status,
        note=note if note is not None else capacity.note,
        changed_by_id=actor_id,
        changed_at=at or utcnow(),
    )
    session.add(change)
    record_event(session, capacity, EventType.UPDATED, actor_id)
    return change


async def reserve_slot(
    session: AsyncSession, capacity_id: uuid.UUID, *, actor_id: uuid.UUID | None
) -> ServiceCapacity:
    """Take one free slot atomically, or ``CONFLICT`` / ``NO_CAPACITY``."""
    statement = (
        update(ServiceCapacity)
        .where(
            ServiceCapacity.id == capacity_id,
            ServiceCapacity.reserved < ServiceCapacity.available,
            ServiceCapacity.status.in_(ASSIGNABLE_STATUSES),
        )
        .values(
            reserved=ServiceCapacity.reserved + 1,
            version=ServiceCapacity.version + 1,
            updated_at=utcnow(),
        )
        .returning(ServiceCapacity)
        .execution_options(synchronize_session="fetch", populate_existing=True)
    )
    capacity = (await session.execute(statement)).scalar_one_or_none()
    if capacity is None:
        raise Conflict(
            "the program has no free capacity left; the entry stays awaiting services",
            reason="NO_CAPACITY",
        )
    _record_change(session, capacity, actor_id, note="slot reserved by a queue assignment")
    return capacity


async def release_slot(
    session: AsyncSession,
    capacity_id: uuid.UUID,
    *,
    held_since: datetime,
    actor_id: uuid.UUID | None,
) -> ServiceCapacity | None:
    """Give back a slot an assignment took at ``held_since``, if it is still counted.

    A partner report made since then folded the reservation into its figure (and wrote a history
    row with ``reserved = 0``: while a reservation is outstanding ``reserved`` never reaches
    zero); the partner then decides about the slot itself. Returns the capacity when a slot
    was released."""
    folded = exists().where(
        CapacityChange.capacity_id == capacity_id,
        CapacityChange.reserved == 0,
        CapacityChange.changed_at >= held_since,
    )
    statement = (
        update(ServiceCapacity)
        .where(ServiceCapacity.id == capacity_id, ServiceCapacity.reserved > 0, ~folded)
        .values(
            reserved=ServiceCapacity.reserved - 1,
            version=ServiceCapacity.version + 1,
            updated_at=utcnow(),
        )
        .returning(ServiceCapacity)
        .execution_options(synchronize_session="fetch", populate_existing=True)
    )
    capacity = (await session.execute(statement)).scalar_one_or_none()
    if capacity is not None:
        _record_change(session, capacity, actor_id, note="slot released by a queue removal")
    return capacity


@dataclass(frozen=True)
class CapacityReport:
    """What a partner reports; ``None`` leaves a value as it is (``note``: ``""`` clears it)."""

    available: int | None = None
    maximum: int | None = None
    unit_id: uuid.UUID | None = None
    status: CapacityStatus | None = None
    note: str | None = None
    description: str | None = None


def validate_report(report: CapacityReport, current: ServiceCapacity) -> None:
    """``BAD_USER_INPUT`` before anything is written."""
    for name in ("available", "maximum"):
        value = getattr(report, name)
        if value is not None and value < 0:
            raise BadUserInput(f"{name} cannot be negative", field=name)
    maximum = report.maximum if report.maximum is not None else current.maximum
    available = report.available if report.available is not None else current.available
    if maximum is not None and available > maximum:
        raise BadUserInput(
            f"available ({available}) cannot exceed maximum ({maximum})", field="available"
        )
    for name in ("note", "description"):
        value = getattr(report, name)
        if value is not None and len(value) > MAX_NOTE:
            raise BadUserInput(f"{name} is longer than {MAX_NOTE} characters", field=name)


async def report_capacity(
    session: AsyncSession,
    capacity: ServiceCapacity,
    report: CapacityReport,
    *,
    expected_version: int,
    actor_id: uuid.UUID | None,
) -> ServiceCapacity:
    """Apply a partner's report to ``capacity`` (read ``FOR UPDATE`` in this transaction).

    The version check makes sure every reservation counted in ``reserved`` was visible to the
    partner when it read ``expected_version``; a new ``available`` figure therefore already
    accounts for them and ``reserved`` restarts from zero. Without ``available`` the
    reservations stay."""
    validate_report(report, capacity)
    check_version(capacity, expected_version, "capacity")
    now = utcnow()
    if report.available is not None:
        capacity.available = report.available
        capacity.reserved = 0
    if report.maximum is not None:
        capacity.maximum = report.maximum
    if report.unit_id is not None:
        capacity.unit_id = report.unit_id
    if report.status is not None:
        capacity.status = report.status
    if report.note is not None:
        capacity.note = report.note or None
    if report.description is not None:
        capacity.description = report.description or None
    capacity.updated = now
    capacity.version = expected_version + 1
    await session.flush()
    _record_change(session, capacity, actor_id, at=now)
    return capacity


async def apply_capacity_change(
    session: AsyncSession,
    capacity: ServiceCapacity,
    *,
    available: int | None = None,
    available_delta: int | None = None,
    maximum: int | None = None,
    status: CapacityStatus | None = None,
    note: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> ServiceCapacity:
    """Apply a change announced earlier (a scheduled "+5 slots on Monday").

    It was decided before the reservations made since, so they stay: ``available`` never drops
    below ``reserved`` (the figure is clamped and the history row says so). The row is locked
    (PostgreSQL) and re-read here, so a reservation cannot slip in between."""
    if available is not None and available_delta is not None:
        raise BadUserInput("give either available or availableDelta, not both")
    await session.refresh(capacity, with_for_update=True)
    remarks: list[str] = []
    if available is not None or available_delta is not None:
        target = available if available is not None else capacity.available + (available_delta or 0)
        floor = max(capacity.reserved, 0)
        if target < floor:
            remarks.append(
                f"available raised from {target} to {floor}: "
                f"{capacity.reserved} slots are reserved by queue assignments"
            )
            target = floor
        capacity.available = target
    if maximum is not None:
        capacity.maximum = max(maximum, 0)
    if status is not None:
        capacity.status = status
    if note is not None:
        capacity.note = note or None
    now = utcnow()
    capacity.updated = now
    capacity.version = capacity.version + 1
    await session.flush()
    history_note = "; ".join(part for part in (capacity.note, *remarks) if part) or None
    _record_change(session, capacity, actor_id, note=history_note, at=now)
    return capacity


async def lock_capacity(session: AsyncSession, capacity_id: uuid.UUID, where: Any = None) -> Any:
    """The capacity row, locked for this transaction (PostgreSQL), or ``None``."""
    statement = select(ServiceCapacity).where(ServiceCapacity.id == capacity_id)
    if where is not None:
        statement = statement.where(where)
    return (
        await session.execute(statement.with_for_update().execution_options(populate_existing=True))
    ).scalar_one_or_none()


async def operating_partner(session: AsyncSession, capacity: Any) -> uuid.UUID | None:
    """The partner organization operating the capacity's program or service, if any."""
    owner = (
        select(Program.organization_id).where(Program.id == capacity.program_id)
        if capacity.program_id is not None
        else select(Service.organization_id).where(Service.id == capacity.service_id)
    )
    partner: uuid.UUID | None = await session.scalar(
        select(Organization.partner_organization_id).where(
            Organization.id == owner.scalar_subquery()
        )
    )
    return partner


async def update_reported(
    session: AsyncSession,
    plan: AccessPlan,
    capacity_id: uuid.UUID,
    report: CapacityReport,
    *,
    expected_version: int,
) -> ServiceCapacity:
    """``updateCapacity``: the row locked through the caller's write filter, then the report."""
    capacity: ServiceCapacity | None = await lock_capacity(
        session, capacity_id, plan.row_filter(ServiceCapacity, Action.WRITE)
    )
    if capacity is None:
        raise NotFound("no such capacity you may change")
    if report.unit_id is not None and report.unit_id != capacity.unit_id:
        unit = await session.scalar(
            select(Unit.id).where(
                Unit.id == report.unit_id,
                Unit.tenant_id == capacity.tenant_id,
                plan.row_filter(Unit),
            )
        )
        if unit is None:
            raise NotFound("no such unit in the capacity's directory")
        taken = await session.scalar(
            select(ServiceCapacity.id).where(
                ServiceCapacity.unit_id == report.unit_id,
                ServiceCapacity.program_id == capacity.program_id
                if capacity.program_id is not None
                else ServiceCapacity.service_id == capacity.service_id,
            )
        )
        if taken is not None:
            raise Conflict(
                "the program or service already has a capacity in that unit",
                reason="UNIT_TAKEN",
            )
    return await report_capacity(
        session, capacity, report, expected_version=expected_version, actor_id=plan.principal.id
    )
