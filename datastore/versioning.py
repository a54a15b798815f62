"""Optimistic concurrency: every updatable record carries a version the writer must match."""

from __future__ import annotations

from typing import Any

from sharegraph.errors import Conflict


def check_version(record: Any, expected: int, what: str) -> None:
    """``CONFLICT`` (``VERSION_MISMATCH``) unless ``record`` is still at ``expected``.

    Call it on a row read ``FOR UPDATE`` (PostgreSQL) or in a write transaction (SQLite's are
    exclusive), so that no other writer slips in between the check and the bump."""
    if record.version != expected:
        raise Conflict(
            f"the {what} is at version {record.version}, not {expected}; "
            "reload it and apply your change again",
            reason="VERSION_MISMATCH",
            currentVersion=record.version,
        )


def bump(record: Any, expected: int, what: str) -> None:
    check_version(record, expected, what)
    record.version = expected + 1
