"""`sharegraph replicate`: what one principal may read, into an external SQL database.

One catch-up pass, then exit 0; ``--follow`` keeps the target in sync until interrupted.
Exit status: 0 done, 1 refused or failed (a target out of reach, an unknown principal...).
"""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from sharegraph.cli.export import _principal, _UsageError
from sharegraph.errors import SharegraphError
from sharegraph.settings import Settings, default_database_url

EXIT_FAILED = 1


class ReplicateWhat(StrEnum):
    CONTACT_RECORDS = "contact-records"
    RESOURCES = "resources"
    ALL = "all"


def _line(result: Any) -> str:
    return (
        f"{result.what}: {result.document()['mode']} pass, {result.rows_written} row(s) written, "
        f"{result.rows_deleted} deleted, {result.events} event(s), "
        f"{result.rows_per_second:.0f} rows/s, lag {result.lag_seconds:.1f} s"
    )


def replicate_command(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="The target database: a SQLAlchemy URL (sqlite:///path.db, "
            "postgresql+asyncpg://..., postgresql+psycopg://... when installed).",
            show_default=False,
        ),
    ],
    as_principal: Annotated[
        str,
        typer.Option(
            "--as", help="Replicate what this principal (name or id) may read.", show_default=False
        ),
    ],
    what: Annotated[
        ReplicateWhat,
        typer.Option("--what", help="What to replicate.", case_sensitive=False),
    ] = ReplicateWhat.CONTACT_RECORDS,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep the target in sync until interrupted.")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Reconcile everything now (a full pass).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per pass (lag, rows/s...).")
    ] = False,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, help="Records per page and target transaction.")
    ] = 1000,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="sharegraph's database URL. Default: $SHAREGRAPH_DATABASE_URL, "
            "else var/sharegraph.db.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Replicate what a principal may read into an external SQL database (README,
    "Replication")."""
    from sharegraph.datastore.engine import Database
    from sharegraph.datastore.migrate import ensure_migrated
    from sharegraph.errors import BadUserInput
    from sharegraph.exporters.replication.job import one_runner
    from sharegraph.exporters.replication.run import PassResult, Replicator, follow_passes
    from sharegraph.exporters.replication.target import Target

    settings = Settings.from_env(database_url=database or default_database_url())

    def report(results: list[PassResult]) -> None:
        for result in results:
            if as_json:
                typer.echo(json.dumps(result.document()))
            else:
                typer.echo(_line(result), err=True)

    async def go() -> None:
        db = Database(settings.database_url)
        target: Target | None = None
        try:
            await ensure_migrated(db)
            principal = await _principal(db, as_principal)
            target = Target(to)
            async with one_runner(db, target) as held:
                if not held:
                    raise BadUserInput(
                        f"another process is replicating into {target.display} (a configured "
                        "job or another replicate); one runner per target",
                        reason="TARGET_BUSY",
                    )
                replicator = Replicator(db, target, principal.id, page_size=page_size)

                async def passes() -> list[PassResult]:
                    results = []
                    if what is not ReplicateWhat.RESOURCES:
                        results.append(await replicator.contact_records(full=full))
                    if what is not ReplicateWhat.CONTACT_RECORDS:
                        results.append(await replicator.resources(full=full))
                    return results

                if follow:
                    await follow_passes(replicator, passes, report)
                else:
                    report(await passes())
        finally:
            if target is not None:
                await target.dispose()
            await db.dispose()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        return
    except _UsageError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    except SharegraphError as error:
        typer.echo(f"error [{error.code.value}]: {error.message}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    except OSError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    except SQLAlchemyError as error:  # a write the target refused: one line, no traceback
        text = str(getattr(error, "orig", None) or error).strip()
        first = text.splitlines()[0] if text else type(error).__name__
        typer.echo(f"error: the database refused the replication: {first}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
