"""The values every backend can store and compare, checked once for every way data comes in
(GraphQL scalars and inputs, HSDS query parameters, import files, form answers).

- **Instants** lie from 1000-01-01T00:00:00Z through 9998-12-31T23:59:59.999999Z once converted
  to UTC. Python's datetime stops at years 1 and 9999, so an instant near either end overflows
  when it is converted to UTC or shown in a zone 14 hours away; a year of room on each side
  also keeps day, week and month arithmetic on a filter bound safe. PostgreSQL ``timestamptz``
  holds the range, and SQLite's text compares in order (years are always four digits).
- **Dates** lie from 1000-01-01 through 9998-12-31, for the same reasons.
- **Text** holds no U+0000 (PostgreSQL text and jsonb cannot store it; SQLite would, and then
  every export would carry it) and no lone surrogate U+D800..U+DFFF (JSON escapes can spell one,
  UTF-8 cannot encode it).

Naive datetimes are the caller's business: GraphQL refuses them, the HSDS API reads them as UTC;
here one is checked as if it were UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

FIRST_DATE = date(1000, 1, 1)
LAST_DATE = date(9998, 12, 31)
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
INSTANT_RANGE = "1000-01-01T00:00:00Z to 9998-12-31T23:59:59Z (in UTC)"
DATE_RANGE = "1000-01-01 to 9998-12-31"

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean(text: str) -> str:
    """``text`` with every unstorable character as U+FFFD, fit to echo in a message (a lone
    surrogate cannot even be sent back as JSON)."""
    return _UNSTORABLE.sub("\ufffd", text)


def instant_problem(moment: datetime) -> str | None:
    """Why ``moment`` cannot be stored ("is outside ..."), or None. Comparing aware datetimes
    never overflows, unlike converting them."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if EARLIEST <= aware <= LATEST:
        return None
    return f"is outside the supported range {INSTANT_RANGE}"


def date_problem(day: date) -> str | None:
    """Why ``day`` cannot be stored ("is outside ..."), or None."""
    if isinstance(day, datetime):
        return instant_problem(day)
    if FIRST_DATE <= day <= LAST_DATE:
        return None
    return f"is outside the supported range {DATE_RANGE}"


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored ("holds ..."), or None; the text itself is not repeated."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return f"holds the character U+{ord(found.group()):04X}, which cannot be stored"


def first_unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first string in ``value`` (nested lists and dicts, keys included) that cannot be
    stored: (its path, why), or None."""
    if isinstance(value, str):
        problem = text_problem(value)
        return (path, problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = clean(str(key))
            where = f"{path}.{name}" if path else name
            found = first_unstorable(key, where) if isinstance(key, str) else None
            found = found or first_unstorable(item, where)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = first_unstorable(item, f"{path}[{index}]")
            if found:
                return found
    return None
