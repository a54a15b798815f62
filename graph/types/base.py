"""Building GraphQL objects from rows, and the registry behind `node(id:)` and `_entities`."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sharegraph.graph.relay import to_global_id

T = TypeVar("T")

# GraphQL type name -> (model, GraphQL class); filled by @node_type.
NODE_TYPES: dict[str, tuple[Any, Any]] = {}


def node_type(model: Any) -> Any:
    """Register a GraphQL type as a Node backed by ``model``, resolvable as a federation entity.

    ``resolve_reference`` goes through the request's loader, so ``_entities`` is batched and
    filtered by the access plan like every other path.
    """

    def register(cls: type[T]) -> type[T]:
        NODE_TYPES[cls.__name__] = (model, cls)

        async def resolve_reference(kls: Any, info: Any, id: str) -> Any:
            from sharegraph.graph.relay import from_global_id

            _, row_id = from_global_id(id, expected=kls.__name__)
            return maybe(kls, await info.context.loaders.one(model, row_id))

        cls.resolve_reference = classmethod(resolve_reference)  # type: ignore[attr-defined]
        return cls

    return register


def _plain_fields(cls: Any) -> list[tuple[str, str]]:
    """(field, row attribute) of the fields copied from the row."""
    cached = cls.__dict__.get("_sg_plain_fields")
    if cached is None:
        from sharegraph.graph.types.catalogued import column_attributes

        attributes = column_attributes(cls.__name__)
        cached = [
            (f.python_name, attributes.get(f.python_name, f.python_name))
            for f in cls.__strawberry_definition__.fields
            if f.base_resolver is None and f.python_name not in {"id", "row"}
        ]
        cls._sg_plain_fields = cached
    return cached  # type: ignore[no-any-return]


def from_row(cls: type[T], row: Any) -> T:
    """An instance of GraphQL type ``cls`` with its plain fields copied from ``row``.

    Fields that need loaders are resolvers on the class; they read ``self.row``.
    """
    values = {name: getattr(row, attribute, None) for name, attribute in _plain_fields(cls)}
    if "uuid" in values:
        values["uuid"] = row.id
    if cls.__name__ in NODE_TYPES:
        values["id"] = to_global_id(cls.__name__, row.id)
    return cls(row=row, **values)  # type: ignore[call-arg]


def maybe(cls: type[T], row: Any | None) -> T | None:
    return None if row is None else from_row(cls, row)


def many(cls: type[T], rows: list[Any]) -> list[T]:
    return [from_row(cls, row) for row in rows]


def ids(rows: list[Any]) -> list[uuid.UUID]:
    return [row.id for row in rows]
