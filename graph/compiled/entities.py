"""``_entities(representations:)`` compiled: Apollo Federation's lookup of entities by ``id``.

The router sends ``{"__typename": T, "id": <global id>}`` representations; strawberry's resolver
looks each up through the request's loader (graph/types/base.py ``resolve_reference``) and
answers them in order, null where the row does not exist or lies outside the plan. Here one
statement reads every type present (one select per type, its ids one expanding parameter, the
selects joined by ``UNION ALL``), each row's JSON written with the plan's row filter and field
masks exactly as a ``node`` lookup writes it.

Whenever the resolver would answer an error for some representation (graph/federation.py's
``checked_representations``, or an id that is not one of its type), or one is of a type the
compiler does not cover, the root field is left to the resolver whole, so its errors and its
answers stay its own.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from graphql import FieldNode, GraphQLField, GraphQLSchema, GraphQLUnionType
from graphql.execution.values import get_argument_values
from sqlalchemy import bindparam, literal_column, select, union_all

from sharegraph.datastore.chunks import IN_LIST_CHUNK
from sharegraph.errors import SharegraphError
from sharegraph.graph.compiled.plans import PLANS, Template
from sharegraph.graph.compiled.run import NOT_COVERED, Answerer
from sharegraph.graph.compiled.selection import MODELS, Shape, object_shape
from sharegraph.graph.compiled.statement import Builder
from sharegraph.graph.context import RequestContext
from sharegraph.graph.federation import checked_representations
from sharegraph.graph.relay import from_global_id
from sharegraph.graph.types.base import NODE_TYPES

ROOT = "_entities"
UNION = "_Entity"


async def answer(answerer: Answerer, key: str, field: GraphQLField, nodes: list[FieldNode]) -> Any:
    """The value of ``_entities`` (response key ``key``), or :data:`NOT_COVERED`."""
    try:
        args = get_argument_values(field, nodes[0], answerer.variables)
    except Exception:
        return NOT_COVERED  # the resolver path reports the arguments' errors
    wanted = representations(answerer.collector.schema, args.get("representations"))
    if wanted is None:
        return NOT_COVERED
    if not wanted:
        return []
    types = list(dict.fromkeys(type_name for type_name, _ in wanted))
    shapes: list[Shape] = []
    for type_name in types:
        shape = object_shape(answerer.collector, type_name, nodes)
        if shape is None:
            return NOT_COVERED
        shapes.append(shape)
    ctx = answerer.ctx
    cache_key = (ROOT, ctx.dialect, tuple(shapes))
    template = PLANS.get(ctx.plan.core, cache_key)
    if template is None:
        template = _template(ctx, shapes)
        PLANS.put(cache_key, template)
    answerer.masks.update(template.masks)
    params = {
        f"ids{i}": list(dict.fromkeys(row_id for t, row_id in wanted if t == type_name))
        for i, type_name in enumerate(types)
    }
    async with ctx.db() as session:
        rows = await template.run.rows(await session.connection(), params)
    found = {(types[int(index)], _uuid(row_id)): value for index, row_id, value in rows}
    out: list[Any] = []
    for position, (type_name, row_id) in enumerate(wanted):
        value = found.get((type_name, row_id))
        if value is None:
            out.append(None)
            continue
        # Each occurrence of a repeated representation is its own object, walked (audited,
        # refused) at its own path, as the resolver completes each list item apart.
        value = _fresh(value)
        answerer.walk(value, template.shapes[types.index(type_name)], [key, position])
        out.append(value)
    return out


def representations(schema: GraphQLSchema, given: Any) -> list[tuple[str, uuid.UUID]] | None:
    """(type, row id) of each representation, or None when the resolver would answer an
    error for any of them, or one of them is of a type not covered (or the ids would need
    more than one ``IN`` list)."""
    union = schema.get_type(UNION)
    if not isinstance(given, list) or not isinstance(union, GraphQLUnionType):
        return None
    covered = frozenset(t.name for t in union.types if t.name in MODELS and t.name in NODE_TYPES)
    wanted: list[tuple[str, uuid.UUID]] = []
    for item in checked_representations(given, covered):
        if isinstance(item, SharegraphError):
            return None
        try:
            type_name, row_id = from_global_id(item["id"], expected=item["__typename"])
        except SharegraphError:
            return None
        wanted.append((type_name, row_id))
    if len(set(wanted)) > IN_LIST_CHUNK:
        return None
    return wanted


def _template(ctx: RequestContext, shapes: list[Shape]) -> Template:
    """One select per type (its ids the expanding parameter ``ids<i>``) of (the type's index,
    the row id, the row's JSON), within the plan; ``UNION ALL`` of them."""
    builder = Builder(ctx.disclosure, ctx.dialect)
    selects = []
    for i, shape in enumerate(shapes):
        model = MODELS[shape.type_name]
        table = builder.alias(model)
        ids = bindparam(f"ids{i}", expanding=True, type_=table.c.id.type)
        selects.append(
            select(
                literal_column(str(i)).label("t"),
                table.c.id.label("id"),
                builder.obj(shape, table).label("j"),
            )
            .select_from(table)
            .where(table.c.id.in_(ids))
            .where(builder.visible(table, model))
        )
    statement = selects[0] if len(selects) == 1 else union_all(*selects)
    return Template(ctx.plan.core, statement, tuple(shapes), dict(builder.masks))


def _fresh(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else copy.deepcopy(value)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
