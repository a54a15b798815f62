"""``/console``: the areas an admin works in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sharegraph.console.admin.shell import AREAS, admin_page, is_admin, who
from sharegraph.console.answers import to_signin, viewer_of


def routes() -> APIRouter:
    router = APIRouter()

    @router.get("/console")
    async def home(request: Request) -> Response:
        result = await who(request)
        if result.unauthenticated:
            return to_signin(request)
        viewer = viewer_of(result)
        return admin_page(
            request,
            "home.html",
            title="Console",
            area="/console",
            viewer=viewer,
            problems=result.failures(),
            is_admin=is_admin(viewer),
            console_overview=AREAS,
        )

    return router
