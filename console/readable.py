"""What the signed-in person may ever read, from ``viewer { permissions }`` (asked once per
page render: not kept, so an agreement changed a moment ago shows at once), so pages do not
request fields no agreement or role grants them. Fields withheld only on some rows still come
back as ``FORBIDDEN_FIELD`` and show as withheld."""

from __future__ import annotations

from functools import cache

from fastapi import Request
from graphql import (
    DocumentNode,
    FieldNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    print_ast,
)

from sharegraph.console.graph_client import document, run


async def readable(request: Request) -> frozenset[tuple[str, str]] | None:
    """``(typeName, field)`` pairs the person may read on some rows; None when unknown (then
    pages request everything and rely on ``FORBIDDEN_FIELD``)."""
    result = await run(request, "permissions")
    entries = ((result.data or {}).get("viewer") or {}).get("permissions")
    if result.problems or not isinstance(entries, list):
        return None
    return frozenset(
        (str(e["typeName"]), str(e["field"]).split(".", 1)[0])
        for e in entries
        if e.get("action") == "read"
    )


@cache
def _parsed(name: str) -> DocumentNode:
    return parse(document(name))


Prune = dict[tuple[str, ...], tuple[str, frozenset[str]]]


def pruned(name: str, prune: Prune, allowed: frozenset[tuple[str, str]]) -> str:
    """The document ``name`` without the fields it may never read: ``prune`` maps a parent
    path (field names from the operation's root) to the shared type there and the fields
    of it that are left out unless ``(type, field)`` is in ``allowed``."""
    source = _parsed(name)

    def walk(selections: SelectionSetNode, at: tuple[str, ...]) -> SelectionSetNode:
        type_name, candidates = prune.get(at, ("", frozenset()))
        kept = []
        for node in selections.selections:
            if isinstance(node, FieldNode):
                key = node.name.value
                if key in candidates and (type_name, key) not in allowed:
                    continue
                if node.selection_set is not None:
                    inner = walk(node.selection_set, (*at, key))
                    if not inner.selections:
                        continue
                    node = FieldNode(
                        alias=node.alias,
                        name=node.name,
                        arguments=node.arguments,
                        directives=node.directives,
                        selection_set=inner,
                    )
            kept.append(node)
        return SelectionSetNode(selections=tuple(kept))

    definitions = []
    for definition in source.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            definitions.append(definition)
            continue
        definitions.append(
            OperationDefinitionNode(
                operation=definition.operation,
                name=definition.name,
                variable_definitions=definition.variable_definitions,
                directives=definition.directives,
                selection_set=walk(definition.selection_set, ()),
            )
        )
    return print_ast(DocumentNode(definitions=tuple(definitions)))
