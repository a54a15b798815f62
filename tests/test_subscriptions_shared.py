"""One evaluation shared by cohorts whose plans read alike (equal ``AccessPlan.read_key``), never
across different row scopes or masks: both backends."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from sqlalchemy import select

from sharegraph.authz.plan import AccessPlan
from sharegraph.authz.scopes import parse
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import AuditEvent
from sharegraph.graph.live import LiveUpdates

from .live_client import served
from .test_subscriptions import EASTSIDE, HARBOR, PANTRY, RECORDS, _refer, _touch_record

ROLES = ("prairie-admin", "prairie-call-taker", "prairie-api")


async def _plan(live: Any, keys: dict[str, str], name: str) -> AccessPlan:
    principal = await live.app.state.auth.principal(f"Bearer {keys[name]}")
    plan: AccessPlan = live.app.state.live.policies.plan_for(principal)
    return plan


async def test_read_keys_are_equal_only_for_plans_that_read_alike(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with served(seeded_db, keys) as live:
        admin, call_taker, api = [await _plan(live, keys, name) for name in ROLES]
        pantry = await _plan(live, keys, "eastside-portal")
        lakeside = await _plan(live, keys, "lakeside-admin")
        # Three roles of one tenant, one set of read grants in the demo network.
        assert admin.core.roles != call_taker.core.roles
        assert admin.read_key() == call_taker.read_key() == api.read_key()
        assert pantry.read_key() != admin.read_key()
        assert lakeside.read_key() != admin.read_key()

        # The same roles with one type's rows narrowed, or one field less: different keys.
        ((owner, grants),) = list(admin.grants("QueueEntry").items())[:1]
        assert all(g.scope != parse("referred_to_grantee") for g in grants)
        narrowed_rows = {
            **admin.core.grants,
            ("read", "QueueEntry"): {
                owner: tuple(
                    dataclasses.replace(g, scope=parse("referred_to_grantee")) for g in grants
                )
            },
        }
        fewer_fields = {
            **admin.core.grants,
            ("read", "QueueEntry"): {
                owner: tuple(
                    dataclasses.replace(g, fields=frozenset(sorted(g.fields)[1:])) for g in grants
                )
            },
        }
        for changed in (narrowed_rows, fewer_fields):
            other = AccessPlan(admin.principal, dataclasses.replace(admin.core, grants=changed))
            assert other.read_key() != admin.read_key()
        # Write grants do not change what a read admits.
        writes = {k: v for k, v in admin.core.grants.items() if k[0] != "write"}
        same = AccessPlan(admin.principal, dataclasses.replace(admin.core, grants=writes))
        assert same.read_key() == admin.read_key()


async def test_three_roles_that_read_alike_share_one_evaluation_each_audited(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with served(seeded_db, keys) as live:
        clients = [live.client() for _ in ROLES]
        for client in clients:
            await client.__aenter__()
        try:
            for client, name in zip(clients, ROLES, strict=True):
                await client.init(name, purpose="shared wall")
                await client.subscribe("1", RECORDS)
            updates: LiveUpdates = live.app.state.live
            await clients[0].nothing_within(0.3)
            for _ in range(100):  # the subscribes are checked one after the other
                if updates.cohorts == 3:
                    break
                await asyncio.sleep(0.05)
            assert updates.cohorts == 3  # one per role: cohorts are keyed by plan

            global_id = await _touch_record(live.api, seeded_db, "one for three")
            bodies = [await client.receive() for client in clients]
            assert all(b["type"] == "next" for b in bodies)
            assert len({str(b["payload"]) for b in bodies}) == 1
            data = bodies[0]["payload"]["data"]["contactRecordChanged"]
            assert data["contactRecord"]["id"] == global_id
            assert data["contactRecord"]["narrative"] == "one for three"
            assert sum(c.evaluations for c in updates._cohorts.values()) == 1
        finally:
            for client in clients:
                await client.__aexit__(None, None, None)

        # The one evaluation's read is in the trail for each of the three principals.
        principals = [await live.app.state.auth.principal(f"Bearer {keys[n]}") for n in ROLES]
        async with seeded_db.read_session() as session:
            rows = (
                await session.execute(
                    select(AuditEvent.principal_id).where(
                        AuditEvent.action == "read",
                        AuditEvent.record_type == "ContactRecord",
                        AuditEvent.purpose == "shared wall",
                    )
                )
            ).all()
        assert sorted(str(p) for (p,) in rows) == sorted(str(p.id) for p in principals)


async def test_a_shared_evaluation_never_crosses_row_scopes_or_masks(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """The home tenant and the pantry subscribe the very same document: each gets what its
    own plan admits, whichever evaluates first."""
    async with served(seeded_db, keys) as live, live.client() as home, live.client() as pantry:
        await home.init("prairie-admin")
        await pantry.init("eastside-portal")
        await home.subscribe("r", PANTRY)
        await pantry.subscribe("r", PANTRY)
        await home.nothing_within(0.3)

        harbor = await _refer(live.api, seeded_db, HARBOR)  # the home's only
        mine = await _refer(live.api, seeded_db, EASTSIDE)  # both, masked for the pantry
        seen = [await home.receive(), await home.receive()]
        ids = [m["payload"]["data"]["referralChanged"]["theReferral"]["id"] for m in seen]
        assert ids == [harbor, mine]
        for message in seen:
            record = message["payload"]["data"]["referralChanged"]["theReferral"]["record"]
            assert record["secret"] is not None
            assert record["client"]["lastName"] is not None

        message = await pantry.receive()
        delivered = message["payload"]["data"]["referralChanged"]["theReferral"]
        assert delivered["id"] == mine
        assert delivered["record"]["secret"] is None
        assert delivered["record"]["client"]["lastName"] is None
        assert await pantry.nothing_within(0.5)  # never the harbor referral


async def test_each_reader_of_a_shared_evaluation_is_audited_with_its_own_purpose(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """A member that gave no purpose is not audited under the purpose of the member whose
    cohort happened to run the shared evaluation."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        async with live.client() as wall, live.client() as desk:
            await wall.init("prairie-api", purpose="wall display")
            await wall.subscribe("1", RECORDS)
            for _ in range(100):
                if updates.cohorts == 1:
                    break
                await asyncio.sleep(0.05)
            await desk.init("prairie-call-taker")  # no purpose
            await desk.subscribe("1", RECORDS)
            for _ in range(100):
                if updates.cohorts == 2:
                    break
                await asyncio.sleep(0.05)
            await wall.nothing_within(0.3)
            await _touch_record(live.api, seeded_db, "whose purpose")
            assert (await wall.receive())["type"] == "next"
            assert (await desk.receive())["type"] == "next"
            assert sum(c.evaluations for c in updates._cohorts.values()) == 1

        # (prairie-admin makes the change: its own read of it is not one of these.)
        api, call_taker = [
            await live.app.state.auth.principal(f"Bearer {keys[n]}")
            for n in ("prairie-api", "prairie-call-taker")
        ]
        async with seeded_db.read_session() as session:
            rows = (
                await session.execute(
                    select(AuditEvent.principal_id, AuditEvent.purpose).where(
                        AuditEvent.action == "read",
                        AuditEvent.record_type == "ContactRecord",
                        AuditEvent.principal_id.in_([api.id, call_taker.id]),
                    )
                )
            ).all()
        assert sorted((str(p), why or "") for p, why in rows) == sorted(
            [(str(api.id), "wall display"), (str(call_taker.id), "")]
        )
