"""``/console/sharing``: the tenant's sharing agreements. List them; create or edit one with
pickers from the field catalogue (``sharingCatalogue``: each field with its sensitivity);
preview what a change would grant or revoke (``previewSharingAgreement``) and only then apply
it; approve fields pending review; revoke.

Every read and write is an operation of the public schema, run as the signed-in admin: the API
decides who may do what (a non-admin is refused by it, and the page shows that refusal)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sharegraph.console.admin.access import every_principal
from sharegraph.console.admin.shell import admin_page, who
from sharegraph.console.answers import answer_status, problem_of, to_signin, viewer_of
from sharegraph.console.forms import read_form
from sharegraph.console.graph_client import Problem, Result, run
from sharegraph.console.render import redirect
from sharegraph.errors import HTTP_STATUS, SharegraphError

AREA = "/console/sharing"
ROLES = [
    ("", "Everyone there"),
    ("PORTAL_USER", "Portal users"),
    ("CALL_TAKER", "Call-takers"),
    ("API_CLIENT", "API clients"),
    ("TENANT_ADMIN", "Tenant admins"),
]
SENSITIVITIES = ["PUBLIC", "INTERNAL", "PII", "CLINICAL", "PART2"]
DONE_WORDS = {
    "created": "The agreement is created and applies now.",
    "updated": "The agreement is changed and applies now.",
    "approved": "The fields pending review are approved and shared now.",
    "revoked": "The agreement is revoked.",
}
LOCAL_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")


# -- the editor's state: a draft, from an agreement, a posted form or a posted input ----------


def _minute(value: Any) -> str:
    """An instant as a datetime-local value (UTC, to the minute)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _instant(value: str) -> str | None:
    """A datetime-local value (read as UTC) as the API's DateTime; anything else as typed, for
    the API to refuse with its own code."""
    value = value.strip()
    if not value:
        return None
    return f"{value}:00+00:00" if LOCAL_MINUTE.match(value) else value


def input_of_agreement(agreement: dict[str, Any]) -> dict[str, Any]:
    """An agreement as the ``SharingAgreementInput`` that would write it again."""
    grantee = agreement.get("grantee") or {}
    return {
        "name": agreement["name"],
        "purpose": agreement["purpose"],
        "granteeKind": grantee.get("kind") or "PUBLIC",
        "granteeTenantId": (grantee.get("tenant") or {}).get("id"),
        "granteePartnerId": (grantee.get("partnerOrganization") or {}).get("id"),
        "granteeRole": grantee.get("role"),
        "actions": list(agreement.get("actions") or []),
        "fields": list(agreement.get("fields") or []),
        "deniedFields": list(agreement.get("deniedFields") or []),
        "answerSensitivity": agreement.get("answerSensitivity"),
        "rowScope": agreement.get("rowScope") or "all",
        "validFrom": agreement.get("validFrom"),
        "validUntil": agreement.get("validUntil"),
        "emergency": bool(agreement.get("emergency")),
    }


def draft_of_input(given: dict[str, Any]) -> dict[str, Any]:
    """What the editor's controls show for an input."""
    kind = given.get("granteeKind") or ""
    grantee = {
        "TENANT": f"TENANT:{given.get('granteeTenantId') or ''}",
        "PARTNER": f"PARTNER:{given.get('granteePartnerId') or ''}",
        "PUBLIC": "PUBLIC",
    }.get(kind, "")
    scope_kind, _, scope_argument = str(given.get("rowScope") or "all").partition(":")
    return {
        "name": given.get("name") or "",
        "purpose": given.get("purpose") or "",
        "grantee": grantee,
        "role": given.get("granteeRole") or "",
        "actions": set(given.get("actions") or []),
        "fields": list(given.get("fields") or []),
        "denied": list(given.get("deniedFields") or []),
        "answers": given.get("answerSensitivity") or "",
        "scope_kind": scope_kind,
        "scope_argument": scope_argument,
        "valid_from": _minute(given.get("validFrom")),
        "valid_until": _minute(given.get("validUntil")),
        "emergency": bool(given.get("emergency")),
    }


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def input_of_form(form: dict[str, str], catalogue: dict[str, Any] | None) -> dict[str, Any]:
    """The editor's posted controls as a ``SharingAgreementInput``: each type's and field's
    picker says share or deny; coordinates outside the pickers are typed one a line."""
    fields: list[str] = []
    denied: list[str] = []
    for key, value in form.items():
        if key.startswith(("type:", "field:")) and value in ("share", "deny"):
            name = key.partition(":")[2]
            coordinate = f"{name}.*" if key.startswith("type:") else name
            (fields if value == "share" else denied).append(coordinate)
    fields += _lines(form.get("other_fields", ""))
    denied += _lines(form.get("other_denied", ""))
    actions = [a for a in (catalogue or {}).get("actions", []) if form.get(f"action:{a}")]
    if not catalogue:  # the pickers' list did not load: keep what was ticked
        actions = [k.partition(":")[2] for k, v in form.items() if k.startswith("action:") and v]
    kind, _, grantee_id = form.get("grantee", "").partition(":")
    scope = form.get("scope_kind", "all").strip() or "all"
    argument = form.get("scope_argument", "").strip()
    return {
        "name": form.get("name", ""),
        "purpose": form.get("purpose", ""),
        "granteeKind": kind or "PUBLIC",
        "granteeTenantId": grantee_id if kind == "TENANT" and grantee_id else None,
        "granteePartnerId": grantee_id if kind == "PARTNER" and grantee_id else None,
        "granteeRole": form.get("role") or None,
        "actions": actions,
        "fields": list(dict.fromkeys(fields)),
        "deniedFields": list(dict.fromkeys(denied)),
        "answerSensitivity": form.get("answers") or None,
        "rowScope": f"{scope}:{argument}" if argument else scope,
        "validFrom": _instant(form.get("valid_from", "")),
        "validUntil": _instant(form.get("valid_until", "")),
        "emergency": form.get("emergency") == "on",
    }


# -- what the pages show -----------------------------------------------------------------------


def grantee_words(grantee: dict[str, Any] | None) -> str:
    grantee = grantee or {}
    kind = grantee.get("kind")
    if kind == "TENANT":
        who_ = (grantee.get("tenant") or {}).get("name") or "a tenant"
    elif kind == "PARTNER":
        who_ = (grantee.get("partnerOrganization") or {}).get("name") or "a partner"
    else:
        who_ = "The public"
    role = dict(ROLES).get(grantee.get("role") or "")
    return f"{who_} ({role.lower()})" if grantee.get("role") and role else who_


def status_of(agreement: dict[str, Any], now: datetime) -> tuple[str, str]:
    """(words, css class) of where an agreement stands now."""

    def at(value: Any) -> datetime | None:
        return datetime.fromisoformat(str(value)) if value else None

    if agreement.get("revokedAt"):
        return "Revoked", "revoked"
    until, since = at(agreement.get("validUntil")), at(agreement.get("validFrom"))
    if until is not None and until <= now:
        return "Expired", "expired"
    if since is not None and since > now:
        return "Not yet in force", "scheduled"
    return "In force", "live"


def _row(agreement: dict[str, Any], now: datetime) -> dict[str, Any]:
    words, css = status_of(agreement, now)
    return {
        **agreement,
        "grantee_words": grantee_words(agreement.get("grantee")),
        "status_words": words,
        "status_class": css,
    }


def _partners(data: dict[str, Any], principals: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Partner organizations an admin can share with: those its tenant's directory lists (the
    homes of the principals it manages) and those already named by its agreements."""
    found: dict[str, str] = {}
    for node in principals:
        partner = node.get("partnerOrganization")
        if partner:
            found[partner["id"]] = partner["name"]
    for agreement in data.get("sharingAgreements") or []:
        partner = (agreement.get("grantee") or {}).get("partnerOrganization")
        if partner:
            found[partner["id"]] = partner["name"]
    return [{"id": k, "name": v} for k, v in sorted(found.items(), key=lambda kv: kv[1])]


def _pickers(
    data: dict[str, Any], draft: dict[str, Any], pending: list[str]
) -> list[dict[str, Any]]:
    """The catalogue's types with each field's picker state and sensitivity."""
    chosen = {c: "share" for c in draft["fields"]} | {c: "deny" for c in draft["denied"]}
    revision = (data.get("sharingCatalogue") or {}).get("revision")
    types = []
    for spec in (data.get("sharingCatalogue") or {}).get("types") or []:
        fields = [
            {
                **f,
                "state": chosen.get(f["coordinate"], ""),
                "pending": f["coordinate"] in pending,
                "new": revision is not None and f["addedInRevision"] == revision > 1,
            }
            for f in spec["fields"]
        ]
        state = chosen.get(f"{spec['name']}.*", "")
        types.append(
            {
                **spec,
                "fields": fields,
                "state": state,
                "open": bool(state) or any(f["state"] or f["pending"] for f in fields),
            }
        )
    return types


def _others(data: dict[str, Any], coordinates: list[str]) -> str:
    """Coordinates the pickers do not hold (answer globs, cross-type globs), one a line."""
    known = {
        f["coordinate"]
        for t in (data.get("sharingCatalogue") or {}).get("types") or []
        for f in t["fields"]
    } | {f"{t['name']}.*" for t in (data.get("sharingCatalogue") or {}).get("types") or []}
    return "\n".join(c for c in coordinates if c not in known)


def _sensitivity(data: dict[str, Any]) -> dict[str, str]:
    return {
        f["coordinate"]: f["sensitivity"]
        for t in (data.get("sharingCatalogue") or {}).get("types") or []
        for f in t["fields"]
    }


def _find(data: dict[str, Any] | None, agreement_id: str | None) -> dict[str, Any] | None:
    if not agreement_id:
        return None
    return next(
        (a for a in (data or {}).get("sharingAgreements") or [] if a["id"] == agreement_id), None
    )


async def _viewer(request: Request, result: Result) -> dict[str, Any] | None:
    """The signed-in person, also when the API refused the page's data (then it is null)."""
    return viewer_of(result) or viewer_of(await who(request))


async def _editor(
    request: Request,
    *,
    agreement_id: str | None,
    given: dict[str, Any] | None = None,
    version: int | None = None,
    problems: list[Problem] | None = None,
    status_code: int = 200,
    preview: list[dict[str, Any]] | None = None,
    loaded: Result | None = None,
) -> Response:
    """The agreement editor: a new agreement, or ``agreement_id`` with its review and revoke
    controls; ``given`` (a posted input) instead of the stored terms; ``preview`` the changes
    the API says ``given`` makes, with the button that applies exactly them; ``loaded`` the
    page's data when the handler has read it already."""
    result = loaded or await run(request, "admin/sharing_edit")
    if result.unauthenticated:
        return to_signin(request)
    viewer = await _viewer(request, result)
    data = result.data or {}
    failures = result.failures()
    agreement = _find(data, agreement_id)
    if agreement_id and agreement is None and not failures:
        failures = [Problem("no such sharing agreement", "NOT_FOUND")]
    if failures:
        return admin_page(
            request,
            "sharing_edit.html",
            title="Sharing agreement",
            area=AREA,
            viewer=viewer,
            problems=[*(problems or []), *failures],
            status_code=answer_status(Result(None, failures)),
            agreement=None,
            refused=True,
        )
    if given is None:
        given = input_of_agreement(agreement) if agreement else None
    draft = draft_of_input(
        given or {"actions": ["read"], "rowScope": "all", "granteeKind": "PARTNER"}
    )
    pending = list((agreement or {}).get("pendingReview") or [])
    own = ((viewer or {}).get("tenant") or {}).get("id")
    sensitivity = _sensitivity(data)
    changes = None
    if preview is not None:
        changes = [{**c, "sensitivity": sensitivity.get(c["coordinate"])} for c in preview]
    now = datetime.now(UTC)
    return admin_page(
        request,
        "sharing_edit.html",
        title=f"Agreement: {agreement['name']}" if agreement else "New sharing agreement",
        area=AREA,
        viewer=viewer,
        problems=problems,
        status_code=status_code,
        agreement=_row(agreement, now) if agreement else None,
        version=version if version is not None else (agreement or {}).get("version"),
        draft=draft,
        types=_pickers(data, draft, pending),
        other_fields=_others(data, draft["fields"]),
        other_denied=_others(data, draft["denied"]),
        pending=[{"coordinate": c, "sensitivity": sensitivity.get(c)} for c in pending],
        tenants=[t for t in data.get("tenants") or [] if t["id"] != own],
        inventories=data.get("inventories") or [],
        partners=_partners(data, await every_principal(request, data.get("principals"))),
        roles=ROLES,
        sensitivities=SENSITIVITIES,
        actions=(data.get("sharingCatalogue") or {}).get("actions") or [],
        scopes=(data.get("sharingCatalogue") or {}).get("rowScopes") or [],
        revision=(data.get("sharingCatalogue") or {}).get("revision"),
        changes=changes,
        grants=[c for c in changes or [] if c["change"] == "grant"],
        revokes=[c for c in changes or [] if c["change"] == "revoke"],
        applied_input=json.dumps(given) if preview is not None else None,
        flash=DONE_WORDS.get(request.query_params.get("done") or ""),
    )


def routes() -> APIRouter:
    router = APIRouter()

    @router.get("/console/sharing")
    async def agreements(request: Request) -> Response:
        result = await run(request, "admin/sharing_list")
        if result.unauthenticated:
            return to_signin(request)
        viewer = await _viewer(request, result)
        now = datetime.now(UTC)
        rows = [_row(a, now) for a in (result.data or {}).get("sharingAgreements") or []]
        # In force first, then the rest; by name within each.
        order = {"live": 0, "scheduled": 1, "expired": 2, "revoked": 3}
        rows.sort(key=lambda r: (order[r["status_class"]], r["name"].lower()))
        return admin_page(
            request,
            "sharing_list.html",
            title="Sharing agreements",
            area=AREA,
            viewer=viewer,
            problems=result.failures(),
            status_code=answer_status(result),
            agreements=rows,
            refused=bool(result.failures()),
            flash=DONE_WORDS.get(request.query_params.get("done") or ""),
        )

    @router.get("/console/sharing/new")
    async def new(request: Request) -> Response:
        return await _editor(request, agreement_id=None)

    @router.get("/console/sharing/{agreement_id}")
    async def agreement(request: Request, agreement_id: str) -> Response:
        return await _editor(request, agreement_id=agreement_id)

    @router.post("/console/sharing/preview")
    async def preview(request: Request) -> Response:
        """Ask the API what the edited agreement would grant or revoke; change nothing."""
        try:
            form = await read_form(request)
        except SharegraphError as error:
            return await _editor(
                request,
                agreement_id=None,
                problems=[problem_of(error)],
                status_code=HTTP_STATUS[error.code],
            )
        agreement_id = form.get("id") or None
        version = int(form["version"]) if form.get("version", "").isdigit() else None
        catalogue = await run(request, "admin/sharing_edit")
        if catalogue.unauthenticated:
            return to_signin(request)
        given = input_of_form(form, (catalogue.data or {}).get("sharingCatalogue"))
        result = await run(request, "admin/sharing_preview", {"input": given, "id": agreement_id})
        if result.unauthenticated:
            return to_signin(request)
        if result.failures():
            return await _editor(
                request,
                agreement_id=agreement_id,
                given=given,
                version=version,
                problems=result.failures(),
                status_code=answer_status(result),
                loaded=catalogue,
            )
        return await _editor(
            request,
            agreement_id=agreement_id,
            given=given,
            version=version,
            preview=(result.data or {}).get("previewSharingAgreement") or [],
            loaded=catalogue,
        )

    @router.post("/console/sharing/apply")
    async def apply(request: Request) -> Response:
        """Write exactly the terms the admin previewed (carried by the preview page)."""
        agreement_id: str | None = None
        given: dict[str, Any] | None = None
        version: int | None = None
        try:
            form = await read_form(request)
            agreement_id = form.get("id") or None
            given = json.loads(form["input"])
            if not isinstance(given, dict):
                raise ValueError("input is not an object")
            version = int(form["version"]) if agreement_id else None
        except SharegraphError as error:
            return await _editor(
                request,
                agreement_id=agreement_id,
                problems=[problem_of(error)],
                status_code=HTTP_STATUS[error.code],
            )
        except (ValueError, KeyError):
            bad = Problem("the previewed agreement did not come back whole", "BAD_USER_INPUT")
            return await _editor(
                request, agreement_id=agreement_id, problems=[bad], status_code=400
            )
        if agreement_id:
            result = await run(
                request,
                "admin/sharing_update",
                {"id": agreement_id, "version": version, "input": given},
            )
            key, done = "updateSharingAgreement", "updated"
        else:
            result = await run(request, "admin/sharing_create", {"input": given})
            key, done = "createSharingAgreement", "created"
        if result.unauthenticated:
            return to_signin(request)
        if result.failures():
            return await _editor(
                request,
                agreement_id=agreement_id,
                given=given,
                version=version,
                problems=result.failures(),
                status_code=answer_status(result),
            )
        written = ((result.data or {}).get(key) or {}).get("agreement") or {}
        return redirect(f"/console/sharing/{written.get('id', agreement_id)}?done={done}")

    async def _act(request: Request, agreement_id: str, document: str, done: str) -> Response:
        try:
            form = await read_form(request)
            variables: dict[str, Any] = {"id": agreement_id}
            if document == "admin/sharing_approve":
                variables["version"] = int(form["version"])
        except SharegraphError as error:
            return await _editor(
                request,
                agreement_id=agreement_id,
                problems=[problem_of(error)],
                status_code=HTTP_STATUS[error.code],
            )
        except (ValueError, KeyError):
            bad = Problem("the agreement's version is missing", "BAD_USER_INPUT")
            return await _editor(
                request, agreement_id=agreement_id, problems=[bad], status_code=400
            )
        result = await run(request, document, variables)
        if result.unauthenticated:
            return to_signin(request)
        if result.failures():
            return await _editor(
                request,
                agreement_id=agreement_id,
                problems=result.failures(),
                status_code=answer_status(result),
            )
        return redirect(f"/console/sharing/{agreement_id}?done={done}")

    @router.get("/console/sharing/{agreement_id}/revoke")
    async def revoke_preview(request: Request, agreement_id: str) -> Response:
        """What revoking would take away, before the admin confirms."""
        result = await run(request, "admin/sharing_revoke_preview", {"id": agreement_id})
        if result.unauthenticated:
            return to_signin(request)
        viewer = await _viewer(request, result)
        data = result.data or {}
        agreement = _find(data, agreement_id)
        failures = result.failures()
        if agreement is None and not failures:
            failures = [Problem("no such sharing agreement", "NOT_FOUND")]
        sensitivity = _sensitivity(data)
        revokes = [
            {**c, "sensitivity": sensitivity.get(c["coordinate"])}
            for c in data.get("previewRevokeSharingAgreement") or []
        ]
        return admin_page(
            request,
            "sharing_revoke.html",
            title=f"Revoke {agreement['name']}?" if agreement else "Revoke",
            area=AREA,
            viewer=viewer,
            problems=failures,
            status_code=answer_status(Result(None, failures)),
            agreement=_row(agreement, datetime.now(UTC)) if agreement and not failures else None,
            revokes=revokes,
        )

    @router.post("/console/sharing/{agreement_id}/approve")
    async def approve(request: Request, agreement_id: str) -> Response:
        return await _act(request, agreement_id, "admin/sharing_approve", "approved")

    @router.post("/console/sharing/{agreement_id}/revoke")
    async def revoke(request: Request, agreement_id: str) -> Response:
        return await _act(request, agreement_id, "admin/sharing_revoke", "revoked")

    return router
