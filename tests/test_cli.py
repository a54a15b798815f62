"""The `sharegraph` command, as a newcomer runs it."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sharegraph.cli.main import app
from sharegraph.datastore.engine import Database

from .conftest import Api

runner = CliRunner()
SHAREGRAPH = [sys.executable, "-m", "sharegraph.cli"]


def test_every_command_has_help() -> None:
    for args in (
        [],
        ["serve"],
        ["db"],
        ["db", "upgrade"],
        ["demo"],
        ["demo", "seed"],
        ["demo", "principals"],
        ["user"],
        ["user", "password"],
        ["bench"],
    ):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output


def test_demo_principals_json() -> None:
    result = runner.invoke(app, ["demo", "principals", "--json"])
    assert result.exit_code == 0
    principals = json.loads(result.output)
    assert {p["role"] for p in principals} == {
        "tenant-admin",
        "call-taker",
        "api-client",
        "portal-user",
    }
    for p in principals:
        assert set(p) == {"id", "name", "tenant", "organization", "role", "apiKey"}
        assert (p["tenant"] is None) != (p["organization"] is None)
        assert (p["role"] == "portal-user") == (p["organization"] is not None)
    again = json.loads(runner.invoke(app, ["demo", "principals", "--json"]).output)
    assert again == principals


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(url: str, *extra: str) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*SHAREGRAPH, "serve", "--database", url, "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    return process, port


def _wait_healthy(process: subprocess.Popen[str], port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"serve exited early: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("serve did not become healthy")


@pytest.mark.multiprocess
async def test_serve_refuses_an_unmigrated_database(empty_db: Database) -> None:
    process, _ = _serve(empty_db.url)
    output, _ = await asyncio.to_thread(process.communicate, timeout=60)
    assert process.returncode != 0
    assert "sharegraph db upgrade" in output
    assert "Traceback" not in output


@pytest.mark.multiprocess
async def test_serve_demo_seeds_and_answers_over_http(empty_db: Database) -> None:
    process, port = _serve(empty_db.url, "--demo")
    try:
        await asyncio.to_thread(_wait_healthy, process, port)
        keys = {
            p["name"]: p["apiKey"]
            for p in json.loads(runner.invoke(app, ["demo", "principals", "--json"]).output)
        }
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(
                f"http://127.0.0.1:{port}/graphql",
                json={
                    "query": "{ viewer { name tenant { name } } services(first: 1) { totalCount } }"
                },
                headers={"Authorization": f"Bearer {keys['prairie-admin']}"},
            )
        body = response.json()
        assert body["data"]["viewer"] == {
            "name": "prairie-admin",
            "tenant": {"name": "Prairie 211"},
        }
        assert body["data"]["services"]["totalCount"] > 0
    finally:
        process.terminate()
        output, _ = await asyncio.to_thread(process.communicate, timeout=30)
    # Start-up says where things are, without dependencies' warnings or Casbin's model.
    assert f"GraphiQL: open http://127.0.0.1:{port}/graphql" in output
    # A new user learns where the portal is and how to sign in to it.
    assert f"provider portal: http://127.0.0.1:{port}/portal" in output
    assert "sharegraph user password eastside-portal" in output
    assert "Warning" not in output and "casbin" not in output.lower(), output


def test_db_upgrade_and_demo_seed_on_a_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    result = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert result.exit_code == 0, result.output
    assert "revision" in result.output
    result = runner.invoke(app, ["demo", "seed", "--database", url])
    assert result.exit_code == 0, result.output
    assert "SeedResult" not in result.output and "created=" not in result.output
    assert "seeded the demo network in" in result.output
    assert "3 tenants" in result.output and " contact records" in result.output
    result = runner.invoke(app, ["demo", "seed", "--database", url])
    assert result.exit_code == 0 and "nothing seeded" in result.output
    result = runner.invoke(app, ["demo", "seed", "--database", url, "--json"])
    assert result.exit_code == 0
    counts = json.loads(result.stdout)
    assert counts["created"] is False and counts["tenants"] == 3 and counts["contact_records"] > 0


def test_bad_database_urls_get_a_clear_error() -> None:
    result = runner.invoke(app, ["db", "upgrade", "--database", "mysql://nope"])
    assert result.exit_code == 1
    assert "unsupported database" in result.output


@pytest.mark.parametrize("scale", ["0", "abc"])
def test_bad_options_exit_with_usage_errors(scale: str) -> None:
    result = runner.invoke(app, ["demo", "seed", "--scale", scale])
    assert result.exit_code == 2


def test_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"sharegraph {version('sharegraph')}"


def test_demo_principals_has_a_header() -> None:
    lines = runner.invoke(app, ["demo", "principals"]).output.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "HOME", "API", "KEY"]
    assert lines[1].startswith("prairie-admin ")


async def test_demo_principal_ids_are_the_principals_global_ids(api: Api) -> None:
    listed = json.loads(
        (await asyncio.to_thread(runner.invoke, app, ["demo", "principals", "--json"])).output
    )
    ids = {p["name"]: p["id"] for p in listed}
    data = await api.data("prairie-admin", "{ viewer { tenant { name } } }")
    assert data["viewer"]["tenant"]["name"] == "Prairie 211"
    for name in ("prairie-admin", "prairie-call-taker", "prairie-api"):
        found = await api.data(
            "prairie-admin", "query($id: ID!) { principal(id: $id) { id name } }", {"id": ids[name]}
        )
        assert found["principal"] == {"id": ids[name], "name": name}
    # explainAccess takes the same id.
    explained = await api.gql(
        "prairie-admin",
        'query($id: ID!) { explainAccess(principalId: $id, coordinate: "Client.phone") { allowed } }',
        {"id": ids["prairie-call-taker"]},
    )
    assert "errors" not in explained, explained


def test_chatty_loggers_are_quiet_unless_verbose() -> None:
    import logging

    # Levels, not isEnabledFor: every Enforcer casbin builds flags its loggers disabled again.
    policy = logging.getLogger("casbin.policy")
    migration = logging.getLogger("alembic.runtime.migration")
    assert runner.invoke(app, ["demo", "principals"]).exit_code == 0
    assert policy.getEffectiveLevel() > logging.INFO
    assert migration.getEffectiveLevel() > logging.INFO
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.INFO)
        assert runner.invoke(app, ["--verbose", "demo", "principals"]).exit_code == 0
        assert policy.getEffectiveLevel() <= logging.INFO
    finally:
        root.setLevel(level)
        runner.invoke(app, ["demo", "principals"])


@pytest.mark.multiprocess
def test_no_dependency_warnings_on_start(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/quiet.db"
    assert runner.invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    quiet = subprocess.run(
        [*SHAREGRAPH, "worker", "--once", "--database", url],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert quiet.returncode == 0, quiet.stderr
    assert "Warning" not in quiet.stderr, quiet.stderr
    loud = subprocess.run(
        [sys.executable, "-W", "default", "-m", "sharegraph.cli", "worker", "--once",
         "--database", url],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert "CryptographyDeprecationWarning" in loud.stderr


async def test_a_missing_import_path_is_a_usage_error(migrated_db: Database) -> None:
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["import", "/no/such/dir.json", "--tenant", "x", "--database", migrated_db.url],
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output and "Traceback" not in result.output


async def test_a_failed_import_names_the_given_source(seeded_db: Database, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    args = ["import", str(broken), "--tenant", "Prairie 211", "--database", seeded_db.url]
    result = await asyncio.to_thread(runner.invoke, app, [*args, "--source", "pantry-feed"])
    assert result.exit_code == 1
    assert "source 'pantry-feed'" in result.stdout and "None" not in result.stdout
    result = await asyncio.to_thread(runner.invoke, app, args)
    assert result.exit_code == 1 and "source None" not in result.stdout


async def test_export_errors_name_the_output_not_a_temporary_file(
    seeded_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "services.ndjson"
    real_open = Path.open

    def refuse_partial(self: Path, *args: object, **kwargs: object) -> object:
        if self.name.endswith(".partial"):
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", refuse_partial)
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["export", "--what", "resources", "--format", "ndjson", "--tenant", "Prairie 211",
         "--output", str(output), "--database", seeded_db.url],
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"cannot write {output}: Permission denied" in result.stderr
    assert ".partial" not in result.output and not output.exists()
    assert not os.listdir(tmp_path)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from sharegraph.cli.progress import progress_bar

    for stream, enabled, shown in (
        (_Terminal(), True, True),
        (_Terminal(), False, False),  # --json
        (io.StringIO(), True, False),  # a pipe or a log
    ):
        monkeypatch.setattr(sys, "stderr", stream)
        with progress_bar("seeding", unit="rows", enabled=enabled) as advance:
            advance(5, 10)
            advance(5)
        assert ("seeding" in stream.getvalue()) is shown


async def test_seed_and_export_report_progress(empty_db: Database, tmp_path: Path) -> None:
    from sharegraph import demo
    from sharegraph.authz.store import PolicyStore
    from sharegraph.exporters.run import (
        ExportFilter,
        ExportRequest,
        Format,
        What,
        owner_principal,
        run_export,
    )

    seen: list[tuple[int, int]] = []
    result = await demo.seed(
        empty_db, demo_secret="s", progress=lambda n, total: seen.append((n, total))
    )
    total = seen[0][1]
    assert {t for _, t in seen} == {total} and sum(n for n, _ in seen) == total
    assert total >= result.contact_records + result.referrals + result.clients

    prairie = demo.demo_id("tenant", "prairie")
    store = PolicyStore(empty_db)
    await store.reload()
    plan = store.plan_for(owner_principal(prairie, "Prairie 211"))
    counted: list[int] = []
    exported = await run_export(
        empty_db,
        plan,
        ExportRequest(
            what=What.CONTACT_RECORDS,
            format=Format.NDJSON,
            output=tmp_path / "records.ndjson",
            filter=ExportFilter(tenant_ids=(prairie,)),
        ),
        counted.append,
    )
    assert sum(counted) == exported.records > 0


async def test_bench_listens_on_the_port_given(migrated_db: Database) -> None:
    from sharegraph.benchmarks.run import serve as bench_serve
    from sharegraph.settings import Settings

    assert "--port" in runner.invoke(app, ["bench", "--help"]).output
    port = _free_port()
    settings = Settings(database_url=migrated_db.url, scheduler=False)
    async with bench_serve(migrated_db, settings, port) as url:
        assert url == f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/healthz")).json() == {"status": "ok"}
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            async with bench_serve(migrated_db, settings, port):
                pass


_FAKE_PYTHON = """#!/usr/bin/env bash
here="$(cd "$(dirname "$0")/../.." && pwd)"
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "pip ${*:3}" >> "$here/calls"; exit 0; fi
if [ "$1" = "-" ]; then cat > /dev/null; cat "$here/installed"; exit 0; fi
exit 1
"""


def test_scripts_demo_installs_only_when_something_changed(tmp_path: Path) -> None:
    """A second `scripts/demo` goes straight to `serve` (no pip): same checkout, same version,
    same pyproject.toml. A fresh .venv, a new version or changed dependencies install again."""
    repo = Path(__file__).resolve().parent.parent
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "demo"
    script.write_text((repo / "scripts" / "demo").read_text())
    script.chmod(0o755)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text((repo / "pyproject.toml").read_text())
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(_FAKE_PYTHON)
    (bin_dir / "sharegraph").write_text('#!/usr/bin/env bash\necho "sharegraph $*"\n')
    for tool in ("python", "sharegraph"):
        (bin_dir / tool).chmod(0o755)
    from importlib.metadata import version

    installed = tmp_path / "installed"
    installed.write_text(f"{version('sharegraph')} {tmp_path.resolve()}/sharegraph\n")
    calls = tmp_path / "calls"

    def start() -> list[str]:
        calls.unlink(missing_ok=True)
        result = subprocess.run(
            [str(script), "--port", "9"], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "sharegraph serve --demo --port 9"
        return calls.read_text().splitlines() if calls.exists() else []

    assert "pip install --quiet -e ." in start()  # the first start installs
    assert start() == []  # the second does not
    pyproject.write_text(pyproject.read_text() + "\n# a new dependency\n")
    assert "pip install --quiet -e ." in start()
    assert start() == []
    installed.write_text(f"0.0.0 {tmp_path.resolve()}/sharegraph\n")  # another version
    assert "pip install --quiet -e ." in start()
    installed.write_text("")  # not installed at all
    assert "pip install --quiet -e ." in start()


def test_the_portals_in_process_graphql_calls_are_not_logged_per_page() -> None:
    # Every portal page posts to /graphql through httpx, which logged each at INFO.
    import logging

    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.INFO)  # as `serve` sets it
    try:
        assert runner.invoke(app, ["demo", "principals", "--json"]).exit_code == 0
        assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
    finally:
        root.setLevel(before)
