"""Scheduled capacity: a change a partner announced ahead, applied by the scheduler."""

from __future__ import annotations

from typing import Any

import strawberry

from sharegraph.datastore import models as m
from sharegraph.graph.relay import Node
from sharegraph.graph.types.catalogued import shared_type


@shared_type("ScheduledCapacityChange", m.ScheduledCapacityChange)
class ScheduledCapacityChange(Node):
    row: strawberry.Private[Any]
