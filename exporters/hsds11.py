"""HSDS 1.1, the tabular layout many directory consumers still read: the tables, files and
columns of Open Referral's HSDS 1.1 data package (``organizations.csv``,
``services_at_location.csv``, ``physical_addresses.csv``, ``regular_schedules.csv``,
``taxonomy.csv``...), as a folder of CSV files with its ``datapackage.json``, or as one JSON
data package whose resources carry their rows inline (``data``).

Rows are made from the full HSDS 3.0 service objects every resource export starts from
(:func:`sharegraph.exporters.resources.service_batches`), so they hold exactly what the plan
lets leave: a withheld field is an empty cell, a withheld link leaves the row out. Each
organization, program, location and taxonomy term is written once. What 1.1 cannot hold is left
out: schedules that name no weekday (``regular_schedule.weekday`` is required), capacities,
term codes. Derived rows (one regular schedule per weekday, eligibility) get stable ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sharegraph.exporters.cells import SafeCsvWriter, json_line
from sharegraph.exporters.hsds_spec import WEEKDAYS, derived_id
from sharegraph.exporters.hsds_tabular import package_name

HSDS11_VERSION = "1.1"
HOMEPAGE = "https://docs.openreferral.org/en/v1.1/"


@dataclass(frozen=True)
class Table11:
    name: str
    path: str
    columns: tuple[str, ...]  # a trailing "*" marks a required column

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.rstrip("*") for c in self.columns)


_ADDRESS = (
    "id*", "location_id", "attention", "address_1*", "address_2", "address_3", "address_4",
    "city*", "region", "state_province*", "postal_code*", "country*",
)  # fmt: skip
# The HSDS 1.1 data package, table by table, in its order.
TABLES: tuple[Table11, ...] = (
    Table11("organization", "organizations.csv",
            ("id*", "name*", "alternate_name", "description*", "email", "url", "tax_status",
             "tax_id", "year_incorporated", "legal_status")),
    Table11("program", "programs.csv", ("id*", "organization_id*", "name*", "alternate_name")),
    Table11("service", "services.csv",
            ("id*", "organization_id*", "program_id", "name*", "alternate_name", "description",
             "url", "email", "status*", "interpretation_services", "application_process",
             "wait_time", "fees", "accreditations", "licenses", "taxonomy_ids")),
    Table11("service_taxonomy", "services_taxonomy.csv",
            ("id*", "service_id*", "taxonomy_id*", "taxonomy_detail")),
    Table11("service_at_location", "services_at_location.csv",
            ("id*", "service_id*", "location_id*", "description")),
    Table11("location", "locations.csv",
            ("id*", "organization_id", "name", "alternate_name", "description", "transportation",
             "latitude", "longitude")),
    Table11("phone", "phones.csv",
            ("id*", "location_id", "service_id", "organization_id", "contact_id",
             "service_at_location_id", "number*", "extension", "type", "language", "description",
             "department")),
    Table11("contact", "contacts.csv",
            ("id*", "organization_id", "service_id", "service_at_location_id", "name", "title",
             "department", "email")),
    Table11("physical_address", "physical_addresses.csv", _ADDRESS),
    Table11("postal_address", "postal_addresses.csv", _ADDRESS),
    Table11("regular_schedule", "regular_schedules.csv",
            ("id*", "service_id", "location_id", "service_at_location_id", "weekday*", "opens_at",
             "closes_at")),
    Table11("holiday_schedule", "holiday_schedules.csv",
            ("id*", "service_id", "location_id", "service_at_location_id", "closed*", "opens_at",
             "closes_at", "start_date*", "end_date*")),
    Table11("funding", "funding.csv", ("id*", "organization_id", "service_id", "source")),
    Table11("eligibility", "eligibility.csv", ("id*", "service_id", "eligibility")),
    Table11("service_area", "service_areas.csv",
            ("id*", "service_id", "service_area", "description")),
    Table11("required_document", "required_documents.csv", ("id*", "service_id", "document")),
    Table11("payment_accepted", "payments_accepted.csv", ("id*", "service_id", "payment")),
    Table11("language", "languages.csv", ("id*", "service_id", "location_id", "language")),
    Table11("accessibility_for_disabilities", "accessibility_for_disabilities.csv",
            ("id*", "location_id", "accessibility", "details")),
    Table11("taxonomy", "taxonomy.csv", ("id*", "name*", "parent_id", "parent_name", "vocabulary")),
    Table11("metadata", "metadata.csv",
            ("id*", "resource_id*", "last_action_date*", "last_action_type*", "field_name*",
             "previous_value*", "replacement_value*", "updated_by*")),
    Table11("meta_table_description", "meta_table_descriptions.csv",
            ("id*", "name", "language", "character_set")),
)  # fmt: skip
BY_NAME = {t.name: t for t in TABLES}
_TYPES = {
    "latitude": "number", "longitude": "number", "extension": "number", "weekday": "integer",
    "opens_at": "time", "closes_at": "time", "closed": "boolean", "start_date": "date",
    "end_date": "date", "year_incorporated": "date", "last_action_date": "datetime",
}  # fmt: skip
_FORMATS = {"email": "email", "url": "url", "year_incorporated": "%Y"}
# A link column -> the table it refers to (the data package's foreign keys).
_REFERENCES = {
    "organization_id": "organization", "program_id": "program", "service_id": "service",
    "location_id": "location", "contact_id": "contact",
    "service_at_location_id": "service_at_location",
}  # fmt: skip


def _field(table: Table11, column: str) -> dict[str, Any]:
    name = column.rstrip("*")
    found: dict[str, Any] = {"name": name, "type": _TYPES.get(name, "string")}
    if name in _FORMATS:
        found["format"] = _FORMATS[name]
    found["constraints"] = {"required": column.endswith("*")}
    if name == "id":
        found["constraints"]["unique"] = True
    return found


def resource_descriptor(table: Table11) -> dict[str, Any]:
    keys = [
        {"fields": c, "reference": {"resource": _REFERENCES[c], "fields": "id"}}
        for c in table.fields
        if c in _REFERENCES and _REFERENCES[c] != table.name
    ]
    if table.name == "service_taxonomy":
        keys.append(
            {"fields": "taxonomy_id", "reference": {"resource": "taxonomy", "fields": "id"}}
        )
    schema: dict[str, Any] = {
        "fields": [_field(table, c) for c in table.columns],
        "primaryKey": "id",
    }
    if keys:
        schema["foreignKeys"] = keys
    return {
        "name": table.name,
        "path": table.path,
        "format": "csv",
        "mediatype": "text/csv",
        "schema": schema,
    }


def package_descriptor(title: str, sources: list[str]) -> dict[str, Any]:
    """``datapackage.json`` of the CSV form (the JSON form adds each resource's ``data``).
    Its ``name`` is the source system an import of it records (as the 3.0 package's)."""
    return {
        "name": package_name(title),
        "title": title,
        "profile": "tabular-data-package",
        "version": HSDS11_VERSION,
        "homepage": HOMEPAGE,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": [{"title": s} for s in sources],
        "resources": [resource_descriptor(t) for t in TABLES],
    }


# -- rows from HSDS 3.0 objects --------------------------------------------------------------

Row = tuple[str, dict[str, Any]]


def _pick(obj: dict[str, Any], **renamed: str) -> dict[str, Any]:
    return {ours: obj.get(theirs) for ours, theirs in renamed.items()}


class Rows11:
    """HSDS 1.1 rows of full HSDS 3.0 service objects; organizations, programs, locations and
    taxonomy terms once each (terms are held until :meth:`taxonomy`, which needs every term
    to name a parent that is exported)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.terms: dict[str, dict[str, Any]] = {}

    def _once(self, obj: dict[str, Any] | None) -> bool:
        if not obj or "id" not in obj or obj["id"] in self.seen:
            return False
        self.seen.add(obj["id"])
        return True

    def service(self, service: dict[str, Any]) -> Iterator[Row]:
        sid = service["id"]
        organization = service.get("organization")
        if self._once(organization):
            assert organization is not None
            yield (
                "organization",
                {
                    "id": organization["id"],
                    "name": organization.get("name") or "",
                    "alternate_name": organization.get("alternate_name"),
                    "description": organization.get("description") or "",
                    "email": organization.get("email"),
                    "url": organization.get("website"),
                    "tax_status": organization.get("tax_status"),
                    "tax_id": organization.get("tax_id"),
                    "year_incorporated": organization.get("year_incorporated"),
                    "legal_status": organization.get("legal_status"),
                },
            )
        program = service.get("program")
        program_id = None
        if program and program.get("id") and service.get("organization_id"):
            program_id = program["id"]
            if self._once(program):
                yield (
                    "program",
                    {
                        "id": program_id,
                        "organization_id": program.get("organization_id")
                        or service["organization_id"],
                        "name": program.get("name") or "",
                        "alternate_name": program.get("alternate_name"),
                    },
                )
        if not service.get("organization_id"):
            return  # 1.1 requires it: the plan withholds the link
        yield (
            "service",
            {
                "id": sid,
                "organization_id": service["organization_id"],
                "program_id": program_id,
                "name": service.get("name") or "",
                "status": service.get("status") or "",
                **_pick(
                    service,
                    alternate_name="alternate_name",
                    description="description",
                    url="url",
                    email="email",
                    interpretation_services="interpretation_services",
                    application_process="application_process",
                    wait_time="wait_time",
                    fees="fees_description",
                ),
                "accreditations": _joined(service.get("accreditations")),
                "licenses": _joined(service.get("licenses")),
            },
        )
        if service.get("eligibility_description"):
            yield (
                "eligibility",
                {
                    "id": derived_id(_uuid(sid), "eligibility"),
                    "service_id": sid,
                    "eligibility": service["eligibility_description"],
                },
            )
        yield from self._children(service, "service_id", sid)
        for attribute in service.get("attributes", []):
            term = attribute.get("taxonomy_term")
            if not term or not attribute.get("taxonomy_term_id"):
                continue
            self.terms.setdefault(term["id"], term)
            yield (
                "service_taxonomy",
                {
                    "id": attribute["id"],
                    "service_id": sid,
                    "taxonomy_id": term["id"],
                    "taxonomy_detail": attribute.get("value"),
                },
            )
        for area in service.get("service_areas", []):
            yield (
                "service_area",
                {
                    "id": area["id"],
                    "service_id": sid,
                    "service_area": area.get("name"),
                    "description": area.get("description"),
                },
            )
        for document in service.get("required_documents", []):
            yield (
                "required_document",
                {
                    "id": document["id"],
                    "service_id": sid,
                    "document": document.get("document"),
                },
            )
        for funding in service.get("funding", []):
            yield (
                "funding",
                {"id": funding["id"], "service_id": sid, "source": funding.get("source")},
            )
        for at_location in service.get("service_at_locations", []):
            yield from self._at_location(sid, at_location)

    def _at_location(self, sid: str, at_location: dict[str, Any]) -> Iterator[Row]:
        location = at_location.get("location")
        if not at_location.get("location_id") or not location:
            return
        if self._once(location):
            lid = location["id"]
            yield (
                "location",
                {
                    "id": lid,
                    **_pick(
                        location,
                        organization_id="organization_id",
                        name="name",
                        alternate_name="alternate_name",
                        description="description",
                        transportation="transportation",
                        latitude="latitude",
                        longitude="longitude",
                    ),
                },
            )
            for address in location.get("addresses", []):
                table = {"physical": "physical_address", "postal": "postal_address"}.get(
                    address.get("address_type", "")
                )
                if table is None:
                    continue
                yield table, {
                    "id": address["id"],
                    "location_id": lid,
                    **{k: address.get(k) for k in ("attention", "address_2", "region")},
                    **{k: address.get(k) or "" for k in ("address_1", "city", "state_province",
                                                         "postal_code", "country")},
                }  # fmt: skip
            for accessibility in location.get("accessibility", []):
                yield (
                    "accessibility_for_disabilities",
                    {
                        "id": accessibility["id"],
                        "location_id": lid,
                        "accessibility": accessibility.get("description"),
                        "details": accessibility.get("details"),
                    },
                )
            yield from self._children(location, "location_id", lid)
        yield (
            "service_at_location",
            {
                "id": at_location["id"],
                "service_id": sid,
                "location_id": at_location["location_id"],
                "description": at_location.get("description"),
            },
        )
        yield from self._children(at_location, "service_at_location_id", at_location["id"])

    def _children(self, owner: dict[str, Any], column: str, owner_id: str) -> Iterator[Row]:
        """Phones, contacts, weekly schedules and languages of one record."""
        for phone in owner.get("phones", []):
            yield "phone", _phone(phone, {column: owner_id})
        for contact in owner.get("contacts", []) if column != "location_id" else []:
            yield (
                "contact",
                {
                    "id": contact["id"],
                    column: owner_id,
                    **_pick(
                        contact, name="name", title="title", department="department", email="email"
                    ),
                },
            )
            for phone in contact.get("phones", []):
                yield "phone", _phone(phone, {"contact_id": contact["id"]})
        for schedule in owner.get("schedules", []):
            yield from _regular_schedules(schedule, column, owner_id)
        if column != "service_at_location_id":
            for language in owner.get("languages", []):
                yield (
                    "language",
                    {
                        "id": language["id"],
                        column: owner_id,
                        "language": language.get("name") or language.get("code"),
                    },
                )

    def taxonomy(self) -> Iterator[Row]:
        for term in self.terms.values():
            parent = self.terms.get(term.get("parent_id") or "")
            vocabulary = (term.get("taxonomy_detail") or {}).get("name") or term.get("taxonomy")
            yield (
                "taxonomy",
                {
                    "id": term["id"],
                    "name": term.get("name") or "",
                    "parent_id": parent["id"] if parent else None,
                    "parent_name": parent.get("name") if parent else None,
                    "vocabulary": vocabulary,
                },
            )


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


def _joined(values: Any) -> str | None:
    if not values:
        return None
    names = [v.get("description") or v.get("name") if isinstance(v, dict) else v for v in values]
    return "; ".join(str(n) for n in names if n) or None


def _phone(phone: dict[str, Any], owner: dict[str, str]) -> dict[str, Any]:
    languages = [lang.get("name") or lang.get("code") for lang in phone.get("languages", [])]
    return {
        "id": phone["id"],
        **owner,
        "number": phone.get("number") or "",
        "extension": phone.get("extension"),
        "type": phone.get("type"),
        "language": "; ".join(str(n) for n in languages if n) or None,
        "description": phone.get("description"),
    }


def _regular_schedules(schedule: dict[str, Any], column: str, owner_id: str) -> Iterator[Row]:
    if schedule.get("freq", "WEEKLY") != "WEEKLY" or not schedule.get("byday"):
        return
    days = [d.strip()[-2:] for d in str(schedule["byday"]).split(",")]
    days = [d for d in days if d in WEEKDAYS]
    for day in days:
        yield (
            "regular_schedule",
            {
                "id": schedule["id"] if len(days) == 1 else derived_id(_uuid(schedule["id"]), day),
                column: owner_id,
                "weekday": WEEKDAYS.index(day) + 1,  # ISO: 1 is Monday
                "opens_at": schedule.get("opens_at"),
                "closes_at": schedule.get("closes_at"),
            },
        )


# -- writing -------------------------------------------------------------------------------------


class Hsds11Writer:
    """Writes the tables under ``folder``: CSV files, or JSON lines to assemble into one JSON
    data package (:meth:`assemble`)."""

    def __init__(self, folder: Path, *, as_json: bool) -> None:
        self.folder = folder
        self.as_json = as_json
        self.rows = Rows11()
        self.counts = {t.name: 0 for t in TABLES}
        self._files: dict[str, IO[str]] = {}
        self._csv: dict[str, SafeCsvWriter] = {}
        for table in TABLES:
            name = table.name + ".jsonl" if as_json else table.path
            stream = (folder / name).open("w", encoding="utf-8", newline="")
            self._files[table.name] = stream
            if not as_json:
                self._csv[table.name] = SafeCsvWriter(stream)
                self._csv[table.name].row(table.fields)

    def _write(self, table: str, row: dict[str, Any]) -> None:
        self.counts[table] += 1
        if self.as_json:
            kept = {k: v for k, v in row.items() if v is not None and v != ""}
            for column in BY_NAME[table].columns:  # a required text stays, empty
                if column.endswith("*") and row.get(column[:-1]) == "":
                    kept[column[:-1]] = ""
            self._files[table].write(json_line(kept))
        else:
            self._csv[table].row([row.get(c) for c in BY_NAME[table].fields])

    def service(self, service: dict[str, Any]) -> bool:
        """Writes one service's rows; False when 1.1 cannot hold the service at all."""
        wrote = False
        for table, row in self.rows.service(service):
            self._write(table, row)
            wrote = wrote or table == "service"
        return wrote

    def finish(self, title: str, sources: list[str]) -> None:
        for table, row in self.rows.taxonomy():
            self._write(table, row)
        for stream in self._files.values():
            stream.close()
        if not self.as_json:
            descriptor = package_descriptor(title, sources)
            (self.folder / "datapackage.json").write_text(
                json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )

    def assemble(self, title: str, sources: list[str], out: IO[str]) -> None:
        """The JSON data package: the descriptor, each resource's rows inline as ``data``."""
        descriptor = package_descriptor(title, sources)
        resources = descriptor.pop("resources")
        head = json.dumps(descriptor, indent=2, ensure_ascii=False)
        out.write(head[:-2] + ',\n  "resources": [')
        for index, resource in enumerate(resources):
            resource = {k: v for k, v in resource.items() if k not in ("path", "mediatype")}
            resource["format"] = "json"
            opening = json.dumps(resource, ensure_ascii=False)[:-1]
            out.write(("\n    " if index == 0 else ",\n    ") + opening + ', "data": [')
            with (self.folder / f"{resource['name']}.jsonl").open(encoding="utf-8") as lines:
                for number, line in enumerate(lines):
                    out.write(("\n      " if number == 0 else ",\n      ") + line.rstrip("\n"))
            out.write("]}")
        out.write("\n  ]\n}\n")
