"""Webhook event type names: ``<record>.<change>`` from an outbox event."""

from __future__ import annotations

from sharegraph.datastore.relay import CommittedEvent
from sharegraph.errors import BadUserInput, quote

# Outbox record type -> the name's first part.
PREFIXES: dict[str, str] = {
    "ContactRecord": "contact_record",
    "Referral": "referral",
    "FollowUp": "follow_up",
    "QueueEntry": "queue_entry",
    "ServiceCapacity": "capacity",
    "Organization": "directory",
    "Service": "directory",
    "Location": "directory",
    "ServiceAtLocation": "directory",
    "Outcome": "outcome",
}
CHANGES = ("created", "updated", "deleted")
# What an endpoint may subscribe to (``prefix.*`` matches every change of the prefix).
EVENT_TYPES: frozenset[str] = frozenset(
    {"contact_record.created", "contact_record.updated", "outcome.created"}
    | {f"{p}.{c}" for p in ("referral", "follow_up", "queue_entry", "capacity", "directory")
       for c in ("*", *CHANGES)}
)  # fmt: skip
TEST_EVENT = "webhook.test"


def event_name(event: CommittedEvent) -> str | None:
    prefix = PREFIXES.get(event.record_type)
    return f"{prefix}.{event.event_type.value}" if prefix else None


def matches(patterns: list[str], name: str) -> bool:
    prefix = name.split(".", 1)[0]
    return name in patterns or f"{prefix}.*" in patterns


def checked_event_types(names: list[str]) -> list[str]:
    if not names:
        raise BadUserInput("name at least one event type", reason="NO_EVENT_TYPES")
    for name in names:
        if name not in EVENT_TYPES:
            raise BadUserInput(
                f"unknown event type {quote(name)}; known: {', '.join(sorted(EVENT_TYPES))}",
                reason="UNKNOWN_EVENT_TYPE",
            )
    return sorted(set(names))
