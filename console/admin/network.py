"""``/console/network``: network collaboration. Contact forms shared with other tenants (share,
unshare), the tenants this tenant hands follow-ups to and under which agreement, curated
inventories, and network statistics with their suppression shown as such.

Everything is read and written through the public GraphQL schema as the signed-in admin.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sharegraph.console.admin.shell import admin_page, is_admin, who
from sharegraph.console.answers import answer_status, submit, to_signin, viewer_of
from sharegraph.console.graph_client import Problem, run
from sharegraph.errors import BadUserInput

AREA = "/console/network"
FLAGS = [
    ("search", "Read its records"),
    ("edit", "Change its records (needs read)"),
    ("followUps", "See their follow-ups"),
    ("assignFollowUps", "Schedule follow-ups on them (needs follow-ups)"),
    ("statistics", "Count them in network statistics"),
    ("export", "Include them in exports"),
]
SENSITIVITIES = ["PUBLIC", "INTERNAL", "PII", "CLINICAL", "PART2"]
DIMENSIONS = [("CHANNEL", "Channel"), ("COUNTY", "County"), ("NEED", "Need"), ("WEEK", "Week")]
FOLLOW_UP_SCOPES = ("follow_up_assigned_to_grantee",)
DONE = {
    "shared": "The form is shared.",
    "unshared": "The form is no longer shared with that tenant.",
    "created": "The inventory is created.",
    "updated": "The inventory is saved.",
    "deleted": "The inventory is deleted.",
    "added": "The record is added to the inventory.",
    "removed": "The record is removed from the inventory.",
}


def _flash(request: Request) -> str | None:
    return DONE.get(request.query_params.get("done", ""))


def _form_shares(
    versions: list[dict[str, Any]], agreements: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each form with its versions and the live agreements sharing it, by grantee."""
    forms: dict[str, dict[str, Any]] = {}
    for version in versions:
        form = forms.setdefault(
            str(version["formId"]),
            {"id": version["formId"], "name": version["formName"], "versions": [], "grantees": {}},
        )
        form["versions"].append(version)
    for agreement in agreements:
        scope = str(agreement.get("rowScope") or "")
        if agreement.get("revokedAt") or not scope.startswith("shared_form:"):
            continue
        shared = forms.get(scope.split(":", 1)[1])
        tenant = (agreement.get("grantee") or {}).get("tenant")
        if shared is None or tenant is None:
            continue
        grantee = shared["grantees"].setdefault(tenant["id"], {"tenant": tenant, "agreements": []})
        grantee["agreements"].append({**agreement, "words": _share_words(agreement)})
    return list(forms.values())


def _share_words(agreement: dict[str, Any]) -> str:
    """What an agreement of a form share lets the tenant do, in words: the flag it was made
    for (``shared_form:<form> -> <tenant>: <flag>``), else its own name."""
    name = str(agreement.get("name") or "")
    flag = name.rsplit(": ", 1)[-1].split(" #", 1)[0] if name.startswith("shared_form:") else ""
    words = dict(FLAGS).get(flag)
    return words.split(" (", 1)[0] if words else name


def _rows_words(scope: str, form_names: dict[str, str]) -> str:
    """An agreement's row scope in words, for the follow-up table."""
    if scope == "follow_up_assigned_to_grantee":
        return "follow-ups assigned to that tenant"
    if scope.startswith("shared_form:"):
        form = form_names.get(scope.split(":", 1)[1], "a shared form")
        return f"follow-ups on records of {form}"
    return scope


def _follow_up_shares(agreements: list[dict[str, Any]], own: str | None) -> list[dict[str, Any]]:
    """Live agreements of this tenant that hand follow-ups to another tenant."""
    found = []
    for agreement in agreements:
        if agreement.get("revokedAt") or (agreement.get("owner") or {}).get("id") != own:
            continue
        tenant = (agreement.get("grantee") or {}).get("tenant")
        fields = agreement.get("fields") or []
        by_scope = agreement.get("rowScope") in FOLLOW_UP_SCOPES
        if tenant and (by_scope or any(str(f).startswith("FollowUp.") for f in fields)):
            found.append(agreement)
    return sorted(found, key=lambda a: (a["grantee"]["tenant"]["name"], a["name"]))


def refused(
    request: Request, viewer: dict[str, Any] | None, template: str, area: str, title: str
) -> Response:
    """A page of the console for someone who is not a tenant admin: 403, with why."""
    why = Problem("The console is for tenant administrators.", "FORBIDDEN", "NOT_ADMIN")
    return admin_page(
        request,
        template,
        title=title,
        area=area,
        viewer=viewer,
        problems=[why],
        status_code=403,
        is_admin=False,
    )


async def admin_viewer(request: Request, template: str, title: str) -> Response | dict[str, Any]:
    """The signed-in tenant admin, or the answer for anyone else (sign in, or 403)."""
    signed = await who(request)
    if signed.unauthenticated:
        return to_signin(request)
    viewer = viewer_of(signed)
    if not is_admin(viewer) or viewer is None:
        return refused(request, viewer, template, AREA, title)
    return viewer


def _checked(form: dict[str, str], name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


def routes() -> APIRouter:
    router = APIRouter()

    async def overview(
        request: Request, problems: list[Problem] | None = None, status_code: int = 200
    ) -> Response:
        gate = await admin_viewer(request, "network_overview.html", "Network collaboration")
        if isinstance(gate, Response):
            return gate
        result = await run(request, "admin/network_overview")
        if result.unauthenticated:
            return to_signin(request)
        data = result.data or {}
        viewer = viewer_of(result)
        own = ((viewer or {}).get("tenant") or {}).get("id")
        agreements = data.get("sharingAgreements") or []
        follow_ups = _follow_up_shares(agreements, own)
        handed: dict[str, dict[str, int]] = {}
        for tenant_id in dict.fromkeys(a["grantee"]["tenant"]["id"] for a in follow_ups):
            counted = await run(request, "admin/network_follow_ups", {"tenant": tenant_id})
            if not counted.failures() and counted.data:
                handed[tenant_id] = {
                    "open": counted.data["open"]["totalCount"],
                    "all": counted.data["all"]["totalCount"],
                }
        failures = result.failures()
        form_names = {
            str(v["formId"]): str(v["formName"]) for v in data.get("contactFormVersions") or []
        }
        for agreement in follow_ups:
            agreement["rows"] = _rows_words(str(agreement.get("rowScope") or ""), form_names)
        return admin_page(
            request,
            "network_overview.html",
            title="Network collaboration",
            area=AREA,
            viewer=viewer,
            problems=(problems or []) + failures,
            status_code=status_code if problems else answer_status(result),
            is_admin=is_admin(viewer),
            forms=_form_shares(data.get("contactFormVersions") or [], agreements),
            versions=data.get("contactFormVersions") or [],
            tenants=[t for t in data.get("tenants") or [] if t["id"] != own],
            follow_ups=follow_ups,
            handed=handed,
            flags=FLAGS,
            sensitivities=SENSITIVITIES,
            flash=_flash(request),
        )

    @router.get(AREA)
    async def network(request: Request) -> Response:
        return await overview(request)

    async def again_overview(problems: list[Problem], status: int, request: Request) -> Response:
        return await overview(request, problems, status)

    @router.post(AREA + "/share")
    async def share(request: Request) -> Response:
        def build(form: dict[str, str]) -> dict[str, Any]:
            chosen = {flag: _checked(form, flag) for flag, _words in FLAGS}
            answers = form.get("answerSensitivity") or None
            if answers is not None and answers not in SENSITIVITIES:
                raise BadUserInput("choose a sensitivity from the list", reason="BAD_CHOICE")
            given: dict[str, Any] = {
                "formId": form["formId"],
                "granteeTenantId": form["granteeTenantId"],
                "purpose": form.get("purpose", ""),
                "answerSensitivity": answers,
                **chosen,
            }
            if form.get("validUntil"):
                given["validUntil"] = form["validUntil"] + "T23:59:59+00:00"
            return {"input": given}

        return await submit(
            request,
            "admin/network_share",
            build,
            AREA + "?done=shared",
            lambda problems, status: again_overview(problems, status, request),
        )

    @router.post(AREA + "/unshare")
    async def unshare(request: Request) -> Response:
        def build(form: dict[str, str]) -> dict[str, Any]:
            return {"input": {"formId": form["formId"], "granteeTenantId": form["granteeTenantId"]}}

        return await submit(
            request,
            "admin/network_unshare",
            build,
            AREA + "?done=unshared",
            lambda problems, status: again_overview(problems, status, request),
        )

    # -- inventories ------------------------------------------------------------------------

    async def inventories_page(
        request: Request, problems: list[Problem] | None = None, status_code: int = 200
    ) -> Response:
        gate = await admin_viewer(request, "network_inventories.html", "Inventories")
        if isinstance(gate, Response):
            return gate
        viewer = gate
        own = ((viewer or {}).get("tenant") or {}).get("id")
        result = await run(
            request, "admin/network_inventories", {"tenants": [own] if own else None}
        )
        data = result.data or {}
        return admin_page(
            request,
            "network_inventories.html",
            title="Inventories",
            area=AREA,
            viewer=viewer,
            problems=(problems or []) + result.failures(),
            status_code=status_code if problems else answer_status(result),
            is_admin=is_admin(viewer),
            inventories=data.get("inventories") or [],
            services=[e["node"] for e in (data.get("services") or {}).get("edges", [])],
            organizations=[e["node"] for e in (data.get("organizations") or {}).get("edges", [])],
            flash=_flash(request),
        )

    @router.get(AREA + "/inventories")
    async def inventories(request: Request) -> Response:
        return await inventories_page(request)

    def inventory_action(path: str, document: str, done: str, build: Any) -> None:
        async def handler(request: Request) -> Response:
            async def again(problems: list[Problem], status: int) -> Response:
                return await inventories_page(request, problems, status)

            return await submit(request, document, build, AREA + "/inventories?done=" + done, again)

        router.add_api_route(AREA + "/inventories" + path, handler, methods=["POST"])

    def _text(form: dict[str, str], name: str) -> str | None:
        return form.get(name, "").strip() or None

    inventory_action(
        "",
        "admin/network_inventory_create",
        "created",
        lambda f: {"input": {"name": f["name"], "description": _text(f, "description")}},
    )
    inventory_action(
        "/update",
        "admin/network_inventory_update",
        "updated",
        lambda f: {
            "input": {"id": f["id"], "name": f["name"], "description": _text(f, "description")}
        },
    )
    inventory_action(
        "/delete", "admin/network_inventory_delete", "deleted", lambda f: {"id": f["id"]}
    )

    def _record_ids(form: dict[str, str]) -> list[str]:
        chosen = [form[n] for n in ("serviceId", "organizationId", "recordId") if form.get(n)]
        if not chosen:
            raise BadUserInput("choose a service or an organization to add", reason="REQUIRED")
        return chosen

    inventory_action(
        "/add",
        "admin/network_inventory_add",
        "added",
        lambda f: {"input": {"inventoryId": f["id"], "recordIds": _record_ids(f)}},
    )
    inventory_action(
        "/remove",
        "admin/network_inventory_remove",
        "removed",
        lambda f: {"input": {"inventoryId": f["id"], "recordIds": _record_ids(f)}},
    )

    # -- statistics -------------------------------------------------------------------------

    @router.get(AREA + "/statistics")
    async def statistics(request: Request) -> Response:
        gate = await admin_viewer(request, "network_statistics.html", "Network statistics")
        if isinstance(gate, Response):
            return gate
        result = await run(request, "admin/network_overview")
        if result.unauthenticated:
            return to_signin(request)
        viewer = viewer_of(result)
        versions = (result.data or {}).get("contactFormVersions") or []
        forms = list({str(v["formId"]): v for v in reversed(versions)}.values())
        forms.sort(key=lambda v: str(v["formName"]))
        params = request.query_params
        chosen = params.get("form") or (str(forms[0]["formId"]) if forms else "")
        group = [g for g in params.getlist("groupBy") if g] or ["CHANNEL"]
        # Network mode counts whole ISO weeks that have ended: default to the last 12 of them.
        last_sunday = date.today() - timedelta(days=date.today().isoweekday())
        start = params.get("from") or (last_sunday - timedelta(days=83)).isoformat()
        end = params.get("to") or last_sunday.isoformat()
        problems = list(result.failures())
        statistics_data = None
        status_code = answer_status(result)
        threshold_text = params.get("threshold") or "5"
        try:
            threshold = int(threshold_text)
        except ValueError:
            threshold = 5
            problems.append(Problem("the threshold must be a whole number", "BAD_USER_INPUT"))
            status_code = 400
        if chosen and not problems:
            answer = await run(
                request,
                "admin/network_statistics",
                {
                    "form": chosen,
                    "groupBy": group,
                    "from": start,
                    "to": end,
                    "threshold": threshold,
                },
            )
            problems += answer.failures()
            status_code = answer_status(answer)
            statistics_data = (answer.data or {}).get("networkStatistics")
        return admin_page(
            request,
            "network_statistics.html",
            title="Network statistics",
            area=AREA,
            viewer=viewer,
            problems=problems,
            status_code=status_code,
            is_admin=is_admin(viewer),
            forms=forms,
            chosen=chosen,
            group=group,
            dimensions=DIMENSIONS,
            start=start,
            end=end,
            threshold=threshold_text,
            stats=statistics_data,
        )

    return router
