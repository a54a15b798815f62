"""API keys: generated, hashed for storage, parsed from a bearer token.

A key is ``sg_<prefix>_<secret>``. The prefix finds the stored row; only the SHA-256 of the
whole key is stored (keys carry 256 random bits, so a slow password hash adds nothing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_MARKER = "sg"
PREFIX_LENGTH = 12


@dataclass(frozen=True)
class IssuedKey:
    """A freshly issued key: ``plaintext`` is shown once and never stored."""

    prefix: str
    plaintext: str
    key_hash: str


def _b32(raw: bytes, length: int) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()[:length]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _assemble(prefix: str, secret: str) -> IssuedKey:
    plaintext = f"{KEY_MARKER}_{prefix}_{secret}"
    return IssuedKey(prefix=prefix, plaintext=plaintext, key_hash=hash_key(plaintext))


def generate_key() -> IssuedKey:
    return _assemble(_b32(secrets.token_bytes(10), PREFIX_LENGTH), _b64(secrets.token_bytes(32)))


def demo_key(demo_secret: str, principal_name: str) -> IssuedKey:
    """A key derived from the demo secret, so `sharegraph demo principals` can print it again."""
    secret = demo_secret.encode("utf-8")
    prefix = _b32(hmac.digest(secret, f"prefix:{principal_name}".encode(), "sha256"), PREFIX_LENGTH)
    body = _b64(hmac.digest(secret, f"key:{principal_name}".encode(), "sha256"))
    return _assemble(prefix, body)


def parse_key(token: str) -> str | None:
    """The prefix of something shaped like an API key, else None (it may be a JWT)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_MARKER or len(parts[1]) != PREFIX_LENGTH:
        return None
    return parts[1]


def key_matches(plaintext: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(plaintext), stored_hash)
