"""The ``Date`` and ``DateTime`` scalars, replacing strawberry's: the same ISO 8601 text, but
only values every backend can store and compare (``datastore/values.py``), and a ``DateTime``
must carry its UTC offset (a naive one is ambiguous, and the database refuses it).

A refusal is ``BAD_USER_INPUT`` naming the value and the allowed range, whether the value came
as a literal or in a variable (``graph/responses.py`` unwraps graphql-core's wrapping).
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.schema.types.base_scalars import UUIDDefinition
from strawberry.types.scalar import ScalarDefinition

from sharegraph.datastore.values import DATE_RANGE, INSTANT_RANGE, date_problem, instant_problem
from sharegraph.errors import BadUserInput, quote

DATE_TIME_EXAMPLE = "2026-03-02T14:00:00Z or 2026-03-02T08:00:00-06:00"


def parse_date_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise BadUserInput(
            f"DateTime {quote(value)} must be ISO 8601 text, e.g. {DATE_TIME_EXAMPLE}",
            reason="BAD_DATE_TIME",
        )
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadUserInput(
            f"DateTime {quote(value)} is not an ISO 8601 date-time, e.g. {DATE_TIME_EXAMPLE}",
            reason="BAD_DATE_TIME",
        ) from None
    if moment.tzinfo is None:
        raise BadUserInput(
            f"DateTime {quote(value)} needs a UTC offset, e.g. {DATE_TIME_EXAMPLE}",
            reason="BAD_DATE_TIME",
        )
    problem = instant_problem(moment)
    if problem is not None:
        raise BadUserInput(f"DateTime {quote(value)} {problem}", reason="DATE_OUT_OF_RANGE")
    return moment


def parse_date(value: Any) -> date:
    if not isinstance(value, str):
        raise BadUserInput(f"Date {quote(value)} must be text as YYYY-MM-DD", reason="BAD_DATE")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadUserInput(
            f"Date {quote(value)} is not a date as YYYY-MM-DD", reason="BAD_DATE"
        ) from None
    problem = date_problem(day)
    if problem is not None:
        raise BadUserInput(f"Date {quote(value)} {problem}", reason="DATE_OUT_OF_RANGE")
    return day


def _iso(value: date) -> str:
    return value.isoformat()


# For ``StrawberryConfig(scalar_map=...)``: every ``datetime``, ``date`` and ``UUID`` in the
# schema (strawberry's UUID, described).
SCALAR_MAP: dict[object, ScalarDefinition] = {
    uuid.UUID: dataclasses.replace(
        UUIDDefinition,
        description="A UUID in its canonical text form (`0b3c9a4e-...`): the row's id, stable "
        "across systems (HSDS files and the CSV and NDJSON exports identify rows by it).",
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        description=f"An instant as ISO 8601 text with its UTC offset, from {INSTANT_RANGE}.",
        serialize=_iso,
        parse_value=parse_date_time,
    ),
    date: strawberry.scalar(
        name="Date",
        description=f"A calendar date as ISO 8601 text (YYYY-MM-DD), from {DATE_RANGE}.",
        serialize=_iso,
        parse_value=parse_date,
    ),
}
