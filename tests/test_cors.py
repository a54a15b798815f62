"""CORS for /graphql and /hsds/: off by default; with SHAREGRAPH_CORS_ORIGINS a page from an
allowed origin may call them from a browser, a page from any other origin may not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sharegraph.datastore.engine import Database
from sharegraph.settings import Settings

from .conftest import Api, make_api

ALLOWED = "https://pantry.example.org"
OTHER = "https://evil.example.com"


@pytest.fixture
async def cors_api(demo_db: Database, keys: dict[str, str]) -> AsyncIterator[Api]:
    settings = Settings(database_url=demo_db.url, cors_origins=(ALLOWED, "http://localhost:3000"))
    async for client in make_api(demo_db, keys, settings):
        yield client


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


@pytest.mark.parametrize(("path", "method"), [("/graphql", "POST"), ("/hsds/services", "GET")])
async def test_a_preflight_from_an_allowed_origin_gets_the_headers(
    cors_api: Api, path: str, method: str
) -> None:
    response = await cors_api.http.options(path, headers=_preflight(ALLOWED, method))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert method in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert "access-control-allow-credentials" not in response.headers


async def test_requests_from_an_allowed_origin_carry_the_headers_even_when_refused(
    cors_api: Api,
) -> None:
    origin = {"Origin": ALLOWED}
    hsds = await cors_api.http.get("/hsds/services?per_page=1", headers=origin)
    assert hsds.status_code == 200
    assert hsds.headers["access-control-allow-origin"] == ALLOWED
    key = {"Authorization": f"Bearer {cors_api.keys['prairie-admin']}"}
    graphql = await cors_api.http.post(
        "/graphql", json={"query": "{ viewer { name } }"}, headers={**origin, **key}
    )
    assert graphql.status_code == 200 and graphql.json()["data"]["viewer"]["name"]
    assert graphql.headers["access-control-allow-origin"] == ALLOWED
    refused = await cors_api.http.post("/graphql", json={"query": "{ viewer { name } }"},
                                       headers=origin)  # fmt: skip
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ALLOWED
    assert "Retry-After" in refused.headers["access-control-expose-headers"]


@pytest.mark.parametrize(("path", "method"), [("/graphql", "POST"), ("/hsds/services", "GET")])
async def test_a_disallowed_origin_gets_no_cors_headers(
    cors_api: Api, path: str, method: str
) -> None:
    preflight = await cors_api.http.options(path, headers=_preflight(OTHER, method))
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    body = preflight.json()
    error = body["error"] if path.startswith("/hsds") else body["errors"][0]["extensions"]
    assert (error["code"], error["reason"]) == ("BAD_USER_INPUT", "CORS_REFUSED")
    simple = await cors_api.http.get("/hsds/services?per_page=1", headers={"Origin": OTHER})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers
    unlisted_method = await cors_api.http.options(path, headers=_preflight(ALLOWED, "DELETE"))
    assert unlisted_method.status_code == 400


async def test_only_the_graphql_and_hsds_routes_are_shared(cors_api: Api) -> None:
    health = await cors_api.http.get("/healthz", headers={"Origin": ALLOWED})
    assert health.status_code == 200
    assert "access-control-allow-origin" not in health.headers
    preflight = await cors_api.http.options("/exports/x", headers=_preflight(ALLOWED, "GET"))
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_is_off_by_default(api: Api) -> None:
    assert Settings().cors_origins == ()
    for path, method in (("/graphql", "POST"), ("/hsds/services", "GET")):
        preflight = await api.http.options(path, headers=_preflight(ALLOWED, method))
        assert "access-control-allow-origin" not in preflight.headers
        assert preflight.headers["content-type"].startswith("application/json")
    simple = await api.http.get("/hsds/services?per_page=1", headers={"Origin": ALLOWED})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


def test_origins_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHAREGRAPH_CORS_ORIGINS", f" {ALLOWED}, http://localhost:3000 ,")
    assert Settings.from_env().cors_origins == (ALLOWED, "http://localhost:3000")
    monkeypatch.delenv("SHAREGRAPH_CORS_ORIGINS")
    assert Settings.from_env().cors_origins == ()
    for bad in (f"{ALLOWED}/", "pantry.example.org", f"{ALLOWED}/search", "ftp://x.example"):
        monkeypatch.setenv("SHAREGRAPH_CORS_ORIGINS", bad)
        with pytest.raises(SystemExit, match="not an origin"):
            Settings.from_env()
