"""The resource directory into the target as HSDS 3 tables, flattened from the HSDS objects of
:mod:`sharegraph.exporters.hsds` (the same plan decisions as ``/hsds/`` and the HSDS export:
a field the principal may not read is absent there, so NULL here).

A service is copied with everything hanging off it (its organization, locations, addresses,
phones, schedules, languages, service areas, taxonomy terms). The directory is small next to
the contact records and its rows hang off each other, so every resources pass that has
something to do is a full one: it runs when a directory event arrived since the checkpoint,
the sharing rules changed, or the periodic reconcile is due, and it deletes every row it did
not write.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Column, Connection, Float, Integer, String, Table, Text

from sharegraph.datastore.relay import CommittedEvent
from sharegraph.exporters.replication import target as t

WHAT = "resources"

# Events of these record types concern contact records, not the directory.
_NOT_DIRECTORY = {"ContactRecord", "Referral", "Outcome", "FollowUp", "QueueEntry", "ReferralQueue"}


def _table(name: str, *columns: Column[Any]) -> Table:
    return Table(
        name,
        t.metadata,
        Column("id", t.ID, primary_key=True),
        *columns,
        Column(t._PASS, String(32), nullable=False),
    )


def _text(*names: str) -> list[Column[Any]]:
    return [Column(n, Text) for n in names]


def _ids(*names: str) -> list[Column[Any]]:
    return [Column(n, t.ID, index=True) for n in names]


organization = _table(
    "organization",
    *_text("name", "alternate_name", "description", "email", "website", "tax_status"),
    *_text("tax_id", "legal_status", "logo", "uri", "parent_organization_id"),
    Column("year_incorporated", Integer),
)
service = _table(
    "service",
    *_ids("organization_id", "program_id"),
    *_text("name", "alternate_name", "description", "url", "email", "status"),
    *_text("interpretation_services", "application_process", "fees_description"),
    *_text("wait_time", "fees", "accreditations", "eligibility_description", "alert"),
    Column("minimum_age", Float),
    Column("maximum_age", Float),
    Column("last_modified", Text),
)
location = _table(
    "location",
    *_ids("organization_id"),
    *_text("location_type", "url", "name", "alternate_name", "description", "transportation"),
    *_text("external_identifier", "external_identifier_type"),
    Column("latitude", Float),
    Column("longitude", Float),
)
service_at_location = _table(
    "service_at_location", *_ids("service_id", "location_id"), *_text("description")
)
address = _table(
    "address",
    *_ids("location_id"),
    *_text("attention", "address_1", "address_2", "city", "region", "state_province"),
    *_text("postal_code", "country", "address_type"),
)
phone = _table(
    "phone",
    *_ids("location_id", "service_id", "organization_id", "service_at_location_id"),
    *_text("number", "extension", "type", "description"),
)
schedule = _table(
    "schedule",
    *_ids("service_id", "location_id", "service_at_location_id"),
    *_text("valid_from", "valid_to", "dtstart", "until", "wkst", "freq", "byday"),
    *_text("byweekno", "bymonthday", "byyearday", "description", "opens_at", "closes_at"),
    *_text("schedule_link", "attending_type", "notes"),
    Column("timezone", Float),
    Column("count", Integer),
    Column("interval", Integer),
)
language = _table(
    "language", *_ids("service_id", "location_id", "phone_id"), *_text("name", "code", "note")
)
service_area = _table("service_area", *_ids("service_id"), *_text("name", "description", "extent"))
taxonomy_term = _table(
    "taxonomy_term",
    *_ids("parent_id", "taxonomy_id"),
    *_text("code", "name", "description", "taxonomy", "language", "term_uri"),
)
attribute = _table(
    "attribute",
    *_ids("link_id", "taxonomy_term_id"),
    *_text("link_type", "link_entity", "value", "label"),
)

TABLES: tuple[Table, ...] = (
    organization,
    service,
    location,
    service_at_location,
    address,
    phone,
    schedule,
    language,
    service_area,
    taxonomy_term,
    attribute,
)

# Where each nested list of an HSDS object goes, and the parent's key its rows carry.
_CHILDREN: dict[str, tuple[Table, str | None]] = {
    "phones": (phone, None),
    "schedules": (schedule, None),
    "languages": (language, None),
    "service_areas": (service_area, "service_id"),
    "addresses": (address, "location_id"),
    "attributes": (attribute, None),
    "service_at_locations": (service_at_location, "service_id"),
}
_PARENT_KEY = {
    "service": "service_id",
    "location": "location_id",
    "service_at_location": "service_at_location_id",
    "organization": "organization_id",
    "phone": "phone_id",
}


def directory_changed(events: Iterable[CommittedEvent]) -> bool:
    return any(e.record_type not in _NOT_DIRECTORY for e in events)


def _cell(table: Table, name: str, value: Any) -> Any:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(table.c[name].type, Float):
        return float(value)
    if isinstance(table.c[name].type, Integer):
        return int(value)
    return str(value)


def _rows(
    table: Table, obj: dict[str, Any], parent: tuple[str, str] | None
) -> Iterator[tuple[Table, dict[str, Any]]]:
    row = {c.name: _cell(table, c.name, obj.get(c.name)) for c in table.c if c.name in obj}
    if parent is not None and parent[0] in table.c and row.get(parent[0]) is None:
        row[parent[0]] = parent[1]
    yield table, row
    key = _PARENT_KEY.get(table.name)
    mine = (key, obj["id"]) if key else None
    for name, (child, _) in _CHILDREN.items():
        for item in obj.get(name) or []:
            yield from _rows(child, item, mine)
    for name, nested in (("organization", organization), ("location", location)):
        if isinstance(obj.get(name), dict):
            yield from _rows(nested, obj[name], None)
    if isinstance(obj.get("taxonomy_term"), dict):
        yield from _rows(taxonomy_term, obj["taxonomy_term"], None)


def target_rows(
    services: Iterable[dict[str, Any]], pass_id: str
) -> dict[Table, list[dict[str, Any]]]:
    """The table rows of full HSDS service objects, one per id (shared rows once)."""
    found: dict[Table, dict[str, dict[str, Any]]] = {table: {} for table in TABLES}
    for obj in services:
        for table, row in _rows(service, obj, None):
            if row.get("id") is None:
                continue
            merged = found[table].setdefault(row["id"], {c.name: None for c in table.c})
            merged.update({k: v for k, v in row.items() if v is not None})
            merged[t._PASS] = pass_id
    return {table: list(rows.values()) for table, rows in found.items()}


def write(connection: Connection, rows: dict[Table, list[dict[str, Any]]]) -> None:
    for table, found in rows.items():
        if found:
            t.replace_rows(connection, table, found, [])


def sweep(connection: Connection, pass_id: str) -> int:
    return sum(t.sweep(connection, table, pass_id) for table in TABLES)
