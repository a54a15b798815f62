"""Refuses, before anything runs, text no database can store: U+0000 (PostgreSQL refuses it in
text and jsonb, SQLite keeps it and every export then carries it) and lone surrogates (a JSON
escape can spell one; UTF-8 cannot encode it).

One check for every operation, read or write, and both backends alike: every string in the
variables (JSON answers and their keys included) and every string literal of the document.
The answer is ``BAD_USER_INPUT`` / ``BAD_CHARACTER`` naming where the string was.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
)
from strawberry.types import ExecutionContext

from sharegraph.datastore.values import first_unstorable, text_problem
from sharegraph.errors import BadUserInput
from sharegraph.graph.document_cache import MAX_CACHED_CHARS


def _arguments(
    selection_set: SelectionSetNode | None, field: str
) -> Iterator[tuple[str, ValueNode]]:
    for selection in selection_set.selections if selection_set else ():
        name = selection.name.value if isinstance(selection, FieldNode) else field
        directives: tuple[DirectiveNode, ...] = tuple(selection.directives or ())
        for directive in directives:
            for argument in directive.arguments or ():
                yield f"{name}@{directive.name.value}.{argument.name.value}", argument.value
        if isinstance(selection, FieldNode):
            for argument in selection.arguments or ():
                yield f"{name}.{argument.name.value}", argument.value
        yield from _arguments(getattr(selection, "selection_set", None), name)


def _literals(document: DocumentNode) -> Iterator[tuple[str, ValueNode]]:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            for variable in definition.variable_definitions or ():
                if variable.default_value is not None:
                    yield f"${variable.variable.name.value}", variable.default_value
        if isinstance(definition, ExecutableDefinitionNode):
            yield from _arguments(definition.selection_set, "")


def _unstorable_literal(value: ValueNode, path: str) -> tuple[str, str] | None:
    if isinstance(value, StringValueNode):
        problem = text_problem(value.value)
        return (path, problem) if problem else None
    if isinstance(value, ObjectValueNode):
        for field in value.fields:
            found = _unstorable_literal(field.value, f"{path}.{field.name.value}")
            if found:
                return found
    if isinstance(value, ListValueNode):
        for index, item in enumerate(value.values):
            found = _unstorable_literal(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _unstorable_literals(document: DocumentNode) -> tuple[str, str] | None:
    for path, value in _literals(document):
        found = _unstorable_literal(value, path)
        if found:
            return found
    return None


# A document's literals, checked once per text (its parse is the same every time), for the
# small documents the parse cache keeps: clients send the same few again and again.
_CHECKED: OrderedDict[str, tuple[str, str] | None] = OrderedDict()
CHECKED_REMEMBERED = 256


def unstorable_input(
    document: DocumentNode, variables: dict[str, Any] | None, query: str | None = None
) -> tuple[str, str] | None:
    """The first input string that cannot be stored: (where, why), or None. ``query``: the
    text ``document`` was parsed from, if known."""
    found = first_unstorable(variables or {})
    if found:
        return f"${found[0]}", found[1]
    if query is None or len(query) > MAX_CACHED_CHARS:
        return _unstorable_literals(document)
    if query in _CHECKED:
        _CHECKED.move_to_end(query)
        return _CHECKED[query]
    literal = _CHECKED[query] = _unstorable_literals(document)
    if len(_CHECKED) > CHECKED_REMEMBERED:
        _CHECKED.popitem(last=False)
    return literal


def refuse_unstorable_input(ctx: ExecutionContext) -> None:
    """Refuses the operation when an input string holds a character no database can store.
    Before validation: its messages repeat literals, and a lone surrogate cannot even be sent
    back as JSON."""
    if ctx.graphql_document is not None:
        found = unstorable_input(ctx.graphql_document, ctx.variables, ctx.query)
        if found is not None:
            where, problem = found
            raise BadUserInput(
                f"`{where}` {problem}; remove it", reason="BAD_CHARACTER", field=where
            )
