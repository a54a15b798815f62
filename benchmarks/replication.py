"""Replication benchmark: a first copy of many contact records into a SQLite target, as the
tenant admin; rows/s of the full pass, and of an incremental pass after a burst of 1,000
updates (with how far behind the target was when it began).

    .venv/bin/python -m sharegraph.benchmarks.replication --records 20000
    .venv/bin/python -m sharegraph.benchmarks.replication --records 100000 --json

The source is seeded as for the export benchmark (``benchmarks/export.py``) into a fresh SQLite
database under a temporary folder, removed afterwards. Figures on a shared, loaded machine
are a floor, not a capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from sharegraph.benchmarks.export import seed
from sharegraph.datastore.engine import Database
from sharegraph.demo.network import demo_id
from sharegraph.exporters.replication.run import Replicator
from sharegraph.exporters.replication.target import Target


async def _updates(db: Database, count: int) -> None:
    """``count`` contact records changed, each with its outbox event, as a write path does."""
    from sqlalchemy import select

    from sharegraph.datastore.enums import EventType
    from sharegraph.datastore.models import ContactRecord
    from sharegraph.datastore.outbox import record_events

    async with db.write_session() as session:
        rows = (await session.scalars(select(ContactRecord).limit(count))).all()
        for row in rows:
            row.narrative = f"updated {row.id}"
            row.version += 1
        await session.flush()
        await record_events(session, [(r, EventType.UPDATED) for r in rows], None)


async def run(records: int, page_size: int, updates: int = 1000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sg-replication-") as folder:
        db = Database(f"sqlite+aiosqlite:///{Path(folder) / 'source.db'}")
        target = Target(f"sqlite:///{Path(folder) / 'target.db'}")
        try:
            seconds_seeding = await seed(db, records)
            replicator = Replicator(
                db, target, demo_id("principal", "prairie-admin"), page_size=page_size
            )
            began = time.monotonic()
            first = await replicator.contact_records()
            wall = time.monotonic() - began
            again = await replicator.contact_records()
            await _updates(db, updates)
            burst = await replicator.contact_records()
        finally:
            await target.dispose()
            await db.dispose()
    return {
        "records": records,
        "seedSeconds": round(seconds_seeding, 1),
        "firstCopy": first.document(),
        "firstCopyWallSeconds": round(wall, 2),
        "firstCopyRowsPerSecond": round(first.rows_written / wall, 1),
        "rerun": again.document(),
        "afterUpdates": {"updates": updates, **burst.document()},
        "note": "2 shared cores, 8 engineers: a loaded machine, figures are a floor",
    }


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--json", action="store_true", dest="as_json")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.records, args.page_size))
    if args.as_json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"first copy of {result['records']} contact records: "
            f"{result['firstCopyRowsPerSecond']} rows/s "
            f"({result['firstCopyWallSeconds']} s, SQLite -> SQLite; {result['note']})"
        )
        after = result["afterUpdates"]
        print(
            f"{after['updates']} updates: an incremental pass of {after['events']} events, "
            f"{after['rowsPerSecond']} rows/s, target {after['lagSeconds']} s behind at its start"
        )


if __name__ == "__main__":
    cli()
