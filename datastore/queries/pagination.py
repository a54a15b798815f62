"""Keyset pagination: pages bound to a sort, resumed after a row id (never after its values)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...errors import BadUserInput

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


def _after(model: Any, keys: Sequence[SortKey], after_id: uuid.UUID) -> ColumnElement[bool]:
    """Rows strictly after the cursor row in the sort order.

    The cursor row's sort values are read by the database from the row itself, so cursors
    never carry a row's values. The last key must be unique (the primary key).
    """
    values = [select(key.column).where(model.id == after_id).scalar_subquery() for key in keys]
    clauses = []
    for i, key in enumerate(keys):
        equal_prefix = [keys[j].column == values[j] for j in range(i)]
        beyond = key.column < values[i] if key.descending else key.column > values[i]
        clauses.append(and_(*equal_prefix, beyond))
    return or_(*clauses)


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
        paged = paged.where(_after(model, keys, after_id))
    result = await session.scalars(paged.order_by(*order_by(keys)).limit(first + 1))
    rows = list(result.all())
    if after_id is not None and not rows:
        # Empty because the cursor row is gone (or now outside the caller's rows)?
        still_there = await session.scalar(select(exists(statement.where(model.id == after_id))))
        if not still_there:
            raise BadUserInput(
                "the `after` cursor points at a record that no longer exists for you; "
                "start again from the first page",
                reason="STALE_CURSOR",
            )
    return Page(rows=rows[:first], has_next=len(rows) > first, has_previous=after_id is not None)


async def count(session: AsyncSession, statement: Select[Any]) -> int:
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    return int(await session.scalar(counted) or 0)
