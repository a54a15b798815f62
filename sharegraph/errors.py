"""Errors are values with stable codes, defined once and shared by GraphQL, HTTP and the CLI."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    FORBIDDEN_FIELD = "FORBIDDEN_FIELD"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    TIMEOUT = "TIMEOUT"
    INTERNAL = "INTERNAL"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"


HTTP_STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.FORBIDDEN_FIELD: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.CONFLICT: 409,
    ErrorCode.QUERY_TOO_COMPLEX: 400,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.INTERNAL: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.RATE_LIMITED: 429,
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


class QueryTooComplex(SharegraphError):
    code = ErrorCode.QUERY_TOO_COMPLEX


class NotMigrated(SharegraphError):
    code = ErrorCode.SERVICE_UNAVAILABLE
