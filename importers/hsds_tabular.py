"""HSDS tabular data: a folder of CSV files, with or without ``datapackage.json``.

Reads HSDS 3.0 (``service_at_location.csv``, ``addresses.csv``, ``schedules.csv``,
``taxonomies.csv``, ``taxonomy_terms.csv``, ``attributes.csv``) and HSDS 1.1
(``services_at_location.csv``, ``physical_addresses.csv`` / ``postal_addresses.csv``,
``regular_schedules.csv`` / ``holiday_schedules.csv``, ``taxonomy.csv``,
``services_taxonomy.csv``, ``eligibility.csv`` as the service's eligibility description).
File names come from the data package's resources when it has them. The source system is
the data package's ``name`` (or ``--source``). Only the columns a file has are imported; a
child file that is present replaces its rows per record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sharegraph.importers.records import (
    KINDS,
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
from sharegraph.importers.sources import CsvRow, Progress, no_progress
from sharegraph.importers.tabular import ChildIndex, CsvFolder, clock, owner_of, split_list, weekday

FORMAT = "hsds-csv"

# Our column <- the CSV columns that may hold it (HSDS 3.0 spelling first).
_COLUMNS: dict[Kind, dict[str, tuple[str, ...]]] = {
    "taxonomy": {c: (c,) for c in ("name", "description", "uri", "version")},
    "taxonomy_term": {c: (c,) for c in ("code", "name", "description", "language", "term_uri")},
    "organization": {
        **{c: (c,) for c in ("name", "alternate_name", "description", "email", "tax_status",
                             "tax_id", "year_incorporated", "legal_status", "logo", "uri")},
        "website": ("website", "url"),
    },
    "program": {c: (c,) for c in ("name", "alternate_name", "description")},
    "location": {c: (c,) for c in ("location_type", "url", "name", "alternate_name",
                                   "description", "transportation", "latitude", "longitude",
                                   "external_identifier")},
    "service": {
        **{c: (c,) for c in ("name", "alternate_name", "description", "url", "email", "status",
                             "interpretation_services", "application_process",
                             "eligibility_description", "minimum_age", "maximum_age", "alert",
                             "wait_time", "assured_date")},
        "fees_description": ("fees_description", "fees"),
    },
    "service_at_location": {"description": ("description",)},
}  # fmt: skip
_REFS: dict[Kind, dict[str, Kind]] = {
    "taxonomy_term": {"taxonomy_id": "taxonomy", "parent_id": "taxonomy_term"},
    "organization": {"parent_organization_id": "organization"},
    "program": {"organization_id": "organization"},
    "location": {"organization_id": "organization"},
    "service": {"organization_id": "organization", "program_id": "program"},
    "service_at_location": {"service_id": "service", "location_id": "location"},
}
_FILES: dict[str, tuple[str, ...]] = {
    "taxonomy": ("taxonomies.csv",),
    "taxonomy_term": ("taxonomy_terms.csv",),
    "taxonomy_v1": ("taxonomy.csv",),
    "organization": ("organizations.csv",),
    "program": ("programs.csv",),
    "location": ("locations.csv",),
    "service": ("services.csv",),
    "service_at_location": ("service_at_location.csv", "services_at_location.csv"),
    "phone": ("phones.csv",),
    "address": ("addresses.csv",),
    "physical_address": ("physical_addresses.csv",),
    "postal_address": ("postal_addresses.csv",),
    "schedule": ("schedules.csv",),
    "regular_schedule": ("regular_schedules.csv",),
    "holiday_schedule": ("holiday_schedules.csv",),
    "language": ("languages.csv",),
    "service_area": ("service_areas.csv",),
    "attribute": ("attributes.csv",),
    "service_taxonomy": ("services_taxonomy.csv",),
    "eligibility": ("eligibility.csv",),
}
_IGNORED = {
    "contacts.csv": "contacts",
    "funding.csv": "funding sources",
    "payments_accepted.csv": "payments accepted",
    "required_documents.csv": "required documents",
    "accessibility.csv": "accessibility rows",
    "accessibility_for_disabilities.csv": "accessibility rows",
    "cost_options.csv": "cost options",
    "organization_identifiers.csv": "organization identifiers",
    "metadata.csv": "metadata rows",
}
_CHILD_COLUMNS: dict[str, tuple[ChildTable, tuple[str, ...]]] = {
    "phone": ("phones", ("number", "extension", "type", "description")),
    "address": (
        "addresses",
        ("attention", "address_1", "address_2", "city", "region", "state_province",
         "postal_code", "country", "address_type"),
    ),
    "schedule": (
        "schedules",
        ("valid_from", "valid_to", "dtstart", "timezone", "until", "count", "wkst", "freq",
         "interval", "byday", "byweekno", "bymonthday", "byyearday", "description", "opens_at",
         "closes_at", "schedule_link", "attending_type", "notes"),
    ),
    "language": ("languages", ("name", "code", "note")),
    "service_area": ("service_areas", ("name", "description", "extent", "extent_type", "uri")),
}  # fmt: skip
_ENTITIES: dict[str, Kind] = {kind: kind for kind in KINDS}
# A descriptor with a schema per resource is some kilobytes; it is parsed whole.
_PACKAGE_LIMIT = 8 * 1024 * 1024


class HsdsTabularReader:
    format = FORMAT

    def __init__(self, folder: Path, progress: Progress = no_progress) -> None:
        self.folder = CsvFolder(folder, progress)
        self.package: dict[str, Any] | None = None
        self.paths: dict[str, Path] = {}
        self.notes: list[Item] = []
        # HSDS 1.1 eligibility.csv: service id -> its eligibility texts (a service's
        # eligibility_description, as 3.0 and our directory hold it).
        self.eligibility: dict[str, list[str]] = {}
        self._read_package()
        self.carried: frozenset[Kind] = frozenset(
            kind
            for kind in KINDS
            if kind in self.paths or (kind == "taxonomy_term" and "taxonomy_v1" in self.paths)
        )

    def _read_package(self) -> None:
        path = self.folder.folder / "datapackage.json"
        resources: dict[str, str] = {}
        version = ""
        if path.is_file() and path.stat().st_size > _PACKAGE_LIMIT:
            self.notes.append(
                Note(
                    Origin(str(path)),
                    f"datapackage.json is over {_PACKAGE_LIMIT // 1024 // 1024} MiB, more than a "
                    "descriptor ever needs; ignored (the files are found by their usual names)",
                )
            )
        elif path.is_file():
            try:
                with path.open("rb") as raw:
                    package = json.loads(raw.read(_PACKAGE_LIMIT + 1))
                if not isinstance(package, dict):
                    raise ValueError("not an object")
            except (ValueError, UnicodeDecodeError) as error:
                self.notes.append(
                    Note(
                        Origin(str(path)),
                        f"datapackage.json is not a JSON object ({error}); ignored",
                    )
                )
            else:
                self.package = package
                version = str(package.get("version") or "")
                for resource in package.get("resources") or []:
                    if isinstance(resource, dict) and resource.get("name") and resource.get("path"):
                        name, where = str(resource["name"]), str(resource["path"])
                        if self.folder.inside(where) is None:
                            self.notes.append(
                                Note(
                                    Origin(str(path)),
                                    f"datapackage.json resource {name!r}: its path {where!r} "
                                    "is not a file in the package's folder (imports read only "
                                    "the folder they are given, and never follow URLs); ignored",
                                )
                            )
                            continue
                        resources[name] = where
        for name, files in _FILES.items():
            wanted = resources.get(name)
            if name == "taxonomy" and version.startswith("1"):
                wanted = None
            if name == "taxonomy_v1" and version.startswith("1"):
                wanted = resources.get("taxonomy")
            found = self.folder.find(*((wanted,) if wanted else ()), *files)
            if name == "taxonomy" and found is not None and found.name == "taxonomy.csv":
                continue
            if found is not None:
                self.paths[name] = found

    def items(self) -> Iterator[Item]:
        yield from self.notes
        if self.package is not None and str(self.package.get("name") or "").strip():
            yield SourceName(str(self.package["name"]))
        index = ChildIndex()
        yield from self._children(index)
        yield from self.folder.ignored(_IGNORED)
        vocabularies: set[str] = set()
        for kind in KINDS:
            if kind == "taxonomy_term" and "taxonomy_v1" in self.paths:
                yield from self._terms_v1(self.paths["taxonomy_v1"], vocabularies)
            path = self.paths.get(kind)
            if path is None:
                continue
            for row in self.folder.rows(path):
                if isinstance(row, Rejected):
                    yield row
                    continue
                yield from self._record(kind, path, row, index)
        yield from index.leftovers()

    def _record(self, kind: Kind, path: Path, row: CsvRow, index: ChildIndex) -> Iterator[Item]:
        origin = Origin(str(path), row.line)
        key = (row.values.get("id") or "").strip()
        if not key:
            yield Rejected(origin, f"{path.name} row has no id")
            return
        values = {
            column: _first(row.values, names)
            for column, names in _COLUMNS[kind].items()
            if any(name in row.values for name in names)
        }
        refs: dict[str, Ref | None] = {}
        for column, target in _REFS.get(kind, {}).items():
            if column in row.values:
                ref_key = (row.values[column] or "").strip()
                refs[column] = Ref(target, ref_key) if ref_key else None
        record = Record(kind, key, origin, values=values, refs=refs)
        if (
            kind == "service"
            and "eligibility" in self.paths
            and "eligibility_description" not in values
        ):
            values["eligibility_description"] = "; ".join(self.eligibility.get(key, [])) or None
        if kind == "service" and "taxonomy_ids" in row.values:
            record.children["attributes"] = [
                Child({}, {"taxonomy_term_id": Ref("taxonomy_term", code)}, origin)
                for code in split_list(row.values["taxonomy_ids"])
            ]
        yield index.attach(record)

    def _eligibility(self, path: Path) -> Iterator[Item]:
        for row in self.folder.rows(path):
            if isinstance(row, Rejected):
                yield row
                continue
            service = (row.values.get("service_id") or "").strip()
            text = (row.values.get("eligibility") or "").strip()
            if not service:
                yield Rejected(Origin(str(path), row.line), "eligibility row needs service_id")
            elif text:
                self.eligibility.setdefault(service, []).append(text)

    def _terms_v1(self, path: Path, vocabularies: set[str]) -> Iterator[Item]:
        """HSDS 1.1 ``taxonomy.csv``: terms, with the taxonomy named by ``vocabulary``."""
        for row in self.folder.rows(path):
            if isinstance(row, Rejected):
                yield row
                continue
            origin = Origin(str(path), row.line)
            key = (row.values.get("id") or "").strip()
            if not key:
                yield Rejected(origin, f"{path.name} row has no id")
                continue
            vocabulary = (row.values.get("vocabulary") or "").strip()
            if vocabulary and vocabulary not in vocabularies:
                vocabularies.add(vocabulary)
                yield Record("taxonomy", vocabulary, origin, values={"name": vocabulary})
            parent = (row.values.get("parent_id") or "").strip()
            yield Record(
                "taxonomy_term",
                key,
                origin,
                values={"name": row.values.get("name")},
                refs={
                    "taxonomy_id": Ref("taxonomy", vocabulary) if vocabulary else None,
                    "parent_id": Ref("taxonomy_term", parent) if parent else None,
                },
            )

    # -- child files --------------------------------------------------------------------------
    def _children(self, index: ChildIndex) -> Iterator[Item]:
        for name, (table, columns) in _CHILD_COLUMNS.items():
            path = self.paths.get(name)
            if path is not None:
                index.carry(table)
                yield from self._child_rows(
                    path,
                    table,
                    index,
                    lambda row, c=columns: {k: row.get(k) for k in c if k in row},
                )
        for name, kind in (("physical_address", "physical"), ("postal_address", "postal")):
            path = self.paths.get(name)
            if path is not None:
                index.carry("addresses")
                yield from self._child_rows(
                    path, "addresses", index, lambda row, k=kind: _address_v1(row, k)
                )
        if "regular_schedule" in self.paths:
            index.carry("schedules")
            yield from self._child_rows(
                self.paths["regular_schedule"], "schedules", index, _regular_schedule
            )
        if "holiday_schedule" in self.paths:
            index.carry("schedules")
            yield from self._child_rows(
                self.paths["holiday_schedule"], "schedules", index, _holiday_schedule
            )
        if "eligibility" in self.paths:
            yield from self._eligibility(self.paths["eligibility"])
        if "attribute" in self.paths:
            yield from self._attributes(self.paths["attribute"], index)
        if "service_taxonomy" in self.paths:
            index.carry("attributes", {"service"})
            path = self.paths["service_taxonomy"]
            for row in self.folder.rows(path):
                if isinstance(row, Rejected):
                    yield row
                    continue
                origin = Origin(str(path), row.line)
                service = (row.values.get("service_id") or "").strip()
                term = (row.values.get("taxonomy_id") or "").strip()
                if not service or not term:
                    yield Rejected(origin, "service_taxonomy row needs service_id and taxonomy_id")
                    continue
                child = Child(
                    {"value": row.values.get("taxonomy_detail")},
                    {"taxonomy_term_id": Ref("taxonomy_term", term)},
                    origin,
                )
                index.add(Ref("service", service), "attributes", child)

    def _child_rows(
        self, path: Path, table: ChildTable, index: ChildIndex, columns: Any
    ) -> Iterator[Item]:
        for row in self.folder.rows(path):
            if isinstance(row, Rejected):
                yield row
                continue
            origin = Origin(str(path), row.line)
            owner, others = owner_of(row.values, table)
            if owner is None:
                yield Note(
                    origin, f"{path.name} row belongs to no record it can be kept with; skipped"
                )
                continue
            values = columns(row.values)
            if table == "languages" and "language" in row.values and not values.get("name"):
                values["name"] = row.values.get("language")
            if table == "service_areas" and "service_area" in row.values and not values.get("name"):
                values["name"] = row.values.get("service_area")
            index.add(owner, table, Child(values, others, origin))

    def _attributes(self, path: Path, index: ChildIndex) -> Iterator[Item]:
        index.carry("attributes", set(KINDS) - {"taxonomy", "taxonomy_term"})
        for row in self.folder.rows(path):
            if isinstance(row, Rejected):
                yield row
                continue
            origin = Origin(str(path), row.line)
            entity = _ENTITIES.get((row.values.get("link_entity") or "").strip().lower())
            link = (row.values.get("link_id") or "").strip()
            term = (row.values.get("taxonomy_term_id") or "").strip()
            if entity is None or entity in ("taxonomy", "taxonomy_term") or not link or not term:
                yield Note(
                    origin,
                    f"attribute {row.values.get('id', '')}: link_entity "
                    f"{row.values.get('link_entity')!r} is not a directory table; skipped",
                )
                continue
            child = Child(
                {"value": row.values.get("value")},
                {"taxonomy_term_id": Ref("taxonomy_term", term)},
                origin,
            )
            index.add(Ref(entity, link), "attributes", child)


def _first(row: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = row.get(name)
        if value is not None and value.strip():
            return value
    return None


def _address_v1(row: dict[str, str], kind: str) -> dict[str, Any]:
    extra = [row.get(c, "").strip() for c in ("address_2", "address_3", "address_4")]
    return {
        "attention": row.get("attention"),
        "address_1": row.get("address_1"),
        "address_2": ", ".join(part for part in extra if part) or None,
        "city": row.get("city"),
        "region": row.get("region"),
        "state_province": row.get("state_province"),
        "postal_code": row.get("postal_code"),
        "country": row.get("country"),
        "address_type": kind,
    }


def _regular_schedule(row: dict[str, str]) -> dict[str, Any]:
    return {
        "freq": "WEEKLY",
        "wkst": "MO",
        "byday": weekday(row.get("weekday")) or row.get("weekday"),
        "opens_at": clock(row.get("opens_at")) or row.get("opens_at"),
        "closes_at": clock(row.get("closes_at")) or row.get("closes_at"),
    }


def _holiday_schedule(row: dict[str, str]) -> dict[str, Any]:
    closed = (row.get("closed") or "").strip().lower() in ("true", "1", "yes")
    opens, closes = clock(row.get("opens_at")), clock(row.get("closes_at"))
    return {
        "valid_from": row.get("start_date"),
        "valid_to": row.get("end_date"),
        "opens_at": None if closed else opens,
        "closes_at": None if closed else closes,
        "description": "Closed" if closed else f"Open {opens or '?'}-{closes or '?'}",
    }
