"""``/console/access``: who can see what. Pick a principal the admin administers
(``principals``), see its effective permissions as a matrix (the field catalogue's types x
fields x actions, each cell with its row scopes and the agreements behind it, from
``effectivePermissions``), and from any cell ask why it may or may not (``explainAccess``,
naming the deciding agreement or deny rule), on one record when given its id."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sharegraph.console.admin.shell import admin_page, who
from sharegraph.console.answers import answer_status, to_signin, viewer_of
from sharegraph.console.graph_client import Result, run

AREA = "/console/access"
# What each `decidedBy` means, in the words of the AccessDecision enum's descriptions.
DECISION_WORDS = {
    "OWN_DATA": "Its own tenant's data, and one of its roles allows it.",
    "AGREEMENT": "A sharing agreement allows it.",
    "ROLE_DENY": "A deny line of the role policy refuses it.",
    "NO_ROLE_RULE": "No role of the principal allows it.",
    "DENY_RULE": "An agreement lists the field among its denied fields.",
    "NO_AGREEMENT": "No agreement shares it.",
    "PENDING_REVIEW": "An agreement would share it once you approve the new field.",
    "NOT_VALID_NOW": "An agreement shares it, but outside its validity window.",
    "OUTSIDE_ROW_SCOPE": "Shared, but this record is outside the agreement's row scope.",
    "OPERATION_ALLOWED": "An operation its roles allow.",
    "OPERATION_DENIED": "An operation its roles do not allow.",
    "DISABLED": "The principal is disabled: it has no access at all.",
}
VERBS = {
    "read": "read",
    "write": "write",
    "export": "export",
    "subscribe": "subscribe to",
    "statistics": "count",
}
OPERATION = "Operation"
MAX_PRINCIPAL_PAGES = 20  # of 100 each


def explain_link(principal: str, coordinate: str, action: str, record: str | None = None) -> str:
    query = {"principal": principal, "coordinate": coordinate, "action": action}
    if record:
        query["record"] = record
    return "/console/access/explain?" + urlencode(query)


def principal_words(principal: dict[str, Any] | None) -> str:
    if not principal:
        return "this principal"
    home = (principal.get("tenant") or principal.get("partnerOrganization") or {}).get("name")
    name = principal.get("displayName") or principal.get("name") or "this principal"
    return f"{name} ({principal.get('name')}, {home})" if home else str(name)


def matrix(
    principal_id: str, entries: list[dict[str, Any]], catalogue: dict[str, Any]
) -> list[dict[str, Any]]:
    """The catalogue's types x fields x actions, each cell with what the entries grant there
    (per owner: row scopes and agreements) and its explain link; fields the entries name that
    the catalogue lists under no type (form answers) are added to their type."""
    actions: list[str] = list(catalogue.get("actions") or [])
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    extra: dict[str, list[str]] = {}
    for e in entries:
        if e["typeName"] == OPERATION:
            continue
        cells.setdefault((e["typeName"], e["field"], e["action"]), []).append(e)
    listed = {(t["name"], f["name"]) for t in catalogue.get("types") or [] for f in t["fields"]}
    for type_name, field, _action in cells:
        if (type_name, field) not in listed and field not in extra.get(type_name, []):
            extra.setdefault(type_name, []).append(field)
    types = []
    for spec in catalogue.get("types") or []:
        rows = []
        names = [(f["name"], f["label"], f["sensitivity"]) for f in spec["fields"]]
        names += [(n, n, None) for n in sorted(extra.get(spec["name"], []))]
        for name, label, sensitivity in names:
            coordinate = f"{spec['name']}.{name}"
            row_cells = []
            for action in actions:
                grants = cells.get((spec["name"], name, action), [])
                row_cells.append(
                    {
                        "action": action,
                        "allowed": bool(grants),
                        "grants": grants,
                        "explain": explain_link(principal_id, coordinate, action),
                    }
                )
            rows.append(
                {
                    "name": name,
                    "label": label,
                    "coordinate": coordinate,
                    "sensitivity": sensitivity,
                    "cells": row_cells,
                }
            )
        granted = sum(1 for r in rows if any(c["allowed"] for c in r["cells"]))
        per_action = {
            a: sum(1 for r in rows if r["cells"][i]["allowed"]) for i, a in enumerate(actions)
        }
        types.append(
            {"name": spec["name"], "rows": rows, "granted": granted, "per_action": per_action}
        )
    return types


async def every_principal(request: Request, first: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The principals the admin administers: ``first`` (a ``principals`` page a document already
    fetched) and the pages after it, up to ``MAX_PRINCIPAL_PAGES`` pages."""
    found = [e["node"] for e in (first or {}).get("edges") or []]
    page_info = (first or {}).get("pageInfo") or {}
    for _ in range(MAX_PRINCIPAL_PAGES - 1):
        if not page_info.get("hasNextPage") or not page_info.get("endCursor"):
            break
        more = await run(request, "admin/access_principals", {"after": page_info["endCursor"]})
        listed = (more.data or {}).get("principals") or {}
        found += [e["node"] for e in listed.get("edges") or []]
        page_info = listed.get("pageInfo") or {}
    return found


async def _viewer(request: Request, result: Result) -> dict[str, Any] | None:
    return viewer_of(result) or viewer_of(await who(request))


def routes() -> APIRouter:
    router = APIRouter()

    @router.get("/console/access")
    async def access(
        request: Request, principal: str | None = None, type: str | None = None
    ) -> Response:
        chosen = (principal or "").strip()
        result = await run(
            request,
            "admin/access_matrix",
            {"principal": chosen or "-", "withPrincipal": bool(chosen)},
        )
        if result.unauthenticated:
            return to_signin(request)
        viewer = await _viewer(request, result)
        data = result.data or {}
        failures = result.failures()
        listed = data.get("principals")
        if listed is None and chosen and failures:
            # the chosen principal was refused (and with it the whole answer): keep the picker
            listed = ((await run(request, "admin/access_principals")).data or {}).get("principals")
        principals = await every_principal(request, listed)
        subject = data.get("principal")
        entries = data.get("effectivePermissions") or []
        catalogue = data.get("sharingCatalogue") or {}
        types = matrix(chosen, entries, catalogue) if subject and not failures else []
        operations = [e for e in entries if e["typeName"] == OPERATION]
        shown = next((t for t in types if t["name"] == type), None)
        return admin_page(
            request,
            "access_matrix.html",
            title=f"Who sees what: {subject['name']}" if subject else "Who sees what",
            area=AREA,
            viewer=viewer,
            problems=failures,
            status_code=answer_status(result),
            refused=bool(failures) and not principals,
            principals=principals,
            chosen=chosen,
            subject=subject,
            subject_words=principal_words(subject),
            types=types,
            shown=shown,
            type_link=lambda name: (
                "/console/access?" + urlencode({"principal": chosen, "type": name}) + "#fields"
            ),
            actions=catalogue.get("actions") or [],
            operations=operations,
        )

    @router.get("/console/access/explain")
    async def explain(
        request: Request,
        principal: str = "",
        coordinate: str = "",
        action: str | None = None,
        record: str | None = None,
    ) -> Response:
        variables: dict[str, str | None] = {
            "principal": principal.strip() or "-",
            "coordinate": coordinate.strip(),
            "action": (action or "").strip() or None,
            "record": (record or "").strip() or None,
        }
        result = await run(request, "admin/access_explain", variables)
        if result.unauthenticated:
            return to_signin(request)
        viewer = await _viewer(request, result)
        data = result.data or {}
        subject = data.get("principal")
        answer = data.get("explainAccess")
        operation = "." not in (variables["coordinate"] or "")
        verb = VERBS.get(variables["action"] or "read", variables["action"] or "read")
        if operation and not variables["action"]:
            verb = "run"
        who_words = principal_words(subject)
        question = f"Why can {who_words} {verb} {variables['coordinate'] or 'this'}"
        if variables["record"]:
            question += " on this record"
        if answer and not answer["allowed"]:
            question = question.replace("Why can", "Why can't", 1)
        return admin_page(
            request,
            "access_explain.html",
            title="Why" if not answer else ("Allowed" if answer["allowed"] else "Not allowed"),
            area=AREA,
            viewer=viewer,
            problems=result.failures(),
            status_code=answer_status(result),
            question=question + "?",
            answer=answer,
            decision_words=DECISION_WORDS.get((answer or {}).get("decidedBy") or "", ""),
            subject=subject,
            asked=variables,
            actions=list(VERBS),
            back="/console/access?"
            + urlencode({"principal": principal, "type": coordinate.partition(".")[0]})
            + "#fields"
            if principal
            else None,
        )

    return router
