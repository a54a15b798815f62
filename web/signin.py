"""Signing people in and out, and setting passwords through e-mailed links.

The pages (``console/``) call these; what a session may then do is decided, like every other
request, by :mod:`.callers` and the access plan. Every sign-in, failed attempt, lockout,
sign-out and password change is a row in the audit trail.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sharegraph.authz import signin
from sharegraph.datastore import audit
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import Principal
from sharegraph.errors import ErrorCode, SharegraphError, Unauthenticated
from sharegraph.exporters.email import DeliveryFailed, NotConfigured
from sharegraph.exporters.signin_mail import send_link
from sharegraph.settings import Settings

log = logging.getLogger("sharegraph.signin")


def _locked(until: datetime) -> SharegraphError:
    seconds = max(1, math.ceil((until - signin.now()).total_seconds()))
    minutes = math.ceil(seconds / 60)
    return SharegraphError(
        f"too many wrong passwords: this account is locked for {minutes} more minute"
        + ("" if minutes == 1 else "s"),
        code=ErrorCode.RATE_LIMITED,
        reason="ACCOUNT_LOCKED",
        retryAfter=seconds,
    )


class AttemptLimiter:
    """Sign-in and reset attempts per client address in the last minute (this process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = defaultdict(deque)

    def admit(self, client: str) -> None:
        if self.per_minute <= 0:
            return
        at = time.monotonic()
        recent = self.seen[client]
        while recent and recent[0] <= at - 60:
            recent.popleft()
        if len(recent) >= self.per_minute:
            raise SharegraphError(
                "too many sign-in attempts from your address; wait a minute and retry",
                code=ErrorCode.RATE_LIMITED,
                reason="TOO_MANY_ATTEMPTS",
                retryAfter=max(1, math.ceil(recent[0] + 60 - at)),
            )
        recent.append(at)
        if len(self.seen) > 10_000:  # forget idle addresses
            for key in [k for k, v in self.seen.items() if not v or v[-1] <= at - 60]:
                del self.seen[key]


class People:
    """Sign-in operations on the started app's database (``state["db"]``)."""

    def __init__(self, settings: Settings, state: dict[str, Any]) -> None:
        self.settings = settings
        self.state = state
        self.limiter = AttemptLimiter(settings.signin.attempts_per_minute_per_ip)

    @property
    def db(self) -> Database:
        db: Database = self.state["db"]
        return db

    async def sign_in(
        self, login: str, password: str, client_ip: str, user_agent: str | None
    ) -> str:
        """A new session token, or ``UNAUTHENTICATED`` / ``RATE_LIMITED`` (locked)."""
        self.limiter.admit(client_ip)
        async with self.db.write_session() as session:
            verdict = await signin.check_password(session, login, password, self.settings.signin)
            token = None
            if verdict.principal_id is not None:
                token = await signin.open_session(
                    session, verdict.principal_id, self.settings.signin, client_ip, user_agent
                )
            person = await signin.person_by_login(session, login)
            await audit.record(
                session,
                tenant_id=person.tenant_id if person else None,
                principal_id=person.id if person else None,
                action="session.sign_in" if token else "session.sign_in_refused",
                detail={
                    "clientIp": client_ip,
                    **({"lockedUntil": verdict.locked_until} if verdict.locked_until else {}),
                },
            )
        if verdict.locked_until is not None:
            raise _locked(verdict.locked_until)
        if token is None:
            raise Unauthenticated(
                "that name or e-mail address and password do not match", reason="BAD_CREDENTIALS"
            )
        return token

    async def sign_out(self, token: str, *, everywhere: bool) -> None:
        async with self.db.write_session() as session:
            principal_id = await signin.session_principal_id(session, token)
            await signin.end_sessions(session, token, everywhere=everywhere)
            if principal_id is not None:
                row = await session.get(Principal, principal_id)
                await audit.record(
                    session,
                    tenant_id=row.tenant_id if row else None,
                    principal_id=principal_id,
                    action="session.sign_out_everywhere" if everywhere else "session.sign_out",
                    detail=None,
                )

    async def link(self, token: str) -> tuple[str, str]:
        """The person's name and the link's purpose, for the set-password page."""
        async with self.db.read_session() as session:
            link, person = await signin.open_link(session, token)
            return person.display_name or person.name, link.purpose

    async def set_password(self, token: str, password: str) -> None:
        async with self.db.write_session() as session:
            person = await signin.redeem_link(session, token, password)
            await audit.record(
                session,
                tenant_id=person.tenant_id,
                principal_id=person.id,
                action="credentials.password.set",
                detail=None,
            )

    async def request_reset(
        self, email: str, client_ip: str
    ) -> Callable[[], Awaitable[None]] | None:
        """Issue a reset link when the address is a person's; what then sends its e-mail.

        The caller answers first and sends after (a background task), so the answer takes as
        long whether or not the address has an account: waiting for the mail server only for
        people's addresses would tell anyone timing the form which ones do.
        """
        self.limiter.admit(client_ip)
        async with self.db.write_session() as session:
            person = await signin.person_for_reset(session, email)
            if person is None or person.email is None:
                return None
            token = await signin.issue_link(
                session, person, signin.RESET, self.settings.signin, None
            )
            address, name = person.email, person.display_name or person.name
            await audit.record(
                session,
                tenant_id=person.tenant_id,
                principal_id=person.id,
                action="credentials.password.reset_requested",
                detail={"clientIp": client_ip},
            )

        async def send() -> None:
            try:
                await send_link(self.settings, address, name, token, invitation=False)
            except (NotConfigured, DeliveryFailed) as error:
                # The person sees the same answer; the operator sees why no mail left.
                log.warning("password reset e-mail not sent: %s", error)

        return send
