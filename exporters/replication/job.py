"""A configured replication target kept in sync by the scheduler (``serve`` and ``sharegraph
worker``), and the one-runner-per-target rule ``sharegraph replicate`` shares with it.

Each call brings one target up to date: an incremental pass, or a full one that stops at its
time budget and continues from its page checkpoint next time. Only one process replicates
into a target at a time (:func:`sharegraph.datastore.work.exclusive` on the target's
database, :func:`lock_name`): another finds it busy and leaves it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import Principal
from sharegraph.datastore.work import exclusive
from sharegraph.errors import BadUserInput
from sharegraph.exporters.replication.run import PassResult, Replicator
from sharegraph.exporters.replication.target import Target, redacted
from sharegraph.settings import ReplicationTarget

log = logging.getLogger("sharegraph.replication")


def describe(configured: ReplicationTarget) -> str:
    """How a configured target is named in logs and reports: never its password."""
    return f"{configured.what} as {configured.principal} -> {redacted(configured.url)}"


async def principal_id(db: Database, name_or_id: str) -> uuid.UUID:
    try:
        wanted = Principal.id == uuid.UUID(name_or_id)
    except ValueError:
        wanted = Principal.name == name_or_id
    async with db.read_session() as session:
        found = await session.scalar(select(Principal.id).where(wanted))
    if found is None:
        raise BadUserInput(
            f"no principal {name_or_id!r} to replicate as", reason="UNKNOWN_PRINCIPAL"
        )
    return found


def lock_name(target: Target) -> str:
    """The target's one-runner lock: its database (backend, host, port, name), not its URL, so
    two URLs for one database (another driver, user or option) still take turns, and two
    databases on one server never wait for each other."""
    return f"replication:{target.identity}"


@asynccontextmanager
async def one_runner(db: Database, target: Target) -> AsyncIterator[bool]:
    """True while this process is the one replicating into ``target``; False: another is."""
    async with exclusive(db, lock_name(target)) as held:
        yield held


async def bring_up_to_date(
    db: Database,
    configured: ReplicationTarget,
    *,
    page_size: int = 1000,
    budget_seconds: float | None = None,
) -> list[PassResult] | None:
    """One pass per kind of records the target holds; None when another process is running
    this target."""
    who = await principal_id(db, configured.principal)
    target = Target(configured.url)
    try:
        async with one_runner(db, target) as held:
            if not held:
                return None
            replicator = Replicator(db, target, who, page_size=page_size)
            results = []
            if configured.what != "resources":
                results.append(await replicator.contact_records(budget_seconds=budget_seconds))
            if configured.what != "contact-records":
                results.append(await replicator.resources())
            for result in results:
                if result.rows_written or result.rows_deleted or not result.complete:
                    log.info("replication %s: %s", target.display, result.document())
            return results
    finally:
        await target.dispose()
