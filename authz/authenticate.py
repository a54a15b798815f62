"""Credentials to principals: bearer API keys and JWTs, and people's session cookies."""

from __future__ import annotations

import functools
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from sharegraph.authz.credential_cache import Authenticated, CredentialCache
from sharegraph.authz.credentials import key_matches, parse_key
from sharegraph.authz.jwts import jwt_claims
from sharegraph.authz.principal import Principal, RoleGrant
from sharegraph.authz.signin import session_principal_id
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import ApiKey, Instance, RoleAssignment
from sharegraph.datastore.models import Principal as PrincipalRow
from sharegraph.errors import Unauthenticated
from sharegraph.settings import Settings

log = logging.getLogger(__name__)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated(
            "missing credentials: send `Authorization: Bearer <API key or JWT>`",
            reason="MISSING_CREDENTIALS",
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "the Authorization header must be `Bearer <API key or JWT>`",
            reason="BAD_CREDENTIALS",
        )
    token = token.strip()
    # Keys and JWTs are ASCII; connection_init's JSON may carry what UTF-8 cannot encode.
    if not token.isascii():
        raise _not_a_credential()
    return token


# A principal's columns and its role assignments' (NULL when it holds none), as both lookups
# below select them.
_PRINCIPAL_COLUMNS = (
    PrincipalRow.id,
    PrincipalRow.name,
    PrincipalRow.kind,
    PrincipalRow.tenant_id,
    PrincipalRow.partner_organization_id,
    PrincipalRow.disabled,
    RoleAssignment.role,
    RoleAssignment.tenant_id.label("role_tenant_id"),
    RoleAssignment.partner_organization_id.label("role_partner_organization_id"),
)


def _principal_of(rows: Sequence[Any]) -> Principal | None:
    """The principal of ``rows`` (one per role assignment, or one with NULL roles); ``None``
    when there is none or it is disabled."""
    if not rows or rows[0].id is None or rows[0].disabled:
        return None
    row = rows[0]
    return Principal(
        id=row.id,
        name=row.name,
        kind=row.kind,
        tenant_id=row.tenant_id,
        partner_organization_id=row.partner_organization_id,
        roles=frozenset(
            RoleGrant(r.role, r.role_tenant_id, r.role_partner_organization_id)
            for r in rows
            if r.role is not None
        ),
    )


# Both lookups are built once: building a SELECT costs more Python than running it.
_PRINCIPAL_BY_ID = (
    select(*_PRINCIPAL_COLUMNS)
    .outerjoin(RoleAssignment, RoleAssignment.principal_id == PrincipalRow.id)
    .where(PrincipalRow.id == bindparam("principal_id"))
)
# The instance's demo flag rides along: demo keys are refused by a non-demo database.
_PRINCIPAL_BY_KEY = (
    select(
        ApiKey.key_hash,
        ApiKey.revoked_at,
        ApiKey.expires_at,
        ApiKey.demo.label("key_demo"),
        select(Instance.demo).where(Instance.id == 1).scalar_subquery().label("demo"),
        *_PRINCIPAL_COLUMNS,
    )
    .select_from(ApiKey)
    .outerjoin(PrincipalRow, PrincipalRow.id == ApiKey.principal_id)
    .outerjoin(RoleAssignment, RoleAssignment.principal_id == PrincipalRow.id)
    .where(ApiKey.prefix == bindparam("prefix"))
)


async def load_principal(
    session: AsyncSession | AsyncConnection, principal_id: uuid.UUID
) -> Principal | None:
    """The principal with its roles, in one statement."""
    rows = (await session.execute(_PRINCIPAL_BY_ID, {"principal_id": principal_id})).all()
    return _principal_of(rows)


def _check_key_times(revoked_at: datetime | None, expires_at: datetime | None) -> None:
    now = datetime.now(UTC)
    if revoked_at is not None and revoked_at <= now:
        raise Unauthenticated("this API key has been revoked", reason="REVOKED_CREDENTIALS")
    if expires_at is not None and expires_at <= now:
        raise Unauthenticated("this API key has expired", reason="EXPIRED_CREDENTIALS")


async def _principal_from_api_key(
    session: AsyncSession | AsyncConnection, token: str, prefix: str
) -> Authenticated:
    """The key's principal with its roles, the key and the instance's demo flag in one
    statement (every request with an API key pays for it); the checks in the order they
    always ran."""
    rows = (await session.execute(_PRINCIPAL_BY_KEY, {"prefix": prefix})).all()
    key = rows[0] if rows else None
    if key is None or not key_matches(token, key.key_hash):
        raise Unauthenticated("unknown API key", reason="BAD_CREDENTIALS")
    _check_key_times(key.revoked_at, key.expires_at)
    if key.key_demo and not key.demo:
        raise Unauthenticated(
            "demo keys are accepted only by a demo database", reason="BAD_CREDENTIALS"
        )
    principal = _principal_of(rows)
    if principal is None:
        raise Unauthenticated("this principal is disabled", reason="BAD_CREDENTIALS")
    return Authenticated(principal, key.revoked_at, key.expires_at)


def _jwt_subject(token: str, settings: Settings) -> uuid.UUID:
    """The principal id a JWT names, once its signature, expiry and claims are verified."""
    claims = jwt_claims(token, settings)
    try:
        return uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise Unauthenticated(
            "the JWT's subject (`sub`) is not a principal id", reason="BAD_CREDENTIALS"
        ) from None


async def _principal_from_jwt(
    session: AsyncSession | AsyncConnection, principal_id: uuid.UUID
) -> Authenticated:
    principal = await load_principal(session, principal_id)
    if principal is None:
        raise Unauthenticated(
            "the JWT's subject is not a known principal", reason="BAD_CREDENTIALS"
        )
    return Authenticated(principal)


def _not_a_credential() -> Unauthenticated:
    return Unauthenticated(
        "the bearer token is neither an API key nor a JWT", reason="BAD_CREDENTIALS"
    )


Lookup = Callable[[AsyncSession | AsyncConnection], Awaitable[Authenticated]]


def _credential(token: str, settings: Settings) -> tuple[bytes, Lookup]:
    """What a bearer token is remembered by, and the lookup that authenticates it: an API key
    by the SHA-256 of the whole key (a wrong secret after a known prefix is another key), a
    JWT by its subject once its signature, expiry and claims are verified."""
    prefix = parse_key(token)
    if prefix is not None:
        key = hashlib.sha256(token.encode("utf-8")).digest()
        return key, functools.partial(_principal_from_api_key, token=token, prefix=prefix)
    if token.count(".") == 2:
        subject = _jwt_subject(token, settings)
        return b"jwt:" + subject.bytes, functools.partial(_principal_from_jwt, principal_id=subject)
    raise _not_a_credential()


async def authenticate(
    session: AsyncSession | AsyncConnection, authorization: str | None, settings: Settings
) -> Principal:
    """The principal of a bearer credential, in one statement (an API key's or a JWT's
    principal): ``Database.single_read_connection`` is enough for it."""
    _, lookup = _credential(bearer_token(authorization), settings)
    return (await lookup(session)).principal


async def authenticate_remembered(
    db: Database, authorization: str | None, settings: Settings, cache: CredentialCache
) -> Principal:
    """:func:`authenticate`, answered from ``cache`` when the credential authenticated lately
    (no round trip). Whatever depends on the time is checked at every use: a JWT's signature
    and expiry before the cache is asked (so a JWT is remembered by its subject), an API key's
    revocation and expiry after (what each is remembered by: :func:`_credential`)."""
    key, lookup = _credential(bearer_token(authorization), settings)
    found = cache.get(key)
    if found is not None:
        _check_key_times(found.revoked_at, found.expires_at)
        return found.principal
    version = cache.version()
    async with db.single_read_connection() as connection:
        found = await lookup(connection)
    cache.put(key, found, version)
    return found.principal


KEY_USE_RESOLUTION_SECONDS = 60.0
KEY_USE_REMEMBERED = 10_000


class KeyUse:
    """When each API key last authenticated a request (``ApiKey.last_used_at``), to the
    minute: written at most once a minute per key and process, so a busy integration costs one
    small write a minute, not one per request."""

    def __init__(self) -> None:
        self._written: dict[str, float] = {}  # key prefix -> monotonic time of the last write

    def due(self, authorization: str | None) -> str | None:
        """The prefix of the API key in ``authorization`` when its use should be written now."""
        prefix = parse_key(bearer_token(authorization)) if authorization else None
        if prefix is None:
            return None
        now = time.monotonic()
        last = self._written.get(prefix)
        if last is not None and now - last < KEY_USE_RESOLUTION_SECONDS:
            return None
        if len(self._written) >= KEY_USE_REMEMBERED:
            self._written.clear()
        self._written[prefix] = now
        return prefix

    async def record(self, db: Database, prefix: str) -> None:
        """Write the use; a failure is logged, never the request's failure."""
        try:
            async with db.write_session() as session:
                await session.execute(
                    update(ApiKey)
                    .where(ApiKey.prefix == prefix)
                    .values(last_used_at=datetime.now(UTC))
                )
        except Exception:
            log.warning("could not record an API key's use", exc_info=True)


async def authenticate_session(session: AsyncSession, token: str) -> Principal:
    """The principal of a browser session cookie (people signed in to the portal)."""
    principal_id = await session_principal_id(session, token)
    principal = await load_principal(session, principal_id) if principal_id else None
    if principal is None:
        raise Unauthenticated("your session has ended; sign in again", reason="SESSION_EXPIRED")
    return principal
