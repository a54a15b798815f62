"""Export benchmark: seed many contact records fast, export them to CSV, report rows/s and the
exporting process's peak RSS (target: under 250 MB for 100,000 records).

    .venv/bin/python -m sharegraph.benchmarks.export                      # 100,000, SQLite
    .venv/bin/python -m sharegraph.benchmarks.export --records 20000 --json
    .venv/bin/python -m sharegraph.benchmarks.export --database postgresql+asyncpg://...

The demo network is seeded into a fresh database (by default a SQLite file under ``var/``,
removed afterwards unless ``--keep``), then the records are bulk inserted for Prairie 211 on its
standard call report (answers to every field, one coded need each), in multi-row INSERTs of
5,000. The export runs in a child process, as ``sharegraph export --what contact-records
--format csv`` does (owner plan, disclosure recorded), so its peak RSS (``wait4``) is the
export's alone: interpreter, imports and streaming.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from sharegraph import demo
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import Channel, FieldType, RiskLevel
from sharegraph.datastore.models import ContactRecord, ContactRecordNeed, FormField, TaxonomyTerm
from sharegraph.demo.network import FIELDS, demo_id
from sharegraph.settings import Settings

CHUNK = 5000
TARGET_MB = 250
TENANT = "prairie"
FORM = "prairie-standard"
_WORDS = [
    "caller", "needs", "help", "with", "rent", "utilities", "food", "pantry", "shelter",
    "tonight", "referred", "to", "community", "action", "program", "transportation", "medical",
    "bills", "prescription", "counseling", "follow", "up", "tomorrow",
]  # fmt: skip


def _answer(rng: random.Random, key: str, index: int) -> Any:
    _label, kind, _sensitivity, _required, options = FIELDS[key]
    if kind is FieldType.SINGLE_SELECT:
        return rng.choice(options or ["n/a"])
    if kind is FieldType.MULTI_SELECT:
        return rng.sample(options or ["n/a"], k=min(2, len(options or ["n/a"])))
    if kind is FieldType.NUMBER:
        return rng.randint(1, 7)
    if kind is FieldType.BOOLEAN:
        return rng.random() < 0.7
    if kind is FieldType.DATE:
        return (datetime(1950, 1, 1) + timedelta(days=rng.randint(0, 25_000))).date().isoformat()
    if key == "phone_number":
        return f"(515) 555-{index % 10_000:04d}"
    return " ".join(rng.choices(_WORDS, k=8 if kind is FieldType.TEXT else 30))


async def seed(db: Database, records: int) -> float:
    """The demo network plus ``records`` contact records; the seconds the records took."""
    await demo.seed(db, scale=1, demo_secret=Settings().demo_secret)
    tenant = demo_id("tenant", TENANT)
    version = demo_id("contact-form-version", f"{FORM}:1")
    async with db.read_session() as session:
        keys = list(
            (
                await session.scalars(
                    select(FormField.key).where(FormField.form_version_id == version)
                )
            ).all()
        )
        terms = list(
            (
                await session.scalars(
                    select(TaxonomyTerm.id).where(TaxonomyTerm.tenant_id == tenant)
                )
            ).all()
        )
    rng = random.Random(211)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    began = time.perf_counter()
    channels, risks = list(Channel), list(RiskLevel)
    for offset in range(0, records, CHUNK):
        rows, needs = [], []
        for index in range(offset, min(offset + CHUNK, records)):
            started = start + timedelta(minutes=7 * index)
            record_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            rows.append(
                {
                    "id": record_id,
                    "tenant_id": tenant,
                    "form_version_id": version,
                    "channel": rng.choice(channels),
                    "started_at": started,
                    "ended_at": started + timedelta(minutes=rng.randint(2, 40)),
                    "answers": {k: _answer(rng, k, index) for k in keys},
                    "narrative": " ".join(rng.choices(_WORDS, k=25)),
                    "risk_level": rng.choice(risks),
                    "caller_postal_code": f"51{rng.randint(100, 999)}",
                    "caller_county": "Osage County",
                    "version": 1,
                    "created_at": started,
                    "updated_at": started,
                }
            )
            if terms:
                needs.append(
                    {
                        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                        "tenant_id": tenant,
                        "contact_record_id": record_id,
                        "taxonomy_term_id": rng.choice(terms),
                        "position": 0,
                    }
                )
        async with db.write_session() as session:
            await session.execute(insert(ContactRecord), rows)
            if needs:
                await session.execute(insert(ContactRecordNeed), needs)
        print(f"  inserted {min(offset + CHUNK, records):,} records", file=sys.stderr)
    return time.perf_counter() - began


async def _export(database: str, output: str) -> dict[str, Any]:
    """The child's work: one owner export, timed from the first statement to the rename."""
    from sharegraph.authz.store import PolicyStore
    from sharegraph.exporters.contact_records import ExportFilter
    from sharegraph.exporters.run import ExportRequest, Format, What, owner_principal, run_export

    db = Database(database)
    try:
        tenant = demo_id("tenant", TENANT)
        began = time.perf_counter()
        store = PolicyStore(db)
        await store.reload()
        plan = store.plan_for(owner_principal(tenant, "Prairie 211"))
        request = ExportRequest(
            What.CONTACT_RECORDS,
            Format.CSV,
            Path(output),
            ExportFilter(tenant_ids=(tenant,)),
            purpose="benchmark",
        )
        result = await run_export(db, plan, request)
        return {"seconds": time.perf_counter() - began, "records": result.records}
    finally:
        await db.dispose()


def _child(database: str, output: str) -> dict[str, Any]:
    """Run the export in a child process; its JSON result plus its peak RSS in MB."""
    command = [sys.executable, "-m", "sharegraph.benchmarks.export", "--child", database, output]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    out = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"the export failed (exit {process.returncode})")
    result: dict[str, Any] = json.loads(out)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return result


def main(records: int, database: str | None, as_json: bool, keep: bool) -> dict[str, Any]:
    parent = "var" if Path("var").is_dir() else None
    workdir = Path(tempfile.mkdtemp(prefix="sharegraph-export-bench-", dir=parent))
    url = database or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    output = workdir / "contact-records.csv"

    async def prepare() -> float:
        db = Database(url)
        try:
            return await seed(db, records)
        finally:
            await db.dispose()

    print(f"seeding {records:,} contact records into {url}", file=sys.stderr)
    seed_seconds = asyncio.run(prepare())
    print("exporting to CSV in a child process", file=sys.stderr)
    child = _child(url, str(output))
    report = {
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        "records": child["records"],
        "seed_seconds": round(seed_seconds, 2),
        "export_seconds": round(child["seconds"], 2),
        "rows_per_second": round(child["records"] / child["seconds"]),
        "peak_rss_mb": round(child["peak_rss_mb"], 1),
        "target_mb": TARGET_MB,
        "within_target": child["peak_rss_mb"] < TARGET_MB,
        "csv_mb": round(output.stat().st_size / 1_048_576, 1),
    }
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{report['records']:,} contact records -> CSV ({report['csv_mb']} MB) in "
            f"{report['export_seconds']} s: {report['rows_per_second']:,} rows/s; "
            f"peak RSS {report['peak_rss_mb']} MB (target < {TARGET_MB} MB: "
            f"{'met' if report['within_target'] else 'MISSED'}); seeding took "
            f"{report['seed_seconds']} s"
        )
    if not keep:
        output.unlink(missing_ok=True)
        if database is None:
            for path in workdir.iterdir():
                path.unlink()
            workdir.rmdir()
    return report


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sharegraph.benchmarks.export",
        description="Seed contact records and export them to CSV: rows/s and peak RSS.",
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument(
        "--database", default=None, help="an empty database URL (default: a new SQLite file)"
    )
    parser.add_argument("--json", action="store_true", dest="as_json")
    parser.add_argument("--keep", action="store_true", help="keep the database and the CSV")
    parser.add_argument("--child", nargs=2, metavar=("DATABASE", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_export(*args.child))))
        return
    if args.records < 1:
        parser.error("--records must be at least 1")
    main(args.records, args.database, args.as_json, args.keep)


if __name__ == "__main__":
    cli()
