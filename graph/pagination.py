"""Turning a filtered statement into a Relay connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.errors import BadUserInput
from sharegraph.graph.context import Info
from sharegraph.graph.guard import annotate_scopes
from sharegraph.graph.relay import Connection, Edge, PageInfo
from sharegraph.graph.types.base import from_row
from sharegraph.queries.pagination import SortKey, count, fetch_page

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
    """A page of a domain type's rows, with the row scopes the field guard needs."""

    async def build(session: AsyncSession, rows: list[Any]) -> list[T]:
        await annotate_scopes(session, info.context.plan, model, rows)
        return [from_row(cls, row) for row in rows]

    return await page_connection(
        info, cls.__name__, model, statement, sort_name, keys, first=first, after=after, build=build
    )


async def page_connection(
    info: Info,
    type_name: str,
    model: Any,
    statement: Select[Any],
    sort_name: str,
    keys: list[SortKey],
    *,
    first: int | None,
    after: str | None,
    build: Callable[[AsyncSession, list[Any]], Awaitable[list[T]]],
) -> Connection[T]:
    """A keyset page of ``statement`` as a connection; ``build`` turns the page's rows into
    nodes, in the same session (so it can batch what the nodes need)."""
    ctx = info.context
    size = page_size(info, first)
    after_id = ctx.cursors.decode(after, type_name, sort_name) if after else None
    async with ctx.db() as session:
        page = await fetch_page(session, model, statement, keys, first=size, after_id=after_id)
        nodes = await build(session, page.rows)
    edges = [
        Edge(cursor=ctx.cursors.encode(type_name, sort_name, row.id), node=node)
        for row, node in zip(page.rows, nodes, strict=True)
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
