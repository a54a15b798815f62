"""What every page handler does with an API answer: send the signed-out to sign-in, turn an
error into the HTTP status the API gives it, and post a form as one mutation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from sharegraph.console.forms import read_form
from sharegraph.console.graph_client import Problem, Result, run
from sharegraph.console.render import redirect
from sharegraph.errors import HTTP_STATUS, ErrorCode, SharegraphError

Again = Callable[[list[Problem], int], Awaitable[Response]]


def to_signin(request: Request) -> Response:
    """Back to this page after signing in."""
    return redirect("/signin?next=" + quote(request.url.path))


def problem_of(error: SharegraphError) -> Problem:
    return Problem(error.message, error.code.value, error.reason)


def distinct(problems: list[Problem]) -> list[Problem]:
    """Each problem once: the same error raised at several places of one answer (per queue,
    per field) is said once."""
    seen: set[tuple[str, str | None, str]] = set()
    out = []
    for problem in problems:
        key = (problem.code, problem.reason, problem.message)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


def answer_status(result: Result) -> int:
    """The HTTP status of the answer's first failure, as the API would give it."""
    failures = result.failures()
    if not failures:
        return 200
    known = {code.value: code for code in ErrorCode}
    code = known.get(failures[0].code)
    return HTTP_STATUS[code] if code is not None else 400


def viewer_of(result: Result) -> dict[str, Any] | None:
    return (result.data or {}).get("viewer")


async def submit(
    request: Request,
    document: str,
    build: Callable[[dict[str, str]], dict[str, Any]],
    back: str,
    again: Again,
) -> Response:
    """Post a form as one mutation: on success to ``back`` (which carries the outcome, e.g.
    ``?done=...``), otherwise the page again with the problem and the API's status."""
    try:
        form = await read_form(request)
        variables = build(form)
    except SharegraphError as error:
        return await again([problem_of(error)], HTTP_STATUS[error.code])
    except (ValueError, KeyError):
        bad = Problem("a field of the form is missing or not a number", "BAD_USER_INPUT")
        return await again([bad], 400)
    result = await run(request, document, variables)
    if result.unauthenticated:
        return to_signin(request)
    if result.failures():
        return await again(result.failures(), answer_status(result))
    return redirect(back)
