"""`sharegraph worker`: run due work outside the gateway (or from cron with `--once`).

Exit status of `--once`: 0 when every kind ran and every item succeeded, 1 otherwise (failed
items stay due and are retried by the next pass), 2 when the pass could not run at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from typing import Annotated

import typer

from sharegraph.errors import SharegraphError
from sharegraph.settings import Settings, default_database_url

EXIT_FAILED = 1
EXIT_USAGE = 2

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Database URL (sqlite+aiosqlite:///path or postgresql+asyncpg://...). "
        "Default: $SHAREGRAPH_DATABASE_URL, else var/sharegraph.db.",
        show_default=False,
    ),
]


def worker(
    database: DatabaseOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run one pass over all due work and exit.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --once: print the pass as one JSON object.")
    ] = False,
    poll: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Seconds between passes (default: $SHAREGRAPH_SCHEDULER_POLL, else 5).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run due work (scheduled capacity, audit seals, export jobs, deliveries, replication
    targets) until stopped.

    Safe next to `serve` and other workers on one database: every item runs once. Set
    SHAREGRAPH_SCHEDULER=off on `serve` to leave due work to dedicated workers.
    """
    from sharegraph.datastore.engine import Database
    from sharegraph.datastore.migrate import ensure_migrated
    from sharegraph.graph.webhook_payloads import standalone_renderer
    from sharegraph.webhooks import webhook_kinds
    from sharegraph.worker import PassReport, Scheduler, scheduler_for

    overrides = {} if poll is None else {"scheduler_poll_seconds": poll}
    settings = Settings.from_env(database_url=database or default_database_url(), **overrides)

    async def go() -> PassReport | None:
        db = Database(settings.database_url, echo=settings.echo_sql)
        try:
            await ensure_migrated(db)
            async with standalone_renderer(db, settings) as renderer:
                scheduler = scheduler_for(db, settings, webhook_kinds(settings, renderer))
                return await run(scheduler)
        finally:
            await db.dispose()

    async def run(scheduler: Scheduler) -> PassReport | None:
        if once:
            try:
                return await scheduler.run_once()
            finally:
                await scheduler.close()  # the webhook sender's connection pools
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # not on every platform
                loop.add_signal_handler(sig, stop.set)
        await scheduler.start()
        every = settings.scheduler_poll_seconds
        typer.echo(f"sharegraph worker: a pass every {every:g}s; Ctrl-C stops", err=True)
        try:
            await stop.wait()
        finally:
            await scheduler.stop()
        return None

    if not once:
        logging.basicConfig(level=logging.INFO)
    try:
        report = asyncio.run(go())
    except SharegraphError as error:
        typer.echo(f"error [{error.code.value}]: {error.message}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except (OSError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if report is None:
        return
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        for kind in report.kinds:
            if not kind.ran:
                typer.echo(f"{kind.name}: not due")
                continue
            line = f"{kind.name}: {kind.done} done, {len(kind.failures)} failed"
            typer.echo(line + (f" ({kind.error})" if kind.error else ""))
            for failure in kind.failures:
                typer.echo(f"  {failure.item}: {failure.error}", err=True)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)
