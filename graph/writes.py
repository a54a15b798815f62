"""What every mutation shares: finding the row to change, checking the fields it writes, and one
transaction that is safe to retry with an idempotency key.

Mutations decide access here and nowhere else:
- ``write_target`` loads a row through the caller's read plan and tells which of the caller's
  write scopes it falls under (a row outside all of them is ``NOT_FOUND``, like an unseen one);
- ``require_fields`` refuses, before anything is written, input fields the write grants of those
  scopes do not cover (``FORBIDDEN``, reason ``FORBIDDEN_INPUT``, with the coordinates);
- ``transaction`` runs the write, stores its result under the idempotency key in the same
  transaction, and lets the rest of the request read what it wrote.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.plan import MODEL_TYPES, Action
from sharegraph.datastore import idempotency
from sharegraph.errors import Forbidden, NotFound
from sharegraph.graph.context import Info
from sharegraph.graph.guard import row_scopes


async def write_target(
    info: Info, model: Any, row_id: uuid.UUID | None, what: str | None = None
) -> tuple[Any, frozenset[str]]:
    """The row to change and the write scopes it falls under."""
    ctx = info.context
    what = what or MODEL_TYPES.get(model, model.__name__)
    row = await ctx.loaders.one(model, row_id) if row_id is not None else None
    if row is None:
        raise NotFound(f"no such {what}")
    async with ctx.db() as session:
        scopes = await row_scopes(session, ctx.plan, model, row, Action.WRITE)
    if not scopes:
        raise NotFound(f"no such {what} you may change")
    return row, scopes


def require_fields(
    info: Info,
    type_name: str,
    owner: uuid.UUID,
    fields: Iterable[str],
    scopes: frozenset[str] | None,
) -> None:
    """``FORBIDDEN_INPUT`` unless the caller may write every field (``scopes`` ``None``: a new
    row, which only an ``all`` grant covers)."""
    plan = info.context.plan
    denied = sorted(
        f"{type_name}.{name}"
        for name in fields
        if not plan.can_write(type_name, owner, name, scopes)
    )
    if denied:
        raise Forbidden(
            f"you may not write {', '.join(denied)}",
            reason="FORBIDDEN_INPUT",
            coordinates=denied,
        )


def plain(value: Any) -> Any:
    """A strawberry input as plain JSON-able data, left-out fields dropped (for hashing)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not strawberry.UNSET
        }
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


@dataclass
class Write:
    """One write transaction. ``replayed`` holds an earlier result for the same idempotency key;
    the mutation then skips its work and answers with it. Put what the mutation returns (ids as
    strings) in ``result`` so a retry can answer the same."""

    session: AsyncSession
    replayed: dict[str, Any] | None = None
    result: dict[str, Any] = field(default_factory=dict)


@asynccontextmanager
async def transaction(
    info: Info, operation: str, input: Any, idempotency_key: str | None = None
) -> AsyncIterator[Write]:
    ctx = info.context
    principal_id = ctx.principal.id
    # Give the read connection back first: a request holding one while it waits for another
    # would, under load, leave the pool to requests that all wait on each other.
    await ctx.see_own_writes()
    async with ctx.write_session() as session:
        write = Write(session)
        if idempotency_key is not None:
            write.replayed = await idempotency.claim(
                session, principal_id, idempotency_key, operation, plain(input)
            )
        yield write
        if idempotency_key is not None and write.replayed is None:
            await idempotency.remember(session, principal_id, idempotency_key, write.result)
    await ctx.see_own_writes()


def forget_cached(info: Info, model: Any, row_id: uuid.UUID) -> None:
    """Drop a row from the request's loader so the payload shows it as written."""
    loader = info.context.loaders.by_id(model)
    with contextlib.suppress(KeyError):  # strawberry raises when nothing was cached
        loader.clear(row_id)
