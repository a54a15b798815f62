"""The app people and programs reach: the HTTP API (``web/``) plus the portal's pages, sign-in
and their static files (vendored, served from ``/static``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from sharegraph.console.admin import admin_router
from sharegraph.console.people import people_router
from sharegraph.console.portal import portal_router
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
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
