"""``/console/exchange/webhooks``: endpoints (the signing secret shown once, on create and on
rotate), their delivery log with every attempt, replays of one delivery or a time range, and
test sends; through ``webhookEndpoints``, ``webhookDeliveries`` and their mutations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sharegraph.console.admin.exchange_pages import show
from sharegraph.console.answers import answer_status, problem_of, submit, to_signin
from sharegraph.console.forms import read_form
from sharegraph.console.graph_client import Problem, run
from sharegraph.console.render import redirect
from sharegraph.errors import HTTP_STATUS, BadUserInput, SharegraphError

WEBHOOKS = "/console/exchange/webhooks"
EVENT_TYPES = [
    "contact_record.created",
    "contact_record.updated",
    "referral.*",
    "follow_up.*",
    "queue_entry.*",
    "capacity.*",
    "directory.*",
    "outcome.created",
]
STATUSES = ["PENDING", "DELIVERED", "DEAD"]


def _event_types(value: str) -> list[str]:
    types = [w.strip() for w in value.replace("\n", ",").split(",") if w.strip()]
    if not types:
        raise BadUserInput("name at least one event type", reason="MISSING_FIELD")
    return types


def _instant(value: str | None, words: str) -> str | None:
    """A ``datetime-local`` value (taken as UTC) as the API's DateTime."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadUserInput(f"{words} is not a date and time", reason="BAD_DATE") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _endpoint_input(endpoint: dict[str, Any], enabled: bool) -> dict[str, Any]:
    return {
        "url": endpoint["url"],
        "description": endpoint.get("description"),
        "eventTypes": endpoint["eventTypes"],
        "payloadMode": endpoint["payloadMode"],
        "receivingPrincipalId": endpoint["receivingPrincipalId"],
        "filter": endpoint.get("filter"),
        "enabled": enabled,
    }


def routes() -> APIRouter:
    router = APIRouter()

    async def listing(
        request: Request,
        problems: list[Problem] | None = None,
        status_code: int = 200,
        **shown: Any,
    ) -> Response:
        return await show(
            request,
            "exchange_webhooks",
            "exchange_webhooks.html",
            title="Webhooks",
            section=WEBHOOKS,
            problems=problems,
            status_code=status_code,
            event_types=EVENT_TYPES,
            **shown,
        )

    async def deliveries_page(
        request: Request,
        endpoint_id: str,
        problems: list[Problem] | None = None,
        status_code: int = 200,
    ) -> Response:
        status = request.query_params.get("status")
        return await show(
            request,
            "exchange_deliveries",
            "exchange_deliveries.html",
            title="Webhook deliveries",
            section=WEBHOOKS,
            variables={"id": endpoint_id, "status": status if status in STATUSES else None},
            problems=problems,
            status_code=status_code,
            endpoint_id=endpoint_id,
            statuses=STATUSES,
            status=status,
        )

    async def with_secret(request: Request, document: str, build: Any, key: str) -> Response:
        """Run a mutation that answers with the signing secret; show it on this page, once
        (never in a URL or a redirect)."""
        try:
            form = await read_form(request)
            variables = build(form)
        except SharegraphError as error:
            return await listing(request, [problem_of(error)], HTTP_STATUS[error.code])
        result = await run(request, document, variables)
        if result.unauthenticated:
            return to_signin(request)
        if result.failures():
            return await listing(request, result.failures(), answer_status(result))
        payload = (result.data or {}).get(key) or {}
        return await listing(
            request,
            secret=payload.get("signingSecret"),
            secret_for=(payload.get("webhookEndpoint") or {}).get("url"),
        )

    @router.get(WEBHOOKS)
    async def endpoints(request: Request) -> Response:
        return await listing(request)

    @router.post(WEBHOOKS)
    async def create(request: Request) -> Response:
        who = await run(request, "admin/exchange_viewer")
        if who.unauthenticated:
            return to_signin(request)
        viewer = (who.data or {}).get("viewer") or {}

        def build(form: dict[str, str]) -> dict[str, Any]:
            url = (form.get("url") or "").strip()
            if not url:
                raise BadUserInput("the endpoint's URL is required", reason="MISSING_FIELD")
            return {
                "input": {
                    "url": url,
                    "description": (form.get("description") or "").strip() or None,
                    "eventTypes": _event_types(form.get("event_types") or ""),
                    "payloadMode": "THIN" if form.get("payload_mode") == "THIN" else "FULL",
                    "receivingPrincipalId": viewer.get("id") or "",
                }
            }

        return await with_secret(
            request, "admin/exchange_create_webhook", build, "createWebhookEndpoint"
        )

    @router.post(WEBHOOKS + "/{endpoint_id}/rotate")
    async def rotate(request: Request, endpoint_id: str) -> Response:
        return await with_secret(
            request,
            "admin/exchange_rotate_webhook",
            lambda _form: {"id": endpoint_id},
            "rotateWebhookSecret",
        )

    @router.post(WEBHOOKS + "/{endpoint_id}/delete")
    async def delete(request: Request, endpoint_id: str) -> Response:
        return await submit(
            request,
            "admin/exchange_delete_webhook",
            lambda _form: {"id": endpoint_id},
            f"{WEBHOOKS}?done=deleted",
            lambda problems, status: listing(request, problems, status),
        )

    @router.post(WEBHOOKS + "/{endpoint_id}/enabled")
    async def enable(request: Request, endpoint_id: str) -> Response:
        current = await run(request, "admin/exchange_webhooks")
        if current.unauthenticated:
            return to_signin(request)
        found = next(
            (
                e
                for e in (current.data or {}).get("webhookEndpoints") or []
                if e["id"] == endpoint_id
            ),
            None,
        )
        if found is None:
            return await listing(request, [Problem("no such endpoint", "NOT_FOUND")], 404)
        return await submit(
            request,
            "admin/exchange_update_webhook",
            lambda form: {
                "id": endpoint_id,
                "version": int(form["version"]),
                "input": _endpoint_input(found, enabled=form.get("enabled") == "true"),
            },
            f"{WEBHOOKS}?done=updated",
            lambda problems, status: listing(request, problems, status),
        )

    @router.get(WEBHOOKS + "/{endpoint_id}")
    async def deliveries(request: Request, endpoint_id: str) -> Response:
        return await deliveries_page(request, endpoint_id)

    @router.post(WEBHOOKS + "/{endpoint_id}/replay")
    async def replay(request: Request, endpoint_id: str) -> Response:
        async def again(problems: list[Problem], status_code: int) -> Response:
            return await deliveries_page(request, endpoint_id, problems, status_code)

        try:
            form = await read_form(request)
            variables: dict[str, Any] = {"endpointId": endpoint_id}
            if form.get("delivery_id"):
                variables["deliveryIds"] = [form["delivery_id"]]
            else:
                start = _instant(form.get("from"), "the start")
                end = _instant(form.get("to"), "the end")
                if start is None or end is None:
                    raise BadUserInput(
                        "give both ends of the time range to replay", reason="MISSING_FIELD"
                    )
                variables.update({"from": start, "to": end})
        except SharegraphError as error:
            return await again([problem_of(error)], HTTP_STATUS[error.code])
        result = await run(request, "admin/exchange_replay", variables)
        if result.unauthenticated:
            return to_signin(request)
        if result.failures():
            return await again(result.failures(), answer_status(result))
        count = ((result.data or {}).get("replayWebhookDeliveries") or {}).get("count", 0)
        return redirect(f"{WEBHOOKS}/{endpoint_id}?done=replayed&count={int(count)}")

    @router.post(WEBHOOKS + "/{endpoint_id}/test")
    async def test_send(request: Request, endpoint_id: str) -> Response:
        async def again(problems: list[Problem], status_code: int) -> Response:
            return await deliveries_page(request, endpoint_id, problems, status_code)

        return await submit(
            request,
            "admin/exchange_test_webhook",
            lambda _form: {"endpointId": endpoint_id},
            f"{WEBHOOKS}/{endpoint_id}?done=test",
            again,
        )

    return router
