"""Contact records into the target: a full pass (every record the principal may read, in
pages, then the rows it no longer may read deleted) or an incremental one (the records the
outbox events after the checkpoint touch, re-read under the plan: written when readable,
deleted when not).

What a record carries is decided by :class:`ContactRecordStream` under the ``read`` action: the
same disclosure seam, row scopes, field masks, answer keys and Part 2 consents as a query.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore import models as m
from sharegraph.datastore.relay import CommittedEvent
from sharegraph.exporters.contact_records import (
    FIXED_COLUMNS,
    RECORD_TYPE,
    ContactRecordStream,
    ExportedRecord,
    ExportFilter,
)
from sharegraph.exporters.replication import target as t

WHAT = "contact-records"
__all__ = ["RECORD_TYPE", "WHAT"]

# The export column key -> the target column (snake case); "needs" is a table of its own.
_COLUMN = {
    c.key: "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in c.key)
    for c in FIXED_COLUMNS
    if c.key != "needs"
}
assert set(_COLUMN.values()) <= set(t.contact_record.c.keys()), "target schema lags the catalogue"


def _cell(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return t.utc(value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def target_rows(
    records: Iterable[ExportedRecord], pass_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(contact_record rows, contact_record_need rows) of exported records; what the plan
    withheld is absent from ``values`` and so NULL."""
    rows, needs = [], []
    for record in records:
        row: dict[str, Any] = {column: None for column in _COLUMN.values()}
        for key, value in record.values.items():
            if key in _COLUMN:
                row[_COLUMN[key]] = _cell(value)
        row["id"] = str(record.id)
        row["answers"] = (
            json.dumps(record.answers, default=_json_default, sort_keys=True)
            if record.answers
            else None
        )
        row[t._PASS] = pass_id
        rows.append(row)
        for position, need in enumerate(record.values.get("needs") or []):
            needs.append({"contact_record_id": row["id"], "position": position, "need": need})
    return rows, needs


def write(
    connection: Connection,
    rows: list[dict[str, Any]],
    needs: list[dict[str, Any]],
    gone: Sequence[str] = (),
) -> None:
    """Upsert ``rows`` (and their needs), delete ``gone``; in the caller's transaction."""
    ids = [r["id"] for r in rows] + list(gone)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        need = t.contact_record_need
        connection.execute(delete(need).where(need.c.contact_record_id.in_(chunk)))
    t.replace_rows(connection, t.contact_record, rows, list(gone))
    if needs:
        connection.execute(insert(t.contact_record_need), needs)


def sweep(connection: Connection, pass_id: str) -> int:
    removed = t.sweep(connection, t.contact_record, pass_id)
    need = t.contact_record_need
    # NOT EXISTS, not NOT IN (subquery): PostgreSQL plans NOT IN as a subplan re-scanned per
    # row once the ids outgrow work_mem (minutes at 100k records), NOT EXISTS as an anti-join.
    record = t.contact_record
    connection.execute(delete(need).where(~exists().where(record.c.id == need.c.contact_record_id)))
    return removed


# Events that change which contact records a scope covers (README, "Replication"): a referral,
# its outcome, a follow-up or a queue entry decides whether a partner reads the record.
async def affected_records(
    session: AsyncSession, events: Sequence[CommittedEvent]
) -> set[uuid.UUID]:
    """The contact records these events may have changed or moved into or out of a scope.
    Read without row-level security: a referral that left the scope still names its record."""
    by_type: dict[str, set[uuid.UUID]] = {}
    for event in events:
        by_type.setdefault(event.record_type, set()).add(event.record_id)
    found = set(by_type.get("ContactRecord", ()))
    links: list[tuple[Any, Any]] = [
        (m.Referral, m.Referral.contact_record_id),
        (m.FollowUp, m.FollowUp.contact_record_id),
        (m.QueueEntry, m.QueueEntry.contact_record_id),
    ]
    for model, column in links:
        ids = by_type.get(model.__name__)
        if ids:
            rows = await session.scalars(select(column).where(model.id.in_(ids)))
            found.update(r for r in rows if r is not None)
    outcomes = by_type.get("Outcome")
    if outcomes:
        rows = await session.scalars(
            select(m.Referral.contact_record_id)
            .join(m.Outcome, m.Outcome.referral_id == m.Referral.id)
            .where(m.Outcome.id.in_(outcomes))
        )
        found.update(rows)
    return found


def stream(
    session: AsyncSession, access: Any, page_size: int, ids: Sequence[uuid.UUID] = ()
) -> ContactRecordStream:
    return ContactRecordStream(session, access, ExportFilter(ids=tuple(ids)), batch_size=page_size)
