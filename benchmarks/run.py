"""End-to-end latency and throughput of the main query shapes, against one hand-written SQL query.

``main()`` seeds a scaled demo network (or reuses one), serves the real application under
uvicorn on a free loopback port in this process, and for every :data:`SCENARIOS` entry:

- sends ``requests`` sequential ``POST /graphql`` requests over HTTP with ``httpx`` (after a
  warm-up of ~10 %), then ``requests`` more from 4 concurrent clients;
- fetches the same data with ONE SQL statement on the same engine (nested JSON built by the
  database: ``json_object``/``json_group_array`` on SQLite, ``json_build_object``/``json_agg``
  on PostgreSQL), parses it and serializes the response with the stdlib ``json`` module;
- checks that both give the same ``data``, and reports p50/p95 latency, requests/s and the
  ratio ``graphql p50 / sql p50``.

Then, for every :data:`COMPARISONS` entry (e.g. the partner pantry against the owner's admin on
the same rows), the ratio of two scenarios' p50s, measured again with their requests interleaved.

Add a scenario by appending a :class:`Scenario` to :data:`SCENARIOS` (see the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform
import re
import resource
import socket
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

import httpx
import uvicorn
from sqlalchemy import (
    ColumnElement,
    Table,
    TextClause,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.types import Uuid

from sharegraph import demo
from sharegraph.authz.authenticate import authenticate
from sharegraph.authz.disclosure import Disclosure
from sharegraph.authz.plan import AccessPlan
from sharegraph.authz.store import PolicyStore
from sharegraph.datastore import models as m
from sharegraph.datastore.base import Base
from sharegraph.datastore.engine import Database
from sharegraph.errors import SharegraphError
from sharegraph.graph.relay import to_global_id
from sharegraph.queries.search import matches
from sharegraph.settings import FairnessSettings, Settings
from sharegraph.web.app import create_app

CONCURRENCY = 4
WARMUP_SHARE = 0.10
DEFAULT_PRINCIPAL = "prairie-admin"
# The demo's partner (demo/sharing.py): reads Prairie 211's records referred to it.
PANTRY_PRINCIPAL = "eastside-portal"
# Errors that come with a normal, partial answer: fields the sharing policies withhold on some
# rows are null (the SQL baselines null them too) and reported once per coordinate.
PARTIAL_RESULT_CODES = frozenset({"FORBIDDEN_FIELD"})

log = logging.getLogger("sharegraph.benchmarks")


# ---------------------------------------------------------------------------------------------
# What is measured
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixtures:
    """Values looked up once in the seeded database and shared by every scenario."""

    dialect: str
    keys: dict[str, str]  # principal name -> demo API key
    home_tenants: dict[str, uuid.UUID | None]  # principal name -> its tenant (None: a partner)
    search_word: str  # a word of demo service names, the one with the most search matches
    contact_record_id: uuid.UUID  # prairie's contact record with the most referrals
    # The (up to) 100 newest records PANTRY_PRINCIPAL's plan lets it read, newest first.
    pantry_record_ids: tuple[uuid.UUID, ...] = ()
    # The first 100 services by id that DEFAULT_PRINCIPAL's plan lets it read.
    entity_service_ids: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True)
class SqlContext:
    """What a scenario's SQL needs: the backend and the access plan of the scenario's principal."""

    fixtures: Fixtures
    plan: AccessPlan
    dialect: Dialect

    @property
    def json(self) -> JsonSql:
        return JsonSql(self.fixtures.dialect)

    def _sql(self, model: type[Base], alias: str, predicate: ColumnElement[bool]) -> str:
        """``predicate`` on ``model``'s table as SQL text on the table alias ``alias``."""
        table = cast("Table", model.__table__).alias(alias)
        adapted = ClauseAdapter(table).traverse(predicate)
        # Compiled inside a SELECT from the alias, so that subqueries correlate to its row as
        # they do in the app's statements (compiled alone, they would select FROM it anew).
        wrapper = select(table.c.id).where(adapted)
        options = {"literal_binds": True}
        compiled = str(wrapper.compile(dialect=self.dialect, compile_kwargs=options))
        head, where, condition = compiled.partition("\nWHERE ")
        if not where or "\n" in head.removeprefix("SELECT").split("\nFROM ", 1)[-1]:
            raise RuntimeError(f"cannot extract the row filter of {model.__name__}: {compiled}")
        return condition

    def part(self, model: type[Base], alias: str, rows: ColumnElement[bool]) -> str:
        """``rows`` (a part of the plan's row filter) as SQL on the table alias ``alias``."""
        return self._sql(model, alias, rows)

    def scope(self, model: type[Base], alias: str, *, indexed: bool = False) -> str:
        """The plan's row filter on ``model`` (what every app query on it carries), as SQL on
        the table alias ``alias``, so the baseline returns exactly the rows the API may return.

        Without statistics (no ANALYZE) SQLite prefers the single-column tenant_id index over
        the foreign-key index for ``fk = ? AND tenant_id ...`` and scans the tenant's rows; a
        unary ``+`` (SQLite's documented no-op) keeps it off that index unless ``indexed``.
        """
        sql = self._sql(model, alias, self.plan.row_filter(model))
        if not indexed and self.fixtures.dialect == "sqlite":
            sql = re.sub(rf"(?<![\w.+]){re.escape(alias)}\.tenant_id\b", f"+{alias}.tenant_id", sql)
        return f"({sql})"

    def readable(self, model: type[Base], alias: str, field_name: str) -> str | None:
        """SQL telling whether the plan lets the request read ``field_name`` on row ``alias``
        (the disclosure seam's own predicate, as the field guard decides it); ``None`` when it
        may on every row the row filter lets through."""
        readable = Disclosure(self.plan).readable_sql(model, field_name)
        return None if readable is None else self._sql(model, alias, readable)

    def obj(self, model: type[Base], alias: str, **members: str) -> str:
        """A JSON object of the GraphQL type of ``model`` for row ``alias``: members the plan
        does not let the request read are null, as the API's field guard makes them."""
        masked = {}
        for name, value in members.items():
            readable = self.readable(model, alias, name)
            masked[name] = value if readable is None else f"CASE WHEN {readable} THEN {value} END"
        return self.json.obj(**masked)

    def statement(
        self, sql: str, *, shape: Callable[[Any], Any] | None = None, **params: Any
    ) -> SqlQuery:
        """``sql`` with uuid parameters bound with the ORM's UUID type (hex text on SQLite);
        a tuple of uuids is an expanding parameter (write ``IN :name``). ``shape`` finishes
        in Python what SQL cannot write (global ids), inside the timed path."""
        binds = []
        for name, value in params.items():
            if isinstance(value, uuid.UUID):
                binds.append(bindparam(name, type_=Uuid()))
            elif isinstance(value, tuple) and all(isinstance(v, uuid.UUID) for v in value):
                binds.append(bindparam(name, type_=Uuid(), expanding=True))
        return SqlQuery(text(sql).bindparams(*binds), params, shape)


@dataclass(frozen=True)
class SqlQuery:
    statement: TextClause
    params: dict[str, Any]
    shape: Callable[[Any], Any] | None = None  # applied to the parsed JSON before serializing


@dataclass(frozen=True)
class Scenario:
    """One GraphQL operation, who sends it, and the single SQL statement returning the same data.

    ``sql`` must return one row with one column: the JSON of the operation's ``data``.
    """

    name: str
    description: str
    query: str
    sql: Callable[[SqlContext], SqlQuery]
    variables: Callable[[Fixtures], dict[str, Any]] = lambda _fixtures: {}
    principal: str = DEFAULT_PRINCIPAL
    # GraphQL errors are the expected answer (e.g. NOT_FOUND for a principal without access);
    # otherwise any error in a response stops the run.
    allow_errors: bool = False


class JsonSql:
    """Small helpers writing nested-JSON SQL for SQLite (JSON1) and PostgreSQL."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"

    def obj(self, **members: str) -> str:
        function = "json_build_object" if self.postgres else "json_object"
        pairs = ", ".join(f"'{key}', {value}" for key, value in members.items())
        return f"{function}({pairs})"

    def one(self, element: str, source: str) -> str:
        """The JSON ``element`` of the row ``source`` finds, or null."""
        if self.postgres:
            return f"(SELECT {element} {source})"
        # json() keeps the value JSON (not a string) once it has crossed a subquery.
        return f"json((SELECT {element} {source}))"

    def many(self, element: str, source: str, order: str) -> str:
        """A JSON array of ``element`` over the rows of ``source``, in ``order``; [] if none."""
        if self.postgres:
            return f"COALESCE((SELECT json_agg({element} ORDER BY {order}) {source}), '[]'::json)"
        # SQLite 3.40 has no ORDER BY inside aggregates: aggregate an ordered subquery.
        return (
            f"json((SELECT json_group_array(json(j)) FROM "
            f"(SELECT {element} AS j {source} ORDER BY {order})))"
        )

    def iso_datetime(self, column: str) -> str:
        """A UTCDateTime column as the API writes it (``datetime.isoformat()`` of aware UTC:
        ``2026-08-30T15:30:34+00:00``, with ``.ffffff`` only when there are microseconds)."""
        if self.postgres:
            utc = f"({column} AT TIME ZONE 'UTC')"
            return (
                f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN to_char({utc}, 'US') "
                f"= '000000' THEN '' ELSE '.' || to_char({utc}, 'US') END || '+00:00'"
            )
        # Stored as naive UTC text, "YYYY-MM-DD HH:MM:SS.ffffff".
        return (
            f"substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || "
            f"CASE WHEN substr({column}, 21) IN ('', '000000') THEN '' "
            f"ELSE '.' || substr({column}, 21) END || '+00:00'"
        )

    def enum_name(self, column: str) -> str:
        """A stored enum value ("in-progress") as GraphQL spells it ("IN_PROGRESS")."""
        return f"upper(replace({column}, '-', '_'))"

    def search(self, alias: str, table: str, parameter: str) -> str:
        """The app's search predicate (queries/search.py) for one bound word."""
        if self.postgres:
            return f"{alias}.search_vector @@ to_tsquery('simple', :{parameter} || ':*')"
        return (
            f"{alias}.rowid IN (SELECT rowid FROM {table}_fts "
            f"WHERE {table}_fts MATCH '\"' || :{parameter} || '\"*')"
        )


# -- (1) resource search ----------------------------------------------------------------------

RESOURCE_SEARCH = """
query ResourceSearch($search: String!) {
  services(filter: {search: $search}, first: 20) {
    edges {
      node {
        name
        organization { name }
        locations {
          name
          latitude
          longitude
          addresses { address1 address2 city stateProvince postalCode }
        }
        phones { number }
        schedules { opensAt closesAt byday }
      }
    }
  }
}
"""


def organization(ctx: SqlContext, service: str) -> str:
    """``organization { name }`` of the service aliased ``service``."""
    source = (
        f"FROM organizations o WHERE o.id = {service}.organization_id "
        f"AND {ctx.scope(m.Organization, 'o')}"
    )
    return ctx.json.one(ctx.obj(m.Organization, "o", name="o.name"), source)


def resource_search_sql(ctx: SqlContext) -> SqlQuery:
    j = ctx.json
    address = ctx.obj(
        m.Address,
        "ad",
        address1="ad.address_1",
        address2="ad.address_2",
        city="ad.city",
        stateProvince="ad.state_province",
        postalCode="ad.postal_code",
    )
    location = ctx.obj(
        m.Location,
        "l",
        name="l.name",
        latitude="l.latitude",
        longitude="l.longitude",
        addresses=j.many(
            address,
            f"FROM addresses ad WHERE ad.location_id = l.id AND {ctx.scope(m.Address, 'ad')}",
            "ad.id",
        ),
    )
    node = ctx.obj(
        m.Service,
        "s",
        name="s.name",
        organization=organization(ctx, "s"),
        locations=j.many(
            location,
            "FROM service_at_locations sal JOIN locations l ON l.id = sal.location_id "
            f"WHERE sal.service_id = s.id AND {ctx.scope(m.ServiceAtLocation, 'sal')} "
            f"AND {ctx.scope(m.Location, 'l')}",
            "sal.id",
        ),
        phones=j.many(
            ctx.obj(m.Phone, "p", number="p.number"),
            f"FROM phones p WHERE p.service_id = s.id AND {ctx.scope(m.Phone, 'p')}",
            "p.id",
        ),
        schedules=j.many(
            ctx.obj(
                m.Schedule, "sc", opensAt="sc.opens_at", closesAt="sc.closes_at", byday="sc.byday"
            ),
            f"FROM schedules sc WHERE sc.service_id = s.id AND {ctx.scope(m.Schedule, 'sc')}",
            "sc.id",
        ),
    )
    page = (
        f"FROM (SELECT * FROM services s WHERE {j.search('s', 'services', 'word')} "
        f"AND {ctx.scope(m.Service, 's', indexed=True)} ORDER BY s.name, s.id LIMIT 20) s"
    )
    data = j.obj(services=j.obj(edges=j.many(j.obj(node=node), page, "s.name, s.id")))
    return ctx.statement(f"SELECT {data}", word=ctx.fixtures.search_word)


# -- (2) 100 contact records, (3) one contact record --------------------------------------------

CONTACT_RECORD_FIELDS = """
        client { firstName lastName phone }
        needs { code name }
        referrals { status service { name organization { name } } }
"""

CONTACT_RECORDS = f"""
query ContactRecords {{
  contactRecords(first: 100) {{
    edges {{
      node {{{CONTACT_RECORD_FIELDS}      }}
    }}
  }}
}}
"""

CONTACT_RECORD = f"""
query ContactRecord($id: ID!) {{
  contactRecord(id: $id) {{{CONTACT_RECORD_FIELDS}  }}
}}
"""


def client_json(ctx: SqlContext, cr: str, **fields: str) -> str:
    """``client { ... }`` of contact record ``cr``: ``fields`` on the client aliased ``c``."""
    return ctx.json.one(
        ctx.obj(m.Client, "c", **fields),
        f"FROM clients c WHERE c.id = {cr}.client_id AND {ctx.scope(m.Client, 'c')}",
    )


def needs_json(ctx: SqlContext, cr: str) -> str:
    """``needs { code name }`` of contact record ``cr``."""
    j = ctx.json
    return j.many(
        ctx.obj(m.TaxonomyTerm, "t", code="t.code", name="t.name"),
        "FROM contact_record_needs n JOIN taxonomy_terms t ON t.id = n.taxonomy_term_id "
        f"WHERE n.contact_record_id = {cr}.id AND {ctx.scope(m.ContactRecordNeed, 'n')} "
        f"AND {ctx.scope(m.TaxonomyTerm, 't')}",
        "n.position, n.id",
    )


def referrals_json(ctx: SqlContext, cr: str) -> str:
    """``referrals { status service { name organization { name } } }`` of contact record ``cr``."""
    j = ctx.json
    service = j.one(
        ctx.obj(m.Service, "s", name="s.name", organization=organization(ctx, "s")),
        "FROM service_at_locations sal JOIN services s ON s.id = sal.service_id "
        f"WHERE sal.id = r.service_at_location_id AND {ctx.scope(m.ServiceAtLocation, 'sal')} "
        f"AND {ctx.scope(m.Service, 's')}",
    )
    return j.many(
        ctx.obj(m.Referral, "r", status=j.enum_name("r.status"), service=service),
        f"FROM referrals r WHERE r.contact_record_id = {cr}.id AND {ctx.scope(m.Referral, 'r')}",
        "r.created_at, r.id",
    )


def contact_record_json(ctx: SqlContext, cr: str) -> str:
    """The JSON of contact record ``cr`` with the fields of CONTACT_RECORD_FIELDS."""
    client = client_json(ctx, cr, firstName="c.first_name", lastName="c.last_name", phone="c.phone")
    return ctx.obj(
        m.ContactRecord,
        cr,
        client=client,
        needs=needs_json(ctx, cr),
        referrals=referrals_json(ctx, cr),
    )


def contact_records_sql(ctx: SqlContext) -> SqlQuery:
    j = ctx.json
    # Each owner's first 100 in its (tenant_id, started_at, id) index order, then the first 100
    # of those: what the compiled path writes, and the best one statement can do with an OR of
    # owners (sorting every admitted row is what it avoids).
    order = "ORDER BY cr.started_at DESC, cr.id DESC LIMIT 100"
    parts = [
        ctx.part(m.ContactRecord, "cr", rows)
        for rows in ctx.plan.row_filter_per_owner(m.ContactRecord)
    ]
    owners = [
        f"SELECT * FROM (SELECT * FROM contact_records cr WHERE ({part}) {order}) o"
        for part in parts
    ]
    page = f"FROM (SELECT * FROM ({' UNION ALL '.join(owners)}) cr {order}) cr"
    edges = j.many(
        j.obj(node=contact_record_json(ctx, "cr")), page, "cr.started_at DESC, cr.id DESC"
    )
    return ctx.statement(f"SELECT {j.obj(contactRecords=j.obj(edges=edges))}")


def contact_record_sql(ctx: SqlContext) -> SqlQuery:
    j = ctx.json
    record = j.one(
        contact_record_json(ctx, "cr"),
        f"FROM contact_records cr WHERE cr.id = :record_id AND {ctx.scope(m.ContactRecord, 'cr')}",
    )
    return ctx.statement(
        f"SELECT {j.obj(contactRecord=record)}", record_id=ctx.fixtures.contact_record_id
    )


# -- (4) the pantry's records, as the pantry and as the owner's admin ---------------------------

# Only what the pantry may read (demo_sharing.PARTNER_READ), so both principals get every field.
PANTRY_RECORDS = """
query PantryContactRecords($ids: [ID!]) {
  contactRecords(first: 100, filter: {ids: $ids}) {
    edges {
      node {
        id
        startedAt
        needs { code name }
        referrals { status service { name organization { name } } }
        client { firstName phone preferredLanguage }
      }
    }
  }
}
"""


def pantry_records_variables(fixtures: Fixtures) -> dict[str, Any]:
    return {"ids": [to_global_id("ContactRecord", i) for i in fixtures.pantry_record_ids]}


def _global_record_ids(data: Any) -> Any:
    """Turns the uuids the SQL returns as ``id`` into the API's global ids."""
    for edge in data["contactRecords"]["edges"]:
        node = edge["node"]
        if node is not None and node["id"] is not None:
            node["id"] = to_global_id("ContactRecord", uuid.UUID(node["id"]))
    return data


def pantry_records_sql(ctx: SqlContext) -> SqlQuery:
    """Each table's rows in a CTE, scoped once (the partner's scopes nest subqueries several
    levels deep: repeated inside every nested JSON subquery they overflow SQLite's parser)."""
    j = ctx.json
    scope = ctx.scope
    rows = {
        "page": "SELECT cr.* FROM contact_records cr WHERE cr.id IN :ids "
        f"AND {scope(m.ContactRecord, 'cr')} ORDER BY cr.started_at DESC, cr.id DESC LIMIT 100",
        "client_rows": "SELECT c.* FROM clients c WHERE c.id IN (SELECT client_id FROM page) "
        f"AND {scope(m.Client, 'c')}",
        "need_rows": "SELECT n.* FROM contact_record_needs n "
        f"WHERE n.contact_record_id IN (SELECT id FROM page) AND {scope(m.ContactRecordNeed, 'n')}",
        "term_rows": "SELECT t.* FROM taxonomy_terms t "
        f"WHERE t.id IN (SELECT taxonomy_term_id FROM need_rows) AND {scope(m.TaxonomyTerm, 't')}",
        "referral_rows": "SELECT r.* FROM referrals r "
        f"WHERE r.contact_record_id IN (SELECT id FROM page) AND {scope(m.Referral, 'r')}",
        "sal_rows": "SELECT sal.* FROM service_at_locations sal "
        "WHERE sal.id IN (SELECT service_at_location_id FROM referral_rows) "
        f"AND {scope(m.ServiceAtLocation, 'sal')}",
        "service_rows": "SELECT s.* FROM services s "
        f"WHERE s.id IN (SELECT service_id FROM sal_rows) AND {scope(m.Service, 's')}",
        "organization_rows": "SELECT o.* FROM organizations o "
        "WHERE o.id IN (SELECT organization_id FROM service_rows) "
        f"AND {scope(m.Organization, 'o')}",
    }
    organization = j.one(
        ctx.obj(m.Organization, "o", name="o.name"),
        "FROM organization_rows o WHERE o.id = s.organization_id",
    )
    service = j.one(
        ctx.obj(m.Service, "s", name="s.name", organization=organization),
        "FROM sal_rows sal JOIN service_rows s ON s.id = sal.service_id "
        "WHERE sal.id = r.service_at_location_id",
    )
    referrals = j.many(
        ctx.obj(m.Referral, "r", status=j.enum_name("r.status"), service=service),
        "FROM referral_rows r WHERE r.contact_record_id = cr.id",
        "r.created_at, r.id",
    )
    needs = j.many(
        ctx.obj(m.TaxonomyTerm, "t", code="t.code", name="t.name"),
        "FROM need_rows n JOIN term_rows t ON t.id = n.taxonomy_term_id "
        "WHERE n.contact_record_id = cr.id",
        "n.position, n.id",
    )
    client = j.one(
        ctx.obj(
            m.Client,
            "c",
            firstName="c.first_name",
            phone="c.phone",
            preferredLanguage="c.preferred_language",
        ),
        "FROM client_rows c WHERE c.id = cr.client_id",
    )
    node = ctx.obj(
        m.ContactRecord,
        "cr",
        id="cr.id",
        startedAt=j.iso_datetime("cr.started_at"),
        needs=needs,
        referrals=referrals,
        client=client,
    )
    edges = j.many(j.obj(node=node), "FROM page cr", "cr.started_at DESC, cr.id DESC")
    ctes = ",\n".join(f"{name} AS ({sql})" for name, sql in rows.items())
    return ctx.statement(
        f"WITH {ctes}\nSELECT {j.obj(contactRecords=j.obj(edges=edges))}",
        shape=_global_record_ids,
        ids=ctx.fixtures.pantry_record_ids,
    )


# -- (5) federation: the router's _entities lookup of 100 services -----------------------------

ENTITIES = """
query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Service { name status organization { name } phones { number } }
  }
}
"""


def entities_variables(fixtures: Fixtures) -> dict[str, Any]:
    return {
        "representations": [
            {"__typename": "Service", "id": to_global_id("Service", i)}
            for i in fixtures.entity_service_ids
        ]
    }


def entities_sql(ctx: SqlContext) -> SqlQuery:
    """The services in id order, which is the representations' order (all readable)."""
    j = ctx.json
    node = ctx.obj(
        m.Service,
        "s",
        name="s.name",
        status=j.enum_name("s.status"),
        organization=organization(ctx, "s"),
        phones=j.many(
            ctx.obj(m.Phone, "p", number="p.number"),
            f"FROM phones p WHERE p.service_id = s.id AND {ctx.scope(m.Phone, 'p')}",
            "p.id",
        ),
    )
    rows = f"FROM services s WHERE s.id IN :ids AND {ctx.scope(m.Service, 's')}"
    data = j.obj(_entities=j.many(node, rows, "s.id"))
    return ctx.statement(f"SELECT {data}", ids=ctx.fixtures.entity_service_ids)


SCENARIOS: list[Scenario] = [
    Scenario(
        name="resource-search",
        description="services(filter: {search: WORD}, first: 20) with organization, locations "
        "and addresses, phones, schedules",
        query=RESOURCE_SEARCH,
        variables=lambda fx: {"search": fx.search_word},
        sql=resource_search_sql,
    ),
    Scenario(
        name="contact-records-100",
        description="contactRecords(first: 100) with client, needs, "
        "referrals { service { organization } }",
        query=CONTACT_RECORDS,
        sql=contact_records_sql,
    ),
    Scenario(
        name="contact-record-by-id",
        description="contactRecord(id:) with the fields of contact-records-100",
        query=CONTACT_RECORD,
        variables=lambda fx: {"id": to_global_id("ContactRecord", fx.contact_record_id)},
        sql=contact_record_sql,
    ),
    Scenario(
        name="pantry-contact-records",
        description="contactRecords(first: 100, filter: {ids}) with the fields the pantry may "
        "read, as the partner eastside-portal (sharing plan enforced)",
        query=PANTRY_RECORDS,
        variables=pantry_records_variables,
        principal=PANTRY_PRINCIPAL,
        sql=pantry_records_sql,
    ),
    Scenario(
        name="entities-100",
        description="_entities of 100 Service representations (the federation router's "
        "lookup) with name, status, organization, phones",
        query=ENTITIES,
        variables=entities_variables,
        sql=entities_sql,
    ),
    Scenario(
        name="pantry-rows-as-admin",
        description="the same operation on the same rows as prairie-admin (the owner)",
        query=PANTRY_RECORDS,
        variables=pantry_records_variables,
        sql=pantry_records_sql,
    ),
]


@dataclass(frozen=True)
class Comparison:
    """Two scenarios whose p50 latencies are compared: ``numerator`` / ``denominator``."""

    name: str
    numerator: str
    denominator: str
    target: float | None = None  # the ratio must be at most this


COMPARISONS: list[Comparison] = [
    Comparison(
        name="plan enforced vs owner admin, same rows",
        numerator="pantry-contact-records",
        denominator="pantry-rows-as-admin",
        target=1.10,
    ),
]


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p95_ms: float
    mean_ms: float
    samples: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        if len(seconds) < 2:
            only = seconds[0] * 1000 if seconds else 0.0
            return cls(only, only, only, len(seconds))
        cuts = statistics.quantiles(seconds, n=20, method="inclusive")
        return cls(
            p50_ms=round(cuts[9] * 1000, 3),
            p95_ms=round(cuts[18] * 1000, 3),
            mean_ms=round(statistics.fmean(seconds) * 1000, 3),
            samples=len(seconds),
        )


@dataclass(frozen=True)
class GraphqlFigures:
    sequential: Latency
    requests_per_second: float
    concurrent: Latency  # latency of each request while CONCURRENCY were in flight
    requests_per_second_concurrent: float
    response_bytes: int


@dataclass(frozen=True)
class SqlFigures:
    latency: Latency
    response_bytes: int


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    description: str
    principal: str
    graphql: GraphqlFigures
    sql: SqlFigures
    ratio: float  # graphql p50 / sql p50
    same_data: bool  # GraphQL and SQL returned the same `data`
    withheld_fields: list[str]  # coordinates the plan nulled on some rows (FORBIDDEN_FIELD)


@dataclass(frozen=True)
class ComparisonResult:
    name: str
    numerator: str
    denominator: str
    ratio: float  # numerator graphql p50 / denominator graphql p50, from the scenario runs
    # The same, measured again with the two operations' requests alternating (one of each,
    # ``requests`` times), so that the machine's load drifting between the runs cancels out.
    ratio_interleaved: float
    numerator_p50_ms: float  # of the interleaved measurement
    denominator_p50_ms: float
    sql_ratio: float  # numerator sql p50 / denominator sql p50 (the plan's cost in the database)
    target: float | None
    met: bool | None  # ratio_interleaved <= target (None without a target)


@dataclass
class Report:
    scale: int
    requests: int
    database: str
    dialect: str
    seeded_now: bool
    analyzed: bool  # the database had planner statistics when measured (see _main)
    seed_seconds: float
    dataset: dict[str, int]
    search_word: str
    machine: dict[str, Any]
    http_floor: Latency | None = None  # GET /healthz: HTTP + a session + SELECT 1
    scenarios: list[ScenarioResult] = field(default_factory=list)
    comparisons: list[ComparisonResult] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    total_seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def default_database(scale: int) -> str:
    return f"sqlite+aiosqlite:///{Path('var') / f'bench-{scale}.db'}"


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kibibytes, macOS bytes.
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _fixtures(db: Database, settings: Settings) -> Fixtures:
    principals = demo.demo_principal_keys(settings.demo_secret)
    keys = {str(p["name"]): str(p["apiKey"]) for p in principals}
    async with db.read_session() as session:
        found = await session.execute(select(m.Principal.name, m.Principal.tenant_id))
        homes = dict(found.tuples().all())
        names = (await session.scalars(select(m.Service.name))).all()
        candidates = sorted({w for n in names for w in re.findall(r"\w+", n.lower()) if len(w) > 3})
        counts: dict[str, int] = {}
        for word in candidates:
            statement = (
                select(func.count())
                .select_from(m.Service)
                .where(matches(m.Service, word, db.dialect))
            )
            counts[word] = int(await session.scalar(statement) or 0)
        if not counts:
            raise RuntimeError("the database has no services to search; is it a demo database?")
        search_word = max(candidates, key=counts.__getitem__)  # the first in order among ties
        prairie = homes.get(DEFAULT_PRINCIPAL)
        busiest = await session.scalar(
            select(m.Referral.contact_record_id)
            .where(m.Referral.tenant_id == prairie)
            .group_by(m.Referral.contact_record_id)
            .order_by(func.count().desc(), m.Referral.contact_record_id)
            .limit(1)
        )
        if busiest is None:
            busiest = await session.scalar(
                select(m.ContactRecord.id).where(m.ContactRecord.tenant_id == prairie).limit(1)
            )
        if busiest is None:
            raise RuntimeError(f"{DEFAULT_PRINCIPAL}'s tenant has no contact records")
    # The pantry's newest records, by its own plan's row filter (what contactRecords applies).
    pantry = await access_plan(db, settings, keys[PANTRY_PRINCIPAL])
    async with db.read_session() as session:
        pantry_ids = tuple(
            (
                await session.scalars(
                    select(m.ContactRecord.id)
                    .where(pantry.row_filter(m.ContactRecord))
                    .order_by(m.ContactRecord.started_at.desc(), m.ContactRecord.id.desc())
                    .limit(100)
                )
            ).all()
        )
    if not pantry_ids:
        raise RuntimeError(f"{PANTRY_PRINCIPAL} can read no contact records")
    admin = await access_plan(db, settings, keys[DEFAULT_PRINCIPAL])
    async with db.read_session() as session:
        service_ids = tuple(
            (
                await session.scalars(
                    select(m.Service.id)
                    .where(admin.row_filter(m.Service))
                    .order_by(m.Service.id)
                    .limit(100)
                )
            ).all()
        )
    return Fixtures(
        dialect=db.dialect,
        keys=keys,
        home_tenants={str(name): tenant for name, tenant in homes.items()},
        search_word=search_word,
        contact_record_id=busiest,
        pantry_record_ids=pantry_ids,
        entity_service_ids=service_ids,
    )


@contextlib.asynccontextmanager
async def serve(db: Database, settings: Settings, port: int = 0) -> AsyncIterator[str]:
    """The real app under uvicorn on a loopback port (0: a free one), in this event loop;
    yields its URL."""
    app = create_app(settings, database=db)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as error:
        sock.close()
        raise OSError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # re-raise what stopped it
                raise RuntimeError("the server stopped during startup (see the log above)")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


def _check(response: httpx.Response, scenario: Scenario) -> dict[str, Any]:
    if response.status_code != 200:
        raise RuntimeError(f"{scenario.name}: HTTP {response.status_code}: {response.text[:500]}")
    body: dict[str, Any] = response.json()
    errors = [e for e in body.get("errors", []) if _code(e) not in PARTIAL_RESULT_CODES]
    if errors and not scenario.allow_errors:
        raise RuntimeError(f"{scenario.name}: GraphQL errors: {json.dumps(errors)[:1000]}")
    return body


def _code(error: dict[str, Any]) -> str | None:
    code = (error.get("extensions") or {}).get("code")
    return code if isinstance(code, str) else None


async def _timed(count: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    samples: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def _concurrently(
    count: int, workers: int, call: Callable[[], Awaitable[object]]
) -> tuple[list[float], float]:
    tickets: Iterator[int] = iter(range(count))
    samples: list[float] = []

    async def worker() -> None:
        for _ in tickets:
            started = time.perf_counter()
            await call()
            samples.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return samples, time.perf_counter() - started


async def _run_sql(db: Database, query: SqlQuery) -> bytes:
    async with db.engine.connect() as connection:
        if db.dialect == "postgresql":
            # One statement nesting every relation has a large estimated cost: past
            # jit_above_cost, JIT compilation (~100 ms) would dwarf its execution (see README).
            await connection.execute(text("SET LOCAL jit = off"))
        raw = (await connection.execute(query.statement, query.params)).scalar_one()
    data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    if query.shape is not None:
        data = query.shape(data)
    # Serialized as the app's JSONResponse does (starlette's settings).
    body = json.dumps({"data": data}, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return body.encode()


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


async def access_plan(db: Database, settings: Settings, api_key: str) -> AccessPlan:
    """The principal's plan, built as web/app.py builds it for a request."""
    policies = PolicyStore(db)
    await policies.reload()
    async with db.read_session() as session:
        principal = await authenticate(session, f"Bearer {api_key}", settings)
    return policies.plan_for(principal)


def _poster(
    scenario: Scenario, http: httpx.AsyncClient, fixtures: Fixtures
) -> Callable[[], Awaitable[httpx.Response]]:
    """A function sending the scenario's request once (it raises on a non-200 answer)."""
    payload = json.dumps(
        {"query": scenario.query, "variables": scenario.variables(fixtures)}
    ).encode()
    headers = {
        "Authorization": f"Bearer {fixtures.keys[scenario.principal]}",
        "Content-Type": "application/json",
    }

    async def post() -> httpx.Response:
        response = await http.post("/graphql", content=payload, headers=headers)
        if response.status_code != 200:
            _check(response, scenario)
        return response

    return post


async def run_scenario(
    scenario: Scenario,
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    fixtures: Fixtures,
    requests: int,
) -> ScenarioResult:
    warmup = max(1, round(requests * WARMUP_SHARE))
    post = _poster(scenario, http, fixtures)
    first = await post()
    first_body = _check(first, scenario)
    graphql_data = first_body["data"]
    withheld = sorted(
        str((e.get("extensions") or {}).get("coordinate"))
        for e in first_body.get("errors", [])
        if _code(e) == "FORBIDDEN_FIELD"
    )
    for _ in range(warmup - 1):
        _check(await post(), scenario)
    sequential = await _timed(requests, post)
    concurrent, wall = await _concurrently(requests, CONCURRENCY, post)

    plan = await access_plan(db, settings, fixtures.keys[scenario.principal])
    ctx = SqlContext(fixtures, plan, db.engine.dialect)
    query = scenario.sql(ctx)
    sql_body = await _run_sql(db, query)
    sql_data = json.loads(sql_body)["data"]
    same = sql_data == graphql_data
    if not same:
        log.warning(
            "%s: the SQL baseline's data differs from the GraphQL response:\n"
            " graphql: %.600s\n sql:     %.600s",
            scenario.name,
            json.dumps(graphql_data),
            json.dumps(sql_data),
        )
    for _ in range(warmup - 1):
        await _run_sql(db, query)
    sql_samples = await _timed(requests, lambda: _run_sql(db, query))

    graphql = GraphqlFigures(
        sequential=Latency.of(sequential),
        requests_per_second=_rate(len(sequential), sum(sequential)),
        concurrent=Latency.of(concurrent),
        requests_per_second_concurrent=_rate(len(concurrent), wall),
        response_bytes=len(first.content),
    )
    sql = SqlFigures(latency=Latency.of(sql_samples), response_bytes=len(sql_body))
    ratio = round(graphql.sequential.p50_ms / sql.latency.p50_ms, 1) if sql.latency.p50_ms else 0.0
    return ScenarioResult(
        name=scenario.name,
        description=scenario.description,
        principal=scenario.principal,
        graphql=graphql,
        sql=sql,
        ratio=ratio,
        same_data=same,
        withheld_fields=withheld,
    )


async def run_comparison(
    comparison: Comparison,
    scenarios: dict[str, Scenario],
    results: dict[str, ScenarioResult],
    http: httpx.AsyncClient,
    fixtures: Fixtures,
    requests: int,
) -> ComparisonResult:
    """The ratio of two scenarios' p50s: from their runs, and measured again interleaved."""
    posts = [
        _poster(scenarios[name], http, fixtures)
        for name in (comparison.numerator, comparison.denominator)
    ]
    for _ in range(max(1, round(requests * WARMUP_SHARE))):
        for post in posts:
            await post()
    samples: list[list[float]] = [[], []]
    for i in range(requests):
        # Alternate which goes first, so neither always follows the other's garbage.
        for k in (0, 1) if i % 2 == 0 else (1, 0):
            started = time.perf_counter()
            await posts[k]()
            samples[k].append(time.perf_counter() - started)
    p50s = [Latency.of(s).p50_ms for s in samples]
    numerator, denominator = results[comparison.numerator], results[comparison.denominator]

    def ratio(a: float, b: float) -> float:
        return round(a / b, 3) if b else 0.0

    interleaved = ratio(p50s[0], p50s[1])
    return ComparisonResult(
        name=comparison.name,
        numerator=comparison.numerator,
        denominator=comparison.denominator,
        ratio=ratio(numerator.graphql.sequential.p50_ms, denominator.graphql.sequential.p50_ms),
        ratio_interleaved=interleaved,
        numerator_p50_ms=p50s[0],
        denominator_p50_ms=p50s[1],
        sql_ratio=ratio(numerator.sql.latency.p50_ms, denominator.sql.latency.p50_ms),
        target=comparison.target,
        met=None if comparison.target is None else interleaved <= comparison.target,
    )


def _machine() -> dict[str, Any]:
    loop = type(asyncio.get_running_loop())
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "event_loop": f"{loop.__module__}.{loop.__name__}",
        # Other work on the machine skews every figure: compare runs with similar load.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


async def _main(
    scale: int, requests: int, database: str | None, only: Sequence[str] | None, port: int = 0
) -> Report:
    started = time.perf_counter()
    url = database or default_database(scale)
    # Per-principal limits off: every scenario runs as one principal, 4 at once at times;
    # their effect is measured by `python -m sharegraph.benchmarks.fairness`.
    settings = Settings.from_env(database_url=url, fairness=FairnessSettings.unlimited())
    scenarios = [s for s in SCENARIOS if not only or s.name in only]
    unknown = set(only or ()) - {s.name for s in SCENARIOS}
    if unknown:
        known = [s.name for s in SCENARIOS]
        raise ValueError(f"unknown scenarios {sorted(unknown)}; known: {known}")
    db = Database(url)
    try:
        shown_url = make_url(db.url).render_as_string()
        progress(f"demo network at scale {scale} in {shown_url} ...")
        seeded = await demo.seed(db, scale=scale, demo_secret=settings.demo_secret)
        if seeded.created:
            progress(f"  seeded in {seeded.seconds:.1f}s")
        else:
            progress("  the database already holds data: reusing it (its scale is not checked)")
        if db.dialect == "postgresql":
            # Production PostgreSQL has statistics (autovacuum analyzes); a freshly seeded
            # database has none and plans lookups through the tenant_id indexes (see README).
            async with db.engine.begin() as connection:
                await connection.execute(text("ANALYZE"))
        # datastore.demo.seed analyzes what it seeds; a SQLite file seeded by older code may
        # have no statistics (the benchmark analyzes PostgreSQL itself, above).
        analyzed = db.dialect == "postgresql" or seeded.created
        if not analyzed:
            async with db.engine.connect() as connection:
                stat = "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
                analyzed = (await connection.execute(text(stat))).first() is not None
            if not analyzed:
                progress("  no planner statistics (seeded before `ANALYZE` was added to seed?)")
        counted = asdict(seeded)
        dataset = {k: int(v) for k, v in counted.items() if k not in {"created", "seconds"}}
        fixtures = await _fixtures(db, settings)
        report = Report(
            scale=scale,
            requests=requests,
            database=make_url(db.url).render_as_string(hide_password=True),
            dialect=db.dialect,
            seeded_now=seeded.created,
            analyzed=analyzed,
            seed_seconds=round(seeded.seconds, 1) if seeded.created else 0.0,
            dataset=dataset,
            search_word=fixtures.search_word,
            machine=_machine(),
        )
        async with serve(db, settings, port) as base_url:
            limits = httpx.Limits(
                max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY
            )
            async with httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as http:

                async def healthz() -> httpx.Response:
                    return (await http.get("/healthz")).raise_for_status()

                await _timed(max(1, round(requests * WARMUP_SHARE)), healthz)
                report.http_floor = Latency.of(await _timed(requests, healthz))
                for scenario in scenarios:
                    progress(
                        f"{scenario.name}: {requests} requests sequential, {requests} at "
                        f"concurrency {CONCURRENCY}, then SQL ..."
                    )
                    report.scenarios.append(
                        await run_scenario(scenario, http, db, settings, fixtures, requests)
                    )
                by_name = {s.name: s for s in scenarios}
                results = {r.name: r for r in report.scenarios}
                for comparison in COMPARISONS:
                    if {comparison.numerator, comparison.denominator} <= results.keys():
                        progress(f"{comparison.name}: {requests} requests of each, interleaved ...")
                        report.comparisons.append(
                            await run_comparison(
                                comparison, by_name, results, http, fixtures, requests
                            )
                        )
    finally:
        await db.dispose()
    report.peak_rss_mb = peak_rss_mb()
    report.total_seconds = round(time.perf_counter() - started, 1)
    return report


def _row(cells: Sequence[str], columns: Sequence[tuple[str, int]]) -> str:
    """The first cell left-aligned, the others right-aligned, in the columns' widths."""
    aligned = [
        f"{cell:>{width}}" if i else f"{cell:<{width}}"
        for i, (cell, (_, width)) in enumerate(zip(cells, columns, strict=True))
    ]
    return "  ".join(aligned)


def _table(report: Report, out: TextIO) -> None:
    columns = [
        ("scenario", max([22, *(len(r.name) for r in report.scenarios)])),
        ("gql p50", 9),
        ("gql p95", 9),
        ("req/s", 8),
        (f"req/s@{CONCURRENCY}", 9),
        ("sql p50", 9),
        ("sql p95", 9),
        ("ratio", 7),
        ("same", 5),
    ]
    print(
        f"sharegraph bench: {report.dialect}, scale {report.scale}, {report.requests} requests per "
        f"measurement, {report.machine['cpus']} CPUs, {report.machine['event_loop']}",
        file=out,
    )
    shown = ("services", "contact_records", "referrals", "clients")
    sizes = ", ".join(f"{k}={report.dataset.get(k, 0)}" for k in shown)
    stats = "analyzed" if report.analyzed else "no planner statistics"
    print(f"data: {sizes}; {stats}; search word {report.search_word!r}", file=out)
    print("latencies in ms; ratio = graphql p50 / sql p50", file=out)
    print(_row([title for title, _ in columns], columns), file=out)
    for r in report.scenarios:
        cells = [
            r.name,
            f"{r.graphql.sequential.p50_ms:.2f}",
            f"{r.graphql.sequential.p95_ms:.2f}",
            f"{r.graphql.requests_per_second:.0f}",
            f"{r.graphql.requests_per_second_concurrent:.0f}",
            f"{r.sql.latency.p50_ms:.2f}",
            f"{r.sql.latency.p95_ms:.2f}",
            f"{r.ratio:.1f}x",
            "yes" if r.same_data else "NO",
        ]
        print(_row(cells, columns), file=out)
    if report.http_floor is not None:
        print(
            "HTTP floor (GET /healthz: a session and SELECT 1): "
            f"p50 {report.http_floor.p50_ms:.2f} ms, "
            f"p95 {report.http_floor.p95_ms:.2f} ms",
            file=out,
        )
    for c in report.comparisons:
        target = "" if c.target is None else f" (target <= {c.target:.2f})"
        verdict = "" if c.met is None else (" met" if c.met else " NOT MET")
        print(
            f"{c.name}: {c.numerator} / {c.denominator} p50 = {c.ratio_interleaved:.2f}{target}"
            f"{verdict}; interleaved {c.numerator_p50_ms:.2f} / {c.denominator_p50_ms:.2f} ms; "
            f"from the runs above {c.ratio:.2f}; SQL {c.sql_ratio:.2f}",
            file=out,
        )
    print(f"peak RSS {report.peak_rss_mb:.0f} MB; total {report.total_seconds:.0f} s", file=out)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed, as `sharegraph serve` (uvicorn's loop="auto") would use."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(
    scale: int = 10,
    requests: int = 200,
    database: str | None = None,
    as_json: bool = False,
    scenarios: Sequence[str] | None = None,
    port: int = 0,
) -> Report:
    """Run the benchmark and print a table (or, with ``as_json``, one JSON object) on stdout."""
    if requests < 2:
        raise ValueError("requests must be at least 2")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    stdout = sys.stdout
    try:
        # Anything else written to stdout (a library's print) must not break the JSON.
        with (
            contextlib.redirect_stdout(sys.stderr),
            asyncio.Runner(loop_factory=_loop_factory()) as runner,
        ):
            report = runner.run(_main(scale, requests, database, scenarios, port))
    except SharegraphError as error:
        raise SystemExit(f"error [{error.code.value}]: {error.message}") from error
    except (OSError, ValueError, RuntimeError, SQLAlchemyError) as error:
        raise SystemExit(f"error: {error}") from error
    if as_json:
        stdout.write(json.dumps(asdict(report), indent=2) + "\n")
    else:
        _table(report, stdout)
    stdout.flush()
    return report
