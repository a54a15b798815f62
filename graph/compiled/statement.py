"""One SQL expression per object shape: the JSON of the object, built by the database.

Objects are ``json_build_object`` (PostgreSQL) or ``json_object`` (SQLite) with the response
keys in order; lists are ``json_agg(... ORDER BY ...)`` or, on SQLite (no ordered aggregates
before 3.44), ``json_group_array`` over an ordered derived table. Every table a shape reads
carries the access plan's row filter (``AccessPlan.row_filter`` through the disclosure seam),
and every field the plan withholds on some rows is ``CASE WHEN <readable> THEN value END``
(``Disclosure.readable_sql``). Each object also carries, under the key ``"."``, its id, its
owner tenant and one flag per maskable member, which ``run`` pops to write the audit trail and
the ``FORBIDDEN_FIELD`` refusals; global ids and raw uuids are null here and filled in there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import (
    Column,
    ColumnClause,
    ColumnElement,
    Select,
    String,
    case,
    func,
    literal_column,
    null,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import visitors

from sharegraph.authz.disclosure import Disclosure
from sharegraph.datastore import models as m
from sharegraph.graph.compiled.selection import MODELS, Shape

META = "."
# (type, relation) -> (model, its column naming the parent row): children in id order, as the
# resolvers' ``Loaders.children`` reads them.
CHILDREN: dict[tuple[str, str], tuple[Any, str]] = {
    ("Service", "phones"): (m.Phone, "service_id"),
    ("Service", "schedules"): (m.Schedule, "service_id"),
    ("Location", "addresses"): (m.Address, "location_id"),
    ("Location", "phones"): (m.Phone, "location_id"),
    ("Location", "schedules"): (m.Schedule, "location_id"),
}


@dataclass(frozen=True)
class Via:
    """How a row is reached: from the row of ``table`` (an alias of ``model``'s table) through
    the foreign key column ``link``."""

    table: Any
    model: Any
    link: Any


@dataclass
class Builder:
    """Writes the JSON expressions of one statement for one access plan and backend."""

    disclosure: Disclosure
    dialect: str
    # per shape (by id): for each guarded member in order, whether the object reports a
    # readability flag for it (the plan withholds it on some rows)
    masks: dict[int, tuple[bool, ...]] = field(default_factory=dict)
    _aliases: int = 0

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"

    # -- tables ---------------------------------------------------------------------------------
    def alias(self, model: Any) -> Any:
        self._aliases += 1
        return model.__table__.alias(f"j{self._aliases}")

    def on(self, table: Any, model: Any, predicate: Any) -> Any:
        """``predicate``, written on ``model``'s table, moved onto ``table`` (an alias of it).

        Subqueries that select from the table themselves keep it: there it names their own
        rows (a record's scope asks about other referrals, say), not the row being decided.
        Every table of a compiled statement is an alias, so none of the plan's subqueries
        correlates to an enclosing level by accident.
        """
        base = model.__table__
        # Literal SQL naming the table (queries/search.py's ``services.search_vector``).
        named = re.compile(rf"(?<![\w.\"]){re.escape(base.name)}\.")

        def replace(element: Any) -> Any:
            if isinstance(element, Select) and _selects_from(element, base):
                return element
            if isinstance(element, Column) and element.table is base:
                return table.c[element.key]
            if (
                isinstance(element, ColumnClause)
                and element.is_literal
                and element.table is None
                and named.search(element.name)
            ):
                return literal_column(named.sub(f"{table.name}.", element.name), element.type)
            return None

        return visitors.replacement_traverse(predicate, {}, replace)  # type: ignore[call-overload]

    def visible(self, table: Any, model: Any, via: Via | None = None) -> Any:
        link = None if via is None else via.link
        return self.placed(self.disclosure.where(model, link=link), table, model, via)

    def readable(
        self, table: Any, model: Any, field_name: str, via: Via | None = None
    ) -> ColumnElement[bool] | None:
        link = None if via is None else via.link
        found = self.disclosure.readable_sql(model, field_name, link=link)
        return None if found is None else self.placed(found, table, model, via)

    def placed(self, predicate: Any, table: Any, model: Any, via: Via | None) -> Any:
        """``predicate`` on ``table``'s row and, when it is reached through ``via``, on that
        parent row (the plan decides such rows by the parent first: ``scopes.sql_via``)."""
        predicate = self.on(table, model, predicate)
        return predicate if via is None else self.on(via.table, via.model, predicate)

    # -- JSON -----------------------------------------------------------------------------------
    def json_object(self, pairs: list[tuple[str, Any]]) -> ColumnElement[Any]:
        function = func.json_build_object if self.postgres else func.json_object
        args: list[Any] = []
        for key, value in pairs:
            args += [literal_column(f"'{key}'"), value]
        return function(*args)

    def json_array(self, values: list[Any]) -> ColumnElement[Any]:
        function = func.json_build_array if self.postgres else func.json_array
        return function(*values)

    def one(self, element: Any, where: list[Any], froms: list[Any]) -> Any:
        found = select(element).select_from(*froms).where(*where).scalar_subquery()
        return found if self.postgres else func.json(found)

    def many(
        self, element: Any, where: list[Any], froms: list[Any], order: list[Any], parent: Any
    ) -> Any:
        if self.postgres:
            aggregated = func.json_agg(aggregate_order_by(element, *order))
            found = select(aggregated).select_from(*froms).where(*where).scalar_subquery()
            return func.coalesce(found, literal_column("'[]'::json"))
        rows = select(element.label("j")).select_from(*froms).where(*where).order_by(*order)
        # A derived table does not correlate by itself: name the parent row it hangs off.
        rows = rows.correlate(parent)
        derived = rows.subquery()
        return func.json(select(func.json_group_array(func.json(derived.c.j))).scalar_subquery())

    # -- values ---------------------------------------------------------------------------------
    def scalar(self, column: Any, value: Any) -> Any:
        if isinstance(value, type) and issubclass(value, Enum):
            text = type_coerce(column, String)
            return case({member.value: member.name for member in value}, value=text)
        if value is datetime:
            return self.iso_datetime(column)
        if value is date:
            return func.to_char(column, "YYYY-MM-DD") if self.postgres else column
        return column

    def iso_datetime(self, column: Any) -> Any:
        """A UTC instant as ``datetime.isoformat()`` writes it: ``2026-08-30T15:30:34+00:00``,
        with ``.ffffff`` only when there are microseconds."""
        if self.postgres:
            utc = func.timezone("UTC", column)
            micros: Any = func.to_char(utc, "US", type_=String)
            head: Any = func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS', type_=String)
            tail = case((micros == "000000", ""), else_=literal_column("'.'").concat(micros))
            return head.concat(tail).concat("+00:00")
        # Stored as naive UTC text, "YYYY-MM-DD HH:MM:SS.ffffff".
        text = type_coerce(column, String)
        fraction = func.substr(text, 21, type_=String)
        tail = case(
            (fraction.in_(["", "000000"]), ""), else_=literal_column("'.'").concat(fraction)
        )
        day: Any = func.substr(text, 1, 10, type_=String).concat("T")
        return case(
            (column.is_(None), null()),
            else_=day.concat(func.substr(text, 12, 8, type_=String)).concat(tail).concat("+00:00"),
        )

    # -- objects --------------------------------------------------------------------------------
    def obj(self, shape: Shape, table: Any, via: Via | None = None) -> ColumnElement[Any]:
        """The JSON object of ``shape`` for the row of ``table`` (a table or an alias),
        reached through ``via`` when it hangs off a parent row."""
        model = MODELS[shape.type_name]
        pairs: list[tuple[str, Any]] = []
        flags: list[Any] = []
        mask: list[bool] = []
        for member in shape.members:
            if member.kind == "typename":
                pairs.append((member.key, literal_column(f"'{shape.type_name}'")))
                continue
            if member.kind in ("id", "uuid"):
                pairs.append((member.key, null()))
                if member.kind == "uuid":
                    readable = self.readable(table, model, member.field, via)
                    mask.append(readable is not None)
                    if readable is not None:
                        flags.append(readable)
                continue
            if member.kind == "column":
                value = self.scalar(table.c[member.column], member.value)
            else:
                assert member.child is not None
                value = self.relation(shape.type_name, member.field, member.child, table)
            readable = self.readable(table, model, member.field, via)
            mask.append(readable is not None)
            if readable is not None:
                flags.append(readable)
                value = case((readable, value), else_=null())
            pairs.append((member.key, value))
        pairs.append((META, self.json_array([table.c.id, table.c.tenant_id, *flags])))
        self.masks[id(shape)] = tuple(mask)
        return self.json_object(pairs)

    def select_one(self, shape: Shape, table: Any) -> Any:
        return select(self.obj(shape, table)).select_from(table)

    def relation(self, type_name: str, field_name: str, child: Shape, parent: Any) -> Any:
        key = (type_name, field_name)
        if key == ("ContactRecord", "client"):
            c = self.alias(m.Client)
            via = Via(parent, m.ContactRecord, m.ContactRecord.client_id)
            where = [c.c.id == parent.c.client_id, self.visible(c, m.Client, via)]
            return self.one(self.obj(child, c, via), where, [c])
        if key == ("ContactRecord", "needs"):
            n = self.alias(m.ContactRecordNeed)
            t = self.alias(m.TaxonomyTerm)
            where = [
                n.c.contact_record_id == parent.c.id,
                t.c.id == n.c.taxonomy_term_id,
                self.visible(n, m.ContactRecordNeed),
                self.visible(t, m.TaxonomyTerm),
            ]
            return self.many(self.obj(child, t), where, [n, t], [n.c.position, n.c.id], parent)
        if key == ("ContactRecord", "referrals"):
            r = self.alias(m.Referral)
            via = Via(parent, m.ContactRecord, m.Referral.contact_record_id)
            where = [r.c.contact_record_id == parent.c.id, self.visible(r, m.Referral, via)]
            order = [r.c.created_at, r.c.id]
            return self.many(self.obj(child, r, via), where, [r], order, parent)
        if key == ("Referral", "service"):
            sal = self.alias(m.ServiceAtLocation)
            s = self.alias(m.Service)
            where = [
                sal.c.id == parent.c.service_at_location_id,
                s.c.id == sal.c.service_id,
                self.visible(sal, m.ServiceAtLocation),
                self.visible(s, m.Service),
            ]
            return self.one(self.obj(child, s), where, [sal, s])
        if key in (("Service", "organization"), ("Location", "organization")):
            o = self.alias(m.Organization)
            where = [o.c.id == parent.c.organization_id, self.visible(o, m.Organization)]
            return self.one(self.obj(child, o), where, [o])
        if key == ("Service", "locations"):
            # As the resolver reads them: the service's links in id order, then their locations
            # (each within the plan; a location linked twice appears twice).
            sal = self.alias(m.ServiceAtLocation)
            loc = self.alias(m.Location)
            where = [
                sal.c.service_id == parent.c.id,
                loc.c.id == sal.c.location_id,
                self.visible(sal, m.ServiceAtLocation),
                self.visible(loc, m.Location),
            ]
            return self.many(self.obj(child, loc), where, [sal, loc], [sal.c.id], parent)
        if key in CHILDREN:
            model, column = CHILDREN[key]
            c = self.alias(model)
            where = [c.c[column] == parent.c.id, self.visible(c, model)]
            return self.many(self.obj(child, c), where, [c], [c.c.id], parent)
        raise AssertionError(f"no join for {type_name}.{field_name}")


def _selects_from(element: Select[Any], base: Any) -> bool:
    """Whether ``element`` reads ``base``'s rows itself (rather than referring to an outer
    row of it): it selects a column of it or names it in its FROM list."""
    return base in set(element.columns_clause_froms) or base in set(element._from_obj)
