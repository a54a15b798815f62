"""Scheduled capacity: a change a partner announced ahead, applied by the scheduler."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from ...datastore import models as m
from ..enums import CapacityStatus
from ..relay import Node
from .base import node_type


@node_type(m.ScheduledCapacityChange)
@strawberry.federation.type(
    keys=["id"],
    description='A capacity change announced ahead ("+5 slots on Monday"); the scheduler '
    "applies it once at `applyAt`, unless it is cancelled first.",
)
class ScheduledCapacityChange(Node):
    row: strawberry.Private[Any]
    uuid: uuid.UUID | None
    apply_at: datetime | None = strawberry.field(description="When it applies (UTC).")
    available_delta: int | None = strawberry.field(
        description="Slots added (or, negative, taken away) from what is available then."
    )
    available: int | None = strawberry.field(description="A new figure for what is available.")
    maximum: int | None
    status: CapacityStatus | None
    note: str | None
    created_at: datetime | None
    applied_at: datetime | None
    cancelled_at: datetime | None
