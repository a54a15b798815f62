"""Live updates: the Subscription root, its payloads, and what each field listens to.

A subscription runs over graphql-transport-ws (``web/subscriptions.py``); :mod:`.live` runs it:
for each committed outbox event (``datastore/relay.py``) of a record type a field listens to,
it loads the record through the request loaders under the subscriber's current plan (a row
outside the plan's row scopes is never delivered), applies the field's filter, and executes the
subscription document with the payload below as its root value, like a query: the same field
guard, masks, ``FORBIDDEN_FIELD`` errors, Part 2 rule, redisclosure notice and audit trail.

The resolvers here never run: strawberry needs them to declare the fields; delivery is
:mod:`.live`'s.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from sharegraph.datastore import models as m
from sharegraph.datastore.relay import CommittedEvent
from sharegraph.errors import BadUserInput, NotFound, quote
from sharegraph.graph.context import Info, RequestContext
from sharegraph.graph.enums import FollowUpStatus, ReferralDirection, ReferralStatus
from sharegraph.graph.inputs import decode_id, require_id
from sharegraph.graph.relay import Node
from sharegraph.graph.types.base import NODE_TYPES, maybe
from sharegraph.graph.types.contacts import ContactRecord, FollowUp, Referral
from sharegraph.graph.types.queues import QueueEntry, ReferralQueue
from sharegraph.graph.types.resources import ServiceCapacity

AFTER = (
    "Resume: the `position` of the last event you received. Events after it that are still "
    "kept (the outbox retention window, 7 days by default) are sent first; past the window "
    "the subscription fails with `RESUME_TOO_OLD` and you should refetch with a query. "
    "Without it: every event committed after the server read the `subscribe` message."
)


@strawberry.enum(description="What happened to the record.")
class ChangeKind(Enum):
    CREATED = strawberry.enum_value("created", description="The record was created.")
    UPDATED = strawberry.enum_value("updated", description="The record was changed.")
    DELETED = strawberry.enum_value("deleted", description="The record was deleted or deactivated.")


@strawberry.type(description="One committed change, as the outbox recorded it.")
class ChangeEvent:
    type: ChangeKind = strawberry.field(description="What happened.")
    record_version: int = strawberry.field(
        description="The record's version after the change (1 for records without versions)."
    )
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    position: str = strawberry.field(
        description="The event's position in the outbox (a decimal string): pass the last one "
        "you received as `after` to resume."
    )

    @classmethod
    def of(cls, event: CommittedEvent) -> ChangeEvent:
        return cls(
            type=ChangeKind(event.event_type.value),
            record_version=event.record_version,
            occurred_at=event.occurred_at,
            position=str(event.position),
        )


@strawberry.type(description="A contact record you may read was created or changed.")
class ContactRecordChange:
    event: ChangeEvent = strawberry.field(description="The change.")
    contact_record: ContactRecord | None = strawberry.field(
        description="The record as it is now, with the fields you may read."
    )


@strawberry.type(description="A referral you may read was created or changed.")
class ReferralChange:
    event: ChangeEvent = strawberry.field(description="The change.")
    referral: Referral | None = strawberry.field(
        description="The referral as it is now, with the fields you may read."
    )


@strawberry.type(description="A follow-up you may read was created or changed.")
class FollowUpChange:
    event: ChangeEvent = strawberry.field(description="The change.")
    follow_up: FollowUp | None = strawberry.field(
        description="The follow-up as it is now, with the fields you may read."
    )


@strawberry.type(description="An entry of the queue was added or changed.")
class QueueEntryChange:
    event: ChangeEvent = strawberry.field(description="The change.")
    queue_entry: QueueEntry | None = strawberry.field(
        description="The entry as it is now, with the fields you may read."
    )


@strawberry.type(description="A program's or service's capacity changed.")
class CapacityUpdate:
    event: ChangeEvent = strawberry.field(description="The change.")
    capacity: ServiceCapacity | None = strawberry.field(
        description="The capacity as it is now, with the fields you may read."
    )


@strawberry.enum(description="Kinds of resource-directory records.")
class DirectoryRecordType(Enum):
    ORGANIZATION = strawberry.enum_value("Organization", description="Organizations.")
    SERVICE = strawberry.enum_value("Service", description="Services.")
    LOCATION = strawberry.enum_value("Location", description="Locations.")
    SERVICE_AT_LOCATION = strawberry.enum_value(
        "ServiceAtLocation", description="Services at locations."
    )


@strawberry.type(description="A resource-directory record you may read was changed.")
class DirectoryUpdate:
    event: ChangeEvent = strawberry.field(description="The change.")
    record_type: DirectoryRecordType = strawberry.field(description="The kind of record.")
    node: Node | None = strawberry.field(
        description="The record as it is now (select its fields with `... on Service` etc.)."
    )


@strawberry.type(description="The queue's dashboard figures changed.")
class QueueDashboardUpdate:
    event: ChangeEvent = strawberry.field(description="The change that moved the figures.")
    queue: ReferralQueue | None = strawberry.field(
        description="The queue: select `dashboard { ... }` for its figures."
    )


@strawberry.input(description="All given conditions must hold.")
class ContactRecordChangeFilter:
    tenant_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only records owned by these tenants."
    )


@strawberry.input(description="All given conditions must hold.")
class ReferralChangeFilter:
    status: list[ReferralStatus] | None = strawberry.field(
        default=None, description="Only referrals now in one of these statuses."
    )
    direction: ReferralDirection | None = strawberry.field(
        default=None, description="Only referrals you sent, or only ones you received."
    )
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only referrals to this organization's programs or services."
    )


@strawberry.input(description="All given conditions must hold.")
class FollowUpChangeFilter:
    status: FollowUpStatus | None = strawberry.field(
        default=None, description="Only follow-ups now in this status."
    )
    assigned_to_me: bool | None = strawberry.field(
        default=None, description="Only follow-ups assigned to you personally."
    )


def _never() -> AsyncGenerator[Any, None]:
    raise BadUserInput(
        "subscriptions run over a WebSocket (graphql-transport-ws) on /graphql",
        reason="SUBSCRIPTION_OVER_HTTP",
    )


@strawberry.type(
    description="Live updates over graphql-transport-ws on /graphql: each field sends an answer "
    "per committed change you may see, under the same sharing rules as a query."
)
class Subscription:
    @strawberry.subscription(
        description="Contact records you may read, each time one is created or changed."
    )
    async def contact_record_changed(
        self,
        info: Info,
        filter: Annotated[
            ContactRecordChangeFilter | None,
            strawberry.argument(description="Only changes matching all given conditions."),
        ] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> AsyncGenerator[ContactRecordChange | None, None]:
        return _never()

    @strawberry.subscription(
        description="Referrals you may read (sent or received), each time one changes."
    )
    async def referral_changed(
        self,
        info: Info,
        filter: Annotated[
            ReferralChangeFilter | None,
            strawberry.argument(description="Only changes matching all given conditions."),
        ] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> AsyncGenerator[ReferralChange | None, None]:
        return _never()

    @strawberry.subscription(description="Follow-ups you may read, each time one changes.")
    async def follow_up_changed(
        self,
        info: Info,
        filter: Annotated[
            FollowUpChangeFilter | None,
            strawberry.argument(description="Only changes matching all given conditions."),
        ] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> AsyncGenerator[FollowUpChange | None, None]:
        return _never()

    @strawberry.subscription(description="Entries of one queue, each time one changes.")
    async def queue_entry_changed(
        self,
        info: Info,
        queue_id: Annotated[strawberry.ID, strawberry.argument(description="The queue's id.")],
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> AsyncGenerator[QueueEntryChange | None, None]:
        return _never()

    @strawberry.subscription(description="Capacity of programs and services you may read.")
    async def capacity_changed(
        self,
        info: Info,
        program_ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(description="Only the capacity of these programs."),
        ] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> AsyncGenerator[CapacityUpdate | None, None]:
        return _never()

    @strawberry.subscription(
        description="Resource-directory changes (for partners' websites and mobile apps)."
    )
    async def directory_changed(
        self,
        info: Info,
        types: Annotated[
            list[DirectoryRecordType] | None,
            strawberry.argument(description="Only these kinds of records (default: all)."),
        ] = None,
        tenant_ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(description="Only records owned by these tenants."),
        ] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> AsyncGenerator[DirectoryUpdate | None, None]:
        return _never()

    @strawberry.subscription(
        description="The queue's dashboard, sent again each time its figures change (for wall "
        "displays)."
    )
    async def queue_dashboard(
        self,
        info: Info,
        queue_id: Annotated[strawberry.ID, strawberry.argument(description="The queue's id.")],
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> AsyncGenerator[QueueDashboardUpdate | None, None]:
        return _never()


# -- what each field listens to and delivers ------------------------------------------------

Select = Callable[[RequestContext, dict[str, Any], CommittedEvent], Awaitable[Any | None]]
Prepare = Callable[[RequestContext, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Field:
    """A subscription field: the record types whose events may concern it, the type whose read
    grants it needs at all, the check made when it starts, and the payload of one event (None:
    not for this subscriber)."""

    record_types: frozenset[str]
    reads: str
    prepare: Prepare
    select: Select
    # Send only when the delivered body differs from the last one (dashboards).
    changes_only: bool = False
    # A cheap test on the event's row as stored, read once per event for every subscription
    # of the process, before any subscriber's evaluation: False skips the event (e.g. another
    # queue's entry). It only ever skips; what is delivered is still decided under the plan.
    prefilter: Callable[[dict[str, Any], CommittedEvent, Any], bool] | None = None
    # Whether these arguments make the answer depend on the principal itself, not only on its
    # access plan (then its subscriptions share no evaluation with other principals').
    per_principal: Callable[[dict[str, Any]], bool] = lambda _args: False


async def _nothing(_ctx: RequestContext, _args: dict[str, Any]) -> None:
    return None


def _ids(values: list[strawberry.ID] | None, type_name: str) -> set[uuid.UUID] | None:
    if values is None:
        return None
    return {i for i in (decode_id(v, type_name) for v in values) if i is not None}


async def _row(ctx: RequestContext, model: Any, event: CommittedEvent) -> Any | None:
    """The event's record, if it still exists inside the subscriber's current plan."""
    return await ctx.loaders.one(model, event.record_id)


async def _contact_record(
    ctx: RequestContext, args: dict[str, Any], event: CommittedEvent
) -> ContactRecordChange | None:
    flt: ContactRecordChangeFilter | None = args.get("filter")
    tenants = _ids(flt.tenant_ids if flt else None, "Tenant")
    if tenants is not None and event.tenant_id not in tenants:
        return None
    row = await _row(ctx, m.ContactRecord, event)
    if row is None:
        return None
    return ContactRecordChange(
        event=ChangeEvent.of(event), contact_record=maybe(ContactRecord, row)
    )


async def _receiving_organization(ctx: RequestContext, row: Any) -> uuid.UUID | None:
    if row.program_id is not None:
        program = await ctx.loaders.one(m.Program, row.program_id)
        return program.organization_id if program is not None else None
    if row.service_at_location_id is not None:
        link = await ctx.loaders.one(m.ServiceAtLocation, row.service_at_location_id)
        service = await ctx.loaders.one(m.Service, link.service_id) if link else None
        return service.organization_id if service is not None else None
    return None


async def _prepare_referral(ctx: RequestContext, args: dict[str, Any]) -> None:
    flt: ReferralChangeFilter | None = args.get("filter")
    if flt is not None and flt.status is not None:
        ctx.disclosure.require_filterable("Referral", ["status"], use="filter")


async def _referral(
    ctx: RequestContext, args: dict[str, Any], event: CommittedEvent
) -> ReferralChange | None:
    row = await _row(ctx, m.Referral, event)
    if row is None:
        return None
    flt: ReferralChangeFilter | None = args.get("filter")
    if flt is not None:
        if flt.status is not None and row.status not in flt.status:
            return None
        if flt.direction is not None:
            sent = row.tenant_id == ctx.principal.tenant_id
            if sent != (flt.direction is ReferralDirection.SENT):
                return None
        organization = decode_id(flt.organization_id, "Organization")
        if organization is not None and await _receiving_organization(ctx, row) != organization:
            return None
    return ReferralChange(event=ChangeEvent.of(event), referral=maybe(Referral, row))


async def _prepare_follow_up(ctx: RequestContext, args: dict[str, Any]) -> None:
    flt: FollowUpChangeFilter | None = args.get("filter")
    if flt is not None and flt.status is not None:
        ctx.disclosure.require_filterable("FollowUp", ["status"], use="filter")


async def _follow_up(
    ctx: RequestContext, args: dict[str, Any], event: CommittedEvent
) -> FollowUpChange | None:
    row = await _row(ctx, m.FollowUp, event)
    if row is None:
        return None
    flt: FollowUpChangeFilter | None = args.get("filter")
    if flt is not None:
        if flt.status is not None and row.status != flt.status:
            return None
        if flt.assigned_to_me and row.assigned_principal_id != ctx.principal.id:
            return None
    return FollowUpChange(event=ChangeEvent.of(event), follow_up=maybe(FollowUp, row))


async def _queue(ctx: RequestContext, args: dict[str, Any]) -> Any:
    queue_id = decode_id(args["queue_id"], "ReferralQueue")
    queue = await ctx.loaders.one(m.ReferralQueue, queue_id)
    if queue is None:
        raise NotFound(f"no ReferralQueue with id {quote(args['queue_id'])}")
    return queue


async def _prepare_queue(ctx: RequestContext, args: dict[str, Any]) -> None:
    await _queue(ctx, args)


async def _queue_entry(
    ctx: RequestContext, args: dict[str, Any], event: CommittedEvent
) -> QueueEntryChange | None:
    row = await _row(ctx, m.QueueEntry, event)
    if row is None or row.queue_id != decode_id(args["queue_id"], "ReferralQueue"):
        return None
    return QueueEntryChange(event=ChangeEvent.of(event), queue_entry=maybe(QueueEntry, row))


async def _capacity(
    ctx: RequestContext, args: dict[str, Any], event: CommittedEvent
) -> CapacityUpdate | None:
    row = await _row(ctx, m.ServiceCapacity, event)
    if row is None:
        return None
    programs = _ids(args.get("program_ids"), "Program")
    if programs is not None and row.program_id not in programs:
        return None
    return CapacityUpdate(event=ChangeEvent.of(event), capacity=maybe(ServiceCapacity, row))


DIRECTORY_TYPES: frozenset[str] = frozenset(
    ("Organization", "Service", "Location", "ServiceAtLocation")
)


async def _directory(
    ctx: RequestContext, args: dict[str, Any], event: CommittedEvent
) -> DirectoryUpdate | None:
    types: list[DirectoryRecordType] | None = args.get("types")
    if types is not None and event.record_type not in {str(t.value) for t in types}:
        return None
    tenants = _ids(args.get("tenant_ids"), "Tenant")
    if tenants is not None and event.tenant_id not in tenants:
        return None
    model, cls = NODE_TYPES[event.record_type]
    row = await _row(ctx, model, event)
    if row is None:
        return None
    return DirectoryUpdate(
        event=ChangeEvent.of(event),
        record_type=DirectoryRecordType(event.record_type),
        node=maybe(cls, row),
    )


async def _prepare_dashboard(ctx: RequestContext, args: dict[str, Any]) -> None:
    queue = await _queue(ctx, args)
    ctx.disclosure.require_filterable(
        "QueueEntry", ["status", "enqueuedAt"], [queue.tenant_id], use="aggregate"
    )


async def _dashboard(
    ctx: RequestContext, args: dict[str, Any], event: CommittedEvent
) -> QueueDashboardUpdate | None:
    queue_id = require_id(args["queue_id"], "ReferralQueue")
    if event.record_type == "QueueEntry":
        row = await _row(ctx, m.QueueEntry, event)
        if row is None or row.queue_id != queue_id:
            return None
    else:  # a capacity: only of a program serving the queue
        row = await _row(ctx, m.ServiceCapacity, event)
        links = await ctx.loaders.children(m.QueueProgram, "queue_id").load(queue_id)
        if row is None or row.program_id not in {link.program_id for link in links}:
            return None
    queue = await ctx.loaders.one(m.ReferralQueue, queue_id)
    if queue is None:
        return None
    return QueueDashboardUpdate(event=ChangeEvent.of(event), queue=maybe(ReferralQueue, queue))


def _same_queue(args: dict[str, Any], event: CommittedEvent, stored: Any) -> bool:
    if event.record_type != "QueueEntry":
        return True
    return stored is not None and str(stored.queue_id) == str(
        require_id(args["queue_id"], "ReferralQueue")
    )


def _assigned_to_me(args: dict[str, Any]) -> bool:
    flt: FollowUpChangeFilter | None = args.get("filter")
    return bool(flt is not None and flt.assigned_to_me)


# The model of each record type a prefilter reads.
PREFILTER_MODELS: dict[str, Any] = {"QueueEntry": m.QueueEntry}

FIELDS: dict[str, Field] = {
    "contactRecordChanged": Field(
        frozenset({"ContactRecord"}), "ContactRecord", _nothing, _contact_record
    ),
    "referralChanged": Field(frozenset({"Referral"}), "Referral", _prepare_referral, _referral),
    "followUpChanged": Field(
        frozenset({"FollowUp"}),
        "FollowUp",
        _prepare_follow_up,
        _follow_up,
        per_principal=_assigned_to_me,
    ),
    "queueEntryChanged": Field(
        frozenset({"QueueEntry"}),
        "QueueEntry",
        _prepare_queue,
        _queue_entry,
        prefilter=_same_queue,
    ),
    "capacityChanged": Field(
        frozenset({"ServiceCapacity"}), "ServiceCapacity", _nothing, _capacity
    ),
    "directoryChanged": Field(DIRECTORY_TYPES, "Service", _nothing, _directory),
    "queueDashboard": Field(
        frozenset({"QueueEntry", "ServiceCapacity"}),
        "QueueEntry",
        _prepare_dashboard,
        _dashboard,
        changes_only=True,
        prefilter=_same_queue,
    ),
}
