"""Keyset pagination: pages bound to a sort, resumed after a row id (never after its values)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.errors import BadUserInput

Row = TypeVar("Row")


@dataclass(frozen=True)
class SortKey:
    column: Any  # a column of the paginated model
    descending: bool = False


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    has_next: bool
    has_previous: bool


def _after(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after the cursor row (whose sort values are ``values``) in the sort order.

    The last key must be unique (the primary key).
    """
    clauses = []
    for i, key in enumerate(keys):
        equal_prefix = [keys[j].column == values[j] for j in range(i)]
        beyond = key.column < values[i] if key.descending else key.column > values[i]
        clauses.append(and_(*equal_prefix, beyond))
    return or_(*clauses)


async def _cursor_values(
    session: AsyncSession,
    model: Any,
    statement: Select[Any],
    keys: Sequence[SortKey],
    after_id: uuid.UUID,
) -> Sequence[Any]:
    """The cursor row's sort values, read from the row itself and only through ``statement``
    (the caller's filtered rows): cursors never carry values, and a cursor naming a row the
    caller cannot see reveals nothing about where it sorts."""
    found = (
        await session.execute(
            statement.with_only_columns(*(k.column for k in keys))
            .where(model.id == after_id)
            .order_by(None)
        )
    ).first()
    if found is None:
        raise BadUserInput(
            "the `after` cursor points at a record that does not exist for you (any more); "
            "start again from the first page",
            reason="STALE_CURSOR",
        )
    return tuple(found)


def order_by(keys: Sequence[SortKey]) -> list[Any]:
    return [key.column.desc() if key.descending else key.column.asc() for key in keys]


async def fetch_page(
    session: AsyncSession,
    model: Any,
    statement: Select[Any],
    keys: Sequence[SortKey],
    *,
    first: int,
    after_id: uuid.UUID | None,
) -> Page[Any]:
    """One page of ``statement`` (already filtered by the access plan), ``first`` rows long."""
    paged = statement
    if after_id is not None:
        values = await _cursor_values(session, model, statement, keys, after_id)
        paged = paged.where(_after(keys, values))
    result = await session.scalars(paged.order_by(*order_by(keys)).limit(first + 1))
    rows = list(result.all())
    return Page(rows=rows[:first], has_next=len(rows) > first, has_previous=after_id is not None)


async def count(session: AsyncSession, statement: Select[Any]) -> int:
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    return int(await session.scalar(counted) or 0)
