"""Export jobs: asked for through the API, run by the scheduler, downloaded by whoever asked.

A job is visible to the principal who asked for it and to no one else (not even other admins
of its tenant: the file holds what *that* principal's plan let out).

Running one follows the lease shape of ``datastore.scheduler.work``: :func:`claim` takes the
oldest pending job (or one whose worker died: its lease ran out) and stamps ``running``, a
lease and one more attempt in one short transaction; the export runs outside any transaction;
:func:`finish` records the outcome, only if the job still carries the attempt that worker took
(a worker whose lease ran out and was taken over records nothing). A pending job that failed
waits for its backoff in ``lease_until`` (the schema has no separate retry time for jobs).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import ExportJob
from sharegraph.datastore.work import any_leased_job_due, claim_leased_job, notify_due
from sharegraph.datastore.work import claim as claim_rows

EXPORT_JOBS = "export-jobs"
PENDING, RUNNING, DONE, FAILED, EXPIRED = "pending", "running", "done", "failed", "expired"
MAX_ATTEMPTS = 3


async def create(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    requested_by: uuid.UUID,
    what: str,
    format: str,
    filters: dict[str, Any],
    now: datetime,
) -> ExportJob:
    job = ExportJob(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        requested_by_id=requested_by,
        what=what,
        format=format,
        filters=filters,
        status=PENDING,
        attempts=0,
        created_at=now,
    )
    session.add(job)
    await session.flush()
    await notify_due(session, EXPORT_JOBS)
    return job


def jobs_of(principal_id: uuid.UUID, status: str | None = None) -> Select[Any]:
    statement = select(ExportJob).where(ExportJob.requested_by_id == principal_id)
    if status is not None:
        statement = statement.where(ExportJob.status == status)
    return statement


async def job_of(
    session: AsyncSession, principal_id: uuid.UUID, job_id: uuid.UUID
) -> ExportJob | None:
    found: ExportJob | None = await session.scalar(
        jobs_of(principal_id).where(ExportJob.id == job_id)
    )
    return found


# -- the worker side ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    tenant_id: uuid.UUID
    requested_by: uuid.UUID
    what: str
    format: str
    filters: dict[str, Any] | None
    attempts: int


async def any_claimable(db: Database, now: datetime) -> bool:
    return await any_leased_job_due(db, ExportJob, now)


async def claim(db: Database, now: datetime, lease: timedelta) -> Claimed | ExportJob | None:
    """The next job, leased to the caller; a job whose workers died ``MAX_ATTEMPTS`` times is
    marked failed instead and returned as the row; None when nothing is due."""
    found = await claim_leased_job(
        db,
        ExportJob,
        now,
        lease,
        max_attempts=MAX_ATTEMPTS,
        gave_up="the export was interrupted {attempts} times; start it again",
    )
    if found is None:
        return None
    job, started = found
    if not started:
        return job
    return Claimed(
        job.id,
        job.tenant_id,
        job.requested_by_id,
        job.what,
        job.format,
        job.filters,
        job.attempts,
    )


async def finish(
    db: Database,
    claimed: Claimed,
    *,
    now: datetime,
    file_path: str | None = None,
    row_count: int | None = None,
    error: str | None = None,
    retry_at: datetime | None = None,
    expires_at: datetime | None = None,
    redisclosure_notice: bool = False,
) -> bool:
    """Record the outcome of ``claimed``'s attempt: done (``file_path``), failed for good
    (``error``), or back to pending until ``retry_at``. False when the job has moved on."""
    async with db.write_session() as session:
        job: ExportJob | None = await session.scalar(
            select(ExportJob)
            .where(
                ExportJob.id == claimed.id,
                ExportJob.status == RUNNING,
                ExportJob.attempts == claimed.attempts,
            )
            .with_for_update()
        )
        if job is None:
            return False
        job.error = error
        if file_path is not None:
            job.status = DONE
            job.file_path = file_path
            job.row_count = row_count
            job.redisclosure_notice = redisclosure_notice
            job.expires_at = expires_at
            job.finished_at = now
            job.lease_until = None
        elif retry_at is not None:
            job.status = PENDING
            job.lease_until = retry_at
        else:
            job.status = FAILED
            job.finished_at = now
            job.lease_until = None
        return True


async def expire(db: Database, now: datetime, limit: int) -> Sequence[str]:
    """Mark finished jobs past their expiry ``expired``; the files to delete."""
    async with db.read_session() as session:
        due = await session.scalar(
            select(ExportJob.id)
            .where(ExportJob.status == DONE, ExportJob.expires_at <= now)
            .limit(1)
        )
    if due is None:
        return []
    async with db.write_session() as session:
        jobs = (
            await session.scalars(
                claim_rows(
                    select(ExportJob)
                    .where(ExportJob.status == DONE, ExportJob.expires_at <= now)
                    .order_by(ExportJob.expires_at)
                    .limit(limit)
                )
            )
        ).all()
        paths = [j.file_path for j in jobs if j.file_path]
        for job in jobs:
            job.status = EXPIRED
            job.file_path = None
    return paths
