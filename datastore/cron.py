"""Cron expressions on a tenant's wall clock ("0 6 * * *" is 06:00 where the tenant is).

Standard five fields (minute hour day-of-month month day-of-week, with ranges, lists, steps and
names), or the shorthands ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``.
Parsing and stepping are croniter's; daylight saving time is decided here, on the wall clock,
the way ``datastore.localtime`` decides it:

- a time the clocks skip (02:30 on the night they spring forward) fires as the instant the
  local time names under the old offset, i.e. as much later as the clocks jumped (03:30);
- a time that happens twice (01:30 on the night they fall back) fires once, the first time.

Due times always move forward: two wall-clock times that name one instant fire once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from sharegraph.datastore.localtime import zone
from sharegraph.errors import BadUserInput, quote

SHORTHANDS = frozenset({"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly"})
# Fewer steps than this always find the next time of a valid expression (a leap day every
# four years at most, stepping minute by minute through a repeated hour at worst).
_MAX_STEPS = 10_000


def check(expression: str) -> str:
    """``expression`` trimmed; ``BAD_USER_INPUT`` (``BAD_CRON``) saying what is wrong."""
    text = " ".join(expression.split())
    if text.lower() in SHORTHANDS:
        return text.lower()
    fields = text.split(" ")
    if len(fields) != 5:
        raise BadUserInput(
            f"cron {quote(expression)} must have five fields (minute hour day-of-month month "
            "day-of-week), e.g. `0 6 * * *` for 06:00 every day",
            reason="BAD_CRON",
        )
    if not croniter.is_valid(text):
        raise BadUserInput(
            f"cron {quote(expression)} is not a valid expression (minute 0-59, hour 0-23, "
            "day-of-month 1-31, month 1-12, day-of-week 0-6 with 0 = Sunday)",
            reason="BAD_CRON",
        )
    try:  # valid syntax naming no real date, such as 30 February
        following(text, "UTC", datetime(2000, 1, 1, tzinfo=UTC))
    except (ValueError, KeyError) as exc:
        raise BadUserInput(
            f"cron {quote(expression)} never fires: {exc}", reason="BAD_CRON"
        ) from exc
    return text


def _instant(local: datetime, tz: ZoneInfo) -> datetime:
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def following(expression: str, zone_name: str, after: datetime) -> datetime:
    """The first due time strictly after ``after`` (UTC)."""
    tz = zone(zone_name)
    steps = croniter(expression, after.astimezone(tz).replace(tzinfo=None))
    for _ in range(_MAX_STEPS):
        instant = _instant(steps.get_next(datetime), tz)
        if instant > after:
            return instant
    raise ValueError(f"cron {quote(expression)} has no time after {after.isoformat()}")


def latest(expression: str, zone_name: str, at: datetime) -> datetime:
    """The last due time at or before ``at`` (UTC)."""
    tz = zone(zone_name)
    start = at.astimezone(tz).replace(tzinfo=None) + timedelta(minutes=1)
    steps = croniter(expression, start)
    for _ in range(_MAX_STEPS):
        instant = _instant(steps.get_prev(datetime), tz)
        if instant <= at:
            return instant
    raise ValueError(f"cron {quote(expression)} has no time before {at.isoformat()}")
