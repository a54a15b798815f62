"""Configured replication jobs (README, "Replication"): the scheduler of ``serve`` and
``sharegraph worker`` keeps each target of ``SHAREGRAPH_REPLICATION_TARGETS`` in sync, one
runner per target across processes, a long first copy spread over passes, and the target's
password never shown or logged."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sharegraph.datastore.engine import Database
from sharegraph.datastore.work import _lock_key
from sharegraph.exporters.replication.run import Replicator
from sharegraph.exporters.replication.target import Target, identity, redacted
from sharegraph.settings import (
    ReplicationSettings,
    ReplicationTarget,
    Settings,
    _replication_targets,
)
from sharegraph.worker import REPLICATION, scheduler_for

from .conftest import DatabaseFactory, make_api
from .test_replication import (
    ADMIN,
    STATUS_QUERY,
    _assert_target_is_what_a_query_gives,
    _target_rows,
    _target_url,
)

SECRET = "s3cret-pw"


def _with_password(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url  # a SQLite file has no password
    return parsed.set(password=SECRET).render_as_string(hide_password=False)


def _settings(db: Database, *targets: ReplicationTarget, **options: float) -> Settings:
    return Settings(
        database_url=db.url,
        audit_seal_interval_seconds=0,
        replication=ReplicationSettings(targets=targets, **options),  # type: ignore[arg-type]
    )


async def test_the_worker_keeps_a_configured_target_in_sync(
    seeded_db: Database,
    keys: dict[str, str],
    databases: DatabaseFactory,
    backend: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    url = _with_password(await _target_url(databases, backend, tmp_path))
    settings = _settings(seeded_db, ReplicationTarget(url, "prairie-admin", "all"))
    scheduler = scheduler_for(seeded_db, settings)
    first = (await scheduler.run_once()).kind(REPLICATION)
    assert first.ran and first.done == 1 and not first.failures and first.error is None
    update = (
        "mutation($input: UpdateContactRecordInput!) "
        "{ updateContactRecord(input: $input) { contactRecord { id } } }"
    )
    async for api in make_api(seeded_db, keys):
        await _assert_target_is_what_a_query_gives(api, url, "prairie-admin")
        listed = await api.data(
            "prairie-admin", "{ contactRecords(first: 1) { edges { node { id version } } } }"
        )
        node = listed["contactRecords"]["edges"][0]["node"]
        change = {"id": node["id"], "version": node["version"], "narrative": "kept in sync"}
        await api.data("prairie-admin", update, {"input": change})
        second = (await scheduler.run_once()).kind(REPLICATION)
        assert second.done == 1
        await _assert_target_is_what_a_query_gives(api, url, "prairie-admin")
        assert "kept in sync" in {r["narrative"] for r in (await _target_rows(url)).values()}
        status = (await api.data("prairie-admin", STATUS_QUERY))["replicationStatus"]
        assert {s["what"] for s in status} == {"contact-records", "resources"}
        assert status[0]["mode"] == "incremental" and status[0]["lagSeconds"] == 0
        for shown in status:
            assert SECRET not in shown["target"]
            if backend == "postgresql":
                assert "***" in shown["target"]
    assert SECRET not in caplog.text


async def test_a_long_first_copy_is_spread_over_passes_and_resumed_each_time(
    seeded_db: Database,
    keys: dict[str, str],
    databases: DatabaseFactory,
    backend: str,
    tmp_path: Path,
) -> None:
    url = await _target_url(databases, backend, tmp_path)
    # a budget of 0 s: every pass writes one page and stops there
    settings = _settings(
        seeded_db, ReplicationTarget(url, "prairie-admin"), pass_seconds=0, page_size=25
    )
    scheduler = scheduler_for(seeded_db, settings)
    for _ in range(3):
        assert (await scheduler.run_once()).kind(REPLICATION).done == 1
    assert len(await _target_rows(url)) == 75  # three passes, a page each
    target = Target(url)
    try:
        replicator = Replicator(seeded_db, target, ADMIN, page_size=25)
        while True:
            result = await replicator.contact_records(budget_seconds=0)
            assert result.full and result.pages <= 1  # 0: the last page had ended it
            if result.complete:
                break
        assert result.resumed_rows > 0
        again = await replicator.contact_records()
        assert not again.full
    finally:
        await target.dispose()
    async for api in make_api(seeded_db, keys):
        await _assert_target_is_what_a_query_gives(api, url, "prairie-admin")


def _hold_elsewhere_sqlite(db: Database, url: str) -> int:
    """Hold the target's lock as another process would: flock on the file beside the database."""
    name = f"replication:{identity(url)}"
    path = f"{make_url(db.url).database}.lock-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise
    return descriptor


async def _free_elsewhere(db: Database, url: str) -> bool:
    """Whether another process could take the target's lock now (taken and let go at once)."""
    name = f"replication:{identity(url)}"
    if db.dialect == "postgresql":
        import asyncpg  # type: ignore[import-untyped]

        source = make_url(db.url).set(drivername="postgresql")
        other = await asyncpg.connect(source.render_as_string(hide_password=False))
        try:
            return bool(await other.fetchval("SELECT pg_try_advisory_lock($1)", _lock_key(name)))
        finally:
            await other.close()
    try:
        os.close(_hold_elsewhere_sqlite(db, url))
    except BlockingIOError:
        return False
    return True


async def test_one_runner_per_target_across_processes(
    seeded_db: Database, databases: DatabaseFactory, backend: str, tmp_path: Path
) -> None:
    import asyncpg  # type: ignore[import-untyped]

    url = await _target_url(databases, backend, tmp_path)
    settings = _settings(seeded_db, ReplicationTarget(url, "prairie-admin"))
    scheduler = scheduler_for(seeded_db, settings)
    name = f"replication:{identity(url)}"
    other = None
    descriptor = None
    if backend == "postgresql":  # another process's session holds the advisory lock
        source = make_url(seeded_db.url).set(drivername="postgresql")
        other = await asyncpg.connect(source.render_as_string(hide_password=False))
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", _lock_key(name))
    else:
        descriptor = _hold_elsewhere_sqlite(seeded_db, url)
    try:
        busy = (await scheduler.run_once()).kind(REPLICATION)
        assert busy.done == 0 and not busy.failures and busy.error is None  # left to the other
        with pytest.raises(Exception):  # noqa: B017 - nothing written, not even the schema
            await _target_rows(url)
    finally:
        if other is not None:
            await other.close()  # a process that dies releases it the same way
        if descriptor is not None:
            os.close(descriptor)
    freed = (await scheduler.run_once()).kind(REPLICATION)
    assert freed.done == 1 and await _target_rows(url)


@pytest.mark.sqlite_only
def test_replicate_refuses_a_target_another_process_is_running(
    seeded_db: Database, tmp_path: Path, backend: str
) -> None:
    from typer.testing import CliRunner

    from sharegraph.cli.main import app

    if backend != "sqlite":
        pytest.skip("the CLI is the same on both backends")
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    descriptor = _hold_elsewhere_sqlite(seeded_db, url)
    try:
        args = ["replicate", "--database", seeded_db.url, "--to", url, "--as", "prairie-admin"]
        refused = CliRunner().invoke(app, args)
    finally:
        os.close(descriptor)
    assert refused.exit_code == 1, refused.output
    assert "another process is replicating" in refused.output


@pytest.mark.sqlite_only
def test_replicate_reports_a_target_that_refuses_writes_in_one_line(
    seeded_db: Database, tmp_path: Path, backend: str
) -> None:
    """No traceback (hundreds of lines, the failing statement with it): one line, exit 1."""
    import sqlite3

    from typer.testing import CliRunner

    from sharegraph.cli.main import app

    if backend != "sqlite":
        pytest.skip("the CLI is the same on both backends")
    path = tmp_path / "other-shape.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE contact_record (id VARCHAR(36) PRIMARY KEY)")
    args = ["replicate", "--database", seeded_db.url, "--to", f"sqlite:///{path}"]
    failed = CliRunner().invoke(app, [*args, "--as", "prairie-admin"])
    assert failed.exit_code == 1, failed.output
    assert failed.output.strip().splitlines() == [
        "error: the database refused the replication: "
        "table contact_record has no column named tenant"
    ]


async def test_a_failing_target_is_reported_without_its_password_and_others_still_run(
    seeded_db: Database,
    databases: DatabaseFactory,
    backend: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    good = await _target_url(databases, backend, tmp_path)
    dead = f"postgresql+asyncpg://postgres:{SECRET}@127.0.0.1:1/nowhere?sslpassword={SECRET}"
    settings = _settings(
        seeded_db,
        ReplicationTarget(dead, "prairie-admin"),
        ReplicationTarget(good, "prairie-admin"),
    )
    report = (await scheduler_for(seeded_db, settings).run_once()).kind(REPLICATION)
    assert report.done == 1 and len(report.failures) == 1
    failure = report.failures[0]
    assert "127.0.0.1:1" in failure.item and "TARGET_UNREACHABLE" not in failure.item
    assert SECRET not in failure.item and SECRET not in failure.error
    assert SECRET not in caplog.text
    assert await _target_rows(good)
    assert SECRET not in repr(settings)


def test_targets_are_configured_as_json_inline_or_in_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = "SHAREGRAPH_REPLICATION_TARGETS"
    listed = (
        f'[{{"to": "postgresql+asyncpg://u:{SECRET}@db/warehouse", "as": "prairie-api", '
        '"what": "all"}, {"to": "sqlite:///county.db", "as": "eastside-portal"}]'
    )
    monkeypatch.setenv(name, listed)
    targets = Settings.from_env().replication.targets
    assert [(t.principal, t.what) for t in targets] == [
        ("prairie-api", "all"),
        ("eastside-portal", "contact-records"),
    ]
    assert SECRET not in repr(Settings.from_env())
    file = tmp_path / "targets.json"
    file.write_text(listed)
    monkeypatch.setenv(name, str(file))
    assert _replication_targets(name) == targets
    for bad, says in [
        ('[{"to": "x"}]', '"to" and "as"'),
        (f'[{{"to": "postgresql://u:{SECRET}@h/d", "as": "p", "what": "everything"}}]', "what"),
        (f'[{{"to": "postgresql://u:{SECRET}@h/d", "as": "p", "extra": 1}}]', "unknown keys"),
        (f'[{{"to": "postgresql://u:{SECRET}@h/d", "as": "p",', "not a JSON list"),
        (str(tmp_path / "missing.json"), "cannot read"),
    ]:
        monkeypatch.setenv(name, bad)
        with pytest.raises(SystemExit) as refused:
            _replication_targets(name)
        assert says in str(refused.value) and SECRET not in str(refused.value)


def test_target_urls_are_shown_with_every_secret_hidden() -> None:
    shown = redacted(f"postgresql+psycopg://u:{SECRET}@h:5432/d?sslpassword={SECRET}&sslmode=x")
    assert SECRET not in shown and "u:***@h:5432/d" in shown and "sslmode=x" in shown
    assert redacted("not a url") == "<unparseable URL>"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+asyncpg://u:pw@{SECRET}@h:5432/d",  # an unencoded @: the rest looks like a host
        f"postgresql+asyncpg://u:pw%40{SECRET}%2F%3A@h:5432/d",
        f"postgresql+asyncpg://h/d?user=u&password={SECRET}",
        f"mssql+pyodbc:///?odbc_connect=DRIVER%3Dx%3BSERVER%3Dh%3BUID%3Du%3BPWD%3D{SECRET}",
        f"postgresql+asyncpg://u:{SECRET}@h:notaport/d",
    ],
)
def test_no_part_of_a_password_is_shown_however_the_url_is_written(url: str) -> None:
    from sharegraph.errors import BadUserInput

    assert SECRET not in redacted(url) and SECRET not in identity(url)
    try:
        target = Target(url)
    except BadUserInput as refused:
        assert SECRET not in str(refused)
    else:
        assert SECRET not in target.display and SECRET not in repr(target.__dict__)


async def test_the_runner_lock_is_the_target_database_not_its_url(
    seeded_db: Database, tmp_path: Path
) -> None:
    """Two URLs for one database (another driver) take turns; two databases on one server
    (here: two files in one folder) never wait for each other."""
    from sharegraph.exporters.replication.job import one_runner

    assert identity("postgresql+asyncpg://u:x@DB.example:5432/a?ssl=require") == identity(
        "postgresql://v@db.example/a"
    )
    assert identity("postgresql://db.example/a") != identity("postgresql://db.example/b")
    one = Target(f"sqlite:///{tmp_path / 'one.db'}")
    same = Target(f"sqlite+pysqlite:///{tmp_path / 'one.db'}")
    other = Target(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        async with one_runner(seeded_db, one) as held:
            assert held
            async with one_runner(seeded_db, same) as again:
                assert not again
            async with one_runner(seeded_db, other) as beside:
                assert beside
        async with one_runner(seeded_db, same) as freed:
            assert freed
    finally:
        for target in (one, same, other):
            await target.dispose()


async def test_the_target_schema_moves_from_version_1(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    target = Target(url)
    try:
        await target.prepare()
        await target.run(lambda c: c.execute(text("DROP TABLE sg_replication_progress")))
        await target.run(lambda c: c.execute(text("UPDATE sg_replication_schema SET version = 1")))
        await target.prepare()
        version = await target.run(
            lambda c: c.scalar(text("SELECT version FROM sg_replication_schema"))
        )
        assert version == 2
        await target.run(lambda c: c.execute(text("SELECT * FROM sg_replication_progress")))
    finally:
        await target.dispose()


@pytest.mark.sqlite_only
def test_sharegraph_worker_runs_the_targets_of_the_environment(
    seeded_db: Database, tmp_path: Path, backend: str
) -> None:
    import asyncio
    import json

    from typer.testing import CliRunner

    from sharegraph.cli.main import app

    if backend != "sqlite":
        pytest.skip("the CLI is the same on both backends")
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    targets = json.dumps([{"to": url, "as": "eastside-portal", "what": "all"}])
    result = CliRunner().invoke(
        app,
        ["worker", "--once", "--json", "--database", seeded_db.url],
        env={"SHAREGRAPH_REPLICATION_TARGETS": targets, "SHAREGRAPH_AUDIT_SEAL_INTERVAL": "0"},
    )
    assert result.exit_code == 0, result.output
    kind = json.loads(result.stdout)["kinds"][REPLICATION]
    assert kind["ran"] and kind["done"] == 1 and kind["failed"] == 0
    assert asyncio.run(_target_rows(url))


async def test_a_killed_worker_frees_its_target_for_another_which_finishes_the_copy(
    seeded_db: Database,
    keys: dict[str, str],
    databases: DatabaseFactory,
    backend: str,
    tmp_path: Path,
) -> None:
    import asyncio
    import json
    import signal
    import sys
    import time

    url = await _target_url(databases, backend, tmp_path)
    env = {
        **os.environ,
        "SHAREGRAPH_REPLICATION_TARGETS": json.dumps([{"to": url, "as": "prairie-admin"}]),
        "SHAREGRAPH_AUDIT_SEAL_INTERVAL": "0",
        "SHAREGRAPH_REPLICATION_PASS_SECONDS": "600",
    }
    worker = [sys.executable, "-m", "sharegraph.cli", "worker", "--database", seeded_db.url]

    async def once() -> dict[str, object]:
        child = await asyncio.create_subprocess_exec(
            *worker, "--once", "--json", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await child.communicate()
        kinds: dict[str, dict[str, object]] = json.loads(out)["kinds"]
        return kinds[REPLICATION]

    slow = await asyncio.create_subprocess_exec(
        *worker, env={**env, "SHAREGRAPH_REPLICATION_PAGE_SIZE": "2"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        copied = 0
        while time.monotonic() < deadline and copied < 20:
            try:
                copied = len(await _target_rows(url))
            except Exception:  # not created yet, or locked by the writer
                copied = 0
            await asyncio.sleep(0.05)
        assert copied >= 20, "the first worker wrote nothing"
        assert not await _free_elsewhere(seeded_db, url)  # the first worker holds the target
        slow.send_signal(signal.SIGKILL)
        await slow.wait()
    finally:
        if slow.returncode is None:
            slow.kill()
            await slow.wait()
    target = Target(url)
    try:
        under_way = await target.run(
            lambda c: c.scalar(text("SELECT count(*) FROM sg_replication_progress"))
        )
    finally:
        await target.dispose()
    assert under_way == 1  # killed mid-copy
    assert await _free_elsewhere(seeded_db, url)  # the lock died with the process
    finished = await once()  # another worker takes the target over; the copy goes on
    assert finished["done"] == 1 and finished["failed"] == 0
    async for api in make_api(seeded_db, keys):
        await _assert_target_is_what_a_query_gives(api, url, "prairie-admin")
    target = Target(url)
    try:
        left = await target.run(
            lambda c: c.scalar(text("SELECT count(*) FROM sg_replication_progress"))
        )
    finally:
        await target.dispose()
    assert left == 0  # the copy ended: its progress row is gone, the checkpoint written
