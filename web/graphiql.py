"""GraphiQL at ``GET /graphql``, from the files vendored in ``static/graphiql/`` (no CDN).

The page loads only this origin's scripts under a Content-Security-Policy that says so; its
settings (the headers editor's first text) travel in a JSON data block, not an inline script.
In demo mode the headers editor holds a demo key, so the first query answers.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from sharegraph.errors import NotFound

# The principal whose demo key the headers editor holds (the README's first query is its).
DEMO_PRINCIPAL = "prairie-admin"
KEY_PLACEHOLDER = "<your API key or JWT>"
DEFAULT_QUERY = """# Your credentials go in the Headers tab below:
#   {"Authorization": "Bearer <API key or JWT>"}
{
  viewer {
    name
    tenant { name }
  }
}
"""

ASSETS: dict[str, str] = {
    "graphiql.min.js": "text/javascript; charset=utf-8",
    "graphiql.min.css": "text/css; charset=utf-8",
    "react.production.min.js": "text/javascript; charset=utf-8",
    "react-dom.production.min.js": "text/javascript; charset=utf-8",
    "sharegraph-graphiql.js": "text/javascript; charset=utf-8",
}

# GraphiQL (CodeMirror, its popovers) sets inline styles; everything else is this origin's.
# 'self' covers ws(s):// to the same host for subscriptions (CSP Level 3); fonts and icons are
# data: URIs inside graphiql.min.css.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sharegraph GraphiQL</title>
<link rel="stylesheet" href="graphiql/graphiql.min.css">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL...</div>
<script type="application/json" id="sharegraph-graphiql-config">{config}</script>
<script src="graphiql/react.production.min.js"></script>
<script src="graphiql/react-dom.production.min.js"></script>
<script src="graphiql/graphiql.min.js"></script>
<script src="graphiql/sharegraph-graphiql.js"></script>
</body>
</html>
"""


def wants_graphiql(request: Request) -> bool:
    """A browser asking for the page, not a client asking for JSON (which gets the refusal)."""
    if request.query_params:
        return False
    accept = request.headers.get("accept", "").lower()
    if "json" in accept:
        return False
    return not accept or "text/html" in accept or "*/*" in accept


def page(api_key: str | None) -> HTMLResponse:
    """The GraphiQL page; ``api_key`` pre-fills the headers editor (demo mode only)."""
    headers = {"Authorization": f"Bearer {api_key or KEY_PLACEHOLDER}"}
    config = {
        "endpoint": "graphql",
        "headers": json.dumps(headers, indent=2),
        "defaultQuery": DEFAULT_QUERY,
    }
    # A data block's text is not HTML-decoded: "<" only ever appears inside JSON strings,
    # where \u003c keeps "</script>" or "<!--" from ending the block.
    text = json.dumps(config).replace("<", "\\u003c")
    return HTMLResponse(
        _PAGE.format(config=text),
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


@cache
def _read(name: str) -> bytes:
    return (resources.files("sharegraph.web") / "static" / "graphiql" / name).read_bytes()


def asset_router() -> APIRouter:
    """``GET /graphiql/<file>``: the vendored files, and nothing else under that path."""
    router = APIRouter()

    @router.get("/graphiql/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFound(f"no GraphiQL file named {name[:100]!r}", reason="NO_SUCH_ROUTE")
        return Response(
            _read(name),
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    return router
