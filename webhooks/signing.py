"""Standard Webhooks signatures (the ``standardwebhooks`` reference library signs) and secrets."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_BYTES = 32


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def headers(
    message_id: str, timestamp: datetime, body: bytes, secrets_: list[str]
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (one ``v1,`` signature
    per secret: both during a rotation's overlap window)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(
            Webhook(secret).sign(message_id, timestamp, body) for secret in secrets_
        ),
        "content-type": "application/json",
    }
