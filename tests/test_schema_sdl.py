"""The committed `schema.graphql` is the running schema, and the running schema breaks no
client of it except where a change is listed as intended in `schema-breaking-changes.txt`."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema
from typer.testing import CliRunner

from sharegraph.cli.main import app
from sharegraph.graph.sdl import (
    INTENTIONAL_FILE,
    REGENERATE,
    SDL_FILE,
    breaking_changes,
    intentional,
    printed_sdl,
    unintended_breaking_changes,
)

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

OLD = """
type Query {
  "A field."
  kept(first: Int): String
  "Another."
  dropped: Int
}
"""
NEW = """
type Query {
  "A field."
  kept(first: Int!): String
}
"""


def test_the_committed_sdl_is_the_running_schema() -> None:
    committed = (ROOT / SDL_FILE).read_text(encoding="utf-8")
    assert committed == printed_sdl(), (
        f"{SDL_FILE} differs from the running schema; regenerate it with `{REGENERATE}` at the "
        "repository root and review the diff"
    )


def test_the_running_schema_breaks_no_client_of_the_committed_sdl() -> None:
    committed = (ROOT / SDL_FILE).read_text(encoding="utf-8")
    listed = (ROOT / INTENTIONAL_FILE).read_text(encoding="utf-8")
    assert unintended_breaking_changes(committed, listed) == [], (
        f"these changes break clients of {SDL_FILE}; undo them, or list each intended one in "
        f"{INTENTIONAL_FILE} with a comment saying why"
    )


def test_breaking_changes_are_found_and_only_listed_ones_pass() -> None:
    new = build_schema(NEW)
    found = breaking_changes(OLD, new)
    assert found == [
        "Argument Query.kept(first:) has changed type from Int to Int!.",
        "Field Query.dropped was removed.",
    ]
    listed = "# on purpose\nField Query.dropped was removed.  # gone since 2.0\n\n"
    assert intentional(listed) == {"Field Query.dropped was removed."}
    assert unintended_breaking_changes(OLD, listed, new) == [
        "Argument Query.kept(first:) has changed type from Int to Int!."
    ]
    assert unintended_breaking_changes(OLD, "", build_schema(OLD)) == []


def test_the_cli_prints_checks_and_writes_the_sdl(tmp_path: Path) -> None:
    printed = runner.invoke(app, ["schema"])
    assert printed.exit_code == 0 and printed.stdout == printed_sdl()

    target = tmp_path / SDL_FILE
    stale = runner.invoke(app, ["schema", "--check", "--output", str(target)])
    assert stale.exit_code == 1 and "schema --write" in stale.stderr

    wrote = runner.invoke(app, ["schema", "--write", "--output", str(target)])
    assert wrote.exit_code == 0, wrote.output
    assert target.read_text(encoding="utf-8") == printed_sdl()
    assert runner.invoke(app, ["schema", "--check", "--output", str(target)]).exit_code == 0


def test_the_cli_refuses_to_write_over_an_unlisted_breaking_change(tmp_path: Path) -> None:
    target = tmp_path / SDL_FILE
    # A committed SDL with a root field the running schema lacks: dropping it would break.
    target.write_text(printed_sdl().replace("type Query {", "type Query {\n  gone: Int", 1))
    refused = runner.invoke(app, ["schema", "--write", "--output", str(target)])
    assert refused.exit_code == 1
    assert "Field Query.gone was removed." in refused.stderr
    assert "gone: Int" in target.read_text(encoding="utf-8")

    (tmp_path / INTENTIONAL_FILE).write_text("Field Query.gone was removed.  # retired\n")
    accepted = runner.invoke(app, ["schema", "--write", "--output", str(target)])
    assert accepted.exit_code == 0, accepted.output
    assert target.read_text(encoding="utf-8") == printed_sdl()
