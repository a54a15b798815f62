"""The `sharegraph` command, as a newcomer runs it."""

from __future__ import annotations

import asyncio
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
        assert set(p) == {"name", "tenant", "organization", "role", "apiKey"}
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
        process.wait(timeout=30)


def test_db_upgrade_and_demo_seed_on_a_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    result = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert result.exit_code == 0, result.output
    assert "revision" in result.output
    result = runner.invoke(app, ["demo", "seed", "--database", url])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["demo", "seed", "--database", url])
    assert result.exit_code == 0 and "nothing seeded" in result.output


def test_bad_database_urls_get_a_clear_error() -> None:
    result = runner.invoke(app, ["db", "upgrade", "--database", "mysql://nope"])
    assert result.exit_code == 1
    assert "unsupported database" in result.output


@pytest.mark.parametrize("scale", ["0", "abc"])
def test_bad_options_exit_with_usage_errors(scale: str) -> None:
    result = runner.invoke(app, ["demo", "seed", "--scale", scale])
    assert result.exit_code == 2
