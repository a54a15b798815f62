"""Core statements run straight on asyncpg's connection, compiled by SQLAlchemy once per shape
of their parameters.

A compiled read runs the same few statements again and again with new parameter values; going
through SQLAlchemy's execution each time (its compiled cache lookup, parameter construction,
execution context and result metadata) cost about a tenth of a by-id request's CPU under
py-spy. Here SQLAlchemy compiles a statement once per shape of its parameters (how many values
each expanding ``IN`` list holds), and a run is asyncpg's own ``fetch`` with the values in
place. On any other driver, when a statement needs SQLAlchemy to process a value, or while
something follows the engine's statements (``echo``, a tracer's events), it runs through
SQLAlchemy as before.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

# Per statement: shapes of parameters kept (an ``_entities`` list of 1..n ids is a shape each).
MAX_SHAPES = 64

# How to fill one positional parameter: a value fixed in the statement (the plan's tenants),
# a run's parameter, or one item of a run's expanding list parameter.
_Argument = tuple[int, Any, int]  # (kind, value or parameter name, item index)
_FIXED, _PARAMETER, _ITEM = 0, 1, 2


class _Prepared:
    """The SQL, the fixed values in their places, and where each run's values go."""

    __slots__ = ("fixed", "runs", "sql")

    def __init__(self, sql: str, arguments: tuple[_Argument, ...]) -> None:
        self.sql = sql
        self.fixed = [what if kind == _FIXED else None for kind, what, _ in arguments]
        self.runs = tuple(
            (position, what, index if kind == _ITEM else -1)
            for position, (kind, what, index) in enumerate(arguments)
            if kind != _FIXED
        )

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        values = self.fixed.copy()
        for position, name, index in self.runs:
            values[position] = params[name] if index < 0 else params[name][index]
        return values


def _shape(params: Mapping[str, Any]) -> tuple[Hashable, ...]:
    return tuple(
        (name, len(value) if isinstance(value, list | tuple) else -1)
        for name, value in sorted(params.items())
    )


def _prepare(
    statement: Executable, connection: AsyncConnection, params: Mapping[str, Any]
) -> _Prepared | None:
    """The statement's SQL and how to fill its parameters for runs with ``params``' shape;
    ``None`` when SQLAlchemy must process a value (it then runs every time)."""
    compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=connection.dialect))
    state = compiled.construct_expanded_state(dict(params))
    if state.processors or state.positiontup is None:
        return None
    expanded: dict[str, tuple[str, int]] = {}
    for name, value in params.items():
        if isinstance(value, list | tuple):
            # SQLAlchemy names the items of an expanding list <name>_1 .. <name>_n.
            expanded.update({f"{name}_{i + 1}": (name, i) for i in range(len(value))})
    arguments: list[_Argument] = []
    for name in state.positiontup:
        if name in expanded:
            arguments.append((_ITEM, *expanded[name]))
        elif name in params:
            arguments.append((_PARAMETER, name, 0))
        elif name in state.parameters:
            arguments.append((_FIXED, state.parameters[name], 0))
        else:
            return None
    return _Prepared(state.statement, tuple(arguments))


async def _asyncpg(connection: AsyncConnection) -> Any | None:
    """asyncpg's own connection under ``connection``, or None where SQLAlchemy must run the
    statement: another driver, or something following the engine's statements (``echo``, a
    tracer, the tests' statement counters), which see them only when SQLAlchemy runs them."""
    engine = connection.sync_engine
    if connection.dialect.driver != "asyncpg" or (
        engine.echo or engine.dispatch.before_cursor_execute or engine.dispatch.after_cursor_execute
    ):
        return None
    raw = await connection.get_raw_connection()
    return raw.driver_connection


class DirectStatement:
    """A Core statement kept for many runs (a compiled read's template)."""

    __slots__ = ("_prepared", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._prepared: dict[tuple[Hashable, ...], _Prepared | None] = {}

    async def rows(
        self, connection: AsyncConnection, params: Mapping[str, Any] | None = None
    ) -> Sequence[Sequence[Any]]:
        """Every row of a run with ``params``, on ``connection`` (its transaction and its RLS
        scope)."""
        params = params or {}
        driver = await _asyncpg(connection)
        if driver is None:
            return list((await connection.execute(self.statement, params)).all())
        shape = _shape(params)
        if shape not in self._prepared:
            if len(self._prepared) >= MAX_SHAPES:
                self._prepared.clear()
            self._prepared[shape] = _prepare(self.statement, connection, params)
        prepared = self._prepared[shape]
        if prepared is None:
            return list((await connection.execute(self.statement, params)).all())
        try:
            found: list[Any] = await driver.fetch(prepared.sql, *prepared.values(params))
            return found
        except Exception:
            # SQLAlchemy's own run raises its errors (a lost connection invalidated, as the
            # request's outage handling expects them) and is a harmless read to repeat.
            return list((await connection.execute(self.statement, params)).all())


async def execute_driver_sql(
    connection: AsyncConnection, sql: str, arguments: tuple[Any, ...]
) -> None:
    """``connection.exec_driver_sql(sql, arguments)`` (``sql`` in the driver's own paramstyle),
    straight on asyncpg's connection where :class:`DirectStatement` would run."""
    driver = await _asyncpg(connection)
    if driver is None:
        await connection.exec_driver_sql(sql, arguments)
        return
    try:
        await driver.execute(sql, *arguments)
    except Exception:
        # Through SQLAlchemy again for its errors (a lost connection is invalidated there,
        # and raises without running anything). A statement that failed in the database
        # fails there again; none of ours can have half-run: each is its own transaction.
        await connection.exec_driver_sql(sql, arguments)
