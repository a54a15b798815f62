"""Configured replication targets as due work (README "Replication"): every pass brings each
target of ``SHAREGRAPH_REPLICATION_TARGETS`` up to date, one runner per target across
processes; a failing target backs off (``Job.failed``) without holding up the others."""

from __future__ import annotations

from sharegraph.datastore.work import DueWork, Job
from sharegraph.exporters.replication.job import bring_up_to_date, describe
from sharegraph.settings import ReplicationSettings

REPLICATION = "replication"


def replication_work(settings: ReplicationSettings) -> DueWork:
    async def run(job: Job) -> None:
        waiting = job.waiting()
        for configured in settings.targets:
            item = describe(configured)
            if item in waiting:
                continue
            try:
                results = await bring_up_to_date(
                    job.db,
                    configured,
                    page_size=settings.page_size,
                    budget_seconds=settings.pass_seconds,
                )
            except Exception as error:  # this target only; the others still run
                job.failed(item, error)
                continue
            if results is not None:  # None: another process is running this target
                job.succeeded(item)

    return DueWork(REPLICATION, run)
