"""With introspection off, the schema stays closed: `_service { sdl }` answers only to the
federation router's principals (the api-client role), and error messages suggest no names.

With introspection on, the schema is public anyway: `_service` is open and suggestions help.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from sharegraph.datastore.audit import DENIED
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import AuditEvent, Principal
from sharegraph.settings import Settings

from .conftest import Api, make_api

SDL = "{ _service { sdl } }"
SERVICES = "{ services(first: 1) { edges { node { id name } } } }"
ENTITIES = """
query($reps: [_Any!]!) { _entities(representations: $reps) { __typename ... on Service { id name } } }
"""
# Ways to reach the same root field: an alias, a fragment, an inline fragment, a named operation.
DISGUISED_SDL = [
    "{ schema: _service { text: sdl } }",
    "query Q { ...F } fragment F on Query { _service { sdl } }",
    "{ ... on Query { _service { sdl } } }",
    "query Compose { services(first: 1) { totalCount } _service { sdl } }",
]
# Typos graphql-core would answer with "Did you mean ...?", one per kind of name it suggests.
TYPOS: list[tuple[str, dict[str, Any]]] = [
    ("{ services(first: 1) { edges { node { nam } } } }", {}),  # field
    ("{ services(frist: 1) { totalCount } }", {}),  # argument
    ("{ services(sort: NAME_AS) { totalCount } }", {}),  # enum value literal
    ("query($s: DirectorySort!) { services(sort: $s) { totalCount } }", {"s": "NAME_AS"}),
    (  # input field, in a variable's value
        "query($f: DirectoryFilterInput) { services(filter: $f) { totalCount } }",
        {"f": {"serch": "x"}},
    ),
    ("query($f: DirectoryFiltrInput) { services(filter: $f) { totalCount } }", {}),  # type
    ('{ services(filter: {serch: "x"}) { totalCount } }', {}),  # input field literal
    ('{ node(id: "x") { name } }', {}),  # "Did you mean to use an inline fragment on ..."
]


def codes(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["extensions"]["code"], e["extensions"].get("reason")) for e in body["errors"]]


@pytest.fixture
async def closed_api(demo_db: Database, keys: dict[str, str]) -> AsyncIterator[Api]:
    settings = Settings(database_url=demo_db.url, introspection=False)
    async for client in make_api(demo_db, keys, settings):
        yield client


async def test_the_router_principal_reads_the_sdl_with_introspection_off(closed_api: Api) -> None:
    sdl = (await closed_api.data("prairie-api", SDL))["_service"]["sdl"]
    assert "type Query" in sdl and '@key(fields: "id")' in sdl
    # ... while introspection itself stays off for it too.
    body = await closed_api.gql("prairie-api", "{ __schema { types { name } } }")
    assert body["data"] is None and codes(body)[0][0] == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.parametrize(
    "principal", ["prairie-admin", "prairie-call-taker", "lakeside-admin", "eastside-portal"]
)
async def test_anyone_else_is_refused_the_sdl(closed_api: Api, principal: str) -> None:
    body = await closed_api.gql(principal, SDL)
    assert body["data"] is None
    assert codes(body) == [("FORBIDDEN", "FEDERATION_DENIED")]
    assert body["errors"][0]["extensions"]["operation"] == "_service"
    assert "createPrincipal" not in str(body)


@pytest.mark.parametrize("query", DISGUISED_SDL)
async def test_aliases_and_fragments_do_not_reach_the_sdl(closed_api: Api, query: str) -> None:
    body = await closed_api.gql("prairie-call-taker", query)
    assert body["data"] is None, body
    assert codes(body) == [("FORBIDDEN", "FEDERATION_DENIED")]
    allowed = await closed_api.data("prairie-api", query)
    assert "type Query" in str(allowed)


async def test_a_refused_sdl_request_is_audited(closed_api: Api) -> None:
    await closed_api.gql("prairie-call-taker", SDL)
    async with closed_api.database.read_session() as session:
        caller = await session.scalar(
            select(Principal.id).where(Principal.name == "prairie-call-taker")
        )
        refusals = (
            await session.scalars(
                select(AuditEvent.coordinates).where(
                    AuditEvent.principal_id == caller, AuditEvent.action == DENIED
                )
            )
        ).all()
    assert any("_service" in (coordinates or []) for coordinates in refusals)


async def test_entities_keep_working_for_the_router(closed_api: Api) -> None:
    service = (await closed_api.data("prairie-api", SERVICES))["services"]["edges"][0]["node"]
    reps = [{"__typename": "Service", "id": service["id"]}]
    data = await closed_api.data("prairie-api", ENTITIES, {"reps": reps})
    assert data["_entities"] == [{"__typename": "Service", **service}]


async def test_with_introspection_on_the_sdl_is_open(api: Api) -> None:
    for principal in ("prairie-call-taker", "eastside-portal"):
        sdl = (await api.data(principal, SDL))["_service"]["sdl"]
        assert "type Query" in sdl


@pytest.mark.parametrize(("query", "variables"), TYPOS)
async def test_errors_suggest_no_names_with_introspection_off(
    closed_api: Api, query: str, variables: dict[str, Any]
) -> None:
    body = await closed_api.gql("prairie-call-taker", query, variables)
    assert body["data"] is None and body["errors"], body
    # A typo in the document fails validation; one in a variable's value is bad input.
    expected = "BAD_USER_INPUT" if variables else "GRAPHQL_VALIDATION_FAILED"
    for error in body["errors"]:
        assert error["extensions"]["code"] == expected, error
        assert "Did you mean" not in error["message"], error
        assert error["message"].strip(), error  # the error still says what is wrong


@pytest.mark.parametrize(("query", "variables"), TYPOS)
async def test_errors_suggest_names_with_introspection_on(
    api: Api, query: str, variables: dict[str, Any]
) -> None:
    """The same typos do draw suggestions when the schema is public (so the test above means
    something)."""
    body = await api.gql("prairie-call-taker", query, variables)
    assert any("Did you mean" in e["message"] for e in body["errors"]), body
