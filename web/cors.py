"""Cross-origin calls from browsers (CORS) to ``/graphql`` and ``/hsds/``, for the origins in
``SHAREGRAPH_CORS_ORIGINS`` (none by default), so a partner's web page can embed a resource
search. Starlette's :class:`CORSMiddleware` does the work; this wrapper limits it to those
routes and answers a refused preflight in the route family's JSON error shape instead of
Starlette's plain text.

Credentials travel in the ``Authorization`` header, never in cookies, so no
``Access-Control-Allow-Credentials``: a page can only send a key it holds itself.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from sharegraph.errors import BadUserInput
from sharegraph.web.http_errors import error_response

PREFIXES = ("/graphql", "/hsds")
ALLOWED_METHODS = ("GET", "POST")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "Sharegraph-Purpose")
EXPOSED_HEADERS = ("Retry-After",)
MAX_AGE_SECONDS = 600


def _covered(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PREFIXES)


class Cors:
    """Pure ASGI middleware: CORS for :data:`PREFIXES`, everything else passes untouched."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=list(ALLOWED_METHODS),
            allow_headers=list(ALLOWED_HEADERS),
            expose_headers=list(EXPOSED_HEADERS),
            max_age=MAX_AGE_SECONDS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _covered(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        preflight = (
            scope["method"] == "OPTIONS"
            and "origin" in headers
            and "access-control-request-method" in headers
        )
        if not preflight:
            await self.cors(scope, receive, send)
            return
        answer = self.cors.preflight_response(request_headers=headers)
        if answer.status_code < 400:
            await answer(scope, receive, send)
            return
        refused = bytes(answer.body).decode().removeprefix("Disallowed CORS ")
        error = BadUserInput(
            f"this cross-origin request is not allowed (its {refused})", reason="CORS_REFUSED"
        )
        kept = {k: v for k, v in answer.headers.items() if k.lower().startswith("access-control-")}
        await error_response(scope, error, 400, kept)(scope, receive, send)
