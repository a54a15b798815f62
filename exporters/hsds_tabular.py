"""The resource directory as an HSDS 3.0 tabular data package: one CSV per HSDS table plus
``datapackage.json``, in a folder or a zip.

Each table is read in keyset batches through the plan's row filter for the export action and
written as it is read. A link column (``phones.service_id``) is filled only when the linked row
is exported too and the relation that governs the link is granted (``Service.phones`` on every
row of the parent's owner); a row of a child table (phones, addresses, schedules...) with no
such link left is not exported, since it hangs off nothing the recipient may see, and neither
is a row whose link HSDS requires in tabular form (``service.organization_id``).

``service_capacities.csv`` and ``units.csv`` (HSDS 3.1) are added to the 3.0 tables.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.disclosure import Disclosure
from sharegraph.authz.plan import MODEL_TYPES
from sharegraph.exporters.batches import keyset_batches
from sharegraph.exporters.cells import SafeCsvWriter
from sharegraph.exporters.contact_records import ExportFilter
from sharegraph.exporters.disclosures import DisclosureLog
from sharegraph.exporters.hsds_spec import (
    ADDRESS,
    ATTRIBUTE,
    ATTRIBUTE_ENTITIES,
    LANGUAGE,
    LOCATION,
    ORGANIZATION,
    ORGANIZATION_IDENTIFIER_KEYS,
    PHONE,
    PROGRAM,
    SCHEDULE,
    SERVICE,
    SERVICE_AREA,
    SERVICE_AT_LOCATION,
    SERVICE_CAPACITY,
    TABULAR_TYPES,
    TAXONOMY,
    TAXONOMY_TERM,
    UNIT,
    Link,
    Table,
    convert,
    organization_identifiers,
)
from sharegraph.exporters.resources import directory_statement

TABLES: tuple[Table, ...] = (
    ORGANIZATION,
    PROGRAM,
    SERVICE,
    LOCATION,
    SERVICE_AT_LOCATION,
    ADDRESS,
    PHONE,
    SCHEDULE,
    LANGUAGE,
    SERVICE_AREA,
    TAXONOMY,
    TAXONOMY_TERM,
    ATTRIBUTE,
    UNIT,
    SERVICE_CAPACITY,
)
IDENTIFIERS_PATH = "organization_identifiers.csv"
BATCH_SIZE = 500


@dataclass
class TabularResult:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows written
    withheld: dict[str, int] = field(default_factory=dict)  # table -> rows left out


def package_name(title: str) -> str:
    """A frictionless data package name (lowercase letters, digits, ``-._``)."""
    return re.sub(r"[^a-z0-9._-]+", "-", title.lower()).strip("-") or "sharegraph"


def _field(name: str, kind: str, required: bool) -> dict[str, Any]:
    type_name, fmt = TABULAR_TYPES[kind]
    found: dict[str, Any] = {"name": name, "type": type_name}
    if fmt:
        found["format"] = fmt
    if required:
        found["constraints"] = {"required": True}
    return found


def resource_descriptor(table: Table) -> dict[str, Any]:
    fields = [{**_field("id", "uuid", True), "constraints": {"required": True, "unique": True}}]
    fields += [_field(link.key, "uuid", link.required) for link in table.links]
    fields += [_field(c.key, c.kind, c.required) for c in table.columns]
    foreign_keys = [
        {"fields": link.key, "reference": {"resource": _TABLE_OF[link.target], "fields": "id"}}
        for link in table.links
        if link.target in _TABLE_OF
    ]
    if table is ATTRIBUTE:
        fields.insert(1, _field("link_id", "uuid", True))
    schema: dict[str, Any] = {"fields": fields, "primaryKey": "id"}
    if foreign_keys:
        schema["foreignKeys"] = foreign_keys
    return {
        "name": table.name,
        "path": table.path,
        "profile": "tabular-data-resource",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "schema": schema,
    }


def _identifiers_descriptor() -> dict[str, Any]:
    return {
        "name": "organization_identifier",
        "path": IDENTIFIERS_PATH,
        "profile": "tabular-data-resource",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "schema": {
            "fields": [
                {**_field("id", "uuid", True), "constraints": {"required": True, "unique": True}},
                _field("organization_id", "uuid", True),
                _field("identifier_scheme", "text", False),
                _field("identifier_type", "text", True),
                _field("identifier", "text", True),
            ],
            "primaryKey": "id",
            "foreignKeys": [
                {
                    "fields": "organization_id",
                    "reference": {"resource": "organization", "fields": "id"},
                }
            ],
        },
    }


_TABLE_OF: dict[Any, str] = {t.model: t.name for t in TABLES if t is not ATTRIBUTE}


def _columns(table: Table) -> list[str]:
    keys = table.keys()
    if table is ATTRIBUTE:
        keys.insert(1, "link_id")
    return keys


class TabularWriter:
    """Writes the package's CSV files into ``folder``."""

    def __init__(
        self,
        session: AsyncSession,
        access: Disclosure,
        flt: ExportFilter,
        folder: Path,
        log: DisclosureLog,
    ) -> None:
        self.session = session
        self.access = access
        self.flt = flt
        self.folder = folder
        self.log = log
        self.result = TabularResult()

    async def write(self, title: str, sources: Iterable[str]) -> TabularResult:
        identifiers = (self.folder / IDENTIFIERS_PATH).open("w", encoding="utf-8", newline="")
        with identifiers:
            ids_writer = SafeCsvWriter(identifiers)
            ids_writer.row(ORGANIZATION_IDENTIFIER_KEYS)
            for table in TABLES:
                await self._table(table, ids_writer if table is ORGANIZATION else None)
        descriptor = {
            "name": package_name(title),
            "title": title,
            "profile": "tabular-data-package",
            "version": "3.0.0",
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "sources": [{"title": s} for s in sources],
            "resources": [
                resource_descriptor(ORGANIZATION),
                _identifiers_descriptor(),
                *(resource_descriptor(t) for t in TABLES if t is not ORGANIZATION),
            ],
        }
        (self.folder / "datapackage.json").write_text(
            json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return self.result

    async def _table(self, table: Table, identifiers: SafeCsvWriter | None) -> None:
        keys = _columns(table)
        written = withheld = 0
        with (self.folder / table.path).open("w", encoding="utf-8", newline="") as stream:
            writer = SafeCsvWriter(stream)
            writer.row(keys)
            statement = directory_statement(self.access, table.model, self.flt)
            async for rows in keyset_batches(
                self.session, table.model, statement, batch_size=BATCH_SIZE, by_name=False
            ):
                objects, left_out = await self._objects(table, rows)
                withheld += left_out
                for row, obj in objects:
                    writer.row([obj.get(k) for k in keys])
                    written += 1
                    self.log.count(
                        row.tenant_id,
                        "Attribute" if table is ATTRIBUTE else table.type_name,
                        self.access.coordinates(table.type_name, row.tenant_id),
                    )
                    if identifiers is not None:
                        for identifier in organization_identifiers(row):
                            identifiers.row(
                                [identifier.get(k) for k in ORGANIZATION_IDENTIFIER_KEYS]
                            )
        self.result.rows[table.name] = written
        if withheld:
            self.result.withheld[table.name] = withheld

    async def _objects(
        self, table: Table, rows: list[Any]
    ) -> tuple[list[tuple[Any, dict[str, Any]]], int]:
        """(row, CSV object) for the rows to write, and how many the plan made unexportable."""
        scopes = await self.access.scopes(self.session, table.model, rows)
        fields = {
            r.id: self.access.fields(table.type_name, r.tenant_id, scopes.get(r.id)) for r in rows
        }
        visible = {link.key: await self._visible_links(link, rows) for link in table.links}
        attribute_links = await self._attribute_links(rows) if table is ATTRIBUTE else set()
        found: list[tuple[Any, dict[str, Any]]] = []
        withheld = 0
        for row in rows:
            obj = convert(table, row, fields[row.id])
            if obj is None:
                withheld += 1
                continue
            linked = self._link(table, row, obj, fields[row.id], visible, attribute_links)
            if linked is not None:
                found.append((row, linked))
        return found, withheld

    def _link(
        self,
        table: Table,
        row: Any,
        obj: dict[str, Any],
        fields: frozenset[str],
        visible: dict[str, set[uuid.UUID]],
        attribute_links: set[uuid.UUID],
    ) -> dict[str, Any] | None:
        parents = 0
        for link in table.links:
            target = getattr(row, link.attr)
            if target in visible[link.key] and (not link.own or link.relation in fields):
                obj[link.key] = str(target)
                parents += 0 if link.own else 1
            elif link.required:
                return None
        if table is ATTRIBUTE:
            if row.id not in attribute_links:
                return None
            obj["link_id"] = str(row.link_id)
            return obj
        if any(not link.own and not link.required for link in table.links) and parents == 0:
            return None  # hangs off nothing the recipient may see
        return obj

    async def _visible_links(self, link: Link, rows: list[Any]) -> set[uuid.UUID]:
        """Targets of ``link`` among ``rows`` that are exported (and, for a link governed by
        the target's relation, whose owner grants that relation on every row)."""
        wanted = {getattr(r, link.attr) for r in rows} - {None}
        if not wanted:
            return set()
        target = link.target
        statement = select(target.id).where(target.id.in_(wanted), self.access.where(target))
        if not link.own and link.relation:
            owners = self.access.owners_granting(_type_of(target), link.relation)
            statement = statement.where(target.tenant_id.in_(owners))
        return set((await self.session.scalars(statement)).all())

    async def _attribute_links(self, rows: list[Any]) -> set[uuid.UUID]:
        """Attributes whose record is exported with its `taxonomyTerms`."""
        found: set[uuid.UUID] = set()
        for entity, (model, relation) in ATTRIBUTE_ENTITIES.items():
            wanted = {r.link_id: r.id for r in rows if r.link_entity == entity}
            if not wanted:
                continue
            owners = self.access.owners_granting(_type_of(model), relation)
            statement = select(model.id).where(
                model.id.in_(list(wanted)), self.access.where(model), model.tenant_id.in_(owners)
            )
            linked = set((await self.session.scalars(statement)).all())
            found |= {r.id for r in rows if r.link_entity == entity and r.link_id in linked}
        return found


def _type_of(model: Any) -> str:
    return MODEL_TYPES[model]


def zip_folder(folder: Path, output: IO[bytes]) -> None:
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, arcname=path.name)


def temporary_folder(near: Path) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=".sharegraph-export-", dir=near))
    folder.chmod(0o755)  # mkdtemp makes it private; the package is an ordinary folder
    return folder


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
