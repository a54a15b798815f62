"""A live subscription (no `after:`) gets every event committed after its subscribe began being
handled: one committed while it is checked, or right after ``LiveUpdates.start`` returns, for a
brand new cohort and for a member joining an existing one: both backends."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sqlalchemy import select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import EventType
from sharegraph.datastore.models import AuditEvent, ContactRecord
from sharegraph.datastore.outbox import record_event
from sharegraph.graph import live as live_module
from sharegraph.graph.live import LiveUpdates, Refused, Subscriber

from .live_client import served
from .test_subscriptions import PANTRY, PRAIRIE, RECORDS, REVOKE, _touch_record


async def _subscriber(
    live: Any, keys: dict[str, str], name: str, purpose: str | None = None
) -> Subscriber:
    principal = await live.app.state.auth.principal(f"Bearer {keys[name]}")
    return Subscriber(principal, purpose)


def _narratives(bodies: list[dict[str, Any] | None]) -> list[str]:
    return [b["data"]["contactRecordChanged"]["contactRecord"]["narrative"] for b in bodies if b]


def _position(body: dict[str, Any] | None) -> int:
    assert body is not None
    return int(body["data"]["contactRecordChanged"]["event"]["position"])


async def _until(condition: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not within the time: an event never arrived")


async def _received(bodies: list[dict[str, Any] | None], count: int) -> list[str]:
    """The narratives once ``count`` arrived (and a moment more for any extra one)."""
    await _until(lambda: len(bodies) >= count)
    await asyncio.sleep(0.3)
    return _narratives(bodies)


def _committing_probe(updates: LiveUpdates, commit: Any) -> list[bool]:
    """The next subscribe's check commits an event (``commit``) before it finishes."""
    probe = updates._probe
    done: list[bool] = []

    async def committing(*args: Any) -> Any:
        result = await probe(*args)
        if not done:
            done.append(True)
            await commit()
        return result

    updates._probe = committing  # type: ignore[method-assign]
    return done


async def test_an_event_committed_while_the_first_subscription_is_checked_arrives(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """The first subscription of the process: the relay was not running yet."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        bodies: list[dict[str, Any] | None] = []

        async def commit() -> None:
            before = updates.relay.cursor
            await _touch_record(live.api, seeded_db, "while checked")
            if updates.relay._tasks:  # a running tail reads it before the check ends
                await _until(lambda: updates.relay.cursor > before)

        _committing_probe(updates, commit)
        subscriber = await _subscriber(live, keys, "prairie-admin")
        await updates.start(subscriber, RECORDS, None, None, bodies.append)
        assert await _received(bodies, 1) == ["while checked"]


async def test_an_event_routed_to_other_cohorts_while_a_new_one_is_checked_arrives(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """Another cohort is live and has already received the event when the new cohort's check
    ends: the new one reads it from the table, then goes on with the dispatcher's routing."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        other: list[dict[str, Any] | None] = []
        mine: list[dict[str, Any] | None] = []
        call_taker = await _subscriber(live, keys, "prairie-call-taker")
        await updates.start(call_taker, RECORDS, None, None, other.append)
        await asyncio.sleep(0.3)

        async def commit() -> None:
            await _touch_record(live.api, seeded_db, "routed meanwhile")
            await _until(lambda: len(other) == 1)

        _committing_probe(updates, commit)
        admin = await _subscriber(live, keys, "prairie-admin")
        await updates.start(admin, RECORDS, None, None, mine.append)
        assert updates.cohorts == 2
        assert await _received(mine, 1) == ["routed meanwhile"]
        await _touch_record(live.api, seeded_db, "next")
        assert await _received(mine, 2) == ["routed meanwhile", "next"]
        assert _narratives(other) == ["routed meanwhile", "next"]


async def test_a_member_joining_a_cohort_gets_what_it_took_while_the_member_was_checked(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """The cohort evaluated and delivered an event while the second member was being checked:
    that member gets it too (evaluated and audited for it alone), then the cohort's next ones,
    each once, in order."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        first: list[dict[str, Any] | None] = []
        second: list[dict[str, Any] | None] = []
        await updates.start(
            await _subscriber(live, keys, "prairie-admin"), RECORDS, None, None, first.append
        )
        await asyncio.sleep(0.3)

        async def commit() -> None:
            await _touch_record(live.api, seeded_db, "taken meanwhile")
            await _until(lambda: len(first) == 1)

        _committing_probe(updates, commit)
        joining = await _subscriber(live, keys, "prairie-admin", purpose="joined late")
        await updates.start(joining, RECORDS, None, None, second.append)
        assert updates.cohorts == 1
        assert await _received(second, 1) == ["taken meanwhile"]
        await _touch_record(live.api, seeded_db, "after joining")
        assert await _received(second, 2) == ["taken meanwhile", "after joining"]
        assert _narratives(first) == ["taken meanwhile", "after joining"]

        async with seeded_db.read_session() as session:
            audited = await session.scalar(
                select(AuditEvent.id).where(
                    AuditEvent.action == "read",
                    AuditEvent.record_type == "ContactRecord",
                    AuditEvent.purpose == "joined late",
                    AuditEvent.principal_id == joining.principal.id,
                )
            )
        assert audited is not None


def _commit_elsewhere(url: str, narrative: str) -> None:
    """Commit an event from another thread's loop and connection while this loop is blocked:
    nothing of the subscription runs between ``start`` returning and the commit."""

    async def commit() -> None:
        db = Database(url)
        try:
            async with db.write_session() as session:
                record = await session.scalar(
                    select(ContactRecord)
                    .where(ContactRecord.tenant_id == PRAIRIE)
                    .order_by(ContactRecord.id)
                    .limit(1)
                )
                assert record is not None
                record.narrative = narrative
                await session.flush()
                record_event(session, record, EventType.UPDATED, None)
        finally:
            await db.dispose()

    thread = threading.Thread(target=lambda: asyncio.run(commit()))
    thread.start()
    thread.join()


async def test_an_event_committed_right_after_start_returns_arrives(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """Before the loop runs anything else: a new cohort of the process's first subscription,
    then a member joining it."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        first: list[dict[str, Any] | None] = []
        second: list[dict[str, Any] | None] = []
        admin = await _subscriber(live, keys, "prairie-admin")
        await updates.start(admin, RECORDS, None, None, first.append)
        _commit_elsewhere(seeded_db.url, "right after")
        assert await _received(first, 1) == ["right after"]

        await updates.start(admin, RECORDS, None, None, second.append)
        _commit_elsewhere(seeded_db.url, "right after joining")
        assert await _received(second, 1) == ["right after joining"]
        assert _narratives(first) == ["right after", "right after joining"]


async def test_an_event_committed_once_a_ping_after_the_subscribe_is_answered_arrives(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """Over the protocol, which acknowledges no subscribe: a connection's messages are handled
    in order, so the pong to a ping sent after the subscribe tells the client the subscription
    is anchored, even while its document is still being checked."""
    async with served(seeded_db, keys) as live, live.client() as client:
        updates: LiveUpdates = live.app.state.live
        probe = updates._probe
        checked = asyncio.Event()

        async def held(*args: Any) -> Any:
            await checked.wait()
            return await probe(*args)

        updates._probe = held  # type: ignore[method-assign]
        await client.init("prairie-admin")
        await client.subscribe("1", RECORDS)
        await client.send({"type": "ping"})
        assert (await client.receive())["type"] == "pong"
        before = updates.relay.cursor
        await _touch_record(live.api, seeded_db, "after the pong")
        if updates.relay._tasks:  # a running tail reads it before the check ends
            await _until(lambda: updates.relay.cursor > before)
        checked.set()
        message = await client.receive(5)
        assert message["type"] == "next", message
        data = message["payload"]["data"]["contactRecordChanged"]
        assert data["contactRecord"]["narrative"] == "after the pong"


async def test_a_member_whose_cohort_moves_on_while_it_catches_up_gets_all_in_order(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """The cohort takes (and delivers) another event while the member still catches up on the
    one before: the member gets both, in commit order, each once, in the same cohort."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        first: list[dict[str, Any] | None] = []
        admin = await _subscriber(live, keys, "prairie-admin")
        await updates.start(admin, RECORDS, None, None, first.append)
        await asyncio.sleep(0.3)
        anchor = updates.anchor()
        await _touch_record(live.api, seeded_db, "taken before")
        await _until(lambda: len(first) == 1)

        gate, entered = asyncio.Event(), asyncio.Event()
        evaluate = updates._evaluate

        async def slow(cohort: Any, event: Any, **options: Any) -> Any:
            if cohort.subscriber.purpose == "slow":
                entered.set()
                await gate.wait()
            return await evaluate(cohort, event, **options)

        updates._evaluate = slow  # type: ignore[method-assign]
        second: list[dict[str, Any] | None] = []
        slowly = await _subscriber(live, keys, "prairie-admin", purpose="slow")
        joining = asyncio.create_task(
            updates.start(slowly, RECORDS, None, None, second.append, anchor)
        )
        await asyncio.wait_for(entered.wait(), 5)
        await _touch_record(live.api, seeded_db, "while it catches up")
        await _until(lambda: len(first) == 2)
        assert second == []
        gate.set()
        await asyncio.wait_for(joining, 5)
        assert updates.cohorts == 1
        positions = [_position(b) for b in second]
        assert len(positions) == 2 and positions[0] < positions[1]
        await _touch_record(live.api, seeded_db, "after joining")
        await _received(second, 3)
        # Each evaluation reads the record as it is then: the first one's already changed.
        assert _narratives(second)[1:] == ["while it catches up", "after joining"]
        assert [_position(b) for b in second] == [_position(b) for b in first]


async def test_a_cohort_left_before_its_task_ran_is_fed_no_more_and_a_new_one_starts(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """Its only member leaves in the turn it was created: it is out of the dispatcher's routing
    at once (its task, cancelled before its first step, never runs its own cleanup), and the
    next subscribe of the same document starts a new cohort that gets what follows."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        gone: list[dict[str, Any] | None] = []
        bodies: list[dict[str, Any] | None] = []
        admin = await _subscriber(live, keys, "prairie-admin")
        member = await updates.start(admin, RECORDS, None, None, gone.append)
        updates.leave(member)
        assert updates.cohorts == 0
        assert not updates._fed
        await updates.start(admin, RECORDS, None, None, bodies.append)
        await _touch_record(live.api, seeded_db, "to the new one")
        assert await _received(bodies, 1) == ["to the new one"]
        assert gone == []
        assert len(updates._fed) == 1


async def test_access_revoked_while_a_subscription_is_checked_ends_it(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """The agreement is revoked, and every running cohort checked again, while the pantry's
    subscribe is checked under the plan it had: its cohort, begun after that pass, is checked
    too (within about a second), not left running on the access it no longer has."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        await updates.start(
            await _subscriber(live, keys, "prairie-admin"), RECORDS, None, None, [].append
        )  # the revocation watch runs
        version = updates.policies.snapshot.version

        async def revoke() -> None:
            agreements = (
                await live.api.data("prairie-admin", "{ sharingAgreements { id name } }")
            )["sharingAgreements"]
            revoked = next(a["id"] for a in agreements if a["name"] == "Referrals to eastside")
            await live.api.data("prairie-admin", REVOKE, {"id": revoked})
            await _until(lambda: updates.policies.snapshot.version != version)
            await asyncio.sleep(3 * live_module.REVOCATION_CHECK_SECONDS)  # the watch has passed

        _committing_probe(updates, revoke)
        pantry: list[dict[str, Any] | None] = []
        try:
            await updates.start(
                await _subscriber(live, keys, "eastside-portal"), PANTRY, None, None, pantry.append
            )
        except Refused as refused:
            assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"
            return
        await _until(lambda: None in pantry, 3)
        assert pantry[0] is not None
        assert pantry[0]["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_members_catching_up_hold_no_start_slot(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """``STARTS_AT_ONCE`` members catch up on a cohort whose evaluations for them are slow (a
    long `after:` replay, a busy database): another subscription still starts at once."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        first: list[dict[str, Any] | None] = []
        admin = await _subscriber(live, keys, "prairie-admin")
        await updates.start(admin, RECORDS, None, None, first.append)
        await asyncio.sleep(0.3)
        anchor = updates.anchor()
        await _touch_record(live.api, seeded_db, "taken before they join")
        await _until(lambda: len(first) == 1)

        gate = asyncio.Event()
        evaluate = updates._evaluate

        async def slow(cohort: Any, event: Any, **options: Any) -> Any:
            if cohort.subscriber.purpose == "slow":
                await gate.wait()
            return await evaluate(cohort, event, **options)

        updates._evaluate = slow  # type: ignore[method-assign]
        slowly = await _subscriber(live, keys, "prairie-admin", purpose="slow")
        caught_up: list[list[dict[str, Any] | None]] = []
        joining = []
        for _ in range(live_module.STARTS_AT_ONCE):
            bodies: list[dict[str, Any] | None] = []
            caught_up.append(bodies)
            joining.append(
                asyncio.create_task(
                    updates.start(slowly, RECORDS, None, None, bodies.append, anchor)
                )
            )
        await asyncio.sleep(0.5)
        try:
            eastside = await _subscriber(live, keys, "eastside-portal")
            await asyncio.wait_for(updates.start(eastside, PANTRY, None, None, [].append), 5)
        finally:
            gate.set()
            await asyncio.gather(*joining)
        await _touch_record(live.api, seeded_db, "after they joined")
        for bodies in caught_up:
            assert await _received(bodies, 2) == ["taken before they join", "after they joined"]


async def test_a_member_caught_up_on_a_cohort_that_ended_gets_no_event_twice(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """A member catches up on a cohort whose last member leaves meanwhile; a subscribe anchored
    earlier begins a new cohort of the same document, which has not yet taken the event the
    member caught up on: the member gets each event once."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        admin = await _subscriber(live, keys, "prairie-admin")
        first: list[dict[str, Any] | None] = []
        member = await updates.start(admin, RECORDS, None, None, first.append)
        await asyncio.sleep(0.3)
        anchor = updates.anchor()
        await _touch_record(live.api, seeded_db, "caught up on")
        await _until(lambda: len(first) == 1)

        gate, entered = asyncio.Event(), asyncio.Event()
        evaluate = updates._evaluate

        async def slow(cohort: Any, event: Any, **options: Any) -> Any:
            if cohort.subscriber.purpose == "slow":
                entered.set()
                await gate.wait()
            return await evaluate(cohort, event, **options)

        updates._evaluate = slow  # type: ignore[method-assign]
        mine: list[dict[str, Any] | None] = []
        slowly = await _subscriber(live, keys, "prairie-admin", purpose="slow")
        joining = asyncio.create_task(
            updates.start(slowly, RECORDS, None, None, mine.append, anchor)
        )
        await asyncio.wait_for(entered.wait(), 5)
        updates.leave(member)

        between = updates.relay.between
        held = asyncio.Event()

        async def late(after: Any, until: Any) -> Any:  # the new cohort's read of the table
            await held.wait()
            async for event in between(after, until):
                yield event

        updates.relay.between = late  # type: ignore[method-assign]
        other: list[dict[str, Any] | None] = []
        starting = asyncio.create_task(
            updates.start(admin, RECORDS, None, None, other.append, anchor)
        )
        await asyncio.sleep(0.2)
        gate.set()
        await asyncio.wait_for(joining, 5)
        held.set()
        await asyncio.wait_for(starting, 5)
        assert await _received(other, 1) == ["caught up on"]
        await _touch_record(live.api, seeded_db, "next")
        assert await _received(mine, 2) == ["caught up on", "next"]
        assert _narratives(other) == ["caught up on", "next"]


RESUMED = """
subscription($after: String) {
  contactRecordChanged(after: $after) { event { position } contactRecord { id narrative } }
}
"""


async def test_a_member_resuming_where_a_cohort_resumed_gets_what_it_sent_before_then_the_rest(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """Two subscriptions with the same `after:`: the second comes once the first's cohort has
    sent the events after that position; it gets them too, then each later one once, in
    order."""
    from sharegraph.datastore.models import Event

    def positions(bodies: list[dict[str, Any] | None]) -> list[int]:
        return [int(b["data"]["contactRecordChanged"]["event"]["position"]) for b in bodies if b]

    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        async with seeded_db.read_session() as session:
            head = await session.scalar(select(Event.position).order_by(Event.position.desc()))
        await _touch_record(live.api, seeded_db, "one")
        await _touch_record(live.api, seeded_db, "two")
        admin = await _subscriber(live, keys, "prairie-admin")
        variables = {"after": str(head)}
        first: list[dict[str, Any] | None] = []
        second: list[dict[str, Any] | None] = []
        await updates.start(admin, RESUMED, variables, None, first.append)
        await _received(first, 2)
        sent = positions(first)
        assert len(sent) == 2 and sent == sorted(sent) and sent[0] > head
        await updates.start(admin, RESUMED, variables, None, second.append)
        assert updates.cohorts == 1
        await _received(second, 2)
        assert positions(second) == sent
        await _touch_record(live.api, seeded_db, "three")
        await _received(second, 3)
        assert positions(second) == positions(first)
        assert len(positions(first)) == 3 and positions(first)[2] > sent[1]


async def test_a_member_cancelled_mid_catch_up_leaves_nothing_behind(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """Its subscribe is cancelled (the client completed it, or closed) while it catches up:
    it never joins, nor waits to, and the cohort goes on for its member."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        first: list[dict[str, Any] | None] = []
        admin = await _subscriber(live, keys, "prairie-admin")
        await updates.start(admin, RECORDS, None, None, first.append)
        await asyncio.sleep(0.3)
        anchor = updates.anchor()
        await _touch_record(live.api, seeded_db, "taken before")
        await _until(lambda: len(first) == 1)

        entered = asyncio.Event()
        evaluate = updates._evaluate

        async def hung(cohort: Any, event: Any, **options: Any) -> Any:
            if cohort.subscriber.purpose == "slow":
                entered.set()
                await asyncio.Event().wait()
            return await evaluate(cohort, event, **options)

        updates._evaluate = hung  # type: ignore[method-assign]
        gone: list[dict[str, Any] | None] = []
        slowly = await _subscriber(live, keys, "prairie-admin", purpose="slow")
        joining = asyncio.create_task(
            updates.start(slowly, RECORDS, None, None, gone.append, anchor)
        )
        await asyncio.wait_for(entered.wait(), 5)
        joining.cancel()
        await asyncio.gather(joining, return_exceptions=True)
        assert joining.cancelled()
        assert updates.cohorts == 1
        (cohort,) = updates._cohorts.values()
        assert len(cohort.members) == 1
        assert cohort.chasers == []
        await _touch_record(live.api, seeded_db, "after")
        assert await _received(first, 2) == ["taken before", "after"]
        assert gone == []


async def test_a_flood_of_members_joining_a_busy_cohort_catches_up_together(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """100 members anchored before three events their cohort has taken: one cohort, each gets
    every event once, in commit order; those catching up at the same time share evaluations
    (one each, one after the other, was quadratic in a flood: each waited longer)."""
    async with served(seeded_db, keys) as live:
        updates: LiveUpdates = live.app.state.live
        first: list[dict[str, Any] | None] = []
        await updates.start(
            await _subscriber(live, keys, "prairie-admin"), RECORDS, None, None, first.append
        )
        await asyncio.sleep(0.3)
        anchor = updates.anchor()
        for number in range(3):
            await _touch_record(live.api, seeded_db, f"before {number}")
        await _until(lambda: len(first) == 3)

        evaluate = updates._evaluate
        catch_ups = [0]

        async def counted(cohort: Any, event: Any, **options: Any) -> Any:
            if cohort.subscriber.purpose == "flood":
                catch_ups[0] += 1
            return await evaluate(cohort, event, **options)

        updates._evaluate = counted  # type: ignore[method-assign]
        flood = await _subscriber(live, keys, "prairie-admin", purpose="flood")
        members: list[list[dict[str, Any] | None]] = [[] for _ in range(100)]
        await asyncio.gather(
            *(updates.start(flood, RECORDS, None, None, b.append, anchor) for b in members)
        )
        assert updates.cohorts == 1
        assert catch_ups[0] < 3 * len(members)
        await _touch_record(live.api, seeded_db, "after")
        await _until(lambda: len(first) == 4 and all(len(b) == 4 for b in members))
        await asyncio.sleep(0.3)
        for bodies in members:
            assert [_position(b) for b in bodies] == [_position(b) for b in first]
