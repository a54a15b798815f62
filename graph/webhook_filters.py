"""Webhook endpoint filters: which record fields they select on, the receiver's right to read
them (checked at registration), and the record types an endpoint's event types concern."""

from __future__ import annotations

from typing import Any

from sharegraph.authz.disclosure import Disclosure
from sharegraph.errors import BadUserInput, Forbidden, quote
from sharegraph.graph.subscriptions import DIRECTORY_TYPES

# Filter field -> (GraphQL field readable for it, record types carrying it, row attribute).
FILTERS: dict[str, tuple[str, frozenset[str], str]] = {
    "formIds": ("formVersion", frozenset({"ContactRecord"}), "form_version_id"),
    "riskLevels": ("riskLevel", frozenset({"ContactRecord"}), "risk_level"),
    "programIds": ("program", frozenset({"Referral", "ServiceCapacity"}), "program_id"),
    "queueIds": ("queue", frozenset({"QueueEntry"}), "queue_id"),
    "statuses": ("status", frozenset({"Referral", "FollowUp", "ServiceCapacity"}), "status"),
}
TYPE_OF_PREFIX: dict[str, frozenset[str]] = {
    "contact_record": frozenset({"ContactRecord"}),
    "referral": frozenset({"Referral"}),
    "follow_up": frozenset({"FollowUp"}),
    "queue_entry": frozenset({"QueueEntry"}),
    "capacity": frozenset({"ServiceCapacity"}),
    "directory": DIRECTORY_TYPES,
    "outcome": frozenset({"Outcome"}),
}


def record_types(event_types: list[str]) -> frozenset[str]:
    found: set[str] = set()
    for name in event_types:
        found |= TYPE_OF_PREFIX.get(name.split(".", 1)[0], frozenset())
    return frozenset(found)


def check_filters(
    plan_disclosure: Disclosure, filters: dict[str, Any], types: frozenset[str]
) -> None:
    """BAD_USER_INPUT when the receiver may not read a field the filter selects on."""
    for key, values in filters.items():
        if key not in FILTERS:
            raise BadUserInput(f"unknown filter {quote(key)}", reason="BAD_FILTER")
        if not values:
            continue
        field, carriers, _attribute = FILTERS[key]
        if not types & carriers:
            raise BadUserInput(
                f"the filter {key} applies to none of the endpoint's event types",
                reason="FILTER_NOT_APPLICABLE",
            )
        for type_name in sorted(types & carriers):
            try:
                plan_disclosure.require_filterable(type_name, [field], use="filter")
            except Forbidden as error:
                raise BadUserInput(
                    f"the receiving principal may not read {type_name}.{field}, so an endpoint "
                    f"cannot filter on it ({key})",
                    reason="FILTER_NOT_READABLE",
                ) from error
