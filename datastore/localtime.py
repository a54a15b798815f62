"""A tenant's wall-clock time ("Monday 08:00" where the tenant is) to the UTC instant it names.

Daylight saving time is taken from the IANA database (zoneinfo): "08:00" in Chicago is 13:00
UTC in summer and 14:00 UTC in winter. A wall-clock time that does not exist (02:30 on the
night clocks spring forward) is refused rather than moved; one that happens twice (01:30 on the
night they fall back) means the first of the two.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sharegraph.errors import BadUserInput


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc


def local_to_utc(day: date, at: time, zone_name: str) -> datetime:
    """The UTC instant of ``day`` at ``at`` on the wall clocks of ``zone_name``."""
    tz = zone(zone_name)
    naive = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    local = naive.replace(tzinfo=tz)
    try:
        instant = local.astimezone(UTC)
        round_trip = instant.astimezone(tz).replace(tzinfo=None)
    except OverflowError as exc:
        raise BadUserInput(
            f"{day.isoformat()} is out of range", reason="DATE_OUT_OF_RANGE"
        ) from exc
    if round_trip != naive:
        raise BadUserInput(
            f"{day.isoformat()} {at.strftime('%H:%M')} does not exist in {zone_name} (the clocks "
            "skip it when daylight saving time starts); choose a time outside the gap",
            reason="NONEXISTENT_LOCAL_TIME",
        )
    return instant
