"""Response bodies: orjson writes the same text json.dumps wrote, and what it refuses is still
written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sharegraph.web.json_encoding import encode_json


def _before(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    "data",
    [
        {"data": None, "errors": [{"message": "you may not read X.y", "path": ["a", 0, "b"]}]},
        {"data": {"name": "Ana García ✓ 日本 😀", "notes": 'line\nbreak\ttab "quoted" \\ /'}},
        {"data": {"controls": "".join(chr(c) for c in range(32)) + "\x7f\u2028\u2029"}},
        {"data": {"n": [0, -1, 2**31, 2**63 - 1, 1.5, 0.1, -2.25, 45.0, 1e16, 123456.789]}},
        {"data": {"flags": [True, False, None], "empty": {}, "list": []}},
    ],
)
def test_the_same_text_as_json_dumps(data: Any) -> None:
    assert encode_json(data) == _before(data)


def test_tiny_floats_keep_their_value_in_jsons_shorter_spelling() -> None:
    data = {"data": {"longitude": 1e-5, "x": -2.5e-9}}
    # json.dumps spelled them 1e-05 and -2.5e-09
    assert encode_json(data) == '{"data":{"longitude":0.00001,"x":-2.5e-9}}'
    assert json.loads(encode_json(data)) == data


def test_what_orjson_refuses_is_written_by_json_dumps() -> None:
    data = {"data": {"big": 2**70, "keys": {1: "one"}}}
    assert encode_json(data) == _before(data)


def test_integers_at_the_64_bit_edges_are_written_as_before() -> None:
    data = {"data": {"n": [2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -(2**64)]}}
    assert encode_json(data) == _before(data)
    assert json.loads(encode_json(data)) == data


def test_deeper_than_orjson_goes_is_written_by_json_dumps() -> None:
    data: Any = "leaf"
    for _ in range(300):  # orjson stops at 254 levels
        data = {"a": [data]}
    assert encode_json(data) == _before(data)


def test_a_lone_surrogate_is_still_an_answer_that_utf8_can_carry() -> None:
    """orjson refuses a lone surrogate, and json.dumps with ensure_ascii=False hands it on
    raw, which the response could not encode (a plain-text 500): it is escaped instead."""
    data = {"data": None, "errors": [{"message": "no operation named '\ud800' é 日本"}]}
    text = encode_json(data)
    text.encode("utf-8")
    assert json.loads(text) == data


def test_nan_and_infinity_are_null_instead_of_text_no_json_parser_takes() -> None:
    data = {"data": {"answers": {"a": float("nan"), "b": float("inf"), "c": -float("inf")}}}
    assert _before(data) == '{"data":{"answers":{"a":NaN,"b":Infinity,"c":-Infinity}}}'
    assert encode_json(data) == '{"data":{"answers":{"a":null,"b":null,"c":null}}}'
