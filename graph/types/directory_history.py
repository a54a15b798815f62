"""Field history of directory records (HSDS ``metadata``), newest first."""

from __future__ import annotations

from typing import Any

import strawberry

from sharegraph.datastore import models as m
from sharegraph.graph.context import Info
from sharegraph.graph.guard import camel, readable_fields
from sharegraph.graph.types.base import many
from sharegraph.graph.types.catalogued import shared_type


def coordinate_field(column: str, *, reference: bool = False) -> str:
    """The GraphQL field (coordinate) a directory column is read through: ``year_incorporated``
    -> ``yearIncorporated``; a reference to another record, ``organization_id`` ->
    ``organization``."""
    return camel(column.removesuffix("_id") if reference else column)


def _readable(column: str, readable: frozenset[str]) -> bool:
    # A name that is not a field of the type is never in `readable`, so trying both spellings
    # cannot widen anything.
    return coordinate_field(column) in readable or (
        column.endswith("_id") and coordinate_field(column, reference=True) in readable
    )


@shared_type("DirectoryChange")
class DirectoryChange:
    row: strawberry.Private[Any]


async def history_of(info: Info, type_name: str, record: Any) -> list[DirectoryChange]:
    """The record's changes, batched across records; changes of fields the caller may not read
    on this record are left out, or history would reveal them."""
    loader = info.context.loaders.children(
        m.DirectoryChange,
        "resource_id",
        (m.DirectoryChange.changed_at.desc(), m.DirectoryChange.field_name),
    )
    readable = readable_fields(info.context.disclosure, type_name, record)
    rows = [
        r
        for r in await loader.load(record.id)
        if r.field_name is None or _readable(r.field_name, readable)
    ]
    return many(DirectoryChange, rows)
