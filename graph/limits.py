"""Depth, alias and cost limits, decided on the parsed operation before anything executes.

Cost: every field costs 1; a connection multiplies what it contains by its `first` (the
default page size when absent); a plain-list relation multiplies by `plain_list_cost`.
Introspection fields (`__schema`, `__type`) are not counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension

from ..errors import QueryTooComplex
from ..settings import Limits


@dataclass
class Measure:
    cost: int = 0
    depth: int = 0
    aliases: int = 0


def _is_list(gql_type: Any) -> bool:
    while isinstance(gql_type, GraphQLNonNull):
        gql_type = gql_type.of_type
    return isinstance(gql_type, GraphQLList)


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: dict[str, Any],
        limits: Limits,
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.measure = Measure()

    def _first(self, field: FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(0, int(value.value))
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                if isinstance(given, int):
                    return max(0, given)
        return self.limits.default_page_size

    def _fields(
        self, selection_set: SelectionSetNode, parent: Any, seen: frozenset[str]
    ) -> Iterator[tuple[FieldNode, Any]]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                yield from self._fields(selection.selection_set, target, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value)
                yield from self._fields(fragment.selection_set, target, seen | {name})

    def cost(self, selection_set: SelectionSetNode, parent: Any, depth: int) -> int:
        total = 0
        self.measure.depth = max(self.measure.depth, depth)
        for field, owner in self._fields(selection_set, parent, frozenset()):
            name = field.name.value
            if name.startswith("__"):
                continue
            if field.alias is not None:
                self.measure.aliases += 1
            definition = getattr(owner, "fields", {}).get(name)
            if definition is None:
                continue
            named = get_named_type(definition.type)
            owner_name = getattr(owner, "name", "")
            if named.name.endswith("Connection") and "first" in definition.args:
                multiplier = self._first(field)
            elif _is_list(definition.type) and not owner_name.endswith("Connection"):
                multiplier = self.limits.plain_list_cost
            else:
                multiplier = 1
            inner = self.cost(field.selection_set, named, depth + 1) if field.selection_set else 0
            total += 1 + multiplier * inner
        return total


def measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any],
    limits: Limits,
) -> Measure:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    operation = next(
        (
            o
            for o in operations
            if operation_name is None or (o.name and o.name.value == operation_name)
        ),
        None,
    )
    walker = _Walker(schema, document, variables, limits)
    if operation is None:
        return walker.measure
    root = schema.get_root_type(operation.operation)
    walker.measure.cost = walker.cost(operation.selection_set, root, 1)
    return walker.measure


def enforce(measured: Measure, limits: Limits) -> None:
    if measured.depth > limits.max_depth:
        raise QueryTooComplex(
            f"the operation is {measured.depth} levels deep; the limit is {limits.max_depth}",
            reason="DEPTH",
        )
    if measured.aliases > limits.max_aliases:
        raise QueryTooComplex(
            f"the operation uses {measured.aliases} aliases; the limit is {limits.max_aliases}",
            reason="ALIASES",
        )
    if measured.cost > limits.max_cost:
        raise QueryTooComplex(
            f"the operation's estimated cost is {measured.cost}; the limit is {limits.max_cost}. "
            "Ask for smaller pages (`first`) or fewer nested lists",
            reason="COST",
            cost=measured.cost,
        )


class OperationLimits(SchemaExtension):
    """Refuses operations over the limits before any resolver runs."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        limits = ctx.context.settings.limits
        if ctx.graphql_document is not None:
            measured = measure(
                ctx.schema._schema,
                ctx.graphql_document,
                ctx.operation_name,
                ctx.variables or {},
                limits,
            )
            enforce(measured, limits)
        yield
