"""``/console/people``: the tenant's principals (its users and API clients, and its partner
organizations' users) with their roles, API keys and invitations.

Every read and change is an operation of the public schema run as the signed-in admin
(``principals``, ``principal``, ``createPrincipal``, ``assignRole``, ``revokeRole``,
``createApiKey``, ``rotateApiKey``, ``revokeApiKey``, ``inviteUser``, ``resendInvitation``); the
API decides who may. A new key's secret is on the page answering the POST that made it, and
nowhere else: not in a URL, a flash or any later page (the page is ``Cache-Control: no-store``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sharegraph.console.admin.shell import admin_page, is_admin, who
from sharegraph.console.answers import answer_status, problem_of, submit, to_signin, viewer_of
from sharegraph.console.forms import read_form
from sharegraph.console.graph_client import Problem, Result, run
from sharegraph.console.render import redirect
from sharegraph.errors import HTTP_STATUS, BadUserInput, SharegraphError

AREA = "/console/people"
ROLE_WORDS = {
    "TENANT_ADMIN": "Tenant admin",
    "CALL_TAKER": "Call-taker",
    "API_CLIENT": "API client",
    "PORTAL_USER": "Portal user",
}
KIND_WORDS = {"USER": "Person", "API_CLIENT": "API client"}
INVITATION_WORDS = {
    "PENDING": "Invitation sent, not yet accepted",
    "ACCEPTED": "Invitation accepted",
    "EXPIRED": "Invitation expired",
}
DONE_WORDS = {
    "created": "The principal was created.",
    "invited": "The invitation was sent.",
    "invitation-not-sent": "The person was created, but the invitation e-mail did not leave: "
    "resend it below.",
    "resent": "A new invitation was sent; earlier links no longer work.",
    "resend-failed": "The invitation e-mail did not leave; try again later.",
    "role-assigned": "The role was granted.",
    "role-revoked": "The role was taken away.",
    "key-revoked": "The API key was revoked: it no longer works.",
}
DEFAULT_OVERLAP_SECONDS = 86400


def _text(form: dict[str, str], name: str) -> str | None:
    value = (form.get(name) or "").strip()
    return value or None


def utc_instant(value: str | None, field: str) -> str | None:
    """A ``datetime-local`` value (read as UTC) or an ISO 8601 instant, as the API takes it."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadUserInput(
            f"{field} is not a date and time (YYYY-MM-DDTHH:MM, UTC)", reason="BAD_DATE_TIME"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _home(value: str | None) -> dict[str, str]:
    """``tenant:<id>`` / ``partner:<id>`` from the home picker, as the inputs take it."""
    kind, _, node_id = (value or "").partition(":")
    if kind == "tenant" and node_id:
        return {"tenantId": node_id}
    if kind == "partner" and node_id:
        return {"partnerOrganizationId": node_id}
    raise BadUserInput("choose where the principal belongs", reason="BAD_DOMAIN")


def _homes(viewer: dict[str, Any] | None, principals: list[dict[str, Any]]) -> list[Any]:
    """The homes an admin can pick: their tenant and the partner organizations listed."""
    homes: list[tuple[str, str]] = []
    tenant = (viewer or {}).get("tenant")
    if tenant:
        homes.append((f"tenant:{tenant['id']}", str(tenant["name"])))
    partners = {
        p["partnerOrganization"]["id"]: p["partnerOrganization"]["name"]
        for p in principals
        if p.get("partnerOrganization")
    }
    homes.extend((f"partner:{i}", str(n)) for i, n in sorted(partners.items(), key=lambda x: x[1]))
    return homes


async def viewer_anyway(request: Request, result: Result) -> dict[str, Any] | None:
    """The signed-in person for the page's frame, also when the answer failed as a whole
    (``data: null``): then asked on its own."""
    viewer = viewer_of(result)
    if viewer is None and result.failures():
        viewer = viewer_of(await who(request))
    return viewer


def routes() -> APIRouter:
    router = APIRouter()

    async def list_page(
        request: Request, problems: list[Problem] | None = None, status_code: int = 200
    ) -> Response:
        after = request.query_params.get("after") or None
        result = await run(request, "admin/people_list", {"after": after})
        if result.unauthenticated:
            return to_signin(request)
        viewer = await viewer_anyway(request, result)
        connection = (result.data or {}).get("principals") or {}
        people = [edge["node"] for edge in connection.get("edges") or []]
        all_problems = [*(problems or []), *result.failures()]
        return admin_page(
            request,
            "people_list.html",
            title="People and keys",
            area=AREA,
            viewer=viewer,
            problems=all_problems,
            status_code=status_code if problems else answer_status(result),
            is_admin=is_admin(viewer),
            people=people,
            total=connection.get("totalCount"),
            page_info=connection.get("pageInfo") or {},
            homes=_homes(viewer, people),
            roles=list(ROLE_WORDS.items()),
            role_words=ROLE_WORDS,
            kind_words=KIND_WORDS,
            invitation_words=INVITATION_WORDS,
            flash=DONE_WORDS.get(request.query_params.get("done") or ""),
        )

    async def person_page(
        request: Request,
        principal_id: str,
        problems: list[Problem] | None = None,
        status_code: int = 200,
        *,
        secret: dict[str, Any] | None = None,
    ) -> Response:
        result = await run(request, "admin/people_person", {"id": principal_id})
        if result.unauthenticated:
            return to_signin(request)
        viewer = await viewer_anyway(request, result)
        person = (result.data or {}).get("principal")
        return admin_page(
            request,
            "people_person.html",
            title=person["name"] if person else "Principal",
            area=AREA,
            viewer=viewer,
            problems=[*(problems or []), *result.failures()],
            status_code=status_code if problems else answer_status(result),
            is_admin=is_admin(viewer),
            person=person,
            secret=secret,
            roles=list(ROLE_WORDS.items()),
            role_words=ROLE_WORDS,
            kind_words=KIND_WORDS,
            invitation_words=INVITATION_WORDS,
            default_overlap=DEFAULT_OVERLAP_SECONDS,
            flash=DONE_WORDS.get(request.query_params.get("done") or ""),
        )

    @router.get("/console/people")
    async def people(request: Request) -> Response:
        return await list_page(request)

    @router.get("/console/people/{principal_id}")
    async def person(request: Request, principal_id: str) -> Response:
        return await person_page(request, principal_id)

    @router.post("/console/people")
    async def create(request: Request) -> Response:
        async def again(problems: list[Problem], code: int) -> Response:
            return await list_page(request, problems, code)

        try:
            form = await read_form(request)
            kind = form.get("kind") or ""
            if kind not in KIND_WORDS:
                raise BadUserInput("choose a person or an API client", reason="BAD_KIND")
            role = form.get("role") or ""
            if role and role not in ROLE_WORDS:
                raise BadUserInput("choose one of the roles offered", reason="BAD_ROLE")
            variables = {
                "input": {
                    "kind": kind,
                    "name": (form.get("name") or "").strip(),
                    "displayName": _text(form, "display_name"),
                    "email": _text(form, "email"),
                    "roles": [role] if role else [],
                    **_home(form.get("home")),
                }
            }
        except SharegraphError as error:
            return await again([problem_of(error)], HTTP_STATUS[error.code])
        result = await run(request, "admin/people_create", variables)
        if result.unauthenticated:
            return to_signin(request)
        if result.failures():
            return await again(result.failures(), answer_status(result))
        new_id = result.data["createPrincipal"]["principal"]["id"]  # type: ignore[index]
        return redirect(f"/console/people/{new_id}?done=created")

    @router.post("/console/people/invitations")
    async def invite(request: Request) -> Response:
        async def again(problems: list[Problem], code: int) -> Response:
            return await list_page(request, problems, code)

        try:
            form = await read_form(request)
            variables = {
                "input": {
                    "name": (form.get("name") or "").strip(),
                    "email": (form.get("email") or "").strip(),
                    "displayName": _text(form, "display_name"),
                    **_home(form.get("home")),
                }
            }
        except SharegraphError as error:
            return await again([problem_of(error)], HTTP_STATUS[error.code])
        result = await run(request, "admin/people_invite", variables)
        if result.unauthenticated:
            return to_signin(request)
        if result.failures():
            return await again(result.failures(), answer_status(result))
        answer = result.data["inviteUser"]  # type: ignore[index]
        done = "invited" if answer["sent"] else "invitation-not-sent"
        return redirect(f"/console/people/{answer['principal']['id']}?done={done}")

    @router.post("/console/people/{principal_id}/invitation")
    async def resend(request: Request, principal_id: str) -> Response:
        async def again(problems: list[Problem], code: int) -> Response:
            return await person_page(request, principal_id, problems, code)

        try:
            await read_form(request)
        except SharegraphError as error:
            return await again([problem_of(error)], HTTP_STATUS[error.code])
        result = await run(request, "admin/people_resend", {"principalId": principal_id})
        if result.unauthenticated:
            return to_signin(request)
        if result.failures():
            return await again(result.failures(), answer_status(result))
        sent = result.data["resendInvitation"]["sent"]  # type: ignore[index]
        done = "resent" if sent else "resend-failed"
        return redirect(f"/console/people/{principal_id}?done={done}")

    def _role_input(principal_id: str, form: dict[str, str]) -> dict[str, Any]:
        role = form.get("role") or ""
        if role not in ROLE_WORDS:
            raise BadUserInput("choose one of the roles offered", reason="BAD_ROLE")
        domain: dict[str, str] = {}
        if form.get("tenant_id"):
            domain["tenantId"] = form["tenant_id"]
        if form.get("partner_organization_id"):
            domain["partnerOrganizationId"] = form["partner_organization_id"]
        return {"input": {"principalId": principal_id, "role": role, **domain}}

    @router.post("/console/people/{principal_id}/roles")
    async def assign_role(request: Request, principal_id: str) -> Response:
        async def again(problems: list[Problem], code: int) -> Response:
            return await person_page(request, principal_id, problems, code)

        back = f"/console/people/{principal_id}?done=role-assigned"
        return await submit(
            request,
            "admin/people_assign_role",
            lambda form: _role_input(principal_id, form),
            back,
            again,
        )

    @router.post("/console/people/{principal_id}/roles/revoke")
    async def revoke_role(request: Request, principal_id: str) -> Response:
        async def again(problems: list[Problem], code: int) -> Response:
            return await person_page(request, principal_id, problems, code)

        back = f"/console/people/{principal_id}?done=role-revoked"
        return await submit(
            request,
            "admin/people_revoke_role",
            lambda form: _role_input(principal_id, form),
            back,
            again,
        )

    async def key_secret(
        request: Request,
        principal_id: str,
        document: str,
        build: Any,
        answer_field: str,
    ) -> Response:
        """Run a key-issuing mutation; answer with the person's page holding the secret."""

        async def again(problems: list[Problem], code: int) -> Response:
            return await person_page(request, principal_id, problems, code)

        try:
            form = await read_form(request)
            variables = build(form)
        except SharegraphError as error:
            return await again([problem_of(error)], HTTP_STATUS[error.code])
        except ValueError:
            bad = Problem("the overlap must be a whole number of seconds", "BAD_USER_INPUT")
            return await again([bad], 400)
        result = await run(request, document, variables)
        if result.unauthenticated:
            return to_signin(request)
        if result.failures():
            return await again(result.failures(), answer_status(result))
        answer = result.data[answer_field]  # type: ignore[index]
        return await person_page(request, principal_id, secret=answer)

    @router.post("/console/people/{principal_id}/keys")
    async def create_key(request: Request, principal_id: str) -> Response:
        def build(form: dict[str, str]) -> dict[str, Any]:
            return {
                "input": {
                    "principalId": principal_id,
                    "label": _text(form, "label"),
                    "expiresAt": utc_instant(form.get("expires_at"), "Expires"),
                }
            }

        return await key_secret(
            request, principal_id, "admin/people_key_create", build, "createApiKey"
        )

    @router.post("/console/people/{principal_id}/keys/{key_id}/rotate")
    async def rotate_key(request: Request, principal_id: str, key_id: str) -> Response:
        def build(form: dict[str, str]) -> dict[str, Any]:
            overlap = (form.get("overlap_seconds") or "").strip()
            return {
                "input": {
                    "id": key_id,
                    "overlapSeconds": int(overlap) if overlap else DEFAULT_OVERLAP_SECONDS,
                    "label": _text(form, "label"),
                }
            }

        return await key_secret(
            request, principal_id, "admin/people_key_rotate", build, "rotateApiKey"
        )

    @router.post("/console/people/{principal_id}/keys/{key_id}/revoke")
    async def revoke_key(request: Request, principal_id: str, key_id: str) -> Response:
        async def again(problems: list[Problem], code: int) -> Response:
            return await person_page(request, principal_id, problems, code)

        return await submit(
            request,
            "admin/people_key_revoke",
            lambda _form: {"input": {"id": key_id}},
            f"/console/people/{principal_id}?done=key-revoked",
            again,
        )

    return router
