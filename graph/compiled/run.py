"""Answering a covered root field: its one statement, then what SQL cannot write.

Covered roots: ``contactRecords`` and ``services`` (the resource search: filters, ``search``,
sorts, ``first``, ``after``, not ``inventory``; edges, cursors, nodes, page info, the total
count), ``contactRecord(id:)`` and ``node(id:)`` for the Node types of :data:`selection.MODELS`.
The arguments are converted by strawberry and checked by the same code the resolvers run
(operation grant, filterable fields, searchable text, page size, cursors); whenever that code
would refuse, or a lookup finds nothing, the field is not answered here and its resolver gives
the answer and the error. Walking the parsed JSON, each object's facts (key ``"."``) give its
global id and uuid, the audit entries the field guard would write, and the refusals for the
fields the plan withholds on it (``RequestContext.deny``, one ``FORBIDDEN_FIELD`` per
coordinate).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import fields
from typing import Any, overload

from graphql import FieldNode, GraphQLField, GraphQLObjectType, get_named_type
from graphql.execution.values import get_argument_values
from sqlalchemy import bindparam, func, select, union_all
from strawberry import Schema
from strawberry.types.arguments import convert_arguments

from sharegraph.authz.coordinates import RECORD_TYPES
from sharegraph.datastore import models as m
from sharegraph.errors import SharegraphError
from sharegraph.graph.compiled.plans import PLANS, Template
from sharegraph.graph.compiled.selection import (
    MODELS,
    Collector,
    Part,
    Shape,
    connection_parts,
    object_shape,
)
from sharegraph.graph.compiled.statement import META, Builder
from sharegraph.graph.context import RequestContext
from sharegraph.graph.inputs import (
    ContactRecordFilterInput,
    ContactRecordSort,
    DirectoryFilterInput,
    DirectorySort,
    contact_record_sort_keys,
    directory_sort_keys,
)
from sharegraph.graph.pagination import page_size
from sharegraph.graph.queries import contact_records_filter, directory_filter
from sharegraph.graph.relay import from_global_id, to_global_id
from sharegraph.graph.types.base import NODE_TYPES
from sharegraph.queries import contacts, directory
from sharegraph.queries.directory import DirectoryFilter
from sharegraph.queries.pagination import SortKey, _after, _cursor_values, count, order_by

NOT_COVERED = object()


class Answerer:
    """Answers covered root fields of one operation for one request."""

    def __init__(
        self, ctx: RequestContext, collector: Collector, variables: Any, schema: Schema
    ) -> None:
        self.ctx = ctx
        self.collector = collector
        self.variables = variables
        self.schema = schema
        # Builder.masks of the templates used (by id of their shapes)
        self.masks: dict[int, tuple[bool, ...]] = {}
        # What the field guard would have recorded, kept until the resolvers of the other
        # root fields have run (the extension records them then, as the resolvers record
        # theirs, even when a failing root field nulls the data).
        self.reads: list[tuple[str, uuid.UUID, str, list[str]]] = []
        self.denials: list[tuple[str, list[str | int], uuid.UUID]] = []
        # Parsed owner tenant ids (few per page), and each shape's steps for ``walk``.
        self.owners: dict[str, uuid.UUID] = {}
        self.steps: dict[int, tuple[_Step, ...]] = {}

    def record(self) -> None:
        """Write down what the used answers read and were refused (audit, FORBIDDEN_FIELD)."""
        for type_name, owner, row_id, coordinates in self.reads:
            self.ctx.audit.read_fields(type_name, owner, row_id, coordinates)
        for coordinate, path, owner in self.denials:
            self.ctx.deny(coordinate, path, owner)

    async def answer(self, key: str, field: GraphQLField, nodes: list[FieldNode]) -> Any:
        """The value of root field ``key``, or :data:`NOT_COVERED`."""
        name = nodes[0].name.value
        try:
            args = self.arguments(name, get_argument_values(field, nodes[0], self.variables))
        except Exception:
            return NOT_COVERED
        try:
            if name == "contactRecords":
                return await self.contact_records(key, field, nodes, args)
            if name == "services":
                return await self.services(key, field, nodes, args)
            if name in ("contactRecord", "node"):
                return await self.lookup(key, name, nodes, args)
        except SharegraphError:
            return NOT_COVERED  # refused: the resolver refuses the same way, with its error
        return NOT_COVERED

    def arguments(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        """A root field's arguments as its resolver receives them (input types as their
        classes, by Python name), converted by strawberry's own code."""
        query = self.collector.schema.query_type
        field = None if query is None else self.schema.get_field_for_type(name, query.name)
        if field is None:
            raise LookupError(name)
        return convert_arguments(
            raw,
            field.arguments,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
        )

    # -- lists ----------------------------------------------------------------------------------
    async def contact_records(
        self, key: str, field: GraphQLField, nodes: list[FieldNode], args: dict[str, Any]
    ) -> Any:
        ctx = self.ctx
        connection_type = get_named_type(field.type)
        parts = connection_parts(self.collector, connection_type, "ContactRecord", nodes)
        if parts is None:
            return NOT_COVERED
        given = args.get("filter")
        sort: ContactRecordSort = args.get("sort", ContactRecordSort.STARTED_AT_DESC)
        if not isinstance(given, ContactRecordFilterInput | None) or not isinstance(
            sort, ContactRecordSort
        ):
            return NOT_COVERED
        plan = ctx.plan
        flt = contact_records_filter(ctx, given, sort)
        return await self.page(
            key,
            "ContactRecord",
            m.ContactRecord,
            parts,
            lambda: contacts.contact_records(plan, flt),
            contact_record_sort_keys(sort),
            sort.name,
            args,
            ("contactRecords", flt),
            per_owner=lambda rows: contacts.contact_records(plan, flt, rows),
        )

    async def services(
        self, key: str, field: GraphQLField, nodes: list[FieldNode], args: dict[str, Any]
    ) -> Any:
        ctx = self.ctx
        if args.get("inventory") is not None:
            return NOT_COVERED  # an inventory is looked up first: left to the resolver
        parts = connection_parts(self.collector, get_named_type(field.type), "Service", nodes)
        if parts is None:
            return NOT_COVERED
        given = args.get("filter")
        sort: DirectorySort = args.get("sort", DirectorySort.NAME_ASC)
        if not isinstance(given, DirectoryFilterInput | None) or not isinstance(
            sort, DirectorySort
        ):
            return NOT_COVERED
        flt = directory_filter(ctx, "services", "Service", given, sort)
        return await self.page(
            key,
            "Service",
            m.Service,
            parts,
            lambda: directory.services(ctx.plan, flt, ctx.dialect),
            directory_sort_keys(m.Service, sort),
            sort.name,
            args,
            ("services", *filter_key(flt)),
        )

    async def page(
        self,
        key: str,
        type_name: str,
        model: Any,
        parts: tuple[Part, ...],
        statement: Callable[[], Any],
        keys: list[SortKey],
        sort_name: str,
        args: dict[str, Any],
        shape_key: tuple[Hashable, ...],
        per_owner: Callable[[Any], Any] | None = None,
    ) -> Any:
        """A connection page of ``statement()`` (the resolver's own filtered statement on
        ``model``, built only when needed), as graph/pagination.py's ``connection`` pages it.
        ``per_owner(rows)``: the same statement over a part of the plan's row filter
        (``AccessPlan.row_filter_per_owner``), to page each owner's rows in index order."""
        ctx = self.ctx
        plan = ctx.plan
        size = page_size(_InfoShim(ctx), args.get("first"))  # type: ignore[arg-type]
        after = args.get("after")
        after_id = ctx.cursors.decode(after, type_name, sort_name) if after else None
        cache_key = (*shape_key, ctx.dialect, parts, sort_name, size, after_id is not None)
        template = PLANS.get(plan.core, cache_key)
        if template is None:
            template = self._list_template(
                model, parts, statement(), keys, size, after_id, per_owner
            )
            PLANS.put(cache_key, template)
        self.masks.update(template.masks)
        params: dict[str, Any] = {}
        async with ctx.db() as session:
            if after_id is not None:
                values = await _cursor_values(session, model, statement(), keys, after_id)
                params = {f"after{i}": v for i, v in enumerate(values)}
            # On the session's connection (its transaction, its RLS scope): a Core statement
            # needs none of the ORM's execute machinery.
            connection = await session.connection()
            rows = list(await template.run.rows(connection, params))
            total = None
            if any(p.kind == "totalCount" for p in template.parts):
                # The statement's last column, on every row; a page with no rows after a
                # cursor has none to carry it, and counts apart (as the resolver does).
                if rows:
                    total = int(rows[0][-1])
                elif after_id is not None:
                    total = await count(session, statement())
                else:
                    total = 0  # not even the row after an empty first page: none match
        has_next = len(rows) > size
        rows = rows[:size]
        cursors = _Cursors(rows, lambda row: ctx.cursors.encode(type_name, sort_name, row[0]))
        path: list[str | int] = [key]
        return self.connection(
            template.parts,
            rows,
            list(template.shapes),
            cursors,
            has_next,
            after_id is not None,
            path,
            total,
        )

    def _list_template(
        self,
        model: Any,
        parts: tuple[Part, ...],
        statement: Any,
        keys: list[SortKey],
        size: int,
        after_id: uuid.UUID | None,
        per_owner: Callable[[Any], Any] | None = None,
    ) -> Template:
        """The page statement: ``statement``'s rows moved onto an alias, with one JSON column
        per node shape; the cursor row's sort values are bound parameters ``after0``, ..."""
        plan = self.ctx.plan
        builder = Builder(self.ctx.disclosure, self.ctx.dialect)
        shapes = _node_shapes(parts)
        table = builder.alias(model)
        columns = [table.c.id] + [
            builder.obj(shape, table).label(f"n{i}") for i, shape in enumerate(shapes)
        ]
        on_table = [
            SortKey(builder.on(table, model, k.column.expression), k.descending) for k in keys
        ]
        owners = plan.row_filter_per_owner(model) if per_owner is not None else []
        if per_owner is not None and len(owners) > 1:
            # One page per owner, each in the order of its (tenant_id, sort key) index, then
            # the first of their union: no owner's rows are sorted whole.
            pages = [
                self._owner_page(builder, model, per_owner(rows), keys, size, after_id is not None)
                for rows in owners
            ]
            ranked = union_all(*(select(p.subquery()) for p in pages)).subquery()
            ranked_keys = [SortKey(ranked.c[f"k{i}"], k.descending) for i, k in enumerate(keys)]
            page_ids = (
                select(ranked.c.id).order_by(*order_by(ranked_keys)).limit(size + 1).subquery()
            )
            paged = select(*columns).select_from(table.join(page_ids, page_ids.c.id == table.c.id))
        else:
            where = builder.on(table, model, statement.whereclause)
            paged = select(*columns).select_from(table).where(where)
            if after_id is not None:
                paged = paged.where(_after_cursor(on_table))
        if any(p.kind == "totalCount" for p in parts):
            # Uncorrelated: both databases compute it once for the statement.
            counted = builder.alias(model)
            total = (
                select(func.count())
                .select_from(counted)
                .where(builder.on(counted, model, statement.whereclause))
                .scalar_subquery()
            )
            paged = paged.add_columns(total.label("total"))
        paged = paged.order_by(*order_by(on_table)).limit(size + 1)
        return Template(plan.core, paged, tuple(shapes), dict(builder.masks), parts)

    @staticmethod
    def _owner_page(
        builder: Builder,
        model: Any,
        statement: Any,
        keys: list[SortKey],
        size: int,
        has_after: bool,
    ) -> Any:
        """The ids and sort values (``k0``, ``k1``, ...) of the first ``size + 1`` rows of
        ``statement`` (the resolver's statement over one owner's part of the row filter) on a
        fresh alias, after the cursor (bound parameters ``after0``, ...), in page order."""
        table = builder.alias(model)
        on_table = [
            SortKey(builder.on(table, model, k.column.expression), k.descending) for k in keys
        ]
        page = select(table.c.id, *(k.column.label(f"k{i}") for i, k in enumerate(on_table)))
        page = page.select_from(table).where(builder.on(table, model, statement.whereclause))
        if has_after:
            page = page.where(_after_cursor(on_table))
        return page.order_by(*order_by(on_table)).limit(size + 1)

    def connection(
        self,
        parts: tuple[Part, ...],
        rows: list[Any],
        shapes: list[Shape],
        cursors: Sequence[str],
        has_next: bool,
        has_previous: bool,
        path: list[str | int],
        total: int | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for part in parts:
            if part.kind == "typename":
                out[part.key] = part.typename
            elif part.kind == "totalCount":
                out[part.key] = total
            elif part.kind == "pageInfo":
                out[part.key] = {
                    p.key: (
                        p.typename
                        if p.kind == "typename"
                        else {
                            "hasNextPage": has_next,
                            "hasPreviousPage": has_previous,
                            "startCursor": cursors[0] if cursors else None,
                            "endCursor": cursors[-1] if cursors else None,
                        }[p.kind]
                    )
                    for p in part.parts
                }
            else:
                edges = []
                for i, row in enumerate(rows):
                    edge: dict[str, Any] = {}
                    for p in part.parts:
                        if p.kind == "typename":
                            edge[p.key] = p.typename
                        elif p.kind == "cursor":
                            edge[p.key] = cursors[i]
                        else:
                            assert p.node is not None
                            column = 1 + next(j for j, s in enumerate(shapes) if s is p.node)
                            value = _parsed(row[column])
                            self.walk(value, p.node, [*path, part.key, i, p.key])
                            edge[p.key] = value
                    edges.append(edge)
                out[part.key] = edges
        return out

    # -- lookups --------------------------------------------------------------------------------
    async def lookup(
        self, key: str, name: str, nodes: list[FieldNode], args: dict[str, Any]
    ) -> Any:
        expected = "ContactRecord" if name == "contactRecord" else None
        type_name, row_id = from_global_id(args["id"], expected=expected)
        if type_name not in MODELS or type_name not in NODE_TYPES:
            return NOT_COVERED  # node answers BAD_ID for types that are no Node
        runtime = self.collector.schema.get_type(type_name)
        if not isinstance(runtime, GraphQLObjectType):
            return NOT_COVERED
        shape = object_shape(self.collector, type_name, nodes)
        if shape is None:
            return NOT_COVERED
        cache_key = ("lookup", self.ctx.dialect, type_name, shape)
        template = PLANS.get(self.ctx.plan.core, cache_key)
        if template is None:
            template = self._lookup_template(type_name, shape)
            PLANS.put(cache_key, template)
        self.masks.update(template.masks)
        async with self.ctx.db() as session:
            connection = await session.connection()
            found = next(iter(await template.run.rows(connection, {"row_id": row_id})), None)
        if found is None:
            # contactRecord answers NOT_FOUND (the resolver's error); node answers null.
            return NOT_COVERED if name == "contactRecord" else None
        value = _parsed(found[0])
        self.walk(value, template.shapes[0], [key])
        return value

    def _lookup_template(self, type_name: str, shape: Shape) -> Template:
        """The statement of one object by id (the bound parameter ``row_id``)."""
        builder = Builder(self.ctx.disclosure, self.ctx.dialect)
        model = MODELS[type_name]
        table = builder.alias(model)
        statement = (
            builder.select_one(shape, table)
            .where(table.c.id == bindparam("row_id", type_=table.c.id.type))
            .where(builder.visible(table, model))
        )
        return Template(self.ctx.plan.core, statement, (shape,), dict(builder.masks))

    # -- finishing objects ----------------------------------------------------------------------
    def walk(self, value: dict[str, Any], shape: Shape, path: list[str | int]) -> None:
        """Pop the facts of ``value``, fill ids, write the audit entries and refusals the field
        guard would, and go on into the relations that were let out."""
        row_id_text, owner_text, *flags = value.pop(META)
        row_id = _uuid_text(row_id_text)
        owner = self.owners.get(owner_text)
        if owner is None:
            owner = self.owners[owner_text] = _uuid(owner_text)
        steps = self.steps.get(id(shape))
        if steps is None:
            steps = self.steps[id(shape)] = _steps(shape, self.masks[id(shape)])
        type_name = shape.type_name
        flag = iter(flags)
        read: list[str] = []
        for key, kind, coordinate, masked, convert, child in steps:
            if kind == "id":
                value[key] = to_global_id(type_name, row_id)
                continue
            if masked and not next(flag):
                self.denials.append((coordinate, [*path, key], owner))
                continue
            read.append(coordinate)
            if kind == "uuid":
                value[key] = row_id
            elif convert is not None:
                found = value[key]  # SQLite writes booleans 0/1, numerics vary
                if found is not None:
                    value[key] = convert(found)
            elif child is not None:
                nested = value[key]
                if isinstance(nested, list):
                    for i, item in enumerate(nested):
                        self.walk(item, child, [*path, key, i])
                elif nested is not None:
                    self.walk(nested, child, [*path, key])
        if read and type_name in RECORD_TYPES:
            self.reads.append((type_name, owner, row_id, read))


# What ``walk`` does with each member of a shape other than ``__typename``: (response key,
# kind, coordinate, masked by the plan, Python type to convert a column's JSON value to, child
# shape of a relation).
_Step = tuple[str, str, str, bool, Any, Shape | None]


def _steps(shape: Shape, masks: tuple[bool, ...]) -> tuple[_Step, ...]:
    masked = iter(masks)
    steps: list[_Step] = []
    for member in shape.members:
        if member.kind == "typename":
            continue
        coordinate = f"{shape.type_name}.{member.field}"
        if member.kind == "id":
            steps.append((member.key, "id", coordinate, False, None, None))
            continue
        converts = member.kind == "column" and member.value in (float, bool)
        convert = member.value if converts else None
        child = member.child if member.kind == "relation" else None
        steps.append((member.key, member.kind, coordinate, next(masked), convert, child))
    return tuple(steps)


class _Cursors(Sequence[str]):
    """The page's cursors, each signed when first asked for: most pages ask for none, or for
    the first and last (``pageInfo``), not one HMAC per row."""

    def __init__(self, rows: list[Any], encode: Callable[[Any], str]) -> None:
        self._rows = rows
        self._encode = encode
        self._done: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self._rows))[index]]
        index = range(len(self._rows))[index]  # IndexError, negative indexes
        found = self._done.get(index)
        if found is None:
            found = self._done[index] = self._encode(self._rows[index])
        return found


class _InfoShim:
    """What ``page_size`` reads of an ``Info``: the request's settings."""

    def __init__(self, ctx: RequestContext) -> None:
        self.context = ctx


def filter_key(flt: DirectoryFilter) -> tuple[Hashable, ...]:
    """A directory filter as part of a plan cache key (its ``extra`` is a dict)."""
    plain = tuple(getattr(flt, f.name) for f in fields(flt) if f.name != "extra")
    return (*plain, tuple(sorted(flt.extra.items())))


def _node_shapes(parts: tuple[Part, ...]) -> list[Shape]:
    return [p.node for part in parts for p in part.parts if p.node is not None]


def _parsed(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _uuid_text(value: Any) -> str:
    """A uuid's canonical text: PostgreSQL's JSON has it so already, SQLite's is bare hex."""
    if isinstance(value, str) and len(value) == 36:
        return value
    return str(_uuid(value))


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _after_cursor(keys: list[SortKey]) -> Any:
    """Rows after the cursor row, whose sort values are the bound parameters ``after0``, ..."""
    bound = [bindparam(f"after{i}", type_=k.column.type) for i, k in enumerate(keys)]
    return _after(keys, bound)
