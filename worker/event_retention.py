"""Pruning the outbox past its retention window (what a subscription may still resume from)."""

from __future__ import annotations

from datetime import timedelta

from sharegraph.datastore.relay import prune
from sharegraph.datastore.work import DueWork, Job

EVENT_RETENTION = "event-retention"
DEFAULT_EVERY = timedelta(hours=1)


def event_retention(retention: timedelta, every: timedelta = DEFAULT_EVERY) -> DueWork:
    """Delete events older than ``retention`` at most once per ``every``. Concurrent runs in
    several processes delete the same rows; the second finds nothing left."""

    async def run(job: Job) -> None:
        async with job.db.write_session() as session:
            job.done += await prune(session, job.now - retention)

    return DueWork(EVENT_RETENTION, run, every=every)
