"""Typed lookups by id compiled: ``referral(id:)``, ``client(id:)``, ``organization(id:)``,
``service(id:)``, ``location(id:)``.

Each is a ``node(id:)`` lookup of its one type (the same statement and plan cache entry), except
where the resolver (graph/queries.py ``_typed``) answers an error: an id of another type
(``BAD_ID``) or a row that does not exist or lies outside the plan (``NOT_FOUND``); those are
left to it.
"""

from __future__ import annotations

from typing import Any

from graphql import FieldNode, GraphQLField
from graphql.execution.values import get_argument_values

from sharegraph.errors import SharegraphError
from sharegraph.graph.compiled.run import NOT_COVERED, Answerer
from sharegraph.graph.relay import from_global_id

# root field -> the type it looks up (``contactRecord`` is run.py's own)
TYPES = {
    "referral": "Referral",
    "client": "Client",
    "organization": "Organization",
    "service": "Service",
    "location": "Location",
}


async def answer(answerer: Answerer, key: str, field: GraphQLField, nodes: list[FieldNode]) -> Any:
    """The value of a typed lookup (response key ``key``), or :data:`NOT_COVERED`."""
    try:
        args = get_argument_values(field, nodes[0], answerer.variables)
    except Exception:
        return NOT_COVERED  # the resolver path reports the arguments' errors
    try:
        from_global_id(args["id"], expected=TYPES[nodes[0].name.value])
        found = await answerer.lookup(key, "node", nodes, args)
    except SharegraphError:
        return NOT_COVERED  # refused: the resolver refuses the same way, with its error
    return NOT_COVERED if found is None else found
