"""Sibling fields settle instead of being cancelled when one of them fails.

graphql-core 3.3 runs sibling fields concurrently and, when one raises (a non-null field's error
nulling its parent), cancels the others (``gather_with_cancel``). A resolver cancelled in the
middle of a database step leaves the request's session broken: cancelled while SQLAlchemy
provisions the connection, the session cannot be closed when the request ends
(``IllegalStateChangeError``, a 500 after the answer); cancelled inside a query, an aiosqlite
connection is lost for the next request. Waiting for the siblings instead costs at most their
remaining work (bounded by the request timeout, whose cancellation still applies to all) and
keeps the request's reads, audit entries and refusals the same from run to run.

The same holds when a *synchronous* resolver's error bubbles up while async siblings are in
flight: graphql-core then settles the siblings in the background (``settle_in_background``) and
returns, so they would go on using the request's session after the answer. The futures are
also handed to the request (its context's ``settling`` set), which :func:`settled` awaits before
the answer is finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from graphql.execution import Executor, executor


async def gather_settled(*awaitables: Awaitable[Any]) -> list[Any]:
    """Like ``asyncio.gather``, but raises the first failure (in field order) only once every
    awaitable has finished."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


_settle_in_background = Executor.settle_in_background


def _settle_for_the_request(self: Executor[Any], awaitables: list[Any]) -> None:
    _settle_in_background(self, awaitables)
    settling = getattr(self.context_value, "settling", None)
    if isinstance(settling, set):
        settling.update(self.background_futures)


async def settled(context: Any) -> None:
    """Wait for whatever execution left settling in the background for this request."""
    settling: set[asyncio.Future[Any]] = getattr(context, "settling", set())
    while settling:
        waiting = list(settling)
        settling.clear()
        await asyncio.gather(*waiting, return_exceptions=True)


def install() -> None:
    executor.gather_with_cancel = gather_settled  # type: ignore[attr-defined]
    Executor.settle_in_background = _settle_for_the_request  # type: ignore[method-assign]
