"""The scheduler: runs every registered kind of due work, in passes, until stopped.

It runs inside ``sharegraph serve`` (started and stopped with the app) and as
``sharegraph worker`` (``--once`` for one pass). Any number of them may run against one
database: each kind claims its rows so that every item is processed once (see ``work``).
Between passes it sleeps ``poll_seconds``; on PostgreSQL a NOTIFY on ``DUE_WORK_CHANNEL``
wakes it early. A kind that raises is logged and reported; the other kinds still run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.datastore.listen import listen_forever
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

    # -- one pass -------------------------------------------------------------------------------
    async def run_once(self, now: datetime | None = None) -> PassReport:
        """Run every kind that is due at ``now`` (default: the clock) once."""
        now = now or self.clock()
        reports = []
        for kind in self.kinds:
            last = self._last_run.get(kind.name)
            if kind.every is not None and last is not None and now < last + kind.every:
                reports.append(KindReport(kind.name, ran=False))
                continue
            reports.append(await self._run_kind(kind, now))
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
        return KindReport(kind.name, True, job.done, tuple(job.failures), error, seconds)

    # -- running in the background --------------------------------------------------------------
    async def start(self) -> None:
        """Run passes in the background until :meth:`stop`."""
        self._tasks.append(asyncio.create_task(self._loop(), name="scheduler"))
        if self.db.dialect == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen(), name="scheduler-listen"))

    async def stop(self) -> None:
        """Cancel the loop; a pass in flight rolls back its open transaction (its items stay
        due and run on the next pass, here or in another process)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def wake(self) -> None:
        """Start the next pass now instead of after the poll interval."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:  # run_once reports per kind; this is a last resort
                log.exception("scheduler pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def _listen(self) -> None:
        async def caught_up() -> None:
            self.wake()  # anything announced while disconnected

        await listen_forever(
            self.db.url,
            [DUE_WORK_CHANNEL],
            lambda _channel, _payload: self.wake(),
            caught_up,
            name="scheduler",
        )
