"""GraphQL-shaped JSON bodies, with errors masked to stable codes."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.types import ExecutionResult

if TYPE_CHECKING:
    from sharegraph.graph.context import RequestContext

from sharegraph.authz.disclosure import REDISCLOSURE_NOTICE
from sharegraph.datastore.audit import flush
from sharegraph.datastore.outage import raise_if_unavailable
from sharegraph.errors import ErrorCode, SharegraphError, internal_error, quote
from sharegraph.graph.settle import settled

log = logging.getLogger("sharegraph.graph")

# graphql-core quotes the caller's names and values in its messages ('field', "value") in full.
_LONG_QUOTED = re.compile(r"'([^']{100,})'|\"([^\"]{100,})\"")
MAX_MESSAGE = 500
# The parser's own limits (strawberry's MaxTokensLimiter sets the token one).
_PARSER_LIMIT = re.compile(r"Syntax Error: (?:Document|Source) contains more than \d+ ")


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


def request_error_code(error: GraphQLError) -> ErrorCode:
    """A document that does not parse or validate is named as the GraphQL ecosystem names it
    (Apollo Server and Router, clients that branch on it); a parser limit is a limit; what
    remains (a variable's value refused as the operation starts) is bad input."""
    if isinstance(error, GraphQLSyntaxError):
        if _PARSER_LIMIT.match(error.message):
            return ErrorCode.QUERY_TOO_COMPLEX
        return ErrorCode.GRAPHQL_PARSE_FAILED
    if (error.extensions or {}).get("code") == ErrorCode.GRAPHQL_VALIDATION_FAILED.value:
        return ErrorCode.GRAPHQL_VALIDATION_FAILED
    return ErrorCode.BAD_USER_INPUT


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
        formatted["message"] = shorten_quoted(error.message)
        formatted["extensions"] = {"code": request_error_code(error).value}
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


async def finished_body(context: RequestContext, result: ExecutionResult) -> dict[str, Any]:
    """The answer to one execution (a query, or one delivery of a subscription): errors in our
    shape with one ``FORBIDDEN_FIELD`` per denied coordinate, refusals in the audit trail, the
    redisclosure notice when Part 2 answers left, and the audit trail durable before it leaves."""
    await settled(context)  # nothing may still use the request's session after its answer
    body = unflushed_body(context, result)
    await flush(context.database, context.audit)
    return body


def unflushed_body(context: RequestContext, result: ExecutionResult) -> dict[str, Any]:
    """:func:`finished_body` without the audit flush: the caller must flush ``context.audit``
    before the body leaves (a subscription closes its read session first, so the connection
    goes back to the pool while the audit rows are written). Await
    :func:`~sharegraph.graph.settle.settled` first, while the session is open."""
    errors: list[GraphQLError] = list(result.errors or ())
    raise_if_unavailable(e.original_error for e in errors)
    body = result_body(result, denied=context.denied)
    for refusal in body.get("errors", []):
        extensions = refusal.get("extensions", {})
        if extensions.get("code") == ErrorCode.FORBIDDEN.value:
            where = extensions.get("coordinate") or extensions.get("operation")
            context.audit.denied(None, str(where or refusal["message"]), "FORBIDDEN")
    if context.part2_disclosed:
        body.setdefault("extensions", {})["redisclosureNotice"] = REDISCLOSURE_NOTICE
    return body
