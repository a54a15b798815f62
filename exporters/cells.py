"""Plain values for files: CSV cells a spreadsheet will not run, JSON-ready scalars.

A cell is a formula to Excel, LibreOffice or Google Sheets (CSV injection) when it starts with
a tab or a carriage return, or when its first visible character is ``=``, ``+``, ``-`` or
``@``. Visible means after any leading spaces, tabs, NBSP, other Unicode whitespace and
invisible format characters (a zero-width space, a byte order mark), which spreadsheets trim.
Their full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20) count too: spreadsheet apps treat
them as their ASCII twins. So, to be safe, do the small forms (U+FE66, U+FE62, U+FE63, U+FE6B)
and the minus sign U+2212.

Every CSV we write passes each cell, headers included, through :func:`neutralize`, which
prefixes such a cell with ``'``. A plain ASCII number (``-93.61``, ``+1``, also after leading
spaces) runs nothing and stays as it is, so coordinates keep their type. Importers reading our
files may drop a ``'`` that precedes one of those characters.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import IO, Any

# What a spreadsheet reads as the start of a formula, look-alikes included (see above).
FORMULA_CHARACTERS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b\u2212")
CONTROL_STARTS = ("\t", "\r")
MULTI_SELECT_SEPARATOR = "; "
_PLAIN_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cf"


def neutralize(cell: str) -> str:
    """``cell`` prefixed with ``'`` when a spreadsheet would run it (see the module docstring)."""
    if not cell or cell[0].isalnum():
        return cell  # most cells: nothing to look at past the first character
    if cell.startswith(CONTROL_STARTS):
        return "'" + cell
    start = 0
    while start < len(cell) and _invisible(cell[start]):
        start += 1
    if start == len(cell) or cell[start] not in FORMULA_CHARACTERS:
        return cell
    if _PLAIN_NUMBER.fullmatch(cell, start):
        return cell
    return "'" + cell


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
