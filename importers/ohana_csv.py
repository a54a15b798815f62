"""The Ohana API CSV layout (Code for America; ``samples/ohana-sample-csv``).

Ohana hangs services on a location (``services.location_id``): a service belongs to its
location's organization and gets a service_at_location keyed ``<service id>@<location id>``.
``taxonomy.csv`` is the Open Eligibility taxonomy; ``services.taxonomy_ids`` links terms.
Locations' and services' comma-separated ``languages`` and services' ``service_areas`` become
rows. Weekday names and times such as ``9am`` or ``4:00 PM`` are normalized. Ohana data does
not name its source: pass ``--source``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sharegraph.importers.coerce import parse_date
from sharegraph.importers.records import (
    Child,
    ChildTable,
    Item,
    Kind,
    Note,
    Origin,
    Record,
    Ref,
    Rejected,
)
from sharegraph.importers.sources import CsvRow, Progress, no_progress
from sharegraph.importers.tabular import ChildIndex, CsvFolder, clock, split_list, weekday

FORMAT = "ohana-csv"
TAXONOMY_KEY = "open-eligibility"
_PHONE_TYPES = {"tty": "textphone", "sms": "text", "hotline": "voice", "voice": "voice",
                "fax": "fax", "cell": "cell", "video": "video", "pager": "pager"}  # fmt: skip
_IGNORED = {"contacts.csv": "contacts"}


class OhanaCsvReader:
    format = FORMAT
    carried: frozenset[Kind] = frozenset(
        {"taxonomy", "taxonomy_term", "organization", "program", "location", "service",
         "service_at_location"}
    )  # fmt: skip

    def __init__(self, folder: Path, progress: Progress = no_progress) -> None:
        self.folder = CsvFolder(folder, progress)
        self.location_owner: dict[str, str] = {}

    def items(self) -> Iterator[Item]:
        index = ChildIndex()
        yield from self._children(index)
        yield from self.folder.ignored(_IGNORED)
        yield from self._taxonomy()
        yield from self._table("organizations.csv", self._organization, index)
        yield from self._table("programs.csv", self._program, index)
        yield from self._table("locations.csv", self._location, index)
        yield from self._table("services.csv", self._service, index)
        yield from index.leftovers()

    def _table(self, name: str, build: Any, index: ChildIndex) -> Iterator[Item]:
        path = self.folder.find(name)
        if path is None:
            return
        for row in self.folder.rows(path):
            if isinstance(row, Rejected):
                yield row
                continue
            origin = Origin(str(path), row.line)
            key = (row.values.get("id") or "").strip()
            if not key:
                yield Rejected(origin, f"{name} row has no id")
                continue
            for item in build(key, row, origin):
                yield index.attach(item) if isinstance(item, Record) else item

    def _taxonomy(self) -> Iterator[Item]:
        path = self.folder.find("taxonomy.csv")
        if path is None:
            return
        yield Record(
            "taxonomy",
            TAXONOMY_KEY,
            Origin(str(path)),
            values={"name": "Open Eligibility", "uri": "https://openeligibility.org/"},
        )
        for row in self.folder.rows(path):
            if isinstance(row, Rejected):
                yield row
                continue
            origin = Origin(str(path), row.line)
            key = (row.values.get("taxonomy_id") or "").strip()
            if not key:
                yield Rejected(origin, "taxonomy.csv row has no taxonomy_id")
                continue
            parent = (row.values.get("parent_id") or "").strip()
            yield Record(
                "taxonomy_term",
                key,
                origin,
                values={"code": key, "name": row.values.get("name")},
                refs={
                    "taxonomy_id": Ref("taxonomy", TAXONOMY_KEY),
                    "parent_id": Ref("taxonomy_term", parent) if parent else None,
                },
            )

    def _organization(self, key: str, row: CsvRow, origin: Origin) -> Iterator[Item]:
        v = row.values
        incorporated = parse_date(v.get("date_incorporated") or "")
        yield Record(
            "organization",
            key,
            origin,
            values={
                "name": v.get("name"),
                "alternate_name": v.get("alternate_name"),
                "description": v.get("description"),
                "email": v.get("email"),
                "website": v.get("website"),
                "legal_status": v.get("legal_status"),
                "tax_id": v.get("tax_id"),
                "tax_status": v.get("tax_status"),
                "year_incorporated": incorporated.year if incorporated else None,
            },
        )

    def _program(self, key: str, row: CsvRow, origin: Origin) -> Iterator[Item]:
        owner = (row.values.get("organization_id") or "").strip()
        yield Record(
            "program",
            key,
            origin,
            values={
                "name": row.values.get("name"),
                "alternate_name": row.values.get("alternate_name"),
            },
            refs={"organization_id": Ref("organization", owner) if owner else None},
        )

    def _location(self, key: str, row: CsvRow, origin: Origin) -> Iterator[Item]:
        v = row.values
        owner = (v.get("organization_id") or "").strip()
        if owner:
            self.location_owner[key] = owner
        virtual = (v.get("virtual") or "").strip().lower() == "true"
        yield Record(
            "location",
            key,
            origin,
            values={
                "name": v.get("name"),
                "alternate_name": v.get("alternate_name"),
                "description": v.get("description") or v.get("short_desc"),
                "transportation": v.get("transportation"),
                "latitude": v.get("latitude"),
                "longitude": v.get("longitude"),
                "url": v.get("website"),
                "location_type": "virtual" if virtual else "physical",
            },
            refs={"organization_id": Ref("organization", owner) if owner else None},
            children={
                "languages": [
                    Child({"name": n}, origin=origin) for n in split_list(v.get("languages"))
                ]
            },
        )

    def _service(self, key: str, row: CsvRow, origin: Origin) -> Iterator[Item]:
        v = row.values
        location = (v.get("location_id") or "").strip()
        owner = self.location_owner.get(location)
        if not location or owner is None:
            yield Rejected(
                origin,
                f"service {key}: its location {location or '(none)'} is not in locations.csv "
                "(an Ohana service belongs to its location's organization)",
                [Ref("service", key)],
            )
            return
        program = (v.get("program_id") or "").strip()
        yield Record(
            "service",
            key,
            origin,
            values={
                "name": v.get("name"),
                "alternate_name": v.get("alternate_name"),
                "description": v.get("description"),
                "email": v.get("email"),
                "url": v.get("website"),
                "status": v.get("status"),
                "application_process": v.get("application_process"),
                "eligibility_description": v.get("eligibility"),
                "fees_description": v.get("fees"),
                "interpretation_services": v.get("interpretation_services"),
                "wait_time": v.get("wait_time"),
            },
            refs={
                "organization_id": Ref("organization", owner),
                "program_id": Ref("program", program) if program else None,
            },
            children={
                "languages": [
                    Child({"name": n}, origin=origin) for n in split_list(v.get("languages"))
                ],
                "service_areas": [
                    Child({"name": n}, origin=origin) for n in split_list(v.get("service_areas"))
                ],
                "attributes": [
                    Child({}, {"taxonomy_term_id": Ref("taxonomy_term", code)}, origin)
                    for code in split_list(v.get("taxonomy_ids"))
                ],
            },
        )
        yield Record(
            "service_at_location",
            f"{key}@{location}",
            origin,
            refs={"service_id": Ref("service", key), "location_id": Ref("location", location)},
        )

    # -- child files --------------------------------------------------------------------------
    def _children(self, index: ChildIndex) -> Iterator[Item]:
        for name, kind in (("addresses.csv", "physical"), ("mail_addresses.csv", "postal")):
            yield from self._rows(name, "addresses", {"location": "location_id"}, index,
                                  lambda v, k=kind: _address(v, k))  # fmt: skip
        yield from self._rows(
            "phones.csv",
            "phones",
            {"service": "service_id", "location": "location_id", "organization": "organization_id"},
            index,
            _phone,
        )
        yield from self._rows(
            "regular_schedules.csv",
            "schedules",
            {"service": "service_id", "location": "location_id"},
            index,
            _regular,
        )
        yield from self._rows(
            "holiday_schedules.csv",
            "schedules",
            {"service": "service_id", "location": "location_id"},
            index,
            _holiday,
        )

    def _rows(
        self,
        name: str,
        table: ChildTable,
        owners: dict[Kind, str],
        index: ChildIndex,
        build: Any,
    ) -> Iterator[Item]:
        path = self.folder.find(name)
        if path is None:
            return
        index.carry(table, set(owners))
        skipped = 0
        for row in self.folder.rows(path):
            if isinstance(row, Rejected):
                yield row
                continue
            origin = Origin(str(path), row.line)
            owner = next(
                (
                    Ref(kind, (row.values.get(column) or "").strip())
                    for kind, column in owners.items()
                    if (row.values.get(column) or "").strip()
                ),
                None,
            )
            if owner is None:
                skipped += 1
                continue
            index.add(owner, table, Child(build(row.values), origin=origin))
        if skipped:
            yield Note(
                Origin(str(path)),
                f"{skipped} row(s) belong to contacts or to nothing, which the directory does "
                "not hold; not imported",
            )


def _address(v: dict[str, str], kind: str) -> dict[str, Any]:
    return {
        "attention": v.get("attention"),
        "address_1": v.get("address_1"),
        "address_2": v.get("address_2"),
        "city": v.get("city"),
        "state_province": v.get("state_province"),
        "postal_code": v.get("postal_code"),
        "country": v.get("country"),
        "address_type": kind,
    }


def _phone(v: dict[str, str]) -> dict[str, Any]:
    kind = (v.get("number_type") or "").strip().lower()
    return {
        "number": v.get("number"),
        "extension": v.get("extension"),
        "type": _PHONE_TYPES.get(kind, kind or None),
        "description": v.get("department"),
    }


def _regular(v: dict[str, str]) -> dict[str, Any]:
    return {
        "freq": "WEEKLY",
        "wkst": "MO",
        "byday": weekday(v.get("weekday")) or v.get("weekday"),
        "opens_at": clock(v.get("opens_at")) or v.get("opens_at"),
        "closes_at": clock(v.get("closes_at")) or v.get("closes_at"),
    }


def _holiday(v: dict[str, str]) -> dict[str, Any]:
    closed = (v.get("closed") or "").strip().lower() == "true"
    opens, closes = clock(v.get("opens_at")), clock(v.get("closes_at"))
    return {
        "valid_from": v.get("start_date"),
        "valid_to": v.get("end_date"),
        "opens_at": None if closed else opens,
        "closes_at": None if closed else closes,
        "description": "Closed" if closed else f"Open {opens or '?'}-{closes or '?'}",
    }
