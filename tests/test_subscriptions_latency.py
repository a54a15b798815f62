"""What keeps a delivery's latency down without giving up a guarantee (issue 13's figures):
an evaluation's pooled connection goes back before its audit flush, the answer still leaves
only once its audit rows are durable; one answer is encoded once for all its subscribers; each
phase is timed. Both backends, in process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import AuditEvent
from sharegraph.graph import live as live_module
from sharegraph.graph.live import LiveUpdates, Subscriber, Timings
from sharegraph.web.endpoint import GraphQLEndpoint
from sharegraph.web.subscriptions import Encoded, _next_message

from .live_client import served
from .test_subscriptions import RECORDS, _touch_record


async def test_the_connection_goes_back_before_the_audit_flush_and_the_answer_after_it(
    seeded_db: Database, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        admin = await live.app.state.auth.principal(f"Bearer {keys['prairie-admin']}")
        sessions: list[Any] = []
        seen: list[Any] = []
        real_body, real_flush = live_module.unflushed_body, live_module.flush

        def spy_body(ctx: Any, result: Any) -> dict[str, Any]:
            sessions.append(ctx.session)
            return real_body(ctx, result)

        async def spy_flush(db: Database, collector: Any) -> None:
            # The evaluation's read session is closed (no transaction holds its connection).
            seen.append(("flush", [session.in_transaction() for session in sessions]))
            await real_flush(db, collector)
            async with seeded_db.read_session() as session:
                audited = await session.scalar(
                    select(AuditEvent.id).where(
                        AuditEvent.principal_id == admin.id,
                        AuditEvent.action == "read",
                        AuditEvent.record_type == "ContactRecord",
                        AuditEvent.purpose == "latency test",
                    )
                )
            seen.append(("flushed", audited is not None))

        monkeypatch.setattr(live_module, "unflushed_body", spy_body)
        monkeypatch.setattr(live_module, "flush", spy_flush)
        received: list[dict[str, Any] | None] = []

        def deliver(body: dict[str, Any] | None) -> None:
            seen.append(("delivered",))
            received.append(body)

        member = await updates.start(
            Subscriber(admin, purpose="latency test"), RECORDS, None, None, deliver
        )
        await asyncio.sleep(0.3)
        global_id = await _touch_record(live.api, seeded_db, "timed")
        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.05)
        updates.leave(member)

        assert received and received[0] is not None
        assert received[0]["data"]["contactRecordChanged"]["contactRecord"]["id"] == global_id
        assert seen[:3] == [("flush", [False]), ("flushed", True), ("delivered",)]
        phases = updates.timings.summary()
        for phase in ("select", "execute", "flush", "evaluation", "fanout"):
            assert phases[phase]["count"] >= 1, phases


def test_one_answer_is_encoded_once_and_each_message_names_its_operation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = {"data": {"queueEntryChanged": {"note": 'café \u2028 "quoted"'}}}
    dumps: list[Any] = []
    real_dumps = json.dumps

    def counting(value: Any, **kwargs: Any) -> str:
        dumps.append(value)
        return real_dumps(value, **kwargs)

    monkeypatch.setattr("sharegraph.web.subscriptions.json.dumps", counting)
    first = _next_message("a", body)
    second = _next_message('b"2', body)
    assert isinstance(first, Encoded)
    assert json.loads(first) == {"id": "a", "type": "next", "payload": body}
    assert json.loads(second) == {"id": 'b"2', "type": "next", "payload": body}
    assert sum(value is body for value in dumps) == 1  # the body once, the ids each
    # Another answer, even an equal one, is encoded for itself.
    other = {"data": {"queueEntryChanged": {"note": "other"}}}
    assert json.loads(_next_message("a", other))["payload"] == other
    # The endpoint sends an Encoded message as it is, any other as JSON.
    endpoint = GraphQLEndpoint.__new__(GraphQLEndpoint)
    assert endpoint.encode_json(first) == str(first)
    assert json.loads(endpoint.encode_json({"type": "ping"})) == {"type": "ping"}


def test_timings_keep_the_last_values_of_each_phase() -> None:
    timings = Timings()
    for _ in range(Timings.KEPT + 5):
        timings.add("select", 0.0)
    summary = timings.summary()
    assert summary["select"]["count"] == Timings.KEPT
    assert summary["select"]["p50_ms"] > 0


async def test_one_timer_watches_the_policy_version_for_every_connection() -> None:
    from types import SimpleNamespace

    from sharegraph.web import subscriptions as ws

    class Policies:  # what the watch reads of a PolicyStore
        snapshot = SimpleNamespace(version=1)

    policies: Any = Policies()
    watch = ws._watch_for(policies)
    assert ws._watch_for(policies) is watch
    waiters = [asyncio.create_task(watch.moved_from(1)) for _ in range(1_000)]
    await asyncio.sleep(ws.CREDENTIALS_CHECK_SECONDS * 1.5)
    assert watch.waiting == 1_000 and not any(w.done() for w in waiters)
    timers = [t for t in asyncio.all_tasks() if t.get_name() == "ws-policy-watch"]
    assert timers == [watch.task]  # one, not one per connection

    policies.snapshot = SimpleNamespace(version=2)
    await asyncio.wait_for(asyncio.gather(*waiters), ws.CREDENTIALS_CHECK_SECONDS * 3)
    await asyncio.wait_for(watch.moved_from(1), 0.1)  # already moved: at once
    await asyncio.sleep(ws.CREDENTIALS_CHECK_SECONDS * 1.5)
    assert watch.task is not None and watch.task.done()  # nobody waits: the timer stopped


async def test_one_dispatcher_feeds_live_cohorts_and_a_lagging_one_reads_on_its_own(
    seeded_db: Database, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_module, "INBOX_EVENTS", 1)
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        admin = await live.app.state.auth.principal(f"Bearer {keys['prairie-admin']}")
        gate = asyncio.Event()
        real = updates._evaluate

        async def slow(cohort: Any, event: Any, **shared: Any) -> Any:
            await gate.wait()  # the cohort falls behind while the writes go on
            return await real(cohort, event, **shared)

        monkeypatch.setattr(updates, "_evaluate", slow)
        received: list[dict[str, Any] | None] = []
        member = await updates.start(Subscriber(admin), RECORDS, None, None, received.append)
        await asyncio.sleep(0.3)
        assert updates._dispatcher is not None and len(updates._fed) == 1
        written = [await _touch_record(live.api, seeded_db, f"note {n}") for n in range(8)]
        for _ in range(100):  # its inbox overflowed: it left the dispatcher
            if not updates._fed:
                break
            await asyncio.sleep(0.05)
        assert not updates._fed
        gate.set()
        for _ in range(200):
            if len(received) >= 8:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        updates.leave(member)
        positions = [
            body["data"]["contactRecordChanged"]["event"]["position"]
            for body in received
            if body is not None
        ]
        assert len(positions) == 8 and positions == sorted(set(positions))  # all, once, in order
        ids = {body["data"]["contactRecordChanged"]["contactRecord"]["id"] for body in received}
        assert ids == set(written)
