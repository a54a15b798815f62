"""`updateCapacity`: partners report their programs' and services' capacity.

What a partner may change comes from its ServiceCapacity write grants; on top of them, a partner
organization changes only the capacity of organizations it operates (a pantry never edits the
shelter's beds). Semantics of ``available`` and ``reserved``: ``queries/capacity.py``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import strawberry

from sharegraph.authz.plan import Action
from sharegraph.datastore import models as m
from sharegraph.errors import NotFound
from sharegraph.graph.arguments import INPUT
from sharegraph.graph.context import Info
from sharegraph.graph.enums import CapacityStatus
from sharegraph.graph.inputs import require_id
from sharegraph.graph.types.base import maybe
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.graph.types.resources import ServiceCapacity
from sharegraph.graph.writes import forget_cached, require_fields, transaction, write_target
from sharegraph.queries import capacity as q


@strawberry.input(description="Fields left out stay as they are.")
@catalogued_input("ServiceCapacity")
class UpdateCapacityInput:
    id: strawberry.ID
    version: int = strawberry.field(
        description="The version you read. Every reservation bumps it, so your figure accounts "
        "for every reservation you saw; a newer version -> CONFLICT (VERSION_MISMATCH)."
    )
    available: int | None = strawberry.field(
        default=None,
        description="Free slots now, counting the referrals you have received as taken; "
        "reservations start again from zero.",
    )
    maximum: int | None = None
    unit_id: uuid.UUID | None = strawberry.field(default=None, description="A unit's uuid.")
    status: CapacityStatus | None = None
    note: str | None = strawberry.field(default=None, description='"" clears the note.')
    description: str | None = strawberry.field(
        default=None, description="What is counted (HSDS `service_capacity.description`)."
    )
    idempotency_key: str | None = None


@strawberry.type(description="A capacity as written.")
class CapacityPayload:
    capacity: ServiceCapacity | None = strawberry.field(
        description=("The capacity as it is now (its `version` for the next report).")
    )


INPUT_COORDINATES = {
    "available": "available",
    "maximum": "maximum",
    "unit_id": "unit",
    "status": "status",
    "note": "note",
    "description": "description",
}


async def changeable_capacity(info: Info, capacity_id: uuid.UUID) -> tuple[Any, frozenset[str]]:
    """The capacity and the write scopes it falls under; a partner changes only the capacity of
    organizations it operates (ServiceCapacity has no row scope saying so)."""
    ctx = info.context
    capacity, scopes = await write_target(info, m.ServiceCapacity, capacity_id, "capacity")
    partner = ctx.principal.partner_organization_id
    if partner is not None:
        async with ctx.db() as session:
            if await q.operating_partner(session, capacity) != partner:
                raise NotFound("no such capacity you may change")
    return capacity, scopes


@strawberry.type
class CapacityMutation:
    @strawberry.mutation(
        name="updateCapacity",
        description=(
            "Reports a service's capacity now (its organization's users, "
            "or where an agreement grants `write` on it); evented, kept "
            "in `history`."
        ),
    )
    async def update_capacity(
        self, info: Info, input: Annotated[UpdateCapacityInput, INPUT]
    ) -> CapacityPayload:
        ctx = info.context
        ctx.plan.require_operation("updateCapacity", Action.WRITE)
        capacity_id = require_id(input.id, "ServiceCapacity")
        target, scopes = await changeable_capacity(info, capacity_id)
        written = [c for name, c in INPUT_COORDINATES.items() if getattr(input, name) is not None]
        require_fields(info, "ServiceCapacity", target.tenant_id, written, scopes)
        report = q.CapacityReport(
            available=input.available,
            maximum=input.maximum,
            unit_id=input.unit_id,
            status=input.status,
            note=input.note,
            description=input.description,
        )
        async with transaction(info, "updateCapacity", input, input.idempotency_key) as w:
            if w.replayed is None:
                await q.update_reported(
                    w.session,
                    ctx.plan,
                    capacity_id,
                    report,
                    expected_version=input.version,
                )
                w.result = {"capacity": str(capacity_id)}
        forget_cached(info, m.ServiceCapacity, capacity_id)
        row = await ctx.loaders.one(m.ServiceCapacity, capacity_id)
        return CapacityPayload(capacity=maybe(ServiceCapacity, row))
