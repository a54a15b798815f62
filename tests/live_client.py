"""A real server (uvicorn, in the test's event loop) and a graphql-transport-ws client for it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from sharegraph.datastore.engine import Database
from sharegraph.settings import Settings
from sharegraph.web.app import create_app

from .conftest import Api

PROTOCOL = "graphql-transport-ws"


@dataclass
class Served:
    api: Api
    url: str  # ws://.../graphql
    app: Any

    def client(self) -> LiveClient:
        return LiveClient(self.url, self.api.keys)


@contextlib.asynccontextmanager
async def served(
    db: Database,
    keys: dict[str, str],
    settings: Settings | None = None,
    app_factory: Callable[..., Any] = create_app,
) -> AsyncIterator[Served]:
    app = app_factory(settings or Settings(database_url=db.url), database=db)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", ws="websockets"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert server.started, "the server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield Served(
                Api(http=http, keys=keys, database=db), f"ws://127.0.0.1:{port}/graphql", app
            )
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


class LiveClient:
    """One WebSocket: ``async with served.client() as c: await c.init("prairie-admin")``."""

    def __init__(self, url: str, keys: dict[str, str]) -> None:
        self.url = url
        self.keys = keys
        self.ws: ClientConnection | None = None

    async def __aenter__(self) -> LiveClient:
        self.ws = await connect(self.url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.ws is not None
        await self.ws.close()

    async def send(self, message: Any) -> None:
        assert self.ws is not None
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def receive(self, seconds: float = 10.0) -> dict[str, Any]:
        """The next message other than a ping (answered with a pong)."""
        assert self.ws is not None
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), seconds)
            message: dict[str, Any] = json.loads(raw)
            if message.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            return message

    async def init(self, principal: str | None, **extra: Any) -> dict[str, Any]:
        payload: dict[str, Any] = dict(extra)
        if principal is not None:
            payload["authorization"] = f"Bearer {self.keys.get(principal, principal)}"
        await self.send({"type": "connection_init", "payload": payload})
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack
        return ack

    async def subscribe(
        self, op_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        await self.send(
            {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )

    async def closed(self, seconds: float = 10.0) -> tuple[int | None, str | None]:
        """Wait for the server to close the connection: its close code and reason."""
        assert self.ws is not None
        with contextlib.suppress(Exception):
            while True:
                await asyncio.wait_for(self.ws.recv(), seconds)
        return self.ws.close_code, self.ws.close_reason

    async def nothing_within(self, seconds: float) -> bool:
        """True when no message (but pings) arrives within ``seconds``."""
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message {message}")
