"""AIRS ``TimeOpen`` as structured weekly schedules, and language names as codes.

A ``TimeOpen`` holds one element per day (``Sunday`` ... ``Saturday``) and ``Notes``. A day
holds opening ranges, as our exporter writes them (``09:00-17:00, 18:00-20:00``) or as people
type them (``9 am - 4:30 pm``, ``8:30 a.m. to 12 noon and 1:30 pm to 4:30 pm``, ``Closed``,
``24 hours``). Each distinct range becomes one weekly schedule with the days that have it
(``byday`` Monday first), so the schedules our exporter wrote come back as they were. A day
that does not read as ranges is kept, with the notes, in the description.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from sharegraph.importers.tabular import clock

# AIRS order (Sunday first), with our day codes.
DAYS = (("SU", "Sunday"), ("MO", "Monday"), ("TU", "Tuesday"), ("WE", "Wednesday"),
        ("TH", "Thursday"), ("FR", "Friday"), ("SA", "Saturday"))  # fmt: skip
_WEEK = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_CLOSED = frozenset({"closed", "close", "none", "n/a", "-"})
_ALL_DAY = re.compile(r"^(open\s+)?24\s*(hours|hrs|h)(\s+a\s+day)?$", re.I)
_RANGES = re.compile(r"\s*(?:,|;|&|\band\b)\s*", re.I)
_RANGE = re.compile(r"\s*(?:-|\u2013|\u2014|\bto\b)\s*", re.I)
_NAMED_TIMES = {"noon": "12:00", "12 noon": "12:00", "midnight": "00:00", "12 midnight": "00:00"}

Range = tuple[str, str]


def _time(text: str) -> str | None:
    text = text.strip().lower()
    return _NAMED_TIMES.get(text) or clock(text)


def day_ranges(text: str) -> list[Range] | None:
    """The opening ranges a day element holds ([] when closed), or None if unreadable."""
    text = text.strip()
    if text.lower() in _CLOSED:
        return []
    if _ALL_DAY.match(text):
        return [("00:00", "23:59")]
    ranges: list[Range] = []
    for part in _RANGES.split(text):
        ends = _RANGE.split(part)
        if len(ends) != 2:
            return None
        opens, closes = _time(ends[0]), _time(ends[1])
        if opens is None or closes is None:
            return None
        ranges.append((opens, closes))
    return ranges


def _text(element: ET.Element, tag: str) -> str | None:
    found = element.find(tag)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def time_open(element: ET.Element | None, notes: str | None = None) -> list[dict[str, Any]]:
    """Schedules (weekly ``byday``/``opens_at``/``closes_at``) from a ``TimeOpen`` element;
    ``notes`` (its ``Notes`` as plain text) and unreadable days describe the first one."""
    if element is None:
        return [{"description": notes}] if notes else []
    days: dict[Range, list[str]] = {}
    unread: list[str] = []
    for code, name in DAYS:
        text = _text(element, name)
        if text is None:
            continue
        ranges = day_ranges(text)
        if ranges is None:
            unread.append(f"{name}: {text}")
            continue
        for hours in ranges:
            days.setdefault(hours, []).append(code)
    schedules: list[dict[str, Any]] = [
        {
            "freq": "WEEKLY",
            "wkst": "MO",
            "byday": ",".join(sorted(found, key=_WEEK.index)),
            "opens_at": opens,
            "closes_at": closes,
        }
        for (opens, closes), found in sorted(
            days.items(), key=lambda item: min(_WEEK.index(d) for d in item[1])
        )
    ]
    description = "; ".join(filter(None, (notes, *unread))) or None
    if description:
        if schedules:
            schedules[0]["description"] = description
        else:
            schedules.append({"description": description})
    return schedules


# Language names as files spell them -> ISO 639 codes (639-1 where there is one). A name that is
# itself one of these codes is read as the code.
LANGUAGE_CODES = {
    "english": "en", "french": "fr", "spanish": "es", "vietnamese": "vi", "somali": "so",
    "arabic": "ar", "chinese": "zh", "mandarin": "cmn", "cantonese": "yue", "korean": "ko",
    "japanese": "ja", "russian": "ru", "ukrainian": "uk", "polish": "pl", "portuguese": "pt",
    "german": "de", "italian": "it", "greek": "el", "punjabi": "pa", "hindi": "hi",
    "urdu": "ur", "bengali": "bn", "gujarati": "gu", "tamil": "ta", "persian": "fa",
    "farsi": "fa", "dari": "prs", "pashto": "ps", "turkish": "tr", "kurdish": "ku",
    "tagalog": "tl", "filipino": "fil", "ilocano": "ilo", "thai": "th", "lao": "lo",
    "khmer": "km", "burmese": "my", "hmong": "hmn", "nepali": "ne", "amharic": "am",
    "tigrinya": "ti", "oromo": "om", "swahili": "sw", "haitian creole": "ht", "hebrew": "he",
    "romanian": "ro", "serbian": "sr", "croatian": "hr", "bosnian": "bs", "albanian": "sq",
    "american sign language": "ase", "asl": "ase",
}  # fmt: skip
_CODES = frozenset(LANGUAGE_CODES.values())


def language(text: str) -> dict[str, Any]:
    """A ``Languages/Name`` as a language row: its name, and its code when it is a known one."""
    if text.lower() in _CODES:
        return {"name": None, "code": text.lower()}
    return {"name": text, "code": LANGUAGE_CODES.get(text.lower())}
