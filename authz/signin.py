"""Sign-in for people, in the database: passwords with lockout, sessions, one-use links.

Write functions take a session from ``Database.write_session()``; a failed password attempt is
counted even though the sign-in is refused, so :func:`check_password` returns its verdict
instead of raising (the caller commits, then refuses).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.passwords import (
    check_new_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from sharegraph.datastore.enums import PrincipalKind
from sharegraph.datastore.models import Password, Principal, SignInLink, WebSession
from sharegraph.errors import BadUserInput, NotFound
from sharegraph.settings import SignInSettings

INVITATION = "invitation"
RESET = "reset"


def now() -> datetime:
    return datetime.now(UTC)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """What a password attempt came to: the principal, or why not."""

    principal_id: uuid.UUID | None
    locked_until: datetime | None = None


async def person_by_login(session: AsyncSession, login: str) -> Principal | None:
    """The enabled user signing in by name or e-mail address (case-insensitive)."""
    login = login.strip()
    if not login:
        return None
    return await session.scalar(
        select(Principal).where(
            Principal.kind == PrincipalKind.USER,
            Principal.disabled.is_(False),
            or_(Principal.name == login, func.lower(Principal.email) == login.lower()),
        )
    )


async def check_password(
    session: AsyncSession, login: str, password: str, settings: SignInSettings
) -> Verdict:
    person = await person_by_login(session, login)
    row = await session.get(Password, person.id, with_for_update=True) if person else None
    at = now()
    if row is not None and row.locked_until is not None and row.locked_until > at:
        return Verdict(None, row.locked_until)
    if not await verify_password(row.hash if row else None, password) or row is None:
        if row is not None:
            row.failed_attempts += 1
            if row.failed_attempts >= settings.max_failed_attempts:
                row.locked_until = at + timedelta(seconds=settings.lockout_seconds)
                row.failed_attempts = 0
                return Verdict(None, row.locked_until)
        return Verdict(None)
    row.failed_attempts = 0
    row.locked_until = None
    if row.hash is not None and needs_rehash(row.hash):
        row.hash = await hash_password(password)
    return Verdict(row.principal_id)


async def open_session(
    session: AsyncSession,
    principal_id: uuid.UUID,
    settings: SignInSettings,
    client_ip: str | None,
    user_agent: str | None,
) -> str:
    """A new session for the principal; the token for its cookie."""
    token = new_token()
    session.add(
        WebSession(
            token_hash=token_hash(token),
            principal_id=principal_id,
            expires_at=now() + timedelta(seconds=settings.session_ttl_seconds),
            client_ip=(client_ip or "")[:64] or None,
            user_agent=(user_agent or "")[:255] or None,
        )
    )
    return token


async def session_principal_id(session: AsyncSession, token: str) -> uuid.UUID | None:
    """The principal of a live (unexpired, unrevoked) session."""
    return await session.scalar(
        select(WebSession.principal_id).where(
            WebSession.token_hash == token_hash(token),
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > now(),
        )
    )


async def end_sessions(session: AsyncSession, token: str, *, everywhere: bool) -> None:
    """End this session, or (``everywhere``) every session of its principal."""
    at = now()
    mine = select(WebSession.principal_id).where(WebSession.token_hash == token_hash(token))
    which = (
        WebSession.principal_id.in_(mine.scalar_subquery())
        if everywhere
        else WebSession.token_hash == token_hash(token)
    )
    await session.execute(
        update(WebSession).where(which, WebSession.revoked_at.is_(None)).values(revoked_at=at)
    )


async def issue_link(
    session: AsyncSession,
    principal: Principal,
    purpose: str,
    settings: SignInSettings,
    created_by: uuid.UUID | None,
) -> str:
    """A one-use link token that sets the principal's password; earlier unused ones lapse."""
    if principal.kind is not PrincipalKind.USER:
        raise BadUserInput(
            "only principals of kind USER sign in with a password; programs use API keys",
            reason="NOT_A_USER",
        )
    if not principal.email:
        raise BadUserInput("this principal has no e-mail address", reason="NO_EMAIL")
    at = now()
    await session.execute(
        update(SignInLink)
        .where(SignInLink.principal_id == principal.id, SignInLink.used_at.is_(None))
        .values(used_at=at)
    )
    ttl = settings.invitation_ttl_seconds if purpose == INVITATION else settings.reset_ttl_seconds
    token = new_token()
    session.add(
        SignInLink(
            token_hash=token_hash(token),
            principal_id=principal.id,
            purpose=purpose,
            created_by=created_by,
            expires_at=at + timedelta(seconds=ttl),
        )
    )
    if await session.get(Password, principal.id) is None:
        session.add(Password(principal_id=principal.id, hash=None))
    return token


async def open_link(session: AsyncSession, token: str) -> tuple[SignInLink, Principal]:
    """The unused, unexpired link and its principal; ``NOT_FOUND`` otherwise."""
    found = (
        await session.execute(
            select(SignInLink, Principal)
            .join(Principal, Principal.id == SignInLink.principal_id)
            .where(
                SignInLink.token_hash == token_hash(token),
                SignInLink.used_at.is_(None),
                SignInLink.expires_at > now(),
                Principal.disabled.is_(False),
            )
        )
    ).first()
    if found is None:
        raise NotFound(
            "this link has expired or has been used; ask for a new one", reason="LINK_EXPIRED"
        )
    return found[0], found[1]


async def redeem_link(session: AsyncSession, token: str, password: str) -> Principal:
    """Set the password through a link: the link is used, the lockout cleared, and every
    session of the principal ended (whoever knew the old password is signed out)."""
    link, principal = await open_link(session, token)
    link.used_at = now()
    await store_password(session, principal, password)
    return principal


async def store_password(session: AsyncSession, principal: Principal, password: str) -> None:
    """Set a person's password: the lockout cleared, every session of theirs ended."""
    if principal.kind is not PrincipalKind.USER:
        raise BadUserInput(
            "only principals of kind USER sign in with a password; programs use API keys",
            reason="NOT_A_USER",
        )
    check_new_password(password, (principal.name, principal.email or ""))
    at = now()
    row = await session.get(Password, principal.id, with_for_update=True)
    if row is None:
        row = Password(principal_id=principal.id)
        session.add(row)
    row.hash = await hash_password(password)
    row.failed_attempts = 0
    row.locked_until = None
    row.changed_at = at
    await session.execute(
        update(WebSession)
        .where(WebSession.principal_id == principal.id, WebSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def person_for_reset(session: AsyncSession, email: str) -> Principal | None:
    """The enabled user with this e-mail address, if any (resets never say which exist)."""
    person = await person_by_login(session, email)
    return person if person is not None and person.email else None


async def person_by_name(session: AsyncSession, name: str) -> Principal:
    """The principal named ``name`` (for operators); ``NOT_FOUND`` otherwise."""
    found = await session.scalar(select(Principal).where(Principal.name == name))
    if found is None:
        raise NotFound(f"no principal is named {name!r}", reason="UNKNOWN_PRINCIPAL")
    return found


@dataclass(frozen=True)
class InvitationState:
    """Where a person's latest invitation stands: ``accepted`` (a password was chosen),
    ``pending`` (the newest link can still be used), ``expired`` (it lapsed unused, or a later
    link replaced it)."""

    state: str
    sent_at: datetime
    expires_at: datetime
    accepted_at: datetime | None


ACCEPTED = "accepted"
PENDING = "pending"
EXPIRED = "expired"


async def invitation_states(
    session: AsyncSession, principal_ids: list[uuid.UUID]
) -> dict[uuid.UUID, InvitationState]:
    """The latest invitation of each principal that was ever invited (for principals already
    authorized by the caller)."""
    if not principal_ids:
        return {}
    links = (
        await session.scalars(
            select(SignInLink)
            .where(SignInLink.principal_id.in_(principal_ids), SignInLink.purpose == INVITATION)
            .order_by(SignInLink.created_at, SignInLink.id)
        )
    ).all()
    latest = {link.principal_id: link for link in links}  # ordered: the last one wins
    if not latest:
        return {}
    passwords = {
        row.principal_id: row
        for row in (
            await session.scalars(select(Password).where(Password.principal_id.in_(list(latest))))
        ).all()
    }
    at = now()
    states: dict[uuid.UUID, InvitationState] = {}
    for principal_id, link in latest.items():
        password = passwords.get(principal_id)
        if password is not None and password.hash is not None:
            state, accepted = ACCEPTED, link.used_at or password.changed_at
        elif link.used_at is None and _aware(link.expires_at) > at:
            state, accepted = PENDING, None
        else:
            state, accepted = EXPIRED, None
        states[principal_id] = InvitationState(state, link.created_at, link.expires_at, accepted)
    return states


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
