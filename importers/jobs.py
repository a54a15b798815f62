"""Due work ``import-jobs``: import the directory files uploaded through ``POST /imports``.

Each job is one :func:`~sharegraph.importers.import_path` run into the job's tenant (one
transaction: the good records land, the bad ones are in the report with the row they came
from). A ZIP upload is a folder of CSV files (HSDS tabular or Ohana), unpacked with limits
first. The report (counts, problems) is kept on the job and the upload is deleted. Anything
unexpected (a full disk, a database restart) is retried with growing delays, at most
``MAX_ATTEMPTS`` times; the job's error then names an incident, never our exception's text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from sharegraph.datastore.models import ImportJob
from sharegraph.datastore.work import DueWork, Failure, Job, retry_delay
from sharegraph.importers import import_path, input_size
from sharegraph.importers.records import Origin
from sharegraph.importers.report import ImportFailed, ImportReport, Issue
from sharegraph.queries import import_jobs as jobs
from sharegraph.settings import ExchangeSettings

log = logging.getLogger("sharegraph.imports")

# A ZIP of CSV files: at most this many members, and this much once unpacked.
ZIP_MAX_MEMBERS = 64
ZIP_MAX_UNPACKED = 512 * 1024 * 1024
ZIP_MAGIC = b"PK\x03\x04"


def _unzip(archive: Path, into: Path) -> Path:
    """The folder of CSV files (and ``datapackage.json``) inside ``archive``; refuses anything
    else (sub-folders are flattened away only when every file sits in one folder)."""
    origin = Origin(archive.name)
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.infolist() if not m.is_dir()]
            if len(members) > ZIP_MAX_MEMBERS:
                raise ImportFailed(origin, f"the ZIP holds more than {ZIP_MAX_MEMBERS} files")
            if sum(m.file_size for m in members) > ZIP_MAX_UNPACKED:
                raise ImportFailed(origin, "the ZIP unpacks to more than 512 MiB")
            folders = {PurePosixPath(m.filename).parent for m in members}
            if len(folders) > 1:
                raise ImportFailed(origin, "the ZIP's CSV files must all be in one folder")
            for member in members:
                name = PurePosixPath(member.filename).name
                if not (name.endswith(".csv") or name == "datapackage.json"):
                    continue
                with zipped.open(member) as source, (into / name).open("wb") as target:
                    shutil.copyfileobj(source, target)
    except zipfile.BadZipFile:
        raise ImportFailed(origin, "not a readable ZIP file") from None
    if not any(into.glob("*.csv")):
        raise ImportFailed(origin, "the ZIP holds no CSV files")
    return into


def _starts_zip(path: Path) -> bool:
    with path.open("rb") as raw:
        return raw.read(4) == ZIP_MAGIC


def _problems(report: ImportReport, upload: str, shown_as: str) -> tuple[list[Any], int]:
    """The report's problems as the job keeps them, naming the uploaded file, not our copy."""

    def named(issue: Issue, severity: str, code: str) -> dict[str, Any]:
        file = issue.origin.file
        file = shown_as if file == upload else Path(file).name
        return {
            "severity": severity,
            "code": code,
            "file": file,
            "line": issue.origin.line,
            "path": issue.origin.path,
            "message": issue.reason,
        }

    problems: list[dict[str, Any]] = []
    for issue in report.errors:
        code = "UNREADABLE_FILE" if report.failed and issue is report.errors[-1] else "REJECTED"
        problems.append(named(issue, "ERROR", code))
    problems.extend(named(issue, "WARNING", "WARNING") for issue in report.warnings)
    omitted = report.omitted_errors + report.omitted_warnings
    if len(problems) > jobs.MAX_PROBLEMS:
        omitted += len(problems) - jobs.MAX_PROBLEMS
        problems = problems[: jobs.MAX_PROBLEMS]
    return problems, omitted


def _counts(report: ImportReport) -> dict[str, Any]:
    summary = report.to_json()
    return {
        key: summary[key]
        for key in ("created", "updated", "unchanged", "deactivated", "rejected", "placeholders")
    }


class Progress:
    """How far a running import has read: kept in this process (what a single-process SQLite
    deployment reads) and, on PostgreSQL, written to the job's row every ``PROGRESS_EVERY``
    seconds in a transaction of its own (what every process reads)."""

    def __init__(self, job_id: uuid.UUID, total: int) -> None:
        self.job_id = job_id
        self.read = 0
        self.total = total
        _RUNNING[job_id] = self

    def __call__(self, size: int) -> None:
        self.read = min(self.read + size, self.total)

    def close(self) -> None:
        _RUNNING.pop(self.job_id, None)


_RUNNING: dict[uuid.UUID, Progress] = {}
PROGRESS_EVERY = 1.0


def running_progress(job_id: uuid.UUID) -> tuple[int, int] | None:
    """``(bytes read, bytes in all)`` of a job importing in this process; None otherwise."""
    found = _RUNNING.get(job_id)
    return (found.read, found.total) if found is not None else None


async def _write_progress(job: Job, claimed: jobs.Claimed, progress: Progress) -> None:
    while True:
        await asyncio.sleep(PROGRESS_EVERY)
        try:
            await jobs.record_progress(job.db, claimed, progress.read, progress.total)
        except Exception:  # progress is a courtesy: the import goes on without it
            log.debug("import job %s: progress not recorded", claimed.id, exc_info=True)


async def _import(job: Job, claimed: jobs.Claimed) -> tuple[ImportReport, int, int]:
    if claimed.file_path is None:
        raise FileNotFoundError("the upload is gone")
    upload = Path(claimed.file_path)
    with tempfile.TemporaryDirectory(prefix="sharegraph-import-") as scratch:
        path = upload
        if await asyncio.to_thread(_starts_zip, upload):
            try:
                path = await asyncio.to_thread(_unzip, upload, Path(scratch))
            except ImportFailed as failure:
                report = ImportReport(format=claimed.format, path=claimed.file_name)
                report.fail(failure.issue)
                return report, 0, 0
        progress = Progress(claimed.id, await asyncio.to_thread(input_size, path))
        writer = None
        if job.db.dialect == "postgresql":
            writer = asyncio.create_task(_write_progress(job, claimed, progress))
        try:
            report = await import_path(
                job.db,
                path,
                tenant=str(claimed.tenant_id),
                fmt=claimed.format,
                source=claimed.source,
                partial=claimed.partial,
                strict=claimed.strict,
                progress=progress,
            )
        finally:
            progress.close()
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
        return report, progress.read, progress.total


async def _run_one(job: Job, claimed: jobs.Claimed) -> None:
    now = job.now
    try:
        report, read, total = await _import(job, claimed)
    except Exception:
        incident = uuid.uuid4().hex[:12]
        message = f"the import failed on our side (incident {incident}); it will be retried"
        log.warning(
            "import job %s failed (attempt %d, incident %s)",
            claimed.id,
            claimed.attempts,
            incident,
            exc_info=True,
        )
        retry_at = now + retry_delay(claimed.attempts)
        if claimed.attempts < jobs.MAX_ATTEMPTS:
            await jobs.finish(
                job.db, claimed, now=now, status=jobs.PENDING, error=message, retry_at=retry_at
            )
        else:
            await jobs.finish(job.db, claimed, now=now, status=jobs.FAILED, error=message)
            await _delete(claimed)
        job.failures.append(Failure(str(claimed.id), message, claimed.attempts, retry_at))
        return
    problems, omitted = _problems(report, claimed.file_path or "", claimed.file_name)
    failed = not report.ok
    error = None
    if report.failed:
        error = f"{report.errors[-1].reason}; nothing was written"
    elif failed:
        error = f"strict: {report.rejected} bad record(s); nothing was written"
    recorded = await jobs.finish(
        job.db,
        claimed,
        now=now,
        status=jobs.FAILED if failed else jobs.DONE,
        committed=report.committed,
        detected_format=report.format if report.format != "auto" else None,
        counts=_counts(report),
        problems=problems,
        omitted_problems=omitted,
        error=error,
        bytes_read=read,
        bytes_total=total,
    )
    if recorded:
        job.done += 1
        await _delete(claimed)
    else:
        log.warning("import job %s was taken over while it ran", claimed.id)


async def _delete(claimed: jobs.Claimed) -> None:
    if claimed.file_path:
        await asyncio.to_thread(Path(claimed.file_path).unlink, missing_ok=True)


def import_jobs_work(settings: ExchangeSettings) -> DueWork:
    lease = timedelta(seconds=settings.lease_seconds)

    async def run(job: Job) -> None:
        for _ in range(job.batch_size):
            if not await jobs.any_claimable(job.db, job.now):
                return
            claimed = await jobs.claim(job.db, job.now, lease)
            if claimed is None:
                return
            if isinstance(claimed, ImportJob):
                log.warning("import job %s: %s", claimed.id, claimed.error)
                continue
            await _run_one(job, claimed)

    return DueWork(jobs.IMPORT_JOBS, run)
