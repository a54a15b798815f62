"""Admin API for scheduled deliveries: export schedules, their runs, and running one now.

Tenant admins manage their own tenant's schedules. A schedule exports, at each time its cron
expression names on the tenant's wall clock, exactly what its ``runAs`` principal's plan lets
out at that moment, and delivers it to a directory under the server's delivery root or to an
SFTP server. Stored credentials are encrypted and never returned (``hasSecret`` says whether
there are some); the ``daily-counts`` feed sends yesterday's records on chosen forms, plus the
whole previous month on the 1st.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal
from uuid import UUID

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.authenticate import load_principal
from sharegraph.datastore import models as m
from sharegraph.datastore.base import utcnow
from sharegraph.datastore.secrets import SecretBox
from sharegraph.errors import BadUserInput, NotFound
from sharegraph.exporters.destinations import (
    DestinationKind,
    SftpAuth,
    Target,
    directory_target,
    kind_of,
    sftp_secret,
    sftp_target,
    stored_target,
)
from sharegraph.exporters.run import Format, What
from sharegraph.exporters.specs import ExportSpec, Feed, checked, require_allowed
from sharegraph.graph.arguments import ID, INPUT, VERSION, After, First
from sharegraph.graph.context import Info
from sharegraph.graph.enums import describe_enum
from sharegraph.graph.export_jobs import (
    ExportFilterInput,
    ExportFilters,
    ExportFormat,
    ExportWhat,
    export_filter,
)
from sharegraph.graph.pagination import page_connection
from sharegraph.graph.relay import Connection, from_global_id, to_global_id
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.graph.writes import transaction
from sharegraph.queries import export_schedules as schedules
from sharegraph.queries.pagination import SortKey

SORT_NAME = "SCHEDULED_DESC"


@strawberry.enum(name="ExportFeed")
class ExportFeed(Enum):
    DAILY_COUNTS = Feed.DAILY_COUNTS.value


describe_enum(
    ExportFeed,
    ("A ready-made feed a schedule can send instead of a full export."),
    DAILY_COUNTS=(
        "The contact records started yesterday (your time zone) on "
        "the filtered forms; a run on the 1st also re-sends the "
        "previous month."
    ),
)


@strawberry.enum(name="DeliveryKind")
class DeliveryKind(Enum):
    DIRECTORY = DestinationKind.DIRECTORY.value
    SFTP = DestinationKind.SFTP.value


describe_enum(
    DeliveryKind,
    "Where a scheduled export's files are delivered.",
    DIRECTORY=("A folder under the server's delivery root (your tenant's own subfolder)."),
    SFTP="An SFTP server of yours.",
)


@strawberry.enum(name="SftpAuthMethod")
class SftpAuthMethod(Enum):
    PASSWORD = SftpAuth.PASSWORD.value
    PRIVATE_KEY = SftpAuth.PRIVATE_KEY.value


describe_enum(
    SftpAuthMethod,
    "How sharegraph signs in to your SFTP server.",
    PASSWORD="With `password`.",
    PRIVATE_KEY=(
        "With `privateKey` (OpenSSH or PEM text), and `privateKeyPassphrase` when it is encrypted."
    ),
)


@strawberry.enum(name="ExportRunStatus")
class ExportRunStatus(Enum):
    PENDING = schedules.PENDING
    RUNNING = schedules.RUNNING
    DONE = schedules.DONE
    FAILED = schedules.FAILED
    CANCELLED = schedules.CANCELLED


describe_enum(
    ExportRunStatus,
    "Where one run of a schedule stands.",
    PENDING=("Due, or waiting for its next attempt (`nextAttemptAt`)."),
    RUNNING="Exporting or delivering now.",
    DONE="Delivered (`fileNames`, `rowCount`).",
    FAILED=("Gave up after `maxAttempts` attempts (`error` says why)."),
    CANCELLED="Will not run: the schedule was deactivated before it was delivered.",
)


@strawberry.input(
    description="DIRECTORY: `path`, relative to your tenant's folder under the server's "
    "delivery root. SFTP: `host`, `port`, `username`, `remoteDir`, `hostKey` (the server's "
    "public host key, one OpenSSH line, as `ssh-keyscan` prints it) and `auth` with `password` "
    "or `privateKey` (+ `privateKeyPassphrase`). Credentials are stored encrypted and never "
    "shown again; on update, leave them out to keep the stored ones."
)
class ExportDestinationInput:
    kind: DeliveryKind = strawberry.field(
        description=("DIRECTORY or SFTP; the other fields needed depend on it.")
    )
    path: str | None = strawberry.field(
        default=None,
        description=(
            "DIRECTORY: the folder, relative to your tenant's folder "
            "under the delivery root (no `..`)."
        ),
    )
    host: str | None = strawberry.field(
        default=None, description="SFTP: the server's host name or IP address."
    )
    port: int = strawberry.field(default=22, description="SFTP: the server's port (1-65535).")
    username: str | None = strawberry.field(
        default=None, description="SFTP: the user to sign in as."
    )
    remote_dir: str | None = strawberry.field(
        default=None, description="SFTP: the folder to write into on the server."
    )
    host_key: str | None = strawberry.field(
        default=None,
        description=(
            "SFTP: the server's public host key, one OpenSSH line as "
            "`ssh-keyscan` prints it; a server presenting another key is "
            "refused."
        ),
    )
    auth: SftpAuthMethod | None = strawberry.field(
        default=None, description="SFTP: how to sign in (PASSWORD or PRIVATE_KEY)."
    )
    password: str | None = strawberry.field(
        default=None,
        description=(
            "SFTP with PASSWORD: the password; stored encrypted, never "
            "shown again. Left out on update: the stored one is kept."
        ),
    )
    private_key: str | None = strawberry.field(
        default=None,
        description=(
            "SFTP with PRIVATE_KEY: the private key (OpenSSH or PEM "
            "text); stored encrypted, never shown again. Left out on "
            "update: the stored one is kept."
        ),
    )
    private_key_passphrase: str | None = strawberry.field(
        default=None,
        description=(
            "SFTP with PRIVATE_KEY: the key's passphrase, when it is encrypted; stored encrypted."
        ),
    )


@strawberry.input(
    description=(
        "An export that runs on a schedule and delivers its files to "
        "a folder or an SFTP server (tenant admins)."
    )
)
@catalogued_input("ExportSchedule")
class ExportScheduleInput:
    name: str = strawberry.field(description="A name for the schedule, unique in your tenant.")
    what: ExportWhat = strawberry.field(
        description=("What each run exports: RESOURCES or CONTACT_RECORDS.")
    )
    format: ExportFormat = strawberry.field(
        description="The file format of each run (see ExportFormat)."
    )
    cron: str = strawberry.field(
        description="Five fields (minute hour day-of-month month day-of-week) or @daily, "
        "@weekly...; on your tenant's wall clock, daylight saving time included."
    )
    run_as_id: strawberry.ID = strawberry.field(
        description="The principal of your tenant whose plan decides what each run exports."
    )
    destination: ExportDestinationInput = strawberry.field(description="Where the files go.")
    filters: ExportFilterInput | None = strawberry.field(
        default=None,
        description=("Which rows each run exports; left out: all that `runAsId` may read."),
    )
    feed: ExportFeed | None = strawberry.field(
        default=None,
        description="DAILY_COUNTS: each run sends the contact records started yesterday (your "
        "time zone) on `filters.formIds`; a run on the 1st also re-sends the previous month.",
    )
    purpose: str | None = strawberry.field(
        default=None,
        description=("Why the data leaves (recorded in the audit trail with every run)."),
    )
    active: bool = strawberry.field(
        default=True, description="False: the schedule is kept but does not run."
    )
    max_attempts: int = strawberry.field(
        default=6, description="Attempts per run before it fails (1-20); retries back off."
    )


@strawberry.type(
    description=("Where a schedule delivers; credentials are never shown."),
    name="ExportDestination",
)
class ExportDestination:
    kind: DeliveryKind = strawberry.field(description="DIRECTORY or SFTP.")
    path: str | None = strawberry.field(
        description=("DIRECTORY: the folder, relative to your tenant's folder.")
    )
    host: str | None = strawberry.field(description="SFTP: the server's host.")
    port: int | None = strawberry.field(description="SFTP: the server's port.")
    username: str | None = strawberry.field(description="SFTP: the user it signs in as.")
    remote_dir: str | None = strawberry.field(description="SFTP: the folder it writes into.")
    host_key: str | None = strawberry.field(
        description="SFTP: the host key the server must present."
    )
    auth: SftpAuthMethod | None = strawberry.field(description="SFTP: how it signs in.")
    has_secret: bool = strawberry.field(
        description=("Whether a password or private key is stored (it is never shown).")
    )


@strawberry.type(name="ExportRun", description="One delivery of a schedule, for one due time.")
class ExportRun:
    id: strawberry.ID = strawberry.field(description="The run's global id.")
    uuid: UUID = strawberry.field(description="The run's UUID.")
    scheduled_for: datetime = strawberry.field(description="The due time it runs for (UTC).")
    status: ExportRunStatus = strawberry.field(description="Where the run stands.")
    attempts: int = strawberry.field(description="Attempts made so far.")
    next_attempt_at: datetime | None = strawberry.field(
        description=("When the next attempt is due (UTC), while it is retried.")
    )
    started_at: datetime | None = strawberry.field(
        description="When the first attempt started (UTC)."
    )
    finished_at: datetime | None = strawberry.field(
        description="When it was delivered or gave up (UTC)."
    )
    row_count: int | None = strawberry.field(description="Rows exported, once done.")
    file_names: list[str] = strawberry.field(description="Names of the files delivered.")
    error: str | None = strawberry.field(
        description="Why the run failed, or the error of the last attempt being retried."
    )

    @classmethod
    def of(cls, row: Any) -> ExportRun:
        return cls(
            id=strawberry.ID(to_global_id("ExportRun", row.id)),
            uuid=row.id,
            scheduled_for=row.scheduled_for,
            status=ExportRunStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            row_count=row.row_count,
            file_names=row.file_name.split("\n") if row.file_name else [],
            error=row.error,
        )


@strawberry.type(
    description=(
        "An export that runs on a schedule and delivers its files "
        "(visible to your tenant's admins)."
    ),
    name="ExportSchedule",
)
class ExportSchedule:
    row: strawberry.Private[Any]
    id: strawberry.ID = strawberry.field(description="The schedule's global id.")
    uuid: UUID = strawberry.field(description="The schedule's UUID.")
    name: str = strawberry.field(description="Its name, unique in the tenant.")
    what: ExportWhat = strawberry.field(description="What each run exports.")
    format: ExportFormat = strawberry.field(description="The file format of each run.")
    filters: ExportFilters = strawberry.field(description="Which rows each run exports.")
    feed: ExportFeed | None = strawberry.field(description="The ready-made feed it sends, if any.")
    purpose: str | None = strawberry.field(
        description="Why the data leaves (recorded with every run)."
    )
    cron: str = strawberry.field(
        description=("When it runs: a cron expression on the tenant's wall clock.")
    )
    run_as_id: strawberry.ID = strawberry.field(
        description=(
            "The global id of the principal whose sharing plan decides what each run exports."
        )
    )
    destination: ExportDestination = strawberry.field(description="Where the files go.")
    active: bool = strawberry.field(description="Whether it runs.")
    next_run_at: datetime | None = strawberry.field(
        description="The next due time (UTC); null while inactive."
    )
    max_attempts: int = strawberry.field(description="Attempts per run before it fails.")
    version: int = strawberry.field(
        description=("Increases with every change; pass it back to update or deactivate.")
    )
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")

    @classmethod
    def of(cls, row: Any) -> ExportSchedule:
        spec = ExportSpec.stored(row.what, row.format, row.filters)
        target = stored_target(row.destination_kind, row.destination)
        return cls(
            row=row,
            id=strawberry.ID(to_global_id("ExportSchedule", row.id)),
            uuid=row.id,
            name=row.name,
            what=ExportWhat(row.what),
            format=ExportFormat(row.format),
            filters=ExportFilters.of(spec.filter),
            feed=ExportFeed(spec.feed.value) if spec.feed else None,
            purpose=spec.purpose,
            cron=row.cron,
            run_as_id=strawberry.ID(to_global_id("Principal", row.run_as_id)),
            destination=_destination(target, row.secret_encrypted is not None),
            active=row.active,
            next_run_at=row.next_run_at,
            max_attempts=row.max_attempts,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="Deliveries, latest due time first.")
    async def runs(
        self,
        info: Info,
        status: Annotated[
            ExportRunStatus | None,
            strawberry.argument(description="Only runs in this status; left out: all."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[ExportRun]:
        statement = schedules.runs_of(self.row.id)
        if status is not None:
            statement = statement.where(m.ExportRun.status == status.value)
        keys = [SortKey(m.ExportRun.scheduled_for, descending=True), SortKey(m.ExportRun.id)]

        async def build(_session: AsyncSession, rows: list[Any]) -> list[ExportRun]:
            return [ExportRun.of(r) for r in rows]

        return await page_connection(
            info,
            "ExportRun",
            m.ExportRun,
            statement,
            SORT_NAME,
            keys,
            first=first,
            after=after,
            build=build,
        )


def _destination(target: Target, has_secret: bool) -> ExportDestination:
    kind = DeliveryKind(kind_of(target).value)
    if kind is DeliveryKind.DIRECTORY:
        path = getattr(target, "path", None)
        return ExportDestination(
            kind=kind, path=path, host=None, port=None, username=None, remote_dir=None,
            host_key=None, auth=None, has_secret=has_secret,
        )  # fmt: skip
    data = target.to_json()
    return ExportDestination(
        kind=kind,
        path=None,
        host=data["host"],
        port=data["port"],
        username=data["username"],
        remote_dir=data["remoteDir"],
        host_key=data["hostKey"],
        auth=SftpAuthMethod(data["auth"]),
        has_secret=has_secret,
    )


@strawberry.type(description="The schedule as written.")
class ExportSchedulePayload:
    export_schedule: ExportSchedule = strawberry.field(description="The schedule as it is now.")


@strawberry.type(description="The result of `runExportScheduleNow`.")
class ExportRunPayload:
    run: ExportRun = strawberry.field(description="The run that was queued.")
    export_schedule: ExportSchedule = strawberry.field(description="Its schedule.")


def _schedule_id(value: strawberry.ID) -> uuid.UUID:
    return from_global_id(value, expected="ExportSchedule")[1]


def _required(value: str | None, name: str) -> str:
    if value is None or not value.strip():
        raise BadUserInput(f"an SFTP destination needs {name}", reason="BAD_DESTINATION")
    return value


async def _values(
    info: Info, input: ExportScheduleInput, tenant_id: uuid.UUID
) -> tuple[schedules.ScheduleValues, dict[str, Any] | Literal["keep"] | None]:
    """The schedule's values and its secret (``KEEP``: none given), checked."""
    spec = checked(
        ExportSpec(
            what=What(input.what.value),
            format=Format(input.format.value),
            filter=await export_filter(info, input.filters),
            purpose=input.purpose,
            feed=Feed(input.feed.value) if input.feed else None,
        )
    )
    given = input.destination
    exchange = info.context.settings.exchange
    secret: dict[str, Any] | Literal["keep"] | None = None
    target: Target
    if given.kind is DeliveryKind.DIRECTORY:
        if given.password or given.private_key:
            raise BadUserInput("a directory takes no credentials", reason="BAD_DESTINATION")
        target = directory_target(exchange, tenant_id, given.path or "")
    else:
        if given.auth is None:
            raise BadUserInput(
                "an SFTP destination needs auth: PASSWORD or PRIVATE_KEY", reason="BAD_DESTINATION"
            )
        auth = SftpAuth(given.auth.value)
        target = sftp_target(
            exchange,
            host=_required(given.host, "host"),
            port=given.port,
            username=_required(given.username, "username"),
            remote_dir=given.remote_dir or ".",
            host_key=_required(given.host_key, "hostKey"),
            auth=auth,
        )
        if given.password is None and given.private_key is None:
            secret = schedules.KEEP
        else:
            secret = sftp_secret(
                auth,
                password=given.password,
                private_key=given.private_key,
                passphrase=given.private_key_passphrase,
            )
    run_as = from_global_id(input.run_as_id, expected="Principal")[1]
    await _require_run_as_may(info, run_as, tenant_id, spec)
    values = schedules.ScheduleValues(
        name=input.name,
        what=spec.what.value,
        format=spec.format.value,
        filters=spec.filters_json(),
        windowed=spec.feed is not None,
        cron=input.cron,
        run_as_id=run_as,
        destination_kind=kind_of(target).value,
        destination=target.to_json(),
        active=input.active,
        max_attempts=input.max_attempts,
    )
    return values, secret


async def _require_run_as_may(
    info: Info, principal_id: uuid.UUID, tenant_id: uuid.UUID, spec: ExportSpec
) -> None:
    """Refused now rather than at every run: ``runAs`` must be of the tenant and may export
    this (as its plan stands today; each run checks again)."""
    ctx = info.context
    async with ctx.db() as session:
        principal = await load_principal(session, principal_id)
    if principal is None or principal.tenant_id != tenant_id:
        raise BadUserInput(
            "runAsId must be an active principal of your tenant", reason="BAD_RUN_AS"
        )
    require_allowed(ctx.policies.plan_for(principal), spec)


def _box(info: Info) -> SecretBox:
    return SecretBox(info.context.settings.exchange.secret_key)


async def _reloaded(info: Info, schedule_id: uuid.UUID) -> ExportSchedule:
    ctx = info.context
    tenant_id = schedules.admin_tenant(ctx.principal)
    async with ctx.db() as session:
        row = await schedules.schedule_of(session, tenant_id, schedule_id)
    if row is None:
        raise NotFound("no such export schedule")
    return ExportSchedule.of(row)


@strawberry.type
class ExportScheduleQuery:
    @strawberry.field(
        name="exportSchedules", description="Your tenant's export schedules, by name (admins)."
    )
    async def export_schedules(
        self,
        info: Info,
        include_inactive: Annotated[
            bool, strawberry.argument(description="False: only active schedules.")
        ] = True,
    ) -> list[ExportSchedule]:
        ctx = info.context
        tenant_id = schedules.admin_tenant(ctx.principal)
        async with ctx.db() as session:
            rows = (
                await session.scalars(schedules.schedules_of(tenant_id, include_inactive))
            ).all()
        return [ExportSchedule.of(r) for r in rows]

    @strawberry.field(name="exportSchedule", description="One of your tenant's schedules.")
    async def export_schedule(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The schedule's global id.")],
    ) -> ExportSchedule | None:
        ctx = info.context
        tenant_id = schedules.admin_tenant(ctx.principal)
        async with ctx.db() as session:
            row = await schedules.schedule_of(session, tenant_id, _schedule_id(id))
        return ExportSchedule.of(row) if row is not None else None


@strawberry.type
class ExportScheduleMutation:
    @strawberry.mutation(
        name="createExportSchedule",
        description=(
            "Creates an export schedule for your tenant (tenant admins); "
            "its first run is due at the next cron time."
        ),
    )
    async def create_export_schedule(
        self, info: Info, input: Annotated[ExportScheduleInput, INPUT]
    ) -> ExportSchedulePayload:
        ctx = info.context
        tenant_id = schedules.admin_tenant(ctx.principal)
        values, secret = await _values(info, input, tenant_id)
        if secret == schedules.KEEP:
            raise BadUserInput(
                "an SFTP destination needs a password or a privateKey", reason="BAD_SECRET"
            )
        async with transaction(info, "createExportSchedule", None) as w:
            row = await schedules.create(
                w.session, ctx.principal, values, secret=secret, box=_box(info), now=utcnow()
            )
        return ExportSchedulePayload(export_schedule=await _reloaded(info, row.id))

    @strawberry.mutation(
        name="updateExportSchedule",
        description="Replace a schedule; `version` is the one you read (a newer one: CONFLICT).",
    )
    async def update_export_schedule(
        self,
        info: Info,
        id: Annotated[strawberry.ID, ID],
        version: Annotated[int, VERSION],
        input: Annotated[ExportScheduleInput, INPUT],
    ) -> ExportSchedulePayload:
        ctx = info.context
        tenant_id = schedules.admin_tenant(ctx.principal)
        schedule_id = _schedule_id(id)
        values, secret = await _values(info, input, tenant_id)
        async with transaction(info, "updateExportSchedule", None) as w:
            await schedules.update_schedule(
                w.session,
                ctx.principal,
                schedule_id,
                version,
                values,
                secret=secret,
                box=_box(info),
                now=utcnow(),
            )
        return ExportSchedulePayload(export_schedule=await _reloaded(info, schedule_id))

    @strawberry.mutation(
        name="deactivateExportSchedule",
        description="Stop a schedule (its undelivered runs are cancelled); kept with its "
        "history. `updateExportSchedule` with `active: true` starts it again.",
    )
    async def deactivate_export_schedule(
        self, info: Info, id: Annotated[strawberry.ID, ID], version: Annotated[int, VERSION]
    ) -> ExportSchedulePayload:
        ctx = info.context
        schedule_id = _schedule_id(id)
        async with transaction(info, "deactivateExportSchedule", None) as w:
            await schedules.deactivate(w.session, ctx.principal, schedule_id, version, utcnow())
        return ExportSchedulePayload(export_schedule=await _reloaded(info, schedule_id))

    @strawberry.mutation(
        name="runExportScheduleNow",
        description="Deliver now, besides the schedule's own times (a feed sends the days "
        "that today names). The scheduler picks the run up within its poll interval.",
    )
    async def run_export_schedule_now(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID, strawberry.argument(description="The global id of the schedule.")
        ],
        idempotency_key: Annotated[
            str | None,
            strawberry.argument(
                description=(
                    "A key you choose so that retrying cannot queue two runs "
                    "(same key: the first run)."
                )
            ),
        ] = None,
    ) -> ExportRunPayload:
        ctx = info.context
        schedule_id = _schedule_id(id)
        schedules.admin_tenant(ctx.principal)
        async with transaction(
            info, "runExportScheduleNow", {"id": str(schedule_id)}, idempotency_key
        ) as w:
            if w.replayed is None:
                run = await schedules.run_now(w.session, ctx.principal, schedule_id, utcnow())
                w.result = {"run": str(run.id)}
            run_id = uuid.UUID((w.replayed or w.result)["run"])
        async with ctx.db() as session:
            row = await session.scalar(
                select(m.ExportRun).where(
                    m.ExportRun.id == run_id, m.ExportRun.tenant_id == ctx.principal.tenant_id
                )
            )
        if row is None:
            raise NotFound("no such export run")
        return ExportRunPayload(
            run=ExportRun.of(row), export_schedule=await _reloaded(info, schedule_id)
        )
