"""Rendering pages: Jinja2 templates (autoescaped) with the headers every page carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sharegraph.console.graph_client import PAGES, Problem
from sharegraph.console.words import OUTCOME_WORDS, STATUS_WORDS, shown
from sharegraph.web import csrf

# No inline script or style anywhere: everything the pages run or wear is served from /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Links in e-mails carry their token in the path: never send it on to another site.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Withheld:
    """A field the access plan withheld on this row (its ``FORBIDDEN_FIELD`` error)."""

    def __repr__(self) -> str:
        return "WITHHELD"


WITHHELD = Withheld()


def _when(value: Any) -> str:
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return moment.strftime("%d %b %Y, %H:%M %Z").replace("UTC+00:00", "UTC").strip(", ")


ENVIRONMENT = Environment(
    loader=FileSystemLoader(PAGES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENVIRONMENT.filters["when"] = _when
ENVIRONMENT.filters["status_words"] = lambda s: STATUS_WORDS.get(str(s), str(s or ""))
ENVIRONMENT.filters["outcome_words"] = lambda s: OUTCOME_WORDS.get(str(s), str(s or ""))
ENVIRONMENT.tests["withheld"] = lambda v: v is WITHHELD


def page(
    request: Request,
    template: str,
    *,
    title: str,
    problems: list[Problem] | None = None,
    status_code: int = 200,
    csrf_token: str | None = None,
    **context: Any,
) -> HTMLResponse:
    response = HTMLResponse("", status_code=status_code, headers=PAGE_HEADERS)
    token = csrf_token or csrf.ensure_nonce(request, response)
    body = ENVIRONMENT.get_template(template).render(
        title=title,
        problems=[shown(p) for p in problems or []],
        csrf_token=token,
        viewer=context.pop("viewer", None),
        **context,
    )
    response.body = response.render(body)
    response.headers["content-length"] = str(len(response.body))
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)
