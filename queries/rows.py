"""Batch lookups behind the per-request DataLoaders; each applies the plan's row filter."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.chunks import chunks

if TYPE_CHECKING:
    from sharegraph.authz.plan import AccessPlan


async def by_ids(
    session: AsyncSession, plan: AccessPlan, model: Any, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    found: dict[uuid.UUID, Any] = {}
    for batch in chunks(ids):
        statement = select(model).where(model.id.in_(batch), plan.row_filter(model))
        found.update((row.id, row) for row in (await session.scalars(statement)).all())
    return found


async def children(
    session: AsyncSession,
    plan: AccessPlan,
    model: Any,
    parent_column: str,
    parent_ids: Sequence[uuid.UUID],
    order: Sequence[Any] = (),
) -> dict[uuid.UUID, list[Any]]:
    """Rows of ``model`` grouped by ``parent_column``, in ``order`` (then by id)."""
    grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
    column = getattr(model, parent_column)
    # A parent's rows all come from its one chunk, so each group keeps the statement's order.
    for batch in chunks(parent_ids):
        statement = (
            select(model)
            .where(column.in_(batch), plan.row_filter(model))
            .order_by(*order, model.id)
        )
        for row in (await session.scalars(statement)).all():
            grouped[getattr(row, parent_column)].append(row)
    return grouped
