"""`sharegraph import PATH --tenant TENANT`: load a resource directory file into a tenant.

Exit status: 0 imported (bad records are listed, the rest is in); 1 nothing was written (the
input could not be read, or --strict found bad records); 2 the command could not run (bad
options, unknown tenant, database unreachable or not migrated).
"""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from sharegraph.cli.progress import progress_bar
from sharegraph.errors import SharegraphError
from sharegraph.settings import Settings, default_database_url

EXIT_NOT_WRITTEN = 1
EXIT_USAGE = 2
_SHOWN = 20


class Format(StrEnum):
    AUTO = "auto"
    HSDS_JSON = "hsds-json"
    HSDS_CSV = "hsds-csv"
    AIRS_XML = "airs-xml"
    OHANA_CSV = "ohana-csv"


def import_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="A file (AIRS XML, HSDS JSON) or a folder of CSV files (HSDS tabular, Ohana).",
            show_default=False,
            exists=True,
        ),
    ],
    tenant: Annotated[
        str, typer.Option("--tenant", help="The tenant's name or uuid.", show_default=False)
    ],
    fmt: Annotated[
        Format, typer.Option("--format", help="The input format; auto looks at the content.")
    ] = Format.AUTO,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Source system the records come from (default: named by the data: AIRS "
            "SourceEntity, the data package's name). Records match on tenant, source, key.",
            show_default=False,
        ),
    ] = None,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial", help="A delta: records missing from the input are left as they are."
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Write nothing if any record is bad or needs a placeholder parent.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (progress goes to stderr).")
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
    """Import a resource directory (HSDS JSON or CSV, AIRS XML, Ohana CSV) into a tenant.

    A full import by default: the source's records missing from the input are marked inactive.
    Re-importing the same data changes nothing.
    """
    from sqlalchemy.exc import DBAPIError

    from sharegraph.importers import UnknownTenant, import_path, input_size

    settings = Settings.from_env(database_url=database or default_database_url())

    async def go() -> Any:
        from sharegraph.datastore.engine import Database
        from sharegraph.datastore.migrate import ensure_migrated

        db = Database(settings.database_url)
        try:
            await ensure_migrated(db)
            with progress_bar("importing", input_size(path), unit="bytes") as advance:
                return await import_path(
                    db,
                    path,
                    tenant=tenant,
                    fmt=fmt.value,
                    source=source,
                    partial=partial,
                    strict=strict,
                    progress=advance,
                )
        finally:
            await db.dispose()

    try:
        report = asyncio.run(go())
    except UnknownTenant as error:
        typer.echo(f"error: {error.args[0]}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except SharegraphError as error:
        typer.echo(f"error [{error.code.value}]: {error.message}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except (OSError, ValueError, DBAPIError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_USAGE) from None

    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_human(report)
    if not report.ok:
        if report.failed:
            typer.echo(f"error: {report.errors[-1].reason}; nothing was written", err=True)
        else:
            typer.echo(
                f"error: --strict: {report.rejected} bad record(s); nothing was written", err=True
            )
        raise typer.Exit(EXIT_NOT_WRITTEN)


def _print_human(report: Any) -> None:
    source = f", source {report.source!r}" if report.source else ""
    typer.echo(f"{report.path} ({report.format}{source}) -> {report.tenant}")
    typer.echo(report.summary())
    for title, issues, omitted in (
        ("errors", report.errors, report.omitted_errors),
        ("warnings", report.warnings, report.omitted_warnings),
    ):
        if not issues:
            continue
        typer.echo(f"{title}:")
        for issue in issues[:_SHOWN]:
            where = issue.origin.file
            if issue.origin.line is not None:
                where += f":{issue.origin.line}"
            if issue.origin.path:
                where += f" {issue.origin.path}"
            typer.echo(f"  {where}: {issue.reason}")
        more = len(issues) - _SHOWN + omitted
        if more > 0:
            typer.echo(f"  ... and {more} more (--json lists them)")
