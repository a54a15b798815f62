"""Sign-in for people: passwords, browser sessions and one-use links (invitations, resets).

Secrets are never stored: a password as its argon2id hash, a session or link token as the
SHA-256 of the random value the browser or the e-mail holds.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sharegraph.datastore.base import Base, UUIDPrimaryKey, utcnow


class Password(Base):
    """A user principal's password, with the failed attempts that lock it."""

    __tablename__ = "passwords"

    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True
    )
    hash: Mapped[str | None] = mapped_column(String(255))  # none until the invitation is used
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column()
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebSession(UUIDPrimaryKey, Base):
    """A signed-in browser; the cookie holds the token whose hash is ``token_hash``."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))


class SignInLink(UUIDPrimaryKey, Base):
    """A one-use link sent by e-mail to set a password: an invitation or a reset."""

    __tablename__ = "sign_in_links"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))  # "invitation" | "reset"
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
