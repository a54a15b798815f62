"""Clients, referrals and outcomes into the target: each row through the disclosure seam like
any query (row filter, row scopes, field masks), fields the principal may not read NULL.

They travel with ``--what contact-records`` (one checkpoint): a full pass copies and sweeps
them; an incremental one re-checks the referrals and outcomes the events name, the outcomes of
those referrals, and the clients of the contact records it re-checks.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Date, Integer, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.catalogue import CATALOGUE, Storage
from sharegraph.authz.disclosure import Disclosure, RowFacts
from sharegraph.datastore import models as m
from sharegraph.exporters.replication import target as t


def _table(name: str, *columns: Column[Any]) -> Table:
    return Table(
        name,
        t.metadata,
        Column("id", t.ID, primary_key=True),
        *columns,
        Column(t._PASS, String(32), nullable=False),
    )


client = _table(
    "client",
    *(Column(n, Text) for n in ("first_name", "last_name", "phone", "postal_code", "county")),
    Column("date_of_birth", Date),
    Column("preferred_language", Text),
)
referral = _table(
    "referral",
    *(Column(n, t.ID, index=True) for n in ("contact_record_id", "service_at_location_id")),
    Column("program_id", t.ID),
    *(Column(n, Text) for n in ("status", "status_reason", "external_id")),
    Column("version", Integer),
    Column("created_at", t.WHEN),
    Column("updated_at", t.WHEN),
)
outcome = _table(
    "outcome",
    Column("referral_id", t.ID, index=True),
    *(Column(n, Text) for n in ("code", "note")),
    Column("outcome_date", Date),
    Column("created_at", t.WHEN),
)


@dataclass(frozen=True)
class Kind:
    model: Any
    type_name: str
    table: Table
    # catalogue field -> target column and the model attribute it reads (relations: their key)
    columns: dict[str, tuple[str, str]]
    structural: dict[str, str]  # target column -> model attribute, always written (links)


def _own_columns(type_name: str, table: Table) -> dict[str, tuple[str, str]]:
    found = {}
    for f in CATALOGUE[type_name].fields:
        if f.storage is Storage.COLUMN and f.column_attribute in table.c and f.name != "uuid":
            found[f.name] = (f.column_attribute, f.column_attribute)
    return found


KINDS: tuple[Kind, ...] = (
    Kind(m.Client, "Client", client, _own_columns("Client", client), {}),
    Kind(
        m.Referral,
        "Referral",
        referral,
        {
            **_own_columns("Referral", referral),
            "contactRecord": ("contact_record_id", "contact_record_id"),
            "serviceAtLocation": ("service_at_location_id", "service_at_location_id"),
            "program": ("program_id", "program_id"),
        },
        {},
    ),
    # An outcome is readable only with its referral (its rows follow the referral's scope).
    Kind(
        m.Outcome,
        "Outcome",
        outcome,
        _own_columns("Outcome", outcome),
        {"referral_id": "referral_id"},
    ),
)
TABLES = tuple(k.table for k in KINDS)


def _cell(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "value") and not isinstance(value, (int, str)):
        return value.value
    return value


async def batches(
    session: AsyncSession,
    access: Disclosure,
    kind: Kind,
    pass_id: str,
    page_size: int,
    ids: Sequence[uuid.UUID] | None = None,
    after: uuid.UUID | None = None,
) -> AsyncGenerator[
    tuple[list[dict[str, Any]], list[tuple[uuid.UUID, uuid.UUID, list[str]]]], None
]:
    """(target rows, (owner, id, coordinates) of each) of the rows the plan lets out, a page
    at a time in id order; only ``ids`` when given; only after the id ``after`` when given."""
    model = kind.model
    owners = access.owners(kind.type_name)
    scope_columns = access.scope_columns(model, owners)
    statement = select(model, *(c.clause.label(c.label) for c in scope_columns)).where(
        access.where(model)
    )
    if ids is not None:
        statement = statement.where(model.id.in_(ids))
    statement = statement.order_by(model.id).limit(page_size)
    last: uuid.UUID | None = after
    while True:
        page = statement if last is None else statement.where(model.id > last)
        found = (await session.execute(page)).all()
        if not found:
            return
        rows, disclosed = [], []
        for result in found:
            record = result[0]
            mapping = result._mapping
            scopes = frozenset(
                c.scope for c in scope_columns if c.owner == record.tenant_id and mapping[c.label]
            )
            decided = access.row(
                kind.type_name, RowFacts(record.id, record.tenant_id, scopes), kind.columns
            )
            row: dict[str, Any] = {c.name: None for c in kind.table.c}
            row["id"] = str(record.id)
            row[t._PASS] = pass_id
            for column, attribute in kind.structural.items():
                row[column] = _cell(getattr(record, attribute))
            for name, (column, attribute) in kind.columns.items():
                if name in decided.fields:
                    row[column] = _cell(getattr(record, attribute))
            rows.append(row)
            disclosed.append((record.tenant_id, record.id, decided.coordinates))
        session.expunge_all()
        yield rows, disclosed
        last = found[-1][0].id
        if len(found) < page_size:
            return


async def affected(
    session: AsyncSession,
    events_by_type: dict[str, set[uuid.UUID]],
    records: Iterable[uuid.UUID],
) -> dict[str, set[uuid.UUID]]:
    """Ids to re-check per kind: the referrals and outcomes named, the outcomes of those
    referrals, the clients of the re-checked contact records. Read without row-level security."""
    referrals = set(events_by_type.get("Referral", ()))
    outcomes = set(events_by_type.get("Outcome", ()))
    if referrals:
        outcomes.update(
            await session.scalars(select(m.Outcome.id).where(m.Outcome.referral_id.in_(referrals)))
        )
    records = list(records)
    clients: set[uuid.UUID] = set()
    if records:
        found = await session.scalars(
            select(m.ContactRecord.client_id).where(m.ContactRecord.id.in_(records))
        )
        clients = {c for c in found if c is not None}
    return {"Client": clients, "Referral": referrals, "Outcome": outcomes}


def write(
    connection: Connection, table: Table, rows: list[dict[str, Any]], gone: list[str]
) -> None:
    t.replace_rows(connection, table, rows, gone)


def sweep(connection: Connection, pass_id: str) -> int:
    return sum(t.sweep(connection, table, pass_id) for table in TABLES)
