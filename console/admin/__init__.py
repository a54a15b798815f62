"""The admin console (``/console``): tenant admins' pages, one module per area, each built only
on the public GraphQL schema like the portal."""

from __future__ import annotations

from fastapi import APIRouter

from sharegraph.console.admin import (
    access,
    audit,
    exchange,
    home,
    network,
    people,
    queues,
    sharing,
)


def admin_router() -> APIRouter:
    router = APIRouter()
    for area in (home, sharing, access, people, audit, exchange, network, queues):
        router.include_router(area.routes())
    return router
