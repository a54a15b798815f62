"""Replication benchmark: a first copy of many contact records into a SQLite target, as the
tenant admin; rows/s of the full pass and of an incremental pass after a burst of updates.

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


async def run(records: int, page_size: int) -> dict[str, Any]:
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


if __name__ == "__main__":
    cli()
