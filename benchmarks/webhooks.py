"""Webhook deliveries per second, one worker, to a fast loopback receiver.

    .venv/bin/python -m sharegraph.benchmarks.webhooks                  # SQLite in a temp dir
    .venv/bin/python -m sharegraph.benchmarks.webhooks --messages 5000 --json
    .venv/bin/python -m sharegraph.benchmarks.webhooks --database postgresql+asyncpg://...

Seeds a small demo network, registers one endpoint (allowing loopback), queues ``--messages``
messages of ~600 bytes and times the delivery kind (``webhooks/delivery.py``: claim with a
lease, sign with ``standardwebhooks``, POST, record the attempt) until every one is delivered.
The receiver (HTTP/1.1 keep-alive, answers 200 at once) runs in the same process and event
loop, so its work is counted against the sender: the figure is a floor. Fan-out (rendering
payloads through the schema) is not included. Keep runs short: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select

from sharegraph import demo
from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import WebhookMessage
from sharegraph.datastore.secrets import SecretBox
from sharegraph.datastore.work import Job, Retries
from sharegraph.settings import Settings, WebhookSettings
from sharegraph.webhooks.delivery import Sender
from sharegraph.webhooks.endpoints import EndpointValues, create

BATCH = 200


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def run(database: str | None, messages: int, concurrency: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        url = database or f"sqlite+aiosqlite:///{Path(tmp) / 'webhooks.db'}"
        settings = Settings(database_url=url)
        db = Database(url)
        try:
            await demo.seed(db, scale=1, demo_secret=settings.demo_secret)
            server = await asyncio.start_server(_serve, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            box = SecretBox(Fernet.generate_key().decode())
            async with db.write_session() as session:
                endpoint, _secret = await create(
                    session,
                    tenant_id=demo.demo_id("tenant", "prairie"),
                    partner_organization_id=None,
                    values=EndpointValues(
                        f"http://127.0.0.1:{port}/hook",
                        ["contact_record.*"],
                        {},
                        "thin",
                        demo.demo_id("principal", "prairie-api"),
                    ),
                    box=box,
                    created_by=None,
                )
                now = utcnow()
                body = json.dumps({"type": "contact_record.updated", "data": {"pad": "x" * 500}})
                await session.execute(
                    insert(WebhookMessage),
                    [
                        {
                            "id": uuid.uuid4(),
                            "tenant_id": endpoint.tenant_id,
                            "endpoint_id": endpoint.id,
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
            webhooks = replace(
                WebhookSettings(), allow_private_addresses=True,
                concurrency_per_endpoint=concurrency,
            )  # fmt: skip
            sender = Sender(webhooks, box)
            started = time.perf_counter()
            passes = 0
            while True:
                job = Job("webhook-delivery", db, utcnow(), Retries(), batch_size=BATCH)
                await sender.run(job)
                passes += 1
                if job.done == 0:
                    break
            seconds = time.perf_counter() - started
            async with db.read_session() as session:
                delivered = await session.scalar(
                    select(func.count())
                    .select_from(WebhookMessage)
                    .where(WebhookMessage.status == "delivered")
                )
            await sender.close()
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)
        finally:
            await db.dispose()
    return {
        "backend": url.split(":", 1)[0],
        "messages": messages,
        "delivered": delivered,
        "seconds": round(seconds, 2),
        "deliveries_per_second": round((delivered or 0) / seconds, 1),
        "concurrency_per_endpoint": concurrency,
        "passes": passes,
        "note": "2 shared cores; receiver in the same process; fan-out not included",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sharegraph.benchmarks.webhooks")
    parser.add_argument("--database", default=None, help="database URL (default: temp SQLite)")
    parser.add_argument("--messages", type=int, default=2000, help="messages (default 2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight per endpoint")
    parser.add_argument("--json", action="store_true", dest="as_json")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.database, args.messages, args.concurrency))
    if args.as_json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>26}: {value}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
