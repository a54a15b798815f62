"""Webhooks: deliveries per second for one worker, and commit -> receipt latency, per backend.

    .venv/bin/python -m sharegraph.benchmarks.webhooks            # SQLite and PostgreSQL
    .venv/bin/python -m sharegraph.benchmarks.webhooks --database sqlite
    .venv/bin/python -m sharegraph.benchmarks.webhooks --database postgresql+asyncpg://postgres@127.0.0.1:5432/sg_webhooks_bench
    .venv/bin/python -m sharegraph.benchmarks.webhooks --messages 5000 --changes 300 --json

Each backend gets a fresh database (a temporary SQLite file; on PostgreSQL the named database
is created and dropped afterwards, default ``sg_webhooks_bench`` on 127.0.0.1), seeded with
the small demo network. The receiver (HTTP/1.1 keep-alive, answers 200 at once) runs in the
same process and event loop, so its work is counted against the sender: the figures are
floors.

1. **Throughput**: ``--messages`` queued messages of ~600 bytes for one endpoint; one worker's
   delivery kind (``webhooks/delivery.py``: claim in batches with a lease, sign with
   ``standardwebhooks``, POST over the endpoint's keep-alive pool, record the batch) runs until
   every one is delivered, with the default cap of 4 in flight. Also reported: the process's
   CPU time per delivery (on a shared machine, the wall figure moves with the load; this does
   not).
2. **Latency**: ``--changes`` committed contact-record updates, ``--rate`` per second, for an
   endpoint in ``full`` mode; a scheduler with the webhook kinds runs beside the writer with
   its default 5 s poll, so only the wake-up (the in-process signal on SQLite; on PostgreSQL
   the relay's NOTIFY to a scheduler on an engine of its own, as a separate ``sharegraph
   worker`` would be) makes a delivery fast. Commit -> receipt includes fan-out: rendering the
   payload through the schema under the receiver's plan, and its disclosure audit row.

Keep runs short: the machine is shared. ``uptime`` is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select

from sharegraph import demo
from sharegraph.benchmarks.fuzz import fresh_database
from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import EventType
from sharegraph.datastore.models import ContactRecord, WebhookMessage
from sharegraph.datastore.outbox import record_event
from sharegraph.datastore.secrets import SecretBox
from sharegraph.datastore.work import Job, Retries
from sharegraph.settings import ExchangeSettings, Settings, WebhookSettings
from sharegraph.webhooks.delivery import Sender
from sharegraph.webhooks.endpoints import EndpointValues, create

TARGET_PER_SECOND = 500  # issue 14: one worker to a fast loopback receiver
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/sg_webhooks_bench"
PRAIRIE = demo.demo_id("tenant", "prairie")
RECEIVER = demo.demo_id("principal", "prairie-api")


class Receiver:
    """Answers 200 at once over keep-alive connections; notes when each body arrived."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, bytes]] = []
        self.server: asyncio.Server | None = None
        self.arrived = asyncio.Event()

    async def all_in(self, count: int) -> None:
        while len(self.arrivals) < count:
            self.arrived.clear()
            await self.arrived.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.arrivals.append((time.perf_counter(), body))
                self.arrived.set()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1)


async def _endpoint(db: Database, box: SecretBox, url: str, mode: str) -> uuid.UUID:
    async with db.write_session() as session:
        endpoint, _secret = await create(
            session,
            tenant_id=PRAIRIE,
            partner_organization_id=None,
            values=EndpointValues(url, ["contact_record.*"], {}, mode, RECEIVER),
            box=box,
            created_by=None,
        )
    return endpoint.id


async def throughput(db: Database, box: SecretBox, messages: int) -> dict[str, Any]:
    receiver = Receiver()
    endpoint = await _endpoint(db, box, await receiver.start(), "thin")
    now = utcnow()
    body = json.dumps({"type": "contact_record.updated", "data": {"pad": "x" * 500}})
    async with db.write_session() as session:
        await session.execute(
            insert(WebhookMessage),
            [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": PRAIRIE,
                    "endpoint_id": endpoint,
                    "event_id": uuid.uuid4(),
                    "event_type": "contact_record.updated",
                    "payload": body,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for _ in range(messages)
            ],
        )
    settings = replace(WebhookSettings(), allow_private_addresses=True)
    sender = Sender(settings, box)
    started, cpu = time.perf_counter(), time.process_time()
    passes = 0
    try:
        while True:
            job = Job("webhook-delivery", db, utcnow(), Retries())
            await sender.run(job)
            passes += 1
            if job.done == 0:
                break
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await sender.close()
        await receiver.stop()
    async with db.read_session() as session:
        delivered = await session.scalar(
            select(func.count())
            .select_from(WebhookMessage)
            .where(WebhookMessage.status == "delivered", WebhookMessage.endpoint_id == endpoint)
        )
    return {
        "messages": messages,
        "delivered": delivered,
        "seconds": round(seconds, 2),
        "deliveries_per_second": round((delivered or 0) / seconds, 1),
        "cpu_ms_per_delivery": round(cpu * 1000 / max(1, delivered or 0), 3),
        "concurrency_per_endpoint": settings.concurrency_per_endpoint,
        "passes": passes,
    }


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def latency(db: Database, key: str, changes: int, rate: float) -> dict[str, Any]:
    from sharegraph.graph.webhook_payloads import standalone_renderer
    from sharegraph.webhooks import webhook_kinds
    from sharegraph.worker import Scheduler

    receiver = Receiver()
    await _endpoint(db, SecretBox(key), await receiver.start(), "full")
    settings = Settings(
        database_url=db.url,
        exchange=replace(ExchangeSettings(), secret_key=key),
        webhooks=replace(WebhookSettings(), allow_private_addresses=True),
    )
    async with db.read_session() as session:
        records = list(
            (
                await session.scalars(
                    select(ContactRecord.id).where(ContactRecord.tenant_id == PRAIRIE).limit(20)
                )
            ).all()
        )
    # PostgreSQL: the worker on an engine of its own, as another process would be (only the
    # NOTIFY reaches it); SQLite: in this process (another process would wait for the poll).
    worker_db = Database(db.url) if db.dialect == "postgresql" else db
    committed: dict[tuple[str, int], float] = {}
    async with standalone_renderer(worker_db, settings) as renderer:
        scheduler = Scheduler(
            worker_db,
            webhook_kinds(settings, renderer),
            poll_seconds=settings.scheduler_poll_seconds,
        )
        await scheduler.start()
        try:
            await asyncio.sleep(1.0)  # the first full pass and the LISTEN in place
            for n in range(changes):
                async with db.write_session() as session:
                    row = await session.get(ContactRecord, records[n % len(records)])
                    assert row is not None
                    row.narrative = f"benchmark change {n}"
                    row.version += 1
                    record_event(session, row, EventType.UPDATED, None)
                    change = (str(row.id), row.version)
                committed[change] = time.perf_counter()
                await asyncio.sleep(1 / rate)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(receiver.all_in(changes), 30)
        finally:
            await scheduler.stop()
            await receiver.stop()
            if worker_db is not db:
                await worker_db.dispose()
    waits = []
    for arrived, body in receiver.arrivals:
        data = json.loads(body)["data"]
        sent = committed.get((data["recordId"], data["version"]))
        if sent is not None:
            waits.append((arrived - sent) * 1000)
    return {
        "changes": changes,
        "rate_per_second": rate,
        "received": len(waits),
        "latency_ms_p50": round(_percentile(waits, 50), 1) if waits else None,
        "latency_ms_p99": round(_percentile(waits, 99), 1) if waits else None,
        "latency_ms_max": round(max(waits), 1) if waits else None,
        "poll_seconds": settings.scheduler_poll_seconds,
    }


async def run(url: str, messages: int, changes: int, rate: float) -> dict[str, Any]:
    db = Database(url)
    try:
        await demo.seed(db, scale=1, demo_secret=Settings().demo_secret)
        key = Fernet.generate_key().decode()
        moved = await throughput(db, SecretBox(key), messages)
        waited = await latency(db, key, changes, rate)
    finally:
        await db.dispose()
    return {"backend": db.dialect, **moved, **waited}


@contextmanager
def _database(choice: str) -> Iterator[str]:
    with fresh_database(None if choice == "sqlite" else choice) as url:
        yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sharegraph.benchmarks.webhooks")
    parser.add_argument(
        "--database",
        action="append",
        help="`sqlite` (a temp file) or a PostgreSQL URL naming a new database (created, then "
        "dropped); repeatable. Default: both, PostgreSQL at " + DEFAULT_POSTGRES,
    )
    parser.add_argument("--messages", type=int, default=3000, help="queued (default 3000)")
    parser.add_argument("--changes", type=int, default=200, help="committed (default 200)")
    parser.add_argument("--rate", type=float, default=20.0, help="changes/s (default 20)")
    parser.add_argument("--json", action="store_true", dest="as_json")
    args = parser.parse_args(argv)
    reports = []
    for choice in args.database or ["sqlite", DEFAULT_POSTGRES]:
        with _database(choice) as url:
            reports.append(asyncio.run(run(url, args.messages, args.changes, args.rate)))
    load = os.getloadavg()
    if args.as_json:
        print(json.dumps({"target_per_second": TARGET_PER_SECOND, "load": load, "runs": reports}))
    else:
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
        print(
            f"{'backend':<11}{'deliveries/s':>13}{'target':>12}{'CPU ms/delivery':>17}"
            f"{'commit->receipt p50':>21}{'p99':>11}{'poll':>7}"
        )
        for r in reports:
            ok = "ok" if r["deliveries_per_second"] >= TARGET_PER_SECOND else "BELOW"
            print(
                f"{r['backend']:<11}{r['deliveries_per_second']:>13}"
                f"{'>=' + str(TARGET_PER_SECOND) + ' ' + ok:>12}{r['cpu_ms_per_delivery']:>17}"
                f"{str(r['latency_ms_p50']) + ' ms':>21}{str(r['latency_ms_p99']) + ' ms':>11}"
                f"{str(r['poll_seconds']) + ' s':>7}"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
