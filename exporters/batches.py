"""Reading a table in keyset batches: constant memory, one statement per batch, resumable order.

Rows are ordered by a unique key (a sort column, then the id) and each batch starts after the
last row of the previous one, so no OFFSET scan grows with the export. Run it inside one read
transaction for one consistent snapshot (see ``exporters.run``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, and_, func, or_
from sqlalchemy.ext.asyncio import AsyncSession

DEFAULT_BATCH_SIZE = 200


def _name_key(model: Any) -> Any:
    name = getattr(model, "name", None)
    if name is None:
        return None
    return func.coalesce(name, "") if model.__table__.c.name.nullable else name


async def keyset_batches(
    session: AsyncSession,
    model: Any,
    statement: Select[Any],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    by_name: bool = True,
) -> AsyncIterator[list[Any]]:
    """ORM rows of ``statement`` (a ``select(model)``), ``batch_size`` at a time, ordered by
    name (when ``by_name`` and the model has one) then id."""
    name = _name_key(model) if by_name else None
    order = [model.id] if name is None else [name, model.id]
    ordered = statement.order_by(*order).limit(batch_size)
    last: tuple[Any, Any] | None = None
    while True:
        page = ordered
        if last is not None:
            last_name, last_id = last
            after = (
                model.id > last_id
                if name is None
                else or_(name > last_name, and_(name == last_name, model.id > last_id))
            )
            page = ordered.where(after)
        rows = list((await session.scalars(page)).all())
        if not rows:
            return
        yield rows
        tail = rows[-1]
        last = (None if name is None else (getattr(tail, "name", None) or ""), tail.id)
        session.expunge_all()
        if len(rows) < batch_size:
            return
