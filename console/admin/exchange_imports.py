"""``/console/exchange/imports``: upload a directory file, follow the import, read its report.

The upload is posted on to the API's own upload route (``POST /imports``) as the signed-in
admin; the jobs and their reports are read through ``importJobs`` / ``importJob``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from sharegraph.console.admin.exchange_pages import show
from sharegraph.console.answers import answer_status, problem_of, to_signin
from sharegraph.console.graph_client import Problem, upload
from sharegraph.console.render import redirect
from sharegraph.errors import HTTP_STATUS, SharegraphError
from sharegraph.web import csrf

SECTION = "/console/exchange/imports"
FORMATS = [
    ("auto", "Tell from the file"),
    ("airs-xml", "AIRS XML 3.0 (iCarol)"),
    ("hsds-json", "HSDS 3.0 JSON"),
    ("hsds-csv", "HSDS tabular (ZIP of CSV files)"),
    ("ohana-csv", "Ohana CSV (ZIP of CSV files)"),
]


def routes() -> APIRouter:
    router = APIRouter()

    async def listing(
        request: Request, problems: list[Problem] | None = None, status_code: int = 200
    ) -> Response:
        return await show(
            request,
            "exchange_imports",
            "exchange_imports.html",
            title="Imports",
            section=SECTION,
            problems=problems,
            status_code=status_code,
            formats=FORMATS,
        )

    @router.get(SECTION)
    async def imports(request: Request) -> Response:
        return await listing(request)

    @router.post(SECTION)
    async def start(request: Request) -> Response:
        try:
            form = await request.form(max_files=1, max_fields=8)
        except MultiPartException as error:
            return await listing(request, [Problem(error.message, "BAD_USER_INPUT")], 400)
        try:
            given = form.get(csrf.CSRF_FIELD)
            csrf.check(
                request.app.state.sharegraph["secret"],
                request,
                given if isinstance(given, str) else None,
            )
            chosen = form.get("file")
            if not isinstance(chosen, UploadFile) or not chosen.filename:
                missing = Problem("Choose a file to import.", "BAD_USER_INPUT", "NO_FILE")
                return await listing(request, [missing], 400)
            fields = {
                name: value
                for name in ("format", "source", "partial", "strict")
                if isinstance(value := form.get(name), str)
            }
            result = await upload(
                request,
                "/imports",
                fields,
                (chosen.filename, chosen.file, chosen.content_type or "application/octet-stream"),
            )
        except SharegraphError as error:
            return await listing(request, [problem_of(error)], HTTP_STATUS[error.code])
        finally:
            await form.close()
        if result.unauthenticated:
            return to_signin(request)
        if result.failures():
            return await listing(request, result.failures(), answer_status(result))
        job = ((result.data or {}).get("importJob") or {}).get("id")
        return redirect(f"{SECTION}/{job}?done=uploaded" if job else SECTION)

    @router.get(SECTION + "/{job_id}")
    async def report(request: Request, job_id: str) -> Response:
        return await show(
            request,
            "exchange_import",
            "exchange_import.html",
            title="Import report",
            section=SECTION,
            variables={"id": job_id},
            job_path=f"{SECTION}/{job_id}",
        )

    return router
