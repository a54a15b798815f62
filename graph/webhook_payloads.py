"""Webhook payloads, rendered through the same path as a subscription delivery.

A ``full`` payload is the record as the receiving principal's plan allows *now*: a subscription
document selecting every leaf field of the record's type runs through the schema in-process
(:meth:`.live.LiveUpdates.evaluate`), so the field guard, masks, answer keys, the Part 2 rule and
the audit trail (one disclosure row per rendered message) are a query's. Denied fields are left
out of the payload (their names are listed under ``deniedFields``). A ``thin`` payload carries
ids, type and version only, and is sent only when the record is inside the receiver's row scopes.
Either way a record outside the scopes, or not matching the endpoint's filter, is never sent.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from graphql import GraphQLNonNull, GraphQLObjectType, get_named_type, is_leaf_type

from sharegraph.authz.authenticate import load_principal
from sharegraph.authz.principal import Principal
from sharegraph.datastore import models as m
from sharegraph.datastore.engine import Database
from sharegraph.datastore.relay import CommittedEvent
from sharegraph.graph.live import LiveUpdates, Subscriber
from sharegraph.graph.relay import to_global_id
from sharegraph.graph.subscriptions import DIRECTORY_TYPES
from sharegraph.graph.types.base import NODE_TYPES
from sharegraph.graph.webhook_filters import FILTERS
from sharegraph.settings import Settings
from sharegraph.webhooks.render import FULL, Receiver

# Record type -> (subscription field, payload field).
FIELDS: dict[str, tuple[str, str]] = {
    "ContactRecord": ("contactRecordChanged", "contactRecord"),
    "Referral": ("referralChanged", "referral"),
    "FollowUp": ("followUpChanged", "followUp"),
    "QueueEntry": ("queueEntryChanged", "queueEntry"),
    "ServiceCapacity": ("capacityChanged", "capacity"),
}
MODELS: dict[str, Any] = {
    "ContactRecord": m.ContactRecord,
    "Referral": m.Referral,
    "FollowUp": m.FollowUp,
    "QueueEntry": m.QueueEntry,
    "ServiceCapacity": m.ServiceCapacity,
    "Outcome": m.Outcome,
    **{name: NODE_TYPES[name][0] for name in DIRECTORY_TYPES},
}


def _leaves(schema: Any, type_name: str) -> str:
    graphql_type = schema.type_map[type_name]
    assert isinstance(graphql_type, GraphQLObjectType)
    names = [
        name
        for name, field in graphql_type.fields.items()
        if is_leaf_type(get_named_type(field.type))
        and not any(isinstance(a.type, GraphQLNonNull) for a in field.args.values())
    ]
    return " ".join(names)


QUEUE = "__QUEUE__"  # queueEntryChanged needs the entry's queue


class WebhookRenderer:
    """The :data:`sharegraph.webhooks.render.Render` of this process."""

    def __init__(self, live: LiveUpdates) -> None:
        self.live = live
        schema = live.schema._schema
        self.documents: dict[str, str] = {}
        for record_type, (root, payload) in FIELDS.items():
            args = f'(queueId: "{QUEUE}")' if record_type == "QueueEntry" else ""
            self.documents[record_type] = (
                f"subscription {{ {root}{args} {{ {payload} "
                f"{{ {_leaves(schema, record_type)} }} }} }}"
            )
        fragments = " ".join(
            f"... on {name} {{ {_leaves(schema, name)} }}" for name in sorted(DIRECTORY_TYPES)
        )
        self.documents["directory"] = (
            f"subscription {{ directoryChanged {{ node {{ {fragments} }} }} }}"
        )
        self._principals: dict[uuid.UUID, Principal] = {}

    async def _principal(self, principal_id: uuid.UUID) -> Principal | None:
        async with self.live.db.read_session() as session:
            return await load_principal(session, principal_id)

    async def __call__(
        self, receivers: Sequence[Receiver], event: CommittedEvent
    ) -> list[dict[str, Any] | None]:
        """The payload for each receiver (all of one principal and payload mode): the record
        is read and, in full mode, rendered once; each receiver's filter is its own."""
        nothing: list[dict[str, Any] | None] = [None] * len(receivers)
        if not receivers:
            return nothing
        first = receivers[0]
        if any(
            r.principal_id != first.principal_id or r.payload_mode != first.payload_mode
            for r in receivers
        ):
            raise ValueError("receivers rendered together share principal and payload mode")
        principal = await self._principal(first.principal_id)
        if principal is None:
            return nothing  # the receiving principal is gone or inactive: nothing leaves
        model = MODELS.get(event.record_type)
        if model is None:
            return nothing
        plan = self.live.policies.plan_for(principal)
        readers = [
            Subscriber(principal, purpose=f"webhook endpoint {r.endpoint_id}") for r in receivers
        ]
        async with self.live.db.read_session(rls=plan.rls_scope()) as session:
            ctx = self.live._context(readers[0], plan, session)
            row = await ctx.loaders.one(model, event.record_id)  # inside the row scopes only
            if row is None:
                return nothing
            wanted = [await self._passes(ctx, r.filters, event, row) for r in receivers]
            queue = getattr(row, "queue_id", None)
        if not any(wanted):
            return nothing
        ids = {"id": to_global_id(event.record_type, event.record_id)}
        if first.payload_mode != FULL or event.record_type == "Outcome":
            return [ids if ok else None for ok in wanted]
        key = "directory" if event.record_type in DIRECTORY_TYPES else event.record_type
        document = self.documents[key]
        if queue is not None:
            document = document.replace(QUEUE, to_global_id("ReferralQueue", queue))
        audited = [reader for reader, ok in zip(readers, wanted, strict=True) if ok]
        body = await self.live.evaluate(audited[0], document, event, readers=audited)
        if body is None or not body.get("data"):
            return nothing
        change = next(iter(body["data"].values()))
        record = (
            change.get("node")
            if key == "directory"
            else next(v for k, v in change.items() if k != "event")
        )
        if record is None:
            return nothing
        denied = sorted(
            e.get("extensions", {}).get("coordinate")
            for e in body.get("errors", [])
            if e.get("extensions", {}).get("coordinate")
        )
        record = {
            k: v
            for k, v in record.items()
            if v is not None or f"{event.record_type}.{k}" not in denied
        }
        result: dict[str, Any] = {**ids, "record": record}
        if denied:
            result["deniedFields"] = denied
        if "redisclosureNotice" in body.get("extensions", {}):
            result["redisclosureNotice"] = body["extensions"]["redisclosureNotice"]
        return [result if ok else None for ok in wanted]

    async def _passes(
        self, ctx: Any, filters: dict[str, Any], event: CommittedEvent, row: Any
    ) -> bool:
        for key, values in filters.items():
            if not values or key not in FILTERS:
                continue
            _field, carriers, attribute = FILTERS[key]
            if event.record_type not in carriers:
                continue
            value = getattr(row, attribute, None)
            if key == "formIds":
                version = await ctx.loaders.one(m.ContactFormVersion, value) if value else None
                value = version.form_id if version is not None else None
            wanted = {str(v) for v in values}
            text = str(getattr(value, "value", value))
            if text not in wanted:
                return False
        return True


@asynccontextmanager
async def standalone_renderer(db: Database, settings: Settings) -> AsyncIterator[WebhookRenderer]:
    """A renderer for a process without the HTTP app (``sharegraph worker``)."""
    from sqlalchemy import select

    from sharegraph.authz.store import PolicyStore
    from sharegraph.datastore.relay import EventRelay
    from sharegraph.graph.relay import CursorCodec
    from sharegraph.graph.schema import build_schema

    async with db.read_session() as session:
        secret = await session.scalar(select(m.Instance.secret).where(m.Instance.id == 1))
    if secret is None:
        raise RuntimeError("the instance row is missing; run `sharegraph db upgrade`")
    policies = PolicyStore(db)
    await policies.start()
    relay = EventRelay(db)  # not started: rendering reads no stream
    live = LiveUpdates(build_schema(settings), settings, db, policies, CursorCodec(secret), relay)
    try:
        yield WebhookRenderer(live)
    finally:
        await policies.stop()
