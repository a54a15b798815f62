"""Inventories: named, curated selections of directory records (admin API).

An inventory belongs to a tenant; that tenant's admins create, rename and delete it and add or
remove records of the tenant's own directory. It is shared like anything else: by an agreement
whose row scope is ``inventory:<id>``. Who sees an inventory: the principals of its tenant and
callers holding a grant from that tenant under that scope. Directory lists take
``inventory: ID`` to show only its records (``NOT_FOUND`` for an inventory you cannot see).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry
from sqlalchemy import ColumnElement, and_
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.plan import AccessPlan
from sharegraph.datastore.enums import Role
from sharegraph.datastore.models import Inventory as InventoryRow
from sharegraph.datastore.models import Tenant as TenantRow
from sharegraph.errors import BadUserInput, Forbidden, NotFound, quote
from sharegraph.graph.arguments import INPUT
from sharegraph.graph.context import Info
from sharegraph.graph.relay import Node, from_global_id, to_global_id
from sharegraph.graph.types.base import NODE_TYPES, maybe
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.graph.types.tenants import Tenant
from sharegraph.queries import inventories

InventoryArgument = Annotated[
    strawberry.ID | None,
    strawberry.argument(description="Only records of this inventory (one you can see)."),
]


def shared_inventories(plan: AccessPlan) -> frozenset[tuple[uuid.UUID, uuid.UUID]]:
    """(owner, inventory id) of every inventory scope the caller holds a grant under."""
    return frozenset(
        (owner, uuid.UUID(str(grant.scope.argument)))
        for by_owner in plan.core.grants.values()
        for owner, grants in by_owner.items()
        for grant in grants
        if grant.scope.name == "inventory"
    )


def _visible(info: Info) -> ColumnElement[bool]:
    ctx = info.context
    return inventories.visible_to(ctx.principal.tenant_id, shared_inventories(ctx.plan))


async def visible_inventory(info: Info, inventory_id: strawberry.ID) -> uuid.UUID:
    """The id of an inventory the caller may see (to filter a list by); else ``NOT_FOUND``."""
    _, raw = from_global_id(inventory_id, expected="Inventory")
    async with info.context.db() as session:
        found = await inventories.visible(session, and_(InventoryRow.id == raw, _visible(info)))
    if not found:
        raise NotFound(f"no inventory with id {quote(inventory_id)}")
    return raw


@asynccontextmanager
async def _writing(info: Info) -> AsyncIterator[AsyncSession]:
    # Give the read connection back before taking a write one (see graph/writes.py).
    await info.context.see_own_writes()
    async with info.context.write_session() as session:
        yield session


@strawberry.type(description="One directory record in an inventory.")
class InventoryItem:
    record_type: str = strawberry.field(description="Organization, Service, Location or ...")
    record: Node | None = strawberry.field(description="The record; null when you may not see it.")


@strawberry.type(description="A named, curated selection of one tenant's directory records.")
class Inventory:
    row: strawberry.Private[Any]
    items_rows: strawberry.Private[list[Any]]
    id: strawberry.ID = strawberry.field(
        description=(
            "The inventory's global id (a sharing agreement's "
            "`inventory:<id>` row scope names its UUID)."
        )
    )
    uuid: UUID = strawberry.field(description="The inventory's UUID.")
    name: str = strawberry.field(description="Its name.")
    description: str | None = strawberry.field(description="What it collects and why.")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")

    @classmethod
    def of(cls, row: Any, items: list[Any]) -> Inventory:
        return cls(
            row=row,
            items_rows=items,
            id=strawberry.ID(to_global_id("Inventory", row.id)),
            uuid=row.id,
            name=row.name,
            description=row.description,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="The tenant whose directory records it lists.")
    async def owner(self, info: Info) -> Tenant | None:
        return maybe(Tenant, await info.context.loaders.one(TenantRow, self.row.tenant_id))

    @strawberry.field(description="Its records you may see (through the loaders: batched).")
    async def items(self, info: Info) -> list[InventoryItem]:
        loaders = info.context.loaders

        async def resolve(item: Any) -> InventoryItem | None:
            type_name = inventories.TYPE_OF_ITEM.get(item.record_type)
            if type_name is None:
                return None
            model, cls = NODE_TYPES[type_name]
            record = maybe(cls, await loaders.one(model, item.record_id))
            return None if record is None else InventoryItem(record_type=type_name, record=record)

        resolved = await asyncio.gather(*(resolve(i) for i in self.items_rows))
        return [item for item in resolved if item is not None]


@strawberry.type(description="An inventory as written.")
class InventoryPayload:
    inventory: Inventory | None = strawberry.field(description="The inventory as it is now.")


@strawberry.type(description="What `deleteInventory` removed.")
class DeletedInventoryPayload:
    deleted_id: strawberry.ID = strawberry.field(description="The deleted inventory's global id.")


@strawberry.input(description=("A new inventory (tenant admins)."))
@catalogued_input("Inventory")
class CreateInventoryInput:
    name: str = strawberry.field(
        description="Its name, unique in the tenant (at most 255 characters)."
    )
    description: str | None = strawberry.field(
        default=None, description="What it collects and why."
    )
    tenant_id: strawberry.ID | None = strawberry.field(
        default=None, description="The tenant you administer that owns it; defaults to yours."
    )


@strawberry.input(description="Fields left out stay as they are; `null` clears the description.")
@catalogued_input("Inventory")
class UpdateInventoryInput:
    id: strawberry.ID
    name: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new name (at most 255 characters)."
    )
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new description; `null` clears it."
    )


@strawberry.input(description="Records to add to or remove from an inventory.")
class InventoryItemsInput:
    inventory_id: strawberry.ID = strawberry.field(description="The inventory's global id.")
    record_ids: list[strawberry.ID] = strawberry.field(
        description="Global ids of organizations, services, locations or services at locations "
        "of the inventory's tenant."
    )


def _records(ids: list[strawberry.ID]) -> list[tuple[str, uuid.UUID]]:
    records = [from_global_id(i, expected=tuple(inventories.RECORD_TYPES)) for i in ids]
    if not records:
        raise BadUserInput("give at least one record", reason="REQUIRED_FIELD", field="recordIds")
    return records


def _admin_tenant(info: Info, tenant_id: strawberry.ID | None) -> uuid.UUID:
    principal = info.context.principal
    if tenant_id is not None:
        return from_global_id(tenant_id, expected="Tenant")[1]
    for grant in principal.roles:
        if grant.role is Role.TENANT_ADMIN and grant.tenant_id is not None:
            return grant.tenant_id
    raise Forbidden("only tenant admins manage inventories", reason="NOT_ADMIN")


async def _payload(info: Info, row: Any) -> InventoryPayload:
    await info.context.see_own_writes()
    async with info.context.db() as session:
        items = await inventories.items_of(session, [row.id])
    return InventoryPayload(inventory=Inventory.of(row, items[row.id]))


def _inventory_id(global_id: strawberry.ID) -> uuid.UUID:
    return from_global_id(global_id, expected="Inventory")[1]


@strawberry.type
class InventoryQuery:
    @strawberry.field(description="Your tenant's inventories, and those shared with you.")
    async def inventories(self, info: Info) -> list[Inventory]:
        async with info.context.db() as session:
            rows = await inventories.visible(session, _visible(info))
            items = await inventories.items_of(session, [r.id for r in rows])
        return [Inventory.of(r, items[r.id]) for r in rows]


@strawberry.type
class InventoryMutation:
    @strawberry.mutation(
        name="createInventory",
        description=("Creates an inventory of your tenant's directory records (tenant admins)."),
    )
    async def create_inventory(
        self, info: Info, input: Annotated[CreateInventoryInput, INPUT]
    ) -> InventoryPayload:
        owner = _admin_tenant(info, input.tenant_id)
        async with _writing(info) as session:
            row = await inventories.create(
                session, info.context.principal, owner, input.name, input.description
            )
        return await _payload(info, row)

    @strawberry.mutation(
        name="updateInventory",
        description=("Renames or redescribes an inventory of your tenant (tenant admins)."),
    )
    async def update_inventory(
        self, info: Info, input: Annotated[UpdateInventoryInput, INPUT]
    ) -> InventoryPayload:
        async with _writing(info) as session:
            row = await inventories.update(
                session,
                info.context.principal,
                _inventory_id(input.id),
                None if input.name is strawberry.UNSET else input.name,
                None if input.description is strawberry.UNSET else input.description,
                set_description=input.description is not strawberry.UNSET,
            )
        return await _payload(info, row)

    @strawberry.mutation(
        name="addInventoryItems",
        description=("Adds directory records of the inventory's tenant to it (tenant admins)."),
    )
    async def add_inventory_items(
        self, info: Info, input: Annotated[InventoryItemsInput, INPUT]
    ) -> InventoryPayload:
        records = _records(input.record_ids)
        async with _writing(info) as session:
            row = await inventories.add_items(
                session, info.context.principal, _inventory_id(input.inventory_id), records
            )
        return await _payload(info, row)

    @strawberry.mutation(
        name="removeInventoryItems",
        description="Removes records from an inventory (tenant admins).",
    )
    async def remove_inventory_items(
        self, info: Info, input: Annotated[InventoryItemsInput, INPUT]
    ) -> InventoryPayload:
        records = _records(input.record_ids)
        async with _writing(info) as session:
            row = await inventories.remove_items(
                session, info.context.principal, _inventory_id(input.inventory_id), records
            )
        return await _payload(info, row)

    @strawberry.mutation(
        name="deleteInventory",
        description=("Deletes an inventory (agreements scoped to it then match no rows)."),
    )
    async def delete_inventory(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The inventory's global id.")],
    ) -> DeletedInventoryPayload:
        async with _writing(info) as session:
            await inventories.remove(session, info.context.principal, _inventory_id(id))
        return DeletedInventoryPayload(deleted_id=id)
