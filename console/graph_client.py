"""The pages' one way to data: operations of the public GraphQL schema, posted in-process to
the app's own ``/graphql`` with the signed-in person's session cookie and CSRF token.

So a page runs exactly as that person's API call would: the one authentication step, the
access plan, fair use, the audit trail. Nothing here reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request

from sharegraph.web import csrf

PAGES = Path(__file__).parent / "pages"


@cache
def document(name: str) -> str:
    """The GraphQL document ``pages/<name>.graphql``, beside the page that uses it."""
    return (PAGES / f"{name}.graphql").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Problem:
    """An API error as a page shows it."""

    message: str
    code: str
    reason: str | None = None
    path: tuple[str | int, ...] = ()
    coordinate: str | None = None
    retry_after: int | None = None


@dataclass
class Result:
    data: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    redisclosure_notice: str | None = None
    status: int = 200

    @property
    def unauthenticated(self) -> bool:
        return any(p.code == "UNAUTHENTICATED" for p in self.problems)

    def withheld(self) -> set[tuple[str | int, ...]]:
        """Paths of the fields the plan withheld on these rows (``FORBIDDEN_FIELD``)."""
        return {p.path for p in self.problems if p.code == "FORBIDDEN_FIELD"}

    def failures(self) -> list[Problem]:
        """Problems other than withheld fields: what the page must say went wrong."""
        return [p for p in self.problems if p.code != "FORBIDDEN_FIELD"]


def _problem(error: dict[str, Any]) -> Problem:
    extensions = error.get("extensions") or {}
    retry = extensions.get("retryAfter")
    return Problem(
        message=str(error.get("message") or "the request failed"),
        code=str(extensions.get("code") or "INTERNAL"),
        reason=extensions.get("reason"),
        path=tuple(error.get("path") or ()),
        coordinate=extensions.get("coordinate"),
        retry_after=retry if isinstance(retry, int) else None,
    )


async def run(
    request: Request,
    name: str,
    variables: dict[str, Any] | None = None,
    source: str | None = None,
) -> Result:
    """Run the document ``name`` (or ``source``, a narrowed copy of it) as the person signed
    in on ``request``."""
    async with _client(request) as http:
        response = await http.post(
            "/graphql",
            json={"query": source or document(name), "variables": variables or {}},
            headers={"content-type": "application/json", **_as_signed_in(request)},
        )
    return _result(response)


async def upload(
    request: Request, path: str, fields: dict[str, str], file: tuple[str, Any, str]
) -> Result:
    """Post a file (``(name, binary file, media type)``) with ``fields`` as multipart to the
    app's own upload route ``path`` (e.g. ``/imports``), as the person signed in; its JSON
    answer as a :class:`Result` (the refusal's errors as problems)."""
    async with _client(request) as http:
        response = await http.post(
            path, data=fields, files={"file": file}, headers=_as_signed_in(request)
        )
    return _result(response)


def _as_signed_in(request: Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    cookie = request.cookies.get(csrf.SESSION_COOKIE)
    if cookie:
        headers["cookie"] = f"{csrf.SESSION_COOKIE}={cookie}"
        token = csrf.expected_token(request.app.state.sharegraph["secret"], request)
        assert token is not None
        headers[csrf.CSRF_HEADER] = token
    for forwarded in ("x-forwarded-proto", "user-agent"):
        if forwarded in request.headers:
            headers[forwarded] = request.headers[forwarded]
    return headers


def _client(request: Request) -> httpx.AsyncClient:
    client = (request.client.host, request.client.port) if request.client else ("127.0.0.1", 0)
    transport = httpx.ASGITransport(app=request.app, client=client)
    return httpx.AsyncClient(transport=transport, base_url=str(request.base_url))


def _result(response: httpx.Response) -> Result:
    try:
        body = response.json()
    except ValueError:
        body = {"errors": [{"message": "the server did not answer", "extensions": {}}]}
    errors = body.get("errors") if isinstance(body, dict) else None
    return Result(
        data=body.get("data") if isinstance(body, dict) else None,
        problems=[_problem(e) for e in errors or []],
        redisclosure_notice=(body.get("extensions") or {}).get("redisclosureNotice"),
        status=response.status_code,
    )
