"""A small HTTP receiver on loopback for webhook tests: records every request, answers as told."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a hang past the sender's timeout)


@dataclass
class Receiver:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    # Answers used in order; when empty, ``default``.
    script: list[Answer] = field(default_factory=list)
    default: Answer = field(default_factory=Answer)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0  # requests being answered now
    most_in_flight: int = 0  # the most at once

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Received(path, headers, body))
            self.arrived.set()
            answer = self.script.pop(0) if self.script else self.default
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                if answer.delay:
                    await asyncio.sleep(answer.delay)
            finally:
                self.in_flight -= 1
            extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
            writer.write(
                f"HTTP/1.1 {answer.status} X\r\ncontent-length: 2\r\nconnection: close\r\n"
                f"{extra}\r\nok".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    server = await asyncio.start_server(r._handle, "127.0.0.1", 0)
    r.port = server.sockets[0].getsockname()[1]
    try:
        yield r
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)
