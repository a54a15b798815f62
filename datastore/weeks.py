"""ISO weeks on a tenant's wall clock, computed by the database the same way on both backends.

PostgreSQL converts with its own IANA database (``timezone(zone, ts)``) and formats with
``IYYY-"W"IW``. SQLite has no time zones: the engine registers :func:`iso_week` as the SQL
function ``sg_iso_week`` on every connection, and it converts with Python's zoneinfo. Both give
``2026-W05`` for any instant in the ISO week that starts on Monday 26 January 2026 local time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, literal

from sharegraph.errors import BadUserInput

SQLITE_FUNCTION = "sg_iso_week"


def label(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def iso_week(stored: str | None, zone: str) -> str | None:
    """SQLite's ``sg_iso_week(utc_text, zone)``: the ISO week of a stored UTC timestamp."""
    if stored is None:
        return None
    moment = datetime.fromisoformat(stored)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return label(moment.astimezone(ZoneInfo(zone)))


def local_iso_week(column: Any, zone: str, dialect: str) -> ColumnElement[str]:
    """The ISO week (``YYYY-Www``) of a UTC timestamp column on the wall clock of ``zone``."""
    if dialect == "postgresql":
        return func.to_char(func.timezone(literal(zone), column), literal('IYYY-"W"IW'))
    return getattr(func, SQLITE_FUNCTION)(column, literal(zone))  # type: ignore[no-any-return]


def start_of_day(day: date, zone: str) -> datetime:
    """The UTC instant a local calendar day starts (where midnight is skipped by a daylight
    saving change, the first instant of the day)."""
    try:
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except OverflowError as exc:
        raise _out_of_range(day) from exc


def end_of_day(day: date, zone: str) -> datetime:
    """The UTC instant the local day after ``day`` starts (an exclusive upper bound)."""
    try:
        following = day + timedelta(days=1)
    except OverflowError as exc:
        raise _out_of_range(day) from exc
    return start_of_day(following, zone)


def week_start(moment: datetime, zone: str) -> datetime:
    """The UTC instant the ISO week holding ``moment`` starts (Monday 00:00 on the wall clock of
    ``zone``)."""
    day = moment.astimezone(ZoneInfo(zone)).date()
    return start_of_day(day - timedelta(days=day.weekday()), zone)


def _out_of_range(day: date) -> BadUserInput:
    return BadUserInput(f"{day.isoformat()} is out of range", reason="DATE_OUT_OF_RANGE")
