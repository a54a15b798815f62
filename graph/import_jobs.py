"""Imports through the API: a directory file is uploaded to ``POST /imports`` (multipart, same
credentials as /graphql), which queues an import job; `importJob` / `importJobs` report on it:
status, counts and the problems found, each with the row it came from.

Tenant admins only, for their own tenant's directory (``FORBIDDEN`` / ``NOT_ADMIN``). A job
and its report are visible to every admin of the tenant it imports into, to no one else.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore import models as m
from sharegraph.graph.arguments import After, First
from sharegraph.graph.context import Info
from sharegraph.graph.enums import describe_enum
from sharegraph.graph.pagination import page_connection
from sharegraph.graph.relay import Connection, from_global_id, to_global_id
from sharegraph.importers.jobs import running_progress
from sharegraph.queries import import_jobs as jobs
from sharegraph.queries.pagination import SortKey

UPLOAD_PATH = "/imports"
SORT_NAME = "CREATED_DESC"


@strawberry.enum(name="ImportJobStatus")
class ImportJobStatus(Enum):
    PENDING = jobs.PENDING
    RUNNING = jobs.RUNNING
    DONE = jobs.DONE
    FAILED = jobs.FAILED


describe_enum(
    ImportJobStatus,
    "Where an import job stands.",
    PENDING="Uploaded, waiting for the scheduler.",
    RUNNING="Being imported.",
    DONE="Imported: the good records are in; `problems` lists the rows left out or changed.",
    FAILED="Nothing was written (`error` says why: an unreadable file, or a strict import "
    "with bad records).",
)


@strawberry.enum(name="ImportProblemSeverity")
class ImportProblemSeverity(Enum):
    ERROR = "ERROR"
    WARNING = "WARNING"


describe_enum(
    ImportProblemSeverity,
    "How much a problem mattered.",
    ERROR="The record (or the whole file) was not imported.",
    WARNING="The record was imported, with a value dropped or corrected.",
)


@strawberry.type(name="ImportProblem", description="One problem an import found in the file.")
class ImportProblem:
    severity: ImportProblemSeverity = strawberry.field(description="ERROR or WARNING.")
    code: str = strawberry.field(
        description="`REJECTED` (a record left out), `UNREADABLE_FILE` (nothing written) or "
        "`WARNING`."
    )
    file: str = strawberry.field(
        description="The file it is in: the upload, or a CSV file inside an uploaded ZIP."
    )
    row: int | None = strawberry.field(
        description="The line the record starts on (CSV, XML); null when the format has none."
    )
    path: str | None = strawberry.field(
        description="Where in the record (an XML element path, a JSON pointer), when known."
    )
    message: str = strawberry.field(description="What is wrong, in words.")


@strawberry.type(name="ImportCounts", description="What an import did, in records.")
class ImportCounts:
    created: int = strawberry.field(description="Records created.")
    updated: int = strawberry.field(description="Records changed.")
    unchanged: int = strawberry.field(description="Records already as in the file.")
    deactivated: int = strawberry.field(
        description="Records of the source missing from a full import, marked inactive."
    )
    rejected: int = strawberry.field(description="Records left out as bad.")
    placeholders: int = strawberry.field(
        description="Parents the file referred to but did not hold, created as placeholders."
    )


@strawberry.type(
    name="ImportJob",
    description="A directory file uploaded to `POST /imports`, imported by the scheduler.",
)
class ImportJob:
    id: strawberry.ID = strawberry.field(description="The job's global id.")
    uuid: UUID = strawberry.field(description="The job's UUID.")
    file_name: str = strawberry.field(description="The uploaded file's name, as sent.")
    size_bytes: int = strawberry.field(description="The upload's size.")
    format: str = strawberry.field(
        description="The format asked for: `auto`, `hsds-json`, `hsds-csv`, `airs-xml` or "
        "`ohana-csv`."
    )
    detected_format: str | None = strawberry.field(
        description="The format it was read as, once imported."
    )
    source: str | None = strawberry.field(description="The source system named, if any.")
    partial: bool = strawberry.field(
        description="A delta: records missing from the file were left as they are."
    )
    strict: bool = strawberry.field(description="Nothing is written if any record is bad.")
    status: ImportJobStatus = strawberry.field(description="Where it stands.")
    bytes_read: int | None = strawberry.field(
        description="Progress: bytes of the input read so far (while RUNNING, updated about "
        "every second), or in all once finished; null before it starts."
    )
    bytes_total: int | None = strawberry.field(
        description="The input's size as it is read (a ZIP's: its CSV files unpacked); with "
        "`bytesRead`, how far a running import has got."
    )
    attempts: int = strawberry.field(description="Attempts made so far.")
    committed: bool = strawberry.field(description="Whether its records were written.")
    created_at: datetime = strawberry.field(description="When it was uploaded (UTC).")
    started_at: datetime | None = strawberry.field(description="When importing began (UTC).")
    finished_at: datetime | None = strawberry.field(description="When it ended (UTC).")
    counts: ImportCounts | None = strawberry.field(description="What it did, once finished.")
    problems: list[ImportProblem] = strawberry.field(
        description="The rows left out (ERROR) or changed (WARNING), in file order, errors "
        "first; at most 1,000."
    )
    omitted_problems: int = strawberry.field(
        description="Problems found beyond those listed in `problems`."
    )
    error: str | None = strawberry.field(
        description="Why nothing was written, or the last error it is retried after."
    )
    requested_by_id: strawberry.ID = strawberry.field(
        description="The global id of the principal who uploaded it."
    )

    @classmethod
    def of(cls, row: Any) -> ImportJob:
        counts = row.counts
        read, total = row.bytes_read, row.bytes_total
        if row.status == jobs.RUNNING:
            here = running_progress(row.id)  # importing in this process: its latest count
            if here is not None:
                read, total = here
        return cls(
            id=strawberry.ID(to_global_id("ImportJob", row.id)),
            uuid=row.id,
            file_name=row.file_name,
            size_bytes=row.size_bytes,
            format=row.format,
            detected_format=row.detected_format,
            source=row.source,
            partial=row.partial,
            strict=row.strict,
            status=ImportJobStatus(row.status),
            bytes_read=read,
            bytes_total=total,
            attempts=row.attempts,
            committed=row.committed,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            counts=ImportCounts(
                created=int(counts.get("created", 0)),
                updated=int(counts.get("updated", 0)),
                unchanged=int(counts.get("unchanged", 0)),
                deactivated=int(counts.get("deactivated", 0)),
                rejected=int(counts.get("rejected", 0)),
                placeholders=int(counts.get("placeholders", 0)),
            )
            if counts
            else None,
            problems=[
                ImportProblem(
                    severity=ImportProblemSeverity(p.get("severity", "ERROR")),
                    code=str(p.get("code") or "REJECTED"),
                    file=str(p.get("file") or row.file_name),
                    row=p.get("line"),
                    path=p.get("path"),
                    message=str(p.get("message") or ""),
                )
                for p in row.problems or []
            ],
            omitted_problems=row.omitted_problems,
            error=row.error,
            requested_by_id=strawberry.ID(to_global_id("Principal", row.requested_by_id)),
        )


def _job_id(value: strawberry.ID) -> uuid.UUID:
    return from_global_id(value, expected="ImportJob")[1]


@strawberry.type
class ImportJobQuery:
    @strawberry.field(
        name="importJob",
        description="One import job of your tenant (tenant admins); null when there is none.",
    )
    async def import_job(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The job's global id.")],
    ) -> ImportJob | None:
        ctx = info.context
        tenant_id = jobs.admin_tenant(ctx.principal)
        async with ctx.db() as session:
            row = await jobs.job_of(session, tenant_id, _job_id(id))
        return ImportJob.of(row) if row is not None else None

    @strawberry.field(
        name="importJobs",
        description="Your tenant's import jobs, newest first (tenant admins). Start one by "
        "uploading a file to `POST /imports`.",
    )
    async def import_jobs(
        self,
        info: Info,
        status: Annotated[
            ImportJobStatus | None,
            strawberry.argument(description="Only jobs in this status; left out: all."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[ImportJob]:
        ctx = info.context
        tenant_id = jobs.admin_tenant(ctx.principal)
        statement = jobs.jobs_of(tenant_id, status.value if status else None)
        keys = [SortKey(m.ImportJob.created_at, descending=True), SortKey(m.ImportJob.id)]

        async def build(_session: AsyncSession, rows: list[Any]) -> list[ImportJob]:
            return [ImportJob.of(r) for r in rows]

        return await page_connection(
            info,
            "ImportJob",
            m.ImportJob,
            statement,
            SORT_NAME,
            keys,
            first=first,
            after=after,
            build=build,
        )
