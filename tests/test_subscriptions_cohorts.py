"""Subscription cohorts keyed by access plan, and a burst of subscribes: both backends, in
process (the LiveUpdates of a served app, without 300 WebSockets)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

from sqlalchemy import select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import AuditEvent
from sharegraph.datastore.models import Principal as PrincipalRow
from sharegraph.demo import demo_id
from sharegraph.graph.live import STARTS_AT_ONCE, LiveUpdates, Subscriber
from sharegraph.graph.relay import to_global_id

from .live_client import served
from .test_subscriptions import RECORDS, _touch_record

SUBSCRIBERS = 320
# queueEntryChanged reads the queue when it starts (RECORDS reads nothing then).
QUEUE_ENTRIES = """
subscription($queue: ID!) { queueEntryChanged(queueId: $queue) { event { type } } }
"""
SHELTER_QUEUE = to_global_id("ReferralQueue", demo_id("referral-queue", "lakeside-shelter"))


async def _twin(db: Database, live: Any, keys: dict[str, str], name: str) -> tuple[Any, Any]:
    """prairie-admin's principal and another principal with the same home and roles."""
    admin = await live.app.state.auth.principal(f"Bearer {keys[name]}")
    async with db.write_session() as session:
        row = await session.get(PrincipalRow, admin.id)
        assert row is not None
        twin_id = uuid.uuid4()
        session.add(
            PrincipalRow(
                id=twin_id,
                name=f"{name}-twin",
                kind=row.kind,
                tenant_id=row.tenant_id,
                partner_organization_id=row.partner_organization_id,
            )
        )
    return admin, dataclasses.replace(admin, id=twin_id, name=f"{name}-twin")


async def test_hundreds_of_concurrent_subscribes_share_one_cohort_and_each_is_audited(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        admin, twin = await _twin(seeded_db, live, keys, "prairie-admin")
        received: list[tuple[int, dict[str, Any] | None]] = []

        # Each subscribe holds a database connection for its checks: watch how many at once.
        pool = seeded_db.engine.pool
        busiest = [0]

        async def watch() -> None:
            while True:
                busiest[0] = max(busiest[0], int(getattr(pool, "checkedout", lambda: 0)()))
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        lakeside = await live.app.state.auth.principal(f"Bearer {keys['lakeside-admin']}")
        queued = await asyncio.gather(
            *(
                updates.start(
                    Subscriber(lakeside),
                    QUEUE_ENTRIES,
                    {"queue": SHELTER_QUEUE},
                    None,
                    lambda _body: None,
                )
                for _ in range(SUBSCRIBERS)
            )
        )  # none refused: the burst queued for connections instead of exhausting the pool
        watcher.cancel()
        # STARTS_AT_ONCE connections (plus the relay's) instead of 320 asked of a 20-pool.
        assert busiest[0] <= STARTS_AT_ONCE + 2, busiest
        assert updates.cohorts == 1
        for member in queued:
            updates.leave(member)

        def deliver_to(n: int) -> Any:
            return lambda body: received.append((n, body))

        members = await asyncio.gather(
            *(
                updates.start(
                    Subscriber(admin if n % 2 else twin, purpose="wall display"),
                    RECORDS,
                    None,
                    None,
                    deliver_to(n),
                )
                for n in range(SUBSCRIBERS)
            )
        )  # none refused: the burst queued for the pool instead of exhausting it
        assert len(set(members)) == SUBSCRIBERS
        # Two principals, one access plan: one cohort.
        assert updates.cohorts == 1
        await asyncio.sleep(0.3)

        global_id = await _touch_record(live.api, seeded_db, "to the wall")
        for _ in range(200):
            if len(received) >= SUBSCRIBERS:
                break
            await asyncio.sleep(0.05)
        assert sorted(n for n, _ in received) == list(range(SUBSCRIBERS))
        bodies = {str(body) for _, body in received}
        assert len(bodies) == 1
        (_, body), *_ = received
        assert body is not None
        assert body["data"]["contactRecordChanged"]["contactRecord"]["id"] == global_id
        (cohort,) = updates._cohorts.values()
        assert cohort.evaluations == 1

        # The one evaluation's read is in the trail once per principal, with its purpose.
        async with seeded_db.read_session() as session:
            rows = (
                await session.execute(
                    select(AuditEvent.principal_id, AuditEvent.purpose).where(
                        AuditEvent.action == "read",
                        AuditEvent.record_type == "ContactRecord",
                        AuditEvent.principal_id.in_([admin.id, twin.id]),
                        AuditEvent.purpose == "wall display",
                    )
                )
            ).all()
        assert sorted((str(p), w) for p, w in rows) == sorted(
            [(str(admin.id), "wall display"), (str(twin.id), "wall display")]
        )

        for member in members:
            updates.leave(member)
        assert updates.cohorts == 0
