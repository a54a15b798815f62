"""Export schedules (recurring deliveries) and their runs.

Admin side: a schedule belongs to a tenant; only that tenant's admins create, change,
deactivate or run one, each change with an audit row in the same transaction. The principal a
schedule runs as must belong to the same tenant. Stored credentials are sealed here
(``datastore.secrets``) and never leave this module in the clear except to the delivery itself.

Worker side, safe with any number of workers:
- :func:`materialize` locks the due schedules (``FOR UPDATE SKIP LOCKED``), creates the run for
  each due time (``INSERT ... ON CONFLICT DO NOTHING`` on the unique (schedule, due time), the
  last word if two workers ever meet) and moves ``next_run_at`` on, in one transaction. Windowed
  feeds get a run for every due time they missed (each covers its own day); plain schedules
  only for the latest one (an older snapshot of the same data helps no one).
- :func:`claim_run` leases one due run (``running``, one more attempt, ``lease_until``) in a
  short transaction; the delivery happens outside any transaction; :func:`finish_run` records
  its outcome only if the run still carries that attempt. A run whose worker died is taken
  over once its lease runs out.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.principal import Principal
from sharegraph.datastore import audit, cron
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import ExportRun, ExportSchedule, Tenant
from sharegraph.datastore.models import Principal as PrincipalRow
from sharegraph.datastore.secrets import SecretBox
from sharegraph.datastore.versioning import bump
from sharegraph.datastore.work import claim as claim_rows
from sharegraph.datastore.work import notify_due
from sharegraph.errors import BadUserInput, Conflict, Forbidden, NotFound, quote

log = logging.getLogger("sharegraph.deliveries")

EXPORT_DELIVERIES = "export-deliveries"
PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"
MAX_ATTEMPTS_LIMIT = 20
KEEP: Literal["keep"] = "keep"  # update: leave the stored secret as it is


@dataclass(frozen=True)
class ScheduleValues:
    """A schedule as checked by the caller (format, filters, cron shape, destination)."""

    name: str
    what: str
    format: str
    filters: dict[str, Any]
    windowed: bool  # each run covers a window of its own (a feed): catch up every missed one
    cron: str
    run_as_id: uuid.UUID
    destination_kind: str
    destination: dict[str, Any]
    active: bool = True
    max_attempts: int = 6


def admin_tenant(actor: Principal) -> uuid.UUID:
    """The tenant whose schedules ``actor`` administers (its home tenant)."""
    if actor.tenant_id is None or not actor.administers(actor.tenant_id):
        raise Forbidden("only tenant admins manage export schedules", reason="NOT_ADMIN")
    return actor.tenant_id


async def time_zone(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    zone: str | None = await session.scalar(select(Tenant.time_zone).where(Tenant.id == tenant_id))
    return zone or "UTC"


def _check(values: ScheduleValues) -> ScheduleValues:
    name = values.name.strip()
    if not name or len(name) > 255:
        raise BadUserInput("name must have 1 to 255 characters", reason="BAD_NAME")
    if not 1 <= values.max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise BadUserInput(
            f"maxAttempts must be between 1 and {MAX_ATTEMPTS_LIMIT}", reason="BAD_MAX_ATTEMPTS"
        )
    return replace(values, name=name, cron=cron.check(values.cron))


async def _check_run_as(
    session: AsyncSession, tenant_id: uuid.UUID, principal_id: uuid.UUID
) -> None:
    found = await session.scalar(
        select(PrincipalRow).where(
            PrincipalRow.id == principal_id,
            PrincipalRow.tenant_id == tenant_id,
            PrincipalRow.disabled.is_(False),
        )
    )
    if found is None:
        raise BadUserInput(
            "runAsId must be an active principal of your tenant", reason="BAD_RUN_AS"
        )


async def _refuse_taken_name(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, ignore: uuid.UUID | None
) -> None:
    taken = await session.scalar(
        select(ExportSchedule.id).where(
            ExportSchedule.tenant_id == tenant_id, ExportSchedule.name == name
        )
    )
    if taken is not None and taken != ignore:
        raise Conflict(
            f"an export schedule named {quote(name)} exists already", reason="NAME_TAKEN"
        )


def _apply(row: ExportSchedule, values: ScheduleValues, zone: str, now: datetime) -> None:
    rescheduled = row.cron != values.cron or not row.active
    row.name = values.name
    row.what = values.what
    row.format = values.format
    row.filters = values.filters
    row.cron = values.cron
    row.run_as_id = values.run_as_id
    row.destination_kind = values.destination_kind
    row.destination = values.destination
    row.max_attempts = values.max_attempts
    row.active = values.active
    if not values.active:
        row.next_run_at = None
    elif rescheduled or row.next_run_at is None:
        row.next_run_at = cron.following(values.cron, zone, now)


async def _audit(session: AsyncSession, actor: Principal, row: ExportSchedule, what: str) -> None:
    await audit.record(
        session,
        tenant_id=row.tenant_id,
        principal_id=actor.id,
        action=f"export.schedule.{what}",
        record_type="ExportSchedule",
        record_ids=[row.id],
        detail={
            "name": row.name,
            "version": row.version,
            "what": row.what,
            "format": row.format,
            "filters": row.filters,
            "cron": row.cron,
            "runAs": row.run_as_id,
            "destinationKind": row.destination_kind,
            "destination": row.destination,  # holds no secret
            "active": row.active,
        },
    )


async def create(
    session: AsyncSession,
    actor: Principal,
    values: ScheduleValues,
    *,
    secret: dict[str, Any] | None,
    box: SecretBox,
    now: datetime,
) -> ExportSchedule:
    tenant_id = admin_tenant(actor)
    clean = _check(values)
    await _check_run_as(session, tenant_id, clean.run_as_id)
    await _refuse_taken_name(session, tenant_id, clean.name, None)
    row = ExportSchedule(
        id=uuid.uuid4(), tenant_id=tenant_id, created_by_id=actor.id, version=1, active=False
    )
    row.secret_encrypted = box.seal(row.id, secret) if secret is not None else None
    _apply(row, clean, await time_zone(session, tenant_id), now)
    session.add(row)
    await session.flush()
    await _audit(session, actor, row, "create")
    return row


async def _owned(session: AsyncSession, actor: Principal, schedule_id: uuid.UUID) -> ExportSchedule:
    tenant_id = admin_tenant(actor)
    row: ExportSchedule | None = await session.scalar(
        select(ExportSchedule)
        .where(ExportSchedule.id == schedule_id, ExportSchedule.tenant_id == tenant_id)
        .with_for_update()
    )
    if row is None:
        raise NotFound("no such export schedule")
    return row


async def _cancel_pending(session: AsyncSession, schedule_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(ExportRun)
        .where(ExportRun.schedule_id == schedule_id, ExportRun.status == PENDING)
        .values(
            status=CANCELLED,
            finished_at=now,
            error="the schedule was deactivated before this run was delivered",
        )
    )


async def update_schedule(
    session: AsyncSession,
    actor: Principal,
    schedule_id: uuid.UUID,
    expected_version: int,
    values: ScheduleValues,
    *,
    secret: dict[str, Any] | Literal["keep"] | None,
    box: SecretBox,
    now: datetime,
) -> ExportSchedule:
    """Replace a schedule. ``secret``: new credentials, None for none, or ``KEEP`` the stored
    ones (only for an SFTP destination with the same way of signing in)."""
    row = await _owned(session, actor, schedule_id)
    clean = _check(values)
    bump(row, expected_version, "export schedule")
    await _check_run_as(session, row.tenant_id, clean.run_as_id)
    await _refuse_taken_name(session, row.tenant_id, clean.name, row.id)
    if secret == KEEP:
        same_auth = row.destination_kind == clean.destination_kind and row.destination.get(
            "auth"
        ) == clean.destination.get("auth")
        if row.secret_encrypted is None or not same_auth:
            raise BadUserInput(
                "give the password or private key for this destination", reason="BAD_SECRET"
            )
    else:
        row.secret_encrypted = box.seal(row.id, secret) if isinstance(secret, dict) else None
    was_active = row.active
    _apply(row, clean, await time_zone(session, row.tenant_id), now)
    if was_active and not row.active:
        await _cancel_pending(session, row.id, now)
    await session.flush()
    await _audit(session, actor, row, "update")
    return row


async def deactivate(
    session: AsyncSession,
    actor: Principal,
    schedule_id: uuid.UUID,
    expected_version: int,
    now: datetime,
) -> ExportSchedule:
    """Stop a schedule; its runs not yet delivered are cancelled. Schedules are kept (their
    runs are the delivery history); ``updateExportSchedule`` with ``active`` restores one."""
    row = await _owned(session, actor, schedule_id)
    bump(row, expected_version, "export schedule")
    row.active = False
    row.next_run_at = None
    await _cancel_pending(session, row.id, now)
    await session.flush()
    await _audit(session, actor, row, "deactivate")
    return row


async def run_now(
    session: AsyncSession, actor: Principal, schedule_id: uuid.UUID, now: datetime
) -> ExportRun:
    """A run due now, besides the schedule's own (a feed covers the windows ``now`` names)."""
    row = await _owned(session, actor, schedule_id)
    if not row.active:
        raise Conflict("the export schedule is not active", reason="SCHEDULE_INACTIVE")
    run = ExportRun(
        id=uuid.uuid4(),
        tenant_id=row.tenant_id,
        schedule_id=row.id,
        scheduled_for=now,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
    )
    session.add(run)
    await session.flush()
    await audit.record(
        session,
        tenant_id=row.tenant_id,
        principal_id=actor.id,
        action="export.schedule.run",
        record_type="ExportSchedule",
        record_ids=[row.id],
        detail={"name": row.name, "run": run.id},
    )
    await notify_due(session, EXPORT_DELIVERIES)
    return run


def schedules_of(tenant_id: uuid.UUID, include_inactive: bool) -> Select[Any]:
    statement = select(ExportSchedule).where(ExportSchedule.tenant_id == tenant_id)
    if not include_inactive:
        statement = statement.where(ExportSchedule.active.is_(True))
    return statement.order_by(ExportSchedule.name)


async def schedule_of(
    session: AsyncSession, tenant_id: uuid.UUID, schedule_id: uuid.UUID
) -> ExportSchedule | None:
    found: ExportSchedule | None = await session.scalar(
        select(ExportSchedule).where(
            ExportSchedule.id == schedule_id, ExportSchedule.tenant_id == tenant_id
        )
    )
    return found


def runs_of(schedule_id: uuid.UUID) -> Select[Any]:
    return select(ExportRun).where(ExportRun.schedule_id == schedule_id)


# -- the worker side ------------------------------------------------------------------------------


def _insert_run(dialect: str) -> Any:
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(ExportRun)


async def materialize(db: Database, now: datetime, limit: int) -> int:
    """Create the runs of schedules due at ``now``; how many schedules moved on."""
    due = and_(ExportSchedule.active.is_(True), ExportSchedule.next_run_at <= now)
    async with db.read_session() as session:
        if await session.scalar(select(ExportSchedule.id).where(due).limit(1)) is None:
            return 0
    async with db.write_session() as session:
        schedules = (
            await session.scalars(
                claim_rows(
                    select(ExportSchedule)
                    .where(due)
                    .order_by(ExportSchedule.next_run_at, ExportSchedule.id)
                    .limit(limit)
                )
            )
        ).all()
        zones = dict(
            (
                await session.execute(
                    select(Tenant.id, Tenant.time_zone).where(
                        Tenant.id.in_({s.tenant_id for s in schedules})
                    )
                )
            ).all()
        )
        for schedule in schedules:
            zone = zones.get(schedule.tenant_id) or "UTC"
            assert schedule.next_run_at is not None
            try:
                windowed = bool((schedule.filters or {}).get("feed"))
                at = schedule.next_run_at if windowed else cron.latest(schedule.cron, zone, now)
                following = cron.following(schedule.cron, zone, max(at, schedule.next_run_at))
            except ValueError:
                log.exception("export schedule %s: cannot compute its next run", schedule.id)
                schedule.next_run_at = None
                continue
            statement = (
                _insert_run(db.dialect)
                .values(
                    id=uuid.uuid4(),
                    tenant_id=schedule.tenant_id,
                    schedule_id=schedule.id,
                    scheduled_for=at,
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=at,
                )
                .on_conflict_do_nothing(index_elements=["schedule_id", "scheduled_for"])
            )
            await session.execute(statement)
            schedule.next_run_at = following
    return len(schedules)


@dataclass(frozen=True)
class ClaimedRun:
    id: uuid.UUID
    tenant_id: uuid.UUID
    schedule_id: uuid.UUID
    scheduled_for: datetime
    attempts: int
    max_attempts: int
    schedule_name: str
    what: str
    format: str
    filters: dict[str, Any] | None
    run_as_id: uuid.UUID
    destination_kind: str
    destination: dict[str, Any]
    secret_encrypted: str | None = None
    time_zone: str = "UTC"


@dataclass(frozen=True)
class GaveUp:
    """A run not attempted again (its workers died too often, or its schedule was stopped)."""

    id: uuid.UUID
    status: str
    error: str


def _claimable(now: datetime) -> Any:
    return or_(
        and_(ExportRun.status == PENDING, ExportRun.next_attempt_at <= now),
        and_(ExportRun.status == RUNNING, ExportRun.lease_until <= now),
    )


async def any_claimable(db: Database, now: datetime) -> bool:
    async with db.read_session() as session:
        found = await session.scalar(select(ExportRun.id).where(_claimable(now)).limit(1))
    return found is not None


async def claim_run(db: Database, now: datetime, lease: timedelta) -> ClaimedRun | GaveUp | None:
    async with db.write_session() as session:
        run: ExportRun | None = await session.scalar(
            claim_rows(
                select(ExportRun)
                .where(_claimable(now))
                .order_by(ExportRun.next_attempt_at, ExportRun.scheduled_for, ExportRun.id)
                .limit(1)
            )
        )
        if run is None:
            return None
        schedule = await session.get(ExportSchedule, run.schedule_id)
        assert schedule is not None  # runs are deleted with their schedule
        if not schedule.active:
            run.status = CANCELLED
            run.error = "the schedule was deactivated before this run was delivered"
        elif run.status == RUNNING and run.attempts >= schedule.max_attempts:
            run.status = FAILED
            run.error = (
                f"the delivery was interrupted on its last allowed attempt "
                f"({run.attempts} of {schedule.max_attempts}): {run.error or 'no error recorded'}"
            )
        if run.status in (CANCELLED, FAILED):
            run.finished_at = now
            run.lease_until = None
            run.next_attempt_at = None
            return GaveUp(run.id, run.status, run.error or "")
        run.status = RUNNING
        run.attempts += 1
        run.lease_until = now + lease
        run.started_at = now
        return ClaimedRun(
            id=run.id,
            tenant_id=run.tenant_id,
            schedule_id=schedule.id,
            scheduled_for=run.scheduled_for,
            attempts=run.attempts,
            max_attempts=schedule.max_attempts,
            schedule_name=schedule.name,
            what=schedule.what,
            format=schedule.format,
            filters=schedule.filters,
            run_as_id=schedule.run_as_id,
            destination_kind=schedule.destination_kind,
            destination=dict(schedule.destination),
            secret_encrypted=schedule.secret_encrypted,
            time_zone=await time_zone(session, run.tenant_id),
        )


async def finish_run(
    db: Database,
    claimed: ClaimedRun,
    *,
    now: datetime,
    row_count: int | None = None,
    file_names: Sequence[str] = (),
    error: str | None = None,
    retry_at: datetime | None = None,
) -> bool:
    """Record an attempt: delivered (no ``error``), retried at ``retry_at``, or failed for
    good. False when the run has moved on (another worker took it over)."""
    async with db.write_session() as session:
        run: ExportRun | None = await session.scalar(
            select(ExportRun)
            .where(
                ExportRun.id == claimed.id,
                ExportRun.status == RUNNING,
                ExportRun.attempts == claimed.attempts,
            )
            .with_for_update()
        )
        if run is None:
            return False
        run.lease_until = None
        run.error = error
        if error is None:
            run.status = DONE
            run.row_count = row_count
            run.file_name = "\n".join(file_names)
            run.finished_at = now
            run.next_attempt_at = None
        elif retry_at is not None:
            run.status = PENDING
            run.next_attempt_at = retry_at
        else:
            run.status = FAILED
            run.finished_at = now
            run.next_attempt_at = None
            await audit.record(
                session,
                tenant_id=run.tenant_id,
                principal_id=claimed.run_as_id,
                action="export.schedule.failed",
                record_type="ExportSchedule",
                record_ids=[claimed.schedule_id],
                detail={"run": run.id, "attempts": run.attempts, "error": error},
            )
        return True
