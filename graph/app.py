"""The ASGI application: POST /graphql, GET /healthz."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select

from ..authz.authenticate import authenticate
from ..authz.jwts import check_algorithms as check_jwt_algorithms
from ..authz.store import PolicyStore
from ..datastore.audit import AuditCollector, flush
from ..datastore.engine import Database
from ..datastore.migrate import ensure_migrated
from ..datastore.models import Instance
from ..datastore.outage import raise_if_unavailable
from ..datastore.scheduler import scheduler_for
from ..errors import HTTP_STATUS, BadUserInput, ErrorCode, SharegraphError
from ..settings import Settings
from .body_limit import BodyLimit
from .context import RequestContext
from .export_download import export_router
from .fairness import Fairness, FairnessMiddleware
from .hsds_api import hsds_router
from .http_errors import install as install_error_shapes
from .json_depth import refuse_deep_json
from .relay import CursorCodec
from .responses import REDISCLOSURE_NOTICE, refusal_body, result_body
from .schema import build_schema

log = logging.getLogger("sharegraph.app")


def _refusal(error: SharegraphError, status: int | None = None) -> JSONResponse:
    return JSONResponse(
        refusal_body(error),
        status_code=status or HTTP_STATUS[error.code],
        headers=error.http_headers(),
    )


async def _parse_request(
    request: Request, max_depth: int
) -> tuple[str, dict[str, Any] | None, str | None]:
    if "application/json" not in request.headers.get("content-type", ""):
        raise BadUserInput(
            "send the operation as JSON (Content-Type: application/json)", reason="BAD_REQUEST"
        )
    body = await request.body()
    refuse_deep_json(body, max_depth)
    try:
        # Decoded first, so json.loads reads the UTF-8 text json_depth scanned (never UTF-16).
        payload = json.loads(body.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadUserInput(f"the body is not valid JSON: {exc}", reason="BAD_REQUEST") from exc
    if not isinstance(payload, dict):
        raise BadUserInput("the body must be a JSON object with `query`", reason="BAD_REQUEST")
    query = payload.get("query")
    variables = payload.get("variables")
    operation_name = payload.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise BadUserInput("`query` must be a non-empty string", reason="BAD_REQUEST")
    if variables is not None and not isinstance(variables, dict):
        raise BadUserInput("`variables` must be a JSON object", reason="BAD_REQUEST")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadUserInput("`operationName` must be a string", reason="BAD_REQUEST")
    return query, variables, operation_name


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """The app, on ``database`` or on one it opens from the settings."""
    check_jwt_algorithms(settings.jwt_algorithms)
    schema = build_schema(settings)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        db = database or Database(settings.database_url, echo=settings.echo_sql)
        await ensure_migrated(db)
        async with db.read_session() as session:
            secret = await session.scalar(select(Instance.secret).where(Instance.id == 1))
        if secret is None:
            raise RuntimeError("the instance row is missing; run `sharegraph db upgrade`")
        policies = PolicyStore(db)
        await policies.start()
        # Everything loaded so far (modules, schema, policy snapshot) lives as long as the
        # process: move it out of the collector's way, so full collections stop walking it on
        # every few requests (they froze the loop for ~100 ms each).
        gc.collect()
        gc.freeze()
        state["db"] = db
        state["policies"] = policies
        state["cursors"] = CursorCodec(secret)
        scheduler = scheduler_for(db, settings) if settings.scheduler else None
        if scheduler is not None:
            await scheduler.start()
        _app.state.scheduler = scheduler
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()
            await policies.stop()
            if database is None:
                await db.dispose()

    app = FastAPI(
        title="sharegraph", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.fairness = Fairness(settings)
    app.add_middleware(FairnessMiddleware)
    # Inside the error shield: an over-long body raises out of the app up to the limit, which
    # answers 413 itself; anything else unexpected reaches the shield. A SharegraphError a
    # route lets through (a rate limit, the database out of reach) gets the route family's
    # error shape from the shield's handlers.
    app.add_middleware(BodyLimit, max_bytes=settings.limits.max_body_bytes)
    install_error_shapes(app)
    app.include_router(hsds_router(settings, state), prefix="/hsds")
    app.include_router(export_router(settings, state), prefix="/exports")

    @app.get("/healthz")
    async def healthz() -> Response:
        db: Database = state["db"]
        try:
            await db.ping()
        except Exception:  # the database did not answer
            log.exception("health check failed")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/graphql")
    async def graphql_get() -> Response:
        if settings.graphiql:
            from strawberry.http.ides import get_graphql_ide_html

            return HTMLResponse(get_graphql_ide_html(graphql_ide="graphiql"))
        error = BadUserInput(
            "queries over GET are not accepted; POST JSON to /graphql", reason="METHOD_NOT_ALLOWED"
        )
        return _refusal(error, 405)

    @app.post("/graphql")
    async def graphql_post(request: Request) -> Response:
        db: Database = state["db"]
        policies: PolicyStore = state["policies"]
        try:
            query, variables, operation_name = await _parse_request(
                request, settings.limits.max_json_depth
            )
        except SharegraphError as error:
            return _refusal(error)
        purpose = request.headers.get("sharegraph-purpose") or None
        async with db.read_session() as auth_session:
            try:
                principal = await authenticate(
                    auth_session, request.headers.get("authorization"), settings
                )
            except SharegraphError as error:
                return _refusal(error)
        plan = policies.plan_for(principal)
        fairness: Fairness = request.app.state.fairness
        await fairness.admit_operation(
            request, principal, schema._schema, query, variables, operation_name
        )
        rls = plan.rls_scope()
        async with db.read_session(rls=rls) as session:
            context = RequestContext(
                settings=settings,
                database=db,
                session=session,
                principal=principal,
                plan=plan,
                cursors=state["cursors"],
                audit=AuditCollector(principal.id, plan.core.home, principal.tenant_id, purpose),
                policies=policies,
                rls=rls,
            )
            try:
                result = await asyncio.wait_for(
                    schema.execute(query, variables, context, operation_name=operation_name),
                    timeout=settings.limits.request_timeout_seconds,
                )
            except TimeoutError:
                timeout = SharegraphError(
                    f"the operation took longer than {settings.limits.request_timeout_seconds:g}s",
                    code=ErrorCode.TIMEOUT,
                )
                await flush(db, context.audit)  # what was read or refused before the cut
                return _refusal(timeout, 200)
        raise_if_unavailable(e.original_error for e in result.errors or ())
        body = result_body(result, denied=context.denied)
        for refusal in body.get("errors", []):
            if refusal.get("extensions", {}).get("code") == ErrorCode.FORBIDDEN.value:
                where = refusal["extensions"].get("coordinate") or refusal["extensions"].get(
                    "operation"
                )
                context.audit.denied(None, str(where or refusal["message"]), "FORBIDDEN")
        if context.part2_disclosed:
            body.setdefault("extensions", {})["redisclosureNotice"] = REDISCLOSURE_NOTICE
        # The audit trail is durable before the response leaves.
        await flush(db, context.audit)
        return JSONResponse(body)

    return app
