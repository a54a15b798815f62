"""The limits uvicorn enforces itself when `sharegraph serve` runs the app.

What uvicorn's HTTP parser refuses never reaches the app, so it is answered in uvicorn's own
plain text (400 "Invalid HTTP request received.", 503 "Service Unavailable"), not in the
GraphQL error shape. Bodies are the app's to limit (web/body_limit.py).
"""

from __future__ import annotations

from typing import Any

UVICORN_LIMITS: dict[str, Any] = {
    # h11, not httptools: httptools puts no bound on a header (a 10 MB header line was read
    # and handed to the app), while h11 refuses a request head once more than
    # `h11_max_incomplete_event_size` bytes of it are buffered unfinished.
    "http": "h11",
    "h11_max_incomplete_event_size": 16 * 1024,
    # Connections plus requests in flight; past it new requests get a 503 at once, which bounds
    # memory (each request may hold a body of up to `max_body_bytes` and its parse).
    "limit_concurrency": 100,
    # Seconds an idle keep-alive connection is kept. uvicorn has no timeout for a client that
    # sends its request slowly: a reverse proxy in front should.
    "timeout_keep_alive": 5,
}
