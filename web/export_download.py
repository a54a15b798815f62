"""``GET /exports/<job uuid>``: the file of a finished export job, for the principal who asked
for it (same ``Authorization`` header as ``/graphql``) and for no one else: any other caller,
an unknown, unfinished or expired job all get the same 404. The download is checked against
the caller's plan as it is now (``FORBIDDEN`` / ``EXPORT_DENIED`` if the right to export went
away), and recorded in the tenant's audit trail before the first byte leaves.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from sharegraph.authz.disclosure import REDISCLOSURE_NOTICE
from sharegraph.datastore import audit
from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.errors import HTTP_STATUS, NotFound, SharegraphError
from sharegraph.exporters.specs import MEDIA_TYPES, ExportSpec, require_allowed
from sharegraph.graph.responses import refusal_body
from sharegraph.queries import export_jobs as jobs
from sharegraph.settings import Settings
from sharegraph.web.callers import Authentication
from sharegraph.web.fairness import Fairness

DOWNLOAD = "export.download"
# 42 CFR 2.32: the notice travels with a file carrying Part 2 answers of another organization.
NOTICE_HEADER = "Sharegraph-Redisclosure-Notice"


def download_name(row: Any, spec: ExportSpec) -> str:
    return f"sharegraph-{spec.what.value}-{row.created_at:%Y%m%d-%H%M%S}.{spec.suffix}"


def export_router(settings: Settings, state: dict[str, Any], auth: Authentication) -> APIRouter:
    """The router; ``state`` is the app's (``db`` and ``policies`` once it has started)."""
    router = APIRouter()

    async def _file(request: Request, job_id: str) -> FileResponse:
        db: Database = state["db"]
        missing = NotFound("no such export file", reason="NO_EXPORT_FILE")
        caller = await auth.caller(request)
        principal = caller.principal
        async with db.read_session() as session:
            try:
                raw = uuid.UUID(job_id)
            except ValueError:
                raise missing from None
            row = await jobs.job_of(session, principal.id, raw)
        fairness: Fairness = request.app.state.fairness
        await fairness.admit(request, principal)  # held until the file has been sent
        now = utcnow()
        if (
            row is None
            or row.status != jobs.DONE
            or not row.file_path
            or (row.expires_at is not None and row.expires_at <= now)
            or not await asyncio.to_thread(Path(row.file_path).is_file)
        ):
            raise missing
        spec = ExportSpec.stored(row.what, row.format, row.filters)
        require_allowed(caller.plan, spec)
        async with db.write_session() as session:
            await audit.record(
                session,
                tenant_id=row.tenant_id,
                principal_id=principal.id,
                action=DOWNLOAD,
                purpose=request.headers.get("sharegraph-purpose") or spec.purpose,
                record_type="ExportJob",
                record_ids=[row.id],
                detail={
                    "what": row.what,
                    "format": row.format,
                    "rows": row.row_count,
                    "channel": "api",
                },
            )
        return FileResponse(
            row.file_path,
            media_type=MEDIA_TYPES[spec.format],
            filename=download_name(row, spec),
            headers={
                "Cache-Control": "no-store",
                **({NOTICE_HEADER: REDISCLOSURE_NOTICE} if row.redisclosure_notice else {}),
            },
        )

    @router.get("/{job_id}")
    async def download(request: Request, job_id: str) -> Response:
        try:
            return await _file(request, job_id)
        except SharegraphError as error:
            return JSONResponse(
                refusal_body(error),
                status_code=HTTP_STATUS[error.code],
                headers=error.http_headers(),
            )

    return router
