"""The audit trail: what each request read, was refused and disclosed, written before it
answers.

Writing (request path)
    One :class:`AuditCollector` per request gathers, in memory, every contact-record field the
    request returns (``read``), every refusal (``denied``) and every disclosure to another
    organization (``disclosure``). :func:`flush` writes what was gathered before the response
    is sent, in a transaction shared with the flushes that arrive meanwhile (group commit): if
    it fails, the response must fail too. Flushing only INSERTs rows; it takes no lock shared by
    every request (SQLite serializes its writers by nature, PostgreSQL does not). Policy and
    credential changes write their row with ``await record(...)`` inside their own transaction,
    so the change and its audit row commit together.

Sealing and verifying the committed rows: :mod:`sharegraph.datastore.audit_chain`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, cast

import orjson
from sqlalchemy import Table, func, insert
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.base import utcnow
from sharegraph.datastore.direct import execute_driver_sql
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models.events import AuditEvent

# Actions written by the request path. Policy and credential changes use dotted names
# (``policy.agreement.create``, ``credentials.key.create``...) through :func:`record`.
READ = "read"
DENIED = "denied"
DISCLOSURE = "disclosure"

_JSON_COLUMNS = ("record_ids", "coordinates", "detail")
AUDIT_EVENTS = cast(Table, AuditEvent.__table__)


# ---------------------------------------------------------------------------------------------
# Writing


def _jsonable(value: Any) -> Any:
    """``value`` with UUIDs, datetimes, enums and sets turned into JSON values."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_jsonable(v) for v in value), key=str)
    if isinstance(value, Iterable):
        return [_jsonable(v) for v in value]
    return str(value)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row to write."""

    tenant_id: uuid.UUID | None
    principal_id: uuid.UUID | None
    action: str
    purpose: str | None = None
    record_type: str | None = None
    record_ids: list[str] | None = None
    coordinates: list[str] | None = None
    detail: dict[str, Any] | None = None

    def values(self) -> dict[str, Any]:
        """Column values; JSON columns left out when None, so they are SQL NULL (not JSON null)."""
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "tenant_id": self.tenant_id,
            "principal_id": self.principal_id,
            "action": self.action,
            "purpose": self.purpose,
            "record_type": self.record_type,
        }
        for name in _JSON_COLUMNS:
            value = getattr(self, name)
            if value is not None:
                values[name] = value
        return values


@dataclass(frozen=True, slots=True)
class _Disclosure:
    owner_tenant_id: uuid.UUID | None
    recipient: str
    purpose: str | None
    record_type: str
    record_ids: list[str]
    coordinates: list[str]
    detail: dict[str, Any] | None


def _sorted_strings(values: Iterable[Any]) -> list[str]:
    return sorted({str(v) for v in values})


class AuditCollector:
    """What one request read, was refused and disclosed. In memory only; see :func:`flush`.

    ``home`` names the caller's organization as a disclosure recipient (``tenant:<uuid>`` or
    ``partner:<uuid>``); ``home_tenant_id`` is its tenant (None for partner users). Reading
    another tenant's records is recorded twice in that tenant's trail: a ``read`` and a
    ``disclosure`` to ``home``.
    """

    __slots__ = (
        "_denied",
        "_disclosures",
        "_reads",
        "home",
        "home_tenant_id",
        "principal_id",
        "purpose",
        "readers",
    )

    def __init__(
        self,
        principal_id: uuid.UUID | None,
        home: str,
        home_tenant_id: uuid.UUID | None,
        purpose: str | None = None,
    ) -> None:
        self.principal_id = principal_id
        self.home = home
        self.home_tenant_id = home_tenant_id
        self.purpose = purpose
        # (owner tenant, record type) -> (record ids, coordinates)
        # (record ids as UUIDs or their canonical text: compiled reads keep the text)
        self._reads: dict[tuple[uuid.UUID, str], tuple[set[uuid.UUID | str], set[str]]] = {}
        # (owner tenant, coordinate) -> first reason
        self._denied: dict[tuple[uuid.UUID | None, str], str] = {}
        self._disclosures: list[_Disclosure] = []
        # For one evaluation answered to several principals (a subscription cohort): the
        # (principal, purpose) of each, every one named in its own rows of the same insert.
        self.readers: list[tuple[uuid.UUID | None, str | None]] = []

    def read(
        self, record_type: str, owner_tenant_id: uuid.UUID, record_id: uuid.UUID, coordinate: str
    ) -> None:
        """One field (``Type.field``) of one record was returned. Called per field: O(1)."""
        bucket = self._reads.get((owner_tenant_id, record_type))
        if bucket is None:
            bucket = self._reads[(owner_tenant_id, record_type)] = (set(), set())
        bucket[0].add(record_id)
        bucket[1].add(coordinate)

    def read_fields(
        self,
        record_type: str,
        owner_tenant_id: uuid.UUID,
        record_id: uuid.UUID | str,
        coordinates: Iterable[str],
    ) -> None:
        """Several fields of one record were returned (one call per record instead of per field);
        ``record_id`` as a UUID or its canonical text (the same record either way)."""
        bucket = self._reads.get((owner_tenant_id, record_type))
        if bucket is None:
            bucket = self._reads[(owner_tenant_id, record_type)] = (set(), set())
        bucket[0].add(record_id)
        bucket[1].update(coordinates)

    def denied(self, owner_tenant_id: uuid.UUID | None, coordinate: str, reason: str) -> None:
        """A field or record was refused. Kept once per (owner, coordinate), with the first
        reason. With no known owner, the refusal goes to the caller's home tenant trail (the
        system trail for partner users)."""
        self._denied.setdefault((owner_tenant_id, coordinate), reason)

    def disclosure(
        self,
        owner_tenant_id: uuid.UUID | None,
        recipient: str,
        purpose: str | None,
        record_type: str,
        record_ids: Iterable[uuid.UUID | str],
        coordinates: Iterable[str],
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Records were disclosed to another organization (a webhook, an export...)."""
        self._disclosures.append(
            _Disclosure(
                owner_tenant_id=owner_tenant_id,
                recipient=recipient,
                purpose=purpose,
                record_type=record_type,
                record_ids=_sorted_strings(record_ids),
                coordinates=_sorted_strings(coordinates),
                detail=_jsonable(detail) if detail is not None else None,
            )
        )

    def __bool__(self) -> bool:
        return bool(self._reads or self._denied or self._disclosures)

    def clear(self) -> None:
        self._reads.clear()
        self._denied.clear()
        self._disclosures.clear()

    def entries(
        self,
        principal_id: uuid.UUID | None = None,
        purpose: str | None = None,
        *,
        reader: bool = False,
    ) -> list[AuditEntry]:
        """The rows to write: per (owner tenant, record type) one ``read`` (plus one
        ``disclosure`` when the owner is not the caller's home tenant), per owner one ``denied``
        listing the refused coordinates, and the explicit disclosures. ``principal_id`` and
        ``purpose`` default to the collector's; a ``reader`` of one shared answer is
        audited with its own purpose, even none (not that of whoever ran the evaluation)."""
        principal = principal_id if principal_id is not None else self.principal_id
        why = purpose if purpose is not None or reader else self.purpose
        out: list[AuditEntry] = []
        for (owner, record_type), (ids, coordinates) in sorted(
            self._reads.items(), key=lambda item: (str(item[0][0]), item[0][1])
        ):
            record_ids = sorted({str(i) for i in ids})
            returned = sorted(coordinates)
            out.append(
                AuditEntry(
                    tenant_id=owner,
                    principal_id=principal,
                    action=READ,
                    purpose=why,
                    record_type=record_type,
                    record_ids=record_ids,
                    coordinates=returned,
                    detail={"home": self.home},
                )
            )
            if owner != self.home_tenant_id:
                out.append(
                    AuditEntry(
                        tenant_id=owner,
                        principal_id=principal,
                        action=DISCLOSURE,
                        purpose=why,
                        record_type=record_type,
                        record_ids=record_ids,
                        coordinates=returned,
                        detail={"recipient": self.home, "channel": "graphql"},
                    )
                )
        refused: dict[uuid.UUID | None, dict[str, str]] = {}
        for (denied_owner, coordinate), reason in self._denied.items():
            where = denied_owner if denied_owner is not None else self.home_tenant_id
            refused.setdefault(where, {})[coordinate] = reason
        for trail, reasons in sorted(refused.items(), key=lambda item: str(item[0])):
            out.append(
                AuditEntry(
                    tenant_id=trail,
                    principal_id=principal,
                    action=DENIED,
                    purpose=why,
                    coordinates=sorted(reasons),
                    detail={"home": self.home, "reasons": dict(sorted(reasons.items()))},
                )
            )
        for d in self._disclosures:
            out.append(
                AuditEntry(
                    tenant_id=d.owner_tenant_id,
                    principal_id=principal,
                    action=DISCLOSURE,
                    purpose=d.purpose if d.purpose is not None else why,
                    record_type=d.record_type,
                    record_ids=d.record_ids,
                    coordinates=d.coordinates,
                    detail={**(d.detail or {}), "recipient": d.recipient},
                )
            )
        return out


def _occurred_at(session: AsyncSession) -> Any:
    """The timestamp of a new audit row: the database clock at INSERT on PostgreSQL (compared
    with ``pg_stat_activity.xact_start`` when sealing), the application clock on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return func.clock_timestamp()
    return utcnow()


async def flush(db: Database, collector: AuditCollector) -> None:
    """Write what ``collector`` gathered; nothing if it gathered nothing.

    Durable when it returns. Raises if the rows could not be written: the caller must then not
    send the data. Clears the collector on success, so a second flush writes nothing twice.
    Flushes that arrive while another is being written go together in the next transaction
    (:class:`_GroupCommit`).
    """
    if collector.readers:
        entries = [
            entry
            for principal_id, purpose in collector.readers
            for entry in collector.entries(principal_id, purpose, reader=True)
        ]
    else:
        entries = collector.entries()
    if not entries:
        return
    await _group_for(db).write(entries)
    collector.clear()


async def _insert(db: Database, entries: list[AuditEntry]) -> None:
    """The entries, durable when it returns, all or none."""
    if db.is_sqlite:
        await _insert_sqlite(db, entries)
    else:
        await _insert_postgresql(db, entries)


# One INSERT of every row, one round trip in autocommit: a single statement is its own
# transaction (all rows or none, durable once it returns), whose ``xact_start`` precedes every
# row's ``occurred_at`` as an explicit transaction's did (what sealing relies on). Rows get
# their positions in the order given (``ORDER BY n``); NULL array elements are SQL NULL. The
# ids are random (version 4) UUIDs as uuid.uuid4 made them, drawn by the server.
_POSTGRESQL_INSERT = (
    "INSERT INTO audit_events (id, tenant_id, occurred_at, principal_id, action, purpose, "
    "record_type, record_ids, coordinates, detail) "
    "SELECT gen_random_uuid(), tenant_id, clock_timestamp(), principal_id, action, purpose, "
    "record_type, record_ids, coordinates, detail FROM unnest($1::uuid[], $2::uuid[], "
    "$3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::jsonb[]) "
    "WITH ORDINALITY AS r(tenant_id, principal_id, action, purpose, record_type, "
    "record_ids, coordinates, detail, n) ORDER BY n"
)


def _json_or_null(value: Any) -> str | None:
    """JSON text for a jsonb column (which keeps the value, not the spelling): orjson's, or
    json.dumps' for what orjson refuses (integers past 64 bits)."""
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return json.dumps(value)


async def _insert_postgresql(db: Database, entries: list[AuditEntry]) -> None:
    columns = (
        [e.tenant_id for e in entries],
        [e.principal_id for e in entries],
        [e.action for e in entries],
        [e.purpose for e in entries],
        [e.record_type for e in entries],
        [_json_or_null(e.record_ids) for e in entries],
        [_json_or_null(e.coordinates) for e in entries],
        [_json_or_null(e.detail) for e in entries],
    )
    async with db.own_autocommit_connection() as connection:
        await execute_driver_sql(connection, _POSTGRESQL_INSERT, columns)


_SQLITE_INSERT = insert(AUDIT_EVENTS)


async def _insert_sqlite(db: Database, entries: list[AuditEntry]) -> None:
    """One executemany per set of columns (JSON columns left out are SQL NULL), usually two,
    in one ``BEGIN IMMEDIATE`` transaction (SQLite's writers queue on it)."""
    batches: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    now = utcnow()
    for entry in entries:
        values = entry.values()
        values["occurred_at"] = now
        batches.setdefault(tuple(values), []).append(values)
    async with db.own_write_session() as session:
        for rows in batches.values():
            await session.execute(_SQLITE_INSERT, rows)


GROUP_COMMIT_MAX_FLUSHES = 200  # flushes written together at most (bounds one transaction)


class _GroupCommit:
    """Group commit for one database in one event loop: while a transaction of audit rows is
    being written, the flushes that arrive wait and are written together in the next one. Under
    load that is one commit (one WAL sync; on SQLite one turn of its single writer) for many
    requests or deliveries instead of one each; alone, a flush is written at once as before.

    Each flush still returns only when its own rows are durable, and fails if they were not
    written. When a shared transaction fails, each of its flushes is tried alone, so one bad
    flush never fails another's answer."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.loop = asyncio.get_running_loop()
        self.waiting: list[tuple[list[AuditEntry], asyncio.Future[None]]] = []
        self.writer: asyncio.Task[None] | None = None

    async def write(self, entries: list[AuditEntry]) -> None:
        done: asyncio.Future[None] = self.loop.create_future()
        # A caller cancelled while waiting leaves its outcome unread: read it here, not as a
        # "never retrieved" warning.
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.waiting.append((entries, done))
        if self.writer is None or self.writer.done():
            self.writer = self.loop.create_task(self._write_waiting(), name="audit-group-commit")
        await asyncio.shield(done)

    async def _write_waiting(self) -> None:
        while self.waiting:
            group = self.waiting[:GROUP_COMMIT_MAX_FLUSHES]
            del self.waiting[:GROUP_COMMIT_MAX_FLUSHES]
            try:
                await _insert(self.db, [entry for entries, _ in group for entry in entries])
            except Exception as error:
                if len(group) == 1:
                    _settle(group[0][1], error)
                    continue
                for entries, done in group:
                    try:
                        await _insert(self.db, entries)
                    except Exception as alone:
                        _settle(done, alone)
                    else:
                        _settle(done, None)
                continue
            except BaseException as error:  # cancelled with the loop: nobody is left waiting
                for _entries, done in group:
                    _settle(done, error)
                raise
            for _entries, done in group:
                _settle(done, None)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    elif isinstance(error, asyncio.CancelledError):
        done.cancel()
    else:
        done.set_exception(error)


_GROUPS: weakref.WeakKeyDictionary[Database, _GroupCommit] = weakref.WeakKeyDictionary()


def _group_for(db: Database) -> _GroupCommit:
    group = _GROUPS.get(db)
    if group is None or group.loop is not asyncio.get_running_loop():
        group = _GROUPS[db] = _GroupCommit(db)
    return group


async def record(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID | None,
    principal_id: uuid.UUID | None,
    action: str,
    detail: Mapping[str, Any] | None,
    record_type: str | None = None,
    record_ids: Iterable[uuid.UUID | str] | None = None,
    coordinates: Iterable[str] | None = None,
    purpose: str | None = None,
) -> uuid.UUID:
    """Write one audit row in the caller's transaction (it commits or rolls back with it); the
    row's id.

    For policy and credential changes (``policy.agreement.create``, ``policy.role.assign``,
    ``credentials.key.create``...): call it in the transaction that makes the change. The INSERT
    runs at once (pending ORM changes are flushed first), so it must be awaited.
    """
    entry = AuditEntry(
        tenant_id=tenant_id,
        principal_id=principal_id,
        action=action,
        purpose=purpose,
        record_type=record_type,
        record_ids=[str(i) for i in record_ids] if record_ids is not None else None,
        coordinates=list(coordinates) if coordinates is not None else None,
        detail=_jsonable(detail) if detail is not None else None,
    )
    values = entry.values()
    await session.execute(insert(AUDIT_EVENTS).values(occurred_at=_occurred_at(session), **values))
    row_id: uuid.UUID = values["id"]
    return row_id


# ---------------------------------------------------------------------------------------------
# Canonical serialization and hashes
