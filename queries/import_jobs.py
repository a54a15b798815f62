"""Import jobs: a directory file uploaded through the API (``POST /imports``), imported by the
scheduler, reported to its tenant's admins.

A job and its report are visible to the admins of the tenant it imports into (the report
names rows of that tenant's own file; nothing of another tenant). Running one follows the
lease shape of export jobs (:mod:`.export_jobs`): :func:`claim` leases the oldest pending job
in one short transaction, the import runs in its own transaction, :func:`finish` records the
outcome only if the job still carries the attempt that worker took.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.principal import Principal
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import ImportJob
from sharegraph.datastore.work import any_leased_job_due, claim_leased_job, notify_due
from sharegraph.errors import Forbidden

IMPORT_JOBS = "import-jobs"
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
STATUSES = (PENDING, RUNNING, DONE, FAILED)
MAX_ATTEMPTS = 3
# The report keeps this many problems (the importer keeps more; the rest are counted).
MAX_PROBLEMS = 1_000


def admin_tenant(actor: Principal) -> uuid.UUID:
    """The tenant whose directory ``actor`` may import into (its home tenant, as its admin)."""
    if actor.tenant_id is None or not actor.administers(actor.tenant_id):
        raise Forbidden("only tenant admins import into a directory", reason="NOT_ADMIN")
    return actor.tenant_id


async def create(
    session: AsyncSession,
    *,
    job_id: uuid.UUID,
    tenant_id: uuid.UUID,
    requested_by: uuid.UUID,
    format: str,
    source: str | None,
    partial: bool,
    strict: bool,
    file_name: str,
    file_path: str,
    size_bytes: int,
    now: datetime,
) -> ImportJob:
    job = ImportJob(
        id=job_id,
        tenant_id=tenant_id,
        requested_by_id=requested_by,
        format=format,
        source=source,
        partial=partial,
        strict=strict,
        file_name=file_name,
        file_path=file_path,
        size_bytes=size_bytes,
        status=PENDING,
        attempts=0,
        created_at=now,
        committed=False,
        omitted_problems=0,
    )
    session.add(job)
    await session.flush()
    await notify_due(session, IMPORT_JOBS)
    return job


def jobs_of(tenant_id: uuid.UUID, status: str | None = None) -> Select[Any]:
    statement = select(ImportJob).where(ImportJob.tenant_id == tenant_id)
    if status is not None:
        statement = statement.where(ImportJob.status == status)
    return statement


async def job_of(
    session: AsyncSession, tenant_id: uuid.UUID, job_id: uuid.UUID
) -> ImportJob | None:
    found: ImportJob | None = await session.scalar(jobs_of(tenant_id).where(ImportJob.id == job_id))
    return found


# -- the worker side ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    tenant_id: uuid.UUID
    format: str
    source: str | None
    partial: bool
    strict: bool
    file_name: str
    file_path: str | None
    attempts: int


async def any_claimable(db: Database, now: datetime) -> bool:
    return await any_leased_job_due(db, ImportJob, now)


async def claim(db: Database, now: datetime, lease: timedelta) -> Claimed | ImportJob | None:
    """The next job, leased to the caller; one interrupted ``MAX_ATTEMPTS`` times is marked
    failed instead and returned as the row; None when nothing is due."""
    found = await claim_leased_job(
        db,
        ImportJob,
        now,
        lease,
        max_attempts=MAX_ATTEMPTS,
        gave_up="the import was interrupted {attempts} times; upload it again",
    )
    if found is None:
        return None
    job, started = found
    if not started:
        return job
    return Claimed(
        job.id,
        job.tenant_id,
        job.format,
        job.source,
        job.partial,
        job.strict,
        job.file_name,
        job.file_path,
        job.attempts,
    )


async def record_progress(
    db: Database, claimed: Claimed, bytes_read: int, bytes_total: int
) -> None:
    """How far ``claimed``'s attempt has read (a separate short transaction: PostgreSQL only,
    where it does not wait for the import's own)."""
    async with db.write_session() as session:
        await session.execute(
            update(ImportJob)
            .where(
                ImportJob.id == claimed.id,
                ImportJob.status == RUNNING,
                ImportJob.attempts == claimed.attempts,
            )
            .values(bytes_read=bytes_read, bytes_total=bytes_total)
        )


async def finish(
    db: Database,
    claimed: Claimed,
    *,
    now: datetime,
    status: str,
    committed: bool = False,
    detected_format: str | None = None,
    counts: dict[str, Any] | None = None,
    problems: list[dict[str, Any]] | None = None,
    omitted_problems: int = 0,
    error: str | None = None,
    retry_at: datetime | None = None,
    bytes_read: int | None = None,
    bytes_total: int | None = None,
) -> bool:
    """Record the outcome of ``claimed``'s attempt (``status`` DONE or FAILED), or put it back
    to pending until ``retry_at``. False when the job has moved on."""
    async with db.write_session() as session:
        job: ImportJob | None = await session.scalar(
            select(ImportJob)
            .where(
                ImportJob.id == claimed.id,
                ImportJob.status == RUNNING,
                ImportJob.attempts == claimed.attempts,
            )
            .with_for_update()
        )
        if job is None:
            return False
        job.error = error
        if retry_at is not None:
            job.status = PENDING
            job.lease_until = retry_at
            return True
        job.status = status
        job.bytes_read = bytes_read
        job.bytes_total = bytes_total
        job.committed = committed
        job.detected_format = detected_format
        job.counts = counts
        job.problems = problems
        job.omitted_problems = omitted_problems
        job.finished_at = now
        job.lease_until = None
        job.file_path = None  # the upload is deleted once imported
        return True
