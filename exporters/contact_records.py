"""Contact records in our standard export schema, streamed in keyset batches.

The layout is the one iCarol users know from call-report exports: fixed columns for the
record's own fields, then one column per form field of the forms the exported records use
(headed by the field's label), multi-select answers joined with ``"; "``. A column whose
field no exported row may carry is left out; a cell the plan withholds on one row is empty.
42 CFR Part 2 answers leave the owner organization only under a client consent naming the
recipient and the purpose of the agreement that shares them.

Memory stays flat: rows are read ``batch_size`` at a time, ordered by (started_at, id) and
resumed after the last row of the previous batch, inside one read transaction (one snapshot).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.catalogue import CATALOGUE, Storage
from sharegraph.authz.coordinates import answer_coordinate
from sharegraph.authz.disclosure import Disclosure, RowFacts, ScopeColumn
from sharegraph.datastore.models import (
    ContactForm,
    ContactFormVersion,
    ContactRecord,
    ContactRecordNeed,
    FormField,
    TaxonomyTerm,
    Tenant,
)
from sharegraph.queries.consents import consents_of

DEFAULT_BATCH_SIZE = 1000
RECORD_TYPE = "ContactRecord"


@dataclass(frozen=True)
class ExportFilter:
    """Which records an export covers, within what the plan lets out."""

    tenant_ids: tuple[uuid.UUID, ...] = ()
    started_after: datetime | None = None
    started_before: datetime | None = None
    updated_after: datetime | None = None
    form_ids: tuple[uuid.UUID, ...] = ()
    ids: tuple[uuid.UUID, ...] = ()  # only these records (replication re-checks them)


@dataclass(frozen=True)
class FixedColumn:
    key: str  # NDJSON key
    header: str  # CSV header
    field: str | None  # the ContactRecord field that governs it; None: identity


# The fixed columns, in the field catalogue's order: the columns its ContactRecord fields
# declare for contact-record files (the global id's column carries the row's UUID and, like
# the id, is never withheld).
FIXED_COLUMNS: tuple[FixedColumn, ...] = tuple(
    FixedColumn(column.key, column.header, None if f.storage is Storage.IDENTITY else f.name)
    for f in CATALOGUE[RECORD_TYPE].fields
    for column in f.export.columns
)
# The table columns each field needs: a stored column its own, a relation its foreign key.
_RELATION_COLUMNS: dict[str, tuple[Any, ...]] = {
    "tenant": (),
    "formVersion": (),
    "client": (ContactRecord.client_id,),
    "needs": (),
    "answers": (ContactRecord.answers, ContactRecord.client_id),
}
_COLUMNS: dict[str, tuple[Any, ...]] = {
    **{
        f.name: (getattr(ContactRecord, f.column_attribute),)
        for f in CATALOGUE[RECORD_TYPE].fields
        if f.storage is Storage.COLUMN
    },
    **_RELATION_COLUMNS,
}
_ALWAYS = (
    ContactRecord.id,
    ContactRecord.tenant_id,
    ContactRecord.started_at,
    ContactRecord.form_version_id,
)


@dataclass(frozen=True)
class AnswerColumn:
    key: str
    header: str


@dataclass(frozen=True)
class Layout:
    fixed: tuple[FixedColumn, ...]
    answers: tuple[AnswerColumn, ...]

    def headers(self) -> list[str]:
        return [c.header for c in self.fixed] + [a.header for a in self.answers]


@dataclass
class ExportedRecord:
    id: uuid.UUID
    owner: uuid.UUID
    values: dict[str, Any]  # fixed column key -> value (withheld ones absent)
    answers: dict[str, Any]  # answer key -> value (withheld ones absent)
    coordinates: set[str] = field(default_factory=set)
    part2_disclosed: bool = False

    def csv_cells(self, layout: Layout) -> list[Any]:
        return [self.values.get(c.key) for c in layout.fixed] + [
            self.answers.get(a.key) for a in layout.answers
        ]

    def document(self, layout: Layout) -> dict[str, Any]:
        found = {c.key: self.values[c.key] for c in layout.fixed if c.key in self.values}
        if self.answers:
            found["answers"] = self.answers
        return found


class ContactRecordStream:
    """The records one action of a plan lets out, batch by batch."""

    def __init__(
        self,
        session: AsyncSession,
        access: Disclosure,
        flt: ExportFilter,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.session = session
        self.access = access
        self.flt = flt
        self.batch_size = batch_size
        granted = access.owners(RECORD_TYPE)
        self.owners = granted & set(flt.tenant_ids) if flt.tenant_ids else granted
        self._forms: dict[uuid.UUID, tuple[str, int]] = {}
        self._tenants: dict[uuid.UUID, str] = {}
        self._scope_columns: list[ScopeColumn] = []
        self.position: tuple[datetime, uuid.UUID] | None = None

    # -- what is selected -------------------------------------------------------------------------
    def _where(self) -> list[ColumnElement[bool]]:
        flt = self.flt
        where = [self.access.where(ContactRecord)]
        if flt.tenant_ids:
            where.append(ContactRecord.tenant_id.in_(flt.tenant_ids))
        if flt.ids:
            where.append(ContactRecord.id.in_(flt.ids))
        if flt.started_after is not None:
            where.append(ContactRecord.started_at >= flt.started_after)
        if flt.started_before is not None:
            where.append(ContactRecord.started_at < flt.started_before)
        if flt.updated_after is not None:
            where.append(ContactRecord.updated_at > flt.updated_after)
        if flt.form_ids:
            where.append(
                ContactRecord.form_version_id.in_(
                    select(ContactFormVersion.id).where(
                        ContactFormVersion.form_id.in_(flt.form_ids)
                    )
                )
            )
        return where

    def _granted(self, field_name: str) -> bool:
        return self.access.anywhere(RECORD_TYPE, field_name, self.owners)

    async def layout(self) -> Layout:
        """The columns: fixed ones some row may carry, then the granted form fields."""
        fixed = tuple(c for c in FIXED_COLUMNS if c.field is None or self._granted(c.field))
        self._tenants = dict((await self.session.execute(select(Tenant.id, Tenant.name))).all())
        used_versions = (
            select(ContactRecord.form_version_id).where(*self._where()).distinct().subquery()
        )
        versions = (
            await self.session.execute(
                select(ContactFormVersion.id, ContactForm.name, ContactFormVersion.version)
                .join(ContactForm, ContactForm.id == ContactFormVersion.form_id)
                .where(ContactFormVersion.id.in_(select(used_versions.c.form_version_id)))
                .order_by(ContactForm.name, ContactFormVersion.version.desc())
            )
        ).all()
        self._forms = {version_id: (name, number) for version_id, name, number in versions}
        keys = self.access.all_answer_keys(self.owners) if self._granted("answers") else frozenset()
        answers: dict[str, str] = {}
        if keys and versions:
            order = {version_id: i for i, (version_id, _, _) in enumerate(versions)}
            fields = list(
                (
                    await self.session.execute(
                        select(
                            FormField.form_version_id,
                            FormField.key,
                            FormField.label,
                            FormField.position,
                        ).where(FormField.form_version_id.in_(list(order)))
                    )
                ).all()
            )
            fields.sort(key=lambda f: (order[f[0]], f[3], f[1]))
            for _version, key, label, _position in fields:
                if key in keys and key not in answers:
                    answers[key] = label
        headers = {c.header for c in fixed}
        columns = []
        for key, label in answers.items():
            header = label if label not in headers else f"{label} [{key}]"
            headers.add(header)
            columns.append(AnswerColumn(key, header))
        return Layout(fixed, tuple(columns))

    def _statement(self, layout: Layout) -> Select[Any]:
        columns: list[Any] = list(_ALWAYS)
        wanted = {c.field for c in layout.fixed if c.field}
        if layout.answers:
            wanted.add("answers")
        for name in sorted(wanted):
            for column in _COLUMNS.get(name, ()):
                if column not in columns:
                    columns.append(column)
        self._scope_columns = self.access.scope_columns(ContactRecord, self.owners)
        columns += [c.clause.label(c.label) for c in self._scope_columns]
        return (
            select(*columns)
            .where(*self._where())
            .order_by(ContactRecord.started_at, ContactRecord.id)
            .limit(self.batch_size)
        )

    # -- streaming --------------------------------------------------------------------------------
    async def batches(
        self, layout: Layout, after: tuple[datetime, uuid.UUID] | None = None
    ) -> AsyncGenerator[list[ExportedRecord], None]:
        """Batches in (started_at, id) order, from the start or ``after`` that keyset position;
        :attr:`position` is the position of the last row of the batch just yielded (a
        resumable reader stores it)."""
        statement = self._statement(layout)
        last: tuple[datetime, uuid.UUID] | None = after
        while True:
            page = statement
            if last is not None:
                started, row_id = last
                page = statement.where(
                    or_(
                        ContactRecord.started_at > started,
                        and_(ContactRecord.started_at == started, ContactRecord.id > row_id),
                    )
                )
            rows = (await self.session.execute(page)).all()
            if not rows:
                return
            last = (rows[-1].started_at, rows[-1].id)
            self.position = last
            yield await self._records(layout, rows)
            if len(rows) < self.batch_size:
                return

    def _row_scopes(self, row: Any) -> frozenset[str]:
        if not self._scope_columns:
            return frozenset()
        mapping = row._mapping
        return frozenset(
            c.scope for c in self._scope_columns if c.owner == row.tenant_id and mapping[c.label]
        )

    def _facts(self, row: Any) -> RowFacts:
        mapping = row._mapping
        answers = mapping.get("answers")
        present = frozenset(
            k for k, v in (answers or {}).items() if v is not None and v != "" and v != []
        )
        client = mapping.get("client_id")
        return RowFacts(row.id, row.tenant_id, self._row_scopes(row), client, present)

    async def _needs(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        statement = (
            select(
                ContactRecordNeed.contact_record_id,
                TaxonomyTerm.tenant_id,
                TaxonomyTerm.code,
                TaxonomyTerm.name,
            )
            .join(TaxonomyTerm, TaxonomyTerm.id == ContactRecordNeed.taxonomy_term_id)
            .where(
                ContactRecordNeed.contact_record_id.in_(ids),
                self.access.where(ContactRecordNeed),
                self.access.where(TaxonomyTerm),
            )
            .order_by(ContactRecordNeed.contact_record_id, ContactRecordNeed.position)
        )
        found: dict[uuid.UUID, list[str]] = {}
        for record_id, owner, code, name in (await self.session.execute(statement)).all():
            named = name if self.access.everywhere("TaxonomyTerm", "name", owner) else None
            coded = code if self.access.everywhere("TaxonomyTerm", "code", owner) else None
            label = f"{named} ({coded})" if named and coded else named or coded
            if label:
                found.setdefault(record_id, []).append(label)
        return found

    async def _records(self, layout: Layout, rows: Sequence[Any]) -> list[ExportedRecord]:
        requested = {c.field for c in layout.fixed if c.field}
        if layout.answers:
            requested.add("answers")
        facts = [self._facts(row) for row in rows]
        # Part 2 answers of other organizations' clients need a consent: one query per batch.
        consents = await consents_of(
            self.session, [f.client_id for f in facts if self.access.needs_consent(f)]
        )
        decided = [
            self.access.row(RECORD_TYPE, f, requested, consents=consents.get(f.client_id, []))  # type: ignore[arg-type]
            for f in facts
        ]
        needs: dict[uuid.UUID, list[str]] = {}
        if "needs" in requested:
            needs = await self._needs([d.row.id for d in decided if "needs" in d.fields])
        records = []
        for row, disclosed in zip(rows, decided, strict=True):
            values: dict[str, Any] = {}
            for column in layout.fixed:
                if column.field is not None and column.field not in disclosed.fields:
                    continue
                value = self._value(column.key, row, needs)
                if value is not None and value != []:
                    values[column.key] = value
            answers = (
                {k: v for k, v in (row.answers or {}).items() if k in disclosed.answers}
                if layout.answers
                else {}
            )
            record = ExportedRecord(row.id, row.tenant_id, values, answers)
            record.coordinates = {
                f"{RECORD_TYPE}.{c.field or 'id'}" for c in layout.fixed if c.key in values
            }
            record.coordinates |= {answer_coordinate(k) for k in answers}
            record.part2_disclosed = disclosed.notice
            records.append(record)
        return records

    def _value(self, key: str, row: Any, needs: dict[uuid.UUID, list[str]]) -> Any:
        if key == "id":
            return row.id
        if key == "tenant":
            return self._tenants.get(row.tenant_id)
        if key in ("form", "formVersion"):
            form = self._forms.get(row.form_version_id)
            return None if form is None else form[0] if key == "form" else form[1]
        if key == "needs":
            return needs.get(row.id)
        if key == "clientId":
            return row.client_id
        return getattr(row, _ATTRIBUTES[key])


_ATTRIBUTES = {
    f.name: f.column_attribute for f in CATALOGUE[RECORD_TYPE].fields if f.storage is Storage.COLUMN
}
