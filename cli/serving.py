"""How `sharegraph serve` runs the app: the limits uvicorn enforces itself, and the app
factory its worker processes import (``--workers N``).

What uvicorn's HTTP parser refuses never reaches the app, so it is answered in uvicorn's own
plain text (400 "Invalid HTTP request received.", 503 "Service Unavailable"), not in the
GraphQL error shape; a request head that arrives too slowly gets a GraphQL-shaped 408
(cli/request_heads.py). Bodies are the app's to limit (web/body_limit.py).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from sharegraph.cli.request_heads import BoundedHeadProtocol
from sharegraph.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

UVICORN_LIMITS: dict[str, Any] = {
    # Request heads of at most 16 KiB, parsed by h11 (httptools puts no bound on a header: a
    # 10 MB header line was read and handed to the app); `uvicorn_options` adds the protocol
    # that holds every head to it (cli/request_heads.py).
    "h11_max_incomplete_event_size": 16 * 1024,
    # No permessage-deflate on WebSockets: live updates are small JSON messages, where
    # compressing costs more CPU than it saves bytes (py-spy at 10,000 subscribers), each
    # connection would keep its own zlib state, and compressing secrets beside text a caller
    # chooses in one stream is what compression oracles (CRIME, BREACH) feed on.
    "ws_per_message_deflate": False,
    # WebSocket protocol pings find dead peers (closed after no pong within the timeout); the
    # graphql-transport-ws keepalive (SHAREGRAPH_SUBSCRIPTION_KEEPALIVE) keeps proxies awake.
    # uvicorn's default, every 20 s, was 8 % of the server's time at 10,000 subscribers.
    "ws_ping_interval": 60.0,
    "ws_ping_timeout": 30.0,
    # Seconds an idle keep-alive connection is kept (a request head sent slowly has its own
    # limit, Limits.request_head_timeout_seconds).
    "timeout_keep_alive": 5,
}


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What ``uvicorn.run`` gets for these settings: :data:`UVICORN_LIMITS`; request heads
    that must be whole within ``Limits.request_head_timeout_seconds``; and open connections
    (keep-alive and WebSocket) capped at ``Limits.max_connections``: past it a new connection's
    request gets uvicorn's 503. Requests in flight have their own, lower cap in the app
    (``Limits.max_requests_in_flight``, web/body_limit.py).

    The protocol is a ``functools.partial`` of a module-level class, so it pickles: with
    ``--workers N`` uvicorn hands it to each spawned worker process with the rest of its
    config."""
    protocol = functools.partial(
        BoundedHeadProtocol, head_timeout=settings.limits.request_head_timeout_seconds
    )
    return {
        **UVICORN_LIMITS,
        "http": protocol,
        "limit_concurrency": settings.limits.max_connections,
    }


def export_settings(settings: Settings) -> None:
    """Put the settings the command line chose where worker processes read them."""
    os.environ["SHAREGRAPH_DATABASE_URL"] = settings.database_url
    os.environ["SHAREGRAPH_GRAPHIQL"] = "true" if settings.graphiql else "false"


def app_from_environment() -> FastAPI:
    """The app of one worker process, from the environment (uvicorn's ``factory``).

    Each process has its own pool, policy store (LISTEN for policy changes, plus the periodic
    version check) and scheduler; due work is claimed row by row, so N processes on one
    PostgreSQL still run every item once."""
    from sharegraph.console.site import create_app

    return create_app(Settings.from_env())
