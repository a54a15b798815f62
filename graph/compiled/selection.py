"""What a root field asks for, as a tree the compiler covers, or ``None`` when it does not.

Fields are collected as graphql-core executes them (aliases, inline fragments, named fragments,
``@skip``/``@include``; one response key per merged set of field nodes), then each is matched
against what the compiler knows: stored columns of the catalogue (text, integers, instants,
dates, enums, floats and booleans (whose JSON spelling differs by backend: ``run`` makes them
Python's), the raw uuid), the global id, ``__typename`` and the relations of :data:`RELATIONS`.
Anything else (computed fields, relations not listed, other directives) makes the field not
covered, and it resolves the ordinary way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    visit,
)
from graphql.language import Visitor

from sharegraph.authz.catalogue import CATALOGUE, Storage
from sharegraph.datastore import models as m
from sharegraph.graph.document_cache import beside

# (type, relation field) -> the type it leads to; how each is joined is in ``statement``.
RELATIONS: dict[tuple[str, str], str] = {
    ("ContactRecord", "client"): "Client",
    ("ContactRecord", "needs"): "TaxonomyTerm",
    ("ContactRecord", "referrals"): "Referral",
    ("Referral", "service"): "Service",
    ("Service", "organization"): "Organization",
    ("Service", "locations"): "Location",
    ("Service", "phones"): "Phone",
    ("Service", "schedules"): "Schedule",
    ("Location", "organization"): "Organization",
    ("Location", "addresses"): "Address",
    ("Location", "phones"): "Phone",
    ("Location", "schedules"): "Schedule",
}
MODELS: dict[str, Any] = {
    "ContactRecord": m.ContactRecord,
    "Client": m.Client,
    "Referral": m.Referral,
    "TaxonomyTerm": m.TaxonomyTerm,
    "Service": m.Service,
    "Organization": m.Organization,
    "Location": m.Location,
    "Address": m.Address,
    "Phone": m.Phone,
    "Schedule": m.Schedule,
    "FollowUp": m.FollowUp,
}
# json_build_object takes at most 100 arguments (50 pairs) on PostgreSQL, json_object 63 pairs
# on SQLite builds capped at 127; one pair carries the row's facts.
MAX_MEMBERS = 49
PAGE_INFO_FIELDS = frozenset({"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"})


@dataclass(frozen=True)
class Member:
    """One response key of an object: ``kind`` is typename, id, uuid, column or relation."""

    key: str
    field: str
    kind: str
    column: str | None = None
    value: Any = None  # the column's Python type (str, int, datetime, date, an Enum)
    child: Shape | None = None


@dataclass(frozen=True)
class Shape:
    """The members asked of one object of a catalogued type, in response order."""

    type_name: str
    members: tuple[Member, ...]


@dataclass(frozen=True)
class Part:
    """A member of a connection, edge or page info (assembled in Python): ``kind`` is
    typename, edges, pageInfo, totalCount, cursor, node or one of the page info fields."""

    key: str
    kind: str
    typename: str = ""
    parts: tuple[Part, ...] = ()
    node: Shape | None = None


@dataclass(frozen=True)
class Collector:
    """Field collection for one operation (the same merging graphql-core executes).

    ``memo``: the shapes already worked out for this document, schema and values of the
    variables its ``@skip``/``@include`` read (:func:`document_memo`), shared by the requests
    that send it again."""

    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]
    memo: dict[Hashable, Any] | None = None

    def remembered(
        self, kind: str, type_name: str, nodes: list[FieldNode], depth: int, work: Callable[[], Any]
    ) -> Any:
        if self.memo is None:
            return work()
        key = (kind, type_name, depth, *map(id, nodes))
        if key not in self.memo:
            self.memo[key] = work()
        return self.memo[key]

    def collect(
        self, type_name: str, selection_sets: list[SelectionSetNode]
    ) -> dict[str, list[FieldNode]] | None:
        found: dict[str, list[FieldNode]] = {}
        for selection_set in selection_sets:
            if not self._collect(type_name, selection_set, found, set()):
                return None
        return found

    def _collect(
        self,
        type_name: str,
        selection_set: SelectionSetNode,
        found: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> bool:
        for selection in selection_set.selections:
            included = self._included(selection)
            if included is None:
                return False
            if not included:
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                found.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                applies = condition is None or self._applies(condition.name.value, type_name)
                if applies and not self._collect(
                    type_name, selection.selection_set, found, visited
                ):
                    return False
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visited:
                    continue
                visited.add(name)
                fragment = self.fragments.get(name)
                if fragment is None:
                    return False
                applies = self._applies(fragment.type_condition.name.value, type_name)
                if applies and not self._collect(type_name, fragment.selection_set, found, visited):
                    return False
            else:
                return False
        return True

    def _applies(self, condition: str, type_name: str) -> bool:
        """graphql-core's ``does_fragment_condition_match``: the type itself, or an interface
        or union (``... on _Entity``) it belongs to."""
        if condition == type_name:
            return True
        runtime = self.schema.get_type(type_name)
        abstract = self.schema.get_type(condition)
        assert isinstance(runtime, GraphQLObjectType)
        return is_abstract_type(abstract) and self.schema.is_sub_type(abstract, runtime)

    def _included(self, selection: Any) -> bool | None:
        """Whether ``@skip``/``@include`` keep a selection; None for other directives."""
        keep = True
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include") or len(directive.arguments) != 1:
                return None
            node = directive.arguments[0].value
            if node.kind == "variable":
                value = self.variables.get(node.name.value)
            elif node.kind == "boolean_value":
                value = node.value
            else:
                return None
            if not isinstance(value, bool):
                return None
            keep = keep and (value if name == "include" else not value)
        return keep


def _column_value(value: Any) -> bool:
    if isinstance(value, type) and issubclass(value, Enum):
        return True
    return value in (str, int, float, bool, datetime, date, uuid.UUID)


# Beside each document (graph/document_cache.py), per (schema, values of the variables its
# directives read): the memo of its shapes, few and small.
_SHAPES = "compiled shapes"
_DIRECTIVE_VARIABLES = "directive variables"
MEMOS_PER_DOCUMENT = 16


class _DirectiveVariables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_directive(self, node: Any, *_args: Any) -> None:
        for argument in node.arguments or ():
            if isinstance(argument.value, VariableNode):
                self.names.add(argument.value.name.value)


def document_memo(
    document: DocumentNode, schema: GraphQLSchema, variables: dict[str, Any]
) -> dict[Hashable, Any] | None:
    """The shapes of ``document`` for ``schema`` and these variables' directive values; None
    when a directive reads a value that cannot key them."""
    per_document: dict[Hashable, Any] = beside(document).setdefault(_SHAPES, {})
    names = per_document.get(_DIRECTIVE_VARIABLES)
    if names is None:
        found = _DirectiveVariables()
        visit(document, found)
        names = per_document[_DIRECTIVE_VARIABLES] = tuple(sorted(found.names))
    values = tuple(variables.get(name) for name in names)
    if not all(value is None or isinstance(value, bool) for value in values):
        return None
    key = (id(schema), values)
    memo = per_document.get(key)
    if memo is None:
        if len(per_document) > MEMOS_PER_DOCUMENT:
            per_document.clear()
            per_document[_DIRECTIVE_VARIABLES] = names
        memo = per_document[key] = {"schema": schema}  # keeps the id in the key its own
    return memo


def object_shape(
    collector: Collector, type_name: str, nodes: list[FieldNode], depth: int = 0
) -> Shape | None:
    """The shape of ``nodes``' selections on an object of ``type_name``, if covered."""
    shape: Shape | None = collector.remembered(
        "object", type_name, nodes, depth, lambda: _object_shape(collector, type_name, nodes, depth)
    )
    return shape


def _object_shape(
    collector: Collector, type_name: str, nodes: list[FieldNode], depth: int
) -> Shape | None:
    if type_name not in MODELS or depth > 6:
        return None
    spec = CATALOGUE[type_name]
    fields = {f.name: f for f in spec.fields if f.graphql}
    sets = [n.selection_set for n in nodes if n.selection_set is not None]
    collected = collector.collect(type_name, sets)
    if collected is None or len(collected) > MAX_MEMBERS:
        return None
    members: list[Member] = []
    for key, field_nodes in collected.items():
        name = field_nodes[0].name.value
        if name == "__typename":
            members.append(Member(key, name, "typename"))
            continue
        field = fields.get(name)
        if field is None or any(n.arguments for n in field_nodes):
            return None
        if field.storage is Storage.IDENTITY:
            members.append(Member(key, name, "id"))
        elif field.storage is Storage.COLUMN and name == "uuid":
            members.append(Member(key, name, "uuid"))
        elif field.storage is Storage.COLUMN and _column_value(field.value):
            members.append(Member(key, name, "column", field.column_attribute, field.value))
        elif field.storage is Storage.RELATION and (type_name, name) in RELATIONS:
            child = object_shape(collector, RELATIONS[(type_name, name)], field_nodes, depth + 1)
            if child is None:
                return None
            members.append(Member(key, name, "relation", child=child))
        else:
            return None
    return Shape(type_name, tuple(members))


def connection_parts(
    collector: Collector, connection_type: GraphQLNamedType, node_type: str, nodes: list[FieldNode]
) -> tuple[Part, ...] | None:
    """The parts of a connection selection (edges, cursors, nodes, page info, the total
    count), if covered."""
    parts: tuple[Part, ...] | None = collector.remembered(
        f"connection of {node_type}",
        connection_type.name,
        nodes,
        0,
        lambda: _connection_parts(collector, connection_type, node_type, nodes),
    )
    return parts


def _connection_parts(
    collector: Collector, connection_type: GraphQLNamedType, node_type: str, nodes: list[FieldNode]
) -> tuple[Part, ...] | None:
    if not isinstance(connection_type, GraphQLObjectType):
        return None
    sets = [n.selection_set for n in nodes if n.selection_set is not None]
    collected = collector.collect(connection_type.name, sets)
    if collected is None:
        return None
    parts: list[Part] = []
    for key, field_nodes in collected.items():
        name = field_nodes[0].name.value
        if name == "__typename":
            parts.append(Part(key, "typename", connection_type.name))
        elif name == "edges":
            edge = _edge_parts(collector, connection_type, node_type, field_nodes)
            if edge is None:
                return None
            parts.append(Part(key, "edges", parts=edge))
        elif name == "pageInfo":
            info = _page_info_parts(collector, field_nodes)
            if info is None:
                return None
            parts.append(Part(key, "pageInfo", parts=info))
        elif name == "totalCount":
            parts.append(Part(key, "totalCount"))
        else:
            return None
    return tuple(parts)


def _edge_parts(
    collector: Collector, connection_type: GraphQLObjectType, node_type: str, nodes: list[FieldNode]
) -> tuple[Part, ...] | None:
    edge_type = get_named_type(connection_type.fields["edges"].type)
    sets = [n.selection_set for n in nodes if n.selection_set is not None]
    collected = collector.collect(edge_type.name, sets)
    if collected is None:
        return None
    parts: list[Part] = []
    for key, field_nodes in collected.items():
        name = field_nodes[0].name.value
        if name == "__typename":
            parts.append(Part(key, "typename", edge_type.name))
        elif name == "cursor":
            parts.append(Part(key, "cursor"))
        elif name == "node":
            shape = object_shape(collector, node_type, field_nodes)
            if shape is None:
                return None
            parts.append(Part(key, "node", node=shape))
        else:
            return None
    return tuple(parts)


def _page_info_parts(collector: Collector, nodes: list[FieldNode]) -> tuple[Part, ...] | None:
    sets = [n.selection_set for n in nodes if n.selection_set is not None]
    collected = collector.collect("PageInfo", sets)
    if collected is None:
        return None
    parts: list[Part] = []
    for key, field_nodes in collected.items():
        name = field_nodes[0].name.value
        if name == "__typename":
            parts.append(Part(key, "typename", "PageInfo"))
        elif name in PAGE_INFO_FIELDS:
            parts.append(Part(key, name))
        else:
            return None
    return tuple(parts)
