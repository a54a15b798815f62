"""What the fan-out asks of the layer that knows the schema: one event's payload for a group of
receivers (``graph/webhook_payloads.py`` answers, through the disclosure seam)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
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


# The ``data`` of the message for each receiver, in order, or None: not for that receiver
# (outside its scope or filter, the record gone). Receivers asked together share the receiving
# principal and the payload mode, so one rendering serves them all (the principal's plan
# decides, whatever the endpoint). A full payload is a disclosure: the renderer writes one
# audit row per receiver (purpose: its endpoint), together, before it answers.
Render = Callable[[Sequence[Receiver], CommittedEvent], Awaitable[list[dict[str, Any] | None]]]
