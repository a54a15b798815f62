"""Sending messages: claim, POST signed per Standard Webhooks, record, retry or dead-letter.

Work with an external side effect (``datastore/work.py``): due messages are claimed and leased
in one short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), sent outside it, and the
outcome is recorded in another. A process killed between sending and recording leaves the
lease to expire: the message is sent again with the same ``webhook-id`` (at least once;
receivers dedupe on it).

A pass works in batches until nothing is due (or :data:`PASS_SECONDS` is up: then
``job.again`` asks for another pass at once): the outcomes of one batch are recorded in the
transaction that claims the next (attempt rows inserted together, messages updated together,
each endpoint once), so a batch costs one write transaction, not one per message.

Per endpoint: at most ``concurrency_per_endpoint`` messages in flight. A claim leases up to
:data:`ROUNDS` times the endpoint's free slots (the cap less what other claims hold leased), and
this process sends them through that many lanes over one keep-alive connection pool of the
endpoint's own; overall at most ``concurrency_total`` requests are in flight. A lease lasts
:data:`LEASE_ROUNDS` request timeouts and a margin; no request starts in its last round (the
rest of the batch goes back unsent), so a slow receiver never outlives its lease. After
``circuit_failures`` consecutive failed attempts its circuit opens for ``circuit_open_seconds``
(no claims; the rest of its batch goes back unsent), so one dead partner costs the others
nothing. ``410 Gone`` disables the endpoint (the rest of its batch goes back unsent).
``Retry-After`` on 429 and 503 sets the next attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpcore
from sqlalchemy import bindparam, case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.base import utcnow
from sharegraph.datastore.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from sharegraph.datastore.secrets import SecretBox
from sharegraph.datastore.work import Job, claim
from sharegraph.settings import WebhookSettings
from sharegraph.webhooks.signing import headers
from sharegraph.webhooks.ssrf import GuardedBackend

# Waits after the 1st, 2nd, ... failed attempt; after the last, the message is dead.
SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_RETRY_AFTER = timedelta(hours=24)
BODY_KEPT = 1_000
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
CLAIM_BATCH = 256  # messages claimed (locked) per transaction, across endpoints
ROUNDS = 16  # an endpoint's share of a claim: its free slots x ROUNDS messages
# A lease lasts LEASE_ROUNDS x (connect + read timeout) + LEASE_MARGIN_SECONDS (90 s at the
# default timeouts): how long a killed worker's messages wait before they go again. No request
# of a batch starts in its lease's last round, so a slow receiver cannot outlive it.
LEASE_ROUNDS = 3
LEASE_MARGIN_SECONDS = 30
PASS_SECONDS = 2.0  # a pass claims batches for this long at most, then yields to other kinds
MAX_CLIENTS = 256  # endpoints with an open connection pool in this process
KEEPALIVE_SECONDS = 30.0  # an idle connection to a receiver is closed after this


def webhook_id(message_id: uuid.UUID) -> str:
    return f"msg_{message_id.hex}"


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    tenant_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    payload: str
    attempts: int
    secrets: list[str] = field(repr=False)  # signing secrets: never in a log or a report


@dataclass(frozen=True)
class Batch:
    """A claim: the messages leased, each endpoint's lanes (free slots) and its failures in a
    row when claimed."""

    claimed: list[Claimed]
    slots: dict[uuid.UUID, int]
    failures: dict[uuid.UUID, int]
    claimed_at: float = 0.0  # time.monotonic() of the claim: the lease runs from it


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    latency_ms: int
    body: str | None
    retry_after: timedelta | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def endpoint_secrets(box: SecretBox, row: WebhookEndpoint, now: datetime) -> list[str]:
    current: list[str] = [box.open(row.id, row.secret_encrypted)["secret"]]
    if (
        row.previous_secret_encrypted
        and row.previous_secret_until is not None
        and row.previous_secret_until > now
    ):
        current.append(box.open(row.id, row.previous_secret_encrypted)["secret"])
    return current


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header (seconds or an HTTP date) as a wait, at most a day."""
    if value is None:
        return None
    try:
        wait = timedelta(seconds=max(0, int(value.strip())))
    except ValueError:
        try:
            wait = parsedate_to_datetime(value) - now
        except (TypeError, ValueError):
            return None
    return min(max(wait, timedelta(0)), MAX_RETRY_AFTER)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _host(url: str) -> bytes:
    """The Host header of a URL (never its credentials; registration refuses them anyway)."""
    return urlsplit(url).netloc.rpartition("@")[2].encode("idna")


async def _body(response: httpcore.Response, deadline: float) -> bytes:
    """The first :data:`BODY_KEPT` bytes of a response's body, read until ``deadline`` at the
    latest: the answer (its status) has arrived, so a body that is slow, endless or broken
    only shortens what is kept. The rest is never read (closing the response closes the
    connection), so a receiver streaming gigabytes costs one read's buffer."""
    loop = asyncio.get_running_loop()
    chunks = response.aiter_stream().__aiter__()
    kept = b""
    while len(kept) < BODY_KEPT:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            kept += await asyncio.wait_for(chunks.__anext__(), remaining)
        except StopAsyncIteration:
            break
        except Exception:  # a timeout or a broken body: keep what arrived
            break
    return kept[:BODY_KEPT]


class Sender:
    """Sends for one process: one keep-alive connection pool per endpoint, each connection
    checked when it is opened (``ssrf``). Safe for passes running at once (two schedulers)."""

    def __init__(self, settings: WebhookSettings, box: SecretBox) -> None:
        self.settings = settings
        self.box = box
        self._clients: OrderedDict[uuid.UUID, httpcore.AsyncConnectionPool] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()
        self._in_flight: asyncio.Semaphore | None = None

    def _total(self) -> asyncio.Semaphore:
        """Requests in flight in this process, over every pass and endpoint."""
        if self._in_flight is None:
            self._in_flight = asyncio.Semaphore(max(1, self.settings.concurrency_total))
        return self._in_flight

    def client(self, endpoint_id: uuid.UUID) -> httpcore.AsyncConnectionPool:
        """The endpoint's keep-alive connection pool (at most the endpoint's cap of
        connections; each opened through the address check); the least recently used beyond
        :data:`MAX_CLIENTS` are closed. httpcore, httpx's transport, is used directly: the
        client layer above it (URL merging, cookies, models) was half the CPU of a delivery."""
        found = self._clients.get(endpoint_id)
        if found is not None:
            self._clients.move_to_end(endpoint_id)
            return found
        width = max(1, self.settings.concurrency_per_endpoint)
        client = httpcore.AsyncConnectionPool(
            max_connections=width,
            max_keepalive_connections=width,
            keepalive_expiry=KEEPALIVE_SECONDS,
            retries=0,
            network_backend=GuardedBackend(
                httpcore.AnyIOBackend(), allow_private=self.settings.allow_private_addresses
            ),
        )
        self._clients[endpoint_id] = client
        while len(self._clients) > MAX_CLIENTS:
            _, old = self._clients.popitem(last=False)
            task = asyncio.get_running_loop().create_task(old.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return client

    async def close(self) -> None:
        """Close every connection pool (at shutdown; a later pass opens new ones)."""
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def send(self, message: Claimed) -> Outcome:
        body = message.payload.encode()
        sent = headers(webhook_id(message.id), utcnow(), body, message.secrets)
        wire = [(b"host", _host(message.url)), (b"content-length", str(len(body)).encode())]
        wire += [(name.encode(), value.encode()) for name, value in sent.items()]
        read = self.settings.read_timeout_seconds
        timeouts = {
            "connect": self.settings.connect_timeout_seconds,
            "read": read,
            "write": read,
            "pool": read,
        }
        # One deadline for the whole request (connect, send, status and headers, the body kept):
        # httpcore's timeouts are per read, so a receiver trickling a byte at a time would
        # otherwise hold a lane, and outlive the lease, for as long as it likes.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._round()
        request = httpcore.Request(
            "POST", message.url, headers=wire, content=body, extensions={"timeout": timeouts}
        )
        started = time.perf_counter()
        try:
            async with asyncio.timeout_at(deadline):
                response = await self.client(message.endpoint_id).handle_async_request(request)
        except Exception as error:  # connection refused, timeout, blocked address, ...
            latency = int((time.perf_counter() - started) * 1000)
            if isinstance(error, TimeoutError):
                error = TimeoutError(f"no answer within {self._round():g} s")
            return Outcome(None, f"{type(error).__name__}: {error}"[:BODY_KEPT], latency, None)
        try:
            kept = await _body(response, deadline)
        finally:
            with contextlib.suppress(Exception):  # an unread body: the connection is closed
                await response.aclose()
        latency = int((time.perf_counter() - started) * 1000)
        wait = None
        if response.status in (429, 503):
            wait = retry_after(_header(response.headers, b"retry-after"), utcnow())
        # NUL cannot be stored in PostgreSQL text: one receiver answering in binary would fail
        # the transaction recording its whole batch, every endpoint's, and have it sent again.
        shown = kept[:BODY_KEPT].decode("utf-8", "replace").replace("\x00", "\ufffd")
        return Outcome(response.status, None, latency, shown, wait)

    # -- one pass -----------------------------------------------------------------------------
    async def run(self, job: Job) -> None:
        """Batches until nothing is due (or :data:`PASS_SECONDS` is up)."""
        table: Any = WebhookMessage.__table__
        async with job.db.read_session() as session:  # nothing due: take no write lock
            due = select(table.c.id).where(
                table.c.status == PENDING, table.c.next_attempt_at <= job.now
            )
            if await session.scalar(due.limit(1)) is None:
                return
        if job.db.dialect == "postgresql":
            await self._run_overlapped(job)
        else:
            await self._run_in_turn(job)

    async def _run_in_turn(self, job: Job) -> None:
        """SQLite: send a batch, then record it in the transaction that claims the next. (Its
        driver works in a thread of this process: overlapping it with the HTTP work made both
        slower, the two threads contending for the interpreter: 300 against 420 a second.)"""
        started = time.monotonic()
        results: list[tuple[Claimed, Outcome | None]] = []
        while True:
            elapsed = time.monotonic() - started
            more = elapsed < PASS_SECONDS
            now = job.now + timedelta(seconds=elapsed)
            batch = await self._record_and_claim(job, results, now, claim_next=more)
            if not more:
                job.again = True  # out of time, maybe not of work: the scheduler comes back
                return
            if not batch.claimed:
                return
            results = await self._deliver(batch)
            if any(o is None for _m, o in results):
                job.again = True  # some went back unsent: come back at once

    async def _run_overlapped(self, job: Job) -> None:
        """PostgreSQL: two batches at a time. While one batch is being sent, the transaction
        that records the one before claims the next (the database's work overlaps the HTTP
        work, +15 %; the requests of the next batch start when this one's are done, so an
        endpoint never has more than its lanes in flight). An endpoint that failed or answered
        410 in a batch gets nothing of the next one, which was claimed before that outcome was
        recorded: its messages there go back unsent, and the claim after sees its breaker."""
        started = time.monotonic()
        batch = await self._record_and_claim(job, [], job.now)
        results: list[tuple[Claimed, Outcome | None]] = []
        troubled: frozenset[uuid.UUID] = frozenset()
        while batch.claimed:
            sending = asyncio.ensure_future(self._deliver(batch, troubled))
            elapsed = time.monotonic() - started
            more = elapsed < PASS_SECONDS
            now = job.now + timedelta(seconds=elapsed)
            try:
                following = await self._record_and_claim(
                    job, results, now, claim_next=more, sending=batch
                )
            except asyncio.CancelledError:  # shutting down: the leases expire, sent again
                sending.cancel()
                raise
            except Exception:
                results = await sending  # record what was sent if the database allows
                with contextlib.suppress(Exception):
                    await self._record_and_claim(job, results, now, claim_next=False)
                raise
            results = await sending
            troubled = frozenset(m.endpoint_id for m, o in results if o and not o.ok)
            if not more or any(o is None for _m, o in results):
                job.again = True  # out of time, or some went back unsent: come back at once
            batch = following
        if results:
            elapsed = time.monotonic() - started
            await self._record_and_claim(
                job, results, job.now + timedelta(seconds=elapsed), claim_next=False
            )

    async def _claim(self, job: Job) -> list[Claimed]:
        """Claim one batch (no outcomes to record)."""
        return (await self._record_and_claim(job, [], job.now)).claimed

    async def _deliver(
        self, batch: Batch, troubled: frozenset[uuid.UUID] = frozenset()
    ) -> list[tuple[Claimed, Outcome | None]]:
        """Send a batch: per endpoint through its lanes (its free slots), at most
        ``concurrency_total`` requests at once. An endpoint whose circuit would open, or that
        answers 410, gets no more of this batch: those messages come back with no outcome (their
        lease is released unsent), as do all of ``troubled`` endpoints'. Results in the order
        the outcomes arrived."""
        total = self._total()
        done: list[tuple[Claimed, Outcome | None]] = []
        lanes: dict[uuid.UUID, deque[Claimed]] = {}
        for message in batch.claimed:
            if message.endpoint_id in troubled:
                done.append((message, None))
                continue
            lanes.setdefault(message.endpoint_id, deque()).append(message)

        # No request starts later than one round before the lease ends (and the margin is
        # left to record the outcome): a batch that waited, or a slow receiver, sends the
        # rest of its share back unsent instead of outliving its lease.
        cutoff = batch.claimed_at + (LEASE_ROUNDS - 1) * self._round()

        async def lane(queue: deque[Claimed], state: list[int], budget: int) -> None:
            while queue and state[0] < budget and not state[1] and time.monotonic() < cutoff:
                message = queue.popleft()
                async with total:
                    outcome = await self.send(message)
                done.append((message, outcome))
                state[0] = 0 if outcome.ok else state[0] + 1
                if outcome.status_code == 410:
                    state[1] = 1

        threshold = max(1, self.settings.circuit_failures)
        runs: list[Awaitable[None]] = []
        for endpoint_id, queue in lanes.items():
            # Failures in a row this batch may add before the circuit opens (one, half-open).
            before = min(batch.failures.get(endpoint_id, 0), threshold - 1)
            state = [0, 0]  # failures in a row, gone
            width = min(batch.slots.get(endpoint_id, 1), len(queue))
            runs.extend(lane(queue, state, threshold - before) for _ in range(width))
        await asyncio.gather(*runs)
        for queue in lanes.values():
            done.extend((message, None) for message in queue)
        return done

    def _round(self) -> float:
        """The longest one request may take."""
        return self.settings.connect_timeout_seconds + self.settings.read_timeout_seconds

    def _lease(self) -> timedelta:
        return timedelta(seconds=LEASE_ROUNDS * self._round() + LEASE_MARGIN_SECONDS)

    async def _record_and_claim(
        self,
        job: Job,
        results: list[tuple[Claimed, Outcome | None]],
        now: datetime,
        *,
        claim_next: bool = True,
        sending: Batch | None = None,
    ) -> Batch:
        """Record ``results`` and claim the next batch in one transaction; ``sending``: the
        batch this process is sending meanwhile (its leases are its own lanes, not other
        processes' requests in flight; the next batch waits for it, so its lease is longer)."""
        async with job.db.write_session() as session:
            if results:
                await self._record(session, job, results, now)
            if not claim_next:
                return Batch([], {}, {})
            return await self._claim_in(session, job, now, sending)

    async def _claim_in(
        self, session: AsyncSession, job: Job, now: datetime, sending: Batch | None = None
    ) -> Batch:
        """Lock the due messages (ids only), keep each endpoint's share, lease it, then read
        the payloads of the messages kept."""
        claimed_at = time.monotonic()
        table: Any = WebhookMessage.__table__
        # Endpoints whose secrets could not be opened back off (Job.failed): left out, or their
        # due messages, first in order, would fill every claim and starve every other endpoint.
        backing_off = [
            uuid.UUID(item.removeprefix("endpoint:"))
            for item in job.waiting()
            if item.startswith("endpoint:")
        ]
        statement = claim(
            select(table.c.id, table.c.endpoint_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == table.c.endpoint_id)
            .where(
                table.c.endpoint_id.not_in(backing_off),
                table.c.status == PENDING,
                table.c.next_attempt_at <= now,
                or_(table.c.lease_until.is_(None), table.c.lease_until <= now),
                WebhookEndpoint.enabled.is_(True),
                or_(
                    WebhookEndpoint.circuit_open_until.is_(None),
                    WebhookEndpoint.circuit_open_until <= now,
                ),
            )
            .order_by(table.c.next_attempt_at, table.c.created_at)
            .limit(max(job.batch_size, CLAIM_BATCH)),
            of=table,
        )
        due = (await session.execute(statement)).all()
        if not due:
            return Batch([], {}, {})
        endpoint_ids = {endpoint_id for _id, endpoint_id in due}
        # Counted after the rows are locked, so the count sees claims committed meanwhile.
        in_flight: dict[uuid.UUID, int] = dict(
            (
                await session.execute(
                    select(table.c.endpoint_id, func.count())
                    .where(
                        table.c.status == PENDING,
                        table.c.lease_until > now,
                        table.c.endpoint_id.in_(endpoint_ids),
                        table.c.id.not_in([m.id for m in sending.claimed] if sending else []),
                    )
                    .group_by(table.c.endpoint_id)
                )
            ).all()
        )
        cap = self.settings.concurrency_per_endpoint
        slots = {i: max(0, cap - in_flight.get(i, 0)) for i in endpoint_ids}
        kept: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in endpoint_ids if slots[i]}
        for message_id, endpoint_id in due:
            mine = kept.get(endpoint_id)
            if mine is not None and len(mine) < slots[endpoint_id] * ROUNDS:
                mine.append(message_id)
        endpoints = {
            row.id: row
            for row in (
                await session.scalars(
                    select(WebhookEndpoint).where(WebhookEndpoint.id.in_(list(kept)))
                )
            ).all()
        }
        secrets: dict[uuid.UUID, list[str]] = {}
        for endpoint_id in list(kept):
            try:
                secrets[endpoint_id] = endpoint_secrets(self.box, endpoints[endpoint_id], now)
            except Exception as error:  # its messages stay due; retried after a backoff
                job.failed(f"endpoint:{endpoint_id}", error)
                del kept[endpoint_id]
        if not kept:
            if len(secrets) < len(endpoints):  # some just began backing off: claim without them
                return await self._claim_in(session, job, now, sending)
            return Batch([], {}, {})
        ids = [message_id for mine in kept.values() for message_id in mine]
        await session.execute(
            update(table).where(table.c.id.in_(ids)).values(lease_until=now + self._lease())
        )
        rows = {
            row.id: row
            for row in (
                await session.execute(
                    select(table.c.id, table.c.tenant_id, table.c.payload, table.c.attempts).where(
                        table.c.id.in_(ids)
                    )
                )
            ).all()
        }
        claimed = [
            Claimed(
                message_id,
                rows[message_id].tenant_id,
                endpoint_id,
                endpoints[endpoint_id].url,
                rows[message_id].payload,
                rows[message_id].attempts,
                secrets[endpoint_id],
            )
            for message_id, endpoint_id in due
            if endpoint_id in kept and message_id in rows
        ]
        return Batch(
            claimed,
            {i: slots[i] for i in kept},
            {i: endpoints[i].consecutive_failures for i in kept},
            claimed_at,
        )

    async def _record(
        self,
        session: AsyncSession,
        job: Job,
        results: list[tuple[Claimed, Outcome | None]],
        now: datetime,
    ) -> None:
        """Every outcome of a batch: attempts inserted together, messages updated together,
        each endpoint once (its breaker from its last outcomes); messages sent back unsent
        lose their lease."""
        attempts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        unsent: list[uuid.UUID] = []
        endpoints: dict[uuid.UUID, tuple[int, bool]] = {}  # failures in a row at the end, gone
        for message, outcome in results:
            if outcome is None:
                unsent.append(message.id)
                continue
            attempts.append(
                {
                    "id": uuid.uuid4(),
                    "tenant_id": message.tenant_id,
                    "message_id": message.id,
                    "endpoint_id": message.endpoint_id,
                    "attempted_at": now,
                    "status_code": outcome.status_code,
                    "error": outcome.error,
                    "latency_ms": outcome.latency_ms,
                    "response_body": outcome.body,
                }
            )
            count = message.attempts + 1
            values: dict[str, Any] = {
                "message_id": message.id,
                "attempts": count,
                "last_status_code": outcome.status_code,
                "last_error": outcome.error,
                "status": PENDING,
                "next_attempt_at": None,
                "delivered_at": None,
            }
            failures, gone = endpoints.get(message.endpoint_id, (0, False))
            if outcome.ok:
                values |= {"status": DELIVERED, "delivered_at": now}
                endpoints[message.endpoint_id] = (0, gone)
                job.succeeded(str(message.id))
                updates.append(values)
                continue
            job.done += 1
            endpoints[message.endpoint_id] = (failures + 1, gone or outcome.status_code == 410)
            if outcome.status_code == 410:
                values |= {"status": DEAD, "last_error": "410 Gone: endpoint disabled"}
            elif outcome.retry_after is not None:
                values["next_attempt_at"] = now + outcome.retry_after
            elif count <= len(SCHEDULE):
                values["next_attempt_at"] = now + SCHEDULE[count - 1]
            else:
                values["status"] = DEAD
            updates.append(values)
        table: Any = WebhookMessage.__table__
        if unsent:
            await session.execute(
                update(table).where(table.c.id.in_(unsent)).values(lease_until=None)
            )
        if not attempts:
            return
        await session.execute(insert(WebhookAttempt), attempts)
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("message_id"))
            .values(
                attempts=bindparam("attempts"),
                last_status_code=bindparam("last_status_code"),
                last_error=bindparam("last_error"),
                status=bindparam("status"),
                next_attempt_at=func.coalesce(
                    bindparam("next_attempt_at", type_=table.c.next_attempt_at.type),
                    table.c.next_attempt_at,
                ),
                delivered_at=bindparam("delivered_at", type_=table.c.delivered_at.type),
                lease_until=None,
            ),
            updates,
        )
        for endpoint_id, (failures, gone) in endpoints.items():
            changes: dict[str, Any]
            if gone:
                changes = {
                    "enabled": False,
                    "disabled_reason": f"the receiver answered 410 Gone at {now.isoformat()}",
                }
            elif failures == 0:
                changes = {"consecutive_failures": 0, "circuit_open_until": None}
            else:
                total = WebhookEndpoint.consecutive_failures + failures
                changes = {
                    "consecutive_failures": total,
                    "circuit_open_until": _circuit(self.settings, total, now),
                }
            await session.execute(
                update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(changes)
            )


def _circuit(settings: WebhookSettings, failures: Any, now: datetime) -> Any:
    return case(
        (
            failures >= settings.circuit_failures,
            now + timedelta(seconds=settings.circuit_open_seconds),
        ),
        else_=WebhookEndpoint.circuit_open_until,
    )


__all__ = ["DEAD", "DELIVERED", "PENDING", "SCHEDULE", "Claimed", "Outcome", "Sender"]
