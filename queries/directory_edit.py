"""Writes to the resource directory. Each keeps its field history and adds its event.

History follows HSDS ``metadata``: one ``DirectoryChange`` per field whose value changed, with
who and when (a create changes fields from null, a delete to null; a taxonomy link changes the
record's ``taxonomy_terms``). Every written record gets its outbox event in the same
transaction. Rows are read ``FOR UPDATE`` through the plan's write filter, so a row that left
the caller's write scopes since it was read is ``NOT_FOUND`` here too.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.base import utcnow
from sharegraph.datastore.enums import EventType
from sharegraph.datastore.models import (
    Attribute,
    DirectoryChange,
    Location,
    Organization,
    Phone,
    Program,
    Schedule,
    Service,
    ServiceAtLocation,
)
from sharegraph.datastore.outbox import record_event
from sharegraph.datastore.versioning import bump, check_version
from sharegraph.errors import Forbidden, NotFound

if TYPE_CHECKING:
    from sharegraph.authz.plan import AccessPlan

# HSDS table names, the ``resource_type`` of history rows and the ``link_entity`` of attributes.
RESOURCE_TYPES: dict[Any, str] = {
    Organization: "organization",
    Service: "service",
    Location: "location",
    ServiceAtLocation: "service_at_location",
    Program: "program",
    Phone: "phone",
    Schedule: "schedule",
}
TAXONOMY_FIELD = "taxonomy_terms"
_BOOKKEEPING = frozenset({"id", "tenant_id", "version", "created_at", "updated_at"})


def as_text(value: Any) -> str | None:
    """A value as history keeps it: JSON-like spelling for booleans, ISO dates."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _history(
    session: AsyncSession,
    row: Any,
    action: str,
    changes: Mapping[str, tuple[Any, Any]],
    actor_id: uuid.UUID | None,
) -> None:
    at = utcnow()
    resource_type = RESOURCE_TYPES[type(row)]
    session.add_all(
        DirectoryChange(
            id=uuid.uuid4(),
            tenant_id=row.tenant_id,
            resource_id=row.id,
            resource_type=resource_type,
            action=action,
            field_name=column,
            previous_value=as_text(before),
            replacement_value=as_text(after),
            changed_by_id=actor_id,
            changed_at=at,
        )
        for column, (before, after) in sorted(changes.items())
    )


async def locked(
    session: AsyncSession, plan: AccessPlan, model: Any, row_id: uuid.UUID, what: str
) -> Any:
    """The row to change, locked, if the plan still lets the caller write it."""
    from sharegraph.authz.plan import Action

    row = await session.scalar(
        select(model)
        .where(model.id == row_id, plan.row_filter(model, Action.WRITE))
        .with_for_update()
    )
    if row is None:
        raise NotFound(f"no such {what} you may change")
    return row


async def require_in_write_scope(
    session: AsyncSession, plan: AccessPlan, model: Any, row: Any, what: str
) -> None:
    """A record created under a scoped grant must land inside one of the caller's write scopes
    (else the caller could create what it can then never see or change)."""
    from sharegraph.authz.plan import Action

    hit = await session.scalar(
        select(model.id).where(model.id == row.id, plan.row_filter(model, Action.WRITE))
    )
    if hit is None:
        raise Forbidden(
            f"the new {what} would fall outside the records you may change",
            reason="OUTSIDE_WRITE_SCOPE",
        )


async def create(
    session: AsyncSession,
    model: Any,
    owner: uuid.UUID,
    values: Mapping[str, Any],
    actor_id: uuid.UUID | None,
) -> Any:
    row = model(id=uuid.uuid4(), tenant_id=owner, version=1, **values)
    session.add(row)
    await session.flush()
    _history(
        session, row, "create", {c: (None, v) for c, v in values.items() if v is not None}, actor_id
    )
    record_event(session, row, EventType.CREATED, actor_id)
    await session.flush()
    return row


async def update(
    session: AsyncSession,
    plan: AccessPlan,
    model: Any,
    row_id: uuid.UUID,
    expected_version: int,
    values: Mapping[str, Any],
    actor_id: uuid.UUID | None,
    *,
    what: str,
    action: str = "update",
) -> Any:
    """Apply ``values``; unchanged values write nothing (no history, event or new version)."""
    row = await locked(session, plan, model, row_id, what)
    check_version(row, expected_version, what)
    changed = {c: (getattr(row, c), v) for c, v in values.items() if getattr(row, c) != v}
    if not changed:
        return row
    for column, (_, value) in changed.items():
        setattr(row, column, value)
    row.version = expected_version + 1
    await session.flush()
    _history(session, row, action, changed, actor_id)
    record_event(session, row, EventType.UPDATED, actor_id)
    await session.flush()
    return row


async def delete(
    session: AsyncSession,
    plan: AccessPlan,
    model: Any,
    row_id: uuid.UUID,
    expected_version: int,
    actor_id: uuid.UUID | None,
    *,
    what: str,
) -> None:
    row = await locked(session, plan, model, row_id, what)
    bump(row, expected_version, what)
    values = {
        c.key: getattr(row, c.key) for c in model.__table__.columns if c.key not in _BOOKKEEPING
    }
    _history(
        session, row, "delete", {c: (v, None) for c, v in values.items() if v is not None}, actor_id
    )
    record_event(session, row, EventType.DELETED, actor_id)
    await session.delete(row)
    await session.flush()


async def link_term(
    session: AsyncSession,
    plan: AccessPlan,
    model: Any,
    record_id: uuid.UUID,
    term_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    *,
    add: bool,
    expected_version: int | None,
    what: str,
) -> Any:
    """Add or remove one taxonomy term on a record (HSDS ``attribute``). Links are a set: adding
    one that exists or removing one that does not changes nothing."""
    record = await locked(session, plan, model, record_id, what)
    if expected_version is not None:
        check_version(record, expected_version, what)
    entity = RESOURCE_TYPES[model]
    existing = await session.scalar(
        select(Attribute).where(
            Attribute.link_entity == entity,
            Attribute.link_id == record_id,
            Attribute.taxonomy_term_id == term_id,
        )
    )
    if add == (existing is not None):
        return record
    if add:
        session.add(
            Attribute(
                id=uuid.uuid4(),
                tenant_id=record.tenant_id,
                link_id=record_id,
                link_type="taxonomy_term",
                link_entity=entity,
                taxonomy_term_id=term_id,
            )
        )
    else:
        await session.delete(existing)
    record.version += 1
    await session.flush()
    change = (None, term_id) if add else (term_id, None)
    _history(session, record, "update", {TAXONOMY_FIELD: change}, actor_id)
    record_event(session, record, EventType.UPDATED, actor_id)
    await session.flush()
    return record
