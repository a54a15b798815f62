"""The domain coordinates policies talk about: ``Type.field`` and operation names.

Fields come from the field catalogue (:mod:`.catalogue`). Form answers add
``ContactRecord.answers.<fieldKey>`` coordinates, one per key of the owner tenant's forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from sharegraph.authz.catalogue import CATALOGUE, Kind

# Every field of every shared type, from the catalogue.
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(f.name for f in spec.fields) for name, spec in CATALOGUE.items()
}
RECORD_TYPES = frozenset(n for n, spec in CATALOGUE.items() if spec.kind is Kind.RECORD)
DIRECTORY_TYPES = frozenset(TYPE_FIELDS) - RECORD_TYPES
# Types whose rows the row scopes decide; the others are reachable only through one of these
# (a referral's outcomes, a location's phones) and follow their owner tenant's grants.
SCOPED_TYPES = frozenset(n for n, spec in CATALOGUE.items() if spec.scoped)

OPERATIONS: dict[str, str] = {
    # queries (action read)
    "organizations": "read",
    "services": "read",
    "locations": "read",
    "serviceAtLocations": "read",
    "taxonomyTerms": "read",
    "contactRecords": "read",
    "clients": "read",
    "referralQueues": "read",
    "followUps": "read",
    "referrals": "read",
    "queueEntries": "read",
    "networkStatistics": "statistics",
    # mutations (action write)
    "createContactRecord": "write",
    "updateContactRecord": "write",
    "createReferral": "write",
    "updateReferralStatus": "write",
    "addOutcome": "write",
    "setReferralExternalId": "write",
    "addReferralNote": "write",
    "updateClientContact": "write",
    "createReferralQueue": "write",
    "updateReferralQueue": "write",
    "enqueueClient": "write",
    "assignQueueEntry": "write",
    "updateQueueEntryStatus": "write",
    "reprioritizeQueueEntry": "write",
    "removeQueueEntry": "write",
    "updateCapacity": "write",
    "scheduleCapacity": "write",
    "cancelScheduledCapacity": "write",
    "createFollowUp": "write",
    "updateFollowUp": "write",
    "completeFollowUp": "write",
    **{
        f"{verb}{record}": "write"
        for record in ("Organization", "Service", "Location", "ServiceAtLocation")
        for verb in ("create", "update", "deactivate")
    },
    **{
        f"{verb}{record}": "write"
        for record in ("Phone", "Schedule")
        for verb in ("create", "update", "delete")
    },
    "addTaxonomyLink": "write",
    "removeTaxonomyLink": "write",
    # data leaving the system (action export)
    "sendContactRecordByEmail": "export",
    "startExport": "export",
    # live updates (action subscribe; what they deliver is read as queries read it)
    "contactRecordChanged": "subscribe",
    "referralChanged": "subscribe",
    "followUpChanged": "subscribe",
    "queueEntryChanged": "subscribe",
    "capacityChanged": "subscribe",
    "directoryChanged": "subscribe",
    "queueDashboard": "subscribe",
    # the subgraph's SDL, for composing the supergraph (action compose, no agreement grants
    # it); served to anyone only while introspection is on
    "_service": "compose",
}

ANSWERS_PREFIX = "ContactRecord.answers."


def field_coordinates() -> list[str]:
    return [f"{type_name}.{field}" for type_name, fields in TYPE_FIELDS.items() for field in fields]


def answer_coordinate(key: str) -> str:
    return ANSWERS_PREFIX + key


def type_of(coordinate: str) -> str:
    return coordinate.split(".", 1)[0]


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*|\*)", pattern)
    regex = "".join("[^.]*" if p == "*" else ".*" if p == "**" else re.escape(p) for p in parts)
    return re.compile(regex + r"\Z")


def coordinate_matches(coordinate: str, pattern: str) -> bool:
    """Glob match on dotted coordinates: ``*`` stays within one segment, ``**`` crosses dots.

    So ``ContactRecord.*`` is every field of a contact record but none of its form answers
    (``ContactRecord.answers.*`` or a sensitivity grant names those), and ``**`` is everything.
    """
    return pattern == coordinate or _compiled(pattern).match(coordinate) is not None


def matching(patterns: Iterable[str], coordinates: Iterable[str]) -> set[str]:
    pattern_list = list(patterns)
    return {c for c in coordinates if any(coordinate_matches(c, p) for p in pattern_list)}


def is_known_pattern(pattern: str, answer_keys: Iterable[str] = ()) -> bool:
    """Whether a glob names at least one coordinate (agreements with typos are refused)."""
    universe = [*field_coordinates(), *OPERATIONS, *(answer_coordinate(k) for k in answer_keys)]
    if pattern.startswith(ANSWERS_PREFIX):
        return True  # answer keys of forms that do not exist yet may be granted in advance
    return any(coordinate_matches(c, pattern) for c in universe)
