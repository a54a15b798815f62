"""Batch lookups behind the per-request DataLoaders; each applies the plan's row filter."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from ...authz.plan import AccessPlan


async def by_ids(
    session: AsyncSession, plan: AccessPlan, model: Any, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    if not ids:
        return {}
    statement = select(model).where(model.id.in_(set(ids)), plan.row_filter(model))
    return {row.id: row for row in (await session.scalars(statement)).all()}


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
    if not parent_ids:
        return grouped
    column = getattr(model, parent_column)
    statement = (
        select(model)
        .where(column.in_(set(parent_ids)), plan.row_filter(model))
        .order_by(*order, model.id)
    )
    for row in (await session.scalars(statement)).all():
        grouped[getattr(row, parent_column)].append(row)
    return grouped
