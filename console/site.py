"""The app people and programs reach: the HTTP API (``web/``) plus the portal's pages, sign-in
and their static files (vendored, served from ``/static``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from sharegraph.console.admin import admin_router
from sharegraph.console.graph_client import Problem
from sharegraph.console.people import people_router
from sharegraph.console.portal import portal_router
from sharegraph.console.render import page
from sharegraph.settings import Settings
from sharegraph.web.app import create_app as create_api
from sharegraph.web.signin import People

if TYPE_CHECKING:  # a type only: the pages never touch the database
    from sharegraph.datastore.engine import Database

STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """The API app with the pages mounted: ``/signin``, ``/portal``, ``/console``, ``/static``."""
    app = create_api(settings, database=database)
    app.include_router(people_router(People(settings, app.state.sharegraph)))
    app.include_router(portal_router())
    app.include_router(admin_router())
    app.include_router(_missing_pages())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _missing_pages() -> APIRouter:
    """A page address that leads nowhere is a page saying so (404), not the API's JSON."""
    router = APIRouter()

    @router.get("/portal/{rest:path}", include_in_schema=False)
    @router.get("/console/{rest:path}", include_in_schema=False)
    async def missing(request: Request, rest: str) -> Response:
        return page(
            request,
            "problem.html",
            title="Page not found",
            problems=[Problem("there is no page at this address", "NOT_FOUND")],
            status_code=404,
        )

    return router
