"""The ASGI application: /graphql, /hsds/, /exports/, /healthz."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from sharegraph.authz.jwts import check_algorithms as check_jwt_algorithms
from sharegraph.authz.store import PolicyStore
from sharegraph.datastore.engine import Database
from sharegraph.datastore.migrate import ensure_migrated
from sharegraph.datastore.models import Instance
from sharegraph.datastore.relay import EventRelay
from sharegraph.demo import demo_principal_keys
from sharegraph.errors import HTTP_STATUS, BadUserInput, SharegraphError
from sharegraph.graph.live import LiveUpdates
from sharegraph.graph.relay import CursorCodec
from sharegraph.graph.responses import refusal_body
from sharegraph.graph.schema import build_schema
from sharegraph.graph.webhook_payloads import WebhookRenderer
from sharegraph.settings import Settings
from sharegraph.web import graphiql
from sharegraph.web.body_limit import BodyLimit
from sharegraph.web.callers import Authentication
from sharegraph.web.collector import CollectorSteward
from sharegraph.web.cors import Cors
from sharegraph.web.endpoint import GraphQLEndpoint
from sharegraph.web.export_download import export_router
from sharegraph.web.fairness import Fairness, FairnessMiddleware
from sharegraph.web.hsds_api import hsds_router
from sharegraph.web.http_errors import install as install_error_shapes
from sharegraph.web.imports import import_router
from sharegraph.webhooks import webhook_kinds
from sharegraph.worker import scheduler_for

log = logging.getLogger("sharegraph.app")


def _refusal(error: SharegraphError, status: int | None = None) -> JSONResponse:
    return JSONResponse(
        refusal_body(error),
        status_code=status or HTTP_STATUS[error.code],
        headers=error.http_headers(),
    )


def _demo_key(settings: Settings) -> str | None:
    keys = {p["name"]: p["apiKey"] for p in demo_principal_keys(settings.demo_secret)}
    return keys.get(graphiql.DEMO_PRINCIPAL)


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
            instance = (
                await session.execute(
                    select(Instance.secret, Instance.demo).where(Instance.id == 1)
                )
            ).first()
        if instance is None:
            raise RuntimeError("the instance row is missing; run `sharegraph db upgrade`")
        secret, demo = instance
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
        state["demo"] = bool(demo)
        state["secret"] = secret
        relay = EventRelay(db)
        live = LiveUpdates(schema, settings, db, policies, state["cursors"], relay)
        state["live"] = live
        # What survives from here on (thousands of WebSockets) is frozen as it ages too.
        collector = CollectorSteward(lambda ms: live.timings.add_value("gc", ms))
        kinds = webhook_kinds(settings, WebhookRenderer(live))
        scheduler = scheduler_for(db, settings, kinds) if settings.scheduler else None
        if scheduler is not None:
            await scheduler.start()
        _app.state.scheduler = scheduler
        _app.state.live = live
        collector.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()
            await live.stop()
            await collector.stop()
            await relay.stop()
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
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.limits.max_body_bytes,
        max_in_flight=settings.limits.max_requests_in_flight,
        io_timeout=settings.limits.client_io_timeout_seconds,
    )
    install_error_shapes(app)
    if settings.cors_origins:
        # Outside the error shield: refusals and failures carry the CORS headers too, so a
        # page can read why it was refused.
        app.add_middleware(Cors, origins=settings.cors_origins)
    auth = Authentication(settings, state)
    # What pages served by the same app (console/) run on: the started app's state, the one
    # authentication step and the schema.
    app.state.sharegraph = state
    app.state.auth = auth
    # First: most requests are POST /graphql, and each route before it is one more match tried.
    app.include_router(GraphQLEndpoint(schema, settings, state, auth))
    app.include_router(hsds_router(settings, state, auth), prefix="/hsds")
    app.include_router(export_router(settings, state, auth), prefix="/exports")
    app.include_router(import_router(settings, state, auth), prefix="/imports")

    @app.get("/healthz")
    async def healthz() -> Response:
        db: Database = state["db"]
        try:
            await db.ping()
        except Exception:  # the database did not answer
            log.exception("health check failed")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    if settings.graphiql:
        app.include_router(graphiql.asset_router())

    @app.get("/graphql")
    async def graphql_get(request: Request) -> Response:
        if settings.graphiql and graphiql.wants_graphiql(request):
            return graphiql.page(_demo_key(settings) if state.get("demo") else None)
        error = BadUserInput(
            "queries over GET are not accepted; POST JSON to /graphql", reason="METHOD_NOT_ALLOWED"
        )
        return _refusal(error, 405)

    return app
