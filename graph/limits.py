"""Depth, alias, cost and field-count limits, decided on the parsed document before it is
validated or executed.

Cost: every field costs 1; a connection multiplies what it contains by its `first` (the
default page size when absent); a plain-list relation multiplies by `plain_list_cost`.
Introspection (`__typename`, and what `__schema` and `__type` select) adds no cost or depth,
nor do fields the schema does not know (validation refuses those). Every field node counts
towards `max_fields`, and every aliased one towards `max_aliases`, with fragments expanded.

Each fragment is measured once and every spread adds its numbers again, so a ladder of
fragments that each spread the one below twice is refused after a walk proportional to the
document, not to its expansion; numbers saturate, so the arithmetic stays small. Every
operation and fragment of the document is held to the limits, not only the operation that
runs, because graphql-core validates all of them.

Validation itself is bounded too: graphql-core's overlapping-fields rule compares fields of
the same response name, and fragments spread together, pairwise (quadratic in one selection
set). It gets a budget proportional to `max_fields`, and the walk counts the pairs it will
surely compare, so the plain cases (a field repeated 1,000 times) are refused before it runs.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OverlappingFieldsCanBeMergedRule,
    SelectionSetNode,
    ValidationContext,
    ValueNode,
    VariableNode,
    get_named_type,
)
from graphql.validation.validate import ValidationAbortedError
from strawberry.types import ExecutionContext

from sharegraph.errors import BadUserInput, QueryTooComplex, quote
from sharegraph.graph.document_cache import MAX_CACHED_CHARS
from sharegraph.settings import Limits

# Every cost above this is simply too costly; saturating keeps the numbers machine-sized.
_SATURATED = 10**15

# Units of graphql-core's overlapping-fields budget (2 per comparison of two fields with the
# same response name, or of two fragments) allowed per field of `max_fields`. The documents of
# the test suite spend at most 9 units; spending the default 20,000 takes ~50-150 ms.
OVERLAP_BUDGET_PER_FIELD = 10
_UNITS_PER_PAIR = 2


@dataclass
class Measure:
    cost: int = 0
    depth: int = 0
    aliases: int = 0
    fields: int = 0
    # Units the overlapping-fields rule will spend at least, over the whole document.
    overlaps: int = 0
    definition: str = "the operation"


class _Passed(Exception):
    """A limit is passed: the walk stops with the measure of the definition that passed it."""

    def __init__(self, measured: Measure) -> None:
        super().__init__(measured.definition)
        self.measured = measured


def _is_list(gql_type: Any) -> bool:
    while isinstance(gql_type, GraphQLNonNull):
        gql_type = gql_type.of_type
    return isinstance(gql_type, GraphQLList)


@dataclass
class _Group:
    """What one selection set gives the overlapping-fields rule to compare: its fields (inline
    fragments flattened in) by response name, and the fragments it spreads."""

    names: dict[str, int]
    spreads: set[str]


def _counted(gql_type: GraphQLNamedType | None) -> bool:
    """Whether fields selected on this type add depth and cost: the schema's own types do,
    introspection types and unknown ones do not."""
    return gql_type is not None and not gql_type.name.startswith("__")


def _spread_names(selection_set: SelectionSetNode) -> list[str]:
    names: list[str] = []
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names.append(selection.name.value)
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                pending.append(selection.selection_set)
    return names


def _dependency_order(fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """Fragment names, each after the fragments it spreads. Iterative, because a chain of
    fragments can be longer than Python's recursion limit; a spread closing a cycle is
    ignored (validation refuses cycles)."""
    spreads = {name: _spread_names(fragment.selection_set) for name, fragment in fragments.items()}
    order: list[str] = []
    entered: set[str] = set()
    for root in spreads:
        if root in entered:
            continue
        entered.add(root)
        stack = [(root, iter(spreads[root]))]
        while stack:
            name, pending = stack[-1]
            child = next(pending, None)
            if child is None:
                stack.pop()
                order.append(name)
            elif child in spreads and child not in entered:
                entered.add(child)
                stack.append((child, iter(spreads[child])))
    return order


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        defaults: dict[str, ValueNode],
        limits: Limits,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.defaults = defaults
        self.limits = limits
        self.summaries: dict[str, Measure] = {}
        self.current = Measure()
        self.in_operation = False
        self.overlaps = 0
        self.overlap_budget = limits.max_fields * OVERLAP_BUDGET_PER_FIELD

    def measure_fragments(self) -> None:
        for name in _dependency_order(self.fragments):
            fragment = self.fragments[name]
            parent = self.schema.get_type(fragment.type_condition.name.value)
            self.summaries[name] = self._definition(
                fragment.selection_set, parent, f"fragment {name}", in_operation=False
            )

    def measure_operation(self, operation: OperationDefinitionNode) -> Measure:
        root = self.schema.get_root_type(operation.operation)
        label = f"operation {operation.name.value}" if operation.name else "the operation"
        measured = self._definition(operation.selection_set, root, label, in_operation=True)
        if measured.cost > self.limits.max_cost:
            raise _Passed(measured)
        return measured

    def _definition(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType | None,
        label: str,
        *,
        in_operation: bool,
    ) -> Measure:
        self.current = Measure(definition=label)
        self.in_operation = in_operation
        self.current.cost = self._selections(selection_set, parent, 1)
        return self.current

    def _check(self) -> None:
        measured, limits = self.current, self.limits
        if (
            measured.depth > limits.max_depth
            or measured.aliases > limits.max_aliases
            or measured.fields > limits.max_fields
            or self.overlaps > self.overlap_budget
        ):
            measured.overlaps = self.overlaps
            raise _Passed(measured)

    def _selections(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType | None,
        level: int,
        group: _Group | None = None,
    ) -> int:
        measured = self.current
        counted = _counted(parent)
        if group is None:
            group = _Group({}, set())
        if counted and level > measured.depth:
            measured.depth = level
            self._check()
        cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                measured.fields += 1
                if selection.alias is not None:
                    measured.aliases += 1
                response = (selection.alias or selection.name).value
                same = group.names.get(response, 0)
                group.names[response] = same + 1
                self.overlaps += _UNITS_PER_PAIR * same
                self._check()
                cost += self._field(selection, parent if counted else None, level)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                cost += self._selections(
                    selection.selection_set, target if counted else None, level, group
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in self.fragments and name not in group.spreads:
                    self.overlaps += _UNITS_PER_PAIR * len(group.spreads)
                    group.spreads.add(name)
                summary = self.summaries.get(name)
                if summary is None:
                    self._check()
                    continue  # unknown, or closing a cycle: validation says which
                measured.fields += summary.fields
                measured.aliases += summary.aliases
                if counted:
                    measured.depth = max(measured.depth, level - 1 + summary.depth)
                    cost += summary.cost
                self._check()
            cost = min(cost, _SATURATED)
            # The root selection has no multiplier above it: its running cost is final.
            if self.in_operation and level == 1 and cost > self.limits.max_cost:
                measured.cost = cost
                raise _Passed(measured)
        return cost

    def _field(self, field: FieldNode, parent: GraphQLNamedType | None, level: int) -> int:
        name = field.name.value
        known = parent is not None and not name.startswith("__")
        definition = getattr(parent, "fields", {}).get(name) if known else None
        if parent is None or definition is None:
            # Still walked: its fields and aliases count, and validation will read them.
            if field.selection_set is not None:
                self._selections(field.selection_set, None, level + 1)
            return 0
        named = get_named_type(definition.type)
        if named.name.endswith("Connection") and "first" in definition.args:
            multiplier = self._first(field)
        elif _is_list(definition.type) and not parent.name.endswith("Connection"):
            multiplier = self.limits.plain_list_cost
        else:
            multiplier = 1
        inner = (
            self._selections(field.selection_set, named, level + 1) if field.selection_set else 0
        )
        return min(_SATURATED, 1 + multiplier * inner)

    def _first(self, field: FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value == "first":
                return self._page_size(argument.value)
        return self.limits.default_page_size

    def _page_size(self, value: ValueNode | None) -> int:
        if isinstance(value, VariableNode):
            name = value.name.value
            if name not in self.variables:
                return self._page_size(self.defaults.get(name))
            given = _whole_number(self.variables[name])
            if given is not None:
                return min(max(0, given), _SATURATED)
            return self.limits.default_page_size
        if isinstance(value, IntValueNode):
            # int() of thousands of digits is slow (and refused past 4,300): saturate first.
            if value.value.startswith("-"):
                return 0
            return _SATURATED if len(value.value) > 15 else int(value.value)
        return self.limits.default_page_size


def _whole_number(value: Any) -> int | None:
    """A variable's value as GraphQL's ``Int`` takes it (``100`` and ``100.0`` alike: JSON
    numbers with a zero fraction are integers to it), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any],
    limits: Limits,
) -> Measure:
    """The measure of the operation that runs (named, or the first). As soon as any operation
    or fragment of the document passes a limit, the walk stops and returns the measure of that
    definition, counted up to that point."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    selected = next(
        (
            o
            for o in operations
            if operation_name is None or (o.name and o.name.value == operation_name)
        ),
        None,
    )
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments.setdefault(definition.name.value, definition)
    defaults: dict[str, ValueNode] = {
        d.variable.name.value: d.default_value
        for d in ((selected.variable_definitions or ()) if selected else ())
        if d.default_value is not None
    }
    walker = _Walker(schema, fragments, variables, defaults, limits)
    result = Measure()
    try:
        walker.measure_fragments()
        for operation in operations:
            measured = walker.measure_operation(operation)
            if operation is selected:
                result = measured
    except _Passed as passed:
        return passed.measured
    except RecursionError:
        # The parser caps nesting well below this; a document that still gets here is too deep.
        return Measure(depth=limits.max_depth + 1, definition="the document")
    result.overlaps = walker.overlaps
    return result


MEASURES_REMEMBERED = 512  # per schema: documents in use by a deployment's clients
_MEASURES: weakref.WeakKeyDictionary[GraphQLSchema, OrderedDict[tuple[Any, ...], Measure]] = (
    weakref.WeakKeyDictionary()
)


def measure_query(
    schema: GraphQLSchema,
    query: str,
    document: Callable[[], DocumentNode | None],
    operation_name: str | None,
    variables: dict[str, Any],
    limits: Limits,
) -> Measure | None:
    """:func:`measure` of the document ``query`` parses to (``document()``, called only when
    not remembered; ``None`` when it does not parse), remembered per schema for documents of
    at most ``MAX_CACHED_CHARS`` (graph/document_cache.py).

    Every request measures its operation twice (its cost for the fair-use budget, then the
    limits once parsed), and clients send the same few documents again and again. The walk
    reads the variables only as page sizes: the key holds the names given and the whole-number
    values (as the walk reads them: ``_whole_number``), so the same document with other ids or
    filters is the same measure (page sizes as the walk bounds them)."""
    names = tuple(sorted(variables))
    if len(query) + len(operation_name or "") + sum(map(len, names)) > MAX_CACHED_CHARS:
        # Not remembered: the key would keep the text alive, and neither a comment nor a
        # variable the operation does not declare costs a token, so a request of megabytes
        # passes the token limit (the parse cache keeps only small documents too).
        parsed = document()
        if parsed is None:
            return None
        return measure(schema, parsed, operation_name, variables, limits)
    pages = tuple(
        (k, min(max(0, n), _SATURATED))
        for k, n in ((k, _whole_number(variables[k])) for k in names)
        if n is not None
    )
    key = (query, operation_name, limits, names, pages)
    remembered = _MEASURES.get(schema)
    if remembered is None:
        remembered = _MEASURES[schema] = OrderedDict()
    found = remembered.get(key)
    if found is not None:
        remembered.move_to_end(key)
        return found
    parsed = document()
    if parsed is None:
        return None
    found = measure(schema, parsed, operation_name, variables, limits)
    remembered[key] = found
    if len(remembered) > MEASURES_REMEMBERED:
        remembered.popitem(last=False)
    return found


def enforce(measured: Measure, limits: Limits) -> None:
    where = measured.definition
    if measured.depth > limits.max_depth:
        raise QueryTooComplex(
            f"{where} is at least {measured.depth} levels deep; the limit is {limits.max_depth}",
            reason="DEPTH",
        )
    if measured.aliases > limits.max_aliases:
        raise QueryTooComplex(
            f"{where} uses at least {measured.aliases} aliases; the limit is {limits.max_aliases}",
            reason="ALIASES",
        )
    if measured.overlaps > limits.max_fields * OVERLAP_BUDGET_PER_FIELD:
        raise _too_many_overlaps()
    if measured.fields > limits.max_fields:
        raise QueryTooComplex(
            f"{where} selects at least {measured.fields} fields with its fragments expanded; "
            f"the limit is {limits.max_fields}. Select fewer fields or spread fewer fragments",
            reason="FIELDS",
        )
    if measured.cost > limits.max_cost:
        raise QueryTooComplex(
            f"{where} has an estimated cost of at least {measured.cost}; the limit is "
            f"{limits.max_cost}. Ask for smaller pages (`first`) or fewer nested lists",
            reason="COST",
            cost=measured.cost,
        )


def _too_many_overlaps() -> QueryTooComplex:
    return QueryTooComplex(
        "the document repeats fields of the same name too often to be checked: select each "
        "field once per selection set, or spread fewer fragments together",
        reason="FIELDS",
    )


class _BoundedOverlappingFields(OverlappingFieldsCanBeMergedRule):
    budget: ClassVar[int] = 0

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.rule_context.remaining_complexity_budget = self.budget

    def enter_selection_set(self, *args: Any) -> None:
        try:
            super().enter_selection_set(*args)
        except ValidationAbortedError:
            if self.rule_context.remaining_complexity_budget >= 0:
                raise  # too many validation errors, not too much work
            raise _too_many_overlaps() from None


@cache
def bounded_overlap_rule(budget: int) -> type[ASTValidationRule]:
    """graphql-core's overlapping-fields rule with its work capped at `budget` units; one
    class per budget, so that ValidationCache keys stay stable."""
    return type(
        "OverlappingFieldsCanBeMergedRule", (_BoundedOverlappingFields,), {"budget": budget}
    )


@cache
def _with_bounded_overlap(
    rules: tuple[type[ASTValidationRule], ...], budget: int
) -> tuple[type[ASTValidationRule], ...]:
    """``rules`` with the overlapping-fields rule capped at ``budget`` (the same tuple each
    time, as the validation cache's key)."""
    bounded = bounded_overlap_rule(budget)
    return tuple(bounded if rule is OverlappingFieldsCanBeMergedRule else rule for rule in rules)


def require_operation(document: DocumentNode, operation_name: str | None) -> None:
    """The document must hold the operation to run, named when it holds several (GraphQL
    spec, GetOperation): anything else is the caller's mistake, not ours."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not operations:
        raise BadUserInput("the document holds no operation to run", reason="NO_OPERATION")
    if operation_name is None:
        if len(operations) > 1:
            raise BadUserInput(
                "the document holds several operations: say which with `operationName`",
                reason="OPERATION_NAME_REQUIRED",
            )
        return
    if not any(o.name is not None and o.name.value == operation_name for o in operations):
        raise BadUserInput(
            f"the document has no operation named {quote(operation_name)}",
            reason="UNKNOWN_OPERATION",
        )


def check_operation(ctx: ExecutionContext) -> None:
    """Refuses a document over the limits once parsed, before validation and execution."""
    if ctx.graphql_document is None:
        return  # the parse failed; its error is the answer
    # `operation_name` falls back to the first operation's; what the caller sent is kept here.
    require_operation(ctx.graphql_document, ctx._provided_operation_name)
    limits: Limits = ctx.context.settings.limits
    document = ctx.graphql_document
    measured = (
        measure_query(
            ctx.schema._schema,
            ctx.query,
            lambda: document,
            ctx.operation_name,
            ctx.variables or {},
            limits,
        )
        if ctx.query is not None
        else measure(ctx.schema._schema, document, ctx.operation_name, ctx.variables or {}, limits)
    )
    assert measured is not None  # the document is parsed
    enforce(measured, limits)
    ctx.validation_rules = _with_bounded_overlap(
        tuple(ctx.validation_rules), limits.max_fields * OVERLAP_BUDGET_PER_FIELD
    )
