"""GraphQL-shaped JSON bodies, with errors masked to stable codes."""

from __future__ import annotations

import logging
import re
from typing import Any

from graphql import GraphQLError
from strawberry.types import ExecutionResult

from sharegraph.errors import ErrorCode, SharegraphError, internal_error, quote

log = logging.getLogger("sharegraph.graph")

# graphql-core quotes the caller's names and values in its messages ('field', "value") in full.
_LONG_QUOTED = re.compile(r"'([^']{100,})'|\"([^\"]{100,})\"")
MAX_MESSAGE = 500


def shorten_quoted(message: str) -> str:
    """A library's message with each long quoted span cut as :func:`quote` cuts it."""
    shortened = _LONG_QUOTED.sub(lambda m: quote(m.group(1) or m.group(2)), message)
    return shortened if len(shortened) <= MAX_MESSAGE else shortened[:MAX_MESSAGE] + "…"


def error_body(error: SharegraphError) -> dict[str, Any]:
    return {"message": error.message, "extensions": error.extensions()}


def _refused_variable(error: GraphQLError) -> tuple[str, dict[str, Any]] | None:
    """A scalar's refusal of a variable (graph/scalars.py): graphql-core wraps it twice, as
    "Variable '$f' has invalid value at .x: " + "Expected value of type ..., but encountered
    error '<ours>'; found: ...". Keep where it was and our words, code and reason."""
    inner = error.original_error
    if not isinstance(inner, GraphQLError) or error.path is not None:
        return None
    ours = inner.original_error
    if not isinstance(ours, SharegraphError) or not error.message.endswith(inner.message):
        return None
    where = error.message[: len(error.message) - len(inner.message)]
    return where + ours.message, ours.extensions()


def format_error(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    if error.path:
        formatted["path"] = error.path
    original = error.original_error
    refused = _refused_variable(error)
    if refused is not None:
        formatted["message"], formatted["extensions"] = refused
    elif isinstance(original, SharegraphError):
        formatted["message"] = original.message
        formatted["extensions"] = original.extensions()
    elif error.path is None:
        # Parse, validation and variable-coercion errors: the request itself is wrong, and
        # graphql-core's messages say how.
        code = (
            ErrorCode.QUERY_TOO_COMPLEX if "tokens" in error.message else ErrorCode.BAD_USER_INPUT
        )
        formatted["message"] = shorten_quoted(error.message)
        formatted["extensions"] = {"code": code.value}
    else:
        internal = internal_error(log, original, error.path)
        formatted["message"] = internal.message
        formatted["extensions"] = internal.extensions()
    return formatted


def denied_field_error(coordinate: str, path: list[str | int]) -> dict[str, Any]:
    return {
        "message": f"you may not read {coordinate}",
        "path": path,
        "extensions": {"code": ErrorCode.FORBIDDEN_FIELD.value, "coordinate": coordinate},
    }


def result_body(
    result: ExecutionResult, denied: dict[str, list[str | int]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"data": result.data}
    errors = [format_error(e) for e in result.errors or ()]
    errors += [denied_field_error(c, p) for c, p in sorted((denied or {}).items())]
    if errors:
        body["errors"] = errors
    if result.extensions:
        body["extensions"] = result.extensions
    return body


def refusal_body(error: SharegraphError) -> dict[str, Any]:
    return {"data": None, "errors": [error_body(error)]}
