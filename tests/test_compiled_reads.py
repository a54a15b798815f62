"""Compiled reads (graph/compiled/) answer exactly as the resolvers do: data, errors, audit rows.

A differential test: Hypothesis writes operations over the covered root fields (random
selections, aliases, inline and named fragments, @skip/@include, filters, sorts, page sizes,
cursors, ids of every covered type and of others), and every one is sent as a demo principal to
two apps on the same database, one with ``compiled_reads`` off and one with it on. The bodies
must be equal (as parsed JSON, keys in order) and so must the audit rows each request wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from sharegraph.datastore import models as m
from sharegraph.datastore.direct import DirectStatement
from sharegraph.datastore.engine import Database
from sharegraph.demo.sharing import DIRECTORY
from sharegraph.graph.compiled.extension import STATS
from sharegraph.graph.compiled.plans import PLANS
from sharegraph.graph.relay import to_global_id
from sharegraph.settings import Settings

from .conftest import Api, StatementCounter, make_api

PRINCIPALS = (
    "prairie-admin", "prairie-call-taker", "prairie-api",
    "lakeside-admin", "lakeside-call-taker", "lakeside-api",
    "riverbend-admin", "riverbend-call-taker", "riverbend-api",
    "eastside-portal", "harbor-portal",
)  # fmt: skip


@dataclass
class Pair:
    resolvers: Api
    compiled: Api
    database: Database
    ids: dict[str, list[str]]  # type name -> global ids (of every tenant)


async def _global_ids(db: Database) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    async with db.read_session() as session:
        for name, model in (
            ("ContactRecord", m.ContactRecord),
            ("Client", m.Client),
            ("Referral", m.Referral),
            ("TaxonomyTerm", m.TaxonomyTerm),
            ("Service", m.Service),
            ("Organization", m.Organization),
            ("Location", m.Location),
            ("Tenant", m.Tenant),
            ("Phone", m.Phone),
            ("Schedule", m.Schedule),
            ("FollowUp", m.FollowUp),
        ):
            rows = (await session.scalars(select(model.id).order_by(model.id).limit(12))).all()
            found[name] = [to_global_id(name, i) for i in rows]
    return found


@pytest.fixture
async def pair(demo_db: Database, keys: dict[str, str]) -> AsyncIterator[Pair]:
    off = Settings(database_url=demo_db.url, compiled_reads=False)
    on = Settings(database_url=demo_db.url, compiled_reads=True)
    async for resolvers in make_api(demo_db, keys, off):
        async for compiled in make_api(demo_db, keys, on):
            yield Pair(resolvers, compiled, demo_db, await _global_ids(demo_db))


async def _audit_between(db: Database, position: int, until: int | None) -> list[tuple[Any, ...]]:
    async with db.read_session() as session:
        rows = (
            await session.execute(
                select(
                    m.AuditEvent.tenant_id,
                    m.AuditEvent.principal_id,
                    m.AuditEvent.action,
                    m.AuditEvent.purpose,
                    m.AuditEvent.record_type,
                    m.AuditEvent.record_ids,
                    m.AuditEvent.coordinates,
                    m.AuditEvent.detail,
                )
                .where(m.AuditEvent.position > position)
                .where(m.AuditEvent.position <= (until if until is not None else 2**62))
                .order_by(m.AuditEvent.position)
            )
        ).all()
    return [tuple(r) for r in rows]


async def _last_position(db: Database) -> int:
    async with db.read_session() as session:
        return int(await session.scalar(select(func.max(m.AuditEvent.position))) or 0)


def _audit_diff(expected: list[Any], got: list[Any]) -> str:
    return (
        "\n".join(
            f"resolvers: {e}\ncompiled:  {g}" for e, g in zip(expected, got, strict=False) if e != g
        )
        or f"{len(expected)} rows against {len(got)}"
    )


INCIDENT = re.compile(r"(?<=incident )[0-9a-f]{12}|(?<=\"incident\": \")[0-9a-f]{12}")


def _body(response: Any) -> dict[str, Any]:
    """The response's body, with INTERNAL errors' incident ids (random) made equal."""
    body: dict[str, Any] = json.loads(INCIDENT.sub("-", json.dumps(response.json())))
    return body


async def both(
    pair: Pair, principal: str, query: str, variables: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two bodies, after checking that both paths wrote the same audit rows."""
    start = await _last_position(pair.database)
    expected = await pair.resolvers.post(principal, {"query": query, "variables": variables})
    middle = await _last_position(pair.database)
    got = await pair.compiled.post(principal, {"query": query, "variables": variables})
    assert got.status_code == expected.status_code, got.text[:2000]
    assert "errors" not in got.json() or _body(got).get("errors") == _body(expected).get(
        "errors"
    ), got.text[:3000]
    audit_expected = await _audit_between(pair.database, start, middle)
    audit_got = await _audit_between(pair.database, middle, None)
    assert audit_got == audit_expected, _audit_diff(audit_expected, audit_got)
    assert STATS["failed"] == 0
    return _body(expected), _body(got)


async def test_smoke_contact_records(pair: Pair) -> None:
    query = """
    query { contactRecords(first: 100) { edges { cursor node {
      id uuid channel startedAt riskLevel version
      client { id firstName lastName phone dateOfBirth }
      needs { code name }
      referrals { id status createdAt service { name organization { name } } }
    } } pageInfo { hasNextPage endCursor } } }
    """
    answered = STATS["answered"]
    for principal in PRINCIPALS:
        expected, got = await both(pair, principal, query, {})
        assert json.dumps(got) == json.dumps(expected), principal
    assert STATS["answered"] - answered >= len(PRINCIPALS) - 2  # roles without the operation


async def test_a_documents_shapes_follow_its_directive_variables(pair: Pair) -> None:
    """Shapes are remembered per document and per value of the variables its @skip/@include
    read: the same text sent with the other value answers with the other selection."""
    query = """
    query Q($client: Boolean!, $needs: Boolean = false) { contactRecords(first: 3) { edges {
      node { id client @include(if: $client) { firstName } needs @skip(if: $needs) { code } }
    } } }
    """
    for variables in (
        {"client": True},
        {"client": False},
        {"client": True, "needs": True},
        {"client": True},
        {"client": False, "needs": False},
    ):
        expected, got = await both(pair, "prairie-admin", query, variables)
        assert json.dumps(got) == json.dumps(expected), variables
        node = got["data"]["contactRecords"]["edges"][0]["node"]
        assert ("client" in node) is variables["client"], variables
        assert ("needs" in node) is not variables.get("needs", False), variables


async def test_plan_cache_reuses_statements_with_other_ids_and_cursors(pair: Pair) -> None:
    lookup = "query Q($id: ID!) { contactRecord(id: $id) { id channel client { firstName } } }"
    listing = (
        "query Q($after: String) { contactRecords(first: 2, after: $after) {"
        " edges { cursor node { id startedAt needs { code } } } pageInfo { endCursor } } }"
    )
    for principal in ("prairie-admin", "eastside-portal"):
        hits = PLANS.hits
        for record in pair.ids["ContactRecord"][:4]:
            expected, got = await both(pair, principal, lookup, {"id": record})
            assert json.dumps(got) == json.dumps(expected), principal
        after = None
        for _ in range(3):
            expected, got = await both(pair, principal, listing, {"after": after})
            assert json.dumps(got) == json.dumps(expected), principal
            page = (expected["data"] or {}).get("contactRecords") or {}
            after = (page.get("pageInfo") or {}).get("endCursor")
        # the same statements again: other ids and cursors are bound parameters
        assert PLANS.hits - hits >= 4, principal


# Found by the generated test on PostgreSQL (then on SQLite too): a root field that fails and
# nulls the data (`first: 101` on a non-null connection) while a sibling root field is still in
# its first database step. graphql-core cancelled the sibling there, which left the request's
# session unclosable (a 500 after the answer) or lost the aiosqlite connection; now siblings
# settle (graph/settle.py) and both paths record the same audit rows for them.
FAILING_ROOT_WITH_SIBLING = (
    'query Q($flag: Boolean!) {{ node(id: "{location}") {{ __typename ... on Location {{ id }} }}'
    " contactRecords(first: 101) {{ edges {{ cursor node {{ ... on ContactRecord"
    " {{ id @include(if: $flag) }} }} }} totalCount }} }}",
    'query Q($flag: Boolean!) {{ contactRecord(id: "{record}") {{ ... on ContactRecord'
    " {{ id @include(if: $flag) }} }} contactRecords(first: 101) {{ edges {{ cursor node"
    " {{ ... on ContactRecord {{ id @include(if: $flag) }} }} }} totalCount }} }}",
    'query Q {{ contactRecord(id: "{record}") {{ id channel narrative client {{ firstName }} }}'
    " contactRecords(first: 101) {{ edges {{ node {{ id }} }} }} }}",
)


@pytest.mark.parametrize("template", FAILING_ROOT_WITH_SIBLING)
async def test_a_failing_root_field_leaves_siblings_whole(pair: Pair, template: str) -> None:
    query = template.format(location=pair.ids["Location"][0], record=pair.ids["ContactRecord"][0])
    variables = {"flag": False} if "$flag" in query else {}
    for principal in ("prairie-admin", "lakeside-call-taker", "eastside-portal"):
        for _ in range(3):  # the session of each request must close cleanly, every time
            expected, got = await both(pair, principal, query, variables)
            assert expected["data"] is None, expected
            assert json.dumps(got) == json.dumps(expected), principal


# -- generated operations ---------------------------------------------------------------------

SCALARS: dict[str, tuple[str, ...]] = {
    "ContactRecord": (
        "id", "uuid", "__typename", "channel", "startedAt", "endedAt", "callerPostalCode",
        "callerCounty", "riskLevel", "narrative", "createdAt", "updatedAt", "version",
    ),
    "Client": (
        "id", "uuid", "__typename", "firstName", "lastName", "phone", "dateOfBirth",
        "postalCode", "county", "preferredLanguage",
    ),
    "Referral": (
        "id", "uuid", "status", "statusReason", "externalId", "version", "createdAt", "updatedAt",
    ),
    "TaxonomyTerm": ("id", "code", "name", "description", "language", "termUri", "updatedAt"),
    "Service": (
        "id", "uuid", "name", "alternateName", "status", "minimumAge", "updatedAt", "description",
        "url", "email", "feesDescription", "waitTime", "version",
    ),
    "Organization": ("id", "name", "email", "yearIncorporated", "updatedAt"),
    "Location": (
        "id", "uuid", "__typename", "name", "locationType", "latitude", "longitude", "active",
        "transportation", "updatedAt", "version",
    ),
    "Address": ("uuid", "address1", "address2", "city", "region", "stateProvince", "postalCode"),
    "Phone": ("id", "uuid", "number", "extension", "type", "description", "version"),
    "Schedule": (
        "id", "uuid", "byday", "opensAt", "closesAt", "freq", "interval", "validFrom", "notes",
    ),
    "FollowUp": (
        "id", "uuid", "__typename", "dueAt", "status", "note", "completedAt", "version",
        "createdAt",
    ),
}  # fmt: skip
RELATIONS: dict[str, dict[str, str]] = {
    "ContactRecord": {"client": "Client", "needs": "TaxonomyTerm", "referrals": "Referral"},
    "Referral": {"service": "Service"},
    "Service": {
        "organization": "Organization",
        "locations": "Location",
        "phones": "Phone",
        "schedules": "Schedule",
    },
    "Location": {
        "organization": "Organization",
        "addresses": "Address",
        "phones": "Phone",
        "schedules": "Schedule",
    },
}
# Not covered: the resolvers answer these (the compiled path must step aside, per root field).
UNCOVERED: dict[str, tuple[str, ...]] = {
    "ContactRecord": ("answers", "tenant { name }", "followUps { dueAt }"),
    "Organization": ("active",),
    "Referral": ("outcomes { code }",),
    "Service": ("tenant { name }", "languages { name }", "taxonomyTerms { code }"),
    "Location": ("languages { name }", "taxonomyTerms { code }", "tenant { name }"),
    "FollowUp": ("contactRecord { id }", "assignedTenant { name }"),
}


@dataclass
class Document:
    fragments: list[str]
    counter: int = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


@st.composite
def selection(draw: Any, doc: Document, type_name: str, depth: int = 0) -> str:
    choices: list[str] = list(SCALARS[type_name])
    if depth < 3:
        choices += list(RELATIONS.get(type_name, {}))
    if draw(st.integers(0, 9)) == 0:
        choices += list(UNCOVERED.get(type_name, ()))
    picked = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=5))
    items = []
    for field in picked:
        text = field
        if field in RELATIONS.get(type_name, {}):
            text = f"{field} {{ {draw(selection(doc, RELATIONS[type_name][field], depth + 1))} }}"
        if draw(st.booleans()) and field != "__typename":
            text = f"{doc.name('a')}: {text}"
        if draw(st.integers(0, 7)) == 0:
            text += " @include(if: $flag)"
        how = draw(st.integers(0, 9))
        if how == 0:
            text = f"... on {type_name} {{ {text} }}"
        elif how == 1:
            fragment = doc.name("F")
            doc.fragments.append(f"fragment {fragment} on {type_name} {{ {text} }}")
            text = f"...{fragment}"
        elif how == 2:
            text = "... on Node { id } " + text
        items.append(text)
    return " ".join(items)


@dataclass(frozen=True)
class Operation:
    principal: str
    query: str
    variables: dict[str, Any]
    # (root field, its arguments), for fetching an `after` cursor
    list_args: tuple[str, str] | None = None


def _ids(pair: Pair) -> dict[str, list[str]]:
    return pair.ids


KINDS = (
    "list", "list", "services", "services", "clients", "followUps", "record", "lookup", "node",
    "entities", "other",
)  # fmt: skip
DIRECTORY_LISTS = (
    ("services", "Service"), ("services", "Service"), ("organizations", "Organization"),
    ("locations", "Location"), ("taxonomyTerms", "TaxonomyTerm"),
)  # fmt: skip
LOOKUPS = (
    ("referral", "Referral"), ("client", "Client"), ("organization", "Organization"),
    ("service", "Service"), ("location", "Location"),
)  # fmt: skip


@st.composite
def operations(draw: Any, ids: dict[str, list[str]], kinds: tuple[str, ...] = KINDS) -> Operation:
    doc = Document([])
    principal = draw(st.sampled_from(PRINCIPALS))
    roots = []
    list_args = None
    entity_reps: list[Any] = []
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(kinds))
        alias = f"{doc.name('r')}: " if draw(st.booleans()) else ""
        if kind == "list":
            args = [f"first: {draw(st.sampled_from([0, 1, 3, 7, 100, 101]))}"]
            if draw(st.booleans()):
                args.append(f"sort: {draw(st.sampled_from(SORTS))}")
            filters = draw(
                st.lists(
                    st.sampled_from(
                        [
                            f'tenantIds: ["{ids["Tenant"][0]}"]',
                            f'tenantIds: ["{ids["Tenant"][-1]}"]',
                            "channels: [CALL, WALK_IN]",
                            "riskLevels: [HIGH, LOW]",
                            'startedAfter: "2025-06-01T00:00:00Z"',
                            'callerCounty: "Prairie"',
                            f'ids: ["{ids["ContactRecord"][0]}", "{ids["ContactRecord"][3]}"]',
                        ]
                    ),
                    max_size=2,
                    unique=True,
                )
            )
            if filters:
                args.append(f"filter: {{ {', '.join(filters)} }}")
            if list_args is None and draw(st.booleans()):
                list_args = ("contactRecords", ", ".join(args))
                args.append("after: $after")
            edge = f"cursor node {{ {draw(selection(doc, 'ContactRecord'))} }}"
            parts = [f"edges {{ {edge} }}"]
            if draw(st.booleans()):
                parts.append("pageInfo { hasNextPage hasPreviousPage startCursor endCursor }")
            if draw(st.integers(0, 5)) == 0:
                parts.append("totalCount")
            if draw(st.booleans()):
                parts.insert(0, "__typename")
            roots.append(f"{alias}contactRecords({', '.join(args)}) {{ {' '.join(parts)} }}")
        elif kind == "services":
            root, node_type = draw(st.sampled_from(DIRECTORY_LISTS))
            args = []
            if draw(st.booleans()):
                args.append(f"first: {draw(st.sampled_from([0, 1, 2, 5, 20, 100, 101]))}")
            if draw(st.booleans()):
                args.append(f"sort: {draw(st.sampled_from(DIRECTORY_SORTS))}")
            filters = draw(
                st.lists(
                    st.sampled_from(
                        [
                            f'search: "{draw(st.sampled_from(SEARCHES))}"',
                            f'search: "{draw(st.sampled_from(SEARCHES))}"',
                            f'tenantIds: ["{ids["Tenant"][0]}"]',
                            f'organizationId: "{ids["Organization"][0]}"',
                            'modifiedAfter: "2020-01-01T00:00:00Z"',
                            f'taxonomyTermIds: ["{ids["TaxonomyTerm"][0]}"]',
                            "near: {latitude: 41.6, longitude: -93.6, radiusKm: 30}",
                        ]
                    ),
                    max_size=2,
                    unique_by=lambda f: f.split(":")[0],
                )
            )
            if filters:
                args.append(f"filter: {{ {', '.join(filters)} }}")
            if list_args is None and draw(st.booleans()):
                list_args = (root, ", ".join(args))
                args.append("after: $after")
            edge = f"cursor node {{ {draw(selection(doc, node_type))} }}"
            parts = [f"edges {{ {edge} }}"]
            if draw(st.booleans()):
                parts.append("pageInfo { hasNextPage hasPreviousPage startCursor endCursor }")
            if draw(st.integers(0, 5)) == 0:
                parts.append("totalCount")
            if draw(st.booleans()):
                parts.insert(0, "__typename")
            arguments = f"({', '.join(args)})" if args else ""
            roots.append(f"{alias}{root}{arguments} {{ {' '.join(parts)} }}")
        elif kind == "clients":
            args = [f"first: {draw(st.sampled_from([0, 1, 3, 7, 100, 101]))}"]
            filters = draw(
                st.lists(
                    st.sampled_from(
                        [
                            f'tenantIds: ["{ids["Tenant"][0]}"]',
                            f'tenantIds: ["{ids["Tenant"][-1]}"]',
                            'county: "Prairie"',
                            'lastName: "Nguyen"',
                            'dateOfBirth: "1980-01-01"',
                        ]
                    ),
                    max_size=2,
                    unique_by=lambda f: f.split(":")[0],
                )
            )
            if filters:
                args.append(f"filter: {{ {', '.join(filters)} }}")
            if list_args is None and draw(st.booleans()):
                list_args = ("clients", ", ".join(args))
                args.append("after: $after")
            parts = [f"edges {{ cursor node {{ {draw(selection(doc, 'Client'))} }} }}"]
            if draw(st.booleans()):
                parts.append("pageInfo { hasNextPage hasPreviousPage startCursor endCursor }")
            if draw(st.integers(0, 3)) == 0:
                parts.append("totalCount")
            roots.append(f"{alias}clients({', '.join(args)}) {{ {' '.join(parts)} }}")
        elif kind == "followUps":
            args = [f"first: {draw(st.sampled_from([0, 1, 3, 7, 100, 101]))}"]
            if draw(st.booleans()):
                args.append(f"sort: {draw(st.sampled_from(['DUE_AT_ASC', 'DUE_AT_DESC']))}")
            filters = draw(
                st.lists(
                    st.sampled_from(
                        [
                            "status: OPEN",
                            "status: COMPLETED",
                            'dueAfter: "2025-06-01T00:00:00Z"',
                            'dueBefore: "2026-06-01T00:00:00Z"',
                            "assignedToMe: true",
                            f'assignedTenantId: "{ids["Tenant"][0]}"',
                        ]
                    ),
                    max_size=2,
                    unique_by=lambda f: f.split(":")[0],
                )
            )
            if filters:
                args.append(f"filter: {{ {', '.join(filters)} }}")
            if list_args is None and draw(st.booleans()):
                list_args = ("followUps", ", ".join(args))
                args.append("after: $after")
            parts = [f"edges {{ cursor node {{ {draw(selection(doc, 'FollowUp'))} }} }}"]
            if draw(st.booleans()):
                parts.append("pageInfo { hasNextPage hasPreviousPage startCursor endCursor }")
            if draw(st.integers(0, 3)) == 0:
                parts.append("totalCount")
            roots.append(f"{alias}followUps({', '.join(args)}) {{ {' '.join(parts)} }}")
        elif kind == "lookup":
            field, type_name = draw(st.sampled_from(LOOKUPS))
            target = draw(st.sampled_from(ids[type_name] + ids["ContactRecord"][:1]))
            sel = draw(selection(doc, type_name))
            roots.append(f'{alias}{field}(id: "{target}") {{ {sel} }}')
        elif kind == "record":
            record = draw(st.sampled_from(ids["ContactRecord"] + ids["Client"][:1]))
            sel = draw(selection(doc, "ContactRecord"))
            roots.append(f'{alias}contactRecord(id: "{record}") {{ {sel} }}')
        elif kind == "node":
            type_name = draw(st.sampled_from(sorted(ids)))
            target = draw(st.sampled_from(ids[type_name]))
            inner = (
                f"... on {type_name} {{ {draw(selection(doc, type_name))} }}"
                if type_name in SCALARS
                else f"... on {type_name} {{ id }}"
            )
            roots.append(f'{alias}node(id: "{target}") {{ __typename {inner} }}')
        elif kind == "entities":
            # mostly what a router sends; some lists hold a representation the resolver
            # answers with an error
            odd = draw(st.integers(0, 3)) == 0
            reps = draw(st.lists(representation(ids, odd), max_size=8))
            if reps and draw(st.integers(0, 3)) == 0:
                reps += draw(st.lists(st.sampled_from(reps), min_size=1, max_size=3))  # again
            if draw(st.booleans()):
                argument, entity_reps = "$reps", reps
            else:
                argument = f"[{', '.join(_literal(r) for r in reps)}]"
            roots.append(
                f"{alias}_entities(representations: {argument}) {{ __typename "
                f"{draw(entity_fragments(doc))} }}"
            )
        else:
            roots.append(f"{alias}viewer {{ name }}")
    body = f"{{ {' '.join(roots)} }} {' '.join(doc.fragments)}"
    declared = [
        d
        for d in ("$flag: Boolean!", "$after: String", "$reps: [_Any!]!")
        if d.split(":")[0] in body
    ]
    header = f"query Q({', '.join(declared)})" if declared else "query Q"
    variables: dict[str, Any] = {"flag": draw(st.booleans())} if "$flag" in body else {}
    if "$reps" in body:
        variables["reps"] = entity_reps
    return Operation(principal, f"{header} {body}", variables, list_args)


ENTITY_TYPES = (
    "ContactRecord", "Client", "Referral", "TaxonomyTerm", "Service", "Organization", "Location",
    "Phone", "Schedule", "FollowUp",
)  # fmt: skip


@st.composite
def representation(draw: Any, ids: dict[str, list[str]], odd: bool) -> Any:
    """A representation as a router sends it (an entity's id, seen by the caller or not), or
    (``odd``, half the time) one the resolver answers with an error, which the compiled path
    must leave to it."""
    type_name = draw(st.sampled_from(ENTITY_TYPES))
    other = draw(st.sampled_from([t for t in ENTITY_TYPES if t != type_name]))
    good = {"__typename": type_name, "id": draw(st.sampled_from(ids[type_name]))}
    unknown = {"__typename": type_name, "id": to_global_id(type_name, draw(st.uuids()))}
    if not odd or draw(st.booleans()):
        return draw(st.sampled_from([unknown, *([good] * 6)]))
    program = to_global_id("Program", draw(st.uuids()))  # an entity not covered
    wrong = [
        {"__typename": "Nope", "id": good["id"]},
        {"__typename": "Tenant", "id": ids["Tenant"][0]},  # a type that is no entity
        {"__typename": "Program", "id": program},
        {"__typename": type_name},
        {"id": good["id"]},
        {**good, "name": "x"},
        {"__typename": type_name, "id": "not-an-id"},
        {"__typename": type_name, "id": draw(st.sampled_from(ids[other]))},
        {"__typename": type_name, "id": 7},
        "a string",
    ]
    return draw(st.sampled_from(wrong))


def _literal(value: Any) -> str:
    """``value`` written as a GraphQL input literal."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@st.composite
def entity_fragments(draw: Any, doc: Document) -> str:
    types = draw(st.lists(st.sampled_from(ENTITY_TYPES), min_size=1, max_size=4, unique=True))
    if "Referral" in types and "Service" in types:
        types.remove("Service")  # both have a `status`, of other enum types: they do not merge
    items = [f"... on {t} {{ {draw(selection(doc, t))} }}" for t in types]
    if draw(st.integers(0, 4)) == 0:
        items.append("... on _Entity { __typename }")
    return " ".join(items)


SORTS = ("STARTED_AT_DESC", "STARTED_AT_ASC", "UPDATED_AT_DESC", "UPDATED_AT_ASC")
DIRECTORY_SORTS = ("NAME_ASC", "NAME_DESC", "UPDATED_AT_ASC", "UPDATED_AT_DESC")
# Words of the demo directory (whole, prefixes, several, none) and text the search refuses.
SEARCHES = ("food", "pan", "Food Pantry", "health clinic", "shelter", "zzzz", "...", "a " * 17)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_generated_operations_answer_alike(pair: Pair, data: Any) -> None:
    await run_operation(pair, data.draw(operations(pair.ids)))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_generated_entities_answer_alike(pair: Pair, data: Any) -> None:
    """`_entities` with representations of every kind: seen or not by the caller, unknown,
    malformed, repeated, as a variable or written in the document, under aliases."""
    await run_operation(pair, data.draw(operations(pair.ids, ("entities", "entities", "node"))))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_generated_other_lists_and_lookups_answer_alike(pair: Pair, data: Any) -> None:
    await run_operation(
        pair, data.draw(operations(pair.ids, ("services", "clients", "followUps", "lookup")))
    )


async def run_operation(pair: Pair, operation: Operation) -> None:
    variables = dict(operation.variables)
    if operation.list_args is not None:
        root, list_args = operation.list_args
        arguments = f"({list_args})" if list_args else ""
        page = await pair.resolvers.post(
            operation.principal,
            {"query": f"{{ {root}{arguments} {{ pageInfo {{ endCursor }} }} }}"},
        )
        found = (page.json().get("data") or {}).get(root) or {}
        variables["after"] = (found.get("pageInfo") or {}).get("endCursor")
    expected, got = await both(pair, operation.principal, operation.query, variables)
    assert json.dumps(got) == json.dumps(expected), operation.query


# -- the resource search (services) -----------------------------------------------------------

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


async def test_smoke_resource_search(pair: Pair) -> None:
    answered = STATS["answered"]
    for principal in PRINCIPALS:
        for word in ("food", "pan", "health clinic", "zzzz"):
            expected, got = await both(pair, principal, RESOURCE_SEARCH, {"search": word})
            assert json.dumps(got) == json.dumps(expected), (principal, word)
    assert STATS["answered"] - answered >= len(PRINCIPALS)


# -- directory rows and fields under row scopes -------------------------------------------------
# Northwoods 211 (a fresh tenant) sees Prairie's directory only through two agreements: all of
# it inside an inventory (the Eastside pantry's records), and some fields of what lies in a
# region; Prairie's public directory is revoked, so the demo's partners see less too. Rows,
# masked fields (per row, by the scope the row falls under) and FORBIDDEN_FIELD errors must
# come out alike.


@dataclass
class ScopedPair:
    pair: Pair
    northwoods: str  # its admin's API key


@pytest.fixture
async def scoped_pair(seeded_db: Database, keys: dict[str, str]) -> AsyncIterator[ScopedPair]:
    from .test_child_scopes import REGION, _eastside_inventory, _northwoods, _share

    off = Settings(database_url=seeded_db.url, compiled_reads=False)
    on = Settings(database_url=seeded_db.url, compiled_reads=True)
    async for resolvers in make_api(seeded_db, keys, off):
        tenant, key = await _northwoods(resolvers)
        inventory = await _eastside_inventory(resolvers)
        await _share(resolvers, tenant, "East food", f"inventory:{inventory}", DIRECTORY, ["read"])
        await _share(
            resolvers,
            tenant,
            "Bluestem names",
            f"region:{REGION}",
            [
                "Service.name", "Service.status", "Service.locations", "Service.phones",
                "Service.organization", "Organization.name", "Location.name",
                "Location.latitude", "Location.addresses", "Location.phones", "Address.city",
                "Phone.number",
            ],
            ["read"],
        )  # fmt: skip
        async for compiled in make_api(seeded_db, keys, on):
            ids = await _global_ids(seeded_db)
            yield ScopedPair(Pair(resolvers, compiled, seeded_db, ids), key)


SCOPED_QUERIES = (
    RESOURCE_SEARCH,
    """query Q { services(first: 40) { edges { cursor node {
         id name description status url minimumAge updatedAt
         organization { id name email } phones { number description }
         schedules { byday opensAt }
         locations { id name latitude longitude transportation active
           addresses { address1 city postalCode } phones { number extension }
           organization { name } } } } pageInfo { hasNextPage endCursor } } }""",
    """query Q($search: String!) { a: services(filter: {search: $search}, sort: NAME_DESC,
         first: 3) { edges { node { ...S } } } b: services(first: 2) { edges { cursor } } }
       fragment S on Service { name ... on Service { locations { ... on Location { name } } } }""",
)


@pytest.mark.parametrize("query", SCOPED_QUERIES)
async def test_services_under_row_scopes_answer_alike(scoped_pair: ScopedPair, query: str) -> None:
    pair = scoped_pair.pair
    answered = STATS["answered"]
    seen = 0
    for principal in (scoped_pair.northwoods, "eastside-portal", "harbor-portal", "prairie-api"):
        for word in ("food", "pantry", "shelter", "clinic"):
            variables = {"search": word} if "$search" in query else {}
            expected, got = await both(pair, principal, query, variables)
            assert json.dumps(got) == json.dumps(expected), (principal, word)
            if principal == scoped_pair.northwoods:
                seen += json.dumps(expected).count('"name"')
    assert seen, "Northwoods sees some of the directory"
    assert STATS["answered"] > answered


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_generated_operations_under_row_scopes_answer_alike(
    scoped_pair: ScopedPair, data: Any
) -> None:
    pair = scoped_pair.pair
    operation: Operation = data.draw(operations(pair.ids))
    principal = data.draw(st.sampled_from([scoped_pair.northwoods, operation.principal]))
    await run_operation(
        pair, Operation(principal, operation.query, operation.variables, operation.list_args)
    )


TWO_SEARCHES = """query Q($search: String!) {
  a: services(filter: {search: $search}, first: 5) { edges { cursor node { name
    locations { name addresses { city } phones { number } schedules { opensAt } }
    phones { number } schedules { byday } organization { name } } }
    pageInfo { hasNextPage } }
  b: services(sort: UPDATED_AT_DESC) { edges { node { id name } } }
}"""


SOME_ENTITIES = """... on Service { name organization { name } phones { number } }
  ... on Location { name addresses { city } } ... on Organization { name }"""


def _some_representations(pair: Pair) -> list[dict[str, str]]:
    found = [
        {"__typename": t, "id": i}
        for t in ("Service", "Location", "Organization")
        for i in pair.ids[t][:5]
    ]
    return [*found, found[0]]


async def test_one_statement_per_covered_root_field(
    pair: Pair, count_statements: StatementCounter
) -> None:
    location = pair.ids["Location"][0]
    lookup = f'{{ node(id: "{location}") {{ ... on Location {{ name addresses {{ city }} }} }} }}'
    cases = [
        (RESOURCE_SEARCH, {"search": "food"}, 1),
        (TWO_SEARCHES, {"search": "pan"}, 2),
        (lookup, {}, 1),
        ("{ services(first: 3) { totalCount edges { node { name } } } }", {}, 1),
        ("{ organizations(first: 5) { totalCount edges { node { name } } } }", {}, 1),
        (f'{{ location(id: "{location}") {{ name phones {{ number }} }} }}', {}, 1),
        # three entity types, a repeated representation: still one statement
        (ENTITIES % SOME_ENTITIES, {"reps": _some_representations(pair)}, 1),
    ]

    async def statements(api: Api, query: str, variables: dict[str, Any]) -> list[str]:
        await api.post("harbor-portal", {"query": query, "variables": variables})  # warm
        count_statements.statements.clear()
        response = await api.post("harbor-portal", {"query": query, "variables": variables})
        assert "errors" not in response.json(), response.text
        # Not counted: PostgreSQL's row-level security settings when a session opens
        # (datastore/rls.py); they read no rows.
        return [s for s in count_statements.statements if "set_config(" not in s]

    base = await statements(pair.compiled, "{ __typename }", {})
    for query, variables, roots in cases:
        compiled = await statements(pair.compiled, query, variables)
        assert len(compiled) == len(base) + roots, [x[:300] for x in compiled]
        resolved = await statements(pair.resolvers, query, variables)
        assert len(resolved) > len(compiled), resolved


async def test_services_pages_and_total_count_to_the_end(pair: Pair) -> None:
    query = """query Q($after: String, $search: String) {
      services(first: 10, after: $after, filter: {search: $search}, sort: UPDATED_AT_DESC) {
        totalCount edges { cursor node { id name } } pageInfo { hasNextPage endCursor } } }"""
    for principal in ("prairie-admin", "harbor-portal"):
        for search in (None, "food"):
            after, pages = None, 0
            while True:
                variables = {"after": after, "search": search}
                expected, got = await both(pair, principal, query, variables)
                assert json.dumps(got) == json.dumps(expected), (principal, after)
                page = expected["data"]["services"]
                if not page["edges"]:
                    break  # past the last row: an empty page still knows the total
                assert page["totalCount"] >= len(page["edges"])
                after = page["edges"][-1]["cursor"]
                pages += 1
            assert pages >= 1 and page["totalCount"] > 0


# -- federation: _entities ----------------------------------------------------------------------

ENTITIES = "query Q($reps: [_Any!]!) { _entities(representations: $reps) { __typename %s } }"


def _representations(pair: Pair, per_type: int = 4) -> list[dict[str, Any]]:
    """Ids of every entity type and of every tenant, each type's ids interleaved with the
    others' (so the caller may see some and not others)."""
    found = []
    for i in range(per_type):
        for type_name in ENTITY_TYPES:
            ids = pair.ids[type_name]
            found.append({"__typename": type_name, "id": ids[(i * 5) % len(ids)]})
    return found


# Aliased by type: a field's name may have another type on another entity (`status`).
ENTITY_SELECTION = " ".join(
    f"... on {t} {{ {' '.join(f'{t}Status: {f}' if f == 'status' else f for f in SCALARS[t])} }}"
    for t in ENTITY_TYPES
)


async def test_entities_of_every_type_answer_alike(pair: Pair) -> None:
    reps = _representations(pair)
    query = ENTITIES % ENTITY_SELECTION
    answered = STATS["answered"]
    for principal in PRINCIPALS:
        expected, got = await both(pair, principal, query, {"reps": reps})
        assert json.dumps(got) == json.dumps(expected), principal
        assert expected["data"] is not None, expected
        entities = expected["data"]["_entities"]
        assert len(entities) == len(reps)
        if principal in ("prairie-admin", "eastside-portal"):
            # some rows are outside the plan (null), some inside
            assert None in entities and any(e is not None for e in entities), principal
    assert STATS["answered"] - answered == len(PRINCIPALS)


async def test_entities_the_resolver_refuses_stay_with_it(pair: Pair) -> None:
    """Representations strawberry's resolver answers with an error (for the field or the
    item) are not compiled: the answer, error and audit rows are the resolver's."""
    service, record = pair.ids["Service"][0], pair.ids["ContactRecord"][0]
    good = {"__typename": "Service", "id": service}
    odd: list[Any] = [
        {"__typename": "Nope", "id": service},
        {"__typename": "Tenant", "id": pair.ids["Tenant"][0]},
        {"__typename": "Service"},
        {"id": service},
        {**good, "name": "x"},
        {"__typename": "Service", "id": "not-an-id"},
        {"__typename": "Service", "id": record},
        {"__typename": "Service", "id": 7},
        {"__typename": ["Service"], "id": service},
        {"__typename": {"name": "Service"}, "id": service},
        "a string",
    ]
    query = ENTITIES % "... on Service { id name } ... on ContactRecord { id narrative }"
    for item in odd:
        answered = STATS["answered"]
        reps = [good, item, {"__typename": "ContactRecord", "id": record}]
        expected, got = await both(pair, "prairie-admin", query, {"reps": reps})
        assert json.dumps(got) == json.dumps(expected), item
        assert expected.get("errors"), item
        assert STATS["answered"] == answered, item


async def test_entities_of_the_directory_under_row_scopes_answer_alike(
    scoped_pair: ScopedPair,
) -> None:
    """Northwoods reads Prairie's directory through an inventory (all fields) and a region
    (some fields): per row, the masks and FORBIDDEN_FIELD errors come out alike."""
    pair = scoped_pair.pair
    types = ("Service", "Location", "Organization", "Phone", "Schedule")
    reps = [{"__typename": t, "id": i} for t in types for i in pair.ids[t]]
    selection = " ".join(
        f"... on {t} {{ {' '.join(f for f in SCALARS[t] if f != 'status')} }}" for t in types
    )
    query = ENTITIES % (
        selection + " ... on Service { status organization { name } locations { name"
        " addresses { city } phones { number } } }"
    )
    answered = STATS["answered"]
    refused = 0
    for principal in (scoped_pair.northwoods, "eastside-portal", "harbor-portal", "prairie-api"):
        expected, got = await both(pair, principal, query, {"reps": reps})
        assert json.dumps(got) == json.dumps(expected), principal
        refused += len(expected.get("errors", ()))
    assert refused, "some fields are withheld on some rows"
    assert STATS["answered"] - answered == 4


# -- the directory's other lists, typed lookups -------------------------------------------------

DIRECTORY_PAGES = (
    """query Q($after: String) { organizations(first: 3, after: $after) { totalCount
         edges { cursor node { id name email yearIncorporated updatedAt } }
         pageInfo { hasNextPage endCursor } } }""",
    """query Q($after: String) { locations(first: 4, after: $after, sort: NAME_DESC) {
         edges { cursor node { id name latitude longitude organization { name }
           addresses { city postalCode } phones { number } schedules { opensAt } } }
         pageInfo { hasNextPage endCursor } totalCount } }""",
    """query Q($after: String) { taxonomyTerms(first: 5, after: $after,
         filter: {search: "food"}) { edges { cursor node { code name description } }
         pageInfo { hasNextPage endCursor } } }""",
    """query Q($after: String) { followUps(first: 3, after: $after, sort: DUE_AT_DESC) {
         totalCount edges { cursor node { id uuid dueAt status note completedAt version } }
         pageInfo { hasNextPage endCursor } } }""",
    """query Q($after: String) { clients(first: 40, after: $after) { totalCount
         edges { cursor node { id uuid firstName lastName phone dateOfBirth county } }
         pageInfo { hasNextPage hasPreviousPage endCursor } } }""",
)


@pytest.mark.parametrize("query", DIRECTORY_PAGES)
async def test_directory_lists_page_alike_to_the_end(pair: Pair, query: str) -> None:
    root = query.split("{", 1)[1].split("(", 1)[0].strip()
    answered = STATS["answered"]
    pages = 0
    for principal in ("prairie-admin", "harbor-portal", "lakeside-api"):
        after = None
        for _ in range(12):
            expected, got = await both(pair, principal, query, {"after": after})
            assert json.dumps(got) == json.dumps(expected), (principal, after)
            if expected["data"] is None:
                break  # refused (the operation is not granted): the resolver's answer
            pages += 1
            page = expected["data"][root]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    assert pages > 1
    assert STATS["answered"] - answered == pages  # every page served was compiled


async def test_typed_lookups_answer_alike(pair: Pair) -> None:
    selections = {
        "Referral": "id status createdAt service { name organization { name } }",
        "Client": "id firstName lastName dateOfBirth",
        "Organization": "id name email",
        "Service": "id name status phones { number } locations { name }",
        "Location": "id name latitude addresses { city }",
    }
    answered = STATS["answered"]
    for principal in ("prairie-admin", "prairie-call-taker", "eastside-portal", "riverbend-api"):
        for field, type_name in LOOKUPS:
            for target in pair.ids[type_name][:4]:
                query = f'{{ x: {field}(id: "{target}") {{ {selections[type_name]} }} }}'
                expected, got = await both(pair, principal, query, {})
                assert json.dumps(got) == json.dumps(expected), (principal, query)
    # the rows each principal sees are compiled; NOT_FOUND ones are the resolver's
    assert STATS["answered"] > answered


async def test_entities_of_every_row_of_the_demo_answer_alike(pair: Pair) -> None:
    """Every row of every covered entity type (every tenant's, in lists of up to 1,000, each
    type's rows after the last type's), as every demo principal: the rows each one sees, its
    masks and refusals, are the same on both paths."""
    reps = []
    async with pair.database.read_session() as session:
        for type_name in ENTITY_TYPES:
            model = getattr(m, type_name)
            ids = (await session.scalars(select(model.id).order_by(model.id))).all()
            reps += [{"__typename": type_name, "id": to_global_id(type_name, i)} for i in ids]
    query = ENTITIES % ENTITY_SELECTION
    for principal in PRINCIPALS:
        seen = 0
        for start in range(0, len(reps), 1000):
            expected, got = await both(pair, principal, query, {"reps": reps[start : start + 1000]})
            assert json.dumps(got) == json.dumps(expected), principal
            seen += sum(e is not None for e in expected["data"]["_entities"])
        assert 0 < seen < len(reps), principal


OTHER_PAGES = (
    ("clients", ""), ("followUps", "sort: DUE_AT_DESC"), ("organizations", ""),
    ("locations", "sort: NAME_DESC"), ("taxonomyTerms", ""),
)  # fmt: skip


@pytest.mark.parametrize(("root", "sort"), OTHER_PAGES)
async def test_cursors_of_other_principals_answer_alike(pair: Pair, root: str, sort: str) -> None:
    """A cursor taken from another principal's page (of a row the caller may or may not see)
    is read alike: the same page, or the same STALE_CURSOR."""
    owners = ("prairie-admin", "lakeside-admin", "riverbend-call-taker", "eastside-portal")
    cursors = []
    for principal in owners:
        page = await pair.resolvers.post(
            principal, {"query": f"{{ x: {root}(first: 1, {sort}) {{ edges {{ cursor }} }} }}"}
        )
        cursors += [
            e["cursor"] for e in ((page.json().get("data") or {}).get("x") or {}).get("edges", ())
        ]
    query = f"""query Q($after: String) {{ x: {root}(first: 2, after: $after, {sort}) {{
      totalCount edges {{ cursor node {{ id }} }} pageInfo {{ hasNextPage hasPreviousPage }} }} }}"""
    for principal in owners:
        for cursor in cursors:
            expected, got = await both(pair, principal, query, {"after": cursor})
            assert json.dumps(got) == json.dumps(expected), (principal, root)


REGION_RECORD_FIELDS = [
    "ContactRecord.narrative", "ContactRecord.channel", "ContactRecord.callerCounty",
    "ContactRecord.client", "ContactRecord.referrals", "ContactRecord.followUps",
    "Client.firstName", "Referral.status", "FollowUp.note", "FollowUp.dueAt",
]  # fmt: skip


async def test_records_under_a_region_scope_answer_alike(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """Northwoods reads Prairie's records through a region (some fields) and everywhere (other
    fields): `_entities` of every record, client, referral and follow-up, and the `clients` and
    `followUps` pages, come out alike, masks, refusals and totals included."""
    from .test_child_scopes import REGION, _northwoods, _share

    off = Settings(database_url=seeded_db.url, compiled_reads=False)
    on = Settings(database_url=seeded_db.url, compiled_reads=True)
    async for resolvers in make_api(seeded_db, keys, off):
        tenant, northwoods = await _northwoods(resolvers)
        await _share(
            resolvers, tenant, "Bluestem calls", f"region:{REGION}", REGION_RECORD_FIELDS, ["read"]
        )
        await _share(resolvers, tenant, "Every call", "all", ["Client.county"], ["read"])
        async for compiled in make_api(seeded_db, keys, on):
            pair = Pair(resolvers, compiled, seeded_db, {})
            reps = []
            async with seeded_db.read_session() as session:
                for type_name in ("ContactRecord", "Client", "Referral", "FollowUp"):
                    model = getattr(m, type_name)
                    ids = (await session.scalars(select(model.id).order_by(model.id))).all()
                    reps += [
                        {"__typename": type_name, "id": to_global_id(type_name, i)} for i in ids
                    ]
            query = ENTITIES % ENTITY_SELECTION
            answered = STATS["answered"]
            for principal in (northwoods, "lakeside-admin", "eastside-portal"):
                for start in range(0, len(reps), 1000):
                    chunk = {"reps": reps[start : start + 1000]}
                    expected, got = await both(pair, principal, query, chunk)
                    assert json.dumps(got) == json.dumps(expected), principal
            for page in (
                "{ x: clients(first: 50) { totalCount edges { node { id firstName county } } } }",
                "{ x: followUps(first: 50) { totalCount edges { node { id note dueAt status } } } }",
            ):
                expected, got = await both(pair, northwoods, page, {})
                assert json.dumps(got) == json.dumps(expected), page
                assert expected["data"]["x"]["totalCount"] > 0, page
            assert STATS["answered"] > answered


async def test_a_document_answered_whole_before_takes_the_prepared_lane_alike(pair: Pair) -> None:
    """The second time a document comes, it is answered without strawberry's runner
    (web/endpoint.py answer_prepared): the same bodies and audit rows as the resolvers, for
    every principal (some lack the operation: the full path answers them), and whatever the
    lane cannot answer the same way goes the full way and is refused in its words."""
    query = """
    query Q($first: Int, $ids: [ID!]) { contactRecords(first: $first, filter: {ids: $ids}) {
      edges { node { id channel client { firstName } needs { code } } } } }
    """
    record = pair.ids["ContactRecord"][0]
    await both(pair, "prairie-admin", query, {"first": 5})  # prepares it
    prepared = STATS["prepared"]
    for principal in PRINCIPALS:
        for variables in ({"first": 5}, {"first": 2, "ids": [record]}):
            expected, got = await both(pair, principal, query, variables)
            assert json.dumps(got) == json.dumps(expected), (principal, variables)
    assert STATS["prepared"] - prepared >= 2 * (len(PRINCIPALS) - 2)
    refused: list[dict[str, Any]] = [
        {"first": "five"},  # variables that do not coerce
        {"first": 5, "ids": [record] * 5_000},  # an over-long list
        {"first": 5, "ids": ["a\x00b"]},  # a string no database can store
        {"first": 10_000},  # a page over the limit
    ]
    for variables in refused:
        prepared = STATS["prepared"]
        expected, got = await both(pair, "prairie-admin", query, variables)
        assert got == expected and got["errors"], variables
        assert STATS["prepared"] == prepared, variables
    # Another operation of the same text is not the prepared one.
    two = "query A { contactRecords(first: 1) { edges { node { id } } } } query B { __typename }"
    for name in ("A", "A", "B"):
        expected, got = await both(pair, "prairie-admin", two, {})
        payload = {"query": two, "operationName": name}
        response = await pair.compiled.post("prairie-admin", payload)
        expected_response = await pair.resolvers.post("prairie-admin", payload)
        assert _body(response) == _body(expected_response), name


async def test_a_compiled_read_that_loses_the_database_answers_503_not_the_resolvers(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lost connection under a compiled statement is the request's outage (503, retry), on the
    full path and on the prepared lane alike; the resolvers do not try again on a connection
    that is gone (they answered INTERNAL)."""
    query = "query Q($id: ID!) { contactRecord(id: $id) { id channel } }"
    variables = {"id": pair.ids["ContactRecord"][0]}
    assert (
        "errors"
        not in (
            await pair.compiled.post("prairie-admin", {"query": query, "variables": variables})
        ).json()
    )

    async def lost(*_args: Any, **_kwargs: Any) -> Any:
        raise DBAPIError("SELECT ...", None, ConnectionResetError(), connection_invalidated=True)

    monkeypatch.setattr(DirectStatement, "rows", lost)
    for document in (query, query + " "):  # the prepared lane, then the full path
        failed = STATS["failed"]
        response = await pair.compiled.post(
            "prairie-admin", {"query": document, "variables": variables}
        )
        assert response.status_code == 503, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["reason"] == "DATABASE_CONNECTION_LOST", response.text
        assert STATS["failed"] == failed
