"""Subscriptions benchmark: commit-to-receipt latency of live updates, memory per subscriber.

    .venv/bin/python -m sharegraph.benchmarks.subscriptions                      # SQLite
    .venv/bin/python -m sharegraph.benchmarks.subscriptions --database postgresql+asyncpg://...
    .venv/bin/python -m sharegraph.benchmarks.subscriptions --subscribers 2000 --seconds 30

The issue's scenario is 10,000 WebSocket subscribers on one process over 100 queues (100 per
queue, 3 access plans) and 20 writes/s. This runs the same shape scaled to what a shared 2-core
machine holds: ``--subscribers`` connections (one ``queueEntryChanged`` subscription each),
spread evenly over the demo tenant's queues that have entries, as three principals of Prairie
211 (three access plans: tenant-admin, call-taker, api-client); a writer commits
``--writes-per-second`` outbox events for entries of those queues, round robin, for
``--seconds``. The server runs under uvicorn in a child process; the load client (all sockets
and the writer) runs in this process, on the same cores: the figures include its cost.

Reports p50/p99 latency from the writer's commit to a client's receipt, deliveries expected
and received (lost = expected - received), the server's resident memory per subscriber
(RSS after subscribing minus before, divided by subscribers) and its CPU seconds per second
during the writes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from sharegraph.settings import Settings, SubscriptionSettings

PRINCIPALS = ("prairie-admin", "prairie-call-taker", "prairie-api")
DOCUMENT = (
    "subscription($q: ID!) { queueEntryChanged(queueId: $q) { event { position } "
    "queueEntry { id status { key } } } }"
)


READY_TIMEOUT_SECONDS = 600.0
WARM_UP_ROUNDS = 3
IDLE_CPU_PER_SECOND = 0.2


async def _until_idle(pid: int, within_seconds: float) -> None:
    """Until the server's CPU use over 2 s falls under :data:`IDLE_CPU_PER_SECOND` (it has
    finished setting up subscriptions), or ``within_seconds``."""
    deadline = time.perf_counter() + within_seconds
    while time.perf_counter() < deadline:
        before = _cpu_seconds(pid)
        await asyncio.sleep(2.0)
        if (_cpu_seconds(pid) - before) / 2.0 < IDLE_CPU_PER_SECOND:
            return


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _runqueue_wait_seconds(pid: int) -> float:
    """Seconds the process's threads were runnable but waiting for a core (schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


@dataclass
class Report:
    database: str
    subscribers: int
    queues: int
    writes: int
    seconds: float
    expected: int = 0
    received: int = 0
    lost: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    rss_before_mib: float = 0.0
    rss_after_mib: float = 0.0
    kib_per_subscriber: float = 0.0
    server_cpu_per_second: float = 0.0
    client_cpu_per_second: float = 0.0  # this process: all sockets and the writer
    # seconds per second the server / this process were runnable but had no core (the
    # machine's other work): latency that no change to the server removes
    server_waiting_per_second: float = 0.0
    client_waiting_per_second: float = 0.0
    subscribe_seconds: float = 0.0
    # after subscribing: until every socket received the warm-up event of its queue
    ready_seconds: float = 0.0
    live_before_writes: int = 0
    load_average: list[float] = field(default_factory=list)
    # the server's own breakdown per phase (graph.live.Timings): count, p50, p99 in ms
    server_phases: dict[str, dict[str, float]] = field(default_factory=dict)


async def _targets(database: str) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(queue id, one of its entries' ids) for Prairie's queues that have entries."""
    from sharegraph.datastore.engine import Database
    from sharegraph.datastore.models import QueueEntry
    from sharegraph.demo import demo_id

    db = Database(database)
    try:
        async with db.read_session() as session:
            rows = (
                await session.execute(
                    select(QueueEntry.queue_id, QueueEntry.id)
                    .where(QueueEntry.tenant_id == demo_id("tenant", "prairie"))
                    .order_by(QueueEntry.queue_id, QueueEntry.id)
                )
            ).all()
    finally:
        await db.dispose()
    first: dict[uuid.UUID, uuid.UUID] = {}
    for queue_id, entry_id in rows:
        first.setdefault(queue_id, entry_id)
    return list(first.items())


async def _ensure_seeded(database: str) -> None:
    from sharegraph import demo
    from sharegraph.datastore.engine import Database
    from sharegraph.datastore.models import Tenant

    db = Database(database)
    try:
        try:
            async with db.read_session() as session:
                if await session.scalar(select(func.count()).select_from(Tenant)):
                    return
        except Exception:  # an empty database: no tables yet
            pass
        await demo.seed(db, scale=1, demo_secret=Settings().demo_secret)
    finally:
        await db.dispose()


async def _ensure_queues(database: str, wanted: int) -> None:
    """At least ``wanted`` of Prairie's queues with an entry: the missing ones are copies of
    the first such queue (its statuses and one entry), named ``bench queue <n>`` (the issue's
    scenario spreads subscribers over 100 queues; the demo has 2)."""
    from sqlalchemy import inspect

    from sharegraph.datastore.engine import Database
    from sharegraph.datastore.models import QueueEntry, QueueStatus, ReferralQueue

    have = await _targets(database)
    if len(have) >= wanted or not have:
        return

    def copy(row: Any, **changes: Any) -> Any:
        model = type(row)
        values = {a.key: getattr(row, a.key) for a in inspect(model).column_attrs}
        values.update(changes)
        return model(**values)

    queue_id, entry_id = have[0]
    db = Database(database)
    try:
        async with db.write_session() as session:
            queue = await session.get(ReferralQueue, queue_id)
            entry = await session.get(QueueEntry, entry_id)
            assert queue is not None and entry is not None
            statuses = (
                await session.scalars(select(QueueStatus).where(QueueStatus.queue_id == queue_id))
            ).all()
            for n in range(len(have), wanted):
                new_queue = uuid.uuid4()
                session.add(copy(queue, id=new_queue, name=f"bench queue {n}"))
                await session.flush()
                for status in statuses:
                    session.add(copy(status, id=uuid.uuid4(), queue_id=new_queue))
                session.add(copy(entry, id=uuid.uuid4(), queue_id=new_queue))
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def serving(database: str, subscribers: int, timings: str | None = None) -> Any:
    port = _free_port()
    command = [
        sys.executable, "-m", "sharegraph.benchmarks.subscriptions", "serve",
        "--database", database, "--port", str(port), "--subscribers", str(subscribers),
    ]  # fmt: skip
    if timings:
        command += ["--timings", timings]
    child = await asyncio.create_subprocess_exec(*command)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5.0) as http:
            for _ in range(600):
                if child.returncode is not None:
                    raise RuntimeError(f"the server exited with {child.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the server did not answer /healthz within 60 s")
        yield port, child.pid
    finally:
        if child.returncode is None:
            child.terminate()
            try:
                await asyncio.wait_for(child.wait(), 30)
            except TimeoutError:
                child.kill()
                await child.wait()


def _serve(database: str, port: int, subscribers: int, timings: str | None = None) -> None:
    import uvicorn

    from sharegraph.cli.serving import UVICORN_LIMITS
    from sharegraph.web.app import create_app

    settings = replace(
        Settings.from_env(database_url=database),
        scheduler=False,
        subscriptions=replace(SubscriptionSettings(), max_per_principal=subscribers),
    )
    app = create_app(settings)

    def write_timings(*_args: Any) -> None:  # where the server's delivery time went
        live = getattr(app.state, "live", None)
        if timings and live is not None:
            Path(timings).write_text(json.dumps(live.timings.summary()))

    # Asked for before the server stops: closing 10,000 WebSockets may outlast the grace
    # period the parent gives a stopping server.
    signal.signal(signal.SIGUSR1, write_timings)
    # uvicorn raises the SIGTERM it caught again once it has shut down, to the handler that was
    # there before: this one lets the timings below be written.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        ws_max_size=1024 * 1024,
        ws_per_message_deflate=UVICORN_LIMITS["ws_per_message_deflate"],
        ws_ping_interval=UVICORN_LIMITS["ws_ping_interval"],
        ws_ping_timeout=UVICORN_LIMITS["ws_ping_timeout"],
        backlog=4096,
    )
    write_timings()


async def run(
    database: str, subscribers: int, rate: float, seconds: float, queues: int = 0
) -> Report:
    from websockets.asyncio.client import connect

    from sharegraph import demo
    from sharegraph.datastore.engine import Database
    from sharegraph.datastore.enums import EventType
    from sharegraph.datastore.models import QueueEntry
    from sharegraph.datastore.outbox import record_event

    await _ensure_seeded(database)
    await _ensure_queues(database, queues)
    targets = (await _targets(database))[: queues or None]
    keys = {
        str(p["name"]): str(p["apiKey"]) for p in demo.demo_principal_keys("sharegraph-demo-secret")
    }
    from sharegraph.graph.relay import to_global_id

    report = Report(
        database=database.split("@")[-1],
        subscribers=subscribers,
        queues=len(targets),
        writes=0,
        seconds=seconds,
        load_average=[round(x, 2) for x in os.getloadavg()],
    )
    committed: dict[int, float] = {}
    received: dict[int, list[float]] = defaultdict(list)
    per_queue: Counter[uuid.UUID] = Counter()

    print(f"{len(targets)} queues; starting the server", file=sys.stderr)
    timings = Path("var") / f"bench-subscriptions-timings-{os.getpid()}.json"
    timings.unlink(missing_ok=True)
    async with serving(database, subscribers, str(timings)) as (port, pid):
        report.rss_before_mib = _rss_kib(pid) / 1024
        sockets: list[Any] = []
        queue_of: list[uuid.UUID] = []  # the queue each socket subscribed to
        started = time.perf_counter()

        async def open_one(index: int) -> None:
            queue_id, _ = targets[index % len(targets)]
            principal = PRINCIPALS[index % len(PRINCIPALS)]
            ws = await connect(
                f"ws://127.0.0.1:{port}/graphql",
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                open_timeout=60,
                ping_interval=None,
            )
            init = {"authorization": f"Bearer {keys[principal]}"}
            await ws.send(json.dumps({"type": "connection_init", "payload": init}))
            await ws.recv()
            variables = {"q": to_global_id("ReferralQueue", queue_id)}
            message = {"query": DOCUMENT, "variables": variables}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": message}))
            per_queue[queue_id] += 1
            sockets.append(ws)
            queue_of.append(queue_id)

        gate = asyncio.Semaphore(8)  # the pool holds 20 connections; subscribing reads the database

        async def gated(index: int) -> None:
            async with gate:
                await open_one(index)

        await asyncio.gather(*(gated(i) for i in range(subscribers)))
        print(f"{subscribers} subscribed", file=sys.stderr)
        report.subscribe_seconds = time.perf_counter() - started

        live: set[int] = set()  # sockets that received an event: their subscription is live
        all_live = asyncio.Event()

        async def listen(ws: Any, number: int) -> None:
            with contextlib.suppress(Exception):
                async for raw in ws:
                    now = time.perf_counter()
                    message = json.loads(raw)
                    if message.get("type") == "ping":
                        await ws.send('{"type":"pong"}')
                    elif message.get("type") == "next":
                        live.add(number)
                        if len(live) == len(sockets):
                            all_live.set()
                        data = message["payload"].get("data") or {}
                        change = data.get("queueEntryChanged") or {}
                        position = (change.get("event") or {}).get("position")
                        if position is not None:
                            received[int(position)].append(now)

        listeners = [asyncio.create_task(listen(ws, i)) for i, ws in enumerate(sockets)]
        # A subscribe message is answered by nothing: the server may still be setting up
        # subscriptions long after the last was sent. Unmeasured events, one per queue with a
        # socket not live yet, every few seconds, show each subscription live before the
        # measured writes start (a subscription set up after an event does not receive it).
        entries = dict(targets)
        await _until_idle(pid, READY_TIMEOUT_SECONDS)  # the server has set them all up
        warm_up = Database(database)
        try:
            for _round in range(WARM_UP_ROUNDS):
                waiting = {queue_of[i] for i in range(len(sockets)) if i not in live}
                for queue_id in waiting:
                    async with warm_up.write_session() as session:
                        entry = await session.get(QueueEntry, entries[queue_id])
                        record_event(session, entry, EventType.UPDATED, None)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_live.wait(), 20.0)
                if all_live.is_set():
                    break
        finally:
            await warm_up.dispose()
        report.live_before_writes = len(live)
        report.ready_seconds = time.perf_counter() - started - report.subscribe_seconds
        print(
            f"{len(live)} of {len(sockets)} subscriptions live after {report.ready_seconds:.1f} s",
            file=sys.stderr,
        )
        await asyncio.sleep(2.0)  # the warm-up's deliveries drain
        report.rss_after_mib = _rss_kib(pid) / 1024
        report.kib_per_subscriber = (
            (report.rss_after_mib - report.rss_before_mib) * 1024 / max(subscribers, 1)
        )

        db = Database(database)
        cpu_before = _cpu_seconds(pid)
        client_before = _cpu_seconds(os.getpid())
        waiting_before = _runqueue_wait_seconds(pid), _runqueue_wait_seconds(os.getpid())
        expected = 0
        try:
            interval = 1.0 / rate
            begin = time.perf_counter()
            index = 0
            while time.perf_counter() - begin < seconds:
                queue_id, entry_id = targets[index % len(targets)]
                async with db.write_session() as session:
                    entry = await session.get(QueueEntry, entry_id)
                    event = record_event(session, entry, EventType.UPDATED, None)
                    await session.flush()
                    position = event.position
                committed[position] = time.perf_counter()
                expected += per_queue[queue_id]
                report.writes += 1
                index += 1
                next_at = begin + index * interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            write_seconds = time.perf_counter() - begin
            print(f"{report.writes} writes in {write_seconds:.1f} s; draining", file=sys.stderr)
            await asyncio.sleep(5.0)  # drain
            os.kill(pid, signal.SIGUSR1)  # the server writes its phase timings
            await asyncio.sleep(1.0)
            report.server_cpu_per_second = (_cpu_seconds(pid) - cpu_before) / (write_seconds + 5.0)
            report.client_cpu_per_second = (_cpu_seconds(os.getpid()) - client_before) / (
                write_seconds + 5.0
            )
            report.server_waiting_per_second = (_runqueue_wait_seconds(pid) - waiting_before[0]) / (
                write_seconds + 5.0
            )
            report.client_waiting_per_second = (
                _runqueue_wait_seconds(os.getpid()) - waiting_before[1]
            ) / (write_seconds + 5.0)
        finally:
            await db.dispose()
            for task in listeners:
                task.cancel()
            # At once and bounded: one by one, a busy server's close handshakes add up to hours.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True), 30
                )

    if timings.exists():
        report.server_phases = json.loads(timings.read_text())
        timings.unlink()
    latencies = [
        (at - committed[position]) * 1000
        for position, times in received.items()
        if position in committed
        for at in times
    ]
    report.expected = expected
    report.received = len(latencies)
    report.lost = expected - len(latencies)
    if latencies:
        latencies.sort()
        report.p50_ms = statistics.median(latencies)
        report.p99_ms = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        report.max_ms = latencies[-1]
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sharegraph.benchmarks.subscriptions")
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "serve"])
    parser.add_argument("--database", default="sqlite+aiosqlite:///var/bench-subscriptions.db")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--writes-per-second", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--queues", type=int, default=0, help="spread over this many queues (copies made)"
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--json", action="store_true", dest="as_json")
    parser.add_argument("--timings", default=None, help=argparse.SUPPRESS)  # serve: write here
    args = parser.parse_args(argv)
    if args.mode == "serve":
        _serve(args.database, args.port, args.subscribers, args.timings)
        return
    Path("var").mkdir(exist_ok=True)
    report = asyncio.run(
        run(args.database, args.subscribers, args.writes_per_second, args.seconds, args.queues)
    )
    if args.as_json:
        print(json.dumps(asdict(report)))
        return
    print(
        f"{report.database}: {report.subscribers} subscribers over {report.queues} queues, "
        f"{report.writes} writes in {report.seconds:g} s (load average at start "
        f"{report.load_average}; the load client shares the machine)"
    )
    print(
        f"commit->receipt p50 {report.p50_ms:.0f} ms, p99 {report.p99_ms:.0f} ms, "
        f"max {report.max_ms:.0f} ms; deliveries {report.received}/{report.expected} "
        f"(lost {report.lost})"
    )
    print(
        f"server RSS {report.rss_before_mib:.0f} -> {report.rss_after_mib:.0f} MiB "
        f"({report.kib_per_subscriber:.1f} KiB per subscriber); server CPU "
        f"{report.server_cpu_per_second:.2f} s/s, client CPU "
        f"{report.client_cpu_per_second:.2f} s/s (waiting for a core: server "
        f"{report.server_waiting_per_second:.2f} s/s, client "
        f"{report.client_waiting_per_second:.2f} s/s); "
        f"subscribing took {report.subscribe_seconds:.1f} s, then "
        f"{report.live_before_writes} live in {report.ready_seconds:.1f} s"
    )
    for phase, figures in report.server_phases.items():
        print(
            f"  server {phase}: {figures['count']:.0f} x, p50 {figures['p50_ms']:.1f} ms, "
            f"p99 {figures['p99_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()
