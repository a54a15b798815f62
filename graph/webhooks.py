"""The webhook admin API: endpoints, their deliveries, replay and test sends.

Tenant admins manage their tenant's endpoints (for the tenant's own systems or a partner's);
a partner user whose role has the ``subscribe`` action manages its own organization's endpoints,
received as a principal of that organization. What a payload carries is decided by the
*receiving principal's* plan at each event (``graph/webhook_payloads.py``); registration checks
the URL (SSRF guard), the event types and that the receiver may read every filtered field.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, Any

import strawberry
from sqlalchemy import delete, select, update

from sharegraph.authz.authenticate import load_principal
from sharegraph.authz.disclosure import Disclosure
from sharegraph.authz.plan import Action
from sharegraph.authz.principal import Principal
from sharegraph.datastore import audit
from sharegraph.datastore import models as m
from sharegraph.datastore.base import utcnow
from sharegraph.datastore.secrets import SecretBox
from sharegraph.errors import BadUserInput, Forbidden, NotFound
from sharegraph.graph.context import Info
from sharegraph.graph.relay import from_global_id, to_global_id
from sharegraph.graph.webhook_filters import check_filters, record_types
from sharegraph.graph.writes import transaction
from sharegraph.webhooks import endpoints
from sharegraph.webhooks.delivery import webhook_id
from sharegraph.webhooks.events import TEST_EVENT, checked_event_types
from sharegraph.webhooks.ssrf import check_url

MAX_DELIVERIES = 200


@strawberry.enum(description="What each message carries.")
class WebhookPayloadMode(Enum):
    FULL = strawberry.enum_value(
        "full",
        description="The record as the receiving principal's plan allows (the fields a query "
        "would return; denied fields are left out and named in `deniedFields`).",
    )
    THIN = strawberry.enum_value(
        "thin",
        description="Ids, type and version only; fetch the record through the API.",
    )


@strawberry.enum(description="Where a message stands.")
class WebhookDeliveryStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Not delivered yet; retried.")
    DELIVERED = strawberry.enum_value("delivered", description="The receiver answered 2xx.")
    DEAD = strawberry.enum_value(
        "dead", description="Given up (retries exhausted or 410 Gone); replay to send again."
    )


@strawberry.input(description="Send only events whose record matches every list given.")
class WebhookFilterInput:
    form_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Contact records on these forms (ContactForm ids)."
    )
    program_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Referrals and capacities of these programs (Program ids)."
    )
    queue_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Queue entries of these queues (ReferralQueue ids)."
    )
    statuses: list[str] | None = strawberry.field(
        default=None,
        description="Referrals, follow-ups and capacities in these statuses (lowercase "
        "values, e.g. `accepted`).",
    )
    risk_levels: list[str] | None = strawberry.field(
        default=None,
        description="Contact records with these risk levels (`none`, `low`, `moderate`, "
        "`high`, `imminent`).",
    )


@strawberry.type(description="An endpoint's filter, as stored.")
class WebhookFilter:
    form_ids: list[strawberry.ID] | None = strawberry.field(description="ContactForm ids.")
    program_ids: list[strawberry.ID] | None = strawberry.field(description="Program ids.")
    queue_ids: list[strawberry.ID] | None = strawberry.field(description="ReferralQueue ids.")
    statuses: list[str] | None = strawberry.field(description="Statuses.")
    risk_levels: list[str] | None = strawberry.field(description="Risk levels.")


ID_FILTERS = {"formIds": "ContactForm", "programIds": "Program", "queueIds": "ReferralQueue"}


@strawberry.input(description="An endpoint's settings.")
class WebhookEndpointInput:
    url: str = strawberry.field(
        description="An http(s) URL on a public address (checked now and on every send)."
    )
    event_types: list[str] = strawberry.field(
        description="Events to send: `contact_record.created`, `contact_record.updated`, "
        "`referral.*`, `follow_up.*`, `queue_entry.*`, `capacity.*`, `directory.*` (or one "
        "change of them: `.created`, `.updated`, `.deleted`), `outcome.created`."
    )
    receiving_principal_id: strawberry.ID = strawberry.field(
        description="The principal whose access plan decides what each message carries."
    )
    payload_mode: WebhookPayloadMode = strawberry.field(
        default=WebhookPayloadMode.FULL, description="FULL or THIN payloads."
    )
    filter: WebhookFilterInput | None = strawberry.field(
        default=None,
        description="Send only matching records; the receiver must be able to "
        "read every filtered field.",
    )
    enabled: bool = strawberry.field(default=True, description="Send (true) or hold (false).")
    description: str | None = strawberry.field(default=None, description="A note for admins.")


@strawberry.type(description="A webhook endpoint (its signing secret is never shown again).")
class WebhookEndpoint:
    id: strawberry.ID = strawberry.field(description="The endpoint's global id.")
    url: str = strawberry.field(description="Where messages are POSTed.")
    description: str | None = strawberry.field(description="The admins' note.")
    event_types: list[str] = strawberry.field(description="The events it receives.")
    filter: WebhookFilter = strawberry.field(description="The records it receives.")
    payload_mode: WebhookPayloadMode = strawberry.field(description="FULL or THIN.")
    receiving_principal_id: strawberry.ID = strawberry.field(
        description="Whose plan decides what it receives."
    )
    partner_organization_id: strawberry.ID | None = strawberry.field(
        description="The partner organization owning it (null: the tenant)."
    )
    enabled: bool = strawberry.field(description="Whether messages are sent.")
    disabled_reason: str | None = strawberry.field(
        description="Why it was disabled by the system (e.g. the receiver answered 410)."
    )
    previous_secret_until: datetime | None = strawberry.field(
        description="Until when the previous secret still signs (after a rotation)."
    )
    circuit_open_until: datetime | None = strawberry.field(
        description="Sends paused after consecutive failures, until this time."
    )
    version: int = strawberry.field(description="Send it back with `updateWebhookEndpoint`.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def of(cls, row: Any) -> WebhookEndpoint:
        stored = row.filters or {}

        def ids(key: str) -> list[strawberry.ID] | None:
            values = stored.get(key)
            if values is None:
                return None
            return [strawberry.ID(to_global_id(ID_FILTERS[key], uuid.UUID(v))) for v in values]

        return cls(
            id=strawberry.ID(to_global_id("WebhookEndpoint", row.id)),
            url=row.url,
            description=row.description,
            event_types=list(row.event_types),
            filter=WebhookFilter(
                form_ids=ids("formIds"),
                program_ids=ids("programIds"),
                queue_ids=ids("queueIds"),
                statuses=stored.get("statuses"),
                risk_levels=stored.get("riskLevels"),
            ),
            payload_mode=WebhookPayloadMode(row.payload_mode),
            receiving_principal_id=strawberry.ID(to_global_id("Principal", row.principal_id)),
            partner_organization_id=strawberry.ID(
                to_global_id("PartnerOrganization", row.partner_organization_id)
            )
            if row.partner_organization_id
            else None,
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            previous_secret_until=row.previous_secret_until,
            circuit_open_until=row.circuit_open_until,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="One HTTP request of a delivery.")
class WebhookAttempt:
    attempted_at: datetime = strawberry.field(description="When it was sent.")
    status_code: int | None = strawberry.field(
        description="The receiver's HTTP status (null: no answer)."
    )
    error: str | None = strawberry.field(description="Why there was no answer (timeout, ...).")
    latency_ms: int = strawberry.field(description="Milliseconds until the answer or error.")
    response_body: str | None = strawberry.field(
        description="The start of the receiver's answer (at most 1000 bytes)."
    )


@strawberry.type(description="One message to one endpoint, with its attempts.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="The delivery's global id.")
    webhook_id: str = strawberry.field(
        description="The `webhook-id` header, the same on every attempt (dedupe on it)."
    )
    event_type: str = strawberry.field(description="E.g. `contact_record.created`.")
    record_type: str | None = strawberry.field(description="The record's type.")
    record_id: strawberry.ID | None = strawberry.field(description="The record's global id.")
    record_version: int | None = strawberry.field(description="The record's version.")
    status: WebhookDeliveryStatus = strawberry.field(description="Where it stands.")
    attempt_count: int = strawberry.field(description="Attempts made.")
    next_attempt_at: datetime | None = strawberry.field(description="The next try (pending).")
    created_at: datetime = strawberry.field(description="When the event was queued for it.")
    delivered_at: datetime | None = strawberry.field(description="When a 2xx came back.")
    last_status_code: int | None = strawberry.field(description="The last HTTP status.")
    last_error: str | None = strawberry.field(description="The last error.")
    attempts: list[WebhookAttempt] = strawberry.field(description="Every attempt, oldest first.")


@strawberry.type(description="An endpoint and, when just created or rotated, its secret.")
class WebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")
    signing_secret: str | None = strawberry.field(
        description="`whsec_...`: shown only now (create and rotate); verify signatures with "
        "a Standard Webhooks library."
    )


@strawberry.type(description="What a replay queued again.")
class WebhookReplayPayload:
    count: int = strawberry.field(description="Deliveries queued to be sent again.")


@strawberry.type(description="A deleted endpoint.")
class DeleteWebhookEndpointPayload:
    deleted_id: strawberry.ID = strawberry.field(description="The id it had.")


# -- who may manage what ------------------------------------------------------------------------


async def _owner(info: Info) -> tuple[uuid.UUID, uuid.UUID | None]:
    """(tenant, partner organization) whose endpoints the caller manages."""
    ctx = info.context
    actor = ctx.principal
    if actor.tenant_id is not None and actor.administers(actor.tenant_id):
        return actor.tenant_id, None
    partner = actor.partner_organization_id
    if partner is not None and ctx.plan.core.operations.get(Action.SUBSCRIBE.value):
        async with ctx.db() as session:
            organization = await session.scalar(
                select(m.PartnerOrganization.tenant_id).where(m.PartnerOrganization.id == partner)
            )
            tenant = organization or await session.scalar(
                select(m.Organization.tenant_id)
                .where(m.Organization.partner_organization_id == partner)
                .order_by(m.Organization.tenant_id)
                .limit(1)
            )
        if tenant is None:
            raise Forbidden("your organization is in no tenant's directory", reason="NO_TENANT")
        return tenant, partner
    raise Forbidden(
        "only tenant admins, and partner users whose role may subscribe, manage webhooks",
        reason="NOT_ALLOWED",
    )


def _mine(tenant: uuid.UUID, partner: uuid.UUID | None) -> Any:
    clause = m.WebhookEndpoint.tenant_id == tenant
    if partner is not None:
        clause = clause & (m.WebhookEndpoint.partner_organization_id == partner)
    return clause


async def _endpoint(info: Info, value: strawberry.ID) -> Any:
    tenant, partner = await _owner(info)
    endpoint_id = from_global_id(value, expected="WebhookEndpoint")[1]
    async with info.context.database.read_session() as session:
        row = await session.scalar(
            select(m.WebhookEndpoint).where(
                m.WebhookEndpoint.id == endpoint_id, _mine(tenant, partner)
            )
        )
    if row is None:
        raise NotFound("no such webhook endpoint")
    return row


async def _values(
    info: Info, given: WebhookEndpointInput, tenant: uuid.UUID, partner: uuid.UUID | None
) -> endpoints.EndpointValues:
    ctx = info.context
    url = await check_url(given.url, allow_private=ctx.settings.webhooks.allow_private_addresses)
    event_types = checked_event_types(given.event_types)
    principal_id = from_global_id(given.receiving_principal_id, expected="Principal")[1]
    async with ctx.database.read_session() as session:
        receiver: Principal | None = await load_principal(session, principal_id)
    # Only the caller's own side may receive: a tenant admin choosing a partner's principal
    # would receive what *other* tenants share with that partner.
    allowed = receiver is not None and (
        receiver.partner_organization_id == partner
        if partner is not None
        else receiver.tenant_id == tenant and receiver.partner_organization_id is None
    )
    if receiver is None or not allowed:
        raise BadUserInput(
            "receivingPrincipalId must be an active principal of your tenant (tenant admins; "
            "e.g. an API client standing for the external system) or of your own organization "
            "(partner users)",
            reason="BAD_RECEIVER",
        )
    filters: dict[str, Any] = {}
    if given.filter is not None:
        for key, type_name in ID_FILTERS.items():
            values = getattr(given.filter, _snake(key))
            if values is not None:
                filters[key] = [str(from_global_id(v, expected=type_name)[1]) for v in values]
        for key in ("statuses", "riskLevels"):
            values = getattr(given.filter, _snake(key))
            if values is not None:
                filters[key] = [v.lower() for v in values]
    check_filters(Disclosure(ctx.policies.plan_for(receiver)), filters, record_types(event_types))
    return endpoints.EndpointValues(
        url=url,
        event_types=event_types,
        filters=filters,
        payload_mode=str(given.payload_mode.value),
        principal_id=principal_id,
        enabled=given.enabled,
        description=given.description,
    )


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _box(info: Info) -> SecretBox:
    return SecretBox(info.context.settings.exchange.secret_key)


@strawberry.type
class WebhookQuery:
    @strawberry.field(
        name="webhookEndpoints",
        description="The webhook endpoints you manage (tenant admins: your tenant's; partner "
        "users: your organization's).",
    )
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        tenant, partner = await _owner(info)
        async with info.context.database.read_session() as session:
            rows = await session.scalars(
                select(m.WebhookEndpoint)
                .where(_mine(tenant, partner))
                .order_by(m.WebhookEndpoint.created_at, m.WebhookEndpoint.id)
            )
            return [WebhookEndpoint.of(r) for r in rows.all()]

    @strawberry.field(
        name="webhookDeliveries",
        description="An endpoint's delivery log, newest first, with every attempt.",
    )
    async def webhook_deliveries(
        self,
        info: Info,
        endpoint_id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint.")],
        status: Annotated[
            WebhookDeliveryStatus | None,
            strawberry.argument(description="Only deliveries in this status."),
        ] = None,
        first: Annotated[
            int, strawberry.argument(description=f"How many (at most {MAX_DELIVERIES}).")
        ] = 50,
    ) -> list[WebhookDelivery]:
        row = await _endpoint(info, endpoint_id)
        if not 0 < first <= MAX_DELIVERIES:
            raise BadUserInput(f"first must be 1-{MAX_DELIVERIES}", reason="BAD_FIRST")
        statement = (
            select(m.WebhookMessage)
            .where(m.WebhookMessage.endpoint_id == row.id)
            .order_by(m.WebhookMessage.created_at.desc(), m.WebhookMessage.id)
            .limit(first)
        )
        if status is not None:
            statement = statement.where(m.WebhookMessage.status == status.value)
        async with info.context.database.read_session() as session:
            messages = (await session.scalars(statement)).all()
            attempts = (
                await session.scalars(
                    select(m.WebhookAttempt)
                    .where(m.WebhookAttempt.message_id.in_([x.id for x in messages]))
                    .order_by(m.WebhookAttempt.attempted_at, m.WebhookAttempt.id)
                )
            ).all()
        by_message: dict[uuid.UUID, list[WebhookAttempt]] = {}
        for a in attempts:
            by_message.setdefault(a.message_id, []).append(
                WebhookAttempt(
                    attempted_at=a.attempted_at,
                    status_code=a.status_code,
                    error=a.error,
                    latency_ms=a.latency_ms,
                    response_body=a.response_body,
                )
            )
        return [
            WebhookDelivery(
                id=strawberry.ID(to_global_id("WebhookDelivery", x.id)),
                webhook_id=webhook_id(x.id),
                event_type=x.event_type,
                record_type=x.record_type,
                record_id=strawberry.ID(to_global_id(x.record_type, x.record_id))
                if x.record_type and x.record_id
                else None,
                record_version=x.record_version,
                status=WebhookDeliveryStatus(x.status),
                attempt_count=x.attempts,
                next_attempt_at=x.next_attempt_at if x.status == "pending" else None,
                created_at=x.created_at,
                delivered_at=x.delivered_at,
                last_status_code=x.last_status_code,
                last_error=x.last_error,
                attempts=by_message.get(x.id, []),
            )
            for x in messages
        ]


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        name="createWebhookEndpoint",
        description="Register an endpoint; it receives events committed from now on. The "
        "signing secret is in this answer only.",
    )
    async def create_webhook_endpoint(
        self,
        info: Info,
        input: Annotated[
            WebhookEndpointInput, strawberry.argument(description="The endpoint's settings.")
        ],
    ) -> WebhookEndpointPayload:
        tenant, partner = await _owner(info)
        values = await _values(info, input, tenant, partner)
        async with transaction(info, "createWebhookEndpoint", None) as w:
            row, secret = await endpoints.create(
                w.session,
                tenant_id=tenant,
                partner_organization_id=partner,
                values=values,
                box=_box(info),
                created_by=info.context.principal.id,
            )
            await _audit(w.session, info, row, "create")
            endpoint = WebhookEndpoint.of(row)
        return WebhookEndpointPayload(webhook_endpoint=endpoint, signing_secret=secret)

    @strawberry.mutation(
        name="updateWebhookEndpoint",
        description="Replace an endpoint's settings; `version` is the one you read (a newer "
        "one: CONFLICT). Enabling it again clears a disable and its circuit breaker.",
    )
    async def update_webhook_endpoint(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint.")],
        version: Annotated[int, strawberry.argument(description="The version you read.")],
        input: Annotated[
            WebhookEndpointInput, strawberry.argument(description="The new settings.")
        ],
    ) -> WebhookEndpointPayload:
        found = await _endpoint(info, id)
        tenant, partner = await _owner(info)
        values = await _values(info, input, tenant, partner)
        async with transaction(info, "updateWebhookEndpoint", None) as w:
            row = await _locked(w.session, found.id, version)
            endpoints.apply(row, values)
            await w.session.flush()
            await _audit(w.session, info, row, "update")
            endpoint = WebhookEndpoint.of(row)
        return WebhookEndpointPayload(webhook_endpoint=endpoint, signing_secret=None)

    @strawberry.mutation(
        name="deleteWebhookEndpoint",
        description="Delete an endpoint with its delivery log; nothing more is sent to it.",
    )
    async def delete_webhook_endpoint(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint.")],
    ) -> DeleteWebhookEndpointPayload:
        found = await _endpoint(info, id)
        async with transaction(info, "deleteWebhookEndpoint", None) as w:
            await _audit(w.session, info, found, "delete")
            await w.session.execute(
                delete(m.WebhookAttempt).where(m.WebhookAttempt.endpoint_id == found.id)
            )
            await w.session.execute(
                delete(m.WebhookMessage).where(m.WebhookMessage.endpoint_id == found.id)
            )
            await w.session.execute(
                delete(m.WebhookEndpoint).where(m.WebhookEndpoint.id == found.id)
            )
        return DeleteWebhookEndpointPayload(deleted_id=id)

    @strawberry.mutation(
        name="rotateWebhookSecret",
        description="A new signing secret (in this answer only). Until `previousSecretUntil` "
        "every message carries signatures by both secrets, so receivers can switch at leisure.",
    )
    async def rotate_webhook_secret(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint.")],
        overlap_seconds: Annotated[
            int | None,
            strawberry.argument(
                description="How long the old secret keeps signing (default: the server's "
                "setting, 24 h; 0 ends it now)."
            ),
        ] = None,
    ) -> WebhookEndpointPayload:
        found = await _endpoint(info, id)
        overlap = (
            info.context.settings.webhooks.rotation_overlap_seconds
            if overlap_seconds is None
            else overlap_seconds
        )
        if overlap < 0:
            raise BadUserInput("overlapSeconds may not be negative", reason="BAD_OVERLAP")
        async with transaction(info, "rotateWebhookSecret", None) as w:
            row = await _locked(w.session, found.id, None)
            secret = endpoints.rotate(row, _box(info), utcnow(), timedelta(seconds=overlap))
            await w.session.flush()
            await _audit(w.session, info, row, "rotate_secret", {"overlapSeconds": overlap})
            endpoint = WebhookEndpoint.of(row)
        return WebhookEndpointPayload(webhook_endpoint=endpoint, signing_secret=secret)

    @strawberry.mutation(
        name="replayWebhookDeliveries",
        description="Send deliveries again, with their original `webhook-id` and payload: "
        "those named, or every one created in [from, to). Their retry schedule starts over.",
    )
    async def replay_webhook_deliveries(
        self,
        info: Info,
        endpoint_id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint.")],
        delivery_ids: Annotated[
            list[strawberry.ID] | None, strawberry.argument(description="These deliveries.")
        ] = None,
        from_: Annotated[
            datetime | None,
            strawberry.argument(name="from", description="Deliveries created at or after this."),
        ] = None,
        to: Annotated[
            datetime | None, strawberry.argument(description="Deliveries created before this.")
        ] = None,
    ) -> WebhookReplayPayload:
        found = await _endpoint(info, endpoint_id)
        if delivery_ids is None and from_ is None and to is None:
            raise BadUserInput("name deliveryIds or a time range", reason="NOTHING_TO_REPLAY")
        statement = (
            update(m.WebhookMessage)
            .where(m.WebhookMessage.endpoint_id == found.id)
            .values(status="pending", attempts=0, next_attempt_at=utcnow(), lease_until=None)
        )
        if delivery_ids is not None:
            ids = [from_global_id(i, expected="WebhookDelivery")[1] for i in delivery_ids]
            statement = statement.where(m.WebhookMessage.id.in_(ids))
        if from_ is not None:
            statement = statement.where(m.WebhookMessage.created_at >= from_)
        if to is not None:
            statement = statement.where(m.WebhookMessage.created_at < to)
        async with transaction(info, "replayWebhookDeliveries", None) as w:
            result: Any = await w.session.execute(statement)
            count = int(result.rowcount or 0)
            await _audit(w.session, info, found, "replay", {"deliveries": count})
        return WebhookReplayPayload(count=count)

    @strawberry.mutation(
        name="sendTestWebhook",
        description="Queue a `webhook.test` message (no record data) to check the receiver and "
        "its signature verification; see it in `webhookDeliveries`.",
    )
    async def send_test_webhook(
        self,
        info: Info,
        endpoint_id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint.")],
    ) -> WebhookReplayPayload:
        found = await _endpoint(info, endpoint_id)
        now = utcnow()
        payload = json.dumps(
            {
                "type": TEST_EVENT,
                "timestamp": now.isoformat(),
                "data": {"endpointId": to_global_id("WebhookEndpoint", found.id)},
            },
            separators=(",", ":"),
        )
        async with transaction(info, "sendTestWebhook", None) as w:
            w.session.add(
                m.WebhookMessage(
                    tenant_id=found.tenant_id,
                    endpoint_id=found.id,
                    event_type=TEST_EVENT,
                    payload=payload,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            await _audit(w.session, info, found, "test")
        return WebhookReplayPayload(count=1)


async def _audit(
    session: Any, info: Info, row: Any, action: str, extra: dict[str, Any] | None = None
) -> None:
    """The trail's row for a change to where data is pushed (``webhook.endpoint.<action>``):
    the address, events, receiving principal and mode, never the secret."""
    await audit.record(
        session,
        tenant_id=row.tenant_id,
        principal_id=info.context.principal.id,
        action=f"webhook.endpoint.{action}",
        record_type="WebhookEndpoint",
        record_ids=[row.id],
        detail={
            "url": row.url,
            "eventTypes": list(row.event_types or []),
            "receivingPrincipal": str(row.principal_id),
            "payloadMode": row.payload_mode,
            "enabled": row.enabled,
            **(extra or {}),
        },
    )


async def _locked(session: Any, endpoint_id: uuid.UUID, version: int | None) -> Any:
    from sharegraph.errors import Conflict

    row = await session.scalar(
        select(m.WebhookEndpoint).where(m.WebhookEndpoint.id == endpoint_id).with_for_update()
    )
    if row is None:
        raise NotFound("no such webhook endpoint")
    if version is not None and row.version != version:
        raise Conflict(
            f"the endpoint is at version {row.version}, not {version}: read it again",
            reason="STALE_VERSION",
        )
    return row
