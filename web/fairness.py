"""Fairness between principals: one caller's script must not starve everyone else.

Per principal (the API key's or JWT's principal; anonymous HSDS callers by client address),
in memory, per process (with N processes a principal gets N times the limits):

- **Concurrency**: at most ``max_concurrent_per_principal`` requests of a principal run at
  once, across ``/graphql``, ``/hsds/`` and ``/exports/``, and of those at most one GraphQL
  operation estimated at ``expensive_cost`` or more. Two pages of 100 records resolving side by
  side slow every other caller's query about twice as much as one (the event loop runs their
  bursts of work in turn), while the principal's cheap queries keep a slot of their own.
  One over a cap waits, first come first served, up to ``concurrency_wait_seconds`` for its
  turn (at most ``max_waiting_per_principal`` wait; more are refused at once), then gets 429
  ``RATE_LIMITED`` / ``CONCURRENCY``. Waiting costs the others nothing: slots are taken after
  authentication, before the request's own session opens, so a waiter holds no database
  connection and uses no CPU, and a dashboard firing six small queries at once is served in
  turn instead of refused. A slot is held until the response has been sent, streamed bodies
  included: :class:`FairnessMiddleware` gives it back.
- **Cost** (GraphQL only): a token bucket holding ``cost_per_minute_per_principal`` of the
  operation cost :func:`.limits.measure` estimates, refilled continuously. An operation that
  does not fit is refused with 429 ``RATE_LIMITED`` / ``COST_BUDGET``, ``retryAfter`` being
  the seconds until it would. One operation never costs more than a full bucket.

Every refusal carries ``Retry-After`` (whole seconds) and ``extensions.retryAfter``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from sharegraph.authz.principal import Principal
from sharegraph.errors import ErrorCode, SharegraphError
from sharegraph.graph.document_cache import MAX_CACHED_CHARS
from sharegraph.graph.limits import measure_query
from sharegraph.settings import Limits, Settings

_RELEASES = "sharegraph.fairness.releases"


class RateLimited(SharegraphError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, reason: str, retry_after: int) -> None:
        super().__init__(message, reason=reason, retryAfter=retry_after)


@dataclass
class _Slots:
    active: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)


class ConcurrencyLimiter:
    """At most ``limit`` holders per key; a key's entry disappears when its last holder leaves."""

    def __init__(self, *, wait_seconds: float, max_waiting: int) -> None:
        self.wait_seconds = wait_seconds
        self.max_waiting = max_waiting
        self._keys: dict[str, _Slots] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def active(self, key: str) -> int:
        slots = self._keys.get(key)
        return slots.active if slots else 0

    def waiting(self, key: str) -> int:
        slots = self._keys.get(key)
        return len(slots.waiting) if slots else 0

    async def acquire(
        self, key: str, limit: int, *, deadline: float | None = None, what: str = "requests"
    ) -> None:
        """A slot of ``key``, or :class:`RateLimited` once the wait is over (at ``deadline``
        on the loop's clock, else after ``wait_seconds``) or the queue is full."""
        slots = self._keys.setdefault(key, _Slots())
        if slots.active < limit and not slots.waiting:
            slots.active += 1
            return
        if len(slots.waiting) >= self.max_waiting or self.wait_seconds <= 0:
            self._forget(key)
            raise self._refusal(limit, what)
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        slots.waiting.append(turn)
        try:
            ends = loop.time() + self.wait_seconds if deadline is None else deadline
            async with asyncio.timeout_at(ends):
                await turn
        except TimeoutError:
            if turn.done() and not turn.cancelled():
                return  # handed a slot just as the wait ran out: keep it
            self._leave_queue(key, turn)
            raise self._refusal(limit, what) from None
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release(key)
            else:
                self._leave_queue(key, turn)
            raise

    def release(self, key: str) -> None:
        slots = self._keys[key]
        while slots.waiting:
            turn = slots.waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes to the next in line
                return
        slots.active -= 1
        self._forget(key)

    def _leave_queue(self, key: str, turn: asyncio.Future[None]) -> None:
        slots = self._keys[key]
        if turn in slots.waiting:
            slots.waiting.remove(turn)
        self._forget(key)

    def _forget(self, key: str) -> None:
        slots = self._keys.get(key)
        if slots is not None and slots.active == 0 and not slots.waiting:
            del self._keys[key]

    def _refusal(self, limit: int, what: str) -> RateLimited:
        return RateLimited(
            f"too many {what} at once: at most {limit} of yours run at a time; "
            "wait for one to finish",
            reason="CONCURRENCY",
            retry_after=1,
        )


@dataclass
class _Bucket:
    tokens: float
    at: float


class CostBudget:
    """A token bucket per key: ``per_window`` cost, refilled evenly over ``window_seconds``."""

    def __init__(
        self,
        per_window: int,
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_window = per_window
        self.window_seconds = window_seconds
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._swept = clock()

    def __len__(self) -> int:
        return len(self._buckets)

    def _level(self, bucket: _Bucket, now: float) -> float:
        refill = (now - bucket.at) * self.per_window / self.window_seconds
        return min(float(self.per_window), bucket.tokens + refill)

    def charge(self, key: str, cost: int) -> None:
        """Take ``cost`` from ``key``'s bucket, or raise :class:`RateLimited` leaving it as is."""
        if self.per_window <= 0 or cost <= 0:
            return
        now = self.clock()
        self._sweep(now)
        bucket = self._buckets.get(key)
        level = self._level(bucket, now) if bucket else float(self.per_window)
        needed = min(cost, self.per_window)
        if level < needed:
            wait = math.ceil((needed - level) * self.window_seconds / self.per_window)
            raise RateLimited(
                f"the operation's cost ({cost}) is over what is left of your budget of "
                f"{self.per_window} per {self.window_seconds:g} s; retry in {wait} s",
                reason="COST_BUDGET",
                retry_after=wait,
            )
        self._buckets[key] = _Bucket(level - needed, now)

    def refund(self, key: str, cost: int) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None and cost > 0:
            bucket.tokens = min(float(self.per_window), bucket.tokens + min(cost, self.per_window))

    def _sweep(self, now: float) -> None:
        # A bucket that has filled up again is the same as none: drop those once a window.
        if now - self._swept < self.window_seconds:
            return
        self._swept = now
        full = [k for k, b in self._buckets.items() if self._level(b, now) >= self.per_window]
        for key in full:
            del self._buckets[key]


def _document(query: str, max_tokens: int) -> DocumentNode | None:
    # Only small documents are kept: a large one passes the token limit with a string of
    # megabytes in it, and 256 of them kept gigabytes alive (graph/document_cache.py).
    if len(query) > MAX_CACHED_CHARS:
        return _parsed(query, max_tokens)
    return _small_document(query, max_tokens)


def _parsed(query: str, max_tokens: int) -> DocumentNode | None:
    try:
        return parse(query, max_tokens=max_tokens)
    except GraphQLError:
        return None  # execution reports it; a document that does not parse costs nothing


_small_document = lru_cache(maxsize=256)(_parsed)


def operation_cost(
    schema: GraphQLSchema,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    limits: Limits,
) -> int:
    try:
        measured = measure_query(
            schema,
            query,
            lambda: _document(query, limits.max_tokens),
            operation_name,
            variables or {},
            limits,
        )
    except Exception:  # measured before validation: an invalid document is refused by that
        return 0
    return 0 if measured is None else measured.cost  # a document that does not parse: 0


def principal_key(principal: Principal) -> str:
    return f"principal:{principal.id}"


def client_key(request: Request) -> str:
    return f"client:{request.client.host if request.client else 'unknown'}"


class Fairness:
    """The process's limiter; routes reach it as ``request.app.state.fairness``."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        config = settings.fairness
        self.limits = settings.limits
        self.principal_limit = config.max_concurrent_per_principal
        self.client_limit = config.max_concurrent_per_client_ip
        self.concurrency = ConcurrencyLimiter(
            wait_seconds=config.concurrency_wait_seconds,
            max_waiting=config.max_waiting_per_principal,
        )
        self.budget = CostBudget(config.cost_per_minute_per_principal, clock=clock)
        self.expensive_cost = config.expensive_cost

    async def admit(self, request: Request, principal: Principal | None) -> None:
        """A concurrency slot for the request (anonymous callers: by client address)."""
        if principal is None:
            await self._enter(request, client_key(request), self.client_limit)
        else:
            await self._enter(request, principal_key(principal), self.principal_limit)

    async def admit_operation(
        self,
        request: Request,
        principal: Principal,
        schema: GraphQLSchema,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> None:
        """The operation's cost from the principal's budget, then a concurrency slot; an
        expensive operation first waits for the principal's one expensive slot."""
        key = principal_key(principal)
        cost = operation_cost(schema, query, variables, operation_name, self.limits)
        self.budget.charge(key, cost)
        deadline = asyncio.get_running_loop().time() + self.concurrency.wait_seconds
        try:
            if 0 < self.expensive_cost <= cost and self.principal_limit > 0:
                what = f"expensive operations (estimated cost {self.expensive_cost} or more)"
                await self._enter(request, f"{key}:expensive", 1, deadline, what)
            await self._enter(request, key, self.principal_limit, deadline)
        except BaseException:
            self.budget.refund(key, cost)  # refused or gone: it never ran
            raise

    async def _enter(
        self,
        request: Request,
        key: str,
        limit: int,
        deadline: float | None = None,
        what: str = "requests",
    ) -> None:
        if limit <= 0:
            return
        releases: list[Callable[[], None]] | None = request.scope.get(_RELEASES)
        if releases is None:
            raise RuntimeError("FairnessMiddleware must wrap the app to give slots back")
        await self.concurrency.acquire(key, limit, deadline=deadline, what=what)
        releases.append(lambda: self.concurrency.release(key))


class FairnessMiddleware:
    """Gives back the request's slots once the response has been sent (or the client left)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        releases: list[Callable[[], None]] = []
        scope[_RELEASES] = releases
        try:
            await self.app(scope, receive, send)
        finally:
            for release in releases:
                release()
