"""A cap on list inputs, checked on the parsed operation and its variables before execution.

Lists a caller sends become batches of SQL lookups (``_entities`` representations, ``ids``
filters, ``tenantIds``, ...). One long enough to need tens of thousands of bound parameters
failed in the database once per entity and took the process to gigabytes; this check refuses
such a request with ``BAD_USER_INPUT`` / ``LIST_TOO_LONG`` before graphql-core coerces the
variables or any resolver runs. It looks at every list anywhere in an argument, written in the
document or passed in a variable, so no input type needs its own check.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    ValueNode,
    VariableNode,
)
from strawberry.types import ExecutionContext

from sharegraph.errors import BadUserInput
from sharegraph.graph.document_cache import beside


def _arguments(document: DocumentNode) -> tuple[tuple[str, ValueNode], ...]:
    """(name, value) of every argument in the document (fields and directives, in operations
    and fragments), and of every variable's default value as ``$name``; worked out once per
    parsed document."""
    kept = beside(document)
    found: tuple[tuple[str, ValueNode], ...] | None = kept.get(_ARGUMENTS)
    if found is None:
        found = kept[_ARGUMENTS] = tuple(_walk_arguments(document))
    return found


_ARGUMENTS = "arguments"


def _walk_arguments(document: DocumentNode) -> Iterator[tuple[str, ValueNode]]:
    stack: list[Node] = list(document.definitions)
    while stack:
        node = stack.pop()
        for definition in getattr(node, "variable_definitions", None) or ():
            if definition.default_value is not None:
                yield f"${definition.variable.name.value}", definition.default_value
        for argument in getattr(node, "arguments", None) or ():
            yield argument.name.value, argument.value
        for directive in getattr(node, "directives", None) or ():
            stack.append(directive)
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)


def _lists(
    start: ValueNode | Any, where: str, variables: Mapping[str, Any], used: set[str]
) -> Iterator[tuple[str, int]]:
    """(where, length) of every list in ``start``: a literal, or a variable's value. Walked
    with a stack, since a variable's value may nest deeper than the interpreter recurses."""
    stack: list[tuple[str, Any]] = [(where, start)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, VariableNode):
            used.add(value.name.value)
            stack.append((path, variables.get(value.name.value)))
        elif isinstance(value, ListValueNode):
            yield path, len(value.values)
            stack.extend((path, item) for item in value.values)
        elif isinstance(value, ObjectValueNode):
            stack.extend((f"{path}.{f.name.value}", f.value) for f in value.fields)
        elif isinstance(value, list):
            yield path, len(value)
            stack.extend((path, item) for item in value)
        elif isinstance(value, dict):
            stack.extend((f"{path}.{key}", item) for key, item in value.items())


def too_long_list(
    document: DocumentNode, variables: Mapping[str, Any], limit: int
) -> tuple[str, int] | None:
    """The first input list longer than ``limit``, as (argument path, length); else None."""
    used: set[str] = set()
    for name, value in _arguments(document):
        for where, length in _lists(value, name, variables, used):
            if length > limit:
                return where, length
    # A variable no argument uses is never coerced, but it was sent: hold it to the same cap.
    for name, value in variables.items():
        if name not in used:
            for where, length in _lists(value, f"${name}", variables, used):
                if length > limit:
                    return where, length
    return None


def enforce(document: DocumentNode, variables: Mapping[str, Any], limit: int) -> None:
    found = too_long_list(document, variables, limit)
    if found is None:
        return
    where, length = found
    raise BadUserInput(
        f"`{where}` holds {length:,} items; the limit is {limit:,} per list. "
        "Send the items in several requests",
        reason="LIST_TOO_LONG",
        argument=where,
        limit=limit,
    )


def check_list_limits(ctx: ExecutionContext) -> None:
    """Refuses an operation with an over-long input list before anything executes."""
    if ctx.graphql_document is not None:
        enforce(
            ctx.graphql_document, ctx.variables or {}, ctx.context.settings.limits.max_list_items
        )
