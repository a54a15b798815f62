"""Endpoint rows: created with a fresh signing secret (shown once) and a cursor at the outbox's
head (an endpoint receives what happens after it exists), rotated with an overlap window."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.models import WebhookEndpoint
from sharegraph.datastore.relay import head
from sharegraph.datastore.secrets import SecretBox
from sharegraph.webhooks.signing import new_secret


@dataclass(frozen=True)
class EndpointValues:
    url: str
    event_types: list[str]
    filters: dict[str, Any]
    payload_mode: str
    principal_id: uuid.UUID
    enabled: bool = True
    description: str | None = None


async def create(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    partner_organization_id: uuid.UUID | None,
    values: EndpointValues,
    box: SecretBox,
    created_by: uuid.UUID | None,
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its secret (the only time the secret leaves)."""
    endpoint_id = uuid.uuid4()
    secret = new_secret()
    start = await head(session)
    row = WebhookEndpoint(
        id=endpoint_id,
        tenant_id=tenant_id,
        partner_organization_id=partner_organization_id,
        principal_id=values.principal_id,
        url=values.url,
        description=values.description,
        event_types=values.event_types,
        filters=values.filters,
        payload_mode=values.payload_mode,
        enabled=values.enabled,
        secret_encrypted=box.seal(endpoint_id, {"secret": secret}),
        cursor_xid=start.xid,
        cursor_position=start.position,
        consecutive_failures=0,
        created_by_id=created_by,
        version=1,
    )
    session.add(row)
    await session.flush()
    return row, secret


def apply(row: WebhookEndpoint, values: EndpointValues) -> None:
    row.url = values.url
    row.event_types = values.event_types
    row.filters = values.filters
    row.payload_mode = values.payload_mode
    row.principal_id = values.principal_id
    row.description = values.description
    if values.enabled and not row.enabled:
        row.disabled_reason = None
        row.consecutive_failures = 0
        row.circuit_open_until = None
    row.enabled = values.enabled
    row.version += 1


def rotate(row: WebhookEndpoint, box: SecretBox, now: datetime, overlap: timedelta) -> str:
    """A new secret; the current one keeps signing (beside it) until ``now + overlap``."""
    secret = new_secret()
    current = box.open(row.id, row.secret_encrypted)["secret"]
    row.previous_secret_encrypted = box.seal(row.id, {"secret": current})
    row.previous_secret_until = now + overlap
    row.secret_encrypted = box.seal(row.id, {"secret": secret})
    row.version += 1
    return secret
