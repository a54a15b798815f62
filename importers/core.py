"""Parsed records -> one tenant's directory tables, idempotently.

Records match on (tenant, source system, source key). Every table's existing keys of the source
are loaded once up front; rows and children are then read and written per chunk of records
(one SELECT per table and chunk, bulk INSERTs), never one query per record. What is unchanged
is not written at all: no UPDATE, no history, no event. A written record gets one
``DirectoryChange`` per changed field (a create or deactivation gets one row) and one outbox
event; a changed child table (phones, addresses, ...) counts as one changed field of its owner.

The caller owns the transaction; the importer only flushes.
"""

from __future__ import annotations

import uuid
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Table, and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.base import Versioned, utcnow
from sharegraph.datastore.enums import AddressType, EventType, ServiceStatus
from sharegraph.datastore.models import (
    Address,
    Attribute,
    DirectoryChange,
    Language,
    Location,
    Organization,
    Phone,
    Program,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
)
from sharegraph.datastore.outbox import record_events
from sharegraph.datastore.values import clean, first_unstorable, text_problem
from sharegraph.importers.coerce import as_text, coerce, comparable
from sharegraph.importers.records import (
    CHILD_SPECS,
    KINDS,
    MODELS,
    Child,
    ChildTable,
    Item,
    Kind,
    Note,
    Origin,
    Record,
    Ref,
    Rejected,
    SourceName,
)
from sharegraph.importers.report import ImportFailed, ImportReport

CHUNK_SIZE = 500
_IN_BATCH = 500
_BOOKKEEPING = frozenset(
    {"id", "tenant_id", "version", "created_at", "updated_at", "source_system", "source_key"}
)
# Kinds a full import deactivates, and how.
_ACTIVE_FLAG: dict[Kind, str] = {
    "organization": "active",
    "program": "active",
    "location": "active",
    "service_at_location": "active",
    "service": "status",
}
_STAYS_DEACTIVATED = (ServiceStatus.INACTIVE.value, ServiceStatus.DEFUNCT.value)
_NAMED: frozenset[Kind] = frozenset(
    {"taxonomy", "taxonomy_term", "organization", "program", "service"}
)
# What a reference to a record that is neither in the import nor in the directory becomes.
_PLACEHOLDER = "placeholder"  # a placeholder parent flagged for review (--strict: rejected)
_REJECT = "reject"
_DROP = "drop"  # left empty, with a warning
_MISSING_POLICY: dict[tuple[Kind, str], str] = {
    ("program", "organization_id"): _PLACEHOLDER,
    ("service", "organization_id"): _PLACEHOLDER,
    ("location", "organization_id"): _PLACEHOLDER,
    ("service_at_location", "service_id"): _REJECT,
    ("service_at_location", "location_id"): _REJECT,
}
_REQUIRED_REFS: dict[Kind, tuple[str, ...]] = {
    "program": ("organization_id",),
    "service": ("organization_id",),
    "service_at_location": ("service_id", "location_id"),
}
_INSERT_ORDER: tuple[Any, ...] = (
    Taxonomy,
    TaxonomyTerm,
    Organization,
    Program,
    Location,
    Service,
    ServiceAtLocation,
    Address,
    Phone,
    Schedule,
    Language,
    ServiceArea,
    Attribute,
)
_COUNTRIES = {
    "canada": "CA",
    "united states": "US",
    "united states of america": "US",
    "usa": "US",
    "mexico": "MX",
}
REVIEW_SOURCE = "sharegraph"
REVIEW_TAXONOMY_KEY = "import-review"
REVIEW_TERM_KEY = "needs-review"


@dataclass
class Known:
    """A record of the source already in the directory."""

    id: uuid.UUID
    version: int
    state: Any = None  # `active` (bool) or the service status; None for kinds without one


@dataclass
class Prepared:
    record: Record
    id: uuid.UUID
    values: dict[str, Any]
    existing: Known | None
    children: dict[ChildTable, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Deferred:
    """A reference to a record of the same kind (parent organization, parent term), resolved
    once the whole import has been read, since the parent may come later in the file."""

    kind: Kind
    key: str
    id: uuid.UUID
    column: str
    ref: Ref
    origin: Origin
    created: bool


@dataclass
class Pending:
    inserts: dict[Any, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    updates: list[tuple[Any, uuid.UUID, dict[str, Any]]] = field(default_factory=list)
    deletes: dict[Any, list[uuid.UUID]] = field(default_factory=lambda: defaultdict(list))
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[Any, uuid.UUID, int, EventType]] = field(default_factory=list)
    # Placeholders the import has now filled in: their review flag goes.
    unflag: list[uuid.UUID] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            any(self.inserts.values())
            or self.updates
            or any(self.deletes.values())
            or self.history
            or self.events
            or self.unflag
        )


def _versioned(model: Any) -> bool:
    return issubclass(model, Versioned)


def _digest(record: Record) -> int:
    """The content of a record, to tell a repeat (a location nested in several places) from a
    conflicting second version. References are left out: a nested copy may omit its parent."""
    children = {
        table: [(c.values, c.refs) for c in kids] for table, kids in record.children.items()
    }
    return zlib.crc32(repr((record.values, children)).encode())


def _chunks(ids: list[uuid.UUID]) -> Iterable[list[uuid.UUID]]:
    for start in range(0, len(ids), _IN_BATCH):
        yield ids[start : start + _IN_BATCH]


@cache
def _child_columns(model: Any) -> tuple[str, ...]:
    return tuple(c.key for c in model.__table__.columns if c.key not in _BOOKKEEPING)


def _signature(model: Any, values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(comparable(values.get(column)) for column in _child_columns(model))


class Importer:
    def __init__(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        report: ImportReport,
        *,
        path: str,
        carried: frozenset[Kind],
        source: str | None = None,
        partial: bool = False,
        strict: bool = False,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.report = report
        self.path = path
        self.carried = carried
        self.source = source
        self.source_from_option = source is not None
        self.partial = partial
        self.strict = strict
        self.chunk_size = chunk_size
        self.now = utcnow()
        self.started = False
        self.records_read = 0
        self.known: dict[Kind, dict[str, Known]] = {kind: {} for kind in KINDS}
        self.run: dict[tuple[Kind, str], uuid.UUID] = {}
        self.digests: dict[tuple[Kind, str], int] = {}
        self.seen: dict[Kind, set[str]] = {kind: set() for kind in KINDS}
        self.placeholders: set[tuple[Kind, str]] = set()
        self.flagged: set[uuid.UUID] = set()
        self.versions: dict[uuid.UUID, int] = {}
        self.term_labels: dict[uuid.UUID, str] = {}
        self.term_codes: dict[tuple[uuid.UUID, str], str] = {}
        self.sal_pairs: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
        self.deferred: list[Deferred] = []
        self.review_term: uuid.UUID | None = None
        self.pending = Pending()

    # -- driving ------------------------------------------------------------------------------
    async def consume(self, items: Iterable[Item]) -> None:
        chunk: list[Record] = []
        for item in items:
            if isinstance(item, Record):
                if not self.started:
                    await self._start()
                chunk.append(item)
                self.records_read += 1
                if len(chunk) >= self.chunk_size:
                    await self._process(chunk)
                    chunk = []
            elif isinstance(item, Rejected):
                self.report.reject(item.origin, item.reason)
                for ref in item.keys:
                    self.seen[ref.kind].add(ref.key)
            elif isinstance(item, Note):
                self.report.warn(item.origin, item.reason)
            elif isinstance(item, SourceName) and not self.source_from_option:
                self.source = item.name.strip() or None
        if not self.started:
            await self._start()
        if chunk:
            await self._process(chunk)

    async def finish(self) -> None:
        await self._resolve_deferred()
        if self.partial:
            pass
        elif self.records_read == 0:
            self.report.warn(
                Origin(self.path),
                "the import holds no records: nothing deactivated (use --partial for deltas)",
            )
        else:
            self._deactivate_missing()
        await self._flush()

    # -- setup --------------------------------------------------------------------------------
    async def _start(self) -> None:
        self.started = True
        if not self.source:
            raise ImportFailed(
                Origin(self.path),
                "the data does not name its source system; pass --source NAME "
                "(records match on tenant, source system and source key)",
            )
        if len(self.source) > 255:
            raise ImportFailed(Origin(self.path), "the source system name is over 255 characters")
        problem = text_problem(self.source)
        if problem is not None:
            raise ImportFailed(Origin(self.path), f"the source system name {problem}")
        self.report.source = self.source
        await self._load_known()
        await self._load_review_flags()

    async def _load_known(self) -> None:
        for kind in KINDS:
            model = MODELS[kind]
            columns = [model.id, model.source_key]
            columns.append(model.version if _versioned(model) else model.id)
            flag = _ACTIVE_FLAG.get(kind)
            columns.append(getattr(model, flag) if flag else model.id)
            if kind == "taxonomy_term":
                columns += [model.taxonomy_id, model.code, model.name]
            result = await self.session.execute(
                select(*columns).where(
                    model.tenant_id == self.tenant_id, model.source_system == self.source
                )
            )
            known = self.known[kind]
            for row in result:
                version = row[2] if _versioned(model) else 1
                state = comparable(row[3]) if flag else None
                known[row[1]] = Known(row[0], version, state)
                if kind == "taxonomy_term":
                    self.term_labels[row[0]] = row[5] or row[6]
                    if row[4] is not None and row[5] is not None:
                        self.term_codes[(row[4], row[5])] = row[1]

    async def _load_review_flags(self) -> None:
        self.review_term = await self.session.scalar(
            select(TaxonomyTerm.id).where(
                TaxonomyTerm.tenant_id == self.tenant_id,
                TaxonomyTerm.source_system == REVIEW_SOURCE,
                TaxonomyTerm.source_key == REVIEW_TERM_KEY,
            )
        )
        if self.review_term is not None:
            result = await self.session.scalars(
                select(Attribute.link_id).where(
                    Attribute.tenant_id == self.tenant_id,
                    Attribute.taxonomy_term_id == self.review_term,
                )
            )
            self.flagged = set(result)

    def _ensure_review_term(self) -> uuid.UUID:
        if self.review_term is not None:
            return self.review_term
        taxonomy_id, term_id = uuid.uuid4(), uuid.uuid4()
        self.pending.inserts[Taxonomy].append(
            self._stamp(
                {
                    "id": taxonomy_id,
                    "name": "Import review",
                    "description": "Flags records an import created as placeholders.",
                    "source_system": REVIEW_SOURCE,
                    "source_key": REVIEW_TAXONOMY_KEY,
                }
            )
        )
        self.pending.inserts[TaxonomyTerm].append(
            self._stamp(
                {
                    "id": term_id,
                    "taxonomy_id": taxonomy_id,
                    "code": REVIEW_TERM_KEY,
                    "name": "Needs review: placeholder created by an import",
                    "source_system": REVIEW_SOURCE,
                    "source_key": REVIEW_TERM_KEY,
                    "version": 1,
                }
            )
        )
        for model, record_id in ((Taxonomy, taxonomy_id), (TaxonomyTerm, term_id)):
            self._history_create(model, record_id)
            self.pending.events.append((model, record_id, 1, EventType.CREATED))
        self.review_term = term_id
        self.term_labels[term_id] = REVIEW_TERM_KEY
        return term_id

    # -- one chunk ----------------------------------------------------------------------------
    async def _process(self, chunk: list[Record]) -> None:
        by_kind: dict[Kind, list[Record]] = defaultdict(list)
        for record in chunk:
            by_kind[record.kind].append(record)
        for kind in KINDS:
            if by_kind[kind]:
                await self._process_kind(kind, by_kind[kind])
        await self._flush()

    async def _process_kind(self, kind: Kind, records: list[Record]) -> None:
        prepared: list[Prepared] = []
        for record in records:
            ident = (kind, record.key)
            if ident in self.run and ident not in self.placeholders:
                if self.digests.get(ident) != _digest(record):
                    self.report.warn(
                        record.origin,
                        f"{kind} {record.key} appears more than once with different content; "
                        "the first one is kept",
                    )
                continue
            item = self._prepare(record)
            if item is not None:
                prepared.append(item)
        if kind == "service_at_location":
            prepared = await self._adopt_moved_pairs(prepared)
        existing_ids = [p.existing.id for p in prepared if p.existing is not None]
        rows = await self._load_rows(MODELS[kind], existing_ids)
        tables = {table for p in prepared if p.existing is not None for table in p.children}
        children = {table: await self._load_children(table, kind, existing_ids) for table in tables}
        for item in prepared:
            if item.existing is None:
                self._create(item)
            else:
                self._update(item, rows[item.id], children)

    def _prepare(self, record: Record) -> Prepared | None:
        kind, key, origin = record.kind, record.key, record.origin
        if not record.attach_only:
            self.seen[kind].add(key)
        problem = _unstorable(record)
        if problem is not None:
            self.report.reject(origin, f"{kind} {clean(key)}: {problem}")
            return None
        if record.attach_only:
            return self._prepare_attach(record)
        model = MODELS[kind]
        ident = (kind, key)
        if not key or len(key) > 255:
            self.report.reject(origin, f"{kind} has no usable key (id)")
            return None
        values: dict[str, Any] = {}
        for column, raw in record.values.items():
            value, problem = coerce(model, column, raw)
            if problem:
                self.report.warn(origin, f"{kind} {key}: {problem}")
            if value is None and not model.__table__.c[column].nullable:
                continue  # required: checked below, or its default stands
            values[column] = value
        if kind == "taxonomy_term" and not values.get("name") and values.get("code"):
            values["name"] = values["code"]
        if kind in _NAMED and not values.get("name"):
            self.report.reject(origin, f"{kind} {key} has no name")
            return None
        existing = self.known[kind].get(key)
        record_id = existing.id if existing is not None else uuid.uuid4()
        for column, ref in record.refs.items():
            if ref is None:
                values[column] = None
                continue
            target = self._lookup(ref, origin)
            if target is None and ref.kind == kind:
                self.deferred.append(
                    Deferred(kind, key, record_id, column, ref, origin, existing is None)
                )
                continue
            if target is None:
                policy = _MISSING_POLICY.get((kind, column), _DROP)
                what = f"{ref.kind.replace('_', ' ')} {ref.key}"
                if policy == _REJECT or (policy == _PLACEHOLDER and self.strict):
                    self.report.reject(
                        origin, f"{kind} {key} refers to {what}, which is not in the import"
                    )
                    return None
                if policy == _PLACEHOLDER:
                    target = self._placeholder(ref, record)
                else:
                    self.report.warn(
                        origin,
                        f"{kind} {key} refers to {what}, which is not in the import; left out",
                    )
            values[column] = target
        for column in _REQUIRED_REFS.get(kind, ()):
            if values.get(column) is None and (existing is None or column in values):
                self.report.reject(origin, f"{kind} {key} has no {column.removesuffix('_id')}")
                return None
        if kind == "taxonomy_term":
            self._claim_term_code(values, key, origin)
        self.run[ident] = record_id
        self.digests[ident] = _digest(record)
        if kind == "taxonomy_term":
            self.term_labels[record_id] = values.get("code") or values["name"]
        if existing is not None:
            self.versions.setdefault(record_id, existing.version)
        prepared = Prepared(record, record_id, values, existing)
        for table, kids in record.children.items():
            prepared.children[table] = self._prepare_children(table, kind, record_id, kids, record)
        return prepared

    def _prepare_attach(self, record: Record) -> Prepared | None:
        existing = self.known[record.kind].get(record.key)
        tables = ", ".join(record.children)
        if existing is None or not self.partial:
            where = "the import" if existing is not None else "the import nor the directory"
            self.report.warn(
                record.origin,
                f"{tables}: {record.kind} {record.key} is not in {where}; rows skipped",
            )
            return None
        prepared = Prepared(record, existing.id, {}, existing)
        self.versions.setdefault(existing.id, existing.version)
        for table, kids in record.children.items():
            prepared.children[table] = self._prepare_children(
                table, record.kind, existing.id, kids, record
            )
        return prepared

    def _lookup(self, ref: Ref, origin: Origin) -> uuid.UUID | None:
        found = self.run.get((ref.kind, ref.key))
        if found is not None:
            return found
        known = self.known[ref.kind].get(ref.key)
        if known is None:
            return None
        if ref.key not in self.seen[ref.kind]:
            self.seen[ref.kind].add(ref.key)
            if not self.partial and ref.kind in self.carried:
                self.report.warn(
                    origin,
                    f"{ref.kind.replace('_', ' ')} {ref.key} is not in the import; "
                    "kept the existing record it refers to",
                )
        return known.id

    def _claim_term_code(self, values: dict[str, Any], key: str, origin: Origin) -> None:
        taxonomy_id, code = values.get("taxonomy_id"), values.get("code")
        if taxonomy_id is None or code is None:
            return
        holder = self.term_codes.get((taxonomy_id, code))
        if holder is not None and holder != key:
            self.report.warn(
                origin,
                f"taxonomy_term {key}: code {code!r} is already taken by term {holder} in the "
                "same taxonomy; left out",
            )
            values["code"] = None
            return
        self.term_codes[(taxonomy_id, code)] = key

    def _placeholder(self, ref: Ref, referrer: Record) -> uuid.UUID:
        """A placeholder organization, flagged for review, for a parent missing from the file."""
        record_id = uuid.uuid4()
        name = f"(placeholder for {ref.key})"[:255]
        self.pending.inserts[Organization].append(
            self._stamp(
                {
                    "id": record_id,
                    "name": name,
                    "description": (
                        f"Placeholder: {referrer.kind.replace('_', ' ')} {referrer.key} in "
                        f"{referrer.origin.file} belongs to organization {ref.key}, which is "
                        "not in the import. Review it, or import the organization."
                    ),
                    "active": True,
                    "version": 1,
                    "source_system": self.source,
                    "source_key": ref.key,
                }
            )
        )
        review = self._ensure_review_term()
        self.pending.inserts[Attribute].append(
            self._stamp(
                {
                    "id": uuid.uuid4(),
                    "link_id": record_id,
                    "link_type": "review",
                    "link_entity": "organization",
                    "taxonomy_term_id": review,
                    "value": f"parent missing from {referrer.origin.file}",
                    "label": "placeholder",
                }
            )
        )
        self.flagged.add(record_id)
        ident: tuple[Kind, str] = ("organization", ref.key)
        self.run[ident] = record_id
        self.placeholders.add(ident)
        self.seen["organization"].add(ref.key)
        self.known["organization"][ref.key] = Known(record_id, 1, True)
        self.versions[record_id] = 1
        self._history_create(Organization, record_id)
        self.pending.events.append((Organization, record_id, 1, EventType.CREATED))
        self.report.count("organization", "created")
        self.report.placeholders += 1
        self.report.warn(
            referrer.origin,
            f"{referrer.kind} {referrer.key}: its organization {ref.key} is not in the import; "
            f"kept under the placeholder organization {name!r}, flagged for review",
        )
        return record_id

    def _prepare_children(
        self, table: ChildTable, kind: Kind, owner_id: uuid.UUID, kids: list[Child], record: Record
    ) -> list[dict[str, Any]]:
        spec = CHILD_SPECS[table]
        model = spec.model
        out: list[dict[str, Any]] = []
        terms_seen: set[uuid.UUID] = set()
        for child in kids:
            origin = child.origin or record.origin
            values: dict[str, Any] = {}
            for column, raw in child.values.items():
                if column == "country" and isinstance(raw, str):
                    raw = _COUNTRIES.get(raw.strip().lower(), raw)
                    if len(raw.strip()) > 2:
                        self.report.warn(origin, f"{table[:-1]}: country {raw!r} is not a code")
                        raw = None
                value, problem = coerce(model, column, raw)
                if problem:
                    self.report.warn(origin, f"{record.kind} {record.key} {table}: {problem}")
                if value is None and not model.__table__.c[column].nullable:
                    continue
                values[column] = value
            skip = False
            for column, ref in child.refs.items():
                target = self._lookup(ref, origin)
                if target is None:
                    what = f"{ref.kind.replace('_', ' ')} {ref.key}"
                    self.report.warn(
                        origin,
                        f"{record.kind} {record.key} {table}: {what} is not in the import; "
                        + ("skipped" if table == "attributes" else "link left out"),
                    )
                    skip = table == "attributes"
                values[column] = target
            if skip or not self._complete_child(table, values, record, origin):
                continue
            if table == "attributes":
                term = values["taxonomy_term_id"]
                if term in terms_seen:
                    continue
                terms_seen.add(term)
                values.setdefault("link_type", "taxonomy_term")
                values["link_entity"] = kind
                values["link_id"] = owner_id
            else:
                values[spec.owners[kind]] = owner_id
            out.append(values)
        return out

    def _complete_child(
        self, table: ChildTable, values: dict[str, Any], record: Record, origin: Origin
    ) -> bool:
        if table == "phones" and not values.get("number"):
            self.report.warn(origin, f"{record.kind} {record.key}: a phone without a number")
            return False
        if table == "addresses":
            if not any(values.get(c) for c in ("address_1", "city", "postal_code")):
                return False
            for column in ("address_1", "city", "state_province", "postal_code", "country"):
                if values.get(column) is None:
                    values[column] = ""
            if values.get("address_type") is None:
                values["address_type"] = AddressType.PHYSICAL
        return not (table == "attributes" and values.get("taxonomy_term_id") is None)

    async def _adopt_moved_pairs(self, prepared: list[Prepared]) -> list[Prepared]:
        """A new service-at-location key for a (service, location) pair the directory holds:
        the same source re-keyed it (adopted), or another one owns the pair (rejected)."""
        kept: list[Prepared] = []
        fresh: dict[tuple[Any, Any], Prepared] = {}
        for item in prepared:
            pair = (item.values.get("service_id"), item.values.get("location_id"))
            holder = self.sal_pairs.get(pair)  # type: ignore[arg-type]
            if holder is not None and holder != item.record.key:
                self.report.reject(
                    item.record.origin,
                    f"service_at_location {item.record.key}: service and location are already "
                    f"paired by service_at_location {holder}",
                )
                self.run.pop(("service_at_location", item.record.key), None)
                continue
            self.sal_pairs[pair] = item.record.key  # type: ignore[index]
            kept.append(item)
            if item.existing is None:
                fresh[pair] = item
        if not fresh:
            return kept
        services = list({pair[0] for pair in fresh})
        found: dict[tuple[Any, Any], Any] = {}
        for batch in _chunks(services):
            result = await self.session.execute(
                select(
                    ServiceAtLocation.id,
                    ServiceAtLocation.service_id,
                    ServiceAtLocation.location_id,
                    ServiceAtLocation.source_system,
                    ServiceAtLocation.source_key,
                    ServiceAtLocation.version,
                    ServiceAtLocation.active,
                ).where(
                    ServiceAtLocation.tenant_id == self.tenant_id,
                    ServiceAtLocation.service_id.in_(batch),
                )
            )
            for hit in result:
                found[(hit.service_id, hit.location_id)] = hit
        out: list[Prepared] = []
        for item in kept:
            pair = (item.values.get("service_id"), item.values.get("location_id"))
            row = found.get(pair) if item.existing is None else None
            if row is None:
                out.append(item)
                continue
            if row.source_system != self.source:
                self.report.reject(
                    item.record.origin,
                    f"service_at_location {item.record.key}: its service and location are "
                    "already paired by a record of another source",
                )
                continue
            # Re-keyed by the source: the old key is this record now.
            self.seen["service_at_location"].add(row.source_key)
            self.known["service_at_location"].pop(row.source_key, None)
            item.existing = Known(row.id, row.version, row.active)
            self.run[("service_at_location", item.record.key)] = row.id
            item.values["source_key"] = item.record.key
            item.id = row.id
            self.versions.setdefault(row.id, row.version)
            for table, kids in item.children.items():
                for kid in kids:
                    column = "link_id" if table == "attributes" else "service_at_location_id"
                    kid[column] = row.id
            out.append(item)
        return out

    # -- reading what is there ----------------------------------------------------------------
    async def _load_rows(self, model: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
        rows: dict[uuid.UUID, Any] = {}
        for batch in _chunks(ids):
            result = await self.session.execute(
                select(*model.__table__.columns).where(model.id.in_(batch))
            )
            for row in result.mappings():
                rows[row["id"]] = row
        return rows

    async def _load_children(
        self, table: ChildTable, kind: Kind, owner_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[Any]]:
        spec = CHILD_SPECS[table]
        model = spec.model
        grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
        if table == "attributes":
            owner_column = "link_id"
        elif kind in spec.owners:
            owner_column = spec.owners[kind]
        else:
            return grouped
        for batch in _chunks(owner_ids):
            if table == "attributes":
                where = and_(Attribute.link_entity == kind, Attribute.link_id.in_(batch))
                if self.review_term is not None:
                    where = and_(where, Attribute.taxonomy_term_id != self.review_term)
            else:
                more_specific = list(spec.owners.values())
                more_specific = more_specific[: more_specific.index(owner_column)]
                where = and_(
                    getattr(model, owner_column).in_(batch),
                    *(getattr(model, column).is_(None) for column in more_specific),
                )
            result = await self.session.execute(select(*model.__table__.columns).where(where))
            for row in result.mappings():
                grouped[row[owner_column]].append(row)
        return grouped

    # -- writing ------------------------------------------------------------------------------
    def _stamp(self, values: dict[str, Any]) -> dict[str, Any]:
        return {
            **values,
            "tenant_id": self.tenant_id,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _create(self, item: Prepared) -> None:
        record = item.record
        model = MODELS[record.kind]
        row = {
            **item.values,
            "id": item.id,
            "source_system": self.source,
            "source_key": record.key,
        }
        if _versioned(model):
            row["version"] = 1
        flag = _ACTIVE_FLAG.get(record.kind)
        if flag == "active":
            row["active"] = True
        elif flag == "status":
            row.setdefault("status", ServiceStatus.ACTIVE)
        self.pending.inserts[model].append(self._stamp(row))
        for table, kids in item.children.items():
            child_model = CHILD_SPECS[table].model
            for kid in kids:
                self.pending.inserts[child_model].append(self._stamp({"id": uuid.uuid4(), **kid}))
        self._history_create(model, item.id)
        self.pending.events.append((model, item.id, 1, EventType.CREATED))
        self.report.count(record.kind, "created")

    def _update(
        self,
        item: Prepared,
        row: Any,
        children: dict[ChildTable, dict[uuid.UUID, list[Any]]],
    ) -> None:
        record = item.record
        kind = record.kind
        model = MODELS[kind]
        changes: dict[str, tuple[Any, Any]] = {}
        for column, value in item.values.items():
            if comparable(row[column]) != comparable(value):
                changes[column] = (row[column], value)
        flag = None if record.attach_only else _ACTIVE_FLAG.get(kind)
        if flag == "active" and row["active"] is False and "active" not in item.values:
            changes["active"] = (False, True)
        if (
            flag == "status"
            and "status" not in item.values
            and comparable(row["status"]) == ServiceStatus.INACTIVE.value
        ):
            changes["status"] = (row["status"], ServiceStatus.ACTIVE)
        child_changes: dict[str, tuple[str | None, str | None]] = {}
        for table, kids in item.children.items():
            change = self._diff_children(table, kids, children.get(table, {}).get(item.id, []))
            if change is not None:
                child_changes[CHILD_SPECS[table].history_field] = change
        ident = (kind, record.key)
        if item.id in self.flagged and kind == "organization":
            self._unflag(item.id)
            self.placeholders.discard(ident)
        if not changes and not child_changes:
            self.report.count(kind, "unchanged")
            return
        self._write_update(model, item.id, {c: new for c, (_, new) in changes.items()})
        history = {c: (as_text(old), as_text(new)) for c, (old, new) in changes.items()}
        history.update(child_changes)
        self._history(model, item.id, "update", history)
        self.report.count(kind, "updated")

    def _write_update(self, model: Any, record_id: uuid.UUID, values: dict[str, Any]) -> None:
        version = self.versions.get(record_id, 1) + 1
        self.versions[record_id] = version
        values = {**values, "updated_at": self.now}
        if _versioned(model):
            values["version"] = version
        self.pending.updates.append((model, record_id, values))
        self.pending.events.append((model, record_id, version, EventType.UPDATED))

    def _unflag(self, record_id: uuid.UUID) -> None:
        self.flagged.discard(record_id)
        if self.review_term is not None:
            self.pending.unflag.append(record_id)

    def _diff_children(
        self, table: ChildTable, new: list[dict[str, Any]], old: list[Any]
    ) -> tuple[str | None, str | None] | None:
        model = CHILD_SPECS[table].model
        remaining: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
        for row in old:
            remaining[_signature(model, dict(row))].append(row)
        added: list[dict[str, Any]] = []
        for values in new:
            signature = _signature(model, values)
            if remaining.get(signature):
                remaining[signature].pop()
            else:
                added.append(values)
        removed = [row for rows in remaining.values() for row in rows]
        if not added and not removed:
            return None
        for row in removed:
            self.pending.deletes[model].append(row["id"])
        for values in added:
            self.pending.inserts[model].append(self._stamp({"id": uuid.uuid4(), **values}))
        return (
            self._labels(table, [dict(row) for row in old]),
            self._labels(table, new),
        )

    def _labels(self, table: ChildTable, rows: list[dict[str, Any]]) -> str | None:
        labels = sorted(filter(None, (self._label(table, row) for row in rows)))
        return "; ".join(labels) if labels else None

    def _label(self, table: ChildTable, row: dict[str, Any]) -> str | None:
        def text(*columns: str, sep: str = " ") -> str:
            return sep.join(
                str(as_text(row.get(c))) for c in columns if row.get(c) not in (None, "")
            )

        if table == "phones":
            number = text("number")
            if row.get("extension"):
                number += f" x{row['extension']}"
            if row.get("type"):
                number += f" ({row['type']})"
            return number
        if table == "addresses":
            where = text("address_1", "city", "state_province", "postal_code", sep=", ")
            return f"{where} [{as_text(row.get('address_type'))}]"
        if table == "schedules":
            return row.get("description") or text(
                "valid_from", "valid_to", "freq", "byday", "opens_at", "closes_at"
            )
        if table == "languages":
            return row.get("name") or row.get("code")
        if table == "service_areas":
            return row.get("name") or row.get("description")
        term = row.get("taxonomy_term_id")
        label: str | None = self.term_labels.get(term, str(term)) if term else None
        if label and row.get("value"):
            label += f"={row['value']}"
        return label

    def _history_create(self, model: Any, record_id: uuid.UUID) -> None:
        self._history(model, record_id, "create", {None: (None, None)})

    def _history(
        self,
        model: Any,
        record_id: uuid.UUID,
        action: str,
        changes: dict[Any, tuple[str | None, str | None]],
    ) -> None:
        resource_type = _RESOURCE_TYPES[model]
        for column, (before, after) in sorted(changes.items(), key=lambda c: str(c[0])):
            self.pending.history.append(
                {
                    "id": uuid.uuid4(),
                    "tenant_id": self.tenant_id,
                    "resource_id": record_id,
                    "resource_type": resource_type,
                    "action": action,
                    "field_name": column,
                    "previous_value": before,
                    "replacement_value": after,
                    "changed_by_id": None,
                    "changed_at": self.now,
                }
            )

    # -- after the last record ----------------------------------------------------------------
    async def _resolve_deferred(self) -> None:
        if not self.deferred:
            return
        pending = [d for d in self.deferred if not d.created]
        previous: dict[uuid.UUID, Any] = {}
        for kind in {d.kind for d in pending}:
            model = MODELS[kind]
            column = "parent_organization_id" if kind == "organization" else "parent_id"
            for batch in _chunks([d.id for d in pending if d.kind == kind]):
                result = await self.session.execute(
                    select(model.id, getattr(model, column)).where(model.id.in_(batch))
                )
                previous.update({row[0]: row[1] for row in result})
        for item in self.deferred:
            target = self._lookup(item.ref, item.origin)
            if target is None:
                self.report.warn(
                    item.origin,
                    f"{item.kind} {item.key}: its parent {item.ref.key} is not in the "
                    "import; left out",
                )
            model = MODELS[item.kind]
            if item.created:
                if target is not None:
                    self.pending.updates.append((model, item.id, {item.column: target}))
                continue
            before = previous.get(item.id)
            if before == target:
                continue
            self._write_update(model, item.id, {item.column: target})
            self._history(
                model, item.id, "update", {item.column: (as_text(before), as_text(target))}
            )
            self.report.count(item.kind, "updated")

    def _deactivate_missing(self) -> None:
        for kind, flag in _ACTIVE_FLAG.items():
            # A file that holds no record of a kind (organizations only, say) says nothing
            # about that kind's records.
            if kind not in self.carried or not self.seen[kind]:
                continue
            model = MODELS[kind]
            for key, known in self.known[kind].items():
                if key in self.seen[kind]:
                    continue
                if flag == "active" and known.state is False:
                    continue
                if flag == "status" and known.state in _STAYS_DEACTIVATED:
                    continue
                self.versions.setdefault(known.id, known.version)
                if flag == "active":
                    before, after = "true", "false"
                    self._write_update(model, known.id, {"active": False})
                else:
                    before, after = str(known.state), ServiceStatus.INACTIVE.value
                    self._write_update(model, known.id, {"status": ServiceStatus.INACTIVE})
                self._history(model, known.id, "deactivate", {flag: (before, after)})
                self.report.count(kind, "deactivated")

    async def _flush(self) -> None:
        pending = self.pending
        if not pending:
            return
        self.pending = Pending()
        session = self.session
        for model in (Address, Phone, Schedule, Language, ServiceArea, Attribute):
            ids = pending.deletes.get(model) or []
            for batch in _chunks(ids):
                await session.execute(
                    delete(model).where(model.id.in_(batch)),
                    execution_options={"synchronize_session": False},
                )
        for model in _INSERT_ORDER:
            rows = pending.inserts.get(model)
            if rows:
                # The table, not the entity: the ORM would split the batch wherever a value
                # is None in one row and not in the next.
                await session.execute(insert(_table(model)), _same_keys(model, rows))
        for batch in _chunks(pending.unflag):
            await session.execute(
                delete(Attribute).where(
                    Attribute.link_id.in_(batch), Attribute.taxonomy_term_id == self.review_term
                ),
                execution_options={"synchronize_session": False},
            )
        for model, record_id, values in pending.updates:
            await session.execute(
                update(model).where(model.id == record_id).values(**values),
                execution_options={"synchronize_session": False},
            )
        if pending.history:
            await session.execute(insert(_table(DirectoryChange)), pending.history)
        await record_events(session, self._stand_ins(pending.events), None)

    def _stand_ins(
        self, events: list[tuple[Any, uuid.UUID, int, EventType]]
    ) -> Iterable[tuple[Any, EventType]]:
        for model, record_id, version, event_type in events:
            # A transient stand-in carries what the event needs. Taxonomy's own `version` column
            # is the taxonomy's edition (text), not a row version: the event gets 1.
            stand_in = model(id=record_id, tenant_id=self.tenant_id)
            stand_in.version = version
            yield stand_in, event_type


_RESOURCE_TYPES: dict[Any, str] = {model: kind for kind, model in MODELS.items()}


def _unstorable(record: Record) -> str | None:
    """Why a text of the record (key, values, children, references) cannot be stored, or None:
    the whole record is refused, on every backend alike."""
    children = {
        table: [{"refs": [r.key for r in kid.refs.values()], **kid.values} for kid in kids]
        for table, kids in record.children.items()
    }
    found = (
        first_unstorable(record.key, "id")
        or first_unstorable(record.values)
        or first_unstorable([r.key for r in record.refs.values() if r is not None], "refs")
        or first_unstorable(children)
    )
    return None if found is None else f"`{found[0]}` {found[1]}; record left out"


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _same_keys(model: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with one set of keys (a missing one gets its column default), so that the batch is
    one executemany instead of one INSERT per distinct set of keys."""
    keys = set().union(*rows)
    if all(len(row) == len(keys) for row in rows):
        return rows
    defaults: dict[str, Any] = {}
    for key in keys:
        default = model.__table__.c[key].default
        defaults[key] = default.arg if default is not None and default.is_scalar else None
    return [{**defaults, **row} for row in rows]
