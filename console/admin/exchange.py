"""``/console/exchange``: data exchange. The overview (replication status and lag) lives here;
imports, exports with their schedules and e-mail templates, and webhooks each have a module
(``exchange_imports``, ``exchange_exports``, ``exchange_webhooks``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sharegraph.console.admin import exchange_exports, exchange_imports, exchange_webhooks
from sharegraph.console.admin.exchange_pages import show


def routes() -> APIRouter:
    router = APIRouter()

    @router.get("/console/exchange")
    async def overview(request: Request) -> Response:
        return await show(
            request,
            "exchange_home",
            "exchange_home.html",
            title="Data exchange",
            section="/console/exchange",
        )

    router.include_router(exchange_imports.routes())
    router.include_router(exchange_exports.routes())
    router.include_router(exchange_webhooks.routes())
    return router
