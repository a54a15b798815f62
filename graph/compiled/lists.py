"""Other root lists compiled: ``organizations``, ``locations``, ``taxonomyTerms`` (the
directory's), ``clients`` and ``followUps``.

Paged as ``services`` and ``contactRecords`` are (``Answerer.page``: filters, ``search``,
sorts, ``first``, ``after``, edges, cursors, nodes, page info, the total count), over the
resolver's own statement (queries/directory.py, contacts.py, follow_ups.py) after the resolver's
own checks (graph/queries.py ``directory_filter``, ``clients_filter``, graph/follow_ups.py
``follow_ups_filter``); ``inventory`` is left to the resolver, as it is for ``services``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import FieldNode, GraphQLField, get_named_type
from graphql.execution.values import get_argument_values

from sharegraph.datastore import models as m
from sharegraph.errors import SharegraphError
from sharegraph.graph.compiled.run import NOT_COVERED, Answerer, filter_key
from sharegraph.graph.compiled.selection import Part, connection_parts
from sharegraph.graph.follow_ups import (
    FollowUpFilterInput,
    FollowUpSort,
    follow_up_sort_keys,
    follow_ups_filter,
)
from sharegraph.graph.inputs import (
    ClientFilterInput,
    DirectoryFilterInput,
    DirectorySort,
    directory_sort_keys,
)
from sharegraph.graph.queries import clients_filter, directory_filter
from sharegraph.queries import contacts, directory, follow_ups
from sharegraph.queries.pagination import SortKey

# root field -> (node type, model, the resolver's statement)
LISTS: dict[str, tuple[str, Any, Callable[..., Any]]] = {
    "organizations": ("Organization", m.Organization, directory.organizations),
    "locations": ("Location", m.Location, directory.locations),
    "taxonomyTerms": ("TaxonomyTerm", m.TaxonomyTerm, directory.taxonomy_terms),
    "clients": ("Client", m.Client, contacts.clients),
    "followUps": ("FollowUp", m.FollowUp, follow_ups.follow_ups),
}


async def answer(answerer: Answerer, key: str, field: GraphQLField, nodes: list[FieldNode]) -> Any:
    """The page of a list (response key ``key``), or :data:`NOT_COVERED`."""
    operation = nodes[0].name.value
    type_name = LISTS[operation][0]
    try:
        args = answerer.arguments(
            operation, get_argument_values(field, nodes[0], answerer.variables)
        )
    except Exception:
        return NOT_COVERED  # the resolver path reports the arguments' errors
    if args.get("inventory") is not None:
        return NOT_COVERED  # an inventory is looked up first: left to the resolver
    parts = connection_parts(answerer.collector, get_named_type(field.type), type_name, nodes)
    if parts is None:
        return NOT_COVERED
    try:
        if operation == "clients":
            return await _clients(answerer, key, parts, args)
        if operation == "followUps":
            return await _follow_ups(answerer, key, parts, args)
        return await _directory(answerer, key, operation, parts, args)
    except SharegraphError:
        return NOT_COVERED  # refused: the resolver refuses the same way, with its error


async def _directory(
    answerer: Answerer, key: str, operation: str, parts: tuple[Part, ...], args: dict[str, Any]
) -> Any:
    type_name, model, build = LISTS[operation]
    given = args.get("filter")
    sort = args.get("sort", DirectorySort.NAME_ASC)
    if not isinstance(given, DirectoryFilterInput | None) or not isinstance(sort, DirectorySort):
        return NOT_COVERED
    ctx = answerer.ctx
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
        (operation, *filter_key(flt)),
    )


async def _clients(
    answerer: Answerer, key: str, parts: tuple[Part, ...], args: dict[str, Any]
) -> Any:
    given = args.get("filter")
    if not isinstance(given, ClientFilterInput | None):
        return NOT_COVERED
    ctx = answerer.ctx
    flt = clients_filter(ctx, given)
    return await answerer.page(
        key,
        "Client",
        m.Client,
        parts,
        lambda: contacts.clients(ctx.plan, flt),
        [SortKey(m.Client.id)],
        "ID",  # the resolver's cursor sort name
        args,
        ("clients", flt),
    )


async def _follow_ups(
    answerer: Answerer, key: str, parts: tuple[Part, ...], args: dict[str, Any]
) -> Any:
    given = args.get("filter")
    sort = args.get("sort", FollowUpSort.DUE_AT_ASC)
    if not isinstance(given, FollowUpFilterInput | None) or not isinstance(sort, FollowUpSort):
        return NOT_COVERED
    ctx = answerer.ctx
    flt = follow_ups_filter(ctx, given)
    return await answerer.page(
        key,
        "FollowUp",
        m.FollowUp,
        parts,
        lambda: follow_ups.follow_ups(ctx.plan, flt),
        follow_up_sort_keys(sort),
        sort.name,
        args,
        ("followUps", flt),
    )
