"""Live updates across `sharegraph serve` processes on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from typing import Any

import pytest
from websockets.asyncio.client import connect

from sharegraph.datastore.engine import Database

from .conftest import require_postgres
from .test_cli import _serve, _wait_healthy
from .test_subscriptions import RECORDS, UPDATE_RECORD, _prairie_record

pytestmark = pytest.mark.multiprocess


@pytest.fixture
def postgresql(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("several processes share a database on PostgreSQL (NOTIFY wakes them)")
    require_postgres()


async def _init(ws: Any, key: str) -> None:
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}})
    )
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"


async def _next(ws: Any) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if message["type"] != "ping":
            return message


async def _touch(port: int, db: Database, key: str, narrative: str) -> None:
    import httpx

    from sharegraph.graph.relay import to_global_id

    record_id, version = await _prairie_record(db)
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"http://127.0.0.1:{port}/graphql",
            json={
                "query": UPDATE_RECORD,
                "variables": {
                    "input": {
                        "id": to_global_id("ContactRecord", record_id),
                        "version": version,
                        "narrative": narrative,
                    }
                },
            },
            headers={"Authorization": f"Bearer {key}"},
        )
    assert "errors" not in response.json(), response.json()


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(20)
    if process.poll() is None:
        process.kill()


async def test_a_write_on_one_process_reaches_a_subscriber_on_another_and_resumes(
    postgresql: None, seeded_db: Database, keys: dict[str, str]
) -> None:
    key = keys["prairie-admin"]
    writer, writer_port = _serve(seeded_db.url)
    reader, reader_port = _serve(seeded_db.url)
    try:
        await asyncio.gather(
            asyncio.to_thread(_wait_healthy, writer, writer_port),
            asyncio.to_thread(_wait_healthy, reader, reader_port),
        )
        url = f"ws://127.0.0.1:{reader_port}/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await _init(ws, key)
            message = {"id": "1", "type": "subscribe", "payload": {"query": RECORDS}}
            await ws.send(json.dumps(message))
            await asyncio.sleep(0.5)
            await _touch(writer_port, seeded_db, key, "from the other process")
            got = await _next(ws)
            change = got["payload"]["data"]["contactRecordChanged"]
            assert change["contactRecord"]["narrative"] == "from the other process"
            position = change["event"]["position"]

        # The reader's process dies; a change lands meanwhile; a new process resumes from the
        # position the client gives.
        _stop(reader)
        await _touch(writer_port, seeded_db, key, "while it was down")
        reader, reader_port = _serve(seeded_db.url)
        await asyncio.to_thread(_wait_healthy, reader, reader_port)
        url = f"ws://127.0.0.1:{reader_port}/graphql"
        resume = RECORDS.replace("contactRecordChanged", "contactRecordChanged(after: $after)")
        resume = resume.replace("subscription", "subscription($after: String)")
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await _init(ws, key)
            message = {
                "id": "2",
                "type": "subscribe",
                "payload": {"query": resume, "variables": {"after": position}},
            }
            await ws.send(json.dumps(message))
            got = await _next(ws)
            change = got["payload"]["data"]["contactRecordChanged"]
            assert int(change["event"]["position"]) != int(position)
            assert change["contactRecord"]["narrative"] == "while it was down"
    finally:
        _stop(writer)
        _stop(reader)
