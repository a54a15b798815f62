"""Sealing the audit trail as periodic due work (what ``sharegraph audit seal`` does once)."""

from __future__ import annotations

from datetime import timedelta

from sharegraph.datastore import audit_chain
from sharegraph.datastore.work import DueWork, Job

AUDIT_SEAL = "audit-seal"
DEFAULT_EVERY = timedelta(minutes=5)
DEFAULT_SETTLE_SECONDS = 5.0


def audit_sealing(
    every: timedelta = DEFAULT_EVERY, settle_seconds: float = DEFAULT_SETTLE_SECONDS
) -> DueWork:
    """Seal every chain's settled rows at most once per ``every``. Concurrent sealers are safe
    (``audit_chain.seal`` locks each chain), so every process may run this."""

    async def run(job: Job) -> None:
        job.done += await audit_chain.seal(job.db, settle_seconds=settle_seconds)

    return DueWork(AUDIT_SEAL, run, every=every)
