"""Exports through the API: `startExport` queues a job, `exportJob` / `exportJobs` report on
it, and `ExportJob.downloadUrl` (``GET /exports/<uuid>``, same credentials) fetches the file.

Who may start one: a principal of a tenant whose plan grants ``export`` on the kind of record
asked for (``FORBIDDEN`` / ``EXPORT_DENIED`` otherwise), with filters only on fields it may
export on every record (``FORBIDDEN_FILTER``). The job runs later with the plan compiled at that
time, so a right lost in between is honoured. Jobs, their status and their files are the
requesting principal's alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.disclosure import REDISCLOSURE_NOTICE
from sharegraph.authz.plan import Action
from sharegraph.datastore import models as m
from sharegraph.datastore.base import utcnow
from sharegraph.errors import Forbidden, NotFound
from sharegraph.exporters.contact_records import ExportFilter
from sharegraph.exporters.run import Format, What
from sharegraph.exporters.specs import ExportSpec, checked, require_allowed
from sharegraph.graph.arguments import INPUT, After, First
from sharegraph.graph.context import Info
from sharegraph.graph.enums import describe_enum
from sharegraph.graph.forms import form_id_from
from sharegraph.graph.inputs import decode_ids
from sharegraph.graph.pagination import page_connection
from sharegraph.graph.relay import Connection, from_global_id, to_global_id
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.graph.writes import transaction
from sharegraph.queries import export_jobs as jobs
from sharegraph.queries.pagination import SortKey

DOWNLOAD_PATH = "/exports/"
SORT_NAME = "CREATED_DESC"


@strawberry.enum(name="ExportWhat")
class ExportWhat(Enum):
    RESOURCES = What.RESOURCES.value
    CONTACT_RECORDS = What.CONTACT_RECORDS.value


describe_enum(
    ExportWhat,
    "What an export contains.",
    RESOURCES=("The resource directory (organizations, services, locations) you may export."),
    CONTACT_RECORDS=(
        "Contact records you may export, with the fields your agreements' `export` action allows."
    ),
)


@strawberry.enum(name="ExportFormat")
class ExportFormat(Enum):
    CSV = Format.CSV.value
    NDJSON = Format.NDJSON.value
    HSDS_JSON = Format.HSDS_JSON.value
    HSDS_CSV = Format.HSDS_CSV.value
    AIRS_XML = Format.AIRS_XML.value
    HSDS11_JSON = Format.HSDS11_JSON.value
    HSDS11_CSV = Format.HSDS11_CSV.value


describe_enum(
    ExportFormat,
    "A file format for exports.",
    CSV="Comma-separated values with a header row (UTF-8).",
    NDJSON="One JSON object per line.",
    HSDS_JSON="Resources only: a JSON list of HSDS 3.0 services.",
    HSDS_CSV=("Resources only: a zipped HSDS 3.0 tabular data package."),
    AIRS_XML="Resources only: AIRS 3.0 XML.",
    HSDS11_JSON="Resources only: one HSDS 1.1 JSON data package, the HSDS 1.1 tables "
    "(organization, service, services_at_location, location, phone, regular_schedule...) with "
    "their rows inline in each resource's `data`.",
    HSDS11_CSV="Resources only: a zipped HSDS 1.1 tabular data package (`datapackage.json` and "
    "one CSV file per HSDS 1.1 table), as older directory consumers read it.",
)


@strawberry.enum(name="ExportJobStatus")
class ExportJobStatus(Enum):
    PENDING = jobs.PENDING
    RUNNING = jobs.RUNNING
    DONE = jobs.DONE
    FAILED = jobs.FAILED
    EXPIRED = jobs.EXPIRED


describe_enum(
    ExportJobStatus,
    "Where an export job stands.",
    PENDING="Queued.",
    RUNNING="Being written.",
    DONE="Ready at `downloadUrl` until `expiresAt`.",
    FAILED="Gave up (`error` says why).",
    EXPIRED="Was ready; its file has been deleted.",
)


@strawberry.input(description="Which records; all given conditions must hold.")
class ExportFilterInput:
    tenant_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Owners whose records to export (default: all you may)."
    )
    started_after: datetime | None = strawberry.field(
        default=None, description="Contact records started at or after this instant."
    )
    started_before: datetime | None = strawberry.field(
        default=None, description="Contact records started before this instant."
    )
    updated_after: datetime | None = strawberry.field(
        default=None, description=("Records changed after this instant (incremental exports).")
    )
    form_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Contact records on these forms: a form's UUID or the id of one of its "
        "versions (`ContactRecord.formVersion.id`).",
    )


@strawberry.input(
    description=(
        "An export to run in the background; its file is downloaded "
        "from `downloadUrl` with your credentials."
    )
)
@catalogued_input()
class StartExportInput:
    what: ExportWhat = strawberry.field(description="RESOURCES or CONTACT_RECORDS.")
    format: ExportFormat = strawberry.field(
        description=("The file format (HSDS and AIRS formats for resources only).")
    )
    filters: ExportFilterInput | None = strawberry.field(
        default=None, description="Which records; left out: all you may export."
    )
    purpose: str | None = strawberry.field(
        default=None, description="Why the data leaves; recorded with the disclosure."
    )
    idempotency_key: str | None = None


@strawberry.type(description="The filters an export was started with.", name="ExportFilters")
class ExportFilters:
    tenant_ids: list[strawberry.ID] = strawberry.field(
        description=("Owner tenants' global ids; empty: all you may export.")
    )
    form_ids: list[str] = strawberry.field(description="Form UUIDs.")
    started_after: datetime | None = strawberry.field(
        description="Contact records started at or after this instant."
    )
    started_before: datetime | None = strawberry.field(
        description="Contact records started before this instant."
    )
    updated_after: datetime | None = strawberry.field(
        description="Records changed after this instant."
    )

    @classmethod
    def of(cls, flt: ExportFilter) -> ExportFilters:
        return cls(
            tenant_ids=[strawberry.ID(to_global_id("Tenant", t)) for t in flt.tenant_ids],
            form_ids=[str(f) for f in flt.form_ids],
            started_after=flt.started_after,
            started_before=flt.started_before,
            updated_after=flt.updated_after,
        )


@strawberry.type(name="ExportJob", description="An export you started; yours alone.")
class ExportJob:
    id: strawberry.ID = strawberry.field(description="The job's global id.")
    uuid: UUID = strawberry.field(description="The job's UUID.")
    what: ExportWhat = strawberry.field(description="What it exports.")
    format: ExportFormat = strawberry.field(description="The file format.")
    filters: ExportFilters = strawberry.field(description="The filters it was started with.")
    purpose: str | None = strawberry.field(description="Why the data leaves, as given.")
    status: ExportJobStatus = strawberry.field(description="Where it stands.")
    attempts: int = strawberry.field(
        description=("Attempts made so far (it is retried on transient failures).")
    )
    created_at: datetime = strawberry.field(description="When it was started (UTC).")
    started_at: datetime | None = strawberry.field(description="When writing began (UTC).")
    finished_at: datetime | None = strawberry.field(
        description="When it was done or gave up (UTC)."
    )
    row_count: int | None = strawberry.field(
        description="Records written (services, for resources)."
    )
    error: str | None = strawberry.field(description="Why it failed, or the last retried error.")
    expires_at: datetime | None = strawberry.field(description="The file is deleted then.")
    download_url: str | None = strawberry.field(
        description="While DONE: the file, at this path of the API's address, with the same "
        "Authorization header as /graphql."
    )
    redisclosure_notice: str | None = strawberry.field(
        description="When the file carries 42 CFR Part 2 answers of another organization: the "
        "notice that must accompany them (the download carries it too, in the "
        "`Sharegraph-Redisclosure-Notice` header)."
    )

    @classmethod
    def of(cls, row: Any) -> ExportJob:
        spec = ExportSpec.stored(row.what, row.format, row.filters)
        return cls(
            id=strawberry.ID(to_global_id("ExportJob", row.id)),
            uuid=row.id,
            what=ExportWhat(row.what),
            format=ExportFormat(row.format),
            filters=ExportFilters.of(spec.filter),
            purpose=spec.purpose,
            status=ExportJobStatus(row.status),
            attempts=row.attempts,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            row_count=row.row_count,
            error=row.error,
            expires_at=row.expires_at,
            download_url=f"{DOWNLOAD_PATH}{row.id}" if row.status == jobs.DONE else None,
            redisclosure_notice=REDISCLOSURE_NOTICE if row.redisclosure_notice else None,
        )


@strawberry.type(description="The export job started.")
class StartExportPayload:
    export_job: ExportJob | None = strawberry.field(
        description="The job; poll `exportJob(id)` until DONE."
    )


async def export_filter(info: Info, given: ExportFilterInput | None) -> ExportFilter:
    if given is None:
        return ExportFilter()
    return ExportFilter(
        tenant_ids=decode_ids(given.tenant_ids, "Tenant"),
        started_after=given.started_after,
        started_before=given.started_before,
        updated_after=given.updated_after,
        form_ids=tuple([await form_id_from(info, str(f)) for f in given.form_ids or []]),
    )


def _job_id(value: strawberry.ID) -> uuid.UUID:
    return from_global_id(value, expected="ExportJob")[1]


async def _job(info: Info, job_id: uuid.UUID) -> ExportJob | None:
    ctx = info.context
    async with ctx.db() as session:
        row = await jobs.job_of(session, ctx.principal.id, job_id)
    return ExportJob.of(row) if row is not None else None


@strawberry.type
class ExportJobQuery:
    @strawberry.field(name="exportJob", description="One of your export jobs.")
    async def export_job(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The job's global id.")],
    ) -> ExportJob | None:
        return await _job(info, _job_id(id))

    @strawberry.field(name="exportJobs", description="Your export jobs, newest first.")
    async def export_jobs(
        self,
        info: Info,
        status: Annotated[
            ExportJobStatus | None,
            strawberry.argument(description="Only jobs in this status; left out: all."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[ExportJob]:
        ctx = info.context
        statement = jobs.jobs_of(ctx.principal.id, status.value if status else None)
        keys = [SortKey(m.ExportJob.created_at, descending=True), SortKey(m.ExportJob.id)]

        async def build(_session: AsyncSession, rows: list[Any]) -> list[ExportJob]:
            return [ExportJob.of(r) for r in rows]

        return await page_connection(
            info,
            "ExportJob",
            m.ExportJob,
            statement,
            SORT_NAME,
            keys,
            first=first,
            after=after,
            build=build,
        )


@strawberry.type
class ExportJobMutation:
    @strawberry.mutation(
        name="startExport",
        description="Queue an export of what your plan lets you export; follow it with "
        "`exportJob(id)` and download the file from its `downloadUrl`.",
    )
    async def start_export(
        self, info: Info, input: Annotated[StartExportInput, INPUT]
    ) -> StartExportPayload:
        ctx = info.context
        ctx.plan.require_operation("startExport", Action.EXPORT)
        principal = ctx.principal
        if principal.tenant_id is None:
            raise Forbidden(
                "export jobs belong to tenants; partner organizations receive exports through "
                "their partners' scheduled deliveries",
                reason="NO_TENANT",
            )
        spec = checked(
            ExportSpec(
                what=What(input.what.value),
                format=Format(input.format.value),
                filter=await export_filter(info, input.filters),
                purpose=input.purpose,
            )
        )
        require_allowed(ctx.plan, spec)
        async with transaction(info, "startExport", input, input.idempotency_key) as w:
            if w.replayed is None:
                row = await jobs.create(
                    w.session,
                    tenant_id=principal.tenant_id,
                    requested_by=principal.id,
                    what=spec.what.value,
                    format=spec.format.value,
                    filters=spec.filters_json(),
                    now=utcnow(),
                )
                w.result = {"job": str(row.id)}
            job_id = uuid.UUID((w.replayed or w.result)["job"])
        job = await _job(info, job_id)
        if job is None:  # written by this principal a moment ago
            raise NotFound("no such export job")
        return StartExportPayload(export_job=job)
