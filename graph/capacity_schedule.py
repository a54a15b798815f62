"""Scheduled capacity: `scheduleCapacity` ("+5 slots on Monday 08:00") and
`cancelScheduledCapacity`. The scheduler applies what is scheduled (``datastore.scheduler``).

Who may schedule: write grants on ``ScheduledCapacityChange`` for the fields given, and on the
``ServiceCapacity`` fields the change will set when it applies, under the write scopes of the
capacity row (a scheduled change follows its capacity); and, as for ``updateCapacity``, a
partner organization only for the programs and services it operates. A capacity the caller
cannot change is ``NOT_FOUND``, like one it cannot see.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated

import strawberry

from sharegraph.authz.plan import Action
from sharegraph.datastore import models as m
from sharegraph.datastore.base import utcnow
from sharegraph.datastore.localtime import local_to_utc
from sharegraph.errors import BadUserInput, NotFound
from sharegraph.graph.arguments import INPUT
from sharegraph.graph.capacity import changeable_capacity
from sharegraph.graph.context import Info
from sharegraph.graph.enums import CapacityStatus
from sharegraph.graph.inputs import require_id
from sharegraph.graph.types.base import maybe
from sharegraph.graph.types.capacity_schedule import ScheduledCapacityChange
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.graph.types.resources import ServiceCapacity
from sharegraph.graph.writes import forget_cached, require_fields, transaction
from sharegraph.queries.capacity_schedule import PlannedChange, cancel_change, schedule_change

# ScheduledCapacityChange field -> the ServiceCapacity field it sets when applied
APPLIES_TO = {
    "availableDelta": "available",
    "available": "available",
    "maximum": "maximum",
    "status": "status",
    "note": "note",
}


@strawberry.input(
    description="When: `applyAt` (an instant), or `localDate` + `localTime` on the wall clock "
    "of the capacity's owner tenant (its IANA time zone, daylight saving time included). "
    "What: `availableDelta` (+5 slots) or `available` (a new figure), and/or `maximum`, "
    "`status`, `note`."
)
class ScheduleCapacityInput:
    capacity_id: strawberry.ID = strawberry.field(
        description=("The global id of the ServiceCapacity (you must be able to write it).")
    )
    apply_at: datetime | None = strawberry.field(
        default=None,
        description=(
            "When it applies, ISO 8601 with a UTC offset; or give `localDate` and `localTime`."
        ),
    )
    local_date: date | None = strawberry.field(
        default=None,
        description=(
            "The day it applies on the owner tenant's clock (`YYYY-MM-DD`), with `localTime`."
        ),
    )
    local_time: time | None = strawberry.field(
        default=None,
        description=(
            "The time it applies on the owner tenant's clock (`HH:MM`), with `localDate`."
        ),
    )
    available_delta: int | None = strawberry.field(
        default=None,
        description=(
            "Slots to add (or, negative, take away) from what is "
            "available then; not with `available`."
        ),
    )
    available: int | None = strawberry.field(
        default=None, description=("What is available from then; not with `availableDelta`.")
    )
    maximum: int | None = strawberry.field(default=None, description="A new maximum from then.")
    status: CapacityStatus | None = strawberry.field(
        default=None, description="A new status from then."
    )
    note: str | None = strawberry.field(default=None, description="A new note from then.")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            "A key you choose for this write, so that retrying after a "
            "timeout cannot write twice (same key and input: the first "
            "result)."
        ),
    )


@strawberry.input(description=("A scheduled capacity change to cancel before it applies."))
@catalogued_input("ScheduledCapacityChange")
class CancelScheduledCapacityInput:
    id: strawberry.ID
    idempotency_key: str | None = None


@strawberry.type(description=("The change as scheduled or cancelled, and its capacity."))
class ScheduleCapacityPayload:
    scheduled_change: ScheduledCapacityChange | None = strawberry.field(
        description="The scheduled change."
    )
    capacity: ServiceCapacity | None = strawberry.field(
        description="The capacity it applies to, as it is now."
    )


async def _apply_at(info: Info, input: ScheduleCapacityInput, tenant_id: uuid.UUID) -> datetime:
    local = (input.local_date, input.local_time)
    if input.apply_at is not None:
        if local != (None, None):
            raise BadUserInput(
                "give applyAt, or localDate and localTime, not both", reason="BAD_APPLY_AT"
            )
        if input.apply_at.tzinfo is None:
            raise BadUserInput(
                "applyAt needs a UTC offset (e.g. 2026-03-02T14:00:00Z)", reason="BAD_APPLY_AT"
            )
        return input.apply_at
    if input.local_date is None or input.local_time is None:
        raise BadUserInput(
            "say when: applyAt, or localDate and localTime together", reason="BAD_APPLY_AT"
        )
    tenant = await info.context.loaders.one(m.Tenant, tenant_id)
    if tenant is None:  # the owner of a row the caller may change is always visible
        raise NotFound("no such capacity")
    return local_to_utc(input.local_date, input.local_time, tenant.time_zone)


async def _scheduled(info: Info, change_id: uuid.UUID) -> ScheduledCapacityChange | None:
    forget_cached(info, m.ScheduledCapacityChange, change_id)
    loaded = await info.context.loaders.one(m.ScheduledCapacityChange, change_id)
    return maybe(ScheduledCapacityChange, loaded)


async def _capacity(info: Info, capacity_id: uuid.UUID) -> ServiceCapacity | None:
    forget_cached(info, m.ServiceCapacity, capacity_id)
    return maybe(ServiceCapacity, await info.context.loaders.one(m.ServiceCapacity, capacity_id))


@strawberry.type
class CapacityScheduleMutation:
    @strawberry.mutation(
        name="scheduleCapacity",
        description="Announce a capacity change that applies itself at a future time.",
    )
    async def schedule_capacity(
        self, info: Info, input: Annotated[ScheduleCapacityInput, INPUT]
    ) -> ScheduleCapacityPayload:
        ctx = info.context
        ctx.plan.require_operation("scheduleCapacity", Action.WRITE)
        capacity_id = require_id(input.capacity_id, "ServiceCapacity")
        capacity, scopes = await changeable_capacity(info, capacity_id)
        change = PlannedChange(
            apply_at=await _apply_at(info, input, capacity.tenant_id),
            available_delta=input.available_delta,
            available=input.available,
            maximum=input.maximum,
            status=input.status,
            note=input.note,
        )
        written = change.written_fields()
        require_fields(info, "ScheduledCapacityChange", capacity.tenant_id, written, scopes)
        applied = sorted({APPLIES_TO[f] for f in written if f in APPLIES_TO})
        require_fields(info, "ServiceCapacity", capacity.tenant_id, applied, scopes)
        async with transaction(info, "scheduleCapacity", input, input.idempotency_key) as w:
            if w.replayed is None:
                # Validated here, past the idempotency check: a retry that arrives after
                # applyAt still answers with the first result.
                row = await schedule_change(
                    w.session,
                    ctx.plan,
                    capacity_id,
                    change,
                    actor_id=ctx.principal.id,
                    now=utcnow(),
                )
                w.result = {"scheduled": str(row.id)}
            change_id = uuid.UUID((w.replayed or w.result)["scheduled"])
        return ScheduleCapacityPayload(
            scheduled_change=await _scheduled(info, change_id),
            capacity=await _capacity(info, capacity_id),
        )

    @strawberry.mutation(
        name="cancelScheduledCapacity",
        description="Cancel a scheduled capacity change that has not applied yet "
        "(`CONFLICT` `ALREADY_APPLIED` once it has).",
    )
    async def cancel_scheduled_capacity(
        self, info: Info, input: Annotated[CancelScheduledCapacityInput, INPUT]
    ) -> ScheduleCapacityPayload:
        ctx = info.context
        ctx.plan.require_operation("cancelScheduledCapacity", Action.WRITE)
        change_id = require_id(input.id, "ScheduledCapacityChange")
        scheduled = await ctx.loaders.one(m.ScheduledCapacityChange, change_id)
        if scheduled is None:
            raise NotFound("no such scheduled capacity change")
        capacity, scopes = await changeable_capacity(info, scheduled.capacity_id)
        require_fields(info, "ScheduledCapacityChange", capacity.tenant_id, ["cancelledAt"], scopes)
        async with transaction(info, "cancelScheduledCapacity", input, input.idempotency_key) as w:
            if w.replayed is None:
                row = await cancel_change(
                    w.session, ctx.plan, change_id, actor_id=ctx.principal.id, now=utcnow()
                )
                w.result = {"scheduled": str(row.id)}
        return ScheduleCapacityPayload(
            scheduled_change=await _scheduled(info, change_id),
            capacity=await _capacity(info, capacity.id),
        )
