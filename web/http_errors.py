"""Every error the application answers over HTTP is JSON in the documented shape.

Under ``/hsds/`` that is HSDS's ``{"error": {code, reason, message}}``; everywhere else the
GraphQL shape ``{"data": null, "errors": [{message, extensions: {code, reason}}]}``. Routing
misses (404 ``NO_SUCH_ROUTE``, 405 ``METHOD_NOT_ALLOWED``), FastAPI's parameter validation (400
``BAD_USER_INPUT``) and any :class:`SharegraphError` a route lets through get that shape from
exception handlers; :class:`ErrorShield`, a pure ASGI middleware, turns any other exception
into 500 ``INTERNAL`` with an incident id (the traceback goes to the log under that id).

Starlette's own ``ServerErrorMiddleware`` sits outside every user middleware and answers a
plain-text 500, so the shield must catch first. It also holds back ``http.response.start``
until the first body message: a ``StreamingResponse`` sends its headers before its generator
has produced anything, and a generator failing on its first item would otherwise leave only a
200 with a broken body. Once bytes have left, the status cannot change: the exception is logged
under an incident and re-raised, so the server cuts the connection instead of ending a
truncated body cleanly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sharegraph.errors import (
    HTTP_STATUS,
    QUOTE_LIMIT,
    ErrorCode,
    SharegraphError,
    internal_error,
    quote,
)
from sharegraph.graph.responses import refusal_body
from sharegraph.web.hsds_api import error_response as hsds_error_response

log = logging.getLogger("sharegraph.http")

HSDS_PREFIX = "/hsds"
# HTTP statuses Starlette or a library may raise, as the codes clients already know.
_CODES = {
    400: ErrorCode.BAD_USER_INPUT,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    409: ErrorCode.CONFLICT,
    503: ErrorCode.SERVICE_UNAVAILABLE,
    504: ErrorCode.TIMEOUT,
}


def _path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def is_hsds(scope: Scope) -> bool:
    path = _path(scope)
    return path == HSDS_PREFIX or path.startswith(HSDS_PREFIX + "/")


def error_response(
    scope: Scope,
    error: SharegraphError,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """``error`` in the shape of the route family ``scope`` belongs to."""
    if is_hsds(scope):
        return hsds_error_response(error, status, headers)
    return JSONResponse(
        refusal_body(error),
        status_code=status or HTTP_STATUS[error.code],
        headers={**error.http_headers(), **(headers or {})},
    )


def _http_error(scope: Scope, exc: HTTPException) -> SharegraphError:
    method = scope.get("method", "")
    if exc.status_code == 404:
        return SharegraphError(
            f"nothing is served at {quote(_path(scope))}",
            code=ErrorCode.NOT_FOUND,
            reason="NO_SUCH_ROUTE",
        )
    if exc.status_code == 405:
        allowed = exc.headers.get("Allow", "") if exc.headers else ""
        return SharegraphError(
            f"the method {quote(method)} is not accepted here; use {allowed or 'another'}",
            code=ErrorCode.BAD_USER_INPUT,
            reason="METHOD_NOT_ALLOWED",
        )
    code = _CODES.get(exc.status_code, ErrorCode.INTERNAL)
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Refused"
    return SharegraphError(phrase.lower(), code=code, reason=phrase.upper().replace(" ", "_"))


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(app: Starlette, scope: Scope) -> str:
    """Every method some route serves at this path (Starlette's `Allow` names only the first
    route's, and GET and POST /graphql are two routes, one inside an included router): asked
    of the routes themselves, one method at a time."""
    methods = [
        method
        for method in HTTP_METHODS
        if method != "HEAD"
        and any(
            route.matches({**scope, "method": method})[0] == Match.FULL
            for route in app.router.routes
        )
    ]
    return ", ".join(methods)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request.app, request.scope) or headers.get("Allow", "")
        exc = HTTPException(405, headers=headers)
    error = _http_error(request.scope, exc)
    return error_response(request.scope, error, exc.status_code, headers or None)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first: dict[str, Any] = next(iter(exc.errors()), {})
    where = [str(part) for part in first.get("loc", ()) if part not in ("path", "query", "body")]
    name = ".".join(where) or "request"
    # pydantic's messages do not repeat the input; a name may (a key of a JSON body).
    message = f"{quote(name)}: {first.get('msg', 'is not valid')}"
    reason = "BAD_PARAMETER" if is_hsds(request.scope) else "BAD_REQUEST"
    error = SharegraphError(
        message, code=ErrorCode.BAD_USER_INPUT, reason=reason, parameter=name[:QUOTE_LIMIT]
    )
    return error_response(request.scope, error)


async def _on_sharegraph_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SharegraphError)
    return error_response(request.scope, exc)


class ErrorShield:
    """Pure ASGI middleware: an unexpected exception is a JSON 500 ``INTERNAL``, if the
    response has not started yet."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        started = False

        async def hold_start(message: Message) -> None:
            nonlocal held, started
            if message["type"] == "http.response.start":
                held = message
                return
            if held is not None:
                started = True
                await send(held)
                held = None
            await send(message)

        try:
            await self.app(scope, receive, hold_start)
        except ClientDisconnect:
            return  # nobody is left to answer, and nothing went wrong on our side
        except Exception as exc:
            where = f"{scope.get('method')} {quote(_path(scope), 200)}"
            if started:
                internal_error(log, exc, f"{where} (after the response started)")
                raise
            error = internal_error(log, exc, where)
            await error_response(scope, error)(scope, receive, send)
            return
        if held is not None:  # a start with no body message: let it out as it was
            await send(held)


def install(app: FastAPI) -> None:
    """Wire the handlers and the shield into ``app``."""
    app.add_exception_handler(HTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(SharegraphError, _on_sharegraph_error)
    app.add_middleware(ErrorShield)
