"""Running one export: what, in which format, for whom (an access plan), to which file.

The file is written next to its destination under a temporary name, inside one read
transaction (one snapshot; on PostgreSQL also bounded by row-level security to the plan's
tenants); the disclosures are recorded in the audit table; only then is the file moved into
place. A failure leaves no partial file behind.

Used by ``sharegraph export`` and, later, by export jobs and scheduled deliveries: they call
:func:`run_export` with the plan of the principal the export runs as.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.disclosure import REDISCLOSURE_NOTICE, Disclosure
from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.authz.principal import Principal, RoleGrant
from sharegraph.datastore import models as m
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import PrincipalKind, Role
from sharegraph.errors import BadUserInput, Forbidden
from sharegraph.exporters.airs_xml import AirsKeys, AirsWriter, agencies
from sharegraph.exporters.cells import SafeCsvWriter, json_line
from sharegraph.exporters.contact_records import ContactRecordStream, ExportFilter
from sharegraph.exporters.disclosures import DisclosureLog
from sharegraph.exporters.hsds11 import Hsds11Writer
from sharegraph.exporters.hsds_tabular import (
    TabularWriter,
    remove_folder,
    temporary_folder,
    zip_folder,
)
from sharegraph.exporters.resources import RESOURCE_COLUMNS, resource_rows, service_batches


class What(StrEnum):
    RESOURCES = "resources"
    CONTACT_RECORDS = "contact-records"


class Format(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"
    HSDS_JSON = "hsds-json"
    HSDS_CSV = "hsds-csv"
    AIRS_XML = "airs-xml"
    HSDS11_JSON = "hsds11-json"
    HSDS11_CSV = "hsds11-csv"


# Formats written as a folder of files first (then zipped, moved into place or assembled).
TABULAR = frozenset({Format.HSDS_CSV, Format.HSDS11_CSV})
FORMATS: dict[What, tuple[Format, ...]] = {
    What.RESOURCES: tuple(Format),
    What.CONTACT_RECORDS: (Format.CSV, Format.NDJSON),
}
ROOT_TYPES = {What.RESOURCES: "Service", What.CONTACT_RECORDS: "ContactRecord"}


def check_format(what: What, fmt: Format) -> None:
    if fmt not in FORMATS[what]:
        allowed = ", ".join(f.value for f in FORMATS[what])
        raise BadUserInput(
            f"{what.value} cannot be exported as {fmt.value}; use one of: {allowed}",
            reason="FORMAT_NOT_SUPPORTED",
        )


def owner_principal(tenant_id: uuid.UUID, tenant_name: str) -> Principal:
    """A tenant admin of ``tenant_id`` that exists only for the owner's own export: its plan is
    compiled like any other (the tenant's implicit agreement with itself, and the role)."""
    return Principal(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"sharegraph:owner-export:{tenant_id}"),
        name=f"{tenant_name} (owner export)",
        kind=PrincipalKind.USER,
        tenant_id=tenant_id,
        partner_organization_id=None,
        roles=frozenset({RoleGrant(Role.TENANT_ADMIN, tenant_id, None)}),
    )


@dataclass(frozen=True)
class ExportRequest:
    what: What
    format: Format
    output: Path
    filter: ExportFilter = field(default_factory=ExportFilter)
    purpose: str | None = None
    # Who asked, for the audit trail (None: the owner's own export from the command line).
    principal_id: uuid.UUID | None = None
    channel: str = "cli"
    # Where the file goes beyond the principal (a partner's SFTP server), for the disclosure.
    destination: str | None = None

    @property
    def zipped(self) -> bool:
        return self.format in TABULAR and self.output.suffix.lower() == ".zip"

    @property
    def is_folder(self) -> bool:
        return self.format in TABULAR and not self.zipped


@dataclass
class ExportResult:
    what: What
    format: Format
    output: Path
    export_id: uuid.UUID
    counts: dict[str, int]  # record type -> records written
    withheld: int  # records the plan could not let out as valid objects
    audit_rows: int
    redisclosure_notice: bool = False

    @property
    def records(self) -> int:
        return self.counts.get(ROOT_TYPES[self.what], 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "what": self.what.value,
            "format": self.format.value,
            "output": str(self.output),
            "exportId": str(self.export_id),
            "records": self.records,
            "counts": self.counts,
            "withheld": self.withheld,
            "auditRows": self.audit_rows,
            "redisclosureNotice": REDISCLOSURE_NOTICE if self.redisclosure_notice else None,
        }


def check_output(request: ExportRequest, *, force: bool = False) -> None:
    """The destination must be new (or, with ``force``, a file or an earlier data package
    folder to replace; an empty folder is always fine for a data package)."""
    output = request.output
    if not output.parent.is_dir():
        raise BadUserInput(f"no folder {output.parent} to write into", reason="BAD_OUTPUT")
    if not output.exists():
        return
    if output.is_dir():
        if not request.is_folder:
            raise BadUserInput(f"{output} is a folder; name a file", reason="BAD_OUTPUT")
        if not any(output.iterdir()) or (force and (output / "datapackage.json").exists()):
            return
    elif force and not request.is_folder:
        return
    raise BadUserInput(
        f"{output} already exists; choose another path"
        + (" or pass --force" if not output.is_dir() or request.is_folder else ""),
        reason="OUTPUT_EXISTS",
    )


def _no_progress(_: int) -> None:
    return None


class _Export:
    def __init__(
        self, plan: AccessPlan, request: ExportRequest, progress: Callable[[int], None]
    ) -> None:
        self.plan = plan
        self.request = request
        self.progress = progress
        self.access = Disclosure(plan, Action.EXPORT)
        self.withheld = 0
        self.redisclosure = False
        principal = plan.principal
        recipient = (
            f"tenant:{principal.tenant_id}"
            if principal.tenant_id
            else f"partner:{principal.partner_organization_id}"
        )
        self.log = DisclosureLog(
            recipient=recipient,
            principal_id=request.principal_id,
            purpose=request.purpose or "export",
            detail={
                "channel": request.channel,
                "what": request.what.value,
                "format": request.format.value,
                "asPrincipal": principal.name,
                **({"destination": request.destination} if request.destination else {}),
            },
        )

    def check_allowed(self) -> None:
        type_name = ROOT_TYPES[self.request.what]
        owners = self.access.owners(type_name)
        wanted = self.request.filter.tenant_ids
        if not (owners & set(wanted) if wanted else owners):
            raise Forbidden(
                f"{self.plan.principal.name} may not export {self.request.what.value}"
                + (" of this tenant" if wanted else ""),
                reason="EXPORT_DENIED",
            )

    # -- contact records ----------------------------------------------------------------------
    async def contact_records(self, session: AsyncSession, stream: IO[str]) -> None:
        records = ContactRecordStream(session, self.access, self.request.filter)
        layout = await records.layout()
        csv_writer = SafeCsvWriter(stream) if self.request.format is Format.CSV else None
        if csv_writer is not None:
            csv_writer.row(layout.headers())
        async for batch in records.batches(layout):
            for record in batch:
                if csv_writer is not None:
                    csv_writer.row(record.csv_cells(layout))
                else:
                    stream.write(json_line(record.document(layout)))
                self.log.record(record.owner, "ContactRecord", record.id, record.coordinates)
                self.redisclosure = self.redisclosure or record.part2_disclosed
            self.progress(len(batch))

    # -- resources ------------------------------------------------------------------------------
    async def services(self, session: AsyncSession, stream: IO[str]) -> None:
        fmt = self.request.format
        csv_writer = SafeCsvWriter(stream) if fmt is Format.CSV else None
        if csv_writer is not None:
            csv_writer.row(RESOURCE_COLUMNS)
        first = True
        if fmt is Format.HSDS_JSON:
            stream.write("[")
        async for rows, objects in service_batches(session, self.access, self.request.filter):
            self.withheld += len(rows) - len(objects)
            owners = {str(r.id): r.tenant_id for r in rows}
            for obj in objects:
                if csv_writer is not None:
                    csv_writer.rows(resource_rows(obj))
                elif fmt is Format.HSDS_JSON:
                    stream.write(("\n" if first else ",\n") + json.dumps(obj, ensure_ascii=False))
                else:
                    stream.write(json_line(obj))
                first = False
                owner = owners[obj["id"]]
                self.log.count(owner, "Service", self.access.coordinates("Service", owner))
            self.progress(len(objects))
        if fmt is Format.HSDS_JSON:
            stream.write("\n]\n" if not first else "]\n")

    async def hsds11(self, session: AsyncSession, folder: Path, stream: IO[str] | None) -> None:
        """HSDS 1.1 tables under ``folder``; with ``stream``, assembled into one JSON package."""
        title = await self._title(session)
        sources = await self._sources(session)
        writer = Hsds11Writer(folder, as_json=stream is not None)
        async for rows, objects in service_batches(session, self.access, self.request.filter):
            self.withheld += len(rows) - len(objects)
            owners = {str(r.id): r.tenant_id for r in rows}
            for obj in objects:
                if not writer.service(obj):
                    self.withheld += 1
                    continue
                owner = owners[obj["id"]]
                self.log.count(owner, "Service", self.access.coordinates("Service", owner))
        writer.finish(title, sources)
        if stream is not None:
            writer.assemble(title, sources, stream)

    async def airs(self, session: AsyncSession, stream: IO[str]) -> None:
        title = await self._title(session)
        writer = AirsWriter(stream, AirsKeys(title), await self._taxonomy_version(session))
        writer.start()
        async for rows, organizations in agencies(session, self.access, self.request.filter):
            self.withheld += len(rows) - len(organizations)
            owners = {str(r.id): r.tenant_id for r in rows}
            for organization in organizations:
                services = writer.agency(organization)
                owner = owners[organization["id"]]
                self.log.count(
                    owner, "Organization", self.access.coordinates("Organization", owner)
                )
                self.log.count(
                    owner, "Service", self.access.coordinates("Service", owner), services
                )
            self.progress(len(organizations))
        writer.end()

    async def tabular(self, session: AsyncSession, folder: Path) -> None:
        title = await self._title(session)
        sources = await self._sources(session)
        writer = TabularWriter(session, self.access, self.request.filter, folder, self.log)
        result = await writer.write(title, sources)
        self.withheld += sum(result.withheld.values())

    async def _taxonomy_version(self, session: AsyncSession) -> str | None:
        """The version of the taxonomy the exported terms use, when they use one."""
        statement = select(m.Taxonomy.version).where(
            self.access.where(m.Taxonomy), m.Taxonomy.version.is_not(None)
        )
        if self.request.filter.tenant_ids:
            statement = statement.where(m.Taxonomy.tenant_id.in_(self.request.filter.tenant_ids))
        versions = set((await session.scalars(statement.distinct())).all())
        return versions.pop() if len(versions) == 1 else None

    async def _sources(self, session: AsyncSession) -> list[str]:
        """Source systems of the exported directory records."""
        found: set[str] = set()
        for model in (m.Organization, m.Service, m.Location):
            statement = select(model.source_system).where(
                self.access.where(model), model.source_system.is_not(None)
            )
            if self.request.filter.tenant_ids:
                statement = statement.where(model.tenant_id.in_(self.request.filter.tenant_ids))
            found.update(s for s in (await session.scalars(statement.distinct())).all() if s)
        return sorted(found)

    async def _title(self, session: AsyncSession) -> str:
        """The export's source name: the one source system of the exported records if there
        is one (so re-imports match them again), else ``sharegraph <tenant names>``."""
        sources = await self._sources(session)
        if len(sources) == 1:
            return sources[0]
        statement = select(m.Tenant.name).order_by(m.Tenant.name)
        if self.request.filter.tenant_ids:
            statement = statement.where(m.Tenant.id.in_(self.request.filter.tenant_ids))
        else:
            statement = statement.where(m.Tenant.id.in_(self.access.owners("Service")))
        names = (await session.scalars(statement)).all()
        return "sharegraph " + ", ".join(names)


async def run_export(
    db: Database,
    plan: AccessPlan,
    request: ExportRequest,
    progress: Callable[[int], None] = _no_progress,
) -> ExportResult:
    """Write the export, record its disclosures, then move the file into place.
    ``progress(n)`` hears of every ``n`` records written (not for hsds-csv)."""
    check_format(request.what, request.format)
    export = _Export(plan, request, progress)
    export.check_allowed()
    output = request.output
    temporary = output.with_name(f".{output.name}.{export.log.export_id.hex[:8]}.partial")
    folder: Path | None = None
    try:
        async with db.read_session(rls=plan.rls_scope()) as session:
            if not db.is_sqlite:
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            if request.format is Format.HSDS_CSV:
                folder = temporary_folder(output.parent)
                await export.tabular(session, folder)
            elif request.format is Format.HSDS11_CSV:
                folder = temporary_folder(output.parent)
                await export.hsds11(session, folder, None)
            elif request.format is Format.HSDS11_JSON:
                folder = temporary_folder(output.parent)
                with temporary.open("w", encoding="utf-8", newline="") as stream:
                    await export.hsds11(session, folder, stream)
            else:
                encoding = "utf-8-sig" if request.format is Format.CSV else "utf-8"
                with temporary.open("w", encoding=encoding, newline="") as stream:
                    if request.what is What.CONTACT_RECORDS:
                        await export.contact_records(session, stream)
                    elif request.format is Format.AIRS_XML:
                        await export.airs(session, stream)
                    else:
                        await export.services(session, stream)
        if folder is not None and request.zipped:
            with temporary.open("wb") as archive:
                zip_folder(folder, archive)
        # The disclosure is on record before anyone can take the file.
        audit_rows = await export.log.write(db)
        if folder is not None and not request.is_folder and not request.zipped:
            remove_folder(folder)  # the JSON package is assembled; its parts go
            folder = None
            os.replace(temporary, output)
        elif folder is not None and not request.zipped:
            if output.is_dir():
                remove_folder(output)  # empty, or an earlier data package (check_output)
            os.replace(folder, output)
            folder = None
        else:
            os.replace(temporary, output)
    except OSError as error:
        # Name the destination the caller gave, never our temporary file or folder.
        raise OSError(f"cannot write {output}: {error.strerror or 'failed'}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        if folder is not None:
            remove_folder(folder)
    return ExportResult(
        what=request.what,
        format=request.format,
        output=output,
        export_id=export.log.export_id,
        counts=export.log.totals(),
        withheld=export.withheld,
        audit_rows=audit_rows,
        redisclosure_notice=export.redisclosure,
    )
