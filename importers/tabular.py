"""What the CSV folder formats share: child rows grouped by the record they belong to, and the
spelling of days and times.

Child tables (phones, addresses, schedules...) are separate files whose rows point at their
record by id, in any order. They are read first and grouped per record (only the rows, never
a whole file's text), so each record then streams with its children attached; rows whose
record is not in the folder are handed over on their own (``attach_only``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sharegraph.importers.records import (
    CHILD_SPECS,
    Child,
    ChildTable,
    Item,
    Kind,
    Note,
    Origin,
    Record,
    Ref,
    Rejected,
)
from sharegraph.importers.sources import LINE_LIMIT, CsvRow, Progress, read_csv

_DAYS = {
    "monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH", "friday": "FR",
    "saturday": "SA", "sunday": "SU",
    "mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA", "sun": "SU",
    # HSDS 1.1 weekday numbers, ISO order (1 is Monday).
    "1": "MO", "2": "TU", "3": "WE", "4": "TH", "5": "FR", "6": "SA", "7": "SU",
}  # fmt: skip
_CLOCK = re.compile(
    r"^(?P<h>\d{1,2})(?::(?P<m>\d{2}))?(?::(?P<s>\d{2}))?\s*(?P<ampm>[ap])\.?\s*m?\.?$", re.I
)
# A scheme ("https:", "file:"...): data package paths may be URLs, which imports never follow.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CLOCK_24 = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?$")


def weekday(text: str | None) -> str | None:
    if not text:
        return None
    return _DAYS.get(text.strip().lower())


def clock(text: str | None) -> str | None:
    """``9am``, ``4:00 PM``, ``17:00``, ``09:00:00`` -> ``HH:MM[:SS]``; None if unreadable."""
    if not text or not text.strip():
        return None
    text = text.strip()
    match = _CLOCK.match(text) or _CLOCK_24.match(text)
    if match is None:
        return None
    hour, minute = int(match["h"]), int(match["m"] or 0)
    ampm = match.groupdict().get("ampm")
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.lower() == "p" else 0)
    if hour > 23 or minute > 59:
        return None
    seconds = f":{match['s']}" if match["s"] else ""
    return f"{hour:02d}:{minute:02d}{seconds}"


def split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@dataclass
class ChildIndex:
    """Child rows per (kind, key) of the record they belong to."""

    rows: dict[tuple[Kind, str], dict[ChildTable, list[Child]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    # Which child tables the folder carries, for which kinds of record.
    carried: dict[ChildTable, set[Kind]] = field(default_factory=lambda: defaultdict(set))

    def carry(self, table: ChildTable, kinds: set[Kind] | None = None) -> None:
        owners = set(CHILD_SPECS[table].owners) if kinds is None else kinds
        self.carried[table] |= owners

    def add(self, owner: Ref, table: ChildTable, child: Child) -> None:
        self.carried[table].add(owner.kind)
        self.rows[(owner.kind, owner.key)][table].append(child)

    def attach(self, record: Record) -> Record:
        found = self.rows.pop((record.kind, record.key), {})
        for table, kinds in self.carried.items():
            if record.kind in kinds:
                record.children.setdefault(table, []).extend(found.get(table, []))
        return record

    def leftovers(self) -> Iterator[Record]:
        for (kind, key), tables in self.rows.items():
            origin = next(
                (c.origin for kids in tables.values() for c in kids if c.origin), Origin("?")
            )
            yield Record(kind, key, origin, children=dict(tables), attach_only=True)
        self.rows.clear()


def owner_of(row: dict[str, str], table: ChildTable) -> tuple[Ref | None, dict[str, Ref]]:
    """The record a child row belongs to (its most specific parent) and its other parents."""
    owner: Ref | None = None
    others: dict[str, Ref] = {}
    for kind, column in CHILD_SPECS[table].owners.items():
        key = (row.get(column) or "").strip()
        if not key:
            continue
        if owner is None:
            owner = Ref(kind, key)
        else:
            others[column] = Ref(kind, key)
    return owner, others


class CsvFolder:
    """A folder of CSV files, read row by row."""

    def __init__(self, folder: Path, progress: Progress) -> None:
        self.folder = folder
        self.progress = progress

    def find(self, *names: str) -> Path | None:
        """The first of the named files the folder holds (never a file outside it)."""
        for name in names:
            path = self.inside(name)
            if path is not None and path.is_file():
                return path
        return None

    def inside(self, name: str) -> Path | None:
        """``name`` in the folder, or None if it is a URL or leads out of the folder (an
        absolute path, ``..``, a link to elsewhere): a data package names its own files."""
        if _URL.match(name):
            return None
        path = self.folder / name
        try:
            resolved = path.resolve()
            root = self.folder.resolve()
        except (OSError, RuntimeError):
            return None
        return path if resolved.is_relative_to(root) and resolved != root else None

    def rows(self, path: Path) -> Iterator[CsvRow | Rejected]:
        for row in read_csv(path, self.progress):
            if row.problem:
                yield Rejected(Origin(str(path), row.line), row.problem)
            else:
                yield row

    def ignored(self, names: dict[str, str]) -> Iterator[Item]:
        """A note per file of a table the directory model does not hold, if it has rows."""
        for name, what in names.items():
            path = self.find(name)
            if path is None:
                continue
            if _has_rows(path):
                yield Note(
                    Origin(str(path)), f"{what} are not part of the directory model; not imported"
                )


def _has_rows(path: Path) -> bool:
    with path.open("rb") as raw:
        return sum(1 for _ in range(2) if raw.readline(LINE_LIMIT).strip()) > 1
