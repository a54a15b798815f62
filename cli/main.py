"""The `sharegraph` command."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from sharegraph.cli.audit import audit_app
from sharegraph.cli.export import export_command
from sharegraph.cli.importing import import_command
from sharegraph.cli.replicate import replicate_command
from sharegraph.cli.worker import worker
from sharegraph.errors import SharegraphError
from sharegraph.settings import Settings, default_database_url

T = TypeVar("T")

app = typer.Typer(
    help="sharegraph: a GraphQL gateway over shared helpline and 2-1-1 data.", no_args_is_help=True
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(audit_app, name="audit")
app.command("export")(export_command)
app.command("import")(import_command)
app.command("replicate")(replicate_command)
app.command()(worker)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Database URL (sqlite+aiosqlite:///path or postgresql+asyncpg://...). "
        "Default: $SHAREGRAPH_DATABASE_URL, else var/sharegraph.db.",
        show_default=False,
    ),
]


def _settings(database: str | None, **overrides: Any) -> Settings:
    return Settings.from_env(database_url=database or default_database_url(), **overrides)


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; known errors exit with status 1 and their message, never a traceback."""
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except SharegraphError as error:
        typer.echo(f"error [{error.code.value}]: {error.message}", err=True)
        raise typer.Exit(1) from None
    except (OSError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOption = None) -> None:
    """Apply all migrations (creates the database schema on first run)."""
    from sharegraph.datastore import migrate
    from sharegraph.datastore.engine import Database

    settings = _settings(database)

    async def go() -> str | None:
        db = Database(settings.database_url)
        try:
            await migrate.upgrade(db)
            return await migrate.current_revision(db)
        finally:
            await db.dispose()

    typer.echo(f"database at revision {_run(go)}")


@demo_app.command("seed")
def demo_seed(
    database: DatabaseOption = None,
    scale: Annotated[
        int,
        typer.Option(
            min=1,
            max=1000,
            help="Multiply the demo data (100 gives tens of thousands of contact records).",
        ),
    ] = 1,
) -> None:
    """Migrate an empty database and load the demo network into it."""
    from sharegraph import demo
    from sharegraph.datastore.engine import Database

    settings = _settings(database)

    async def go() -> Any:
        db = Database(settings.database_url)
        try:
            return await demo.seed(db, scale=scale, demo_secret=settings.demo_secret)
        finally:
            await db.dispose()

    result = _run(go)
    if not result.created:
        typer.echo("the database already has data; nothing seeded")
        return
    typer.echo(f"seeded demo data: {result}")


@demo_app.command("principals")
def demo_principals(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """The demo principals and their API keys (derived from the demo secret)."""
    from sharegraph import demo

    principals = demo.demo_principal_keys(Settings.from_env().demo_secret)
    if as_json:
        typer.echo(json.dumps(principals, indent=2))
        return
    for p in principals:
        home = p["tenant"] or p["organization"]
        typer.echo(f"{p['name']:<22} {p['role']:<13} {home:<22} {p['apiKey']}")


@app.command()
def serve(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Migrate and seed the demo data if the database is empty."),
    ] = False,
    graphiql: Annotated[
        bool | None,
        typer.Option(
            "--graphiql/--no-graphiql",
            help="Serve GraphiQL at GET /graphql (default: on with --demo).",
        ),
    ] = None,
) -> None:
    """Run the gateway under uvicorn."""
    import uvicorn

    from sharegraph.cli.serving import UVICORN_LIMITS
    from sharegraph.web.app import create_app

    settings = _settings(database, graphiql=demo if graphiql is None else graphiql)

    async def prepare() -> None:
        from sharegraph import demo as demo_data
        from sharegraph.datastore.engine import Database
        from sharegraph.datastore.migrate import ensure_migrated

        db = Database(settings.database_url)
        try:
            if demo:
                result = await demo_data.seed(db, scale=1, demo_secret=settings.demo_secret)
                if result.created:
                    typer.echo("demo data loaded", err=True)
            await ensure_migrated(db)
        finally:
            await db.dispose()

    # Checked before uvicorn starts, so a refusal is one clear line, not a lifespan traceback.
    _run(prepare)
    application = create_app(settings)
    url = f"http://{host}:{port}"
    typer.echo(f"sharegraph on {url}/graphql  (health: {url}/healthz)", err=True)
    if demo:
        typer.echo("demo API keys: `sharegraph demo principals`", err=True)
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(application, host=host, port=port, log_level="info", **UVICORN_LIMITS)


@app.command()
def bench(
    scale: Annotated[int, typer.Option(min=1, help="Demo data scale to benchmark on.")] = 10,
    requests: Annotated[int, typer.Option(min=10, help="Requests per scenario.")] = 200,
    database: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Latency and throughput of the main query shapes through the real HTTP stack."""
    from sharegraph.benchmarks.run import main as run_bench

    run_bench(scale=scale, requests=requests, database=database, as_json=as_json)


if __name__ == "__main__":
    app()
