"""What every page of the data exchange area shares: run its document, show its problems."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from sharegraph.console.admin.shell import admin_page, is_admin, who
from sharegraph.console.answers import answer_status, to_signin, viewer_of
from sharegraph.console.graph_client import Problem, Result, run

AREA = "/console/exchange"
# The area's own pages, for its sub-navigation.
SECTIONS = [
    ("/console/exchange", "Overview"),
    ("/console/exchange/imports", "Imports"),
    ("/console/exchange/exports", "Exports"),
    ("/console/exchange/templates", "E-mail templates"),
    ("/console/exchange/webhooks", "Webhooks"),
]
DONE_WORDS = {
    "uploaded": "The file was uploaded; it is imported in the background.",
    "export": "The export was started.",
    "schedule": "The schedule was saved.",
    "deactivated": "Deactivated.",
    "activated": "Activated again.",
    "run": "A run was queued; the scheduler picks it up within its poll interval.",
    "template": "The template was saved.",
    "deleted": "The endpoint was deleted with its delivery log.",
    "updated": "Saved.",
    "replayed": "Deliveries were queued again.",
    "test": "A test message was queued.",
}


def flash(request: Request) -> str | None:
    done = request.query_params.get("done") or ""
    count = request.query_params.get("count") or ""
    if done == "replayed" and count.isdigit():
        if count == "1":
            return "1 delivery was queued again."
        return f"{int(count)} deliveries were queued again."
    return DONE_WORDS.get(done)


async def show(
    request: Request,
    document: str,
    template: str,
    *,
    title: str,
    section: str,
    variables: dict[str, Any] | None = None,
    problems: list[Problem] | None = None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """Run ``admin/<document>`` and render ``template`` with its data; a failing read is shown
    as its problems with the API's status (a non-admin: 403)."""
    result: Result = await run(request, f"admin/{document}", variables)
    if result.unauthenticated:
        return to_signin(request)
    viewer = viewer_of(result)
    if viewer is None:
        viewer = viewer_of(await who(request))
    failures = result.failures()
    if failures and status_code == 200:
        status_code = answer_status(result)
    return admin_page(
        request,
        template,
        title=title,
        area=AREA,
        viewer=viewer,
        problems=[*(problems or []), *failures],
        status_code=status_code,
        is_admin=is_admin(viewer),
        data=result.data or {},
        sections=SECTIONS,
        section=section,
        flash=flash(request),
        **context,
    )


def edges(connection: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (connection or {}).get("edges") or []]
