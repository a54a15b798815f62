"""``/console/audit``: the tenant's audit trail with filters and paging, the verification of
its sealed chain, disclosures counted per receiving organization and principal, and the
filtered view as a CSV download.

Every figure comes from the public schema as the signed-in admin (``auditEvents``,
``auditChain``, ``auditDisclosures``); the CSV runs the very query the page shows, page after
page, so it holds exactly the rows of the filtered view.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from sharegraph.console.admin.people import utc_instant, viewer_anyway
from sharegraph.console.admin.shell import admin_page, is_admin
from sharegraph.console.answers import (
    answer_status,
    distinct,
    problem_of,
    to_signin,
    viewer_of,
)
from sharegraph.console.graph_client import Problem, Result, run
from sharegraph.console.render import PAGE_HEADERS, page
from sharegraph.errors import HTTP_STATUS, BadUserInput, SharegraphError

AREA = "/console/audit"
PAGE_SIZE = 50
EXPORT_PAGE = 100
MAX_EXPORT_ROWS = 10_000
# The filters the page and the CSV take from the address (`?principal=...`).
FILTER_PARAMS = ("principal", "action", "record", "from", "to")
KNOWN_ACTIONS = (
    "read",
    "denied",
    "disclosure",
    "principal.create",
    "role.assign",
    "role.revoke",
    "key.create",
    "key.rotate",
    "key.revoke",
    "credentials.invitation.send",
    "credentials.password.set",
    "policy.agreement.create",
    "policy.agreement.update",
    "policy.agreement.approve",
    "policy.agreement.revoke",
    "session.sign_in",
    "session.sign_out",
    "export.download",
)
CSV_COLUMNS = (
    "position",
    "occurred_at",
    "action",
    "principal",
    "principal_id",
    "purpose",
    "record_type",
    "record_ids",
    "coordinates",
    "detail",
)
# Cells a spreadsheet would run as a formula (OWASP's list: = + - @, tab, carriage return).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A spreadsheet set to another list separator (";" in much of Europe, or tab) splits a cell
# where this file does not, ignoring quotes that do not open a cell: what follows a separator
# or a line break inside a cell starts a cell there. Callers of any tenant choose some cells
# (the purpose header, names), so a formula start after one is neutralized too.
INNER_FORMULA = re.compile(r"([;,\t\r\n])(?=[=+\-@])")


def neutral(value: str) -> str:
    """A CSV cell no spreadsheet runs as a formula: a quote where one could start, at the
    cell's start and after any character a spreadsheet might split the cell at."""
    value = INNER_FORMULA.sub(r"\1'", value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _filters(request: Request) -> dict[str, str]:
    """The filters as given (for the form and the links), blanks left out."""
    params = request.query_params
    return {
        name: params[name].strip() for name in FILTER_PARAMS if (params.get(name) or "").strip()
    }


def _filter_input(given: dict[str, str]) -> dict[str, Any]:
    """The ``AuditEventFilterInput`` of the filters; ``BAD_USER_INPUT`` for a bad time."""
    flt: dict[str, Any] = {}
    if "principal" in given:
        flt["principalId"] = given["principal"]
    if "action" in given:
        flt["action"] = given["action"]
    if "record" in given:
        flt["recordId"] = given["record"]
    after = utc_instant(given.get("from"), "From")
    before = utc_instant(given.get("to"), "Until")
    if after:
        flt["occurredAfter"] = after
    if before:
        flt["occurredBefore"] = before
    if after and before and after >= before:
        raise BadUserInput("the period ends before it starts", reason="BAD_PERIOD")
    return flt


def _cells(node: dict[str, Any]) -> list[str]:
    detail = node.get("detail")
    return [
        str(node.get("position") or ""),
        str(node.get("occurredAt") or ""),
        str(node.get("action") or ""),
        str(node.get("principalName") or ""),
        str(node.get("principalId") or ""),
        str(node.get("purpose") or ""),
        str(node.get("recordType") or ""),
        " ".join(node.get("recordIds") or []),
        " ".join(node.get("coordinates") or []),
        json.dumps(detail, sort_keys=True, ensure_ascii=False) if detail is not None else "",
    ]


def _line(cells: list[str] | tuple[str, ...]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([neutral(c) for c in cells])
    return out.getvalue()


def routes() -> APIRouter:
    router = APIRouter()

    async def events_page(
        request: Request, problems: list[Problem] | None = None, status_code: int = 200
    ) -> Response:
        given = _filters(request)
        try:
            flt = _filter_input(given)
        except SharegraphError as error:
            problems = [*(problems or []), problem_of(error)]
            status_code = HTTP_STATUS[error.code]
            flt = None
        after = request.query_params.get("after") or None
        if flt is None:
            result = await run(request, "admin/viewer")
        else:
            variables = {"filter": flt, "first": PAGE_SIZE, "after": after}
            result = await run(request, "admin/audit_events", variables)
        if result.unauthenticated:
            return to_signin(request)
        viewer = await viewer_anyway(request, result)
        data = result.data or {}
        connection = data.get("auditEvents") or {}
        events = [edge["node"] for edge in connection.get("edges") or []]
        principals = [e["node"] for e in (data.get("principals") or {}).get("edges") or []]
        all_problems = distinct([*(problems or []), *result.failures()])
        page_info = connection.get("pageInfo") or {}
        query = urlencode(given)
        return admin_page(
            request,
            "audit_list.html",
            title="Audit",
            area=AREA,
            viewer=viewer,
            problems=all_problems,
            status_code=status_code if problems else answer_status(result),
            is_admin=is_admin(viewer),
            events=events,
            allowed=bool(connection) or is_admin(viewer),
            total=connection.get("totalCount"),
            page_info=page_info,
            given=given,
            principals=principals,
            known_actions=KNOWN_ACTIONS,
            export_href="/console/audit/export.csv" + (f"?{query}" if query else ""),
            next_href=(
                "/console/audit?" + urlencode({**given, "after": page_info["endCursor"]})
                if page_info.get("hasNextPage")
                else None
            ),
            first_href=("/console/audit" + (f"?{query}" if query else "")) if after else None,
        )

    @router.get("/console/audit")
    async def trail(request: Request) -> Response:
        return await events_page(request)

    async def chain_result(request: Request) -> Result:
        return await run(request, "admin/audit_chain")

    @router.get("/console/audit/chain")
    async def chain(request: Request) -> Response:
        """The chain's verification: a fragment for the trail page (htmx), else a page."""
        result = await chain_result(request)
        if result.unauthenticated and request.headers.get("hx-request"):
            # Loaded into the trail page after the session ended: the whole page goes to
            # sign-in (htmx would otherwise swap the sign-in page into the chain's card).
            return Response(status_code=204, headers={"HX-Redirect": "/signin?next=" + AREA})
        if result.unauthenticated:
            return to_signin(request)
        status = (result.data or {}).get("auditChain")
        if request.headers.get("hx-request") == "true":
            return page(
                request,
                "admin/audit_chain_status.html",
                title="Audit chain",
                problems=distinct(result.failures()),
                status_code=200,
                chain=status,
            )
        viewer_result = await run(request, "admin/viewer")
        viewer = viewer_of(viewer_result)
        return admin_page(
            request,
            "audit_chain.html",
            title="Audit chain",
            area=AREA,
            viewer=viewer,
            problems=distinct(result.failures()),
            status_code=answer_status(result),
            chain=status,
        )

    @router.get("/console/audit/disclosures")
    async def disclosures(request: Request) -> Response:
        given = _filters(request)
        problems: list[Problem] = []
        status_code = 200
        try:
            flt = _filter_input({k: v for k, v in given.items() if k in ("from", "to")})
        except SharegraphError as error:
            problems.append(problem_of(error))
            status_code = HTTP_STATUS[error.code]
            flt = {}
        variables = {"after": flt.get("occurredAfter"), "before": flt.get("occurredBefore")}
        result = await run(request, "admin/audit_disclosures", variables)
        if result.unauthenticated:
            return to_signin(request)
        viewer = await viewer_anyway(request, result)
        counts = (result.data or {}).get("auditDisclosures")
        period = {k: v for k, v in given.items() if k in ("from", "to")}
        return admin_page(
            request,
            "audit_disclosures.html",
            title="Disclosures per partner",
            area=AREA,
            viewer=viewer,
            problems=distinct([*problems, *result.failures()]),
            status_code=status_code if problems else answer_status(result),
            counts=counts,
            given=period,
            total=sum(c["count"] for c in counts or []),
            period_query=urlencode(period),
        )

    @router.get("/console/audit/export.csv")
    async def export(request: Request) -> Response:
        """The filtered view as CSV, run as the signed-in admin, at most MAX_EXPORT_ROWS."""
        given = _filters(request)
        try:
            flt = _filter_input(given)
        except SharegraphError as error:
            return await events_page(request, [problem_of(error)], HTTP_STATUS[error.code])
        first = await run(
            request, "admin/audit_export", {"filter": flt, "first": EXPORT_PAGE, "after": None}
        )
        if first.unauthenticated:
            return to_signin(request)
        if first.failures():
            return await events_page(request, first.failures(), answer_status(first))
        total = int(first.data["auditEvents"]["totalCount"])  # type: ignore[index]
        if total > MAX_EXPORT_ROWS:
            too_many = Problem(
                f"the filtered view holds {total} rows; a download holds at most "
                f"{MAX_EXPORT_ROWS}: narrow the filters (a shorter period, one principal)",
                "BAD_USER_INPUT",
                "EXPORT_TOO_LARGE",
            )
            return await events_page(request, [too_many], 400)

        async def lines() -> AsyncIterator[str]:
            yield _line(CSV_COLUMNS)
            result, sent = first, 0
            while True:
                connection = (result.data or {}).get("auditEvents") or {}
                for edge in connection.get("edges") or []:
                    if sent >= total:  # rows written since the first page wait for the next
                        return
                    yield _line(_cells(edge["node"]))
                    sent += 1
                info = connection.get("pageInfo") or {}
                if not info.get("hasNextPage") or sent >= total:
                    return
                variables = {"filter": flt, "first": EXPORT_PAGE, "after": info["endCursor"]}
                result = await run(request, "admin/audit_export", variables)
                if result.failures():
                    failure = result.failures()[0]
                    yield _line(["export incomplete", failure.code, failure.message])
                    return

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        headers = {
            **PAGE_HEADERS,
            # A download, never a page: nothing in it may run or load anything.
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
            "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
        }
        return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)

    return router
