"""The database out of reach under a request: its connection was lost (a terminated backend, a
server restart, the network) or no pooled connection came free in time. Such a request ends
with 503 ``SERVICE_UNAVAILABLE`` (reason ``DATABASE_CONNECTION_LOST``, ``DATABASE_UNREACHABLE``
or ``DATABASE_BUSY``),
an answer the caller can retry, instead of an internal error; the pool replaces lost
connections by itself."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from sharegraph.errors import ErrorCode, SharegraphError

log = logging.getLogger("sharegraph.datastore")


class DatabaseUnavailable(SharegraphError):
    code = ErrorCode.SERVICE_UNAVAILABLE


def unavailable(
    error: BaseException | None, *, writing: bool = False
) -> DatabaseUnavailable | None:
    """The refusal ``error`` calls for, if it (or an error it was raised from) is the database
    out of reach; ``writing``: it ended a write transaction."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DatabaseUnavailable):
            return error
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            # Lost during COMMIT, a change may or may not have been saved.
            retry = (
                "retry (a change sent with an idempotencyKey is safe to send again)"
                if writing
                else "retry the request"
            )
            return DatabaseUnavailable(
                f"the connection to the database was lost; {retry}",
                reason="DATABASE_CONNECTION_LOST",
            )
        if isinstance(error, ConnectionError):
            # Refused or reset while connecting (a server down or restarting): asyncpg raises
            # the socket's own error, which SQLAlchemy passes on unwrapped.
            return DatabaseUnavailable(
                "the database cannot be reached; retry shortly",
                reason="DATABASE_UNREACHABLE",
                retryAfter=1,
            )
        if isinstance(error, PoolTimeout):
            return DatabaseUnavailable(
                "the database is busy: no connection came free in time; retry shortly",
                reason="DATABASE_BUSY",
                retryAfter=1,
            )
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def raise_if_unavailable(errors: Iterable[BaseException | None], *, writing: bool = False) -> None:
    """Raise :class:`DatabaseUnavailable` if one of ``errors`` (some caught along the way, e.g.
    by the GraphQL executor) is the database out of reach: the request failed for that."""
    for error in errors:
        refusal = unavailable(error, writing=writing)
        if refusal is None:
            continue
        if refusal is error:
            raise refusal
        log.warning("database unavailable during a request: %s", refusal.reason)
        raise refusal from error
