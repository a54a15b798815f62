"""Cookies of people signed in, and the CSRF tokens that go with them.

A signed-in browser's token is an HMAC of its session token under the instance secret; before
sign-in (the sign-in, reset and set-password forms) it is an HMAC of a random nonce cookie. A
form carries it in ``csrf_token``, an htmx or ``fetch`` request in ``X-CSRF-Token``; another
site can read neither the cookies nor the pages, so it cannot forge either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response
from starlette.requests import HTTPConnection

from sharegraph.errors import Forbidden

SESSION_COOKIE = "sharegraph_session"
NONCE_COOKIE = "sharegraph_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _mac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def expected_token(secret: str, request: Request) -> str | None:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return _mac(secret, "session:" + session)
    nonce = request.cookies.get(NONCE_COOKIE)
    return _mac(secret, "nonce:" + nonce) if nonce else None


def check(secret: str, request: Request, given: str | None) -> None:
    """Refuse (``FORBIDDEN``, reason ``CSRF``) a state-changing request without its token."""
    expected = expected_token(secret, request)
    if not given or expected is None or not hmac.compare_digest(expected, given):
        raise Forbidden(
            "this form has expired or did not come from this site; reload the page and retry",
            reason="CSRF",
        )


def secure(connection: HTTPConnection) -> bool:
    """Whether a request or WebSocket came over TLS (directly or behind a proxy that says so):
    cookies are then ``Secure``, and its own origin is https."""
    forwarded = connection.headers.get("x-forwarded-proto", "").split(",")[0].strip()
    return connection.url.scheme in ("https", "wss") or forwarded == "https"


def ensure_nonce(request: Request, response: Response) -> str:
    """The token for a page shown before sign-in, setting the nonce cookie when missing."""
    if request.cookies.get(SESSION_COOKIE) or request.cookies.get(NONCE_COOKIE):
        token = expected_token(request.app.state.sharegraph["secret"], request)
        assert token is not None
        return token
    nonce = secrets.token_urlsafe(24)
    response.set_cookie(
        NONCE_COOKIE, nonce, httponly=True, samesite="lax", secure=secure(request), path="/"
    )
    return _mac(request.app.state.sharegraph["secret"], "nonce:" + nonce)


def set_session(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
