"""Due work ``export-deliveries``: create the runs of due export schedules, then deliver them.

A run exports, with the plan of the schedule's ``run_as`` principal compiled when it runs,
each file its due time names (``feeds``), then puts the files at the destination
(``destinations``) and records the rows and file names. A refusal (the plan no longer lets the
data out, the principal is disabled, the destination or credentials cannot be used) fails the
run at once with that reason; anything else (the server is down, a timeout) is retried after
``retry_delay`` (5 s, doubling, at most an hour) until the schedule's ``max_attempts``, then the
run fails with the last error. Every failed run also leaves a row in the tenant's audit trail.

Exactly once with any number of workers: see ``datastore.queries.export_schedules``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import asyncssh

from sharegraph.authz.disclosure import REDISCLOSURE_NOTICE
from sharegraph.datastore.secrets import SecretBox
from sharegraph.datastore.work import DueWork, Failure, Job, retry_delay
from sharegraph.errors import SharegraphError
from sharegraph.exporters.destinations import deliver, stored_target
from sharegraph.exporters.feeds import file_name, parts
from sharegraph.exporters.jobs import export_jobs_work
from sharegraph.exporters.run import ExportRequest, run_export
from sharegraph.exporters.run_as import RunAs
from sharegraph.exporters.specs import ExportSpec, require_allowed
from sharegraph.queries import export_schedules as schedules
from sharegraph.settings import ExchangeSettings

log = logging.getLogger("sharegraph.deliveries")


async def _export_and_deliver(
    job: Job,
    claimed: schedules.ClaimedRun,
    settings: ExchangeSettings,
    run_as: RunAs,
    folder: Path,
) -> tuple[int, list[str]]:
    spec = ExportSpec.stored(claimed.what, claimed.format, claimed.filters)
    target = stored_target(claimed.destination_kind, claimed.destination)
    secret = (
        SecretBox(settings.secret_key).open(claimed.schedule_id, claimed.secret_encrypted)
        if claimed.secret_encrypted
        else None
    )
    plan = await run_as.plan(job.db, claimed.run_as_id)
    files: list[tuple[Path, str]] = []
    rows = 0
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    for part in parts(spec, claimed.scheduled_for, claimed.time_zone):
        require_allowed(plan, part.spec)
        name = file_name(claimed.schedule_name, part)
        request = ExportRequest(
            what=part.spec.what,
            format=part.spec.format,
            output=folder / name,
            filter=part.spec.filter,
            purpose=spec.purpose or f"scheduled delivery: {claimed.schedule_name}",
            principal_id=claimed.run_as_id,
            channel="schedule",
            destination=target.describe(),
        )
        result = await run_export(job.db, plan, request)
        files.append((request.output, name))
        rows += result.records
        if result.redisclosure_notice:
            files.append(await notice_beside(request.output, name))
    await deliver(target, files, secret=secret, settings=settings, tenant_id=claimed.tenant_id)
    return rows, [name for _path, name in files]


def failure_text(error: Exception, incident: str) -> str:
    """What the schedule's admins read of a failed attempt: the destination's own answer (a
    refused connection, a rejected key), never the text of an error inside the gateway."""
    if isinstance(error, OSError | asyncssh.Error):
        return f"{type(error).__name__}: {error}".rstrip(": ")
    return f"the delivery failed on our side (incident {incident}); it will be retried"


async def notice_beside(output: Path, name: str) -> tuple[Path, str]:
    """The 42 CFR Part 2 redisclosure notice, delivered beside a file that carries Part 2
    answers of another organization (a CSV cannot carry it inside)."""
    notice_name = f"{name}.REDISCLOSURE-NOTICE.txt"
    path = output.with_name(notice_name)
    await asyncio.to_thread(path.write_text, REDISCLOSURE_NOTICE + "\n", encoding="utf-8")
    return path, notice_name


async def _deliver_one(
    job: Job, claimed: schedules.ClaimedRun, settings: ExchangeSettings, run_as: RunAs
) -> None:
    now = job.now
    folder = settings.export_dir.absolute() / "deliveries" / f"{claimed.id}-{uuid.uuid4().hex[:8]}"
    try:
        rows, names = await _export_and_deliver(job, claimed, settings, run_as, folder)
    except SharegraphError as error:
        log.warning("delivery %s refused: %s", claimed.id, error.message)
        await schedules.finish_run(job.db, claimed, now=now, error=error.message)
        job.failures.append(Failure(str(claimed.id), error.message, claimed.attempts, now))
        return
    except Exception as error:
        incident = uuid.uuid4().hex[:12]
        message = failure_text(error, incident)
        retry_at = now + retry_delay(claimed.attempts)
        retry = claimed.attempts < claimed.max_attempts
        log.warning(
            "delivery %s failed (attempt %d of %d, incident %s)",
            claimed.id,
            claimed.attempts,
            claimed.max_attempts,
            incident,
            exc_info=True,
        )
        await schedules.finish_run(
            job.db, claimed, now=now, error=message, retry_at=retry_at if retry else None
        )
        job.failures.append(Failure(str(claimed.id), message, claimed.attempts, retry_at))
        return
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if await schedules.finish_run(job.db, claimed, now=now, row_count=rows, file_names=names):
        job.done += 1
    else:
        log.warning("delivery %s was taken over while it ran", claimed.id)


def export_deliveries_work(settings: ExchangeSettings) -> DueWork:
    run_as = RunAs()
    lease = timedelta(seconds=settings.lease_seconds)

    async def run(job: Job) -> None:
        for _ in range(job.batch_size):
            if not await schedules.materialize(job.db, job.now, job.batch_size):
                break
        for _ in range(job.batch_size):
            if not await schedules.any_claimable(job.db, job.now):
                return
            claimed = await schedules.claim_run(job.db, job.now, lease)
            if claimed is None:
                return
            if isinstance(claimed, schedules.GaveUp):
                log.warning("delivery %s %s: %s", claimed.id, claimed.status, claimed.error)
                continue
            await _deliver_one(job, claimed, settings, run_as)

    return DueWork(schedules.EXPORT_DELIVERIES, run)


def export_kinds(settings: ExchangeSettings) -> list[DueWork]:
    """The due work of data exchange, for ``scheduler_for``."""
    return [export_jobs_work(settings), export_deliveries_work(settings)]
