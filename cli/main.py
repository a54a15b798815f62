"""The `sharegraph` command."""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from sharegraph.cli.audit import audit_app
from sharegraph.cli.export import export_command
from sharegraph.cli.importing import import_command
from sharegraph.cli.progress import progress_bar
from sharegraph.cli.replicate import replicate_command
from sharegraph.cli.schema import schema_command
from sharegraph.cli.worker import worker
from sharegraph.errors import SharegraphError
from sharegraph.settings import Settings, default_database_url

T = TypeVar("T")

app = typer.Typer(
    help="sharegraph: a GraphQL gateway over shared helpline and 2-1-1 data.", no_args_is_help=True
)
# Loggers that narrate their start at INFO (Casbin prints its whole model, Alembic its
# migration context): quiet unless --verbose.
CHATTY_LOGGERS = ("casbin", "alembic", "httpx")
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
user_app = typer.Typer(help="People who sign in to the portal.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(demo_app, name="demo")
app.add_typer(audit_app, name="audit")
app.command("export")(export_command)
app.command("import")(import_command)
app.command("schema")(schema_command)
app.command("replicate")(replicate_command)
app.command()(worker)


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        typer.echo(f"sharegraph {version('sharegraph')}")
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Show dependencies' warnings and start-up logs too."),
    ] = False,
) -> None:
    """sharegraph: a GraphQL gateway over shared helpline and 2-1-1 data."""
    if verbose:
        warnings.simplefilter("default")
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)


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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the row counts as one JSON object.")
    ] = False,
) -> None:
    """Migrate an empty database and load the demo network into it."""
    from dataclasses import asdict

    from sharegraph import demo
    from sharegraph.datastore.engine import Database

    settings = _settings(database)

    async def go() -> Any:
        db = Database(settings.database_url)
        try:
            with progress_bar("seeding", unit="rows", enabled=not as_json) as advance:
                return await demo.seed(
                    db, scale=scale, demo_secret=settings.demo_secret, progress=advance
                )
        finally:
            await db.dispose()

    result = _run(go)
    if as_json:
        typer.echo(json.dumps(asdict(result), indent=2))
    elif not result.created:
        typer.echo("the database already has data; nothing seeded")
    else:
        typer.echo(_seed_summary(result))


def _seed_summary(result: Any) -> str:
    """What `demo seed` wrote, in words: the network, then the records."""
    counts = [
        (result.tenants, "tenant"),
        (result.partner_organizations, "partner organization"),
        (result.principals, "principal"),
        (result.organizations, "organization"),
        (result.services, "service"),
        (result.locations, "location"),
        (result.clients, "client"),
        (result.contact_records, "contact record"),
        (result.referrals, "referral"),
        (result.outcomes, "outcome"),
        (result.follow_ups, "follow-up"),
        (result.referral_queues, "referral queue"),
        (result.queue_entries, "queue entry"),
        (result.service_capacities, "capacity report"),
    ]

    def words(n: int, noun: str) -> str:
        plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
        return f"{n:,} {noun if n == 1 else plural}"

    listed = ", ".join(words(n, noun) for n, noun in counts)
    return (
        f"seeded the demo network in {result.seconds:.1f}s: {listed}\n"
        "API keys: sharegraph demo principals"
    )


@demo_app.command("principals")
def demo_principals(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """The demo principals and their API keys (derived from the demo secret)."""
    from sharegraph import demo
    from sharegraph.graph.relay import to_global_id

    principals = [
        {"id": to_global_id("Principal", demo.demo_id("principal", p["name"])), **p}
        for p in demo.demo_principal_keys(Settings.from_env().demo_secret)
    ]
    if as_json:
        typer.echo(json.dumps(principals, indent=2))
        return
    typer.echo(f"{'NAME':<22} {'ROLE':<13} {'HOME':<22} API KEY")
    for p in principals:
        home = p["tenant"] or p["organization"]
        typer.echo(f"{p['name']:<22} {p['role']:<13} {home:<22} {p['apiKey']}")


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="The principal's name (kind USER).")],
    database: DatabaseOption = None,
) -> None:
    """Set a person's password (asked twice, never echoed; or one line on standard input):
    the first admin's, or anyone's the e-mail cannot reach. Ends their sessions."""
    from sharegraph.authz import signin
    from sharegraph.datastore import audit, migrate
    from sharegraph.datastore.engine import Database

    settings = _settings(database)

    async def migrated() -> None:
        # Before asking: an empty database would otherwise end in a traceback.
        db = Database(settings.database_url)
        try:
            await migrate.ensure_migrated(db)
        finally:
            await db.dispose()

    _run(migrated)
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def go() -> None:
        db = Database(settings.database_url)
        try:
            async with db.write_session() as session:
                person = await signin.person_by_name(session, name)
                await signin.store_password(session, person, password)
                await audit.record(
                    session,
                    tenant_id=person.tenant_id,
                    principal_id=person.id,
                    action="credentials.password.set",
                    detail={"by": "cli"},
                )
        finally:
            await db.dispose()

    _run(go)
    typer.echo(f"password set for {name}; their sessions have ended")


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
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes sharing the port (PostgreSQL only; each runs the scheduler "
            "unless SHAREGRAPH_SCHEDULER=off).",
        ),
    ] = 1,
) -> None:
    """Run the gateway under uvicorn."""
    import uvicorn

    from sharegraph.cli.serving import export_settings, uvicorn_options
    from sharegraph.console.site import create_app

    settings = _settings(database, graphiql=demo if graphiql is None else graphiql)
    if workers > 1 and not settings.database_url.startswith("postgresql"):
        raise typer.BadParameter(
            "several worker processes need PostgreSQL: on SQLite every write would wait for "
            "the file's single writer lock, and policy changes would reach the other "
            "processes only by polling; run one process (--workers 1)",
            param_hint="'--workers'",
        )

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
    url = f"http://{host}:{port}"
    typer.echo(f"sharegraph on {url}/graphql  (health: {url}/healthz)", err=True)
    if demo:
        typer.echo("demo API keys: `sharegraph demo principals`", err=True)
        typer.echo(
            f"provider portal: {url}/portal (sign in as eastside-portal after"
            " `sharegraph user password eastside-portal`)",
            err=True,
        )
    if settings.graphiql:
        typer.echo(f"GraphiQL: open {url}/graphql in a browser", err=True)
    logging.basicConfig(level=logging.INFO)
    if workers > 1:
        # uvicorn starts each worker afresh from an import string; they read the settings
        # from the environment, where this process left the ones given on the command line.
        export_settings(settings)
        uvicorn.run(
            "sharegraph.cli.serving:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="info",
            **uvicorn_options(settings),
        )
        return
    application = create_app(settings)
    uvicorn.run(application, host=host, port=port, log_level="info", **uvicorn_options(settings))


@app.command()
def bench(
    scale: Annotated[int, typer.Option(min=1, help="Demo data scale to benchmark on.")] = 10,
    requests: Annotated[int, typer.Option(min=10, help="Requests per scenario.")] = 200,
    database: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    port: Annotated[
        int,
        typer.Option(
            min=0, max=65535, help="Loopback port the gateway listens on (0: a free one)."
        ),
    ] = 0,
    peer: Annotated[
        str | None,
        typer.Option(
            help="Compare with another server on the same PostgreSQL database: postgraphile "
            "(installed from npm into var/peers/ on first use).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="With --peer: processes of each server.")] = 1,
) -> None:
    """Latency and throughput of the main query shapes through the real HTTP stack."""
    if peer is not None:
        if peer != "postgraphile":
            raise typer.BadParameter("the only peer is postgraphile", param_hint="'--peer'")
        from sharegraph.benchmarks.peers.postgraphile import main as run_peer

        run_peer(
            database=database, scale=scale, requests=requests, workers=workers, as_json=as_json
        )
        return
    from sharegraph.benchmarks.run import main as run_bench

    run_bench(scale=scale, requests=requests, database=database, as_json=as_json, port=port)


if __name__ == "__main__":
    app()
