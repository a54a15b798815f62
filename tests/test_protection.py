"""Limits, HTTP behaviour and error codes a partner developer can act on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from sharegraph.datastore.engine import Database
from sharegraph.settings import Limits, Settings

from .builders import Network, directory_network
from .conftest import Api, make_api


@pytest.fixture
async def network(migrated_db: Database) -> Network:
    return await directory_network(migrated_db)


def _settings(db: Database, **limits: object) -> Settings:
    return Settings(database_url=db.url, limits=replace(Limits(), **limits))  # type: ignore[arg-type]


@pytest.fixture
async def strict_api(migrated_db: Database, network: Network) -> AsyncIterator[Api]:
    settings = _settings(migrated_db, max_depth=5, max_aliases=3, max_cost=500, max_tokens=200)
    async for api in make_api(migrated_db, network.keys, settings):
        yield api


def code(body: dict[str, object]) -> str:
    errors = body["errors"]
    assert isinstance(errors, list)
    return str(errors[0]["extensions"]["code"])


async def test_deep_queries_are_refused_before_execution(strict_api: Api) -> None:
    deep = "{ services { edges { node { organization { services { organization { name } } } } } } }"
    body = await strict_api.gql("test-admin", deep)
    assert code(body) == "QUERY_TOO_COMPLEX"
    assert body["errors"][0]["extensions"]["reason"] == "DEPTH"
    assert body["data"] is None


async def test_fragments_do_not_hide_depth_or_cost(strict_api: Api) -> None:
    query = """
    fragment Deep on Organization { services { organization { services { name } } } }
    { services { edges { node { organization { ...Deep } } } } }
    """
    assert code(await strict_api.gql("test-admin", query)) == "QUERY_TOO_COMPLEX"


async def test_too_many_aliases_are_refused(strict_api: Api) -> None:
    query = "{ a: tenants { name } b: tenants { name } c: tenants { name } d: tenants { name } }"
    body = await strict_api.gql("test-admin", query)
    assert code(body) == "QUERY_TOO_COMPLEX"
    assert body["errors"][0]["extensions"]["reason"] == "ALIASES"


async def test_cost_counts_page_sizes_and_plain_lists(strict_api: Api) -> None:
    cheap = "{ services(first: 10) { edges { node { name phones { number } } } } }"
    assert "errors" not in await strict_api.gql("test-admin", cheap)
    costly = "{ services(first: 100) { edges { node { name phones { number } } } } }"
    body = await strict_api.gql("test-admin", costly)
    assert code(body) == "QUERY_TOO_COMPLEX"
    assert body["errors"][0]["extensions"]["reason"] == "COST"
    via_variable = (
        "query($n: Int) { services(first: $n) { edges { node { name phones { number } } } } }"
    )
    body = await strict_api.post("test-admin", {"query": via_variable, "variables": {"n": 100}})
    assert code(body.json()) == "QUERY_TOO_COMPLEX"


async def test_token_limit(strict_api: Api) -> None:
    query = "{ " + " ".join(["tenants { name }"] * 80) + " }"
    assert code(await strict_api.gql("test-admin", query)) == "QUERY_TOO_COMPLEX"


async def test_missing_and_bad_credentials_are_graphql_shaped(strict_api: Api) -> None:
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer sg_aaaaaaaaaaaa_nope"},
        {"Authorization": "Bearer nonsense"},
    ):
        response = await strict_api.http.post(
            "/graphql", json={"query": "{ viewer { name } }"}, headers=headers
        )
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert response.json()["data"] is None


async def test_malformed_requests_get_stable_codes(strict_api: Api) -> None:
    headers = {"Authorization": f"Bearer {strict_api.keys['test-admin']}"}
    bad_bodies = [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"query": 5}', "application/json"),
        (b'{"query": "{ tenants { name } }", "variables": [1]}', "application/json"),
        (b"query=%7B%7D", "application/x-www-form-urlencoded"),
    ]
    for content, content_type in bad_bodies:
        response = await strict_api.http.post(
            "/graphql", content=content, headers={**headers, "Content-Type": content_type}
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await strict_api.gql("test-admin", "{ noSuchField }")
    assert code(body) == "GRAPHQL_VALIDATION_FAILED"
    body = await strict_api.gql("test-admin", "{ tenants { name ")
    assert code(body) == "GRAPHQL_PARSE_FAILED"


async def test_queries_over_get_are_refused_and_graphiql_is_off_by_default(strict_api: Api) -> None:
    response = await strict_api.http.get("/graphql", params={"query": "{ tenants { name } }"})
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_graphiql_and_introspection_follow_settings(
    migrated_db: Database, network: Network
) -> None:
    on = replace(_settings(migrated_db), graphiql=True)
    async for api in make_api(migrated_db, network.keys, on):
        response = await api.http.get("/graphql")
        assert response.status_code == 200 and "graphiql" in response.text.lower()
        assert "errors" not in await api.gql("test-admin", "{ __schema { queryType { name } } }")
    off = replace(_settings(migrated_db), introspection=False)
    async for api in make_api(migrated_db, network.keys, off):
        body = await api.gql("test-admin", "{ __schema { queryType { name } } }")
        assert code(body) == "GRAPHQL_VALIDATION_FAILED"


async def test_health(strict_api: Api) -> None:
    response = await strict_api.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_unexpected_errors_are_masked(
    strict_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sharegraph.graph.types import tenants

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(tenants.Tenant, "__init__", boom)
    body = await strict_api.gql("test-admin", "{ tenants { name } }")
    assert code(body) == "INTERNAL"
    assert "hunter2" not in str(body) and "Traceback" not in str(body)


async def test_slow_operations_time_out_with_a_code(
    migrated_db: Database, network: Network
) -> None:
    slow = _settings(migrated_db, request_timeout_seconds=0.000001)
    async for api in make_api(migrated_db, network.keys, slow):
        body = await api.gql("test-admin", "{ services(first: 50) { edges { node { name } } } }")
        assert code(body) == "TIMEOUT"
        assert body["data"] is None
