"""Errors are values with stable codes, defined once and shared by GraphQL, HTTP and the CLI."""

from __future__ import annotations

import logging
import uuid
from enum import StrEnum
from typing import Any

QUOTE_LIMIT = 100


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    FORBIDDEN_FIELD = "FORBIDDEN_FIELD"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    CONFLICT = "CONFLICT"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    TIMEOUT = "TIMEOUT"
    INTERNAL = "INTERNAL"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    UNSUPPORTED_PARAMETER = "UNSUPPORTED_PARAMETER"
    # A subscription asked to resume from an event no longer kept (the outbox retention window).
    RESUME_TOO_OLD = "RESUME_TOO_OLD"


HTTP_STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.FORBIDDEN_FIELD: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.GRAPHQL_PARSE_FAILED: 400,
    ErrorCode.GRAPHQL_VALIDATION_FAILED: 400,
    ErrorCode.CONFLICT: 409,
    ErrorCode.QUERY_TOO_COMPLEX: 400,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.INTERNAL: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNSUPPORTED_PARAMETER: 400,
    ErrorCode.RESUME_TOO_OLD: 410,
}


class SharegraphError(Exception):
    """An error a client may see: a stable code, a message it can act on, optional details."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        code: ErrorCode | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.reason = reason
        self.extra = extensions

    def http_headers(self) -> dict[str, str]:
        """Headers an HTTP answer carries for this error: ``Retry-After`` when it says when to
        come back (``retryAfter``, whole seconds)."""
        seconds = self.extra.get("retryAfter")
        return {"Retry-After": str(seconds)} if isinstance(seconds, int) else {}

    def extensions(self) -> dict[str, Any]:
        ext: dict[str, Any] = {"code": self.code.value}
        if self.reason:
            ext["reason"] = self.reason
        ext.update(self.extra)
        return ext


class Unauthenticated(SharegraphError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(SharegraphError):
    code = ErrorCode.FORBIDDEN


class NotFound(SharegraphError):
    code = ErrorCode.NOT_FOUND


class BadUserInput(SharegraphError):
    code = ErrorCode.BAD_USER_INPUT


class Conflict(SharegraphError):
    code = ErrorCode.CONFLICT


class UnsupportedParameter(SharegraphError):
    """A query parameter the HTTP route does not take (HSDS API)."""

    code = ErrorCode.UNSUPPORTED_PARAMETER


class QueryTooComplex(SharegraphError):
    code = ErrorCode.QUERY_TOO_COMPLEX


class NotMigrated(SharegraphError):
    code = ErrorCode.SERVICE_UNAVAILABLE


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``value`` as a quoted literal for an error message, at most ``limit`` characters
    between the quotes (then an ellipsis): a caller's 60 KB parameter is not echoed back, and
    control characters are escaped as ``repr`` would."""
    text = value if isinstance(value, str) else str(value)
    shown: list[str] = []
    used = 0
    for char in text:
        if char == "'" or char == "\\":
            piece = "\\" + char
        elif char.isprintable():
            piece = char
        else:
            piece = char.encode("unicode_escape").decode("ascii")
        if used + len(piece) > limit:
            return "'" + "".join(shown) + "…'"
        shown.append(piece)
        used += len(piece)
    return "'" + "".join(shown) + "'"


def internal_error(
    log: logging.Logger, exc: BaseException | None, where: object
) -> SharegraphError:
    """What a client is told about an unexpected exception: ``INTERNAL`` and an incident id,
    under which ``log`` records the traceback (the client sees neither it nor a repr)."""
    incident = uuid.uuid4().hex[:12]
    log.error("internal error %s at %s", incident, where, exc_info=exc)
    return SharegraphError(
        f"internal error (incident {incident})", code=ErrorCode.INTERNAL, incident=incident
    )
