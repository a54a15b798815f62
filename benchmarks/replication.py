"""Replication benchmark: a first copy of many contact records (rows/s and the replicating
process's peak RSS), then the lag of ``--follow`` under a steady write load.

    .venv/bin/python -m sharegraph.benchmarks.replication                       # 100k, SQLite
    .venv/bin/python -m sharegraph.benchmarks.replication --backend postgresql  # PG -> PG
    .venv/bin/python -m sharegraph.benchmarks.replication --records 20000 --lag-seconds 30 --json

1. The source: the demo network plus ``--records`` contact records bulk inserted for Prairie
   211 (``benchmarks/export.py``'s fast generator: multi-row INSERTs, no outbox events; the
   product's ``demo seed --scale N`` takes ~19 min for 100k on this machine). SQLite: a new
   file under a temporary folder; PostgreSQL: a new database on ``--server`` (dropped after).
2. The first copy runs as ``sharegraph replicate --as prairie-admin --json`` in a child
   process into a second database of the same backend (a SQLite file, or a second PostgreSQL
   database), so its peak RSS (``wait4``) is the replication's alone.
3. The lag: ``sharegraph replicate --follow --json`` runs in a child while this process
   commits ``--writes-per-second`` single-record updates (each with its outbox event, as the
   write path does) for ``--lag-seconds``; a poller reads the target every 20 ms and times,
   for each update, commit -> visible in the target. p50/p99/max, plus the poll's resolution.

Floors (the issue sets no number for replication; these are ours, printed beside each figure):
rows/s >= 500 for the first copy, peak RSS < 250 MB (the export's target: bounded memory,
the copy streams in pages), lag p99 < 5 s (``--follow`` wakes on the event relay; SQLite
sees other processes' commits by polling every 0.25 s). Figures on a shared, loaded machine
are a floor, not a capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from sharegraph.benchmarks.export import seed
from sharegraph.datastore.engine import Database
from sharegraph.exporters.replication.target import Target

FLOOR_ROWS_PER_SECOND = 500
FLOOR_PEAK_RSS_MB = 250
FLOOR_LAG_P99_SECONDS = 5.0
POLL_SECONDS = 0.02
PRINCIPAL = "prairie-admin"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


@contextmanager
def _databases(backend: str, server: str) -> Iterator[tuple[str, str]]:
    """(source URL, target URL): two new databases of ``backend``, removed afterwards."""
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="sg-replication-bench-"))
        try:
            yield (
                f"sqlite+aiosqlite:///{folder / 'source.db'}",
                f"sqlite:///{folder / 'target.db'}",
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    import asyncpg  # type: ignore[import-untyped]

    base = make_url(server)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    names = [f"sg_bench_{uuid.uuid4().hex[:8]}_{n}" for n in ("source", "target")]

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    for name in names:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield tuple(  # type: ignore[misc]
            base.set(drivername="postgresql+asyncpg", database=n).render_as_string(
                hide_password=False
            )
            for n in names
        )
    finally:
        for name in names:
            asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _replicate(source: str, target: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "sharegraph.cli", "replicate", "--database", source,
        "--to", target, "--as", PRINCIPAL, "--json", *extra,
    ]  # fmt: skip


def _first_copy(source: str, target: str, page_size: int) -> dict[str, Any]:
    began = time.monotonic()
    process = subprocess.Popen(
        _replicate(source, target, "--page-size", str(page_size)),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    out = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the first copy failed (exit {os.waitstatus_to_exitcode(status)})")
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return {
        "rowsWritten": report["rowsWritten"],
        "pages": report["pages"],
        "passSeconds": report["seconds"],
        "processWallSeconds": round(wall, 1),
        "rowsPerSecond": report["rowsPerSecond"],
        "peakRssMb": round(usage.ru_maxrss / 1024, 1),  # kilobytes on Linux
    }


async def _update(db: Database, record_id: uuid.UUID, narrative: str) -> None:
    from sharegraph.datastore.enums import EventType
    from sharegraph.datastore.models import ContactRecord
    from sharegraph.datastore.outbox import record_events

    async with db.write_session() as session:
        row = await session.get(ContactRecord, record_id)
        assert row is not None
        row.narrative = narrative
        row.version += 1
        await session.flush()
        await record_events(session, [(row, EventType.UPDATED)], None)


async def _lag(
    source: str, target: str, seconds: float, per_second: float, records: int
) -> dict[str, Any]:
    from sharegraph.datastore.models import ContactRecord
    from sharegraph.demo.network import demo_id

    db = Database(source)
    reader = Target(target)
    child = await asyncio.create_subprocess_exec(
        *_replicate(source, target, "--follow"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    committed: dict[str, tuple[str, float]] = {}  # record id -> (narrative, commit time)
    seen: dict[str, float] = {}
    try:
        assert child.stdout is not None
        first = json.loads(await asyncio.wait_for(child.stdout.readline(), 120))
        async with db.read_session() as session:
            ids = list(
                (
                    await session.scalars(
                        select(ContactRecord.id)
                        .where(ContactRecord.tenant_id == demo_id("tenant", "prairie"))
                        .order_by(ContactRecord.id)
                        .limit(int(seconds * per_second))
                    )
                ).all()
            )
        writing = True

        async def poll() -> None:
            while writing or len(seen) < len(committed):
                pending = {i: n for i, (n, _) in committed.items() if i not in seen}
                if pending:
                    keys = sorted(pending)

                    def read(c: Any, k: list[str] = keys) -> list[Any]:
                        statement = text("SELECT id, narrative FROM contact_record WHERE id IN "
                                         f"({', '.join(repr(i) for i in k)})")  # fmt: skip
                        return list(c.execute(statement).all())

                    now_rows = await reader.run(read)
                    at = time.monotonic()
                    for record_id, narrative in now_rows:
                        if pending.get(record_id) == narrative:
                            seen[record_id] = at
                await asyncio.sleep(POLL_SECONDS)

        poller = asyncio.create_task(poll())
        began = time.monotonic()
        for index, record_id in enumerate(ids):
            due = began + index / per_second
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            narrative = f"lag probe {index}"
            await _update(db, record_id, narrative)
            committed[str(record_id)] = (narrative, time.monotonic())
        writing = False
        achieved = len(ids) / (time.monotonic() - began)
        await asyncio.wait_for(poller, 60)
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(child.wait(), 10)
            except TimeoutError:
                child.kill()
                await child.wait()
        await reader.dispose()
        await db.dispose()
    lags = sorted(seen[i] - at for i, (_, at) in committed.items())
    p99 = lags[min(len(lags) - 1, round(0.99 * (len(lags) - 1)))]
    return {
        "writes": len(lags),
        "writesPerSecondAchieved": round(achieved, 1),
        "firstFollowPass": first["mode"],
        "lagP50Seconds": round(statistics.median(lags), 3),
        "lagP99Seconds": round(p99, 3),
        "lagMaxSeconds": round(lags[-1], 3),
        "pollResolutionSeconds": POLL_SECONDS,
    }


def run(
    backend: str,
    records: int,
    page_size: int,
    lag_seconds: float,
    writes_per_second: float,
    server: str,
) -> dict[str, Any]:
    with _databases(backend, server) as (source, target):
        load_before = _load()

        async def prepare() -> float:
            db = Database(source)
            try:
                return await seed(db, records)
            finally:
                await db.dispose()

        print(f"seeding {records:,} contact records ({backend})", file=sys.stderr)
        seeded = asyncio.run(prepare())
        print("first copy in a child process", file=sys.stderr)
        first = _first_copy(source, target, page_size)
        load_copy = _load()
        lag: dict[str, Any] | None = None
        if lag_seconds > 0:
            print(f"lag: {writes_per_second:g} writes/s for {lag_seconds:g} s", file=sys.stderr)
            lag = asyncio.run(_lag(source, target, lag_seconds, writes_per_second, records))
        load_after = _load()
    return {
        "backend": f"{backend} -> {backend}",
        "records": records,
        "pageSize": page_size,
        "seedSeconds": round(seeded, 1),
        "firstCopy": first,
        "lag": lag,
        "floors": {
            "rowsPerSecond": FLOOR_ROWS_PER_SECOND,
            "peakRssMb": FLOOR_PEAK_RSS_MB,
            "lagP99Seconds": FLOOR_LAG_P99_SECONDS,
        },
        "machine": {"before": load_before, "afterCopy": load_copy, "after": load_after},
    }


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sharegraph.benchmarks.replication", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--lag-seconds", type=float, default=60.0, help="0: no lag run")
    parser.add_argument("--writes-per-second", type=float, default=20.0)
    parser.add_argument(
        "--server",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server to create the two databases on (--backend postgresql)",
    )
    parser.add_argument("--json", action="store_true", dest="as_json")
    args = parser.parse_args(argv)
    result = run(
        args.backend,
        args.records,
        args.page_size,
        args.lag_seconds,
        args.writes_per_second,
        args.server,
    )
    if args.as_json:
        print(json.dumps(result, indent=2))
        return
    first, floors = result["firstCopy"], result["floors"]
    print(f"{result['backend']}: first copy of {result['records']:,} seeded contact records "
          f"(+ the demo's, with clients, referrals, outcomes: {first['rowsWritten']:,} rows, "
          f"{first['pages']} pages of {result['pageSize']})")  # fmt: skip
    print(f"  {'figure':<28}{'measured':>12}  {'floor':>10}")
    rate, rss = first["rowsPerSecond"], first["peakRssMb"]
    print(f"  {'rows/s':<28}{rate:>12,.0f}  {'>= ' + str(floors['rowsPerSecond']):>10}"
          f"  {_verdict(rate >= floors['rowsPerSecond'])}")  # fmt: skip
    print(f"  {'peak RSS (MB)':<28}{rss:>12}  {'< ' + str(floors['peakRssMb']):>10}"
          f"  {_verdict(rss < floors['peakRssMb'])}")  # fmt: skip
    walls = f"{first['passSeconds']} / {first['processWallSeconds']}"
    print(f"  {'pass / process wall (s)':<28}{walls:>12}")
    lag = result["lag"]
    if lag:
        print(f"  lag of --follow, {lag['writes']} writes at {lag['writesPerSecondAchieved']}/s "
              f"(poll every {lag['pollResolutionSeconds']} s):")  # fmt: skip
        for name in ("lagP50Seconds", "lagP99Seconds", "lagMaxSeconds"):
            floor = f"< {floors['lagP99Seconds']}" if name == "lagP99Seconds" else ""
            verdict = _verdict(lag[name] < floors["lagP99Seconds"]) if floor else ""
            print(f"  {name:<28}{lag[name]:>12}  {floor:>10}  {verdict}")
    print(
        f"  machine: {result['machine']['before']} (before), {result['machine']['after']} (after)"
    )


if __name__ == "__main__":
    cli()
