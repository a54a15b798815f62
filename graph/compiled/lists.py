"""The directory's other lists compiled: ``organizations``, ``locations``, ``taxonomyTerms``.

Paged as ``services`` is (``Answerer.page``: filters, ``search``, sorts, ``first``, ``after``,
edges, cursors, nodes, page info, the total count), over the resolver's own statement
(queries/directory.py) after the resolver's own checks (graph/queries.py ``directory_filter``);
``inventory`` is left to the resolver, as it is for ``services``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import FieldNode, GraphQLField
from graphql.execution.values import get_argument_values

from sharegraph.datastore import models as m
from sharegraph.errors import SharegraphError
from sharegraph.graph.compiled.run import NOT_COVERED, Answerer, _filter_key, _named
from sharegraph.graph.compiled.selection import connection_parts
from sharegraph.graph.inputs import DirectoryFilterInput, DirectorySort, directory_sort_keys
from sharegraph.graph.queries import directory_filter
from sharegraph.queries import directory

# root field -> (node type, model, the resolver's statement)
LISTS: dict[str, tuple[str, Any, Callable[..., Any]]] = {
    "organizations": ("Organization", m.Organization, directory.organizations),
    "locations": ("Location", m.Location, directory.locations),
    "taxonomyTerms": ("TaxonomyTerm", m.TaxonomyTerm, directory.taxonomy_terms),
}


async def answer(answerer: Answerer, key: str, field: GraphQLField, nodes: list[FieldNode]) -> Any:
    """The page of a directory list (response key ``key``), or :data:`NOT_COVERED`."""
    operation = nodes[0].name.value
    type_name, model, build = LISTS[operation]
    try:
        args = answerer.arguments(
            operation, get_argument_values(field, nodes[0], answerer.variables)
        )
    except Exception:
        return NOT_COVERED  # the resolver path reports the arguments' errors
    if args.get("inventory") is not None:
        return NOT_COVERED  # an inventory is looked up first: left to the resolver
    parts = connection_parts(answerer.collector, _named(field.type), type_name, nodes)
    if parts is None:
        return NOT_COVERED
    given = args.get("filter")
    sort = args.get("sort", DirectorySort.NAME_ASC)
    if not isinstance(given, DirectoryFilterInput | None) or not isinstance(sort, DirectorySort):
        return NOT_COVERED
    ctx = answerer.ctx
    try:
        flt = directory_filter(ctx, operation, type_name, given, sort)
        return await answerer.page(
            key,
            type_name,
            model,
            parts,
            lambda: build(ctx.plan, flt, ctx.dialect),
            directory_sort_keys(model, sort),
            sort.name,
            args,
            (operation, *_filter_key(flt)),
        )
    except SharegraphError:
        return NOT_COVERED  # refused: the resolver refuses the same way, with its error
