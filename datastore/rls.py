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
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

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


def apply_to_connection(connection: Connection, scope: RlsScope) -> None:
    """:func:`apply` for a sync connection inside a transaction (session event handlers)."""
    if connection.dialect.name != "postgresql":
        return
    connection.execute(_APPLY, scope.parameters())


async def apply(session: AsyncSession, scope: RlsScope) -> None:
    """Scope the session's current transaction (begun here if need be) on PostgreSQL."""
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(_APPLY, scope.parameters())
