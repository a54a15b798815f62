"""The scheduler: due work runs once, at its time, in `serve`, in `sharegraph worker`, and with
two schedulers racing over one database."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from sharegraph.cli.main import app as cli_app
from sharegraph.datastore import audit, audit_chain
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import CapacityStatus, EventType
from sharegraph.datastore.models import (
    CapacityChange,
    Event,
    ScheduledCapacityChange,
    ServiceCapacity,
    Tenant,
)
from sharegraph.demo import demo_id
from sharegraph.settings import Settings
from sharegraph.worker import (
    AUDIT_SEAL,
    SCHEDULED_CAPACITY,
    Scheduler,
    claim,
    default_kinds,
    notify_due,
    retry_delay,
)
from sharegraph.worker import capacity as capacity_work
from sharegraph.worker.capacity import SCHEDULED_CAPACITY_WORK
from sharegraph.worker.sealing import audit_sealing

from .conftest import make_api

EASTSIDE_BOXES = demo_id("service-capacity", "eastside-boxes")  # 120 of 300 food boxes
HARBOR_SHELTER = demo_id("service-capacity", "harbor-shelter")  # 4 of 40 beds
MONDAY_8AM_CHICAGO = datetime(2027, 3, 15, 13, 0, tzinfo=UTC)  # CDT, UTC-5


def capacity_scheduler(db: Database, **options: Any) -> Scheduler:
    return Scheduler(db, [SCHEDULED_CAPACITY_WORK], **options)


async def announce(
    db: Database, capacity_id: uuid.UUID, apply_at: datetime, **figures: Any
) -> uuid.UUID:
    """A partner's scheduled change, as `scheduleCapacity` stores it."""
    async with db.write_session() as session:
        capacity = await session.get(ServiceCapacity, capacity_id)
        assert capacity is not None
        row = ScheduledCapacityChange(
            tenant_id=capacity.tenant_id, capacity_id=capacity_id, apply_at=apply_at, **figures
        )
        session.add(row)
        await session.flush()
        return row.id


async def capacity(db: Database, capacity_id: uuid.UUID) -> ServiceCapacity:
    async with db.read_session() as session:
        row = await session.get(ServiceCapacity, capacity_id)
        assert row is not None
        return row


async def scheduled(db: Database, change_id: uuid.UUID) -> ScheduledCapacityChange:
    async with db.read_session() as session:
        row = await session.get(ScheduledCapacityChange, change_id)
        assert row is not None
        return row


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def history_of(capacity_id: uuid.UUID) -> Any:
    return CapacityChange.capacity_id == capacity_id


# -- scheduled capacity ------------------------------------------------------------------------


async def test_five_new_slots_on_monday_apply_once_at_that_time(seeded_db: Database) -> None:
    db = seeded_db
    change = await announce(db, EASTSIDE_BOXES, MONDAY_8AM_CHICAGO, available_delta=5)
    history_before = await count(db, CapacityChange, history_of(EASTSIDE_BOXES))
    scheduler = capacity_scheduler(db)

    early = await scheduler.run_once(MONDAY_8AM_CHICAGO - timedelta(seconds=1))
    assert early.kind(SCHEDULED_CAPACITY).done == 0
    assert (await capacity(db, EASTSIDE_BOXES)).available == 120

    on_time = await scheduler.run_once(MONDAY_8AM_CHICAGO)
    assert on_time.ok and on_time.kind(SCHEDULED_CAPACITY).done == 1
    boxes = await capacity(db, EASTSIDE_BOXES)
    assert (boxes.available, boxes.maximum, boxes.status) == (125, 300, CapacityStatus.CAPACITY)
    assert (await scheduled(db, change)).applied_at == MONDAY_8AM_CHICAGO

    again = await scheduler.run_once(MONDAY_8AM_CHICAGO + timedelta(days=1))
    assert again.kind(SCHEDULED_CAPACITY).done == 0
    assert (await capacity(db, EASTSIDE_BOXES)).available == 125
    assert await count(db, CapacityChange, history_of(EASTSIDE_BOXES)) == history_before + 1
    # One event for the capacity, one for the scheduled change it stamped.
    assert await count(db, Event, Event.record_id == change) == 1
    assert (
        await count(
            db,
            Event,
            Event.record_id == EASTSIDE_BOXES,
            Event.event_type == EventType.UPDATED,
        )
        == 1
    )


async def test_a_new_figure_status_and_note_apply_together(seeded_db: Database) -> None:
    db = seeded_db
    await announce(
        seeded_db,
        HARBOR_SHELTER,
        MONDAY_8AM_CHICAGO,
        available=0,
        maximum=30,
        status=CapacityStatus.WAITLIST,
        note="Closed for renovation; waitlist only.",
    )
    await capacity_scheduler(db).run_once(MONDAY_8AM_CHICAGO)
    shelter = await capacity(db, HARBOR_SHELTER)
    assert (shelter.available, shelter.maximum, shelter.status, shelter.note) == (
        0,
        30,
        CapacityStatus.WAITLIST,
        "Closed for renovation; waitlist only.",
    )
    async with db.read_session() as session:
        latest = await session.scalar(
            select(CapacityChange)
            .where(history_of(HARBOR_SHELTER))
            .order_by(CapacityChange.changed_at.desc())
            .limit(1)
        )
    assert latest is not None and (latest.available, latest.status) == (0, CapacityStatus.WAITLIST)


async def test_a_cancelled_change_never_applies(seeded_db: Database) -> None:
    db = seeded_db
    change = await announce(db, EASTSIDE_BOXES, MONDAY_8AM_CHICAGO, available_delta=5)
    async with db.write_session() as session:
        await session.execute(
            update(ScheduledCapacityChange)
            .where(ScheduledCapacityChange.id == change)
            .values(cancelled_at=MONDAY_8AM_CHICAGO - timedelta(days=1))
        )
    report = await capacity_scheduler(db).run_once(MONDAY_8AM_CHICAGO + timedelta(hours=1))
    assert report.kind(SCHEDULED_CAPACITY).done == 0
    assert (await capacity(db, EASTSIDE_BOXES)).available == 120
    assert (await scheduled(db, change)).applied_at is None


async def test_applying_keeps_what_assignments_reserved(seeded_db: Database) -> None:
    """Announced before three beds were reserved: "down to 1 bed" keeps the three."""
    db = seeded_db
    async with db.write_session() as session:
        await session.execute(
            update(ServiceCapacity).where(ServiceCapacity.id == HARBOR_SHELTER).values(reserved=3)
        )
    await announce(db, HARBOR_SHELTER, MONDAY_8AM_CHICAGO, available=1)
    await announce(db, HARBOR_SHELTER, MONDAY_8AM_CHICAGO + timedelta(hours=1), available_delta=-9)
    report = await capacity_scheduler(db).run_once(MONDAY_8AM_CHICAGO + timedelta(hours=2))
    assert report.ok and report.kind(SCHEDULED_CAPACITY).done == 2
    shelter = await capacity(db, HARBOR_SHELTER)
    assert (shelter.available, shelter.reserved) == (3, 3)


async def test_a_failing_change_is_retried_later_and_does_not_stop_the_others(
    seeded_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = seeded_db
    broken = await announce(db, HARBOR_SHELTER, MONDAY_8AM_CHICAGO, available_delta=1)
    fine = await announce(db, EASTSIDE_BOXES, MONDAY_8AM_CHICAGO, available_delta=5)
    real_apply = capacity_work.apply_capacity_change

    async def flaky(session: Any, capacity: ServiceCapacity, **figures: Any) -> Any:
        if capacity.id == HARBOR_SHELTER:
            raise RuntimeError("the disk is full")
        return await real_apply(session, capacity, **figures)

    monkeypatch.setattr(capacity_work, "apply_capacity_change", flaky)
    scheduler = capacity_scheduler(db)
    first = await scheduler.run_once(MONDAY_8AM_CHICAGO)
    kind = first.kind(SCHEDULED_CAPACITY)
    assert not first.ok and kind.done == 1
    [failure] = kind.failures
    assert failure.item == str(broken) and "the disk is full" in failure.error
    assert failure.retry_at == MONDAY_8AM_CHICAGO + retry_delay(1)
    assert (await scheduled(db, fine)).applied_at == MONDAY_8AM_CHICAGO
    assert (await scheduled(db, broken)).applied_at is None
    assert (await capacity(db, HARBOR_SHELTER)).available == 4  # rolled back alone

    backing_off = await scheduler.run_once(MONDAY_8AM_CHICAGO + timedelta(seconds=1))
    assert backing_off.kind(SCHEDULED_CAPACITY).failures == ()  # not even tried

    monkeypatch.setattr(capacity_work, "apply_capacity_change", real_apply)
    retried = await scheduler.run_once(failure.retry_at)
    assert retried.ok and retried.kind(SCHEDULED_CAPACITY).done == 1
    assert (await capacity(db, HARBOR_SHELTER)).available == 5


def test_retries_back_off_up_to_an_hour() -> None:
    delays = [retry_delay(n) for n in range(1, 14)]
    assert delays[:3] == [timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=20)]
    assert delays == sorted(delays) and delays[-1] == timedelta(hours=1)


def test_claims_skip_locked_rows_on_postgresql_and_rely_on_the_write_lock_on_sqlite() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    statement = claim(select(ScheduledCapacityChange))
    assert "FOR UPDATE SKIP LOCKED" in str(statement.compile(dialect=postgresql.dialect()))
    assert "FOR UPDATE" not in str(statement.compile(dialect=sqlite.dialect()))


async def test_two_schedulers_racing_apply_every_change_exactly_once(
    seeded_db: Database, databases: Any, backend: str
) -> None:
    """Two processes' worth of schedulers (separate engines and pools) on one database."""
    db = seeded_db
    targets = [demo_id("service-capacity", key) for key in ("eastside-boxes", "harbor-shelter")]
    targets += [demo_id("service-capacity", "eastside-mobile")]
    before = {c: (await capacity(db, c)).available for c in targets}
    history_before = await count(db, CapacityChange)
    changes: list[uuid.UUID] = []
    async with db.write_session() as session:
        tenant = (await session.get(ServiceCapacity, targets[0])).tenant_id  # type: ignore[union-attr]
        for i in range(240):
            row = ScheduledCapacityChange(
                id=uuid.uuid4(),
                tenant_id=tenant,
                capacity_id=targets[i % 3],
                apply_at=MONDAY_8AM_CHICAGO - timedelta(seconds=i),
                available_delta=1,
            )
            session.add(row)
            changes.append(row.id)
    other = Database(db.url)
    try:
        first = capacity_scheduler(db, batch_size=7)
        second = capacity_scheduler(other, batch_size=7)
        reports = await asyncio.gather(
            first.run_once(MONDAY_8AM_CHICAGO), second.run_once(MONDAY_8AM_CHICAGO)
        )
    finally:
        await other.dispose()
    assert all(r.ok for r in reports), [r.to_json() for r in reports]
    assert sum(r.kind(SCHEDULED_CAPACITY).done for r in reports) == 240
    assert await count(db, CapacityChange) == history_before + 240
    assert (
        await count(
            db,
            ScheduledCapacityChange,
            ScheduledCapacityChange.applied_at.is_not(None),
        )
        == 240
    )
    async with db.read_session() as session:
        stamped = (
            await session.execute(
                select(Event.record_id, func.count())
                .where(Event.record_type == "ScheduledCapacityChange")
                .group_by(Event.record_id)
            )
        ).all()
    assert {row_id for row_id, _ in stamped} == set(changes)
    assert {n for _, n in stamped} == {1}
    for c in targets:
        assert (await capacity(db, c)).available == before[c] + 80


# -- the audit trail ---------------------------------------------------------------------------


async def test_the_scheduler_seals_the_audit_trail_every_few_minutes(seeded_db: Database) -> None:
    db = seeded_db
    async with db.read_session() as session:
        prairie = await session.scalar(select(Tenant.id).where(Tenant.name == "Prairie 211"))
    assert prairie is not None
    async with db.write_session() as session:
        for action in ("read", "read", "denied"):
            await audit.record(
                session, tenant_id=prairie, principal_id=None, action=action, detail=None
            )
    scheduler = Scheduler(db, [audit_sealing(timedelta(minutes=5), settle_seconds=0)])
    now = datetime.now(UTC)
    first = await scheduler.run_once(now)
    assert first.ok and first.kind(AUDIT_SEAL).done >= 3
    report = await audit_chain.verify(db, prairie)
    assert report.ok and report.rows_unsealed == 0 and report.seals_checked >= 1

    assert not (await scheduler.run_once(now + timedelta(minutes=1))).kind(AUDIT_SEAL).ran
    assert (await scheduler.run_once(now + timedelta(minutes=5))).kind(AUDIT_SEAL).ran


def test_serve_and_worker_run_every_kind_by_default() -> None:
    assert [k.name for k in default_kinds()] == [SCHEDULED_CAPACITY, AUDIT_SEAL]
    assert [k.name for k in default_kinds(audit_seal_every=None)] == [SCHEDULED_CAPACITY]


def test_the_scheduler_is_on_for_serve_unless_switched_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHAREGRAPH_SCHEDULER", raising=False)
    assert Settings.from_env().scheduler
    monkeypatch.setenv("SHAREGRAPH_SCHEDULER", "off")
    assert not Settings.from_env().scheduler
    monkeypatch.setenv("SHAREGRAPH_SCHEDULER", "on")
    assert Settings.from_env().scheduler


# -- inside serve, and as `sharegraph worker` --------------------------------------------------


async def test_serve_applies_a_change_when_it_falls_due_and_stops_cleanly(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    db = seeded_db
    settings = Settings(database_url=db.url, scheduler=True, scheduler_poll_seconds=0.1)
    change = await announce(
        db, EASTSIDE_BOXES, datetime.now(UTC) + timedelta(seconds=0.5), available_delta=5
    )
    async for _api in make_api(db, keys, settings):
        for _ in range(100):
            if (await scheduled(db, change)).applied_at is not None:
                break
            await asyncio.sleep(0.1)
        assert (await scheduled(db, change)).applied_at is not None
        assert (await capacity(db, EASTSIDE_BOXES)).available == 125
    # The app's lifespan ended: its scheduler is stopped and applies nothing more.
    later = await announce(
        db, EASTSIDE_BOXES, datetime.now(UTC) + timedelta(seconds=0.1), available_delta=5
    )
    await asyncio.sleep(0.5)
    assert (await scheduled(db, later)).applied_at is None


async def test_a_notification_wakes_schedulers_before_their_next_poll(
    seeded_db: Database, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite schedulers poll")
    db = seeded_db
    scheduler = capacity_scheduler(db, poll_seconds=60)
    await scheduler.start()
    try:
        await asyncio.sleep(0.5)  # the first pass ran and found nothing; LISTEN is up
        change = await announce(
            db, EASTSIDE_BOXES, datetime.now(UTC) - timedelta(seconds=1), available_delta=5
        )
        async with db.write_session() as session:
            await notify_due(session, SCHEDULED_CAPACITY)
        for _ in range(50):
            if (await scheduled(db, change)).applied_at is not None:
                break
            await asyncio.sleep(0.1)
        assert (await scheduled(db, change)).applied_at is not None
    finally:
        await scheduler.stop()


async def _worker(*args: str) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, cli_app, ["worker", *args])


async def test_worker_once_runs_one_pass_and_prints_json(seeded_db: Database) -> None:
    db = seeded_db
    change = await announce(
        db, EASTSIDE_BOXES, datetime.now(UTC) - timedelta(minutes=1), available_delta=5
    )
    result = await _worker("--once", "--json", "--database", db.url)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["kinds"][SCHEDULED_CAPACITY]["done"] == 1
    assert summary["kinds"][AUDIT_SEAL]["ran"] is True
    assert (await scheduled(db, change)).applied_at is not None

    result = await _worker("--once", "--database", db.url)
    assert result.exit_code == 0, result.output
    assert f"{SCHEDULED_CAPACITY}: 0 done, 0 failed" in result.stdout


async def test_worker_refuses_an_unmigrated_database(empty_db: Database) -> None:
    result = await _worker("--once", "--database", empty_db.url)
    assert result.exit_code == 2
    assert "db upgrade" in result.output


async def test_kinds_that_follow_events_run_alone_on_a_commit_and_full_passes_still_come(
    seeded_db: Database,
) -> None:
    """A committed event runs the ``on_events`` kinds at once (not the others); however often
    events arrive, every kind still runs once a poll interval; ``job.again`` reruns a kind."""
    from sharegraph.datastore.outbox import record_event
    from sharegraph.datastore.work import DueWork, Job

    runs: list[str] = []
    closed: list[str] = []
    again = [False]

    async def follows(job: Job) -> None:
        runs.append("follows")
        if again[0]:
            again[0] = False
            job.again = True  # ran out of time with work left

    async def polls(_job: Job) -> None:
        runs.append("polls")

    async def close() -> None:
        closed.append("follows")

    scheduler = Scheduler(
        seeded_db,
        [DueWork("polls", polls), DueWork("follows", follows, on_events=True, close=close)],
        poll_seconds=1.5,
    )
    await scheduler.start()
    try:
        await asyncio.sleep(0.5)  # the first, full pass (and on PostgreSQL the LISTEN's)
        polled, followed = runs.count("polls"), runs.count("follows")
        assert polled >= 1
        again[0] = True
        async with seeded_db.write_session() as session:
            capacity = await session.get(ServiceCapacity, HARBOR_SHELTER)
            record_event(session, capacity, EventType.UPDATED, None)
        await asyncio.sleep(0.3)
        assert runs.count("polls") == polled  # the event runs only the kinds that follow
        assert runs.count("follows") >= followed + 2  # the event's run, then job.again's
        for _ in range(10):  # events every 0.25 s, more often than the poll
            async with seeded_db.write_session() as session:
                record_event(session, capacity, EventType.UPDATED, None)
            await asyncio.sleep(0.25)
        assert runs.count("polls") >= polled + 1  # the full pass came anyway
    finally:
        await scheduler.stop()
    assert closed == ["follows"]


async def test_a_kind_after_a_slow_one_gets_a_clock_that_is_not_stale(seeded_db: Database) -> None:
    """A pass runs its kinds one after another: a kind that leases rows from its clock
    (webhook delivery, after replication and exports) must not stamp leases from a clock the
    slow kinds before it left behind, or they expire at once and another process claims and
    sends the same messages again."""
    from sharegraph.datastore.work import DueWork, Job

    seen: list[datetime] = []

    async def slow(_job: Job) -> None:
        await asyncio.sleep(0.6)

    async def leases(job: Job) -> None:
        seen.append(job.now)

    scheduler = Scheduler(seeded_db, [DueWork("slow", slow), DueWork("leases", leases)])
    now = datetime(2027, 3, 15, 13, 0, tzinfo=UTC)
    report = await scheduler.run_once(now)
    assert report.now == now
    (later,) = seen
    assert timedelta(seconds=0.6) <= later - now < timedelta(seconds=5)
