"""Due work and the scheduler that runs it (inside ``serve`` and as ``sharegraph worker``).

To add a kind of due work, write a coroutine ``run(job)`` that claims and processes its due
rows (``work`` explains the two exactly-once shapes), wrap it in a :class:`DueWork` and add it
to :func:`default_kinds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sharegraph.datastore.engine import Database
from sharegraph.datastore.work import (
    DUE_WORK_CHANNEL,
    DueWork,
    Failure,
    Job,
    claim,
    notify_due,
    retry_delay,
)
from sharegraph.exporters.deliveries import export_kinds
from sharegraph.settings import Settings
from sharegraph.worker.capacity import SCHEDULED_CAPACITY, SCHEDULED_CAPACITY_WORK
from sharegraph.worker.event_retention import EVENT_RETENTION, event_retention
from sharegraph.worker.runner import KindReport, PassReport, Scheduler
from sharegraph.worker.sealing import AUDIT_SEAL, audit_sealing

__all__ = [
    "AUDIT_SEAL",
    "DUE_WORK_CHANNEL",
    "EVENT_RETENTION",
    "SCHEDULED_CAPACITY",
    "DueWork",
    "Failure",
    "Job",
    "KindReport",
    "PassReport",
    "Scheduler",
    "claim",
    "default_kinds",
    "notify_due",
    "retry_delay",
    "scheduler_for",
]


def default_kinds(
    *, audit_seal_every: timedelta | None = timedelta(minutes=5), audit_settle_seconds: float = 5.0
) -> list[DueWork]:
    """Every kind of due work, in the order a pass runs them (``audit_seal_every`` None: the
    audit trail is sealed elsewhere, e.g. by cron running ``sharegraph audit seal``)."""
    kinds = [SCHEDULED_CAPACITY_WORK]
    if audit_seal_every is not None:
        kinds.append(audit_sealing(audit_seal_every, audit_settle_seconds))
    return kinds


def scheduler_for(db: Database, settings: Settings, extra: Sequence[DueWork] = ()) -> Scheduler:
    """The scheduler ``serve`` and ``worker`` run, configured from the settings; ``extra``:
    kinds from layers beside this one (webhooks)."""
    seconds = settings.audit_seal_interval_seconds
    kinds = default_kinds(audit_seal_every=timedelta(seconds=seconds) if seconds > 0 else None)
    kinds.append(event_retention(timedelta(days=settings.event_retention_days)))
    kinds.extend(export_kinds(settings.exchange))
    kinds.extend(extra)
    return Scheduler(db, kinds, poll_seconds=settings.scheduler_poll_seconds)
