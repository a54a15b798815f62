"""GraphiQL from packaged files: no CDN, a strict CSP, the demo key pre-filled in demo mode only,
and the JSON refusal for clients asking GET /graphql for JSON in every mode."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest

from sharegraph.datastore.engine import Database
from sharegraph.settings import Settings
from sharegraph.web import graphiql

from .conftest import Api, make_api

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def _api(db: Database, keys: dict[str, str], *, on: bool = True) -> AsyncIterator[Api]:
    async for api in make_api(db, keys, Settings(database_url=db.url, graphiql=on)):
        yield api


@pytest.fixture
async def demo_api(demo_db: Database, keys: dict[str, str]) -> AsyncIterator[Api]:
    async for api in _api(demo_db, keys):
        yield api


@pytest.fixture
async def plain_api(migrated_db: Database, keys: dict[str, str]) -> AsyncIterator[Api]:
    async for api in _api(migrated_db, keys):
        yield api


def _config(page: str) -> dict[str, str]:
    found = re.search(
        r'<script type="application/json" id="sharegraph-graphiql-config">(.*?)</script>',
        page,
        re.S,
    )
    assert found is not None
    config: dict[str, str] = json.loads(found.group(1))
    return config


async def test_the_page_references_only_this_origin_and_its_files_are_served(
    demo_api: Api,
) -> None:
    response = await demo_api.http.get("/graphql", headers=BROWSER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", page), "an external URL in the page"
    assert "<script>" not in page  # no inline script for the CSP to allow
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sorted(sources) == sorted(f"graphiql/{name}" for name in graphiql.ASSETS)
    for source in sources:
        asset = await demo_api.http.get(f"/{source}")
        assert asset.status_code == 200, source
        assert asset.headers["content-type"].split(";")[0] in {"text/javascript", "text/css"}
        assert len(asset.content) > 1000
    bundle = (await demo_api.http.get("/graphiql/graphiql.min.js")).text
    assert "window.GraphiQL" in bundle and "createGraphiQLFetcher" in bundle
    missing = await demo_api.http.get("/graphiql/../app.py")
    assert missing.status_code == 404
    assert (await demo_api.http.get("/graphiql/LICENSE-react")).status_code == 404


async def test_the_page_has_a_same_origin_content_security_policy(demo_api: Api) -> None:
    response = await demo_api.http.get("/graphql", headers=BROWSER)
    policy = {
        part.split()[0]: part.split()[1:]
        for part in response.headers["content-security-policy"].split("; ")
    }
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    for sources in policy.values():
        for source in sources:
            assert source.startswith("'") or source == "data:", source


async def test_demo_mode_prefills_a_working_demo_key(demo_api: Api) -> None:
    page = (await demo_api.http.get("/graphql", headers=BROWSER)).text
    config = _config(page)
    headers = json.loads(config["headers"])
    key = demo_api.keys[graphiql.DEMO_PRINCIPAL]
    assert headers == {"Authorization": f"Bearer {key}"}
    # The pre-filled headers answer the pre-filled query.
    answer = await demo_api.http.post(
        f"/{config['endpoint']}", json={"query": config["defaultQuery"]}, headers=headers
    )
    assert answer.json()["data"]["viewer"]["name"] == graphiql.DEMO_PRINCIPAL


async def test_outside_demo_mode_the_headers_show_where_a_key_goes(
    plain_api: Api, keys: dict[str, str]
) -> None:
    page = (await plain_api.http.get("/graphql", headers=BROWSER)).text
    headers = json.loads(_config(page)["headers"])
    assert headers == {"Authorization": f"Bearer {graphiql.KEY_PLACEHOLDER}"}
    assert not any(key in page for key in keys.values())


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_json_clients_get_the_refusal_in_every_mode(
    demo_db: Database, migrated_db: Database, keys: dict[str, str], accept: str
) -> None:
    for db, on in ((demo_db, True), (migrated_db, True), (migrated_db, False)):
        async for api in _api(db, keys, on=on):
            for params in ({}, {"query": "{ viewer { name } }"}):
                response = await api.http.get("/graphql", params=params, headers={"Accept": accept})
                assert response.status_code == 405, (on, params)
                body = response.json()
                assert body["data"] is None
                assert body["errors"][0]["extensions"] == {
                    "code": "BAD_USER_INPUT",
                    "reason": "METHOD_NOT_ALLOWED",
                }


async def test_no_graphiql_files_when_graphiql_is_off(
    migrated_db: Database, keys: dict[str, str]
) -> None:
    async for api in _api(migrated_db, keys, on=False):
        assert (await api.http.get("/graphql", headers=BROWSER)).status_code == 405
        response = await api.http.get("/graphiql/graphiql.min.js")
        assert response.status_code == 404
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_the_vendored_files_ship_with_their_licenses() -> None:
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    folder = repo / "web" / "static" / "graphiql"
    shipped = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["sharegraph.web"]
    for name in [*graphiql.ASSETS, "LICENSE-graphiql", "LICENSE-react", "LICENSE-react-dom"]:
        assert (folder / name).is_file(), name
        assert any(fnmatch(f"static/graphiql/{name}", pattern) for pattern in shipped), name
    for name in ("LICENSE-graphiql", "LICENSE-react", "LICENSE-react-dom"):
        assert "MIT License" in (folder / name).read_text()
