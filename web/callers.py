"""The one authentication step of every HTTP entry: credentials -> principal -> access plan.

Credentials are a bearer ``Authorization`` header (programs: API keys, JWTs) or, without one,
a person's session cookie (the portal's pages and their in-process GraphQL calls); a request
on a session that changes state must carry its CSRF token (:mod:`.csrf`).

GraphQL, the HSDS API and export downloads take their caller from :class:`Authentication`,
used as a FastAPI dependency (``Depends(auth.caller)``, or ``auth.caller_or_public`` where the
public may read without credentials); later entries (WebSockets, web pages, webhook
administration) use the same step, so "who is calling and what may they do" is answered in one
place. Refusals are :class:`~sharegraph.errors.SharegraphError` values; the app's error
handlers give them the route's error shape.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.requests import HTTPConnection

from sharegraph.authz.authenticate import KeyUse, authenticate_remembered, authenticate_session
from sharegraph.authz.credential_cache import CredentialCache
from sharegraph.authz.plan import AccessPlan
from sharegraph.authz.principal import Principal, RoleGrant
from sharegraph.authz.store import PolicyStore
from sharegraph.datastore.audit import AuditCollector
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import PrincipalKind, Role
from sharegraph.errors import Forbidden, Unauthenticated
from sharegraph.settings import Settings
from sharegraph.web import csrf

# Who reads without credentials (the HSDS API): no home, the api-client role, so its plan holds
# only what owners share with `public`.
PUBLIC_PRINCIPAL = Principal(
    id=uuid.UUID(int=0),
    name="public",
    kind=PrincipalKind.API_CLIENT,
    tenant_id=None,
    partner_organization_id=None,
    roles=frozenset({RoleGrant(Role.API_CLIENT, None, None)}),
)
PURPOSE_HEADER = "sharegraph-purpose"


@dataclass(frozen=True)
class Caller:
    """An authenticated principal (or the public) and the plan its request runs under."""

    principal: Principal
    plan: AccessPlan
    purpose: str | None  # why the caller reads, for the audit trail (``Sharegraph-Purpose``)
    anonymous: bool = False

    def audit(self) -> AuditCollector:
        """A fresh collector of what this request reads, refuses and discloses."""
        return AuditCollector(
            self.principal.id, self.plan.core.home, self.principal.tenant_id, self.purpose
        )


class Authentication:
    """Credentials to a :class:`Caller`, for the app's routes (state: the started app's
    ``db`` and ``policies``)."""

    def __init__(self, settings: Settings, state: dict[str, Any]) -> None:
        self.settings = settings
        self.state = state
        self.key_use = KeyUse()
        # Bearer credentials only: a session cookie is looked up at every request.
        self.credentials = CredentialCache(
            lambda: self._policies().snapshot.version,
            max_age=settings.credential_cache_seconds,
        )

    def _policies(self) -> PolicyStore:
        policies: PolicyStore = self.state["policies"]
        return policies

    async def principal(self, authorization: str | None) -> Principal:
        """The principal behind an ``Authorization`` value; ``UNAUTHENTICATED`` otherwise."""
        db: Database = self.state["db"]
        # One statement either way (an API key, or a JWT's principal), none when remembered.
        principal = await authenticate_remembered(
            db, authorization, self.settings, self.credentials
        )
        used = self.key_use.due(authorization)
        if used is not None:
            await self.key_use.record(db, used)
        return principal

    async def session_principal(self, token: str) -> Principal:
        """The principal signed in with a session cookie; ``UNAUTHENTICATED`` once it ended."""
        db: Database = self.state["db"]
        async with db.read_session() as session:
            return await authenticate_session(session, token)

    def of(self, principal: Principal, purpose: str | None, *, anonymous: bool = False) -> Caller:
        return Caller(principal, self._policies().plan_for(principal), purpose, anonymous)

    async def caller(self, request: Request) -> Caller:
        """The caller of a request that must carry credentials."""
        authorization = request.headers.get("authorization")
        cookie = request.cookies.get(csrf.SESSION_COOKIE)
        if authorization is None and cookie:
            principal = await self.session_principal(cookie)
            if request.method not in csrf.SAFE_METHODS:
                csrf.check(self.state["secret"], request, request.headers.get(csrf.CSRF_HEADER))
        else:
            principal = await self.principal(authorization)
        return self.of(principal, request.headers.get(PURPOSE_HEADER) or None)

    async def connection_caller(
        self, params: dict[str, Any], connection: HTTPConnection | None = None
    ) -> Caller:
        """The caller of a WebSocket, from its ``connection_init`` payload
        (``{"authorization": "Bearer ...", "purpose": "..."}``): the same credentials as the
        ``Authorization`` header. Without them, the upgrade's session cookie (the portal's
        pages), but only when its ``Origin`` is this server's own: a browser sends the cookie
        on a WebSocket opened by any site, so another site's page could otherwise subscribe
        as the person (cross-site WebSocket hijacking; ``FORBIDDEN`` / ``CROSS_ORIGIN``).
        ``UNAUTHENTICATED`` when missing or invalid."""
        # Key names as HTTP headers have them, in any case: GraphiQL sends its Headers tab
        # ({"Authorization": ...}) as the connection parameters.
        params = {str(key).lower(): value for key, value in params.items()}
        authorization = params.get("authorization")
        purpose = params.get("purpose", params.get("sharegraph-purpose"))
        purpose = purpose if isinstance(purpose, str) and purpose else None
        cookie = connection.cookies.get(csrf.SESSION_COOKIE) if connection else None
        if not isinstance(authorization, str) and connection is not None and cookie:
            if not same_origin(connection):
                raise Forbidden(
                    "a WebSocket signed in by its session cookie must come from this site's "
                    "own pages; programs send an API key in connection_init",
                    reason="CROSS_ORIGIN",
                )
            return self.of(await self.session_principal(cookie), purpose)
        if not isinstance(authorization, str):
            raise Unauthenticated(
                'send your credentials in connection_init: {"authorization": "Bearer <key>"}',
                reason="MISSING_CREDENTIALS",
            )
        principal = await self.principal(authorization)
        return self.of(principal, purpose)

    async def caller_or_public(self, request: Request) -> Caller:
        """The caller, or the public when the request carries no credentials at all.

        A session cookie that no longer signs anyone in counts as no credentials here: a
        browser keeps an ended session's cookie, and what the public may read must not turn
        into a 401 for it. A wrong ``Authorization`` header is still refused.
        """
        if request.headers.get("authorization") is None:
            cookie = request.cookies.get(csrf.SESSION_COOKIE)
            if cookie:
                try:
                    return await self.caller(request)
                except Unauthenticated:
                    pass
            return self.of(PUBLIC_PRINCIPAL, None, anonymous=True)
        return await self.caller(request)


def same_origin(connection: HTTPConnection) -> bool:
    """Whether the ``Origin`` header names this server's own origin (scheme, host and port as
    the browser reached it; behind a TLS proxy that says so, https)."""
    origin = connection.headers.get("origin")
    host = connection.headers.get("host")
    if not origin or not host:
        return False
    return origin.lower() == f"{'https' if csrf.secure(connection) else 'http'}://{host}".lower()
