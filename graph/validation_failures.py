"""Marks the errors document validation found, so that the answer names them
``GRAPHQL_VALIDATION_FAILED`` (as Apollo Server and Router do) and tells them apart from the
variable values graphql-core refuses once the operation starts (``BAD_USER_INPUT``): both
reach :func:`sharegraph.graph.responses.format_error` as errors without a path."""

from __future__ import annotations

from strawberry.types import ExecutionContext

from sharegraph.errors import ErrorCode


def mark_validation_failures(ctx: ExecutionContext) -> None:
    # The validation cache hands back the same error objects: marking twice is harmless.
    for error in ctx.pre_execution_errors or ():
        error.extensions = {
            **(error.extensions or {}),
            "code": ErrorCode.GRAPHQL_VALIDATION_FAILED.value,
        }
