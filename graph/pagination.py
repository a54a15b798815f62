"""Turning a filtered statement into a Relay connection."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select

from ..datastore.queries.pagination import SortKey, count, fetch_page
from ..errors import BadUserInput
from .context import Info
from .guard import annotate_scopes
from .relay import Connection, Edge, PageInfo
from .types.base import from_row

T = TypeVar("T")


def page_size(info: Info, first: int | None) -> int:
    limits = info.context.settings.limits
    if first is None:
        return limits.default_page_size
    if first < 0 or first > limits.max_page_size:
        raise BadUserInput(
            f"`first` must be between 0 and {limits.max_page_size}", reason="BAD_PAGE_SIZE"
        )
    return first


async def connection(
    info: Info,
    cls: type[T],
    model: Any,
    statement: Select[Any],
    sort_name: str,
    keys: list[SortKey],
    *,
    first: int | None,
    after: str | None,
) -> Connection[T]:
    ctx = info.context
    size = page_size(info, first)
    type_name = cls.__name__
    after_id = ctx.cursors.decode(after, type_name, sort_name) if after else None
    async with ctx.db() as session:
        page = await fetch_page(session, model, statement, keys, first=size, after_id=after_id)
        await annotate_scopes(session, ctx.plan, model, page.rows)
    edges = [
        Edge(cursor=ctx.cursors.encode(type_name, sort_name, row.id), node=from_row(cls, row))
        for row in page.rows
    ]

    async def counter() -> int:
        async with ctx.db() as session:
            return await count(session, statement)

    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        counter=counter,
    )
