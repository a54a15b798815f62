"""Raw values from a file -> column values, driven by the column types of the models.

Readers hand over strings (or JSON scalars) under the column's name; here they become what the
column holds. A value that cannot be stored (not a number, a latitude of 100, a date nobody can
read or one outside ``values.DATE_RANGE``) is dropped with a reason; a text longer than its
column is cut with a reason. Required columns, and text no database can store (which refuses
the whole record), are the importer's business.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import Boolean, Date, Integer, Numeric, String
from sqlalchemy import Enum as SAEnum

from sharegraph.datastore.values import date_problem
from sharegraph.errors import quote

_DATE_FORMATS = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%d %B %Y",
    "%Y/%m/%d",
)
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_RANGES = {"latitude": (-90.0, 90.0), "longitude": (-180.0, 180.0)}


def parse_date(text: str) -> date | None:
    text = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def clean_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def coerce(model: Any, column: str, raw: Any) -> tuple[Any, str | None]:
    """(the column value, why the raw value was changed or dropped, or None)."""
    if raw is None:
        return None, None
    if isinstance(raw, str):
        raw = raw.strip()
        if raw == "":
            return None, None
    col = model.__table__.c[column]
    kind = col.type
    if isinstance(kind, SAEnum) and kind.enum_class is not None:
        wanted = str(raw).strip().lower()
        for member in kind.enum_class:
            if member.value == wanted:
                return member, None
        allowed = ", ".join(m.value for m in kind.enum_class)
        return None, f"{column} {raw!r} is not one of {allowed}; left out"
    if isinstance(kind, Boolean):
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True, None
        if text in _FALSE:
            return False, None
        return None, f"{column} {raw!r} is not true or false; left out"
    if isinstance(kind, Integer):
        try:
            number = float(raw) if not isinstance(raw, int) else raw
        except (TypeError, ValueError):
            return None, f"{column} {raw!r} is not a whole number; left out"
        if isinstance(number, float) and not number.is_integer():
            return None, f"{column} {raw!r} is not a whole number; left out"
        value = int(number)
        if not -(2**31) <= value < 2**31:
            return None, f"{column} {raw!r} is out of range; left out"
        return value, None
    if isinstance(kind, Numeric):
        try:
            number = float(raw)
        except (TypeError, ValueError):
            return None, f"{column} {raw!r} is not a number; left out"
        low, high = _RANGES.get(column, (float("-inf"), float("inf")))
        if not low <= number <= high:
            return None, f"{column} {raw!r} is outside {low:g} to {high:g}; left out"
        return round(number, 6), None
    if isinstance(kind, Date):
        if isinstance(raw, date):
            parsed: date | None = raw.date() if isinstance(raw, datetime) else raw
        else:
            parsed = parse_date(str(raw))
        if parsed is None:
            return None, f"{column} {raw!r} is not a date; left out"
        problem = date_problem(parsed)
        if problem is not None:
            return None, f"{column} {quote(raw)} {problem}; left out"
        return parsed, None
    if isinstance(kind, String):
        text = str(raw).strip()
        if isinstance(raw, float) and raw.is_integer():
            text = str(int(raw))
        length = kind.length
        if length is not None and len(text) > length:
            return text[:length], f"{column} is longer than {length} characters; cut"
        return text, None
    return raw, None


def comparable(value: Any) -> Any:
    """One spelling per value, whatever the backend returned (enums, floats, decimals)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return round(float(value), 6)
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, uuid.UUID):
        return value
    return value


def as_text(value: Any) -> str | None:
    """A value as history keeps it."""
    value = comparable(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
