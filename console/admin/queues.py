"""``/console/queues``: the live referral-queue dashboard. Per queue: entries per status,
waiting times, capacity by program, and two charts (queue length and capacity over time) drawn
as server-side SVG with a table of the same numbers. The figures refresh every few seconds by
htmx polling a fragment (``/console/queues/live``).

Everything comes from the public GraphQL schema (``ReferralQueue.dashboard``,
``.lengthOverTime`` and ``.capacityOverTime``, bounded and batched) as the signed-in admin.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sharegraph.console.admin.network import refused
from sharegraph.console.admin.queues_charts import Series, line_chart
from sharegraph.console.admin.shell import admin_page, is_admin, who
from sharegraph.console.answers import answer_status, distinct, to_signin, viewer_of
from sharegraph.console.graph_client import Problem, Result, run
from sharegraph.console.render import page

AREA = "/console/queues"
DEFAULT_DAYS = 14
DEFAULT_BUCKETS = 28
REFRESH_SECONDS = 5


def waited(seconds: int | None) -> str:
    """A waiting time as people say it."""
    if seconds is None:
        return "nobody waiting"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _queue_view(queue: dict[str, Any], index: int) -> dict[str, Any]:
    """What the page shows of one queue: its figures, both charts and their tables."""
    dashboard = queue.get("dashboard") or {}
    points = queue.get("lengthOverTime") or []
    moments = [datetime.fromisoformat(p["at"]) for p in points]
    length = [Series("Waiting", [int(p["waiting"]) for p in points])]
    capacity: list[Series] = []
    for program in queue.get("capacityOverTime") or []:
        name = (program.get("program") or {}).get("name") or "A program"
        figures = program.get("points") or []
        for figure, words in (("available", "available"), ("maximum", "maximum")):
            capacity.append(Series(f"{name}: {words}", [p.get(figure) for p in figures]))
    name = queue.get("name") or "Queue"
    span = f"from {moments[0]:%d %b %H:%M} to {moments[-1]:%d %b %H:%M} UTC" if moments else ""
    waiting_now = length[0].values[-1] if points else 0
    peak = max((v for v in length[0].values if v is not None), default=0)
    length_chart = line_chart(
        f"length-{index}",
        f"{name}: queue length over time",
        f"Entries waiting {span}, at {len(moments)} moments: {waiting_now} at the end, "
        f"at most {peak}. The table below holds every value.",
        moments,
        length,
    )
    capacity_chart = line_chart(
        f"capacity-{index}",
        f"{name}: capacity over time",
        f"Available and maximum places of each program serving the queue {span}, as last "
        "reported at each moment. The table below holds every value.",
        moments,
        capacity,
    )
    return {
        "queue": queue,
        "dashboard": dashboard,
        "median": waited(dashboard.get("waitingMedianSeconds")),
        "oldest": waited(dashboard.get("waitingOldestSeconds")),
        "moments": moments,
        "length": length,
        "capacity": capacity,
        "length_chart": length_chart,
        "capacity_chart": capacity_chart,
    }


def _window(request: Request) -> tuple[dict[str, Any], list[Problem]]:
    """The time axis asked for (``?days=`` and ``?buckets=``); the API checks the bounds."""
    problems: list[Problem] = []
    try:
        days = int(request.query_params.get("days") or DEFAULT_DAYS)
        buckets = int(request.query_params.get("buckets") or DEFAULT_BUCKETS)
    except ValueError:
        problems.append(
            Problem("days and buckets must be whole numbers", "BAD_USER_INPUT", "BAD_NUMBER")
        )
        days, buckets = DEFAULT_DAYS, DEFAULT_BUCKETS
    if days < 1:
        problems.append(Problem("days must be at least 1", "BAD_USER_INPUT", "BAD_RANGE"))
        days = DEFAULT_DAYS
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        start = end - timedelta(days=days)
    except OverflowError:  # before the calendar's first day: far beyond what the API allows
        problems.append(
            Problem("days is far too large for the charts", "BAD_USER_INPUT", "RANGE_TOO_LONG")
        )
        days = DEFAULT_DAYS
        start = end - timedelta(days=days)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "buckets": buckets,
        "days": days,
    }, problems


async def _read(request: Request) -> tuple[Result, dict[str, Any], list[Problem]]:
    window, problems = _window(request)
    variables = {k: window[k] for k in ("from", "to", "buckets")}
    result = await run(request, "admin/queues_dashboard", variables)
    return result, window, problems


def _context(result: Result, window: dict[str, Any]) -> dict[str, Any]:
    edges = ((result.data or {}).get("referralQueues") or {}).get("edges") or []
    return {
        "queues": [_queue_view(e["node"], i) for i, e in enumerate(edges, start=1)],
        "days": window["days"],
        "buckets": window["buckets"],
        "refreshed": datetime.now(UTC).strftime("%H:%M:%S UTC"),
        "refresh_seconds": REFRESH_SECONDS,
    }


def routes() -> APIRouter:
    router = APIRouter()

    @router.get(AREA)
    async def dashboard(request: Request) -> Response:
        signed = await who(request)
        if signed.unauthenticated:
            return to_signin(request)
        viewer = viewer_of(signed)
        if not is_admin(viewer):
            return refused(request, viewer, "queues_dashboard.html", AREA, "Referral queues")
        result, window, problems = await _read(request)
        failures = distinct(problems + result.failures())
        status = 400 if problems else answer_status(result)
        return admin_page(
            request,
            "queues_dashboard.html",
            title="Referral queues",
            area=AREA,
            viewer=viewer,
            problems=failures,
            status_code=status,
            is_admin=is_admin(viewer),
            **_context(result, window),
        )

    @router.get(AREA + "/live")
    async def live(request: Request) -> Response:
        """The dashboard's figures alone, for htmx to swap in."""
        signed = await who(request)
        if signed.unauthenticated and request.headers.get("hx-request"):
            # A poll after the session ended: the whole page goes to sign-in, not the fragment.
            return Response(status_code=204, headers={"HX-Redirect": "/signin?next=" + AREA})
        if signed.unauthenticated:
            return to_signin(request)
        if not is_admin(viewer_of(signed)):
            return refused(request, viewer_of(signed), "queues_dashboard.html", AREA, "Queues")
        result, window, problems = await _read(request)
        return page(
            request,
            "admin/queues_live.html",
            title="Referral queues",
            problems=distinct(problems + result.failures()),
            fragment=True,
            status_code=400 if problems else answer_status(result),
            is_admin=is_admin(viewer_of(result)),
            **_context(result, window),
        )

    return router
