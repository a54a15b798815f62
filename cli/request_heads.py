"""`sharegraph serve`'s HTTP/1.1 protocol: uvicorn's h11 one, with a deadline and a size bound
on every request head, enforced before the app is called.

uvicorn times out neither a connection that never sends a request nor a request head sent a
byte at a time, so a few hundred slow clients could hold every one of the open connections
``limit_concurrency`` allows. Here a head must be complete within ``head_timeout`` seconds of
the moment the server starts waiting for it: the connection's opening, or the end of the
previous answer on a keep-alive connection. Past it, a client that sent part of a head gets
408 ``TIMEOUT`` / ``CLIENT_TOO_SLOW`` and the connection is closed; one that sent nothing is
closed without an answer, as uvicorn closes an idle keep-alive connection. Bodies, answers and
WebSockets are not heads: their time limits are elsewhere (web/body_limit.py, ping timeouts).
Two waits that nothing else bounds get the same clock: the rest of a body the app answered
without reading (uvicorn reads and drops it), from the end of that answer; and an answer the
server finished or gave up writing, that the client does not take (a close waits for it to
drain): a client that takes none of it for a whole period is cut off.

h11 refuses a head only when, unfinished, more than ``h11_max_incomplete_event_size`` bytes of it
are buffered; a longer head that arrived whole in one read went through (100 KB did). Here a
head whose end is not within that many bytes is refused however it arrives, before h11 parses
it (uvicorn's 400).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from sharegraph.errors import ErrorCode, SharegraphError
from sharegraph.graph.responses import refusal_body

# Where h11 ends a head: the first empty line (it accepts a bare LF as a line end).
_HEAD_END = re.compile(rb"\n\r?\n")


class _BoundedHeads(h11.Connection):
    """h11's connection, refusing a head whose end is not within its incomplete-event bound
    before parsing it, whatever reads brought it: uvicorn answers that error with its 400."""

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        limit = self._max_incomplete_event_size
        # len() of h11's buffer, not `trailing_data`: that copies it, on every byte of a slow head
        if self.their_state is h11.IDLE and len(self._receive_buffer) > limit:
            buffered, _ = self.trailing_data
            if _HEAD_END.search(buffered, 0, limit) is None:
                raise h11.RemoteProtocolError(f"request head over {limit} bytes")
        return super().next_event()


class BoundedHeadProtocol(H11Protocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        head_timeout: float,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn = _BoundedHeads(h11.SERVER, self.conn._max_incomplete_event_size)
        self.head_timeout = head_timeout
        self.head_deadline: asyncio.TimerHandle | None = None
        self.watching: str | None = None  # "head", "answer" or "drain": what the clock is for
        self.unsent: int | None = None  # bytes of the answer not yet taken, at the last deadline

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watching()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        self._watch_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_head()

    def _watch_head(self) -> None:
        """Start the clock for what the connection now waits on, when that changed: a request
        head (h11's client state IDLE), or the rest of a body already answered (uvicorn drops it
        unread and no app timer runs: trickled, it held the connection for good), gets
        ``head_timeout``; an answer being written is the app's to time (web/body_limit.py), but
        is watched for the moment uvicorn closes the connection on it; a closing connection
        with an answer left to take, for that answer to drain. A WebSocket is on its own."""
        if self.transport.is_closing():
            watch = "drain" if self.transport.get_write_buffer_size() else None
        elif self.transport.get_protocol() is not self:  # upgraded to a WebSocket
            watch = None
        elif self._between_requests():
            watch = "head"
        else:
            watch = "answer"
        if watch != self.watching:
            self._stop_watching()
            if watch is not None:
                self.watching = watch
                self.head_deadline = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _between_requests(self) -> bool:
        their_state = self.conn.their_state
        return their_state is h11.IDLE or (
            their_state is h11.SEND_BODY and self.conn.our_state is h11.DONE
        )

    def _stop_watching(self) -> None:
        self.watching = None
        self.unsent = None
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _again(self) -> None:
        self.head_deadline = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self.head_deadline = None
        closing = self.transport.is_closing()
        unsent = self.transport.get_write_buffer_size()
        if unsent and (closing or self.watching != "answer"):
            # An answer is left for the client to take: it is not late with a head yet, but a
            # close waits for that answer to drain, so one that took none of it for a whole
            # period would hold the connection forever.
            if unsent == self.unsent:
                self.transport.abort()
            else:
                self.unsent = unsent
                self._again()
            return
        if closing or self.transport.get_protocol() is not self:
            self._stop_watching()
            return
        if self.watching == "answer" or not self._between_requests():
            self._again()
            return
        self._stop_watching()
        try:
            if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
                self.logger.warning("Request head not complete within %gs.", self.head_timeout)
                self._answer_408()
            else:  # nothing of a head, or the rest of a body already answered
                self.conn.send(h11.ConnectionClosed())
        except h11.LocalProtocolError:  # h11 saw the connection in a state it cannot answer in
            pass
        self.transport.close()

    def _answer_408(self) -> None:
        error = SharegraphError(
            f"the request head did not arrive within {self.head_timeout:g}s",
            code=ErrorCode.TIMEOUT,
            reason="CLIENT_TOO_SLOW",
        )
        body = json.dumps(refusal_body(error)).encode()
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=408, headers=headers, reason=b"Request Timeout"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
