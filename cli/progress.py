"""Progress bars for long commands: rich, on standard error, only when it is a terminal (so
pipes, logs and ``--json`` output stay clean), gone once the command ends."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, Protocol


class Advance(Protocol):
    def __call__(self, n: int, total: int | None = None) -> None:
        """``n`` more done; ``total``, once known, sets where the bar ends."""


def _ignore(n: int, total: int | None = None) -> None:
    return None


@contextmanager
def progress_bar(
    label: str,
    total: int | None = None,
    *,
    unit: Literal["bytes", "records", "rows"] = "records",
    enabled: bool = True,
) -> Iterator[Advance]:
    """Yields ``advance(n, total=None)``; without a total the bar pulses and counts."""
    if not enabled or not sys.stderr.isatty():
        yield _ignore
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    counter = DownloadColumn() if unit == "bytes" else TextColumn("{task.completed:,} " + unit)
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        counter,
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=total or None)

    def advance(n: int, total: int | None = None) -> None:
        if total is not None:
            bar.update(task, total=total)
        bar.advance(task, n)

    with bar:
        yield advance
