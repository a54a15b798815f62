"""Plain values for files: CSV cells a spreadsheet will not run, JSON-ready scalars.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (CSV injection); every CSV we write passes each cell,
headers included, through :func:`neutralize`, which prefixes such a cell with ``'``. A plain
number (``-93.61``) runs nothing and stays as it is, so coordinates keep their type. Importers
reading our files may drop a ``'`` that precedes one of those characters.
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MULTI_SELECT_SEPARATOR = "; "
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralize(cell: str) -> str:
    if cell.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def utc_iso(moment: datetime) -> str:
    """A UTC timestamp with its offset and millisecond precision (HSDS asks for both)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def scalar(value: Any) -> Any:
    """``value`` as a JSON scalar (or list/dict of them): UUIDs and times as text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Enum):
        return scalar(value.value)
    if isinstance(value, dict):
        return {str(k): scalar(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scalar(v) for v in value]
    return str(value)


def text(value: Any) -> str:
    """A spreadsheet cell for ``value``: lists joined as iCarol joins multi-selects, yes/no for
    booleans, UTC ISO 8601 for times; empty for nothing."""
    kind = type(value)
    if kind is str:
        # No database accepts U+0000 any more, but rows stored before may hold one, and a raw
        # NUL breaks the spreadsheets and CSV readers the file is for.
        return value.replace("\x00", "\ufffd") if "\x00" in value else value  # type: ignore[no-any-return]
    if value is None:
        return ""
    if kind is int:
        return str(value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list | tuple):
        return MULTI_SELECT_SEPARATOR.join(text(v) for v in value if v is not None)
    if isinstance(value, dict):
        return json.dumps(scalar(value), ensure_ascii=False, sort_keys=True)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    found = scalar(value)
    return found if isinstance(found, str) else str(found)


class SafeCsvWriter:
    """``csv.writer`` (RFC 4180, CRLF) whose every cell is neutralized."""

    def __init__(self, stream: IO[str]) -> None:
        self._writer = csv.writer(stream, lineterminator="\r\n")

    def row(self, cells: Sequence[Any]) -> None:
        self._writer.writerow([neutralize(text(c)) for c in cells])

    def rows(self, rows: Iterable[Sequence[Any]]) -> None:
        for cells in rows:
            self.row(cells)


def json_line(value: Any) -> str:
    return json.dumps(scalar(value), ensure_ascii=False, separators=(",", ":")) + "\n"
