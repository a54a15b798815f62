"""Passwords of people: argon2id (``argon2-cffi``) at OWASP's recommended minimum (19 MiB,
two passes, one lane): slow enough against guessing, cheap enough for a shared server.

Hashing runs in a worker thread: argon2id is slow and memory-hard on purpose, and the event loop
must keep answering other requests meanwhile.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sharegraph.errors import BadUserInput

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 takes any length; a megabyte "password" is a denial of service

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Compared against when the account does not exist, so a wrong name costs the same time.
_DUMMY = _HASHER.hash("sharegraph-no-such-account")


def check_new_password(password: str, login_names: tuple[str, ...] = ()) -> None:
    """Refuse a password too short, too long or equal to the account's own name or e-mail."""
    if len(password) < MIN_LENGTH:
        raise BadUserInput(
            f"choose a password of at least {MIN_LENGTH} characters", reason="WEAK_PASSWORD"
        )
    if len(password) > MAX_LENGTH:
        raise BadUserInput(
            f"a password has at most {MAX_LENGTH} characters", reason="WEAK_PASSWORD"
        )
    if password.strip().lower() in {n.lower() for n in login_names if n}:
        raise BadUserInput(
            "a password must not be your name or e-mail address", reason="WEAK_PASSWORD"
        )


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY, password[:MAX_LENGTH]) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (none: no password yet, always false, same time)."""
    return await asyncio.to_thread(_verify, stored, password)


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)
