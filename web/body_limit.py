"""Request bodies over ``Limits.max_body_bytes`` are refused with 413 while they stream in, and
HTTP requests past ``Limits.max_requests_in_flight`` at once with 503 ``SERVICE_UNAVAILABLE`` /
``SERVER_BUSY`` (``Retry-After: 1``).

A declared ``Content-Length`` over the limit is refused before one byte is read; a body without
one (chunked), or longer than it declared, is counted as the app reads it and cut off at the
limit. Either way the answer is GraphQL-shaped, ``BAD_USER_INPUT`` / ``BODY_TOO_LARGE``, and
says ``Connection: close``: the unread rest of the body is never read, so the connection cannot
serve another request.

A client that stalls, sending the next part of its body or taking the next part of its answer
later than ``Limits.client_io_timeout_seconds``, gives its in-flight slot back: a body never
finished is answered 408 ``TIMEOUT`` / ``CLIENT_TOO_SLOW`` (with ``Connection: close``), an
answer never taken is abandoned and its connection closed by the server. Otherwise a hundred
clients that open requests and stop would hold every slot.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sharegraph.errors import BadUserInput, ErrorCode, SharegraphError
from sharegraph.graph.responses import refusal_body

log = logging.getLogger("sharegraph.app")


class _TooLarge(Exception):
    """Raised into the app from ``receive`` once the body passes the limit."""


class _Stalled(Exception):
    """Raised into the app from ``receive`` or ``send`` once the client stops keeping up."""


class BodyLimit:
    """At most ``max_bytes`` of body per request, and at most ``max_in_flight`` HTTP requests
    at once (what bodies and their parses may hold in memory together is bounded); WebSocket
    connections are not requests and pass."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_in_flight: int | None = None,
        io_timeout: float | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_in_flight = max_in_flight
        self.io_timeout = io_timeout
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
            await _answer(send, 503, refusal_body(_busy()), retry_after=1)
            return
        self.in_flight += 1
        try:
            await self._limited(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _declared_length(scope) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            try:
                async with asyncio.timeout(self.io_timeout):
                    message = await receive()
            except TimeoutError:
                raise _Stalled from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            try:
                async with asyncio.timeout(self.io_timeout):
                    await send(message)
            except TimeoutError:
                raise _Stalled from None

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:  # a route that answers while reading; its answer is already cut
                log.warning("request body over %d bytes after the response started", received)
                return
            await self._refuse(send)
        except _Stalled:
            if started:  # the server closes a connection whose answer was left unfinished
                log.warning("a client stopped taking its answer; the connection is dropped")
                return
            error = SharegraphError(
                f"the request body did not arrive within {self.io_timeout:g}s",
                code=ErrorCode.TIMEOUT,
                reason="CLIENT_TOO_SLOW",
            )
            await _answer(send, 408, refusal_body(error), close=True)

    async def _refuse(self, send: Send) -> None:
        error = BadUserInput(
            f"the request body is larger than {self.max_bytes:,} bytes",
            reason="BODY_TOO_LARGE",
            limit=self.max_bytes,
        )
        await _answer(send, 413, refusal_body(error), close=True)


def _busy() -> SharegraphError:
    return SharegraphError(
        "the server is serving as many requests as it takes at once; try again in a second",
        code=ErrorCode.SERVICE_UNAVAILABLE,
        reason="SERVER_BUSY",
        retryAfter=1,
    )


async def _answer(
    send: Send,
    status: int,
    payload: Any,
    *,
    close: bool = False,
    retry_after: int | None = None,
) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the HTTP parser refuses these; counting still applies
    return 0
