"""GraphQL subscriptions over graphql-transport-ws on ``/graphql`` (strawberry's protocol handler,
subclassed where we differ).

- The upgrade is accepted; credentials come in ``connection_init``
  (``{"authorization": "Bearer <API key or JWT>", "purpose": "..."}``) through the one
  authentication step (:meth:`.callers.Authentication.connection_caller`); without them, the
  session cookie of a page of this very origin (``Origin`` checked). Missing or invalid, or a
  cookie from another origin: close 4403. A payload that is not an object: 4400; a
  ``subscribe`` before the ack: 4401; an unparsable message: 4400; no ``connection_init``
  within the timeout: 4408 (the protocol's codes).
- A ``subscribe`` is checked and run by :class:`sharegraph.graph.live.LiveUpdates`; refusals come
  back as the protocol's ``error`` message with our error bodies.
- At most ``max_per_connection`` subscriptions per connection and ``max_per_principal`` per
  principal in this process (``error`` with ``RATE_LIMITED`` / ``TOO_MANY_SUBSCRIPTIONS``).
- Everything a connection is sent goes through one bounded queue; a client that lets
  ``queue_size`` messages pile up is disconnected with 1013 (try again later) and reason
  ``SLOW_CONSUMER``: it reconnects and resumes with ``after``. Other connections never wait on it.
- The server pings every ``keepalive_seconds``; after a policy change the connection's
  credentials are checked again (a revoked key or a disabled principal: close 4403).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from sharegraph.authz.principal import Principal
from sharegraph.authz.store import PolicyStore
from sharegraph.datastore.relay import Cursor
from sharegraph.errors import ErrorCode, SharegraphError
from sharegraph.graph.live import LiveUpdates, Refused, Subscriber
from sharegraph.graph.responses import error_body
from sharegraph.settings import SubscriptionSettings
from sharegraph.web.callers import Authentication
from sharegraph.web.csrf import SESSION_COOKIE

log = logging.getLogger("sharegraph.subscriptions")

SLOW_CONSUMER = 1013
CREDENTIALS_CHECK_SECONDS = 0.5
SESSION_CHECK_SECONDS = 30.0  # how soon a signed-out session's WebSocket is closed


@dataclass
class Connection:
    """One WebSocket's state: who it is once acknowledged, its subscriptions' members."""

    auth: Authentication
    live: LiveUpdates
    policies: PolicyStore
    settings: SubscriptionSettings
    per_principal: Counter[Any]
    upgrade: HTTPConnection | None = None  # the WebSocket's upgrade request (cookie, Origin)
    connection_params: dict[str, Any] | None = None
    authorization: str | None = None
    session: str | None = None  # the session cookie, when that is what authenticated it
    subscriber: Subscriber | None = None
    members: dict[str, int] = field(default_factory=dict)

    async def authenticate(self) -> None:
        """``connection_init``: the caller, or :class:`ConnectionRejectionError` (4403)."""
        try:
            caller = await self.auth.connection_caller(self.connection_params or {}, self.upgrade)
        except SharegraphError as error:
            raise ConnectionRejectionError() from error
        authorization = {str(k).lower(): v for k, v in (self.connection_params or {}).items()}.get(
            "authorization"
        )
        if isinstance(authorization, str):
            self.authorization = authorization
        elif self.upgrade is not None:
            self.session = self.upgrade.cookies.get(SESSION_COOKIE)
        self.subscriber = Subscriber(caller.principal, caller.purpose)
        await self.live.ready()  # a subscribe on this connection then has its position at once

    async def principal_now(self) -> Principal:
        """The connection's principal as its credentials give it now (after a policy change)."""
        if self.session is not None:
            return await self.auth.session_principal(self.session)
        return await self.auth.principal(self.authorization)


class SubscriptionHandler(BaseGraphQLTransportWSHandler[Connection, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection: Connection = self.context
        self.outgoing: asyncio.Queue[dict[str, Any] | Encoded] = asyncio.Queue(
            self.connection.settings.queue_size
        )
        self.closing = False
        self._helpers: list[asyncio.Task[None]] = []

    async def handle(self) -> None:
        self._helpers = [
            asyncio.create_task(self._send_loop(), name="ws-send"),
            asyncio.create_task(self._keepalive(), name="ws-keepalive"),
            asyncio.create_task(self._recheck_credentials(), name="ws-credentials"),
        ]
        try:
            await super().handle()
        finally:
            for task in self._helpers:
                task.cancel()
            for task in self._helpers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def shutdown(self) -> None:
        for member in self.connection.members.values():
            self.connection.live.leave(member)
            self._count(-1)
        self.connection.members.clear()
        await super().shutdown()

    # -- outgoing -------------------------------------------------------------------------
    async def send_message(self, message: Any) -> None:
        self.enqueue(message)

    def enqueue(self, message: dict[str, Any] | Encoded) -> None:
        """A protocol message, or one already encoded as JSON text (a delivery)."""
        if self.closing:
            return
        try:
            self.outgoing.put_nowait(message)
        except asyncio.QueueFull:
            self.closing = True
            task = asyncio.create_task(
                self.websocket.close(SLOW_CONSUMER, "SLOW_CONSUMER: reconnect and resume")
            )
            self._helpers.append(task)

    async def _send_loop(self) -> None:
        while True:
            message = await self.outgoing.get()
            try:
                # An Encoded message goes out as it is (GraphQLEndpoint.encode_json).
                await self.websocket.send_json(message)  # type: ignore[arg-type]
            except Exception:  # the client went away; the receive loop ends the connection
                return

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.connection.settings.keepalive_seconds)
            if self.connection_acknowledged:
                self.enqueue({"type": "ping"})

    async def _recheck_credentials(self) -> None:
        policies = self.connection.policies
        version = policies.snapshot.version
        loop = asyncio.get_running_loop()
        checked = loop.time()
        watch = _watch_for(policies)
        while True:
            if self.connection.subscriber is None:  # not acknowledged yet: a short while
                await asyncio.sleep(CREDENTIALS_CHECK_SECONDS)
            elif self.connection.session is None:
                await watch.moved_from(version)
            else:
                due = max(
                    CREDENTIALS_CHECK_SECONDS, SESSION_CHECK_SECONDS - (loop.time() - checked)
                )
                # asyncio.timeout: wait_for (3.11) can swallow the close's cancellation.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(due):
                        await watch.moved_from(version)
            # A session also ends by signing out, which changes no policy: check it now and then.
            session_due = (
                self.connection.session is not None
                and loop.time() - checked >= SESSION_CHECK_SECONDS
            )
            if self.connection.subscriber is None or (
                policies.snapshot.version == version and not session_due
            ):
                continue
            version = policies.snapshot.version
            checked = loop.time()
            try:
                principal = await self.connection.principal_now()
            except SharegraphError:
                self.closing = True
                await self.websocket.close(4403, "Forbidden")
                return
            except Exception:  # the database may be restarting; check again on the next change
                log.warning("credentials check failed", exc_info=True)
                continue
            if principal.roles != self.connection.subscriber.principal.roles:
                self.closing = True
                await self.websocket.close(4403, "Forbidden: your roles changed; reconnect")
                return

    # -- incoming -------------------------------------------------------------------------
    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.handle_invalid_message("a message is a JSON object with a `type`")
            return
        await super().handle_message(message)  # type: ignore[arg-type]

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload = message.get("payload")
        if (
            not isinstance(message.get("id"), str)
            or not isinstance(payload, dict)
            or not isinstance(payload.get("query"), str)
            or not isinstance(payload.get("variables") or {}, dict)
            or not isinstance(payload.get("operationName") or "", str)
        ):
            await self.handle_invalid_message("subscribe needs an id and a payload with a query")
            return
        if not self.connection_acknowledged:
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        if message["id"] in self.operations:
            await self.websocket.close(4409, f"Subscriber for {message['id']} already exists")
            return
        limits = self.connection.settings
        refusal = None
        if len(self.operations) >= limits.max_per_connection:
            refusal = f"at most {limits.max_per_connection} subscriptions per connection"
        elif self._principal_count() >= limits.max_per_principal:
            refusal = f"at most {limits.max_per_principal} subscriptions per principal"
        if refusal is not None:
            error = SharegraphError(
                refusal, code=ErrorCode.RATE_LIMITED, reason="TOO_MANY_SUBSCRIPTIONS"
            )
            self.enqueue({"id": message["id"], "type": "error", "payload": [error_body(error)]})
            return
        operation: Operation[Connection, None] = Operation(
            self,
            message["id"],
            payload["query"],
            payload.get("variables"),
            payload.get("operationName"),
        )
        self.operations[message["id"]] = operation
        # Its position now, as the message is read: a ping sent after it is answered later.
        anchor = self.connection.live.anchor()
        operation.task = asyncio.create_task(self.run_operation(operation, anchor))
        operation.task.add_done_callback(self._task_done)

    def _principal_count(self) -> int:
        subscriber = self.connection.subscriber
        return self.connection.per_principal[subscriber.principal.id] if subscriber else 0

    def _count(self, delta: int) -> None:
        subscriber = self.connection.subscriber
        if subscriber is not None:
            self.connection.per_principal[subscriber.principal.id] += delta

    async def run_operation(
        self, operation: Operation[Connection, None], anchor: Cursor | None = None
    ) -> None:
        connection = self.connection
        assert connection.subscriber is not None
        ended = asyncio.Event()

        def deliver(body: dict[str, Any] | None) -> None:
            if body is None:
                ended.set()
            elif not operation.completed:
                self.enqueue(_next_message(operation.id, body))

        try:
            member = await connection.live.start(
                connection.subscriber,
                operation.query,
                operation.variables,
                operation.operation_name,
                deliver,
                anchor,
            )
        except Refused as refused:
            self.operations.pop(operation.id, None)
            self.enqueue({"id": operation.id, "type": "error", "payload": refused.errors})
            return
        except Exception:
            log.exception("a subscription failed to start")
            self.operations.pop(operation.id, None)
            internal = SharegraphError("the subscription could not start", code=ErrorCode.INTERNAL)
            self.enqueue({"id": operation.id, "type": "error", "payload": [error_body(internal)]})
            return
        connection.members[operation.id] = member
        self._count(1)
        try:
            await ended.wait()
            if not operation.completed:
                operation.completed = True
                self.operations.pop(operation.id, None)
                self.enqueue({"id": operation.id, "type": "complete"})
        finally:
            if connection.members.pop(operation.id, None) is not None:
                connection.live.leave(member)
                self._count(-1)


class _VersionWatch:
    """One timer per process that notices the policy version move, for every connection's
    credentials check (a timer each woke 10,000 connections 20,000 times a second to find,
    nearly always, that nothing had changed)."""

    def __init__(self, policies: PolicyStore) -> None:
        self.policies = policies
        self.loop = asyncio.get_running_loop()
        self.moved = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.waiting = 0

    async def moved_from(self, version: Any) -> None:
        """Return once the policy version is no longer ``version`` (checked every
        ``CREDENTIALS_CHECK_SECONDS``, as each connection did)."""
        while self.policies.snapshot.version == version:
            if self.task is None or self.task.done():
                self.task = self.loop.create_task(self._poll(), name="ws-policy-watch")
            self.waiting += 1
            try:
                await self.moved.wait()
            finally:
                self.waiting -= 1

    async def _poll(self) -> None:
        version = self.policies.snapshot.version
        while self.waiting:  # ends with the last connection; the next wait starts it again
            await asyncio.sleep(CREDENTIALS_CHECK_SECONDS)
            if self.policies.snapshot.version != version:
                version = self.policies.snapshot.version
                moved, self.moved = self.moved, asyncio.Event()
                moved.set()  # wakes every waiter; a new wait uses the new event


_WATCHES: weakref.WeakKeyDictionary[PolicyStore, _VersionWatch] = weakref.WeakKeyDictionary()


def _watch_for(policies: PolicyStore) -> _VersionWatch:
    watch = _WATCHES.get(policies)
    if watch is None or watch.loop is not asyncio.get_running_loop():
        watch = _WATCHES[policies] = _VersionWatch(policies)
    return watch


class Encoded(str):
    """A protocol message already encoded as JSON text: sent as it is."""

    __slots__ = ()


# The last answer encoded: one cohort's answer goes to all its members one after the other, so
# it is encoded once, not once per member (the same object: held here, its identity is safe).
_last_encoded: tuple[Any, str] = (None, "")


def _next_message(operation_id: str, body: dict[str, Any]) -> Encoded:
    """The protocol's ``next`` message for ``body``, as JSON text (what ``send_json`` sends)."""
    global _last_encoded
    last, payload = _last_encoded
    if last is not body:
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        _last_encoded = (body, payload)
    identifier = json.dumps(operation_id, ensure_ascii=False)
    return Encoded(f'{{"id":{identifier},"type":"next","payload":{payload}}}')
