"""Bearer credentials this process authenticated lately, so a repeated one costs no database
round trip.

What may change an answer (a key revoked, a principal's roles or home, the instance's demo
flag) is written together with a policy version bump (:mod:`sharegraph.datastore.policy_version`),
so an entry is good only while the process's policy store holds the version the entry was
looked up under: a change reaches every process as a policy change does (at once in the
process that made it, within about a second in the others). A change written around the
application (SQL by hand) reaches it when the entry ages out (``max_age`` seconds). Only
successes are remembered, at most ``max_entries`` of them, keyed by a digest of the credential,
never the credential itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sharegraph.authz.principal import Principal

MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Authenticated:
    """A credential's principal, and when an API key stops working (checked at every use)."""

    principal: Principal
    revoked_at: datetime | None = None
    expires_at: datetime | None = None


class CredentialCache:
    def __init__(
        self, version: Callable[[], int], *, max_age: float, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.version = version  # the policy version the process's store holds now
        self.max_age = max_age
        self.max_entries = max_entries
        self._version: int | None = None
        self._entries: dict[bytes, tuple[Authenticated, float]] = {}

    def _current(self) -> int:
        version = self.version()
        if version != self._version:
            self._entries.clear()
            self._version = version
        return version

    def get(self, key: bytes) -> Authenticated | None:
        if self.max_age <= 0:
            return None
        self._current()
        found = self._entries.get(key)
        if found is None:
            return None
        if time.monotonic() - found[1] >= self.max_age:
            del self._entries[key]
            return None
        return found[0]

    def put(self, key: bytes, authenticated: Authenticated, looked_up_under: int) -> None:
        """Remember a lookup made under policy version ``looked_up_under`` (read before the
        lookup began): not if the version has moved since, as the lookup may predate the move."""
        if self.max_age <= 0 or self._current() != looked_up_under:
            return
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[key] = (authenticated, time.monotonic())

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
