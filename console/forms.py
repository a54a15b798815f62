"""Form posts: the urlencoded body and its CSRF token, checked before anything else."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

from sharegraph.errors import BadUserInput
from sharegraph.web import csrf

MAX_FORM_BYTES = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields (first value of each), after the CSRF check (``FORBIDDEN``)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadUserInput("this form is too long", reason="BAD_REQUEST")
    kind = request.headers.get("content-type", "")
    fields: dict[str, str] = {}
    if kind.startswith("application/x-www-form-urlencoded"):
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        fields = {key: values[0] for key, values in parsed.items() if values}
    given = fields.get(csrf.CSRF_FIELD) or request.headers.get(csrf.CSRF_HEADER)
    csrf.check(request.app.state.sharegraph["secret"], request, given)
    return fields


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: a page of this site only (no open redirect)."""
    if value and value.startswith(("/portal", "/console")) and "//" not in value:
        return value
    return "/portal"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
