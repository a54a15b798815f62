"""Per-tenant hash chains ("seals") over the committed audit rows, so tampering is detectable.

Sealing (``sharegraph audit seal``, periodically)
    Rows are not chained as they are written: that would make every request of a tenant wait on
    the previous one. Instead :func:`seal` later covers the *committed* rows of each tenant (the
    rows with ``tenant_id`` NULL form the "system" chain) with a seal: positions
    ``(previous seal's last_position, last_position]``, their count, a SHA-256 over the
    canonical serialization of every row in position order, and a hash over the previous seal's
    hash, that digest and the seal's metadata.

    PostgreSQL hands out positions in INSERT order, not commit order: a transaction may commit a
    row *below* positions another transaction already committed. To not seal past such a row,
    only rows older than ``settle_seconds`` are sealed, and on PostgreSQL never rows newer than
    the start of the oldest other transaction still in progress that has written something
    (``pg_stat_activity.xact_start``; other sessions' values are visible only when the sealer
    logs in as the application's user, as a superuser or as a member of ``pg_read_all_stats``,
    otherwise only the settle window protects). Audit rows written here take their
    ``occurred_at`` from the database clock on PostgreSQL (``clock_timestamp()`` at INSERT), so
    both sides of that comparison use one clock. A row that still commits below an existing seal
    is reported by :func:`verify` as a row inserted into a sealed range: investigate it like
    one.

    On SQLite a write transaction is exclusive, so no uncommitted row can sit below the rows the
    sealer sees; two sealers queue on the write lock. On PostgreSQL sealers take a
    transaction-scoped advisory lock per chain, and a unique index on (chain, sequence) refuses a
    fork anyway.

Verifying (``sharegraph audit verify --tenant T``)
    :func:`verify` recomputes every seal of one chain and reports the first broken one: a row
    changed, a row missing, a row inserted into a sealed range, or the chain of seals itself
    broken (a seal changed, removed or re-linked). Seals detect changes to sealed rows; rows not
    yet sealed, and removing the newest seals together with their rows, are only detectable by
    comparing with a seal hash kept elsewhere (``verify --json`` prints the head seal's hash).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.audit import AUDIT_EVENTS
from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models.audit import AuditSeal
from sharegraph.datastore.models.events import AuditEvent
from sharegraph.datastore.models.tenants import Tenant

_SUSPECTS_SHOWN = 20
GENESIS_HASH = "0" * 64
DEFAULT_BATCH_SIZE = 5000
SEAL_PAGE = 1000
# Version 1 of the canonical serialization covers exactly these columns of ``audit_events``.
# Adding a column to the table needs a new version (old seals keep verifying with theirs).
SEAL_VERSION = 1
SEALED_COLUMNS: tuple[str, ...] = (
    "position",
    "id",
    "tenant_id",
    "occurred_at",
    "principal_id",
    "action",
    "purpose",
    "record_type",
    "record_ids",
    "coordinates",
    "detail",
)


def _canonical_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def _dumps(value: Mapping[str, Any]) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def canonical_row(row: Mapping[Any, Any]) -> bytes:
    """Stable JSON of one audit row: sorted keys, UTC ISO datetimes, UUIDs as strings."""
    return _dumps({name: _canonical_value(row[name]) for name in SEALED_COLUMNS})


class _RowsDigest:
    """SHA-256 over the canonical rows, one per line, in position order."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.count = 0

    def add(self, row: Mapping[Any, Any]) -> None:
        self._hash.update(canonical_row(row))
        self._hash.update(b"\n")
        self.count += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def seal_hash(
    *,
    previous_seal_hash: str,
    rows_digest: str,
    tenant_id: uuid.UUID | None,
    sequence: int,
    version: int,
    first_position: int,
    last_position: int,
    row_count: int,
    sealed_at: datetime,
) -> str:
    metadata = _dumps(
        {
            "tenant_id": _canonical_value(tenant_id),
            "sequence": sequence,
            "version": version,
            "first_position": first_position,
            "last_position": last_position,
            "row_count": row_count,
            "sealed_at": _canonical_value(sealed_at),
        }
    )
    material = f"{previous_seal_hash}\n{rows_digest}\n".encode("ascii") + metadata
    return hashlib.sha256(material).hexdigest()


def _recompute(seal_row: AuditSeal) -> str:
    return seal_hash(
        previous_seal_hash=seal_row.previous_seal_hash,
        rows_digest=seal_row.rows_digest,
        tenant_id=seal_row.tenant_id,
        sequence=seal_row.sequence,
        version=seal_row.version,
        first_position=seal_row.first_position,
        last_position=seal_row.last_position,
        row_count=seal_row.row_count,
        sealed_at=seal_row.sealed_at,
    )


# ---------------------------------------------------------------------------------------------
# Sealing


def _of_tenant(column: Any, tenant_id: uuid.UUID | None) -> ColumnElement[bool]:
    result: ColumnElement[bool] = column.is_(None) if tenant_id is None else column == tenant_id
    return result


def _chain_name(tenant_id: uuid.UUID | None) -> str:
    return "system" if tenant_id is None else f"tenant:{tenant_id}"


def _lock_key(tenant_id: uuid.UUID | None) -> int:
    digest = hashlib.sha256(f"sharegraph.audit-seal:{_chain_name(tenant_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_PG_CUTOFF = text(
    "SELECT least(clock_timestamp() - make_interval(secs => :settle), "
    "(SELECT min(xact_start) FROM pg_stat_activity WHERE datname = current_database() "
    "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()))"
)


async def _cutoff(session: AsyncSession, settle_seconds: float) -> datetime:
    """Rows that occurred before this are settled: no uncommitted row can sit below them."""
    if session.get_bind().dialect.name == "postgresql":
        value = await session.scalar(_PG_CUTOFF, {"settle": float(settle_seconds)})
        if isinstance(value, datetime):
            return value
    return utcnow() - timedelta(seconds=settle_seconds)


def _rows(tenant_id: uuid.UUID | None, after: int, up_to: int | None) -> Any:
    table = AUDIT_EVENTS
    statement = select(*(table.c[name] for name in SEALED_COLUMNS)).where(
        _of_tenant(table.c.tenant_id, tenant_id), table.c.position > after
    )
    if up_to is not None:
        statement = statement.where(table.c.position <= up_to)
    return statement.order_by(table.c.position)


async def _last_seal(session: AsyncSession, tenant_id: uuid.UUID | None) -> AuditSeal | None:
    return await session.scalar(
        select(AuditSeal)
        .where(_of_tenant(AuditSeal.tenant_id, tenant_id))
        .order_by(AuditSeal.sequence.desc())
        .limit(1)
    )


async def _seal_once(
    db: Database, tenant_id: uuid.UUID | None, settle_seconds: float, batch_size: int
) -> int:
    """Seal up to about ``batch_size`` settled rows of one chain; how many were sealed."""
    async with db.write_session() as session:
        if not db.is_sqlite:
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(tenant_id)}
            )
        previous = await _last_seal(session, tenant_id)
        after = previous.last_position if previous is not None else 0
        cutoff = await _cutoff(session, settle_seconds)
        settled = (
            select(AuditEvent.position)
            .where(
                _of_tenant(AuditEvent.tenant_id, tenant_id),
                AuditEvent.position > after,
                AuditEvent.occurred_at < cutoff,
            )
            .order_by(AuditEvent.position)
            .limit(batch_size)
            .subquery()
        )
        up_to = await session.scalar(select(func.max(settled.c.position)))
        if up_to is None:
            return 0
        digest = _RowsDigest()
        for row in (await session.execute(_rows(tenant_id, after, up_to))).mappings():
            digest.add(row)
        sequence = previous.sequence + 1 if previous is not None else 1
        previous_hash = previous.seal_hash if previous is not None else GENESIS_HASH
        sealed_at = utcnow()
        new = AuditSeal(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            sequence=sequence,
            version=SEAL_VERSION,
            first_position=after + 1,
            last_position=up_to,
            row_count=digest.count,
            rows_digest=digest.hexdigest(),
            previous_seal_hash=previous_hash,
            sealed_at=sealed_at,
        )
        new.seal_hash = _recompute(new)
        session.add(new)
        return digest.count


async def seal(
    db: Database, *, settle_seconds: float = 5.0, batch_size: int = DEFAULT_BATCH_SIZE
) -> int:
    """Seal the settled, not yet sealed rows of every chain; how many rows were sealed.

    Safe to run from several processes at once (a lock per chain; seals never overlap). Each
    seal is its own short transaction covering at most about ``batch_size`` rows.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    async with db.read_session() as session:
        tenants: list[uuid.UUID | None] = list(
            (await session.scalars(select(Tenant.id).order_by(Tenant.id))).all()
        )
    total = 0
    for tenant_id in [None, *tenants]:
        while True:
            sealed = await _seal_once(db, tenant_id, settle_seconds, batch_size)
            total += sealed
            if sealed < batch_size:
                break
    return total


# ---------------------------------------------------------------------------------------------
# Verifying

ROW_CHANGED = "row-changed"
ROW_MISSING = "row-missing"
ROW_INSERTED = "row-inserted"
CHAIN_BROKEN = "chain-broken"


@dataclass(frozen=True)
class SealProblem:
    """Why one seal does not verify."""

    sequence: int
    seal_id: uuid.UUID
    first_position: int
    last_position: int
    kind: str  # ROW_CHANGED, ROW_MISSING, ROW_INSERTED or CHAIN_BROKEN
    message: str
    # Rows in the range that occurred after the seal was made: the likely insertions.
    suspect_positions: tuple[int, ...] = ()

    def describe(self) -> str:
        return (
            f"seal #{self.sequence} (id {self.seal_id}, positions "
            f"{self.first_position}-{self.last_position}): {self.kind}: {self.message}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "sealId": str(self.seal_id),
            "firstPosition": self.first_position,
            "lastPosition": self.last_position,
            "kind": self.kind,
            "message": self.message,
            "suspectPositions": list(self.suspect_positions),
        }


@dataclass(frozen=True)
class VerifyReport:
    tenant_id: uuid.UUID | None
    seals_checked: int
    rows_sealed: int
    rows_unsealed: int
    head_sequence: int | None
    head_seal_hash: str | None
    problems: tuple[SealProblem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_broken(self) -> SealProblem | None:
        return self.problems[0] if self.problems else None

    def to_json(self) -> dict[str, Any]:
        return {
            "chain": _chain_name(self.tenant_id),
            "tenantId": str(self.tenant_id) if self.tenant_id else None,
            "ok": self.ok,
            "sealsChecked": self.seals_checked,
            "rowsSealed": self.rows_sealed,
            "rowsUnsealed": self.rows_unsealed,
            "headSequence": self.head_sequence,
            "headSealHash": self.head_seal_hash,
            "firstBroken": self.first_broken.to_json() if self.first_broken else None,
            "problems": [p.to_json() for p in self.problems],
        }


def _chain_problem(
    seal_row: AuditSeal, expected_sequence: int, previous: AuditSeal | None
) -> str | None:
    if seal_row.version != SEAL_VERSION:
        return f"unknown seal version {seal_row.version}"
    if seal_row.sequence != expected_sequence:
        return f"expected seal #{expected_sequence} here: a seal is missing"
    expected_previous = previous.seal_hash if previous is not None else GENESIS_HASH
    if seal_row.previous_seal_hash != expected_previous:
        return "its previous-seal hash does not match the seal before it"
    expected_first = previous.last_position + 1 if previous is not None else 1
    if seal_row.first_position != expected_first or seal_row.last_position < expected_first:
        return (
            f"its range starts at {seal_row.first_position}, expected {expected_first} "
            "(ranges must follow each other)"
        )
    if _recompute(seal_row) != seal_row.seal_hash:
        return "the seal's own hash does not match its contents: the seal was altered"
    return None


@dataclass
class _SealCheck:
    seal: AuditSeal
    digest: _RowsDigest = field(default_factory=_RowsDigest)
    suspects: list[int] = field(default_factory=list)

    def add(self, row: Mapping[Any, Any]) -> None:
        self.digest.add(row)
        occurred_at = row["occurred_at"]
        if (
            len(self.suspects) < _SUSPECTS_SHOWN
            and isinstance(occurred_at, datetime)
            and occurred_at > self.seal.sealed_at
        ):
            self.suspects.append(int(row["position"]))

    def problem(self) -> SealProblem | None:
        s = self.seal
        found, sealed = self.digest.count, s.row_count
        if found == sealed and self.digest.hexdigest() == s.rows_digest:
            return None
        if found > sealed:
            kind = ROW_INSERTED
            message = (
                f"{found - sealed} more row(s) than were sealed ({found} found, {sealed} sealed): "
                "rows were inserted into a sealed range (or committed after it was sealed)"
            )
        elif found < sealed:
            kind = ROW_MISSING
            message = f"{sealed - found} row(s) missing ({found} found, {sealed} sealed)"
        else:
            kind = ROW_CHANGED
            message = (
                f"the {sealed} row(s) no longer match what was sealed: a row was changed "
                "(or one removed and another inserted)"
            )
        return SealProblem(
            sequence=s.sequence,
            seal_id=s.id,
            first_position=s.first_position,
            last_position=s.last_position,
            kind=kind,
            message=message,
            suspect_positions=tuple(self.suspects),
        )


async def verify(
    db: Database, tenant_id: uuid.UUID | None, *, page_size: int = SEAL_PAGE
) -> VerifyReport:
    """Recompute every seal of one chain (``tenant_id`` None: the system chain).

    Walks the seals a page at a time, streaming each page's rows, so memory stays bounded
    however long the chain is.
    """
    problems: list[SealProblem] = []
    seals_checked = rows_sealed = 0
    previous: AuditSeal | None = None
    walked_up_to = 0  # rows up to here were assigned to a seal
    async with db.read_session() as session:
        if not db.is_sqlite:
            # One snapshot for every seal and row read below.
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        while True:
            after_sequence = previous.sequence if previous is not None else 0
            page = list(
                (
                    await session.scalars(
                        select(AuditSeal)
                        .where(
                            _of_tenant(AuditSeal.tenant_id, tenant_id),
                            AuditSeal.sequence > after_sequence,
                        )
                        .order_by(AuditSeal.sequence)
                        .limit(page_size)
                    )
                ).all()
            )
            if not page:
                break
            chain: list[str | None] = []
            for seal_row in page:
                chain.append(_chain_problem(seal_row, seals_checked + len(chain) + 1, previous))
                previous = seal_row
            checks = [_SealCheck(s) for s in page]
            page_up_to = max(s.last_position for s in page)
            if page_up_to > walked_up_to:
                current = 0
                result = await session.stream(
                    _rows(tenant_id, walked_up_to, page_up_to).execution_options(yield_per=1000)
                )
                async for row in result.mappings():
                    position = int(row["position"])
                    while position > checks[current].seal.last_position:
                        current += 1
                    # Rows below a seal's first position (a hole in a broken chain) count
                    # against it.
                    checks[current].add(row)
                walked_up_to = page_up_to
            for seal_row, why, check in zip(page, chain, checks, strict=True):
                if why is not None:
                    problems.append(
                        SealProblem(
                            sequence=seal_row.sequence,
                            seal_id=seal_row.id,
                            first_position=seal_row.first_position,
                            last_position=seal_row.last_position,
                            kind=CHAIN_BROKEN,
                            message=why,
                        )
                    )
                elif (found := check.problem()) is not None:
                    problems.append(found)
                rows_sealed += seal_row.row_count
            seals_checked += len(page)
            session.expunge_all()
        unsealed = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                _of_tenant(AuditEvent.tenant_id, tenant_id),
                AuditEvent.position > walked_up_to,
            )
        )
    return VerifyReport(
        tenant_id=tenant_id,
        seals_checked=seals_checked,
        rows_sealed=rows_sealed,
        rows_unsealed=int(unsealed or 0),
        head_sequence=previous.sequence if previous is not None else None,
        head_seal_hash=previous.seal_hash if previous is not None else None,
        problems=tuple(problems),
    )
