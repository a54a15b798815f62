"""PostgreSQL row-level security scope of one transaction (defense in depth).

Migration 0003 puts FORCE RLS on every tenant-owned table with a policy for the role
``sharegraph_app`` that admits only rows whose ``tenant_id`` is listed in a transaction-local
setting (``sharegraph.record_tenants`` for records, ``sharegraph.directory_tenants`` for the
resource directory; ``*`` = every tenant, unset or empty = none). :func:`apply` switches the
current transaction to that role and sets both lists, with transaction-local ``set_config``
only: a session-level ``SET`` would survive in a pooled connection and leak into the next
request. Commit or rollback restores the login role and clears the settings.

RLS bounds tenants only; the access plan's row scopes remain the real guard. A scope should
hold, per kind, every tenant the plan lets the request touch with any action.

On SQLite (no RLS) applying a scope does nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util import await_only as await_

APP_ROLE = "sharegraph_app"
RECORD_TENANTS_SETTING = "sharegraph.record_tenants"
DIRECTORY_TENANTS_SETTING = "sharegraph.directory_tenants"
EVERY_TENANT = "*"

# One round trip: ``set_config('role', ..., true)`` is ``SET LOCAL ROLE`` (same GUC, same
# membership check), and SELECT evaluates its target list left to right.
_APPLY = text(
    "SELECT set_config('role', :role, true), "
    f"set_config('{RECORD_TENANTS_SETTING}', :record_tenants, true), "
    f"set_config('{DIRECTORY_TENANTS_SETTING}', :directory_tenants, true)"
)


def _render(tenants: frozenset[uuid.UUID] | None) -> str:
    if tenants is None:
        return EVERY_TENANT
    # str() of a UUID is canonical hex: nothing in it can break out of the list.
    return ",".join(sorted(str(uuid.UUID(str(tenant))) for tenant in tenants))


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class RlsScope:
    """Tenants one transaction may touch; ``None`` means every tenant."""

    record_tenants: frozenset[uuid.UUID] | None
    directory_tenants: frozenset[uuid.UUID] | None

    @cached_property
    def _parameters(self) -> dict[str, Any]:
        return {
            "role": APP_ROLE,
            "record_tenants": _render(self.record_tenants),
            "directory_tenants": _render(self.directory_tenants),
        }

    def parameters(self) -> dict[str, Any]:
        return dict(self._parameters)  # rendered once per scope (plans keep theirs)

    @cached_property
    def settings(self) -> str:
        """:data:`_APPLY` with this scope's values as literals."""
        values = self._parameters
        return (
            "SELECT "
            f"set_config('role', {_literal(values['role'])}, true), "
            f"set_config('{RECORD_TENANTS_SETTING}', {_literal(values['record_tenants'])}, true), "
            f"set_config('{DIRECTORY_TENANTS_SETTING}', "
            f"{_literal(values['directory_tenants'])}, true)"
        )


# What asyncpg's Transaction.start sends for the adapter's isolation levels that need no more
# (None: never set; "read_committed": PostgreSQL's default, set back on every check-in).
_BEGIN = {None: "BEGIN;", "read_committed": "BEGIN ISOLATION LEVEL READ COMMITTED;"}


class _ScopedTransaction:
    """The transaction :func:`_begin_scoped` began, held where SQLAlchemy's asyncpg adapter
    holds the one it begins itself; the adapter ends it the same way (COMMIT or ROLLBACK)."""

    __slots__ = ("_driver",)

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    async def commit(self) -> None:
        await self._driver.execute("COMMIT;")

    async def rollback(self) -> None:
        await self._driver.execute("ROLLBACK;")


def _begin_scoped(connection: Connection, scope: RlsScope) -> bool:
    """Begin the transaction with the scope applied, in one round trip instead of two (BEGIN,
    then :data:`_APPLY`): what every scoped request pays. Only where SQLAlchemy's asyncpg
    adapter would send a plain ``BEGIN;`` next (no transaction yet, no isolation level or
    access mode of its own, SQLAlchemy 2.1's adapter: 2.0's also kept a ``_started`` flag);
    ``False`` otherwise, and the caller sends the two."""
    adapter = connection.connection.dbapi_connection
    if (
        not isinstance(adapter, AsyncAdapt_asyncpg_connection)
        or "_started" in getattr(AsyncAdapt_asyncpg_connection, "__slots__", ("_started",))
        or adapter._transaction is not None
        or adapter.isolation_level not in _BEGIN
        or adapter.readonly
        or adapter.deferrable
    ):
        return False
    begin = _BEGIN[adapter.isolation_level]
    driver = connection.connection.driver_connection
    # Held before it is sent: whatever happens to the BEGIN, the adapter's rollback ends it.
    adapter._transaction = _ScopedTransaction(driver)
    try:
        await_(driver.execute(f"{begin} {scope.settings}"))
    except Exception as error:
        lost = driver is None or driver.is_closed()
        if lost:
            adapter._transaction = None
        raise DBAPIError(
            "BEGIN; SELECT set_config(...)", None, error, connection_invalidated=lost
        ) from error
    return True


def apply_to_connection(connection: Connection, scope: RlsScope) -> None:
    """:func:`apply` for a sync connection whose transaction begins now (session event
    handlers): on PostgreSQL with asyncpg, with the BEGIN (see :func:`_begin_scoped`)."""
    if connection.dialect.name != "postgresql":
        return
    if not _begin_scoped(connection, scope):
        connection.execute(_APPLY, scope.parameters())


async def apply(session: AsyncSession, scope: RlsScope) -> None:
    """Scope the session's current transaction (begun here if need be) on PostgreSQL."""
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(_APPLY, scope.parameters())
