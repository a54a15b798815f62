"""Inventories: named, curated selections of one tenant's directory records.

Only the owner tenant's admins change them; every change is audited. Row scopes
``inventory:<id>`` read ``inventory_items`` in SQL on every query, so a change of items takes
effect for grantees at once and the policy version need not move.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.principal import Principal
from sharegraph.datastore import audit
from sharegraph.datastore.models import (
    Inventory,
    InventoryItem,
    Location,
    Organization,
    Service,
    ServiceAtLocation,
    SharingAgreement,
)
from sharegraph.errors import BadUserInput, Conflict, NotFound, quote
from sharegraph.queries.sharing import require_admin

# What an inventory may list: the record types row scopes understand (authz/scopes.py).
RECORD_TYPES: dict[str, tuple[Any, str]] = {
    "Organization": (Organization, "organization"),
    "Service": (Service, "service"),
    "Location": (Location, "location"),
    "ServiceAtLocation": (ServiceAtLocation, "service_at_location"),
}
MAX_NAME = 255  # the column's length (datastore name_type())
TYPE_OF_ITEM = {item_type: type_name for type_name, (_, item_type) in RECORD_TYPES.items()}


def visible_to(
    home_tenant: uuid.UUID | None, shared: Iterable[tuple[uuid.UUID, uuid.UUID]]
) -> ColumnElement[bool]:
    """Inventories of the caller's own tenant, and those shared with it ((owner, id) pairs)."""
    clauses = [Inventory.tenant_id == home_tenant] if home_tenant is not None else []
    clauses += [(Inventory.tenant_id == owner) & (Inventory.id == i) for owner, i in shared]
    return or_(*clauses) if clauses else false()


async def visible(session: AsyncSession, where: ColumnElement[bool]) -> list[Inventory]:
    statement = select(Inventory).where(where).order_by(Inventory.name, Inventory.id)
    return list((await session.scalars(statement)).all())


async def items_of(
    session: AsyncSession, inventory_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[InventoryItem]]:
    grouped: dict[uuid.UUID, list[InventoryItem]] = defaultdict(list)
    if inventory_ids:
        statement = (
            select(InventoryItem)
            .where(InventoryItem.inventory_id.in_(set(inventory_ids)))
            .order_by(InventoryItem.record_type, InventoryItem.record_id)
        )
        for item in (await session.scalars(statement)).all():
            grouped[item.inventory_id].append(item)
    return grouped


async def _audit(
    session: AsyncSession, actor: Principal, row: Inventory, action: str, **detail: Any
) -> None:
    await audit.record(
        session,
        tenant_id=row.tenant_id,
        principal_id=actor.id,
        action=f"policy.inventory.{action}",
        record_type="Inventory",
        record_ids=[row.id],
        detail={"name": row.name, **detail},
    )


def _clean_name(name: str) -> str:
    if not name.strip():
        raise BadUserInput("name: must not be empty", reason="REQUIRED_FIELD", field="name")
    if len(name.strip()) > MAX_NAME:
        # The column's bound: PostgreSQL would refuse the row (an internal error), SQLite not.
        raise BadUserInput(f"name: at most {MAX_NAME} characters", reason="TOO_LONG", field="name")
    return name.strip()


async def _refuse_taken(
    session: AsyncSession, owner: uuid.UUID, name: str, ignore: uuid.UUID | None = None
) -> None:
    taken = await session.scalar(
        select(Inventory.id).where(Inventory.tenant_id == owner, Inventory.name == name)
    )
    if taken is not None and taken != ignore:
        raise Conflict(f"an inventory named {quote(name)} exists already", reason="NAME_TAKEN")


async def create(
    session: AsyncSession, actor: Principal, owner: uuid.UUID, name: str, description: str | None
) -> Inventory:
    require_admin(actor, owner)
    name = _clean_name(name)
    await _refuse_taken(session, owner, name)
    row = Inventory(id=uuid.uuid4(), tenant_id=owner, name=name, description=description)
    session.add(row)
    await session.flush()
    await _audit(session, actor, row, "create")
    return row


async def owned(session: AsyncSession, actor: Principal, inventory_id: uuid.UUID) -> Inventory:
    """An inventory the actor administers, locked; ``NOT_FOUND`` for anyone else's."""
    row = await session.scalar(
        select(Inventory).where(Inventory.id == inventory_id).with_for_update()
    )
    if row is None or not actor.administers(row.tenant_id):
        raise NotFound("no such inventory you administer")
    return row


async def update(
    session: AsyncSession,
    actor: Principal,
    inventory_id: uuid.UUID,
    name: str | None,
    description: str | None,
    *,
    set_description: bool,
) -> Inventory:
    row = await owned(session, actor, inventory_id)
    if name is not None:
        name = _clean_name(name)
        await _refuse_taken(session, row.tenant_id, name, ignore=row.id)
        row.name = name
    if set_description:
        row.description = description
    await session.flush()
    await _audit(session, actor, row, "update")
    return row


async def _owner_records(
    session: AsyncSession, owner: uuid.UUID, records: Sequence[tuple[str, uuid.UUID]]
) -> None:
    """``BAD_USER_INPUT`` unless every record is in the owner's own directory."""
    by_type: dict[str, set[uuid.UUID]] = defaultdict(set)
    for type_name, record_id in records:
        by_type[type_name].add(record_id)
    foreign: list[str] = []
    for type_name, ids in by_type.items():
        model, _ = RECORD_TYPES[type_name]
        found = set(
            (
                await session.scalars(
                    select(model.id).where(model.id.in_(ids), model.tenant_id == owner)
                )
            ).all()
        )
        foreign += sorted(f"{type_name}:{i}" for i in ids - found)
    if foreign:
        raise BadUserInput(
            "inventories list records of their own tenant's directory only; not: "
            + ", ".join(foreign),
            reason="NOT_OWN_RECORD",
            field="recordIds",
        )


async def add_items(
    session: AsyncSession,
    actor: Principal,
    inventory_id: uuid.UUID,
    records: Sequence[tuple[str, uuid.UUID]],
) -> Inventory:
    """Add records (type name, id); ones listed already stay as they are."""
    row = await owned(session, actor, inventory_id)
    await _owner_records(session, row.tenant_id, records)
    present = {(i.record_type, i.record_id) for i in (await items_of(session, [row.id]))[row.id]}
    wanted = dict.fromkeys((RECORD_TYPES[t][1], i) for t, i in records)
    added = [key for key in wanted if key not in present]
    session.add_all(
        InventoryItem(
            id=uuid.uuid4(),
            tenant_id=row.tenant_id,
            inventory_id=row.id,
            record_type=item_type,
            record_id=record_id,
        )
        for item_type, record_id in added
    )
    row.updated_at = datetime.now(UTC)
    await session.flush()
    await _audit(session, actor, row, "add_items", items=[f"{t}:{i}" for t, i in added])
    return row


async def remove_items(
    session: AsyncSession,
    actor: Principal,
    inventory_id: uuid.UUID,
    records: Sequence[tuple[str, uuid.UUID]],
) -> Inventory:
    row = await owned(session, actor, inventory_id)
    for type_name, record_id in records:
        await session.execute(
            delete(InventoryItem).where(
                InventoryItem.inventory_id == row.id,
                InventoryItem.record_type == RECORD_TYPES[type_name][1],
                InventoryItem.record_id == record_id,
            )
        )
    row.updated_at = datetime.now(UTC)
    await session.flush()
    await _audit(
        session,
        actor,
        row,
        "remove_items",
        items=[f"{RECORD_TYPES[t][1]}:{i}" for t, i in records],
    )
    return row


async def remove(session: AsyncSession, actor: Principal, inventory_id: uuid.UUID) -> None:
    """Delete an inventory no live agreement shares (revoke or change those first: an agreement
    whose rows silently became none would be a trap)."""
    row = await owned(session, actor, inventory_id)
    now = datetime.now(UTC)
    in_use = (
        await session.scalars(
            select(SharingAgreement.name).where(
                SharingAgreement.tenant_id == row.tenant_id,
                SharingAgreement.row_scope == f"inventory:{row.id}",
                SharingAgreement.revoked_at.is_(None),
                or_(SharingAgreement.valid_until.is_(None), SharingAgreement.valid_until > now),
            )
        )
    ).all()
    if in_use:
        raise Conflict(
            f"agreements share this inventory: {', '.join(sorted(in_use))}; revoke them first",
            reason="INVENTORY_IN_USE",
        )
    await _audit(session, actor, row, "delete")
    await session.delete(row)
    await session.flush()
