"""`sharegraph audit`: seal the audit trail and verify a tenant's chain.

Exit status of `verify`: 0 the chain is intact, 1 it is broken (the first broken seal is named),
2 the check could not run (bad options, unknown tenant, database unreachable or not migrated).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from sharegraph.errors import SharegraphError
from sharegraph.settings import Settings, default_database_url

T = TypeVar("T")

EXIT_BROKEN = 1
EXIT_USAGE = 2

audit_app = typer.Typer(
    help="The audit trail: seal it, verify a tenant's chain of seals.", no_args_is_help=True
)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Database URL (sqlite+aiosqlite:///path or postgresql+asyncpg://...). "
        "Default: $SHAREGRAPH_DATABASE_URL, else var/sharegraph.db.",
        show_default=False,
    ),
]


class _UsageError(Exception):
    """The check could not run: exit status 2 with this message."""


def _settings(database: str | None) -> Settings:
    return Settings.from_env(database_url=database or default_database_url())


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; anything that stops the check from running exits with status 2."""
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except _UsageError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except SharegraphError as error:
        typer.echo(f"error [{error.code.value}]: {error.message}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except (OSError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


async def _resolve_tenant(db: Any, tenant: str) -> tuple[uuid.UUID | None, str]:
    """(tenant id or None for the system chain, a label) of a name, a uuid or `system`."""
    from sqlalchemy import select

    from sharegraph.datastore.models.tenants import Tenant

    if tenant.strip().lower() == "system":
        return None, "system"
    try:
        wanted: Any = Tenant.id == uuid.UUID(tenant)
    except ValueError:
        wanted = Tenant.name == tenant
    async with db.read_session() as session:
        found = (await session.execute(select(Tenant.id, Tenant.name).where(wanted))).first()
    if found is None:
        raise _UsageError(f"no tenant {tenant!r} (give a tenant name, its uuid, or `system`)")
    return found.id, f"{found.name} ({found.id})"


@audit_app.command("verify")
def verify_command(
    tenant: Annotated[
        str,
        typer.Option(
            "--tenant",
            help="Tenant name or uuid, or `system` for the rows that belong to no tenant.",
            show_default=False,
        ),
    ],
    database: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Recompute every seal of a tenant's audit chain. Exit 0 intact, 1 broken, 2 usage error."""
    from sharegraph.datastore import audit_chain
    from sharegraph.datastore.engine import Database
    from sharegraph.datastore.migrate import ensure_migrated

    settings = _settings(database)

    async def go() -> tuple[str, audit_chain.VerifyReport]:
        db = Database(settings.database_url)
        try:
            await ensure_migrated(db)
            tenant_id, label = await _resolve_tenant(db, tenant)
            return label, await audit_chain.verify(db, tenant_id)
        finally:
            await db.dispose()

    label, report = _run(go)
    if as_json:
        typer.echo(json.dumps({"tenant": label, **report.to_json()}, indent=2))
    elif report.ok:
        line = (
            f"audit chain of {label}: intact; {report.seals_checked} seal(s), "
            f"{report.rows_sealed} row(s) sealed, {report.rows_unsealed} not yet sealed"
        )
        if report.head_sequence is not None:
            line += f"; head seal #{report.head_sequence} {report.head_seal_hash}"
        typer.echo(line)
    else:
        first = report.first_broken
        assert first is not None
        typer.echo(f"audit chain of {label} is BROKEN at {first.describe()}", err=True)
        if first.suspect_positions:
            positions = ", ".join(str(p) for p in first.suspect_positions)
            typer.echo(f"  rows that occurred after that seal was made: {positions}", err=True)
        for problem in report.problems[1:]:
            typer.echo(f"  also: {problem.describe()}", err=True)
    if not report.ok:
        raise typer.Exit(EXIT_BROKEN)


@audit_app.command("seal")
def seal_command(
    database: DatabaseOption = None,
    settle: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seal only rows older than this many seconds (rows of transactions that "
            "commit late are not skipped).",
        ),
    ] = 5.0,
) -> None:
    """Seal the committed, not yet sealed audit rows of every tenant (safe to run concurrently)."""
    from sharegraph.datastore import audit_chain
    from sharegraph.datastore.engine import Database
    from sharegraph.datastore.migrate import ensure_migrated

    settings = _settings(database)

    async def go() -> int:
        db = Database(settings.database_url)
        try:
            await ensure_migrated(db)
            return await audit_chain.seal(db, settle_seconds=settle)
        finally:
            await db.dispose()

    typer.echo(f"sealed {_run(go)} audit row(s)")
