"""One reconnecting PostgreSQL LISTEN loop, for everything that wakes on NOTIFY.

NOTIFY is only a wake-up: notifications sent while a listener is disconnected are gone, and a
LISTEN through a pooled connection dies silently when the pool resets it. So every listener
here holds a connection of its own, calls ``on_connect`` after each (re)connect to catch up
with what it may have missed (reloading from the table it watches), and reconnects after any
failure. The policy store, the scheduler and the event relay use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger("sharegraph.listen")

RECONNECT_DELAY_SECONDS = 1.0
CLOSE_TIMEOUT_SECONDS = 5.0


def listen_dsn(database_url: str) -> str:
    """The plain libpq DSN of an SQLAlchemy PostgreSQL URL (asyncpg connects without a pool)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_forever(
    database_url: str,
    channels: Sequence[str],
    on_notify: Callable[[str, str], None],
    on_connect: Callable[[], Awaitable[None]],
    *,
    name: str,
    reconnect_delay: float = RECONNECT_DELAY_SECONDS,
) -> None:
    """LISTEN on ``channels`` until cancelled: ``on_notify(channel, payload)`` for each
    notification (called on the event loop; keep it quick), ``on_connect()`` after every
    (re)connect, once the LISTENs are in place, so nothing falls between the two."""
    import asyncpg  # type: ignore[import-untyped]

    dsn = listen_dsn(database_url)
    while True:
        connection: Any = None
        try:
            connection = await asyncpg.connect(dsn)
            closed = asyncio.Event()
            connection.add_termination_listener(lambda *_, event=closed: event.set())
            for channel in channels:
                await connection.add_listener(
                    channel, lambda _c, _pid, ch, payload: on_notify(ch, payload)
                )
            await on_connect()
            await closed.wait()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("%s: LISTEN connection lost; reconnecting", name, exc_info=True)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    # Bounded: asyncpg aborts the connection if the goodbye is not answered
                    # in time, so stopping a process never waits on a half-dead socket.
                    await connection.close(timeout=CLOSE_TIMEOUT_SECONDS)
        await asyncio.sleep(reconnect_delay)
