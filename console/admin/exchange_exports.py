"""``/console/exchange/exports`` and ``/console/exchange/templates``: exports started by hand,
export schedules with their runs, and the tenant's e-mail templates; all through the schema's
own reads and mutations (``exportJobs``, ``startExport``, ``exportSchedules``...)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sharegraph.console.admin.exchange_pages import show
from sharegraph.console.answers import submit, to_signin
from sharegraph.console.graph_client import Problem, run
from sharegraph.errors import BadUserInput

EXPORTS = "/console/exchange/exports"
TEMPLATES = "/console/exchange/templates"
WHAT = [("RESOURCES", "Resource directory"), ("CONTACT_RECORDS", "Contact records")]
FORMATS = [
    ("CSV", "CSV"),
    ("NDJSON", "NDJSON"),
    ("HSDS_JSON", "HSDS 3.0 JSON (resources)"),
    ("HSDS_CSV", "HSDS 3.0 tabular, zipped (resources)"),
    ("AIRS_XML", "AIRS XML 3.0 (resources)"),
    ("HSDS11_JSON", "HSDS 1.1 JSON (resources)"),
    ("HSDS11_CSV", "HSDS 1.1 tabular, zipped (resources)"),
]


def _words(value: str) -> list[str]:
    """A comma- or line-separated list, as typed."""
    return [w.strip() for w in value.replace("\n", ",").split(",") if w.strip()]


def _required(form: dict[str, str], name: str, words: str) -> str:
    value = (form.get(name) or "").strip()
    if not value:
        raise BadUserInput(f"{words} is required", reason="MISSING_FIELD")
    return value


def _schedule_input(schedule: dict[str, Any], active: bool) -> dict[str, Any]:
    """A stored schedule as ``ExportScheduleInput`` (directory destinations; an SFTP one keeps
    its stored secret because none is sent)."""
    destination = schedule["destination"]
    kind = destination["kind"]
    given = {"kind": kind}
    if kind == "DIRECTORY":
        given["path"] = destination.get("path")
    else:
        given.update(host=destination.get("host"), remoteDir=destination.get("remoteDir"))
    return {
        "name": schedule["name"],
        "what": schedule["what"],
        "format": schedule["format"],
        "cron": schedule["cron"],
        "runAsId": schedule["runAsId"],
        "destination": given,
        "purpose": schedule.get("purpose"),
        "maxAttempts": schedule["maxAttempts"],
        "feed": schedule.get("feed"),
        "filters": {"formIds": (schedule.get("filters") or {}).get("formIds") or None},
        "active": active,
    }


def routes() -> APIRouter:
    router = APIRouter()

    async def exports_page(
        request: Request, problems: list[Problem] | None = None, status_code: int = 200
    ) -> Response:
        return await show(
            request,
            "exchange_exports",
            "exchange_exports.html",
            title="Exports",
            section=EXPORTS,
            problems=problems,
            status_code=status_code,
            what_choices=WHAT,
            format_choices=FORMATS,
        )

    @router.get(EXPORTS)
    async def exports(request: Request) -> Response:
        return await exports_page(request)

    @router.post(EXPORTS)
    async def start_export(request: Request) -> Response:
        def build(form: dict[str, str]) -> dict[str, Any]:
            return {
                "input": {
                    "what": _required(form, "what", "what to export"),
                    "format": _required(form, "format", "the format"),
                    "purpose": (form.get("purpose") or "").strip() or None,
                }
            }

        return await submit(
            request,
            "admin/exchange_start_export",
            build,
            f"{EXPORTS}?done=export",
            lambda problems, status: exports_page(request, problems, status),
        )

    @router.post(EXPORTS + "/schedules")
    async def create_schedule(request: Request) -> Response:
        who = await run(request, "admin/exchange_viewer")
        if who.unauthenticated:
            return to_signin(request)

        def build(form: dict[str, str]) -> dict[str, Any]:
            viewer = (who.data or {}).get("viewer") or {}
            return {
                "input": {
                    "name": _required(form, "name", "a name"),
                    "what": _required(form, "what", "what to export"),
                    "format": _required(form, "format", "the format"),
                    "cron": _required(form, "cron", "when it runs (cron)"),
                    "runAsId": form.get("run_as") or viewer.get("id") or "",
                    "destination": {
                        "kind": "DIRECTORY",
                        "path": _required(form, "path", "the folder"),
                    },
                    "purpose": (form.get("purpose") or "").strip() or None,
                }
            }

        return await submit(
            request,
            "admin/exchange_create_schedule",
            build,
            f"{EXPORTS}?done=schedule",
            lambda problems, status: exports_page(request, problems, status),
        )

    @router.post(EXPORTS + "/schedules/{schedule_id}/run")
    async def run_now(request: Request, schedule_id: str) -> Response:
        return await submit(
            request,
            "admin/exchange_run_schedule",
            lambda _form: {"id": schedule_id},
            f"{EXPORTS}?done=run",
            lambda problems, status: exports_page(request, problems, status),
        )

    @router.post(EXPORTS + "/schedules/{schedule_id}/deactivate")
    async def deactivate_schedule(request: Request, schedule_id: str) -> Response:
        return await submit(
            request,
            "admin/exchange_deactivate_schedule",
            lambda form: {"id": schedule_id, "version": int(form["version"])},
            f"{EXPORTS}?done=deactivated",
            lambda problems, status: exports_page(request, problems, status),
        )

    @router.post(EXPORTS + "/schedules/{schedule_id}/activate")
    async def activate_schedule(request: Request, schedule_id: str) -> Response:
        current = await run(request, "admin/exchange_exports")
        if current.unauthenticated:
            return to_signin(request)
        schedules = (current.data or {}).get("exportSchedules") or []
        found = next((s for s in schedules if s["id"] == schedule_id), None)
        if found is None:
            return await exports_page(request, [Problem("no such schedule", "NOT_FOUND")], 404)
        return await submit(
            request,
            "admin/exchange_update_schedule",
            lambda form: {
                "id": schedule_id,
                "version": int(form["version"]),
                "input": _schedule_input(found, active=True),
            },
            f"{EXPORTS}?done=activated",
            lambda problems, status: exports_page(request, problems, status),
        )

    # -- e-mail templates -------------------------------------------------------------------

    async def templates_page(
        request: Request, problems: list[Problem] | None = None, status_code: int = 200
    ) -> Response:
        return await show(
            request,
            "exchange_templates",
            "exchange_templates.html",
            title="E-mail templates",
            section=TEMPLATES,
            problems=problems,
            status_code=status_code,
        )

    def template_input(form: dict[str, str], active: bool = True) -> dict[str, Any]:
        return {
            "name": _required(form, "name", "a name"),
            "subject": _required(form, "subject", "a subject"),
            "body": form.get("body") or "",
            "recipients": _words(form.get("recipients") or ""),
            "fields": _words(form.get("fields") or ""),
            "purpose": _required(form, "purpose", "a purpose"),
            "active": active,
        }

    @router.get(TEMPLATES)
    async def templates(request: Request) -> Response:
        return await templates_page(request)

    @router.post(TEMPLATES)
    async def create_template(request: Request) -> Response:
        return await submit(
            request,
            "admin/exchange_create_template",
            lambda form: {"input": template_input(form)},
            f"{TEMPLATES}?done=template",
            lambda problems, status: templates_page(request, problems, status),
        )

    @router.post(TEMPLATES + "/{template_id}")
    async def update_template(request: Request, template_id: str) -> Response:
        return await submit(
            request,
            "admin/exchange_update_template",
            lambda form: {
                "id": template_id,
                "version": int(form["version"]),
                "input": template_input(form, active=form.get("active") == "true"),
            },
            f"{TEMPLATES}?done=updated",
            lambda problems, status: templates_page(request, problems, status),
        )

    @router.post(TEMPLATES + "/{template_id}/deactivate")
    async def deactivate_template(request: Request, template_id: str) -> Response:
        return await submit(
            request,
            "admin/exchange_deactivate_template",
            lambda form: {"id": template_id, "version": int(form["version"])},
            f"{TEMPLATES}?done=deactivated",
            lambda problems, status: templates_page(request, problems, status),
        )

    return router
