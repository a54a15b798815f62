"""Resource directory imports: HSDS 3.0 JSON, HSDS tabular (3.0 and 1.1), iCarol AIRS XML 3.0
and the Ohana CSV layout, into one tenant's directory.

Each format module turns a file into parsed records (:mod:`.records`); :mod:`.core` upserts
them. One import is one transaction: it lands whole or not at all (``--strict`` with a bad
record, unreadable input, a database refusal), so a crash never leaves a record without its
children. See :func:`import_path`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import Tenant
from sharegraph.datastore.rls import RlsScope
from sharegraph.errors import Conflict
from sharegraph.importers.airs_xml import AirsXmlReader
from sharegraph.importers.core import Importer
from sharegraph.importers.hsds_json import HsdsJsonReader
from sharegraph.importers.hsds_tabular import HsdsTabularReader
from sharegraph.importers.ohana_csv import OhanaCsvReader
from sharegraph.importers.records import Item, Kind, Origin
from sharegraph.importers.report import ImportFailed, ImportReport, Issue
from sharegraph.importers.sources import Progress, csv_header, no_progress

FORMATS = ("auto", "hsds-json", "hsds-csv", "airs-xml", "ohana-csv")

__all__ = ["FORMATS", "ImportFailed", "ImportReport", "Issue", "detect_format", "import_path"]


class Reader(Protocol):
    format: str
    carried: frozenset[Kind]

    def items(self) -> Iterator[Item]: ...


class UnknownTenant(LookupError):
    pass


class _Refused(Exception):
    """--strict found bad records: roll the whole import back."""


def detect_format(path: Path) -> str:
    """The format of a file or folder, from its content (never from its name alone)."""
    if path.is_dir():
        if (path / "mail_addresses.csv").is_file():
            return "ohana-csv"
        services = csv_header(path / "services.csv")
        if "location_id" in services and "organization_id" not in services:
            return "ohana-csv"
        return "hsds-csv"
    if path.name == "datapackage.json":
        return "hsds-csv"
    try:
        with path.open("rb") as raw:
            head = raw.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as error:
        raise ImportFailed(Origin(str(path)), f"cannot read the file: {error.strerror}") from None
    if head.startswith(b"<"):
        return "airs-xml"
    if head[:1] in (b"{", b"["):
        return "hsds-json"
    raise ImportFailed(
        Origin(str(path)),
        "cannot tell the format (not XML, JSON or a folder of CSV files); pass --format",
    )


def open_reader(path: Path, fmt: str, progress: Progress) -> Reader:
    if not path.exists():
        raise ImportFailed(Origin(str(path)), "no such file or folder")
    if fmt == "auto":
        fmt = detect_format(path)
    tabular = fmt in ("hsds-csv", "ohana-csv")
    if tabular and path.is_file() and path.name == "datapackage.json":
        path = path.parent
    if tabular != path.is_dir():
        want = "a folder of CSV files" if tabular else "a file"
        raise ImportFailed(Origin(str(path)), f"{fmt} imports read {want}")
    if fmt == "airs-xml":
        return AirsXmlReader(path, progress)
    if fmt == "hsds-json":
        return HsdsJsonReader(path, progress)
    if fmt == "hsds-csv":
        return HsdsTabularReader(path, progress)
    if fmt == "ohana-csv":
        return OhanaCsvReader(path, progress)
    raise ImportFailed(Origin(str(path)), f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")


def input_size(path: Path) -> int:
    if path.is_dir():
        return sum(child.stat().st_size for child in path.glob("*.csv") if child.is_file())
    return path.stat().st_size if path.exists() else 0


async def find_tenant(db: Database, tenant: str) -> tuple[uuid.UUID, str]:
    try:
        wanted = Tenant.id == uuid.UUID(tenant)
    except ValueError:
        wanted = Tenant.name == tenant
    async with db.read_session() as session:
        found = (await session.execute(select(Tenant.id, Tenant.name).where(wanted))).first()
    if found is None:
        raise UnknownTenant(f"no tenant {tenant!r} (give a tenant's name or its uuid)")
    return found.id, found.name


async def import_path(
    db: Database,
    path: Path,
    *,
    tenant: str,
    fmt: str = "auto",
    source: str | None = None,
    partial: bool = False,
    strict: bool = False,
    progress: Progress = no_progress,
    chunk_size: int | None = None,
) -> ImportReport:
    """Import ``path`` into ``tenant``'s directory. Raises :class:`UnknownTenant`; everything
    else (unreadable input, bad records, database refusals) is in the report."""
    tenant_id, tenant_name = await find_tenant(db, tenant)
    report = ImportReport(
        format=fmt,
        path=str(path),
        tenant=tenant_name,
        source=source,
        partial=partial,
        strict=strict,
    )
    try:
        reader = open_reader(path, fmt, progress)
        report.format = reader.format
        scope = RlsScope(frozenset({tenant_id}), frozenset({tenant_id}))
        async with db.write_session(scope) as session:
            importer = Importer(
                session,
                tenant_id,
                report,
                path=str(path),
                carried=reader.carried,
                source=source,
                partial=partial,
                strict=strict,
                **({"chunk_size": chunk_size} if chunk_size else {}),
            )
            await importer.consume(reader.items())
            await importer.finish()
            if strict and report.rejected:
                raise _Refused
        report.committed = True
    except _Refused:
        pass
    except ImportFailed as failure:
        report.fail(failure.issue)
    except IntegrityError as error:
        report.fail(Issue(Origin(str(path)), f"the database refused the import: {error.orig}"))
    except Conflict as conflict:  # a unique key taken by a concurrent writer
        report.fail(Issue(Origin(str(path)), f"the database refused the import: {conflict}"))
    except DBAPIError as error:
        report.fail(Issue(Origin(str(path)), f"the database failed: {error.orig}"))
    return report
