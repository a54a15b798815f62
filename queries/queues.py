"""Referral queues (iCarol ReferralQ): queues, their entries, assignment with capacity.

A queue has its own status list, each status mapped to a canonical referral status. Entries
wait in a status whose canonical status is draft or requested ("awaiting services") until a
program serving the queue has a free slot; assignment takes the slot, creates the referral and
moves the entry on in one transaction, or changes nothing (``CONFLICT`` / ``NO_CAPACITY``).
"""

from __future__ import annotations

import re
import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.datastore.base import utcnow
from sharegraph.datastore.enums import EventType, ReferralStatus
from sharegraph.datastore.models import (
    CapacityChange,
    ContactForm,
    ContactFormVersion,
    ContactRecord,
    Program,
    QueueEntry,
    QueueForm,
    QueueProgram,
    QueueStatus,
    Referral,
    ReferralQueue,
    ServiceCapacity,
    TaxonomyTerm,
)
from sharegraph.datastore.outbox import record_event
from sharegraph.datastore.versioning import bump
from sharegraph.errors import BadUserInput, Conflict, Forbidden, NotFound, quote
from sharegraph.queries import capacity as slots
from sharegraph.queries import referrals

S = ReferralStatus
AWAITING = frozenset({S.DRAFT, S.REQUESTED})
# Where an assignment moves an entry: the first such status after the awaiting ones.
ASSIGNED = (S.ACCEPTED, S.IN_PROGRESS)
# Service has not started under these referral statuses: removal gives the slot back.
BEFORE_SERVICE = frozenset({S.DRAFT, S.REQUESTED, S.ACCEPTED, S.ON_HOLD, S.REJECTED})
CANCELLABLE = frozenset({S.DRAFT, S.REQUESTED, S.ACCEPTED, S.ON_HOLD, S.IN_PROGRESS})
STATUS_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_NAME = 255
MAX_LABEL = 255
MAX_TEXT = 10_000
MAX_STATUSES = 50
MAX_PRIORITY = 1_000


@dataclass(frozen=True)
class StatusSpec:
    key: str
    label: str
    canonical_status: ReferralStatus


@dataclass
class QueueSpec:
    """A queue to create, or (on update) the parts to change; ``None`` leaves a part alone."""

    name: str | None = None
    description: str | None = None
    need_term_id: uuid.UUID | None = None
    active: bool | None = None
    statuses: list[StatusSpec] | None = None
    program_ids: list[uuid.UUID] | None = None
    form_ids: list[uuid.UUID] | None = None  # ids of any version of each form
    clear: set[str] = field(default_factory=set)  # parts set to null (description, need)


# -- reading ------------------------------------------------------------------------------------


def queues(plan: AccessPlan, *, active: bool | None = None) -> Select[Any]:
    statement = select(ReferralQueue).where(plan.row_filter(ReferralQueue))
    if active is not None:
        statement = statement.where(ReferralQueue.active.is_(active))
    return statement


def entries(
    plan: AccessPlan,
    queue_id: uuid.UUID | None,
    *,
    status_keys: Sequence[str] = (),
    canonical: Sequence[ReferralStatus] = (),
    awaiting: bool | None = None,
    include_removed: bool = False,
    queue_ids: Sequence[uuid.UUID] = (),
    program_ids: Sequence[uuid.UUID] = (),
) -> Select[Any]:
    """Entries of one queue, or (``queue_id`` None) of every queue the plan lets through."""
    statement = select(QueueEntry).where(plan.row_filter(QueueEntry))
    if queue_id is not None:
        statement = statement.where(QueueEntry.queue_id == queue_id)
    if queue_ids:
        statement = statement.where(QueueEntry.queue_id.in_(list(queue_ids)))
    if program_ids:
        statement = statement.where(QueueEntry.assigned_program_id.in_(list(program_ids)))
    # Statuses are each queue's own keys: across queues, read them off the entry's queue.
    status_queue: Any = queue_id if queue_id is not None else QueueEntry.queue_id
    if not include_removed:
        statement = statement.where(QueueEntry.removed_at.is_(None))
    if status_keys:
        statement = statement.where(QueueEntry.status_key.in_(set(status_keys)))
    if canonical:
        statement = statement.where(QueueEntry.status_key.in_(_keys_of(status_queue, canonical)))
    if awaiting is not None:
        condition = and_(
            QueueEntry.assigned_program_id.is_(None),
            QueueEntry.removed_at.is_(None),
            QueueEntry.status_key.in_(_keys_of(status_queue, AWAITING)),
        )
        statement = statement.where(condition if awaiting else ~condition)
    return statement


def _keys_of(queue_id: Any, canonical: Any) -> Any:
    return select(QueueStatus.key).where(
        QueueStatus.queue_id == queue_id, QueueStatus.canonical_status.in_(list(canonical))
    )


@dataclass
class StatusCount:
    status: Any  # QueueStatus row
    count: int


@dataclass
class ProgramCapacity:
    program_id: uuid.UUID
    capacities: list[Any]  # ServiceCapacity rows the caller may see


@dataclass
class Dashboard:
    counts: list[StatusCount]
    awaiting: int
    waiting_median_seconds: int | None
    waiting_oldest_seconds: int | None
    programs: list[ProgramCapacity]


async def dashboards(
    session: AsyncSession, plan: AccessPlan, queue_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, Dashboard]:
    """Dashboards of several queues in four statements, over the entries the caller may see."""
    ids = set(queue_ids)
    if not ids:
        return {}
    visible = plan.row_filter(QueueEntry)
    statuses: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for status in await session.scalars(
        select(QueueStatus)
        .where(QueueStatus.queue_id.in_(ids))
        .order_by(QueueStatus.position, QueueStatus.key)
    ):
        statuses[status.queue_id].append(status)
    counted: dict[tuple[uuid.UUID, str], int] = {
        (queue_id, key): int(n)
        for queue_id, key, n in (
            await session.execute(
                select(QueueEntry.queue_id, QueueEntry.status_key, func.count())
                .where(QueueEntry.queue_id.in_(ids), visible)
                .group_by(QueueEntry.queue_id, QueueEntry.status_key)
            )
        ).all()
    }
    waiting: dict[uuid.UUID, list[float]] = defaultdict(list)
    awaiting_status = and_(
        QueueStatus.queue_id == QueueEntry.queue_id,
        QueueStatus.key == QueueEntry.status_key,
        QueueStatus.canonical_status.in_(list(AWAITING)),
    )
    for queue_id, enqueued_at in (
        await session.execute(
            select(QueueEntry.queue_id, QueueEntry.enqueued_at)
            .join(QueueStatus, awaiting_status)
            .where(
                QueueEntry.queue_id.in_(ids),
                visible,
                QueueEntry.removed_at.is_(None),
                QueueEntry.assigned_program_id.is_(None),
            )
        )
    ).all():
        waiting[queue_id].append(max((now - enqueued_at).total_seconds(), 0.0))
    served: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    capacities: dict[uuid.UUID, list[Any]] = defaultdict(list)
    rows = (
        await session.execute(
            select(QueueProgram.queue_id, QueueProgram.program_id, ServiceCapacity)
            .join(Program, Program.id == QueueProgram.program_id)
            .outerjoin(
                ServiceCapacity,
                and_(
                    ServiceCapacity.program_id == QueueProgram.program_id,
                    plan.row_filter(ServiceCapacity),
                ),
            )
            .where(QueueProgram.queue_id.in_(ids), plan.row_filter(Program))
            .order_by(Program.name, Program.id, ServiceCapacity.id)
        )
    ).all()
    for queue_id, program_id, capacity in rows:
        if program_id not in served[queue_id]:
            served[queue_id].append(program_id)
        if capacity is not None:
            capacities[program_id].append(capacity)
    result = {}
    for queue_id in ids:
        seconds = waiting.get(queue_id, [])
        result[queue_id] = Dashboard(
            counts=[
                StatusCount(status, counted.get((queue_id, status.key), 0))
                for status in statuses.get(queue_id, [])
            ],
            awaiting=len(seconds),
            waiting_median_seconds=round(statistics.median(seconds)) if seconds else None,
            waiting_oldest_seconds=round(max(seconds)) if seconds else None,
            programs=[
                ProgramCapacity(program_id, capacities.get(program_id, []))
                for program_id in served.get(queue_id, [])
            ],
        )
    return result


async def lengths_over_time(
    session: AsyncSession,
    plan: AccessPlan,
    queue_ids: Sequence[uuid.UUID],
    instants: Sequence[datetime],
) -> dict[uuid.UUID, list[int]]:
    """How many entries the caller may see were waiting in each queue at each instant, in one
    statement for every queue: enqueued by then, and neither assigned to a program nor removed
    by then (an entry's timestamps are its history; statuses changed by hand are not)."""
    ids = set(queue_ids)
    if not ids or not instants:
        return {i: [0] * len(instants) for i in ids}
    latest = max(instants)

    def waiting_at(moment: datetime) -> Any:
        return func.sum(
            case(
                (
                    and_(
                        QueueEntry.enqueued_at <= moment,
                        or_(QueueEntry.assigned_at.is_(None), QueueEntry.assigned_at > moment),
                        or_(QueueEntry.removed_at.is_(None), QueueEntry.removed_at > moment),
                    ),
                    1,
                ),
                else_=0,
            )
        )

    rows = (
        await session.execute(
            select(QueueEntry.queue_id, *[waiting_at(moment) for moment in instants])
            .where(
                QueueEntry.queue_id.in_(ids),
                plan.row_filter(QueueEntry),
                QueueEntry.enqueued_at <= latest,
            )
            .group_by(QueueEntry.queue_id)
        )
    ).all()
    found = {row[0]: [int(n or 0) for n in row[1:]] for row in rows}
    return {i: found.get(i, [0] * len(instants)) for i in ids}


@dataclass
class CapacityHistory:
    """A capacity (of a program serving a queue) the caller may see, with its changes from
    the last one before a time range to the end of it."""

    program_id: uuid.UUID
    capacity: Any | None  # ServiceCapacity row; None for a program with none the caller sees
    changes: list[Any] = field(default_factory=list)  # CapacityChange rows, oldest first


async def capacity_histories(
    session: AsyncSession,
    plan: AccessPlan,
    queue_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
) -> dict[uuid.UUID, list[CapacityHistory]]:
    """The capacities of the programs serving each queue, with the changes that set their
    figures from ``start`` to ``end``: two statements for every queue, whatever the history
    outside the range holds."""
    ids = set(queue_ids)
    found: dict[uuid.UUID, list[CapacityHistory]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = (
        await session.execute(
            select(QueueProgram.queue_id, QueueProgram.program_id, ServiceCapacity)
            .join(Program, Program.id == QueueProgram.program_id)
            .outerjoin(
                ServiceCapacity,
                and_(
                    ServiceCapacity.program_id == QueueProgram.program_id,
                    plan.row_filter(ServiceCapacity),
                ),
            )
            .where(QueueProgram.queue_id.in_(ids), plan.row_filter(Program))
            .order_by(Program.name, Program.id, ServiceCapacity.id)
        )
    ).all()
    capacity_ids = {capacity.id for _q, _p, capacity in rows if capacity is not None}
    changes: dict[uuid.UUID, list[Any]] = defaultdict(list)
    if capacity_ids:
        earlier = aliased(CapacityChange)
        last_before = (
            select(func.max(earlier.changed_at))
            .where(earlier.capacity_id == CapacityChange.capacity_id, earlier.changed_at < start)
            .scalar_subquery()
        )
        for change in await session.scalars(
            select(CapacityChange)
            .where(
                CapacityChange.capacity_id.in_(capacity_ids),
                plan.row_filter(CapacityChange),
                CapacityChange.changed_at <= end,
                or_(CapacityChange.changed_at >= start, CapacityChange.changed_at == last_before),
            )
            .order_by(CapacityChange.changed_at, CapacityChange.id)
        ):
            changes[change.capacity_id].append(change)
    for queue_id, program_id, capacity in rows:
        history = changes.get(capacity.id, []) if capacity is not None else []
        found[queue_id].append(CapacityHistory(program_id, capacity, history))
    return found


# -- queues -------------------------------------------------------------------------------------


def _text(value: str | None, name: str, limit: int, *, required: bool = False) -> str | None:
    cleaned = value.strip() if value is not None else None
    if required and not cleaned:
        raise BadUserInput(f"{name} cannot be empty", reason="REQUIRED", field=name)
    if cleaned is not None and len(cleaned) > limit:
        raise BadUserInput(f"{name} is longer than {limit} characters", reason="TOO_LONG")
    return cleaned or None


def _check_statuses(statuses: list[StatusSpec]) -> list[StatusSpec]:
    if not statuses:
        raise BadUserInput("a queue needs at least one status", reason="REQUIRED", field="statuses")
    if len(statuses) > MAX_STATUSES:
        raise BadUserInput(f"a queue has at most {MAX_STATUSES} statuses", reason="TOO_MANY")
    seen: set[str] = set()
    checked = []
    for status in statuses:
        if not STATUS_KEY.fullmatch(status.key):
            raise BadUserInput(
                f"status key {quote(status.key)}: use 1-64 lowercase letters, digits, '-' or '_'",
                reason="BAD_STATUS_KEY",
            )
        if status.key in seen:
            raise BadUserInput(
                f"status key {quote(status.key)} is listed twice", reason="DUPLICATE"
            )
        seen.add(status.key)
        label = _text(status.label, "label", MAX_LABEL, required=True)
        checked.append(StatusSpec(status.key, str(label), status.canonical_status))
    if not any(s.canonical_status in AWAITING for s in checked):
        raise BadUserInput(
            "a queue needs a status mapped to REQUESTED (or DRAFT) for clients awaiting services",
            reason="NO_AWAITING_STATUS",
        )
    return checked


async def _require_visible(
    session: AsyncSession, plan: AccessPlan, model: Any, ids: Sequence[uuid.UUID], what: str
) -> None:
    wanted = set(ids)
    if not wanted:
        return
    found = set(
        await session.scalars(select(model.id).where(model.id.in_(wanted), plan.row_filter(model)))
    )
    if missing := wanted - found:
        raise NotFound(f"no such {what}: {quote(', '.join(sorted(map(str, missing))))}")


async def _form_ids(
    session: AsyncSession, plan: AccessPlan, version_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """The forms behind form version ids the caller may see."""
    wanted = set(version_ids)
    if not wanted:
        return []
    found = dict(
        (
            await session.execute(
                select(ContactFormVersion.id, ContactFormVersion.form_id).where(
                    ContactFormVersion.id.in_(wanted), plan.row_filter(ContactFormVersion)
                )
            )
        ).all()
    )
    if missing := wanted - set(found):
        raise NotFound(f"no such contact form: {quote(', '.join(sorted(map(str, missing))))}")
    await _require_visible(session, plan, ContactForm, list(set(found.values())), "contact form")
    return list(dict.fromkeys(found[v] for v in version_ids))


async def _name_free(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, queue_id: uuid.UUID | None = None
) -> None:
    statement = select(ReferralQueue.id).where(
        ReferralQueue.tenant_id == tenant_id, ReferralQueue.name == name
    )
    if queue_id is not None:
        statement = statement.where(ReferralQueue.id != queue_id)
    if await session.scalar(statement) is not None:
        raise Conflict(f"your tenant already has a queue named {quote(name)}", reason="NAME_TAKEN")


async def _check_links(session: AsyncSession, plan: AccessPlan, spec: QueueSpec) -> None:
    if spec.need_term_id is not None:
        await _require_visible(session, plan, TaxonomyTerm, [spec.need_term_id], "taxonomy term")
    if spec.program_ids:
        await _require_visible(session, plan, Program, spec.program_ids, "program")


async def create_queue(
    session: AsyncSession, plan: AccessPlan, tenant_id: uuid.UUID, spec: QueueSpec
) -> ReferralQueue:
    name = str(_text(spec.name, "name", MAX_NAME, required=True))
    description = _text(spec.description, "description", MAX_TEXT)
    statuses = _check_statuses(spec.statuses or [])
    await _check_links(session, plan, spec)
    form_ids = await _form_ids(session, plan, spec.form_ids or [])
    await _name_free(session, tenant_id, name)
    queue = ReferralQueue(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        name=name,
        description=description,
        need_term_id=spec.need_term_id,
        active=True if spec.active is None else spec.active,
        version=1,
    )
    session.add(queue)
    await session.flush()
    _add_statuses(session, queue, statuses)
    _add_links(session, queue, list(dict.fromkeys(spec.program_ids or [])), form_ids)
    record_event(session, queue, EventType.CREATED, plan.principal.id)
    await session.flush()
    return queue


def _add_statuses(
    session: AsyncSession, queue: ReferralQueue, statuses: list[StatusSpec], start: int = 0
) -> None:
    session.add_all(
        QueueStatus(
            tenant_id=queue.tenant_id,
            queue_id=queue.id,
            key=status.key,
            label=status.label,
            canonical_status=status.canonical_status,
            position=start + position,
        )
        for position, status in enumerate(statuses)
    )


def _add_links(
    session: AsyncSession,
    queue: ReferralQueue,
    program_ids: Sequence[uuid.UUID],
    form_ids: Sequence[uuid.UUID],
) -> None:
    session.add_all(
        QueueProgram(tenant_id=queue.tenant_id, queue_id=queue.id, program_id=p)
        for p in program_ids
    )
    session.add_all(
        QueueForm(tenant_id=queue.tenant_id, queue_id=queue.id, form_id=f) for f in form_ids
    )


async def locked_queue(
    session: AsyncSession, plan: AccessPlan, queue_id: uuid.UUID
) -> ReferralQueue:
    queue: ReferralQueue | None = await session.scalar(
        select(ReferralQueue)
        .where(ReferralQueue.id == queue_id, plan.row_filter(ReferralQueue, Action.WRITE))
        .with_for_update()
    )
    if queue is None:
        raise NotFound("no such referral queue you may change")
    return queue


async def update_queue(
    session: AsyncSession,
    plan: AccessPlan,
    queue_id: uuid.UUID,
    expected_version: int,
    spec: QueueSpec,
) -> ReferralQueue:
    name = _text(spec.name, "name", MAX_NAME, required=True) if spec.name is not None else None
    description = _text(spec.description, "description", MAX_TEXT)
    statuses = _check_statuses(spec.statuses) if spec.statuses is not None else None
    await _check_links(session, plan, spec)
    form_ids = await _form_ids(session, plan, spec.form_ids) if spec.form_ids is not None else None
    queue = await locked_queue(session, plan, queue_id)
    bump(queue, expected_version, "referral queue")
    if name is not None:
        await _name_free(session, queue.tenant_id, name, queue.id)
        queue.name = name
    if description is not None or "description" in spec.clear:
        queue.description = description
    if spec.need_term_id is not None or "need" in spec.clear:
        queue.need_term_id = spec.need_term_id
    if spec.active is not None:
        queue.active = spec.active
    if statuses is not None:
        await _replace_statuses(session, queue, statuses)
    if spec.program_ids is not None:
        await _replace_links(session, queue, QueueProgram, "program_id", spec.program_ids)
    if form_ids is not None:
        await _replace_links(session, queue, QueueForm, "form_id", form_ids)
    queue.updated_at = utcnow()
    record_event(session, queue, EventType.UPDATED, plan.principal.id)
    await session.flush()
    return queue


async def _replace_statuses(
    session: AsyncSession, queue: ReferralQueue, statuses: list[StatusSpec]
) -> None:
    current = {
        s.key: s
        for s in await session.scalars(select(QueueStatus).where(QueueStatus.queue_id == queue.id))
    }
    dropped = set(current) - {s.key for s in statuses}
    if dropped:
        in_use = sorted(
            await session.scalars(
                select(QueueEntry.status_key)
                .where(QueueEntry.queue_id == queue.id, QueueEntry.status_key.in_(dropped))
                .distinct()
            )
        )
        if in_use:
            raise BadUserInput(
                f"entries are in status {', '.join(in_use)}: move them before dropping it",
                reason="STATUS_IN_USE",
                statuses=in_use,
            )
        for key in dropped:
            await session.delete(current[key])
    for position, status in enumerate(statuses):
        row = current.get(status.key)
        if row is None:
            _add_statuses(session, queue, [status], start=position)
        else:
            row.label = status.label
            row.canonical_status = status.canonical_status
            row.position = position


async def _replace_links(
    session: AsyncSession,
    queue: ReferralQueue,
    model: Any,
    column: str,
    wanted_ids: Sequence[uuid.UUID],
) -> None:
    wanted = list(dict.fromkeys(wanted_ids))
    current = {
        getattr(link, column): link
        for link in await session.scalars(select(model).where(model.queue_id == queue.id))
    }
    for target, link in current.items():
        if target not in wanted:
            await session.delete(link)
    session.add_all(
        model(tenant_id=queue.tenant_id, queue_id=queue.id, **{column: target})
        for target in wanted
        if target not in current
    )


# -- entries ------------------------------------------------------------------------------------


async def _statuses(session: AsyncSession, queue_id: uuid.UUID) -> list[Any]:
    return list(
        await session.scalars(
            select(QueueStatus)
            .where(QueueStatus.queue_id == queue_id)
            .order_by(QueueStatus.position, QueueStatus.key)
        )
    )


def _first(statuses: list[Any], canonical: Sequence[ReferralStatus]) -> Any | None:
    for wanted in canonical:
        for status in statuses:
            if status.canonical_status is wanted:
                return status
    return None


def _check_priority(priority: int) -> int:
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise BadUserInput(
            f"priority must be between {-MAX_PRIORITY} and {MAX_PRIORITY}", reason="OUT_OF_RANGE"
        )
    return priority


async def enqueue(
    session: AsyncSession,
    plan: AccessPlan,
    queue_id: uuid.UUID,
    contact_record_id: uuid.UUID,
    priority: int = 0,
) -> QueueEntry:
    """A client waits in the queue, from a contact record, awaiting services."""
    _check_priority(priority)
    # Locked, so two call-takers queueing the same caller at once make one entry.
    queue = await session.scalar(
        select(ReferralQueue)
        .where(ReferralQueue.id == queue_id, plan.row_filter(ReferralQueue))
        .with_for_update()
    )
    if queue is None:
        raise NotFound("no such referral queue")
    plan.require_owner_write(QueueEntry, queue.tenant_id)
    if not queue.active:
        raise BadUserInput("the queue is not active", reason="QUEUE_INACTIVE")
    record = await session.scalar(
        select(ContactRecord).where(
            ContactRecord.id == contact_record_id, plan.row_filter(ContactRecord)
        )
    )
    if record is None:
        raise NotFound("no such contact record")
    waiting = _first(await _statuses(session, queue.id), (S.REQUESTED, S.DRAFT))
    if waiting is None:
        raise BadUserInput(
            "the queue has no status for clients awaiting services", reason="NO_AWAITING_STATUS"
        )
    already = await session.scalar(
        select(QueueEntry.id).where(
            QueueEntry.queue_id == queue.id,
            QueueEntry.contact_record_id == record.id,
            QueueEntry.removed_at.is_(None),
        )
    )
    if already is not None:
        raise Conflict("this contact record is already in the queue", reason="ALREADY_QUEUED")
    now = utcnow()
    entry = QueueEntry(
        id=uuid.uuid4(),
        tenant_id=queue.tenant_id,
        queue_id=queue.id,
        contact_record_id=record.id,
        client_id=record.client_id,
        status_key=waiting.key,
        priority=priority,
        enqueued_at=now,
        version=1,
    )
    session.add(entry)
    await session.flush()
    record_event(session, entry, EventType.CREATED, plan.principal.id)
    return entry


async def locked_entry(session: AsyncSession, plan: AccessPlan, entry_id: uuid.UUID) -> QueueEntry:
    entry: QueueEntry | None = await session.scalar(
        select(QueueEntry)
        .where(QueueEntry.id == entry_id, plan.row_filter(QueueEntry, Action.WRITE))
        .with_for_update()
    )
    if entry is None:
        raise NotFound("no such queue entry you may change")
    return entry


def _require_live(entry: QueueEntry) -> None:
    if entry.removed_at is not None:
        raise BadUserInput("the entry was removed from the queue", reason="ENTRY_REMOVED")


async def _serving_programs(session: AsyncSession, queue_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        await session.scalars(
            select(QueueProgram.program_id)
            .join(Program, Program.id == QueueProgram.program_id)
            .where(QueueProgram.queue_id == queue_id)
            .order_by(Program.name, Program.id)
        )
    )


async def _capacities(
    session: AsyncSession, plan: AccessPlan, program_ids: Sequence[uuid.UUID]
) -> list[ServiceCapacity]:
    """Candidate capacities, most free slots first (a cheap pre-sort; reserving decides).

    Taking a slot writes the capacity's owner's rows, so only capacities the caller may write
    ``reserved`` on count: its own tenant's through its role, another tenant's through an
    agreement (``FORBIDDEN`` / ``NO_PLACEMENT_AGREEMENT`` when none serving the queue is)."""
    rows = list(
        await session.scalars(
            select(ServiceCapacity)
            .where(ServiceCapacity.program_id.in_(list(program_ids)))
            .order_by(
                (ServiceCapacity.available - ServiceCapacity.reserved).desc(), ServiceCapacity.id
            )
        )
    )
    if not rows:
        return rows
    placeable_ids = set(
        await session.scalars(
            select(ServiceCapacity.id).where(
                ServiceCapacity.id.in_([r.id for r in rows]),
                plan.writable_filter(ServiceCapacity, "reserved"),
            )
        )
    )
    placeable = [r for r in rows if r.id in placeable_ids]
    if not placeable:
        raise Forbidden(
            "no agreement lets you place clients with the programs serving this queue",
            reason="NO_PLACEMENT_AGREEMENT",
        )
    return placeable


async def assign(
    session: AsyncSession,
    plan: AccessPlan,
    entry_id: uuid.UUID,
    expected_version: int,
    program_id: uuid.UUID | None,
) -> QueueEntry:
    """Assign an awaiting entry to a program serving the queue that has a free slot.

    Without ``program_id`` the serving program with the most free slots is tried first. Takes
    the slot, creates the referral (requested) and moves the entry on, or ``CONFLICT`` /
    ``NO_CAPACITY`` with nothing changed."""
    actor = plan.principal.id
    entry = await locked_entry(session, plan, entry_id)
    bump(entry, expected_version, "queue entry")
    _require_live(entry)
    if entry.assigned_program_id is not None:
        raise Conflict("the entry is already assigned", reason="ALREADY_ASSIGNED")
    if entry.contact_record_id is None:
        raise BadUserInput("the entry has no contact record to refer", reason="NO_CONTACT_RECORD")
    serving = await _serving_programs(session, entry.queue_id)
    if program_id is not None:
        if program_id not in serving:
            raise BadUserInput(
                "that program does not serve this queue", reason="PROGRAM_NOT_SERVING"
            )
        serving = [program_id]
    candidates = await _capacities(session, plan, serving)
    if not candidates:
        raise Conflict(
            "no program serving the queue reports capacity; the entry stays awaiting services",
            reason="NO_CAPACITY",
        )
    capacity = None
    for candidate in candidates:
        if not slots.takes_assignments(candidate):
            continue
        try:
            capacity = await slots.reserve_slot(session, candidate.id, actor_id=actor)
            break
        except Conflict:  # taken since we looked: try the next one
            continue
    if capacity is None:
        raise Conflict(
            "no program serving the queue has a free slot; the entry stays awaiting services",
            reason="NO_CAPACITY",
        )
    assert capacity.program_id is not None
    referral = await referrals.create_referral(
        session, plan, entry.contact_record_id, None, capacity.program_id, S.REQUESTED
    )
    moved = _first(
        [s for s in await _statuses(session, entry.queue_id) if s.canonical_status not in AWAITING],
        ASSIGNED,
    )
    entry.assigned_program_id = capacity.program_id
    entry.assigned_at = utcnow()  # after the slot was taken: see capacity.release_slot
    entry.referral_id = referral.id
    entry.capacity_id = capacity.id
    if moved is not None:
        entry.status_key = moved.key
    entry.updated_at = utcnow()
    record_event(session, entry, EventType.UPDATED, actor)
    await session.flush()
    return entry


async def set_status(
    session: AsyncSession, plan: AccessPlan, entry_id: uuid.UUID, expected_version: int, key: str
) -> QueueEntry:
    entry = await locked_entry(session, plan, entry_id)
    bump(entry, expected_version, "queue entry")
    _require_live(entry)
    keys = [s.key for s in await _statuses(session, entry.queue_id)]
    if key not in keys:
        raise BadUserInput(
            f"the queue has no status {quote(key)}; its statuses are {', '.join(keys)}",
            reason="UNKNOWN_STATUS",
        )
    entry.status_key = key
    entry.updated_at = utcnow()
    record_event(session, entry, EventType.UPDATED, plan.principal.id)
    await session.flush()
    return entry


async def reprioritize(
    session: AsyncSession,
    plan: AccessPlan,
    entry_id: uuid.UUID,
    expected_version: int,
    priority: int,
) -> QueueEntry:
    _check_priority(priority)
    entry = await locked_entry(session, plan, entry_id)
    bump(entry, expected_version, "queue entry")
    _require_live(entry)
    entry.priority = priority
    entry.updated_at = utcnow()
    record_event(session, entry, EventType.UPDATED, plan.principal.id)
    await session.flush()
    return entry


async def remove(
    session: AsyncSession,
    plan: AccessPlan,
    entry_id: uuid.UUID,
    expected_version: int,
    reason: str,
) -> QueueEntry:
    """Take an entry out of the queue. A slot it holds goes back unless service started; its
    open referral is cancelled with the same reason."""
    why = str(_text(reason, "reason", MAX_TEXT, required=True))
    actor = plan.principal.id
    entry = await locked_entry(session, plan, entry_id)
    bump(entry, expected_version, "queue entry")
    _require_live(entry)
    referral = (
        await session.scalar(select(Referral).where(Referral.id == entry.referral_id))
        if entry.referral_id is not None
        else None
    )
    if entry.capacity_id is not None and entry.assigned_at is not None:
        if referral is None or referral.status in BEFORE_SERVICE:
            await slots.release_slot(
                session, entry.capacity_id, held_since=entry.assigned_at, actor_id=actor
            )
        entry.capacity_id = None
    if referral is not None and referral.status in CANCELLABLE:
        await referrals.update_status(
            session, plan, referral.id, referral.version, S.CANCELLED, why
        )
    closed = _first(await _statuses(session, entry.queue_id), (S.CANCELLED,))
    if closed is not None:
        entry.status_key = closed.key
    entry.removed_at = utcnow()
    entry.removal_reason = why
    entry.updated_at = entry.removed_at
    record_event(session, entry, EventType.UPDATED, actor)
    await session.flush()
    return entry
