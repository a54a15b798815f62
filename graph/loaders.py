"""Per-request DataLoaders: every relation resolves in batches, through the access plan.

Created per request (never shared: a shared loader is a cache shared across tenants).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from sharegraph.graph.guard import annotate_scopes
from sharegraph.queries import rows
from sharegraph.queries.consents import consents_of

if TYPE_CHECKING:
    from sharegraph.graph.context import RequestContext


class Loaders:
    def __init__(self, context: RequestContext) -> None:
        self._context = context
        self._by_id: dict[Any, DataLoader[uuid.UUID, Any]] = {}
        self._consents: DataLoader[uuid.UUID, list[Any]] | None = None
        self._children: dict[
            tuple[Any, str, tuple[Any, ...]], DataLoader[uuid.UUID, list[Any]]
        ] = {}

    def by_id(self, model: Any) -> DataLoader[uuid.UUID, Any]:
        """Rows of ``model`` by primary key; ``None`` for rows outside the plan."""
        loader = self._by_id.get(model)
        if loader is None:

            async def load(ids: list[uuid.UUID]) -> list[Any]:
                async with self._context.db() as session:
                    found = await rows.by_ids(session, self._context.plan, model, ids)
                    await annotate_scopes(session, self._context.plan, model, list(found.values()))
                return [found.get(i) for i in ids]

            loader = self._by_id[model] = DataLoader(load_fn=load)
        return loader

    def children(
        self, model: Any, parent_column: str, order: Sequence[Any] = ()
    ) -> DataLoader[uuid.UUID, list[Any]]:
        """Rows of ``model`` whose ``parent_column`` is the key, within the plan."""
        key = (model, parent_column, tuple(str(o) for o in order))
        loader = self._children.get(key)
        if loader is None:

            async def load(parent_ids: list[uuid.UUID]) -> list[list[Any]]:
                async with self._context.db() as session:
                    grouped = await rows.children(
                        session, self._context.plan, model, parent_column, parent_ids, order
                    )
                    every = [row for group in grouped.values() for row in group]
                    await annotate_scopes(session, self._context.plan, model, every)
                return [grouped.get(i, []) for i in parent_ids]

            loader = self._children[key] = DataLoader(load_fn=load)
        return loader

    async def consents(self, client_id: uuid.UUID) -> list[Any]:
        """A client's Part 2 consents. Read to decide a disclosure, never returned to callers."""
        if self._consents is None:

            async def load(client_ids: list[uuid.UUID]) -> list[list[Any]]:
                async with self._context.db() as session:
                    grouped = await consents_of(session, client_ids)
                return [grouped.get(i, []) for i in client_ids]

            self._consents = DataLoader(load_fn=load)
        return await self._consents.load(client_id)

    async def one(self, model: Any, row_id: uuid.UUID | None) -> Any:
        if row_id is None:
            return None
        return await self.by_id(model).load(row_id)

    async def many(self, model: Any, row_ids: Sequence[uuid.UUID]) -> list[Any]:
        found = await self.by_id(model).load_many(list(row_ids))
        return [row for row in found if row is not None]
