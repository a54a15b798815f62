"""Sibling fields settle instead of being cancelled when one of them fails.

graphql-core 3.3 runs sibling fields concurrently and, when one raises (a non-null field's error
nulling its parent), cancels the others (``gather_with_cancel``). A resolver cancelled in the
middle of a database step leaves the request's session broken: cancelled while SQLAlchemy
provisions the connection, the session cannot be closed when the request ends
(``IllegalStateChangeError``, a 500 after the answer); cancelled inside a query, an aiosqlite
connection is lost for the next request. Waiting for the siblings instead costs at most their
remaining work (bounded by the request timeout, whose cancellation still applies to all) and
keeps the request's reads, audit entries and refusals the same from run to run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from graphql.execution import executor


async def gather_settled(*awaitables: Awaitable[Any]) -> list[Any]:
    """Like ``asyncio.gather``, but raises the first failure (in field order) only once every
    awaitable has finished."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def install() -> None:
    executor.gather_with_cancel = gather_settled  # type: ignore[attr-defined]
