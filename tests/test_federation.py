"""Apollo Federation: our subgraph composes into a supergraph, and `_entities` respects access.

Composition runs the real `@apollo/composition` (what Rover and the router use) through
tests/federation/compose.mjs, with the pinned versions of tests/federation/package-lock.json.
Without `node`/`npm`, or when the npm registry cannot be reached, those tests are skipped with
the reason, except under CI=true where that is a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from graphql import EnumValueNode, ObjectTypeDefinitionNode, StringValueNode, parse
from strawberry.printer import print_schema

from sharegraph.graph.schema import build_schema
from sharegraph.settings import Settings
from tests.conftest import make_api

if TYPE_CHECKING:
    from sharegraph.datastore.engine import Database
    from tests.conftest import Api

FEDERATION_DIR = Path(__file__).resolve().parent / "federation"
PARTNER_SDL = (FEDERATION_DIR / "partner_subgraph.graphql").read_text()
NPM_CI_TIMEOUT = 300
COMPOSE_TIMEOUT = 120
# npm error codes that mean "the registry could not be reached", not "the lockfile is wrong".
NETWORK_ERRORS = re.compile(
    r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH"
    r"|ERR_SOCKET_TIMEOUT|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT|network connectivity|proxy",
    re.IGNORECASE,
)
FEDERATION_LINK = re.compile(r"https://specs\.apollo\.dev/federation/(v[\d.]+)")
SERVICES = "{ services(first: 1) { edges { node { id name } } } }"
CONTACT_RECORDS = "{ contactRecords(first: 1) { edges { node { id } } } }"

Compose = Callable[[list[dict[str, str]]], dict[str, Any]]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> NoReturn:
    """Skip locally; under CI=true the composition tests must run, so fail."""
    if _in_ci():
        pytest.fail(f"CI=true requires the federation composition check: {reason}")
    pytest.skip(reason)


def _installed_matches_lockfile() -> bool:
    """node_modules holds the exact versions package.json pins (so `npm ci` is not needed)."""
    pins: dict[str, str] = json.loads((FEDERATION_DIR / "package.json").read_text())["dependencies"]
    for name, version in pins.items():
        manifest = FEDERATION_DIR / "node_modules" / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text()).get("version") != version:
            return False
    return (FEDERATION_DIR / "node_modules" / ".package-lock.json").is_file()


def _npm_ci(npm: str) -> None:
    try:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=FEDERATION_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        _unavailable(
            f"`npm ci` in {FEDERATION_DIR} took over {NPM_CI_TIMEOUT}s (registry unreachable?)"
        )
    if done.returncode == 0:
        return
    output = (done.stdout + done.stderr).strip()
    tail = "\n".join(output.splitlines()[-15:])
    if NETWORK_ERRORS.search(output):
        _unavailable(f"`npm ci` could not reach the npm registry:\n{tail}")
    pytest.fail(f"`npm ci` failed in {FEDERATION_DIR} (exit {done.returncode}):\n{tail}")


@pytest.fixture(scope="session")
def compose() -> Compose:
    """Composes [{name, sdl}] with @apollo/composition; installs it once per session if needed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm must be on PATH to check federation composition")
    if not _installed_matches_lockfile():
        _npm_ci(npm)

    def run(subgraphs: list[dict[str, str]]) -> dict[str, Any]:
        done = subprocess.run(
            [node, "compose.mjs"],
            cwd=FEDERATION_DIR,
            input=json.dumps(subgraphs),
            capture_output=True,
            text=True,
            timeout=COMPOSE_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, (
            f"compose.mjs exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    return run


def _errors(result: dict[str, Any]) -> str:
    return "\n".join(f"[{e.get('code')}] {e['message']}" for e in result.get("errors", []))


def _graphs(directives: Any, directive_name: str) -> set[str]:
    """The `graph:` arguments of the `@join__type`/`@join__field` directives in a list."""
    return {
        arg.value.value
        for directive in directives or ()
        if directive.name.value == directive_name
        for arg in directive.arguments or ()
        if arg.name.value == "graph" and isinstance(arg.value, EnumValueNode)
    }


def _fields_by_graph(supergraph_sdl: str, type_name: str) -> dict[str, set[str]]:
    """Fields of a supergraph object type, by the join__Graph value that resolves them.

    A field without `@join__field` is resolvable in every subgraph that declares the type.
    """
    (definition,) = [
        d
        for d in parse(supergraph_sdl).definitions
        if isinstance(d, ObjectTypeDefinitionNode) and d.name.value == type_name
    ]
    type_graphs = _graphs(definition.directives, "join__type")
    by_graph: dict[str, set[str]] = {graph: set() for graph in type_graphs}
    for field in definition.fields or ():
        for graph in _graphs(field.directives, "join__field") or type_graphs:
            by_graph.setdefault(graph, set()).add(field.name.value)
    return by_graph


def _federation_version(sdl: str) -> str:
    for definition in parse(sdl).definitions:
        for directive in getattr(definition, "directives", None) or ():
            for arg in directive.arguments or ():
                if directive.name.value == "link" and isinstance(arg.value, StringValueNode):
                    match = FEDERATION_LINK.fullmatch(arg.value.value)
                    if arg.name.value == "url" and match:
                        return match.group(1)
    raise AssertionError("no federation @link in the SDL")


def _assert_composes_with_partner(compose: Compose, sdl: str) -> None:
    result = compose(
        [
            {"name": "sharegraph", "sdl": sdl},
            {"name": "partner-crm", "sdl": PARTNER_SDL},
        ]
    )
    assert result["ok"], f"the supergraph does not compose:\n{_errors(result)}"
    assert result["errors"] == []
    supergraph = result["supergraphSdl"]
    assert "enum join__Graph" in supergraph
    assert 'SHAREGRAPH @join__graph(name: "sharegraph"' in supergraph
    assert 'PARTNER_CRM @join__graph(name: "partner-crm"' in supergraph

    referral = _fields_by_graph(supergraph, "Referral")
    assert {"id", "status", "contactRecord", "service"} <= referral["SHAREGRAPH"]
    assert {"id", "partnerCaseNote", "partnerCase"} <= referral["PARTNER_CRM"]
    assert "status" not in referral["PARTNER_CRM"]

    contact_record = _fields_by_graph(supergraph, "ContactRecord")
    assert {"id", "narrative", "referrals"} <= contact_record["SHAREGRAPH"]
    assert {"id", "partnerCases"} <= contact_record["PARTNER_CRM"]

    assert set(_fields_by_graph(supergraph, "PartnerCase")) == {"PARTNER_CRM"}
    service = _fields_by_graph(supergraph, "Service")
    assert set(service) == {"SHAREGRAPH"} and "name" in service["SHAREGRAPH"]

    query = _fields_by_graph(supergraph, "Query")
    assert {"services", "contactRecords", "node"} <= query["SHAREGRAPH"]
    assert {"partnerCases", "partnerCase"} <= query["PARTNER_CRM"]
    # Federation's own plumbing stays in the subgraphs, out of the supergraph's API.
    assert not {"_entities", "_service"} & set().union(*query.values())


@pytest.mark.multiprocess
async def test_served_sdl_composes_with_a_partner_subgraph(api: Api, compose: Compose) -> None:
    data = await api.data("prairie-api", "{ _service { sdl } }")
    sdl = data["_service"]["sdl"]
    assert '@key(fields: "id")' in sdl
    assert _federation_version(sdl) == _federation_version(PARTNER_SDL), (
        "tests/federation/partner_subgraph.graphql should @link the federation version we serve"
    )
    await asyncio.to_thread(_assert_composes_with_partner, compose, sdl)


@pytest.mark.multiprocess
def test_schema_sdl_composes_with_a_partner_subgraph(compose: Compose) -> None:
    """The same check without a database: the SDL `_service` serves is strawberry's printer's."""
    _assert_composes_with_partner(compose, print_schema(build_schema(Settings())))


@pytest.mark.multiprocess
def test_composition_failures_are_reported(compose: Compose) -> None:
    """The harness does report a broken supergraph (so `ok` above means something)."""
    # Referral.status is a ReferralStatus! in sharegraph: a partner cannot make it an Int.
    clashing = PARTNER_SDL.replace(
        "  partnerCaseNote: String", "  status: Int\n  partnerCaseNote: String"
    )
    assert clashing != PARTNER_SDL
    result = compose(
        [
            {"name": "sharegraph", "sdl": print_schema(build_schema(Settings()))},
            {"name": "partner-crm", "sdl": clashing},
        ]
    )
    assert not result["ok"]
    assert "supergraphSdl" not in result
    assert any(
        error["code"] == "FIELD_TYPE_MISMATCH" and '"Referral.status"' in error["message"]
        for error in result["errors"]
    ), _errors(result)


ENTITIES = """
query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Service { id name }
    ... on ContactRecord { id }
  }
}
"""


async def test_entities_resolve_a_service(api: Api) -> None:
    data = await api.data("prairie-api", SERVICES)
    (edge,) = data["services"]["edges"]
    service = edge["node"]

    representation = {"__typename": "Service", "id": service["id"]}
    data = await api.data("prairie-api", ENTITIES, {"representations": [representation]})
    assert data["_entities"] == [{"__typename": "Service", **service}]


async def test_entities_hide_rows_outside_the_access_plan(api: Api) -> None:
    data = await api.data("lakeside-admin", CONTACT_RECORDS)
    (edge,) = data["contactRecords"]["edges"]
    record_id = edge["node"]["id"]
    representation = {"__typename": "ContactRecord", "id": record_id}

    # The owner sees it through _entities, so the null below is the access plan's doing.
    data = await api.data("lakeside-admin", ENTITIES, {"representations": [representation]})
    assert data["_entities"] == [{"__typename": "ContactRecord", "id": record_id}]

    data = await api.data("prairie-api", ENTITIES, {"representations": [representation]})
    assert data["_entities"] == [None]

    # ... while prairie-api does resolve its own tenant's contact records.
    own = await api.data("prairie-api", CONTACT_RECORDS)
    own_id = own["contactRecords"]["edges"][0]["node"]["id"]
    own_representation = {"__typename": "ContactRecord", "id": own_id}
    data = await api.data("prairie-api", ENTITIES, {"representations": [own_representation]})
    assert data["_entities"] == [{"__typename": "ContactRecord", "id": own_id}]

    # In a batch, the hidden row is a null in its place, the others still resolve.
    services = await api.data("prairie-api", SERVICES)
    service = services["services"]["edges"][0]["node"]
    data = await api.data(
        "prairie-api",
        ENTITIES,
        {"representations": [representation, {"__typename": "Service", "id": service["id"]}]},
    )
    assert data["_entities"] == [None, {"__typename": "Service", **service}]


async def test_malformed_representations_are_refused_each_in_its_place(api: Api) -> None:
    """A representation strawberry's resolver could not use (an unknown type, a missing or
    extra key, an id that is no text) is a BAD_REPRESENTATION error at its index, its item
    null; the others still resolve (before, most took the whole field down as INTERNAL)."""
    service = (await api.data("prairie-api", SERVICES))["services"]["edges"][0]["node"]
    good = {"__typename": "Service", "id": service["id"]}
    odd: list[tuple[Any, str]] = [
        ({"__typename": "Nope", "id": service["id"]}, "BAD_REPRESENTATION"),
        ({"__typename": "Tenant", "id": service["id"]}, "BAD_REPRESENTATION"),
        ({"__typename": "Service"}, "BAD_REPRESENTATION"),
        ({"id": service["id"]}, "BAD_REPRESENTATION"),
        ({**good, "name": "x"}, "BAD_REPRESENTATION"),
        ("a string", "BAD_REPRESENTATION"),
        ({"__typename": "Service", "id": 7}, "BAD_ID"),
        ({"__typename": "Service", "id": "not-an-id"}, "BAD_ID"),
        # a `__typename` that is no text: a list or an object was INTERNAL for every item
        ({"__typename": ["Service"], "id": service["id"]}, "BAD_REPRESENTATION"),
        ({"__typename": {"name": "Service"}, "id": service["id"]}, "BAD_REPRESENTATION"),
        ({"__typename": 5, "id": service["id"]}, "BAD_REPRESENTATION"),
        ({"__typename": None, "id": service["id"]}, "BAD_REPRESENTATION"),
    ]
    for representation, reason in odd:
        body = await api.gql("prairie-api", ENTITIES, {"representations": [good, representation]})
        assert body["data"] == {"_entities": [{"__typename": "Service", **service}, None]}, body
        (error,) = body["errors"]
        assert error["path"] == ["_entities", 1], error
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["reason"] == reason, error


@pytest.mark.parametrize("compiled", [False, True])
async def test_two_entities_fields_over_one_variable_both_resolve(
    demo_db: Database, keys: dict[str, str], compiled: bool
) -> None:
    """strawberry's resolver takes `__typename` out of the variable's own objects: the second
    field found none and failed (INTERNAL). Both paths now answer both fields."""
    query = """query Q($r: [_Any!]!) { a: _entities(representations: $r) { ... on Service { id } }
      b: _entities(representations: $r) { ... on Service { id } } }"""
    settings = Settings(database_url=demo_db.url, compiled_reads=compiled)
    async for api in make_api(demo_db, keys, settings):
        service = (await api.data("prairie-api", SERVICES))["services"]["edges"][0]["node"]
        representation = {"__typename": "Service", "id": service["id"]}
        data = await api.data("prairie-api", query, {"r": [representation]})
        assert data == {"a": [{"id": service["id"]}], "b": [{"id": service["id"]}]}
