"""Webhooks: signed deliveries from the outbox to real loopback receivers, on both backends."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import (
    AuditEvent,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from sharegraph.datastore.secrets import SecretBox
from sharegraph.demo import demo_id
from sharegraph.errors import BadUserInput
from sharegraph.graph.webhook_payloads import WebhookRenderer
from sharegraph.settings import ExchangeSettings, Settings, WebhookSettings
from sharegraph.web.app import create_app
from sharegraph.webhooks import webhook_kinds
from sharegraph.webhooks.endpoints import EndpointValues, create
from sharegraph.webhooks.ssrf import check_url
from sharegraph.worker import Scheduler

from .conftest import Api
from .test_subscriptions import EASTSIDE, HARBOR, _refer, _touch_record
from .webhook_receiver import Answer, receiver

PRAIRIE = demo_id("tenant", "prairie")
KEY = Fernet.generate_key().decode()


@dataclass
class Harness:
    api: Api
    db: Database
    settings: Settings
    scheduler: Scheduler

    async def endpoint(
        self,
        principal: str,
        url: str,
        event_types: list[str],
        *,
        mode: str = "full",
        filters: dict[str, Any] | None = None,
        tenant: uuid.UUID = PRAIRIE,
    ) -> tuple[uuid.UUID, str]:
        async with self.db.write_session() as session:
            row, secret = await create(
                session,
                tenant_id=tenant,
                partner_organization_id=None,
                values=EndpointValues(
                    url, event_types, filters or {}, mode, demo_id("principal", principal)
                ),
                box=SecretBox(KEY),
                created_by=None,
            )
        return row.id, secret

    async def run(self, after: timedelta = timedelta(0)) -> None:
        report = await self.scheduler.run_once(utcnow() + after)
        for kind in report.kinds:
            assert kind.error is None, kind

    async def messages(self, endpoint: uuid.UUID) -> list[WebhookMessage]:
        async with self.db.read_session() as session:
            rows = await session.scalars(
                select(WebhookMessage)
                .where(WebhookMessage.endpoint_id == endpoint)
                .order_by(WebhookMessage.created_at)
            )
            return list(rows.all())

    async def endpoint_row(self, endpoint: uuid.UUID) -> WebhookEndpoint:
        async with self.db.read_session() as session:
            row = await session.get(WebhookEndpoint, endpoint)
            assert row is not None
            return row


@asynccontextmanager
async def harness(db: Database, keys: dict[str, str], **webhooks: Any) -> AsyncIterator[Harness]:
    settings = Settings(
        database_url=db.url,
        exchange=replace(ExchangeSettings(), secret_key=KEY),
        webhooks=WebhookSettings(
            allow_private_addresses=webhooks.pop("allow_private_addresses", True),
            connect_timeout_seconds=1,
            read_timeout_seconds=1,
            **webhooks,
        ),
    )
    app = create_app(settings, database=db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sg.test") as http:
            scheduler = Scheduler(db, webhook_kinds(settings, WebhookRenderer(app.state.live)))
            try:
                yield Harness(Api(http=http, keys=keys, database=db), db, settings, scheduler)
            finally:
                await scheduler.close()


def _verified(secret: str, delivery: Any) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(delivery.body, delivery.headers)
    return payload


async def test_a_change_is_delivered_signed_rendered_and_audited_once(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with receiver() as hook, harness(seeded_db, keys) as h:
        endpoint, secret = await h.endpoint("prairie-admin", hook.url, ["contact_record.updated"])
        global_id = await _touch_record(h.api, seeded_db, "pushed out")
        await h.run()
        assert len(hook.received) == 1
        payload = _verified(secret, hook.received[0])
        assert payload["type"] == "contact_record.updated"
        data = payload["data"]
        assert data["id"] == global_id
        assert data["record"]["narrative"] == "pushed out"
        assert data["version"] == data["record"]["version"] >= 2
        (message,) = await h.messages(endpoint)
        assert message.status == "delivered"
        assert hook.received[0].headers["webhook-id"] == f"msg_{message.id.hex}"
        await h.run()  # nothing new, nothing sent again
        assert len(hook.received) == 1
        async with seeded_db.read_session() as session:
            audited = await session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.purpose == f"webhook endpoint {endpoint}")
            )
        assert audited == 1


async def test_retries_keep_the_webhook_id_and_honour_retry_after(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with receiver() as hook, harness(seeded_db, keys) as h:
        hook.script = [Answer(500), Answer(429, {"Retry-After": "120"}), Answer(200)]
        endpoint, secret = await h.endpoint("prairie-admin", hook.url, ["contact_record.*"])
        await _touch_record(h.api, seeded_db, "retry me")
        await h.run()
        (message,) = await h.messages(endpoint)
        assert message.status == "pending" and message.attempts == 1
        assert message.next_attempt_at is not None
        await h.run()  # the 5 s backoff has not elapsed
        assert len(hook.received) == 1
        await h.run(timedelta(seconds=6))  # 429, Retry-After: 120
        (message,) = await h.messages(endpoint)
        assert message.attempts == 2 and message.last_status_code == 429
        await h.run(timedelta(seconds=60))
        assert len(hook.received) == 2
        await h.run(timedelta(seconds=130))
        assert len(hook.received) == 3
        (message,) = await h.messages(endpoint)
        assert message.status == "delivered" and message.attempts == 3
        ids = {r.headers["webhook-id"] for r in hook.received}
        assert ids == {f"msg_{message.id.hex}"}
        for delivery in hook.received:
            _verified(secret, delivery)
        assert len({r.body for r in hook.received}) == 1  # the same bytes every time
        async with seeded_db.read_session() as session:
            codes = (
                await session.scalars(
                    select(WebhookAttempt.status_code)
                    .where(WebhookAttempt.message_id == message.id)
                    .order_by(WebhookAttempt.attempted_at)
                )
            ).all()
        assert list(codes) == [500, 429, 200]


async def test_410_disables_the_endpoint(seeded_db: Database, keys: dict[str, str]) -> None:
    async with receiver() as hook, harness(seeded_db, keys) as h:
        hook.default = Answer(410)
        endpoint, _ = await h.endpoint("prairie-admin", hook.url, ["contact_record.*"])
        await _touch_record(h.api, seeded_db, "gone")
        await h.run()
        row = await h.endpoint_row(endpoint)
        assert not row.enabled and "410" in (row.disabled_reason or "")
        await _touch_record(h.api, seeded_db, "gone again")
        await h.run(timedelta(hours=1))
        assert len(hook.received) == 1


async def test_a_hanging_or_dead_receiver_fails_fast_and_opens_the_circuit(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with (
        receiver() as hang,
        harness(seeded_db, keys, circuit_failures=2, circuit_open_seconds=3600) as h,
    ):
        hang.default = Answer(200, delay=3)  # past the 1 s read timeout
        slow, _ = await h.endpoint("prairie-admin", hang.url, ["contact_record.*"])
        async with receiver() as gone:
            dead_url = gone.url
        dead, _ = await h.endpoint("prairie-admin", dead_url, ["contact_record.*"])
        await _touch_record(h.api, seeded_db, "anyone there?")
        await h.run()
        (late,) = await h.messages(slow)
        assert late.status == "pending" and "Timeout" in (late.last_error or "")
        (refused,) = await h.messages(dead)
        assert refused.status == "pending" and "Connect" in (refused.last_error or "")
        await h.run(timedelta(seconds=6))  # second failure: the circuit opens
        row = await h.endpoint_row(dead)
        assert row.consecutive_failures == 2 and row.circuit_open_until is not None
        await h.run(timedelta(minutes=10))  # past the schedule's 5 min, but the circuit is open
        (refused,) = await h.messages(dead)
        assert refused.attempts == 2


async def test_the_pantry_never_receives_records_out_of_scope_or_denied_fields(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with receiver() as hook, harness(seeded_db, keys) as h:
        endpoint, secret = await h.endpoint(
            "eastside-portal", hook.url, ["referral.*", "contact_record.*"]
        )
        await _refer(h.api, seeded_db, HARBOR)  # not the pantry's
        ours = await _refer(h.api, seeded_db, EASTSIDE)
        await _touch_record(h.api, seeded_db, "the pantry may not read this")
        await h.run()
        payloads = [_verified(secret, r) for r in hook.received]
        referrals = [p for p in payloads if p["type"].startswith("referral.")]
        assert [p["data"]["id"] for p in referrals] == [ours]
        text = json.dumps(payloads)
        assert "the pantry may not read this" not in text
        for payload in payloads:
            record = payload["data"]["record"]
            assert "narrative" not in record and "riskLevel" not in record
            assert "answers" not in record
        records = [p for p in payloads if p["type"].startswith("contact_record.")]
        assert records and all("ContactRecord.narrative" in p["data"]["deniedFields"]
                               for p in records)  # fmt: skip
        assert {m.record_type for m in await h.messages(endpoint)} <= {"Referral", "ContactRecord"}


async def test_loopback_is_refused_unless_allowed(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    for url, reason in (
        ("ftp://example.org/x", "BAD_URL"),
        ("http://127.0.0.1:8080/x", "PRIVATE_ADDRESS"),
        ("http://169.254.169.254/latest", "PRIVATE_ADDRESS"),
        ("http://10.1.2.3/x", "PRIVATE_ADDRESS"),
        ("http://[::1]/x", "PRIVATE_ADDRESS"),
        ("http://user:pw@example.org/x", "BAD_URL"),
    ):
        with pytest.raises(BadUserInput) as raised:
            await check_url(url, allow_private=False)
        assert raised.value.reason == reason, url
    assert await check_url("http://127.0.0.1/x", allow_private=True) == "http://127.0.0.1/x"
    # At delivery: an endpoint stored with a loopback URL is not sent to.
    async with receiver() as hook, harness(seeded_db, keys, allow_private_addresses=False) as h:
        endpoint, _ = await h.endpoint("prairie-admin", hook.url, ["contact_record.*"])
        await _touch_record(h.api, seeded_db, "not to loopback")
        await h.run()
        assert hook.received == []
        (message,) = await h.messages(endpoint)
        assert "BlockedAddress" in (message.last_error or "")


async def test_a_worker_dying_after_sending_and_two_racing_workers_lose_nothing(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    import asyncio

    from sharegraph.datastore.work import Job, Retries
    from sharegraph.webhooks.delivery import Sender

    async with receiver() as hook, harness(seeded_db, keys) as h:
        endpoint, secret = await h.endpoint("prairie-admin", hook.url, ["contact_record.*"])
        await _touch_record(h.api, seeded_db, "first")
        fanout = h.scheduler.kinds[0]
        now = utcnow()
        await fanout.run(Job(fanout.name, seeded_db, now, Retries()))
        # A worker claims and sends, then dies before recording the outcome.
        dying = Sender(h.settings.webhooks, SecretBox(KEY))
        job = Job("webhook-delivery", seeded_db, now, Retries())
        (claimed,) = await dying._claim(job)
        await dying.send(claimed)
        await dying.close()
        await h.run()  # leased: not sent again yet
        assert len(hook.received) == 1
        await h.run(timedelta(minutes=2))  # the lease has expired: sent again, same id
        assert len(hook.received) == 2
        assert hook.received[0].headers["webhook-id"] == hook.received[1].headers["webhook-id"]
        # Two workers racing over many messages: each delivered, none lost.
        for i in range(6):
            await _touch_record(h.api, seeded_db, f"race {i}")
        second = Scheduler(seeded_db, list(h.scheduler.kinds))
        later = utcnow() + timedelta(minutes=3)
        await asyncio.gather(h.scheduler.run_once(later), second.run_once(later))
        await h.run(timedelta(minutes=4))
        messages = await h.messages(endpoint)
        assert len(messages) == 7 and all(m.status == "delivered" for m in messages)
        ids = [r.headers["webhook-id"] for r in hook.received]
        assert set(ids) == {f"msg_{m.id.hex}" for m in messages}
        for delivery in hook.received:
            Webhook(secret).verify(delivery.body, delivery.headers)


def test_every_payload_document_is_valid_against_the_schema() -> None:
    from types import SimpleNamespace

    from graphql import parse, validate

    from sharegraph.graph.relay import to_global_id
    from sharegraph.graph.schema import build_schema
    from sharegraph.graph.webhook_payloads import QUEUE

    schema = build_schema(Settings())
    renderer = WebhookRenderer(SimpleNamespace(schema=schema))  # type: ignore[arg-type]
    assert set(renderer.documents) == {
        "ContactRecord", "Referral", "FollowUp", "QueueEntry", "ServiceCapacity", "directory",
    }  # fmt: skip
    for document in renderer.documents.values():
        document = document.replace(QUEUE, to_global_id("ReferralQueue", uuid.uuid4()))
        assert validate(schema._schema, parse(document)) == [], document


async def test_a_capacity_change_is_delivered_with_its_figures(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    from sharegraph.datastore.models import ServiceCapacity
    from sharegraph.graph.relay import to_global_id

    shelter = demo_id("service-capacity", "harbor-shelter")
    async with receiver() as hook, harness(seeded_db, keys) as h:
        _, secret = await h.endpoint("prairie-admin", hook.url, ["capacity.*", "directory.*"])
        async with seeded_db.read_session() as session:
            row = await session.get(ServiceCapacity, shelter)
            assert row is not None
            version = row.version
        await h.api.data(
            "harbor-portal",
            "mutation($input: UpdateCapacityInput!) { updateCapacity(input: $input) { "
            "capacity { id } } }",
            {
                "input": {
                    "id": to_global_id("ServiceCapacity", shelter),
                    "version": version,
                    "available": 7,
                }
            },
        )
        await h.run()
        payloads = [_verified(secret, r) for r in hook.received]
        (capacity,) = [p for p in payloads if p["type"] == "capacity.updated"]
        assert capacity["data"]["record"]["available"] == 7
        assert capacity["data"]["version"] == version + 1


async def test_a_committed_change_wakes_fan_out_and_delivery_long_before_the_poll(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """The poll is an hour: only the wake-up can deliver. On PostgreSQL the scheduler runs on
    a Database of its own, so nothing in this process tells it: the relay's NOTIFY must."""
    import asyncio
    import time

    async with receiver() as hook, harness(seeded_db, keys) as h:
        _, secret = await h.endpoint("prairie-admin", hook.url, ["contact_record.*"])
        db = Database(seeded_db.url) if seeded_db.dialect == "postgresql" else seeded_db
        scheduler = Scheduler(db, list(h.scheduler.kinds), poll_seconds=3600)
        await scheduler.start()
        try:
            await asyncio.sleep(0.5)  # the first (full) pass, and the LISTEN in place
            assert hook.received == []
            started = time.perf_counter()
            global_id = await _touch_record(h.api, seeded_db, "wake up")
            await asyncio.wait_for(hook.arrived.wait(), 10)
            took = time.perf_counter() - started
        finally:
            await scheduler.stop()
            if db is not seeded_db:
                await db.dispose()
        (delivery,) = hook.received
        assert _verified(secret, delivery)["data"]["id"] == global_id
        assert took < 5, took  # well before any poll (an hour); ~50 ms on an idle machine


async def test_two_workers_claiming_batches_at_once_lose_nothing_and_keep_the_cap(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """Many messages for two endpoints, two senders of their own (as two processes would be)
    claiming batches at once: every message delivered exactly once (no answer failed, so no
    retry), each endpoint never above its cap of requests in flight."""
    import asyncio

    from sqlalchemy import insert

    from sharegraph.datastore.work import Job, Retries
    from sharegraph.webhooks.delivery import Sender

    cap = 3
    async with (
        receiver() as first,
        receiver() as second,
        harness(seeded_db, keys, concurrency_per_endpoint=cap) as h,
    ):
        first.default = second.default = Answer(200, delay=0.02)
        endpoints = []
        for hook in (first, second):
            endpoint, secret = await h.endpoint("prairie-admin", hook.url, ["contact_record.*"])
            endpoints.append((endpoint, secret, hook))
        now = utcnow()
        async with seeded_db.write_session() as session:
            await session.execute(
                insert(WebhookMessage),
                [
                    {
                        "id": uuid.uuid4(),
                        "tenant_id": PRAIRIE,
                        "endpoint_id": endpoint,
                        "event_id": uuid.uuid4(),
                        "event_type": "contact_record.updated",
                        "payload": json.dumps({"type": "contact_record.updated", "n": n}),
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for endpoint, _, _ in endpoints
                    for n in range(60)
                ],
            )
        other = Database(seeded_db.url)
        senders = [
            (Sender(h.settings.webhooks, SecretBox(KEY)), seeded_db),
            (Sender(h.settings.webhooks, SecretBox(KEY)), other),
        ]
        done = [0, 0]

        async def work(number: int) -> None:  # as the scheduler would: again while asked
            sender, db = senders[number]
            while True:
                job = Job("webhook-delivery", db, utcnow(), Retries(), batch_size=20)
                await sender.run(job)
                done[number] += job.done
                if not job.again:
                    return

        try:
            # A pass ends when its claim comes back empty, which happens while the other
            # sender holds an endpoint's every slot; the scheduler's next poll (or commit)
            # runs another. So: passes on both until everything is delivered, bounded.
            for _ in range(20):
                await asyncio.gather(work(0), work(1))
                if sum(done) >= 120:
                    break
            assert sum(done) == 120
        finally:
            for sender, _ in senders:
                await sender.close()
            await other.dispose()
        for endpoint, secret, hook in endpoints:
            messages = await h.messages(endpoint)
            assert len(messages) == 60
            assert all(m.status == "delivered" and m.attempts == 1 for m in messages)
            ids = [r.headers["webhook-id"] for r in hook.received]
            assert sorted(ids) == sorted(f"msg_{m.id.hex}" for m in messages)  # once each
            assert hook.most_in_flight <= cap
            for delivery in hook.received:
                _verified(secret, delivery)
        async with seeded_db.read_session() as session:
            attempts = await session.scalar(select(func.count()).select_from(WebhookAttempt))
        assert attempts == 120


async def test_endpoints_of_one_principal_share_a_rendering_and_each_is_audited(
    seeded_db: Database, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three endpoints, two of one principal: the change is rendered twice (once per plan),
    every endpoint gets its message, and each has its own disclosure row."""
    from sharegraph.graph.live import LiveUpdates

    evaluations: list[int] = []
    evaluate = LiveUpdates.evaluate

    async def counted(self: LiveUpdates, *args: Any, **kwargs: Any) -> Any:
        evaluations.append(len(kwargs.get("readers", ())))
        return await evaluate(self, *args, **kwargs)

    monkeypatch.setattr(LiveUpdates, "evaluate", counted)
    async with (
        receiver() as one,
        receiver() as two,
        receiver() as three,
        harness(seeded_db, keys) as h,
    ):
        ours = [
            await h.endpoint("prairie-admin", one.url, ["contact_record.*"]),
            await h.endpoint("prairie-admin", two.url, ["contact_record.updated"]),
        ]
        other = await h.endpoint("prairie-call-taker", three.url, ["contact_record.*"])
        global_id = await _touch_record(h.api, seeded_db, "once for both")
        await h.run()
        records = []
        for (endpoint, secret), hook in [(ours[0], one), (ours[1], two), (other, three)]:
            (delivery,) = hook.received
            payload = _verified(secret, delivery)
            assert payload["data"]["id"] == global_id
            records.append(payload["data"]["record"])
            async with seeded_db.read_session() as session:
                audited = await session.scalar(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.purpose == f"webhook endpoint {endpoint}")
                )
            assert audited == 1
        assert records[0] == records[1] and records[0]["narrative"] == "once for both"
    assert sorted(evaluations) == [1, 2]


async def test_a_slow_receiver_never_outlives_the_lease_of_its_batch(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """Timeouts of 1 s (a round of 2 s, a lease of 3 rounds + 30 s): a receiver taking 0.45 s
    a request, one lane, 12 messages claimed together: no request starts in the lease's last
    round; what was not sent by then goes back unsent (no attempt, no lease) for the next
    claim, and nothing is sent twice."""
    from sqlalchemy import insert

    from sharegraph.datastore.work import Job, Retries
    from sharegraph.webhooks.delivery import Sender

    async with receiver() as hook, harness(seeded_db, keys, concurrency_per_endpoint=1) as h:
        hook.default = Answer(200, delay=0.45)
        endpoint, _ = await h.endpoint("prairie-admin", hook.url, ["contact_record.*"])
        now = utcnow()
        async with seeded_db.write_session() as session:
            await session.execute(
                insert(WebhookMessage),
                [
                    {
                        "id": uuid.uuid4(),
                        "tenant_id": PRAIRIE,
                        "endpoint_id": endpoint,
                        "event_id": uuid.uuid4(),
                        "event_type": "contact_record.updated",
                        "payload": "{}",
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for _ in range(12)
                ],
            )
        sender = Sender(h.settings.webhooks, SecretBox(KEY))
        try:
            job = Job("webhook-delivery", seeded_db, now, Retries())
            await sender.run(job)
        finally:
            await sender.close()
        messages = await h.messages(endpoint)
        delivered = [m for m in messages if m.status == "delivered"]
        back = [m for m in messages if m.status == "pending"]
        assert 4 <= len(delivered) <= 10 and len(delivered) + len(back) == 12
        assert all(m.attempts == 0 and m.lease_until is None for m in back)
        assert len(hook.received) == len(delivered)
        assert job.again  # the pass ran out of time with work left: the scheduler comes back


# -- the sender against hostile receivers (no database) ------------------------------------------


def _claimed(url: str) -> Any:
    from sharegraph.webhooks.delivery import Claimed

    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    return Claimed(uuid.uuid4(), PRIVATE_TENANT, uuid.uuid4(), url, "{}", 0, [secret])


PRIVATE_TENANT = uuid.uuid4()


@asynccontextmanager
async def _hostile(answer: Any) -> AsyncIterator[str]:
    import asyncio

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await answer(writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    finally:
        server.close()


async def _send(url: str, **settings: Any) -> tuple[Any, float]:
    import time

    from sharegraph.webhooks.delivery import Sender

    sender = Sender(
        WebhookSettings(
            allow_private_addresses=settings.pop("allow_private_addresses", True),
            connect_timeout_seconds=0.5,
            read_timeout_seconds=1,
        ),
        SecretBox(KEY),
    )
    started = time.monotonic()
    try:
        outcome = await sender.send(_claimed(url))
    finally:
        await sender.close()
    return outcome, time.monotonic() - started


async def test_a_receiver_trickling_its_answer_is_cut_off_at_one_round() -> None:
    """httpcore's timeouts are per read: a byte every 0.4 s never trips the 1 s read timeout.
    The whole request has one deadline (connect + read timeout), so the lane is freed and the
    lease is never outlived; a status already received stands, with the body kept so far."""
    import asyncio

    async def trickle_headers(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(40):
            writer.write(b"x-slow: y\r\n")
            await writer.drain()
            await asyncio.sleep(0.4)

    async def trickle_body(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(40):
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.4)

    async with _hostile(trickle_headers) as url:
        outcome, took = await _send(url)
    assert took < 3 and outcome.status_code is None
    assert outcome.error.startswith("TimeoutError: no answer within 1.5 s")
    async with _hostile(trickle_body) as url:
        outcome, took = await _send(url)
    assert took < 3 and outcome.status_code == 200 and outcome.body.startswith("xx")


def test_a_claimed_message_never_shows_its_signing_secret() -> None:
    claimed = _claimed("https://hooks.partner.example/hook")
    assert claimed.secrets[0] not in repr(claimed) and claimed.secrets[0] not in str(claimed)


async def test_a_receiver_streaming_without_end_costs_one_read() -> None:
    import asyncio

    async def flood(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 500 Oops\r\ntransfer-encoding: chunked\r\n\r\n")
        chunk = b"z" * 65536
        while True:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()

    async with _hostile(flood) as url:
        outcome, took = await _send(url)
    assert took < 2 and outcome.status_code == 500 and outcome.body == "z" * 1000


@pytest.mark.parametrize(
    "later",
    [
        "127.0.0.1",
        "169.254.169.254",
        "::ffff:127.0.0.1",
        "10.0.0.7",
        "fd00::1",
        "::1",
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    ],
)
async def test_a_name_rebound_to_a_private_address_is_refused_at_delivery(
    monkeypatch: pytest.MonkeyPatch, later: str
) -> None:
    """Public when registered, private when sent: every connection resolves and checks again,
    and connects to the address it checked."""
    from sharegraph.webhooks import ssrf

    answers = {"at": ["93.184.216.34"]}

    async def resolve(host: str, port: int) -> list[str]:
        return answers["at"]

    monkeypatch.setattr(ssrf, "resolve", resolve)
    url = "http://hooks.partner.example/hook"
    assert await check_url(url, allow_private=False) == url
    answers["at"] = ["93.184.216.34", later]  # one bad answer among good ones is enough
    outcome, _ = await _send(url, allow_private_addresses=False)
    assert outcome.status_code is None and outcome.error.startswith("BlockedAddress")


async def test_a_receiver_answering_in_binary_does_not_stop_its_batch_being_recorded(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """A NUL in the answer's body (PostgreSQL text cannot hold one) failed the transaction that
    records the whole batch: every endpoint's messages stayed leased and went again."""
    import asyncio

    async def binary(writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nok\x00\x01\xff!"
        )
        await writer.drain()

    async with (
        _hostile(binary) as url,
        receiver() as hook,
        harness(seeded_db, keys) as h,
    ):
        odd, _ = await h.endpoint("prairie-admin", url, ["contact_record.*"])
        fine, _ = await h.endpoint("prairie-admin", hook.url, ["contact_record.*"])
        await _touch_record(h.api, seeded_db, "binary answers")
        await h.run()
        assert [m.status for m in await h.messages(odd)] == ["delivered"]
        assert [m.status for m in await h.messages(fine)] == ["delivered"]
        async with seeded_db.read_session() as session:
            body = await session.scalar(
                select(WebhookAttempt.response_body).where(WebhookAttempt.endpoint_id == odd)
            )
        assert body is not None and body.startswith("ok") and "\x00" not in body
        await h.run(timedelta(minutes=5))
        assert len(hook.received) == 1


async def test_an_endpoint_whose_secret_cannot_be_opened_does_not_starve_the_others(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    """Its due messages come first and fill a whole claim (256): it backs off and the claim
    goes on without it, so the other endpoints are still served."""
    from sqlalchemy import insert, update

    async with receiver() as hook, harness(seeded_db, keys) as h:
        broken, _ = await h.endpoint("prairie-admin", hook.url, ["contact_record.*"])
        fine, _ = await h.endpoint("prairie-admin", hook.url, ["contact_record.*"])
        now = utcnow()
        async with seeded_db.write_session() as session:
            await session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == broken)
                .values(secret_encrypted="not-a-fernet-token")
            )
            await session.execute(
                insert(WebhookMessage),
                [
                    {
                        "id": uuid.uuid4(),
                        "tenant_id": PRAIRIE,
                        "endpoint_id": endpoint,
                        "event_id": uuid.uuid4(),
                        "event_type": "contact_record.updated",
                        "payload": "{}",
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now - timedelta(seconds=1 if endpoint == fine else 60),
                        "created_at": now,
                    }
                    for endpoint in [broken] * 300 + [fine]
                ],
            )
        report = await h.scheduler.run_once(utcnow())
        failures = report.kind("webhook-delivery").failures
        assert [f.item for f in failures] == [f"endpoint:{broken}"]
        assert [m.status for m in await h.messages(fine)] == ["delivered"]
        assert len(hook.received) == 1
        assert {m.status for m in await h.messages(broken)} == {"pending"}
