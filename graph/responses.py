"""GraphQL-shaped JSON bodies, with errors masked to stable codes."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from graphql import GraphQLError
from strawberry.types import ExecutionResult

from ..errors import ErrorCode, SharegraphError

log = logging.getLogger("sharegraph.graph")


def error_body(error: SharegraphError) -> dict[str, Any]:
    return {"message": error.message, "extensions": error.extensions()}


def format_error(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    if error.path:
        formatted["path"] = error.path
    original = error.original_error
    if isinstance(original, SharegraphError):
        formatted["message"] = original.message
        formatted["extensions"] = original.extensions()
    elif error.path is None:
        # Parse, validation and variable-coercion errors: the request itself is wrong, and
        # graphql-core's messages say how.
        code = (
            ErrorCode.QUERY_TOO_COMPLEX if "tokens" in error.message else ErrorCode.BAD_USER_INPUT
        )
        formatted["extensions"] = {"code": code.value}
    else:
        incident = uuid.uuid4().hex[:12]
        log.error("internal error %s at %s", incident, error.path, exc_info=original)
        formatted["message"] = f"internal error (incident {incident})"
        formatted["extensions"] = {"code": ErrorCode.INTERNAL.value, "incident": incident}
    return formatted


def result_body(result: ExecutionResult) -> dict[str, Any]:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [format_error(e) for e in result.errors]
    if result.extensions:
        body["extensions"] = result.extensions
    return body


def refusal_body(error: SharegraphError) -> dict[str, Any]:
    return {"data": None, "errors": [error_body(error)]}
