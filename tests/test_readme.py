"""The README says what the code does: its error codes, the worker's kinds of due work and the
CLI's commands and options are checked against the code they describe."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from sharegraph.cli.main import app
from sharegraph.datastore.engine import Database
from sharegraph.errors import HTTP_STATUS, ErrorCode
from sharegraph.settings import Settings
from sharegraph.worker import scheduler_for

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _section(heading: str) -> str:
    """The text under ``heading`` (a whole heading line) up to the next heading of any level."""
    start = README.index(f"\n{heading}\n") + len(heading) + 2
    following = re.search(r"\n#{1,6} ", README[start:])
    return README[start : start + following.start()] if following else README[start:]


def _table_rows(text: str) -> list[list[str]]:
    """The cells of every markdown table row in ``text`` (header and rule lines left out)."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= {"|", "-", " ", ":"}:
            continue
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:] if rows else rows  # the header


def _code(cell: str) -> str:
    found = re.fullmatch(r"`([^`]+)`", cell)
    assert found, cell
    return found.group(1)


def test_the_error_code_table_is_error_code_with_its_http_statuses() -> None:
    rows = _table_rows(_section("### Error codes"))
    listed = {_code(row[0]): int(row[1]) for row in rows}
    assert len(listed) == len(rows), "a code listed twice"
    assert set(listed) == {code.value for code in ErrorCode}
    for code in ErrorCode:
        assert listed[code.value] == HTTP_STATUS[code], code


def test_the_worker_kinds_are_the_schedulers() -> None:
    text = README[README.index("- **Scheduled work**") :]
    rows = _table_rows(text[: text.index("\n\n", text.index("| kind |"))])
    listed = [_code(row[0]) for row in rows]
    settings = Settings(database_url="sqlite+aiosqlite:///unused.db")
    running = [kind.name for kind in scheduler_for(Database(settings.database_url), settings).kinds]
    assert sorted(listed) == sorted(running)


def _is_group(command: Any) -> bool:
    return hasattr(command, "commands")  # typer's groups (it carries its own click)


def _leaves(command: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if _is_group(command):
        found: dict[tuple[str, ...], Any] = {}
        for name, sub in command.commands.items():
            found.update(_leaves(sub, (*path, name)))
        return found
    return {path: command}


def _readme_commands() -> dict[tuple[str, ...], set[str]]:
    """Each command the README's table names, with the options it shows."""
    root = typer.main.get_command(app)
    commands: dict[tuple[str, ...], set[str]] = {}
    for row in _table_rows(_section("## The command")):
        for usage in re.findall(r"`(sharegraph [^`]*)`", row[0]):
            words = usage.split()[1:]
            path: list[str] = []
            group: Any = root
            while words and _is_group(group) and words[0] in group.commands:
                group = group.commands[words[0]]
                path.append(words.pop(0))
            commands[tuple(path)] = set(re.findall(r"--[a-z][a-z-]*", " ".join(words)))
    return commands


def test_the_command_table_lists_every_command_and_only_real_options() -> None:
    root = typer.main.get_command(app)
    documented = _readme_commands()
    assert set(documented) == set(_leaves(root))
    runner = CliRunner()
    for path, options in documented.items():
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        for option in options:
            assert option in result.output, (path, option)
