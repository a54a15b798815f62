"""`sharegraph export`: a tenant's contact records or resource directory to a file.

Without ``--as`` the tenant's own records leave as their owner sees them; with ``--as`` exactly
what that principal's access plan allows for the action ``export``. Every export is recorded
as a disclosure in the audit table before the file is moved into place.

Exit status: 0 written, 1 refused or failed (nothing written), 2 bad arguments.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from sharegraph.authz.disclosure import REDISCLOSURE_NOTICE
from sharegraph.cli.progress import progress_bar
from sharegraph.errors import SharegraphError
from sharegraph.exporters.contact_records import ExportFilter
from sharegraph.exporters.run import (
    ExportRequest,
    ExportResult,
    Format,
    What,
    check_format,
    check_output,
    owner_principal,
    run_export,
)
from sharegraph.settings import Settings, default_database_url

EXIT_FAILED = 1
EXIT_USAGE = 2


class _UsageError(Exception):
    """Bad arguments: exit status 2 with this message."""


@dataclass(frozen=True)
class _Target:
    tenant_id: uuid.UUID
    tenant_name: str


async def _tenant(db: Any, tenant: str) -> _Target:
    from sqlalchemy import select

    from sharegraph.datastore.models import Tenant

    try:
        wanted: Any = Tenant.id == uuid.UUID(tenant)
    except ValueError:
        wanted = Tenant.name == tenant
    async with db.read_session() as session:
        found = (await session.execute(select(Tenant.id, Tenant.name).where(wanted))).first()
    if found is None:
        raise _UsageError(f"no tenant {tenant!r} (give a tenant's name or id)")
    return _Target(found.id, found.name)


async def _principal(db: Any, name_or_id: str) -> Any:
    from sqlalchemy import select

    from sharegraph.authz.authenticate import load_principal
    from sharegraph.datastore.models import Principal

    try:
        wanted: Any = Principal.id == uuid.UUID(name_or_id)
    except ValueError:
        wanted = Principal.name == name_or_id
    async with db.read_session() as session:
        principal_id = await session.scalar(select(Principal.id).where(wanted))
        principal = await load_principal(session, principal_id) if principal_id else None
    if principal is None:
        raise _UsageError(f"no active principal {name_or_id!r} (give a principal's name or id)")
    return principal


def _summary(result: ExportResult, tenant: str, as_name: str) -> str:
    counts = ", ".join(f"{n} {t}" for t, n in sorted(result.counts.items())) or "nothing"
    line = (
        f"exported {counts} of {tenant} as {as_name} to {result.output} "
        f"({result.format.value}); {result.audit_rows} disclosure row(s) in the audit trail"
    )
    if result.withheld:
        line += f"; {result.withheld} record(s) left out (required fields withheld)"
    return line


def export_command(
    what: Annotated[
        What,
        typer.Option("--what", help="What to export.", case_sensitive=False, show_default=False),
    ],
    format: Annotated[
        Format,
        typer.Option(
            "--format",
            help="csv or ndjson for both; hsds-json, hsds-csv (a folder, or a .zip), "
            "hsds11-json, hsds11-csv (HSDS 1.1; a folder, or a .zip) and airs-xml for resources.",
            case_sensitive=False,
            show_default=False,
        ),
    ],
    tenant: Annotated[
        str,
        typer.Option("--tenant", help="Whose records: a tenant's name or id.", show_default=False),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", help="File (or folder, for hsds-csv and hsds11-csv) to write."),
    ],
    as_principal: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Export exactly what this principal (name or id) may export; "
            "default: the tenant's own records, as their owner.",
            show_default=False,
        ),
    ] = None,
    purpose: Annotated[
        str | None,
        typer.Option(
            help="Why the data leaves (recorded with the disclosure).", show_default=False
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing file (or data package folder).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object describing the export.")
    ] = False,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="Database URL (sqlite+aiosqlite:///path or postgresql+asyncpg://...). "
            "Default: $SHAREGRAPH_DATABASE_URL, else var/sharegraph.db.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Export contact records or the resource directory, through the access plan."""
    from sharegraph.authz.store import PolicyStore
    from sharegraph.datastore.engine import Database
    from sharegraph.datastore.migrate import ensure_migrated

    try:
        check_format(what, format)
    except SharegraphError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    settings = Settings.from_env(database_url=database or default_database_url())

    async def go() -> tuple[ExportResult, _Target, str]:
        db = Database(settings.database_url)
        try:
            await ensure_migrated(db)
            target = await _tenant(db, tenant)
            principal = (
                await _principal(db, as_principal)
                if as_principal
                else owner_principal(target.tenant_id, target.tenant_name)
            )
            request = ExportRequest(
                what=what,
                format=format,
                output=output.expanduser().absolute(),
                filter=ExportFilter(tenant_ids=(target.tenant_id,)),
                purpose=purpose,
                principal_id=principal.id if as_principal else None,
            )
            try:
                check_output(request, force=force)
            except SharegraphError as error:
                raise _UsageError(error.message) from None
            store = PolicyStore(db)
            await store.reload()
            plan = store.plan_for(principal)
            with progress_bar("exporting", enabled=not as_json) as advance:
                result = await run_export(db, plan, request, advance)
            return result, target, principal.name
        finally:
            await db.dispose()

    try:
        result, target, as_name = asyncio.run(go())
    except _UsageError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except SharegraphError as error:
        typer.echo(f"error [{error.code.value}]: {error.message}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    except OSError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    if result.redisclosure_notice:
        typer.echo(REDISCLOSURE_NOTICE, err=True)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        typer.echo(_summary(result, target.tenant_name, as_name), err=True)
