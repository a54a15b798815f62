"""Splitting long ``IN (...)`` lists so one statement never binds too many parameters.

PostgreSQL (asyncpg) refuses a statement with more than 32,767 bound parameters, SQLite more
than 32,766; a DataLoader batch can be larger than either (every row a wide page needs), and
each id of an ``IN`` list is one parameter. Chunks of 5,000 stay far below both limits and
leave room for the parameters the access plan's row filter adds to the same statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

IN_LIST_CHUNK = 5_000


def chunks(values: Iterable[T], size: int = IN_LIST_CHUNK) -> Iterator[list[T]]:
    """``values`` without duplicates, in order, ``size`` at a time."""
    batch: list[T] = []
    for value in dict.fromkeys(values):
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
