"""What the fan-out asks of the layer that knows the schema: one event's payload for one
receiver (``graph/webhook_payloads.py`` answers, through the disclosure seam)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sharegraph.datastore.relay import CommittedEvent

FULL = "full"
THIN = "thin"


@dataclass(frozen=True)
class Receiver:
    endpoint_id: uuid.UUID
    tenant_id: uuid.UUID
    principal_id: uuid.UUID
    payload_mode: str
    filters: dict[str, Any]


# The ``data`` of the message, or None: not for this receiver (outside its scope or filter,
# the record gone). A full payload is a disclosure: the renderer writes its audit row.
Render = Callable[[Receiver, CommittedEvent], Awaitable[dict[str, Any] | None]]
