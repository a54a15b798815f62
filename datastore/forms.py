"""Validation of contact-record answers against a form version's field definitions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sharegraph.datastore.enums import FieldType
from sharegraph.datastore.models import FormField
from sharegraph.datastore.values import date_problem
from sharegraph.errors import BadUserInput, quote

MAX_TEXT = 20_000


def _fail(key: str, message: str) -> BadUserInput:
    return BadUserInput(
        f"answers.{key}: {message}", reason="INVALID_ANSWER", field=f"answers.{key}"
    )


def _check(field: FormField, value: Any) -> Any:
    key = field.key
    kind = field.type
    if kind in (FieldType.TEXT, FieldType.TEXTAREA):
        if not isinstance(value, str):
            raise _fail(key, "expected text")
        if len(value) > MAX_TEXT:
            raise _fail(key, f"text longer than {MAX_TEXT} characters")
        return value
    if kind is FieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(key, "expected a number")
        return value
    if kind is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise _fail(key, "expected true or false")
        return value
    if kind is FieldType.DATE:
        if not isinstance(value, str):
            raise _fail(key, "expected a date as YYYY-MM-DD")
        try:
            day = date.fromisoformat(value)
        except ValueError as exc:
            raise _fail(key, "expected a date as YYYY-MM-DD") from exc
        problem = date_problem(day)
        if problem is not None:
            raise _fail(key, f"{quote(value)} {problem}")
        return day.isoformat()
    options = field.options or []
    if kind is FieldType.SINGLE_SELECT:
        if value not in options:
            raise _fail(key, f"must be one of {options}")
        return value
    if kind is FieldType.MULTI_SELECT:
        if not isinstance(value, list) or any(v not in options for v in value):
            raise _fail(key, f"expected a list of values from {options}")
        return list(dict.fromkeys(value))
    raise _fail(key, f"unsupported field type {kind}")


def validate_answers(
    fields: Iterable[FormField], answers: Mapping[str, Any], *, partial: bool = False
) -> dict[str, Any]:
    """Answers cleaned against ``fields``; unknown keys, wrong types, missing required -> error.

    ``partial`` validates a patch: required fields may be absent but not cleared.
    """
    by_key = {f.key: f for f in fields}
    unknown = sorted(set(answers) - set(by_key))
    if unknown:
        raise BadUserInput(
            f"answers has keys the form does not define: {quote(', '.join(unknown))}",
            reason="UNKNOWN_ANSWER_KEY",
        )
    cleaned: dict[str, Any] = {}
    for key, value in answers.items():
        field = by_key[key]
        if value is None or value == "" or value == []:
            if field.required:
                raise _fail(key, "is required")
            cleaned[key] = None
            continue
        cleaned[key] = _check(field, value)
    if not partial:
        missing = [f.key for f in fields if f.required and cleaned.get(f.key) is None]
        if missing:
            raise BadUserInput(
                f"answers is missing required fields: {', '.join(sorted(missing))}",
                reason="MISSING_ANSWER",
            )
    return cleaned
