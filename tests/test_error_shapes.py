"""Every error the API answers is JSON in its documented shape, with a stable code.

A partner's client parses `errors[].extensions.code` (or, under /hsds/, `error.code`): a routing
miss, a wrong method, a bad parameter or a bug on our side must all arrive that way, never as a
plain-text 500 or FastAPI's `{"detail": ...}`, and never echo a huge parameter back. A bug is
500 INTERNAL with an incident id the operator finds in the log with its traceback, and the
service keeps answering.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sharegraph.authz import authenticate
from sharegraph.datastore.engine import Database
from sharegraph.queries import export_jobs
from sharegraph.settings import Settings
from sharegraph.web import hsds_api
from sharegraph.web.app import create_app

from .conftest import Api

HUGE = "x" * 60_000
KEY_HOLDER = "prairie-admin"


def graphql_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error of a GraphQL-shaped refusal."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json", response.text[:300]
    body = response.json()
    assert set(body) == {"data", "errors"} and body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    return error  # type: ignore[no-any-return]


def hsds_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The `error` object of an HSDS-shaped refusal."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json", response.text[:300]
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


def bearer(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.keys[KEY_HOLDER]}"}


async def assert_healthy(api: Api) -> None:
    """The service still answers at once: nothing leaked a connection or wedged the loop."""
    response = await asyncio.wait_for(api.http.get("/healthz"), timeout=1.0)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def assert_incident_logged(caplog: pytest.LogCaptureFixture, incident: str) -> None:
    logged = [r for r in caplog.records if incident in r.getMessage()]
    assert logged, f"no log record names incident {incident}"
    assert all(r.levelno == logging.ERROR for r in logged)
    assert any(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in logged)


def boom(*_args: object, **_kwargs: object) -> Any:
    raise RuntimeError("the database is on fire <Engine object at 0x7f00>")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("POST", "/graphql/extra"),
        ("GET", "/exports/"),
        ("GET", "/exports/a/b"),
        ("GET", "/" + HUGE),
    ],
)
async def test_an_unknown_route_is_a_graphql_shaped_404(api: Api, method: str, path: str) -> None:
    error = graphql_error(await api.http.request(method, path), 404, "NOT_FOUND")
    assert error["extensions"]["reason"] == "NO_SUCH_ROUTE"
    assert len(error["message"]) <= 150


@pytest.mark.parametrize("path", ["/hsds/nope", "/hsds/services/a/b", "/hsds/" + HUGE])
async def test_an_unknown_hsds_route_is_an_hsds_shaped_404(api: Api, path: str) -> None:
    error = hsds_error(await api.http.get(path), 404, "NOT_FOUND")
    assert error["reason"] == "NO_SUCH_ROUTE"
    assert len(error["message"]) <= 150


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/graphql", {"GET", "POST"}),
        ("DELETE", "/healthz", {"GET"}),
        ("POST", "/exports/a87bfa45-8e6b-41ff-af91-4bc613ff11d6", {"GET"}),
    ],
)
async def test_a_wrong_method_is_a_405_naming_the_right_ones(
    api: Api, method: str, path: str, allowed: set[str]
) -> None:
    response = await api.http.request(method, path)
    error = graphql_error(response, 405, "BAD_USER_INPUT")
    assert error["extensions"]["reason"] == "METHOD_NOT_ALLOWED"
    assert set(response.headers["allow"].replace(" ", "").split(",")) == allowed


async def test_a_wrong_method_under_hsds_is_an_hsds_shaped_405(api: Api) -> None:
    response = await api.http.post("/hsds/services", json={})
    error = hsds_error(response, 405, "BAD_USER_INPUT")
    assert error["reason"] == "METHOD_NOT_ALLOWED"
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(
    "parameter",
    ["page", "per_page", "taxonomy_id", "organization_id", "taxonomy_term_id", "modified_after",
     "minimal", "full"],
)  # fmt: skip
async def test_a_60kb_hsds_parameter_is_named_not_echoed(api: Api, parameter: str) -> None:
    response = await api.http.get("/hsds/services", params={parameter: HUGE})
    error = hsds_error(response, 400, "BAD_USER_INPUT")
    assert error["reason"] == "BAD_PARAMETER" and error["parameter"] == parameter
    assert f"`{parameter}`" in error["message"]
    assert "x" * 101 not in error["message"]  # at most 100 characters of it are quoted
    assert len(error["message"]) <= 160, error["message"][:300]


async def test_a_60kb_hsds_id_is_not_echoed(api: Api) -> None:
    error = hsds_error(await api.http.get(f"/hsds/services/{HUGE}"), 404, "NOT_FOUND")
    assert len(error["message"]) <= 150


async def test_a_60kb_name_or_id_in_graphql_is_not_echoed(api: Api) -> None:
    body = await api.gql(KEY_HOLDER, "{ " + HUGE + " }")
    [error] = body["errors"]
    assert error["message"].startswith("Cannot query field 'xxx")
    assert len(error["message"]) <= 150
    body = await api.gql(KEY_HOLDER, "query($id: ID!) { node(id: $id) { id } }", {"id": HUGE})
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "BAD_ID"}
    assert len(error["message"]) <= 150


async def test_a_bug_behind_graphql_is_a_500_with_an_incident(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Outside any resolver: loading the caller's principal fails."""
    monkeypatch.setattr(authenticate, "_principal_of", boom)
    response = await api.http.post(
        "/graphql", json={"query": "{ viewer { name } }"}, headers=bearer(api)
    )
    error = graphql_error(response, 500, "INTERNAL")
    incident = error["extensions"]["incident"]
    assert error["message"] == f"internal error (incident {incident})"
    assert "fire" not in response.text and "object at" not in response.text
    assert_incident_logged(caplog, incident)
    monkeypatch.undo()
    await assert_healthy(api)


async def test_a_bug_behind_hsds_is_an_hsds_shaped_500(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(hsds_api, "count", boom)
    response = await api.http.get("/hsds/services")
    error = hsds_error(response, 500, "INTERNAL")
    assert error["message"] == f"internal error (incident {error['incident']})"
    assert "fire" not in response.text
    assert_incident_logged(caplog, error["incident"])
    monkeypatch.undo()
    await assert_healthy(api)


async def test_a_stream_failing_before_its_first_line_is_still_a_json_500(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A StreamingResponse sends its headers before its generator runs: the error must still
    be able to take the response over."""

    async def failing(*_args: object, **_kwargs: object) -> AsyncIterator[list[Any]]:
        raise RuntimeError("the database is on fire")
        yield []

    monkeypatch.setattr(hsds_api, "keyset_batches", failing)
    response = await api.http.get("/hsds/services?format=ndjson", headers=bearer(api))
    error = hsds_error(response, 500, "INTERNAL")
    assert_incident_logged(caplog, error["incident"])
    monkeypatch.undo()
    await assert_healthy(api)


async def test_a_stream_failing_midway_is_cut_not_ended_as_if_complete(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once lines have left the status cannot change; a clean end would pass a truncated
    download off as complete, so the connection is cut (the ASGI client raises)."""
    real = hsds_api.keyset_batches

    async def one_batch_then_fail(*args: Any, **kwargs: Any) -> AsyncIterator[list[Any]]:
        async for rows in real(*args, **kwargs):
            yield rows
            raise RuntimeError("the database is on fire")

    monkeypatch.setattr(hsds_api, "keyset_batches", one_batch_then_fail)
    with pytest.raises(RuntimeError, match="on fire"):
        await api.http.get("/hsds/services?format=ndjson", headers=bearer(api))
    monkeypatch.undo()
    await assert_healthy(api)


async def test_a_bug_behind_an_export_download_is_a_500_with_an_incident(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(export_jobs, "job_of", boom)
    response = await api.http.get(f"/exports/{uuid.uuid4()}", headers=bearer(api))
    error = graphql_error(response, 500, "INTERNAL")
    assert_incident_logged(caplog, error["extensions"]["incident"])
    monkeypatch.undo()
    await assert_healthy(api)


async def test_parameter_validation_errors_are_bad_user_input(demo_db: Database) -> None:
    """FastAPI's own validation of typed path and query parameters (no route of ours has
    them yet: two probes are added to a real app)."""
    app = create_app(Settings(database_url=demo_db.url), database=demo_db)

    @app.get("/probe/{number}")
    async def probe(number: int) -> dict[str, int]:
        return {"number": number}

    @app.get("/hsds/probe")
    async def hsds_probe(limit: int) -> dict[str, int]:
        return {"limit": limit}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sharegraph.test") as http:
        error = graphql_error(await http.get("/probe/seven"), 400, "BAD_USER_INPUT")
        assert error["extensions"]["reason"] == "BAD_REQUEST"
        assert error["extensions"]["parameter"] == "number"
        error = hsds_error(await http.get("/hsds/probe?limit=" + HUGE), 400, "BAD_USER_INPUT")
        assert error["reason"] == "BAD_PARAMETER" and error["parameter"] == "limit"
        assert len(error["message"]) <= 150
        hsds_error(await http.get("/hsds/probe"), 400, "BAD_USER_INPUT")
