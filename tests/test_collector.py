"""The collector steward: long-lived objects leave the collector's walks; cyclic garbage among
them is still reclaimed once the frozen set has grown; long collections are reported."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from sharegraph.web import collector
from sharegraph.web.collector import CollectorSteward


class _Node:
    def __init__(self) -> None:
        self.other: Any = self  # a reference cycle: only the cyclic collector frees it


def test_survivors_are_frozen_and_stay_alive() -> None:
    steward = CollectorSteward()
    kept = [_Node() for _ in range(1_000)]
    before = gc.get_freeze_count()
    steward.step()
    assert gc.get_freeze_count() >= before + len(kept)
    assert all(n.other is n for n in kept)


def test_frozen_cyclic_garbage_is_reclaimed_once_the_frozen_set_grows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collector, "SMALL_HEAP", 0)
    steward = CollectorSteward(growth=1.5, full_every=0.0)
    steward.step()  # the baseline: everything alive now
    cycles = [_Node() for _ in range(100)]
    refs = [weakref.ref(n) for n in cycles]
    steward.step()  # frozen while still referenced
    del cycles
    gc.collect()
    assert all(r() is not None for r in refs), "frozen cycles are out of the collector's reach"

    assert steward._promoted >= len(refs)
    steward._baseline = 1  # the frozen set has grown past its allowance
    steward.step()
    assert steward.full_passes == 1
    assert all(r() is None for r in refs)
    assert steward._baseline == gc.get_freeze_count()
    assert steward._promoted == 0


def test_no_full_pass_while_the_frozen_set_stays_within_its_allowance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collector, "SMALL_HEAP", 0)
    steward = CollectorSteward(growth=1.5, full_every=0.0)
    steward._baseline = 10**9  # a frozen set far larger than anything frozen since
    for _ in range(3):
        steward.step()
    assert steward.full_passes == 0


def test_full_passes_are_spaced_even_when_the_frozen_set_grows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collector, "SMALL_HEAP", 0)
    steward = CollectorSteward(growth=1.5, full_every=3600.0, ceiling=3.0)
    steward._baseline = 10**7
    steward._promoted = 6 * 10**6  # grown past its allowance, but the last pass is too recent
    steward.step()
    assert steward.full_passes == 0
    steward._last_full -= 3600.0
    steward.step()
    assert steward.full_passes == 1


def test_churned_connections_garbage_is_reclaimed_however_recent_the_last_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Connections that come and go leave cycles frozen with them: once the frozen set may
    have tripled they are collected, not kept for the rest of the ten minutes."""
    monkeypatch.setattr(collector, "SMALL_HEAP", 0)
    steward = CollectorSteward(growth=1.5, full_every=3600.0, ceiling=3.0)
    steward.step()
    cycles = [_Node() for _ in range(100)]
    refs = [weakref.ref(n) for n in cycles]
    steward.step()  # frozen while their connection lived
    del cycles
    steward._baseline = 10**7
    steward._promoted = 2 * 10**7 + 1  # the frozen set may have tripled since the last pass
    steward.step()
    assert steward.full_passes == 1
    assert all(r() is None for r in refs)


async def test_collections_are_reported_and_the_callback_removed_on_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collector, "RECORDED_PAUSE_MS", 0.0)
    pauses: list[float] = []
    steward = CollectorSteward(pauses.append, every=0.01)
    steward.start()
    await asyncio.sleep(0.05)  # a few turns of the periodic task
    gc.collect()
    await steward.stop()
    assert pauses and all(p >= 0 for p in pauses)
    assert steward._timed not in gc.callbacks
    count = len(pauses)
    gc.collect()
    assert len(pauses) == count
