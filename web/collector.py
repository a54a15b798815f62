"""Keeping the cyclic garbage collector's full passes short while thousands of WebSockets live.

Each open subscription keeps a few hundred container objects (its socket, protocol, tasks,
queues). CPython's full collection walks every tracked object that is not frozen, and runs
each time a quarter as many objects as the heap holds have survived the young generations: at
3,000 subscribers (750,000 objects) a full pass stopped the event loop for 1.1-1.5 s, at
10,000 for several seconds, and every event waiting on the loop meanwhile (the relay's wake-up,
the cohorts' evaluations, the frames) was late by as much (p99 2.8 s at 10,000 subscribers).

:class:`CollectorSteward` freezes (``gc.freeze``) what has survived, every ``every`` seconds
after a young collection: long-lived connections then leave the collector's walks, and the
automatic full passes only walk what was allocated since. A frozen object freed by its
reference count leaves the frozen set as usual; only garbage in reference cycles stays until
a full pass over everything (``gc.unfreeze`` then ``gc.collect``), which runs once the frozen
set may have grown by ``growth`` since the last such pass (counting what was frozen since,
some of which may have been freed), and at most once every ``full_every``
seconds (10 minutes): that pass is as long as the ones it replaces (seconds at 10,000
subscribers), so it may not come every few seconds while connections keep arriving. Memory held
by frozen cyclic garbage stays below that growth or ten minutes' worth, and with a steady
population of connections the long pause does not recur.

Ten minutes' worth is not bounded by the heap, though: a closed WebSocket leaves one to two
hundred objects in reference cycles (tasks, futures, contexts, events; 18-36 KiB shallow,
measured with the test client), and connections that come and go (clients reconnecting, or one
client churning on purpose) would pile that garbage up, frozen, at whatever rate they arrive.
Once the frozen set may have tripled (``ceiling``) the full pass runs however recent the last:
frozen garbage stays within twice the live heap, and the passes cost less per object frozen
than CPython's own (one each time a quarter of the heap has been promoted).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable
from typing import Any

FREEZE_SECONDS = 10.0
GROWTH = 1.5  # a full pass once the frozen set is this much larger than after the last one
FULL_PASS_SECONDS = 600.0  # and at most this often,
CEILING = 3.0  # unless the frozen set is this much larger (garbage of churned connections)
# Below this many frozen objects a full pass is short (tens of ms): no need to wait for growth.
SMALL_HEAP = 200_000
RECORDED_PAUSE_MS = 10.0  # collections shorter than this are not reported


class CollectorSteward:
    """Freezes survivors periodically; reports collections of ``RECORDED_PAUSE_MS`` or more
    to ``on_pause(milliseconds)`` (the live updates' timings)."""

    def __init__(
        self,
        on_pause: Callable[[float], None] | None = None,
        *,
        every: float = FREEZE_SECONDS,
        growth: float = GROWTH,
        full_every: float = FULL_PASS_SECONDS,
        ceiling: float = CEILING,
    ) -> None:
        self.on_pause = on_pause
        self.every = every
        self.growth = growth
        self.full_every = full_every
        self.ceiling = ceiling
        self._last_full = time.monotonic()
        self.full_passes = 0
        self._baseline = gc.get_freeze_count()
        self._promoted = 0  # objects frozen since the last full pass (some since freed)
        self._started = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.on_pause is not None:
            gc.callbacks.append(self._timed)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gc-steward")

    async def stop(self) -> None:
        if self.on_pause is not None and self._timed in gc.callbacks:
            gc.callbacks.remove(self._timed)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.step()

    def step(self) -> None:
        """One turn: freeze the survivors of a young collection, or, once the frozen set has
        grown past its allowance, collect everything and freeze what survives."""
        # Counted as they are frozen: gc.get_freeze_count() walks the whole frozen set (about a
        # second for 1.5 million objects on a busy machine), the very pause this avoids.
        full = self._promoted > max(SMALL_HEAP, self._baseline * (self.growth - 1)) and (
            time.monotonic() - self._last_full >= self.full_every
            or self._promoted > max(SMALL_HEAP, self._baseline * (self.ceiling - 1))
        )
        if full:
            gc.unfreeze()
            gc.collect()
            self.full_passes += 1
            self._last_full = time.monotonic()
            self._promoted = 0
        else:
            gc.collect(1)  # the young generations: short-lived garbage is not frozen
            self._promoted += len(gc.get_objects(generation=2))  # what is about to be frozen
        gc.freeze()
        if full:
            self._baseline = gc.get_freeze_count()

    def _timed(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        milliseconds = (time.perf_counter() - self._started) * 1000
        if milliseconds >= RECORDED_PAUSE_MS and self.on_pause is not None:
            self.on_pause(milliseconds)
