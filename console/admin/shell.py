"""The console's frame: its areas, who may use it, and the page every area renders into."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from sharegraph.console.graph_client import Problem, Result, run
from sharegraph.console.render import page

# (path, words, what an admin does there): the navigation and the home page's cards.
AREAS = [
    ("/console/sharing", "Sharing", "Agreements with partners: grants, previews, reviews."),
    ("/console/access", "Who sees what", "A principal's permissions, and why it may read a field."),
    ("/console/people", "People and keys", "Principals, roles, API keys and invitations."),
    ("/console/audit", "Audit", "The trail, its verification, disclosures per partner."),
    (
        "/console/exchange",
        "Data exchange",
        "Imports, exports, e-mail templates, webhooks, replicas.",
    ),
    ("/console/network", "Network", "Shared forms, follow-ups, inventories, network statistics."),
    ("/console/queues", "Referral queues", "Queue lengths, waiting times and capacity, live."),
]


def is_admin(viewer: dict[str, Any] | None) -> bool:
    """Whether the page should offer admin work. Only a hint for the page: the API decides."""
    roles = (viewer or {}).get("roles") or []
    return any(grant.get("role") == "TENANT_ADMIN" for grant in roles)


async def who(request: Request) -> Result:
    """The signed-in person, with the roles the console's pages look at."""
    return await run(request, "admin/viewer")


def admin_page(
    request: Request,
    template: str,
    *,
    title: str,
    area: str,
    viewer: dict[str, Any] | None,
    problems: list[Problem] | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A console page (``pages/admin/<template>``) inside the console's navigation."""
    return page(
        request,
        f"admin/{template}",
        title=title,
        viewer=viewer,
        problems=problems,
        status_code=status_code,
        area=area,
        console_areas=[(href, words) for href, words, _what in AREAS],
        **context,
    )
