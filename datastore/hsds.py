"""HSDS 3.0 field rules for directory writes (``tests/data/hsds-3.0/schema/*.json``).

Each check takes a value that is not ``None`` and returns a :class:`Problem` or ``None``; record
checks see the record's values after the change (column -> value) and catch what no single field
can (an age range upside down). Nothing here knows GraphQL: callers name fields as they like.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sharegraph.errors import quote


@dataclass(frozen=True)
class Problem:
    reason: str
    message: str
    column: str | None = None  # set by record checks, which span several columns


Check = Callable[[Any], Problem | None]
RecordCheck = Callable[[Mapping[str, Any]], Problem | None]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
_PHONE = re.compile(r"^[0-9A-Za-z +().\-/]+$")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY = re.compile(r"^(?P<nth>[+-]?[1-5])?(?P<day>MO|TU|WE|TH|FR|SA|SU)$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)?$")
FREQUENCIES = ("WEEKLY", "MONTHLY")
# RFC 6350 TEL types, as HSDS phone.type lists them.
PHONE_TYPES = ("text", "voice", "fax", "cell", "video", "pager", "textphone")


def not_blank(value: Any) -> Problem | None:
    if isinstance(value, str) and not value.strip():
        return Problem("REQUIRED_FIELD", "must not be empty")
    return None


def email(value: Any) -> Problem | None:
    if not _EMAIL.match(str(value)):
        return Problem("INVALID_EMAIL", f"{quote(value)} is not an email address")
    return None


def uri(value: Any) -> Problem | None:
    """An absolute URI (HSDS ``format: uri``); web addresses need a host."""
    text = str(value)
    parts = urlsplit(text)
    if (
        any(c.isspace() for c in text)
        or not parts.scheme
        or not _SCHEME.match(parts.scheme)
        or (parts.scheme.lower() in {"http", "https"} and not parts.netloc)
        or not (parts.netloc or parts.path)
    ):
        return Problem("INVALID_URI", f"{quote(value)} is not an absolute URI (https://...)")
    return None


def year(value: Any) -> Problem | None:
    this_year = datetime.now(UTC).year
    if not 1000 <= int(value) <= this_year:
        return Problem("INVALID_YEAR", f"{value} is not a year between 1000 and {this_year}")
    return None


def age(value: Any) -> Problem | None:
    if not 0 <= int(value) <= 150:
        return Problem("INVALID_AGE", f"{value} is not an age in years (0 to 150)")
    return None


def latitude(value: Any) -> Problem | None:
    if not -90 <= float(value) <= 90:
        return Problem("INVALID_COORDINATE", f"latitude {value} is not between -90 and 90")
    return None


def longitude(value: Any) -> Problem | None:
    if not -180 <= float(value) <= 180:
        return Problem("INVALID_COORDINATE", f"longitude {value} is not between -180 and 180")
    return None


def phone_number(value: Any) -> Problem | None:
    text = str(value).strip()
    if not text:
        return Problem("REQUIRED_FIELD", "a phone number must not be empty")
    if not _PHONE.match(text) or sum(c.isdigit() for c in text) < 3:
        return Problem(
            "INVALID_PHONE_NUMBER",
            f"{quote(value)} is not a phone number "
            "(digits, spaces, + - ( ) . /; at least 3 digits)",
        )
    return None


def extension(value: Any) -> Problem | None:
    if not str(value).isdigit():
        return Problem("INVALID_EXTENSION", f"extension {quote(value)} must be digits only")
    return None


def one_of(choices: tuple[str, ...]) -> Check:
    def check(value: Any) -> Problem | None:
        if value not in choices:
            return Problem("INVALID_ENUM", f"{quote(value)} is not one of {', '.join(choices)}")
        return None

    return check


def positive(value: Any) -> Problem | None:
    if int(value) < 1:
        return Problem("INVALID_INTERVAL", f"{value} must be 1 or more")
    return None


def byday(value: Any) -> Problem | None:
    parts = str(value).split(",")
    if not all(_BYDAY.match(p.strip()) for p in parts):
        return Problem(
            "INVALID_BYDAY",
            f"{quote(value)} is not a comma-separated list of {','.join(_WEEKDAYS)} "
            "(each optionally preceded by an occurrence such as 2MO or -1FR)",
        )
    return None


def bymonthday(value: Any) -> Problem | None:
    try:
        days = [int(p) for p in str(value).split(",")]
    except ValueError:
        days = []
    if not days or not all(1 <= abs(d) <= 31 for d in days):
        return Problem(
            "INVALID_BYMONTHDAY",
            f"{quote(value)} is not a comma-separated list of days of the month "
            "(1 to 31, or -31 to -1 from the end)",
        )
    return None


def time_of_day(value: Any) -> Problem | None:
    if not _TIME.match(str(value)):
        return Problem(
            "INVALID_TIME",
            f"{quote(value)} is not a time of day "
            "(HH:MM or HH:MM:SS, optionally with Z or an offset)",
        )
    return None


def timezone(value: Any) -> Problem | None:
    """HSDS gives a UTC offset in hours; an IANA zone name is accepted too."""
    text = str(value).strip()
    try:
        offset = float(text)
    except ValueError:
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            return Problem(
                "INVALID_TIMEZONE",
                f"{quote(value)} is neither a UTC offset in hours (-12 to 14) "
                "nor an IANA time zone",
            )
        return None
    if not -12 <= offset <= 14:
        return Problem("INVALID_TIMEZONE", f"UTC offset {value} is not between -12 and 14")
    return None


def max_length(limit: int) -> Check:
    def check(value: Any) -> Problem | None:
        if isinstance(value, str) and len(value) > limit:
            return Problem("TOO_LONG", f"is {len(value)} characters long; at most {limit}")
        return None

    return check


# -- record checks ------------------------------------------------------------------------------


def ordered(low: str, high: str, reason: str) -> RecordCheck:
    """``low`` must not exceed ``high`` when both are set."""

    def check(values: Mapping[str, Any]) -> Problem | None:
        a, b = values.get(low), values.get(high)
        if a is not None and b is not None and a > b:
            return Problem(reason, f"{low} ({a}) is after {high} ({b})", column=low)
        return None

    return check


def both_or_neither(first: str, second: str) -> RecordCheck:
    def check(values: Mapping[str, Any]) -> Problem | None:
        if (values.get(first) is None) != (values.get(second) is None):
            return Problem(
                "INCOMPLETE_COORDINATES", f"give both {first} and {second}, or neither", first
            )
        return None

    return check


def monthly_parts(values: Mapping[str, Any]) -> Problem | None:
    """Occurrences in ``byday`` (2MO) and ``bymonthday`` only make sense when freq is MONTHLY."""
    if values.get("freq") == "MONTHLY":
        return None
    days = str(values.get("byday") or "").split(",")
    if any((m := _BYDAY.match(d.strip())) and m.group("nth") for d in days):
        return Problem("INVALID_BYDAY", "occurrences such as 2MO need freq MONTHLY", column="byday")
    if values.get("bymonthday") is not None:
        return Problem("INVALID_BYMONTHDAY", "bymonthday needs freq MONTHLY", column="bymonthday")
    return None
