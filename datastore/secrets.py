"""Secrets stored in the database (an SFTP password or private key), encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) under the key in
``SHAREGRAPH_SECRET_KEY``; several comma-separated keys rotate: the first encrypts, any decrypts.
The plaintext names the row it belongs to, so a ciphertext copied onto another row is refused
instead of handing one schedule's credentials to another. Without a key nothing is stored and
nothing is read: the error says how to configure one.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from sharegraph.errors import ErrorCode, SharegraphError

GENERATE_HINT = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


class SecretKeyMissing(SharegraphError):
    code = ErrorCode.SERVICE_UNAVAILABLE

    def __init__(self) -> None:
        super().__init__(
            "no secret key is configured, so credentials cannot be stored or used: set "
            f"SHAREGRAPH_SECRET_KEY to a Fernet key (make one with: {GENERATE_HINT})",
            reason="SECRET_KEY_NOT_CONFIGURED",
        )


class SecretUnreadable(SharegraphError):
    code = ErrorCode.INTERNAL

    def __init__(self, why: str) -> None:
        super().__init__(f"the stored credentials cannot be read: {why}", reason="BAD_SECRET")


class SecretBox:
    def __init__(self, keys: str | None) -> None:
        self._keys = [k.strip() for k in (keys or "").split(",") if k.strip()]

    @property
    def configured(self) -> bool:
        return bool(self._keys)

    def _box(self) -> MultiFernet:
        if not self._keys:
            raise SecretKeyMissing()
        try:
            return MultiFernet([Fernet(k) for k in self._keys])
        except ValueError as exc:
            raise SharegraphError(
                "SHAREGRAPH_SECRET_KEY is not a Fernet key (32 url-safe base64-encoded bytes; "
                f"make one with: {GENERATE_HINT})",
                code=ErrorCode.SERVICE_UNAVAILABLE,
                reason="BAD_SECRET_KEY",
            ) from exc

    def seal(self, owner: uuid.UUID, secret: dict[str, Any]) -> str:
        plaintext = json.dumps({"owner": str(owner), "secret": secret}).encode()
        return self._box().encrypt(plaintext).decode("ascii")

    def open(self, owner: uuid.UUID, ciphertext: str) -> dict[str, Any]:
        try:
            payload = json.loads(self._box().decrypt(ciphertext.encode("ascii")))
        except InvalidToken as exc:
            raise SecretUnreadable("not encrypted with any configured key") from exc
        if payload.get("owner") != str(owner):
            raise SecretUnreadable("they belong to another record")
        secret: dict[str, Any] = payload["secret"]
        return secret
