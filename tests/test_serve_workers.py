"""`sharegraph serve --workers N`: several processes on one PostgreSQL behave as one gateway.

A policy change made through one worker process is applied by the others (LISTEN/NOTIFY in
``authz/store.py``), and due work runs once however many schedulers race for it
(``worker/runner.py``). On SQLite the option is refused as a usage error.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from sharegraph.cli.main import app
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import CapacityChange, ServiceCapacity
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .conftest import DatabaseFactory, require_postgres

SHAREGRAPH = [sys.executable, "-m", "sharegraph.cli"]
EASTSIDE_BOXES = demo_id("service-capacity", "eastside-boxes")
REFERRALS_TO_EASTSIDE = demo_id(
    "sharing-agreement", "Referrals to eastside" + str(demo_id("tenant", "prairie"))
)
PANTRY_RECORDS = "{ contactRecords(first: 1) { totalCount } }"
HEAD_TIMEOUT = 5
REVOKE = "mutation($id: ID!) { revokeSharingAgreement(id: $id) { agreement { revokedAt } } }"
SCHEDULE = """
mutation($input: ScheduleCapacityInput!) {
  scheduleCapacity(input: $input) { scheduledChange { id } }
}
"""


def test_several_workers_on_sqlite_are_a_usage_error(tmp_path: Any) -> None:
    result = CliRunner().invoke(
        app,
        ["serve", "--workers", "2", "--database", f"sqlite+aiosqlite:///{tmp_path}/x.db"],
    )
    assert result.exit_code == 2
    assert "PostgreSQL" in result.output and "Traceback" not in result.output


# -- two worker processes on PostgreSQL ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def postgres() -> None:
    require_postgres()  # before any event loop runs: it probes the server with asyncio.run


@pytest.fixture
async def pg_demo(postgres: None, databases: DatabaseFactory) -> AsyncIterator[Database]:
    db = await databases.copy("postgresql", "demo")
    yield db
    await db.dispose()


@pytest.fixture
def served(pg_demo: Database) -> Iterator[tuple[int, int]]:
    """`serve --workers 2` on the demo network: (port, parent pid)."""
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SHAREGRAPH_SCHEDULER_POLL": "0.2",
        "SHAREGRAPH_MAX_CONCURRENT_PER_PRINCIPAL": "0",
        # As long as uvicorn's keep-alive (5 s): idle keep-alive connections close when they did.
        "SHAREGRAPH_REQUEST_HEAD_TIMEOUT": str(HEAD_TIMEOUT),
    }
    process = subprocess.Popen(
        [*SHAREGRAPH, "serve", "--workers", "2", "--database", pg_demo.url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        _wait_for_workers(process, port)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)


def _wait_for_workers(process: subprocess.Popen[str], port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"serve exited early: {output}")
        if len(_children(process.pid)) >= 2:
            try:
                if _request(_connect(port), "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
        time.sleep(0.3)
    raise AssertionError("serve --workers 2 did not become healthy")


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _connect(port: int) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.connect()
    return connection


def _request(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    key: str | None = None,
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    connection.request(method, path, json.dumps(body) if body else None, headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


def _serving_process(parent: int, connection: http.client.HTTPConnection) -> int | None:
    """The worker process holding the server end of ``connection`` (from /proc)."""
    client_port = connection.sock.getsockname()[1]
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                parts = line.split()
                if int(parts[2].rsplit(":", 1)[1], 16) == client_port:
                    inode = parts[9]
    if inode is None:
        return None
    for pid in _children(parent):
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if f"socket:[{inode}]" in links:
            return pid
    return None


def _one_connection_per_worker(port: int, parent: int) -> list[http.client.HTTPConnection]:
    """Keep-alive connections until two are served by different worker processes."""
    by_process: dict[int, http.client.HTTPConnection] = {}
    for _ in range(60):
        for kept in by_process.values():  # within uvicorn's 5 s keep-alive, on a loaded machine
            _request(kept, "GET", "/healthz")
        connection = _connect(port)
        _request(connection, "GET", "/healthz")  # accepted and answered: the socket is a worker's
        pid = _serving_process(parent, connection)
        if pid is not None and pid not in by_process:
            by_process[pid] = connection
        else:
            connection.close()
        if len(by_process) == 2:
            return list(by_process.values())
    raise AssertionError(f"connections reached only workers {list(by_process)}")


def _graphql(
    connection: http.client.HTTPConnection, key: str, query: str, variables: Any = None
) -> dict[str, Any]:
    status, body = _request(
        connection, "POST", "/graphql", {"query": query, "variables": variables or {}}, key
    )
    assert status == 200 and "errors" not in body, body
    return dict(body["data"])


@pytest.mark.multiprocess
async def test_a_policy_change_through_one_worker_reaches_the_other(
    served: tuple[int, int], keys: dict[str, str]
) -> None:
    port, parent = served
    first, second = _one_connection_per_worker(port, parent)
    pantry = keys["eastside-portal"]
    # Both workers have compiled the pantry's plan with the agreement in it.
    for connection in (first, second):
        assert _graphql(connection, pantry, PANTRY_RECORDS)["contactRecords"]["totalCount"] > 0

    revoked = _graphql(
        first,
        keys["prairie-admin"],
        REVOKE,
        {"id": to_global_id("SharingAgreement", REFERRALS_TO_EASTSIDE)},
    )
    assert revoked["revokeSharingAgreement"]["agreement"]["revokedAt"] is not None

    deadline = time.monotonic() + 15  # NOTIFY takes milliseconds; the version check a second
    seen = None
    while time.monotonic() < deadline:
        seen = _graphql(second, pantry, PANTRY_RECORDS)["contactRecords"]["totalCount"]
        if seen == 0:
            break
        await asyncio.sleep(0.1)
    assert seen == 0, "the other worker still applies the revoked agreement"
    for connection in (first, second):
        connection.close()


@pytest.mark.multiprocess
async def test_due_work_runs_once_with_two_schedulers(
    served: tuple[int, int], pg_demo: Database, keys: dict[str, str]
) -> None:
    port, parent = served
    first, second = _one_connection_per_worker(port, parent)

    async def state() -> tuple[int, int]:
        async with pg_demo.read_session() as session:
            capacity = await session.get(ServiceCapacity, EASTSIDE_BOXES, populate_existing=True)
            changes = await session.scalar(
                select(func.count())
                .select_from(CapacityChange)
                .where(CapacityChange.capacity_id == EASTSIDE_BOXES)
            )
        assert capacity is not None
        return capacity.available, int(changes or 0)

    available, changes = await state()
    admin = keys["prairie-admin"]
    soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()  # both schedulers will race
    for connection, delta in ((first, 5), (second, 7)):  # one scheduled through each worker
        _graphql(
            connection,
            admin,
            SCHEDULE,
            {
                "input": {
                    "capacityId": to_global_id("ServiceCapacity", EASTSIDE_BOXES),
                    "applyAt": soon,
                    "availableDelta": delta,
                }
            },
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (await state())[1] >= changes + 2:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.5)  # several more passes of both schedulers: nothing may apply twice
    assert await state() == (available + 12, changes + 2)
    for connection in (first, second):
        connection.close()


@pytest.mark.multiprocess
def test_every_worker_answers_a_request_head_left_unfinished_with_408(
    served: tuple[int, int],
) -> None:
    """uvicorn pickles `serve`'s protocol into each worker process with its head timeout: a
    head begun after an answer and never finished gets 408 from either worker."""
    port, parent = served
    connections = _one_connection_per_worker(port, parent)
    started = time.monotonic()
    for connection in connections:
        connection.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: sharegraph\r\n")
    for connection in connections:
        answer = b""
        while chunk := connection.sock.recv(4096):  # until the server closes
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b'"reason": "CLIENT_TOO_SLOW"' in answer
        connection.close()
    assert time.monotonic() - started < HEAD_TIMEOUT + 5
