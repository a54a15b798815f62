"""The files one scheduled run delivers, computed from its due time alone (so a retry, a late
run or a second worker produces the same files).

A plain schedule delivers one file: its export as it stands when the run happens. The
``daily-counts`` feed ("211 Counts"-style) delivers the records started on the day before the
due date, on the tenant's wall clock; a run due on the 1st of a month also re-sends the whole
previous month, so late entries and corrections reach the dashboard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sharegraph.datastore.localtime import zone
from sharegraph.exporters.specs import ExportSpec, Feed


@dataclass(frozen=True)
class Part:
    label: str  # in the file name: a date, a month, or the due time
    spec: ExportSpec


def midnight(day: date, zone_name: str) -> datetime:
    """The instant ``day`` starts on the wall clocks of ``zone_name`` (when midnight is skipped
    by daylight saving time, the instant the clocks jump)."""
    return datetime.combine(day, time(0), tzinfo=zone(zone_name)).astimezone(UTC)


def parts(spec: ExportSpec, scheduled_for: datetime, zone_name: str) -> list[Part]:
    local = scheduled_for.astimezone(zone(zone_name))
    if spec.feed is not Feed.DAILY_COUNTS:
        return [Part(local.strftime("%Y-%m-%dT%H%M"), spec)]
    today = local.date()
    yesterday = today - timedelta(days=1)
    found = [
        Part(
            yesterday.isoformat(),
            spec.within(midnight(yesterday, zone_name), midnight(today, zone_name)),
        )
    ]
    if today.day == 1:
        first = yesterday.replace(day=1)
        found.append(
            Part(
                first.strftime("%Y-%m"),
                spec.within(midnight(first, zone_name), midnight(today, zone_name)),
            )
        )
    return found


def file_name(schedule_name: str, part: Part) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", schedule_name.lower()).strip("-")[:80] or "export"
    return f"{slug}-{part.label}.{part.spec.suffix}"
