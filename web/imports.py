"""``POST /imports``: upload a resource directory file for import into your tenant (tenant
admins; same credentials as ``/graphql``, a session's CSRF token in ``X-CSRF-Token``).

The body is ``multipart/form-data`` with one ``file`` part (AIRS XML, HSDS JSON, or a ZIP of
a folder of CSV files: HSDS tabular or Ohana) and optional fields ``format`` (``auto``,
``hsds-json``, ``hsds-csv``, ``airs-xml``, ``ohana-csv``), ``source``, ``partial`` and
``strict`` (``true``/``false``), as ``sharegraph import`` takes them. The file is counted
while it streams in and refused past ``SHAREGRAPH_IMPORT_MAX_BYTES``
(``BAD_USER_INPUT`` / ``FILE_TOO_LARGE``); a file that is none of those types is refused
(``UNSUPPORTED_FILE_TYPE``), and nothing is kept. Otherwise the answer is ``202`` with the
queued job (``{"data": {"importJob": {"id", "uuid", "status"}}}``; a refusal is
``{"errors": [...]}`` as on /graphql): follow it with ``importJob(id)``.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from sharegraph.datastore import audit
from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.datastore.rls import RlsScope
from sharegraph.errors import HTTP_STATUS, BadUserInput, SharegraphError
from sharegraph.graph.relay import to_global_id
from sharegraph.graph.responses import refusal_body
from sharegraph.importers import FORMATS
from sharegraph.queries import import_jobs as jobs
from sharegraph.settings import Settings
from sharegraph.web.callers import Authentication
from sharegraph.web.fairness import Fairness

UPLOAD = "import.upload"
_SNIFF = 512
# What a file must start with (after a byte-order mark and white space), by what it is.
_KINDS = ((b"PK\x03\x04", "zip"), (b"<", "xml"), (b"{", "json"), (b"[", "json"))


class _TooLarge(Exception):
    pass


def sniff(head: bytes) -> str | None:
    """``zip``, ``xml`` or ``json`` from the file's first bytes; None for anything else."""
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return next((kind for magic, kind in _KINDS if head.startswith(magic)), None)


def _flag(value: Any, name: str) -> bool:
    if value in (None, "", "false", "0", "off"):
        return False
    if value in ("true", "1", "on"):
        return True
    raise BadUserInput(f"`{name}` is true or false", reason="BAD_REQUEST")


def _field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, str):
        return value.strip() if isinstance(value, str) else None
    raise BadUserInput(f"`{name}` is a text field, not a file", reason="BAD_REQUEST")


def import_router(settings: Settings, state: dict[str, Any], auth: Authentication) -> APIRouter:
    router = APIRouter()
    limit = settings.exchange.import_max_bytes
    folder = settings.exchange.import_dir.absolute()

    async def _counted(request: Request) -> AsyncGenerator[bytes, None]:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            # The parts' headers and boundaries take a little room besides the file.
            if received > limit + 16 * 1024:
                raise _TooLarge
            yield chunk

    async def _upload(request: Request) -> Response:
        caller = await auth.caller(request)
        principal = caller.principal
        tenant_id = jobs.admin_tenant(principal)
        fairness: Fairness = request.app.state.fairness
        await fairness.admit(request, principal)  # one of the principal's concurrent requests
        if not (request.headers.get("content-type") or "").startswith("multipart/form-data"):
            raise BadUserInput(
                "send the file as multipart/form-data with a `file` part", reason="BAD_REQUEST"
            )
        parser = MultiPartParser(
            request.headers, _counted(request), max_files=1, max_fields=8, max_part_size=1024
        )
        too_large = BadUserInput(
            f"the file is larger than {limit:,} bytes", reason="FILE_TOO_LARGE", limit=limit
        )
        try:
            form = await parser.parse()
        except _TooLarge:
            raise too_large from None
        except MultiPartException as error:
            raise BadUserInput(
                f"the upload is malformed: {error.message}", reason="BAD_REQUEST"
            ) from None
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise BadUserInput("choose a file to import (a `file` part)", reason="NO_FILE")
            size = upload.size or 0
            if size > limit:
                raise too_large
            if size == 0:
                raise BadUserInput("the file is empty", reason="EMPTY_FILE")
            fmt = _field(form, "format") or "auto"
            if fmt not in FORMATS:
                raise BadUserInput(
                    f"unknown format {fmt!r}: one of {', '.join(FORMATS)}", reason="BAD_FORMAT"
                )
            source = _field(form, "source") or None
            if source is not None and len(source) > 255:
                raise BadUserInput("`source` is at most 255 characters", reason="BAD_REQUEST")
            partial = _flag(_field(form, "partial"), "partial")
            strict = _flag(_field(form, "strict"), "strict")
            await upload.seek(0)
            kind = sniff(await upload.read(_SNIFF))
            if kind is None:
                raise BadUserInput(
                    "this is not a file the importers read: upload AIRS XML, HSDS JSON, or a "
                    "ZIP of a folder of CSV files (HSDS tabular or Ohana)",
                    reason="UNSUPPORTED_FILE_TYPE",
                )
            await upload.seek(0)
            job_id = uuid.uuid4()
            path = folder / f"{job_id}.{kind}"
            await asyncio.to_thread(_save, upload.file, path)
        finally:
            await form.close()
        name = Path(upload.filename).name[:255]
        db: Database = state["db"]
        try:
            scope = RlsScope(frozenset({tenant_id}), frozenset({tenant_id}))
            async with db.write_session(scope) as session:
                await jobs.create(
                    session,
                    job_id=job_id,
                    tenant_id=tenant_id,
                    requested_by=principal.id,
                    format=fmt,
                    source=source,
                    partial=partial,
                    strict=strict,
                    file_name=name,
                    file_path=str(path),
                    size_bytes=size,
                    now=utcnow(),
                )
                await audit.record(
                    session,
                    tenant_id=tenant_id,
                    principal_id=principal.id,
                    action=UPLOAD,
                    record_type="ImportJob",
                    record_ids=[job_id],
                    detail={"file": name, "bytes": size, "format": fmt, "partial": partial},
                    purpose=caller.purpose,
                )
        except BaseException:
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise
        scheduler = getattr(request.app.state, "scheduler", None)
        if scheduler is not None:
            scheduler.wake()
        return JSONResponse(
            {
                "data": {
                    "importJob": {
                        "id": to_global_id("ImportJob", job_id),
                        "uuid": str(job_id),
                        "status": "PENDING",
                    }
                }
            },
            status_code=202,
        )

    @router.post("")
    async def upload(request: Request) -> Response:
        try:
            return await _upload(request)
        except SharegraphError as error:
            headers = dict(error.http_headers())
            if error.reason == "FILE_TOO_LARGE":  # the rest of the body is never read
                headers["connection"] = "close"
            return JSONResponse(
                refusal_body(error), status_code=HTTP_STATUS[error.code], headers=headers
            )

    return router


def _save(source: BinaryIO, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as target:
        shutil.copyfileobj(source, target)
