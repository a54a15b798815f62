"""CSV cells a spreadsheet would run as a formula are neutralized, however they are disguised."""

from __future__ import annotations

import csv
import io

import pytest

from sharegraph.exporters.cells import SafeCsvWriter, neutralize

FULL_WIDTH = ['\uff1dHYPERLINK("http://evil.example")', "\uff0bSUM(1,2)", "\uff0d2+3", "\uff20cmd"]
SMALL_FORMS = ["\ufe66cmd", "\ufe62cmd", "\ufe63cmd", "\ufe6bcmd", "\u22122+3"]
# Leading characters a spreadsheet trims before it looks for a formula.
INVISIBLE = [" ", "   ", "\t", "\u00a0", "\u3000", "\u2003", "\n", "\u200b", "\ufeff", " \u00a0\t"]


@pytest.mark.parametrize(
    "formula", ["=1+1", "+SUM(1,2)", "-2+3", "@cmd", *FULL_WIDTH, *SMALL_FORMS]
)
def test_a_formula_start_is_neutralized(formula: str) -> None:
    assert neutralize(formula) == "'" + formula


@pytest.mark.parametrize("prefix", INVISIBLE)
@pytest.mark.parametrize("formula", ["=1+1", "@cmd", "-2+3", "\uff1d1+1", "\uff20cmd"])
def test_a_formula_behind_whitespace_or_invisible_characters_is_neutralized(
    prefix: str, formula: str
) -> None:
    assert neutralize(prefix + formula) == "'" + prefix + formula


def test_a_cell_starting_with_a_tab_or_carriage_return_is_neutralized_whatever_follows() -> None:
    assert neutralize("\tTAB") == "'\tTAB"
    assert neutralize("\rCR") == "'\rCR"


@pytest.mark.parametrize(
    "number", ["-93.61", "+1", "42", "-0.5e-3", ".5", "-7.", " -93.61", "\u00a0+1", "\u200b-4"]
)
def test_plain_numbers_stay_numbers(number: str) -> None:
    assert neutralize(number) == number


@pytest.mark.parametrize(
    "plain",
    [
        "",
        "Food; Housing",
        "a=b",
        "x@example.org",
        "  indented",
        "\u00a0",
        "\uff11\uff12",
        "(555) 010-0199",
    ],
)
def test_plain_text_is_left_alone(plain: str) -> None:
    assert neutralize(plain) == plain


@pytest.mark.parametrize(
    "disguised", ["\uff0d93.61", "-\uff19\uff13", "-\u0661\u0662", "-1-1", "-1e"]
)
def test_only_ascii_numbers_count_as_plain(disguised: str) -> None:
    assert neutralize(disguised) == "'" + disguised


def test_the_csv_writer_neutralizes_every_cell() -> None:
    stream = io.StringIO()
    SafeCsvWriter(stream).row([" \uff1dcmd", "-93.61", "ok", "\u3000@SUM(A1)"])
    assert next(csv.reader(io.StringIO(stream.getvalue()))) == [
        "' \uff1dcmd",
        "-93.61",
        "ok",
        "'\u3000@SUM(A1)",
    ]
