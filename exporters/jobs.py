"""Due work ``export-jobs``: run the export jobs asked for through the API, and delete their
files once they expire.

Each job runs with the plan of the principal who asked for it, compiled when it runs
(``run_as``): what that plan no longer allows is left out, or the job fails saying why. Files go
to ``<export dir>/<job id>.<suffix>`` (written by ``run_export`` under a temporary name, moved
into place only after its disclosures are on record), and are kept ``export_ttl_seconds``.
A refusal fails the job at once; anything else (a full disk, a database restart) is retried
with growing delays, at most ``MAX_ATTEMPTS`` times.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from pathlib import Path

from sharegraph.datastore.models import ExportJob
from sharegraph.datastore.work import DueWork, Failure, Job, retry_delay
from sharegraph.errors import SharegraphError
from sharegraph.exporters.run import ExportRequest, run_export
from sharegraph.exporters.run_as import RunAs
from sharegraph.exporters.specs import ExportSpec, require_allowed
from sharegraph.queries import export_jobs as jobs
from sharegraph.settings import ExchangeSettings

log = logging.getLogger("sharegraph.exports")


def job_file(settings: ExchangeSettings, claimed: jobs.Claimed, spec: ExportSpec) -> Path:
    return settings.export_dir.absolute() / f"{claimed.id}.{spec.suffix}"


async def _run_one(
    job: Job, claimed: jobs.Claimed, settings: ExchangeSettings, run_as: RunAs
) -> None:
    now = job.now
    try:
        spec = ExportSpec.stored(claimed.what, claimed.format, claimed.filters)
        plan = await run_as.plan(job.db, claimed.requested_by)
        require_allowed(plan, spec)
        output = job_file(settings, claimed, spec)
        await asyncio.to_thread(output.parent.mkdir, parents=True, exist_ok=True)
        request = ExportRequest(
            what=spec.what,
            format=spec.format,
            output=output,
            filter=spec.filter,
            purpose=spec.purpose,
            principal_id=claimed.requested_by,
            channel="api",
        )
        result = await run_export(job.db, plan, request)
    except SharegraphError as error:  # refused, or asked for something that cannot be
        log.info("export job %s refused: %s", claimed.id, error.message)
        await jobs.finish(job.db, claimed, now=now, error=error.message)
        return
    except Exception:
        # The job's `error` is read by the client: an incident id, never our exception's text.
        incident = uuid.uuid4().hex[:12]
        message = f"the export failed on our side (incident {incident}); it will be retried"
        log.warning(
            "export job %s failed (attempt %d, incident %s)",
            claimed.id,
            claimed.attempts,
            incident,
            exc_info=True,
        )
        retry_at = now + retry_delay(claimed.attempts)
        retry = claimed.attempts < jobs.MAX_ATTEMPTS
        await jobs.finish(
            job.db, claimed, now=now, error=message, retry_at=retry_at if retry else None
        )
        job.failures.append(Failure(str(claimed.id), message, claimed.attempts, retry_at))
        return
    recorded = await jobs.finish(
        job.db,
        claimed,
        now=now,
        file_path=str(output),
        row_count=result.records,
        expires_at=now + timedelta(seconds=settings.export_ttl_seconds),
        redisclosure_notice=result.redisclosure_notice,
    )
    if recorded:
        job.done += 1
    else:  # another worker took the job over; its own file is the one on record
        log.warning("export job %s was taken over while it ran", claimed.id)


async def _delete_expired(job: Job) -> None:
    for path in await jobs.expire(job.db, job.now, job.batch_size):
        await asyncio.to_thread(Path(path).unlink, missing_ok=True)


def export_jobs_work(settings: ExchangeSettings) -> DueWork:
    run_as = RunAs()
    lease = timedelta(seconds=settings.lease_seconds)

    async def run(job: Job) -> None:
        await _delete_expired(job)
        for _ in range(job.batch_size):
            if not await jobs.any_claimable(job.db, job.now):
                return
            claimed = await jobs.claim(job.db, job.now, lease)
            if claimed is None:
                return
            if isinstance(claimed, ExportJob):
                log.warning("export job %s: %s", claimed.id, claimed.error)
                continue
            await _run_one(job, claimed, settings, run_as)

    return DueWork(jobs.EXPORT_JOBS, run)
