"""datastore/json_text.py reads JSON exactly as the json module does, faster where it can."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sharegraph.datastore.json_text import loads

TEXTS = [
    '{"a": 1, "b": [1.5, -0, 2e10, true, false, null], "c": "x"}',
    "123456789012345678901234567890",  # past 64 bits: orjson would read a float
    "18446744073709551615",
    "-9223372036854775808",
    '{"n": 99999999999999999999999, "s": "12345678901234567890123"}',
    "1e400",  # past a double: json reads inf, orjson refuses
    '"\\ud800"',  # a lone surrogate: json reads it, orjson refuses
    '{"a": 1, "a": 2}',  # the last of a repeated key
    '"caf\\u00e9 \u2603"',
    "0.1000000000000000055511151231257827",
    "[]",
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_same_values_as_the_json_module(text: str) -> None:
    expected: Any = json.loads(text)
    found = loads(text)
    assert found == expected and type(found) is type(expected)
    assert loads(text.encode()) == expected
    assert json.dumps(found) == json.dumps(expected)


def test_invalid_json_is_refused_as_the_json_module_refuses_it() -> None:
    with pytest.raises(json.JSONDecodeError):
        loads("{nope}")
