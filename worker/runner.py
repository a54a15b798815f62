"""The scheduler: runs every registered kind of due work, in passes, until stopped.

It runs inside ``sharegraph serve`` (started and stopped with the app) and as
``sharegraph worker`` (``--once`` for one pass). Any number of them may run against one
database: each kind claims its rows so that every item is processed once (see ``work``).
Between passes it sleeps ``poll_seconds``; on PostgreSQL a NOTIFY on ``DUE_WORK_CHANNEL``
wakes it early. Kinds marked ``on_events`` (webhooks) also run, alone, as soon as new outbox
events commit: right after a commit in this process (``Database.event_listeners``), and on
PostgreSQL on the relay's NOTIFY (``sharegraph_events``) from any process; the poll stays the
backstop, and a full pass still runs every ``poll_seconds`` however often events arrive. A kind
that ends with ``job.again`` (work left, its time budget spent) runs again at once. A kind that
raises is logged and reported; the other kinds still run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.datastore.listen import listen_forever
from sharegraph.datastore.relay import EVENTS_CHANNEL
from sharegraph.datastore.work import DUE_WORK_CHANNEL, DueWork, Failure, Job, Retries

log = logging.getLogger("sharegraph.scheduler")

DEFAULT_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class KindReport:
    name: str
    ran: bool
    done: int = 0
    failures: tuple[Failure, ...] = ()
    error: str | None = None  # the kind itself failed (e.g. the database went away)
    seconds: float = 0.0
    again: bool = False  # work is left that is due now

    def to_json(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "done": self.done,
            "failed": len(self.failures),
            "failures": [f.to_json() for f in self.failures],
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class PassReport:
    now: datetime
    kinds: tuple[KindReport, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(k.error is None and not k.failures for k in self.kinds)

    def kind(self, name: str) -> KindReport:
        return next(k for k in self.kinds if k.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "ok": self.ok,
            "kinds": {k.name: k.to_json() for k in self.kinds},
        }


class Scheduler:
    def __init__(
        self,
        db: Database,
        kinds: Sequence[DueWork],
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        clock: Callable[[], datetime] = utcnow,
        batch_size: int = 100,
    ) -> None:
        names = [k.name for k in kinds]
        if len(set(names)) != len(names):
            raise ValueError(f"kinds of due work must have distinct names: {names}")
        self.db = db
        self.kinds = tuple(kinds)
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.batch_size = batch_size
        self.retries = Retries()
        self._last_run: dict[str, datetime] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._full = False  # a full pass was asked for (wake())
        self._urgent: set[str] = set()  # kinds asked for alone (new events, job.again)
        self._event_kinds = frozenset(k.name for k in self.kinds if k.on_events)

    # -- one pass -------------------------------------------------------------------------------
    async def run_once(
        self, now: datetime | None = None, *, only: frozenset[str] | None = None
    ) -> PassReport:
        """Run every kind (``only``: these kinds) that is due at ``now`` (default: the clock)
        once."""
        now = now or self.clock()
        # Each kind's clock is the pass's, advanced by the time the kinds before it took: a
        # lease stamped from a clock minutes stale (replication ran first) would already have
        # expired, and another process would claim and send the same messages again.
        spent = 0.0  # seconds the kinds of this pass have taken so far
        reports = []
        for kind in self.kinds:
            if only is not None and kind.name not in only:
                continue
            last = self._last_run.get(kind.name)
            if kind.every is not None and last is not None and now < last + kind.every:
                reports.append(KindReport(kind.name, ran=False))
                continue
            report = await self._run_kind(kind, now + timedelta(seconds=spent))
            spent += report.seconds
            reports.append(report)
            self._last_run[kind.name] = now
        return PassReport(now, tuple(reports))

    async def _run_kind(self, kind: DueWork, now: datetime) -> KindReport:
        job = Job(kind.name, self.db, now, self.retries, batch_size=self.batch_size)
        started = time.perf_counter()
        error: str | None = None
        try:
            await kind.run(job)
        except Exception as exc:  # one kind's outage must not stop the others
            error = f"{type(exc).__name__}: {exc}"
            log.exception("due work %s failed", kind.name)
        seconds = time.perf_counter() - started
        if job.done or job.failures:
            log.info("due work %s: %d done, %d failed", kind.name, job.done, len(job.failures))
        return KindReport(kind.name, True, job.done, tuple(job.failures), error, seconds, job.again)

    # -- running in the background --------------------------------------------------------------
    async def start(self) -> None:
        """Run passes in the background until :meth:`stop`."""
        if self._event_kinds:
            self.db.event_listeners.append(self.events_committed)
        self._tasks.append(asyncio.create_task(self._loop(), name="scheduler"))
        if self.db.dialect == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen(), name="scheduler-listen"))

    async def stop(self) -> None:
        """Cancel the loop; a pass in flight rolls back its open transaction (its items stay
        due and run on the next pass, here or in another process). Then the kinds release what
        they hold (:meth:`close`)."""
        with contextlib.suppress(ValueError):
            self.db.event_listeners.remove(self.events_committed)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.close()

    async def close(self) -> None:
        """Let every kind release what it holds (the webhook sender's connection pools); after
        :meth:`run_once` without :meth:`start`, call it when done."""
        for kind in self.kinds:
            if kind.close is not None:
                try:
                    await kind.close()
                except Exception:
                    log.exception("closing due work %s failed", kind.name)

    def wake(self, kinds: frozenset[str] | None = None) -> None:
        """Start the next pass now instead of after the poll interval (``kinds``: a pass of
        only these kinds)."""
        if kinds is None:
            self._full = True
        else:
            self._urgent |= kinds
        self._wake.set()

    def events_committed(self) -> None:
        """New outbox events: run the kinds that follow them now."""
        if self._event_kinds:
            self.wake(self._event_kinds)

    async def _loop(self) -> None:
        last_full = -math.inf
        while True:
            self._wake.clear()
            full = self._full or time.monotonic() - last_full >= self.poll_seconds
            only: frozenset[str] | None = None
            if full:
                self._full = False
                self._urgent.clear()
                last_full = time.monotonic()
            else:
                only, self._urgent = frozenset(self._urgent), set()
            try:
                report = await self.run_once(only=only)
                again = {k.name for k in report.kinds if k.again}
                if again:
                    self.wake(frozenset(again))
            except Exception:  # run_once reports per kind; this is a last resort
                log.exception("scheduler pass failed")
            wait = self.poll_seconds - (time.monotonic() - last_full)
            if wait > 0:
                # asyncio.timeout: wait_for (3.11) can swallow the stop's cancellation.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def _listen(self) -> None:
        async def caught_up() -> None:
            self.wake()  # anything announced while disconnected

        def notified(channel: str, _payload: str) -> None:
            if channel == EVENTS_CHANNEL:
                self.events_committed()
            else:
                self.wake()

        channels = [DUE_WORK_CHANNEL] + ([EVENTS_CHANNEL] if self._event_kinds else [])
        await listen_forever(self.db.url, channels, notified, caught_up, name="scheduler")
