"""Sending messages: claim, POST signed per Standard Webhooks, record, retry or dead-letter.

Work with an external side effect (``datastore/work.py``): due messages are claimed and leased
in one short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), sent outside it, and the
outcome is recorded in another. A process killed between sending and recording leaves the
lease to expire: the message is sent again with the same ``webhook-id`` (at least once;
receivers dedupe on it).

Per endpoint: at most ``concurrency_per_endpoint`` messages in flight (leased, across
processes); after ``circuit_failures`` consecutive failed attempts its circuit opens for
``circuit_open_seconds`` (no claims), so one dead partner costs the others nothing. ``410
Gone`` disables the endpoint. ``Retry-After`` on 429 and 503 sets the next attempt.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from sqlalchemy import bindparam, case, func, insert, or_, select, update

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
    secrets: list[str]


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


def retry_after(response: httpx.Response, now: datetime) -> timedelta | None:
    value = response.headers.get("retry-after")
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


class Sender:
    """Sends for one process; its HTTP client checks every connection (``ssrf``)."""

    def __init__(self, settings: WebhookSettings, box: SecretBox) -> None:
        self.settings = settings
        self.box = box
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            transport = httpx.AsyncHTTPTransport(retries=0)
            pool: Any = transport._pool
            pool._network_backend = GuardedBackend(
                pool._network_backend, allow_private=self.settings.allow_private_addresses
            )
            timeout = httpx.Timeout(
                self.settings.read_timeout_seconds, connect=self.settings.connect_timeout_seconds
            )
            self._client = httpx.AsyncClient(
                transport=transport, timeout=timeout, follow_redirects=False
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(self, message: Claimed) -> Outcome:
        body = message.payload.encode()
        sent = headers(webhook_id(message.id), utcnow(), body, message.secrets)
        started = time.perf_counter()
        try:
            async with self.client().stream(
                "POST", message.url, content=body, headers=sent
            ) as response:
                kept = b""
                async for chunk in response.aiter_bytes():
                    kept += chunk
                    if len(kept) >= BODY_KEPT:
                        break
                latency = int((time.perf_counter() - started) * 1000)
                wait = (
                    retry_after(response, utcnow()) if response.status_code in (429, 503) else None
                )
                return Outcome(
                    response.status_code,
                    None,
                    latency,
                    kept[:BODY_KEPT].decode("utf-8", "replace"),
                    wait,
                )
        except Exception as error:  # connection refused, timeout, blocked address, ...
            latency = int((time.perf_counter() - started) * 1000)
            return Outcome(None, f"{type(error).__name__}: {error}"[:BODY_KEPT], latency, None)

    # -- one pass -----------------------------------------------------------------------------
    async def run(self, job: Job) -> None:
        claimed = await self._claim(job)
        if not claimed:
            return
        outcomes = await asyncio.gather(*(self.send(m) for m in claimed))
        await self._record(job, list(zip(claimed, outcomes, strict=True)))

    async def _claim(self, job: Job) -> list[Claimed]:
        now = job.now
        lease = timedelta(
            seconds=self.settings.connect_timeout_seconds + self.settings.read_timeout_seconds + 30
        )
        async with job.db.write_session() as session:
            in_flight = dict(
                (
                    await session.execute(
                        select(WebhookMessage.endpoint_id, func.count())
                        .where(WebhookMessage.status == PENDING, WebhookMessage.lease_until > now)
                        .group_by(WebhookMessage.endpoint_id)
                    )
                ).all()
            )
            pair: Any = select(WebhookMessage, WebhookEndpoint)
            statement = claim(
                pair.join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
                .where(
                    WebhookMessage.status == PENDING,
                    WebhookMessage.next_attempt_at <= now,
                    or_(
                        WebhookMessage.lease_until.is_(None),
                        WebhookMessage.lease_until <= now,
                    ),
                    WebhookEndpoint.enabled.is_(True),
                    or_(
                        WebhookEndpoint.circuit_open_until.is_(None),
                        WebhookEndpoint.circuit_open_until <= now,
                    ),
                )
                .order_by(WebhookMessage.next_attempt_at, WebhookMessage.created_at)
                .limit(job.batch_size),
                of=WebhookMessage,
            )
            rows = (await session.execute(statement)).all()
            claimed: list[Claimed] = []
            cap = self.settings.concurrency_per_endpoint
            for message, endpoint in rows:
                if in_flight.get(endpoint.id, 0) >= cap:
                    continue
                in_flight[endpoint.id] = in_flight.get(endpoint.id, 0) + 1
                try:
                    secrets = endpoint_secrets(self.box, endpoint, now)
                except Exception as error:
                    job.failed(str(message.id), error)
                    continue
                message.lease_until = now + lease
                claimed.append(
                    Claimed(
                        message.id,
                        message.tenant_id,
                        endpoint.id,
                        endpoint.url,
                        message.payload,
                        message.attempts,
                        secrets,
                    )
                )
            return claimed

    async def _record(self, job: Job, results: list[tuple[Claimed, Outcome]]) -> None:
        """Every outcome of the pass in one transaction: attempts inserted together, each
        message updated, each endpoint once (its breaker from its last outcomes)."""
        now = job.now
        attempts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        endpoints: dict[uuid.UUID, tuple[int, bool]] = {}  # failures in a row at the end, gone
        for message, outcome in results:
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
        async with job.db.write_session() as session:
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
