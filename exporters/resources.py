"""The resource directory for export: services as full HSDS objects, batch by batch, and the
flat resources CSV made from them (one row per service at a location, as referrals use them;
a service delivered nowhere in particular gets one row without a location).

Everything in a row comes from the HSDS objects, so the CSV carries exactly what the HSDS
export would: the same plan decisions, made once in :mod:`.hsds`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.disclosure import Disclosure
from sharegraph.datastore import models as m
from sharegraph.exporters.batches import keyset_batches
from sharegraph.exporters.contact_records import ExportFilter
from sharegraph.exporters.hsds import HsdsBuilder

SERVICE_BATCH_SIZE = 100

# (header, how to read it from (service, service at location or None, location or None))
RESOURCE_COLUMNS: tuple[str, ...] = (
    "Organization ID",
    "Organization",
    "Service ID",
    "Service",
    "Alternate name",
    "Description",
    "Status",
    "URL",
    "Email",
    "Application process",
    "Fees",
    "Eligibility",
    "Minimum age",
    "Maximum age",
    "Languages",
    "Service areas",
    "Taxonomy codes",
    "Taxonomy terms",
    "Service at location ID",
    "Location ID",
    "Location",
    "Address 1",
    "Address 2",
    "City",
    "State/Province",
    "Postal code",
    "Country",
    "Latitude",
    "Longitude",
    "Phones",
    "Hours",
    "Capacity",
    "Last modified",
    "Source system",
    "Source key",
)


def directory_statement(access: Disclosure, model: Any, flt: ExportFilter) -> Select[Any]:
    statement = select(model).where(access.where(model))
    if flt.tenant_ids:
        statement = statement.where(model.tenant_id.in_(flt.tenant_ids))
    if flt.updated_after is not None and hasattr(model, "updated_at"):
        statement = statement.where(model.updated_at > flt.updated_after)
    return statement


async def service_batches(
    session: AsyncSession,
    access: Disclosure,
    flt: ExportFilter,
    *,
    batch_size: int = SERVICE_BATCH_SIZE,
) -> AsyncIterator[tuple[list[Any], list[dict[str, Any]]]]:
    """(service rows, their full HSDS objects) per batch; objects the plan cannot export
    validly are missing from the second list."""
    statement = directory_statement(access, m.Service, flt)
    async for rows in keyset_batches(session, m.Service, statement, batch_size=batch_size):
        builder = HsdsBuilder(session, access)
        yield rows, await builder.service_objects(rows, full=True)


def _joined(values: list[str]) -> str | None:
    found = [v for v in dict.fromkeys(values) if v]
    return "; ".join(found) if found else None


def _phones(*owners: dict[str, Any] | None) -> str | None:
    found = []
    for owner in owners:
        for phone in (owner or {}).get("phones", []):
            number = phone["number"]
            if phone.get("extension") is not None:
                number += f" ext. {phone['extension']}"
            label = phone.get("description") or phone.get("type")
            found.append(f"{number} ({label})" if label else number)
    return _joined(found)


def _hours(*owners: dict[str, Any] | None) -> str | None:
    found = []
    for owner in owners:
        for schedule in (owner or {}).get("schedules", []):
            days = schedule.get("byday", "")
            opens, closes = schedule.get("opens_at"), schedule.get("closes_at")
            span = f"{opens[:5]}-{closes[:5]}" if opens and closes else ""
            text = " ".join(p for p in (days, span) if p) or schedule.get("description", "")
            if schedule.get("notes"):
                text = f"{text} ({schedule['notes']})" if text else schedule["notes"]
            found.append(text)
    return _joined(found)


def _capacity(service: dict[str, Any]) -> str | None:
    found = []
    for capacity in service.get("capacities", []):
        unit = capacity["unit"].get("name", "")
        maximum = capacity.get("maximum")
        of = f"/{maximum}" if maximum is not None else ""
        found.append(f"{capacity['available']}{of} {unit}".strip())
    return _joined(found)


def _source(service: dict[str, Any], link_type: str) -> str | None:
    for attribute in service.get("attributes", []):
        if attribute.get("link_type") == link_type and "taxonomy_term" not in attribute:
            value: str | None = attribute.get("value")
            return value
    return None


def resource_rows(service: dict[str, Any]) -> Iterator[list[Any]]:
    """The CSV rows of one full HSDS service object (in :data:`RESOURCE_COLUMNS` order)."""
    organization = service.get("organization", {})
    terms = [a["taxonomy_term"] for a in service.get("attributes", []) if "taxonomy_term" in a]
    head = [
        organization.get("id"),
        organization.get("name"),
        service["id"],
        service.get("name"),
        service.get("alternate_name"),
        service.get("description"),
        service.get("status"),
        service.get("url"),
        service.get("email"),
        service.get("application_process"),
        service.get("fees_description"),
        service.get("eligibility_description"),
        service.get("minimum_age"),
        service.get("maximum_age"),
        _joined(
            [lang.get("name") or lang.get("code", "") for lang in service.get("languages", [])]
        ),
        _joined([area.get("name", "") for area in service.get("service_areas", [])]),
        _joined([t.get("code", "") for t in terms]),
        _joined([t.get("name", "") for t in terms]),
    ]
    tail = [
        _capacity(service),
        service.get("last_modified"),
        _source(service, "source_system"),
        _source(service, "source_key"),
    ]
    at_locations = service.get("service_at_locations") or [None]
    for at_location in at_locations:
        location = (at_location or {}).get("location")
        address: dict[str, Any] = next(iter((location or {}).get("addresses", [])), {})
        yield [
            *head,
            (at_location or {}).get("id"),
            (location or {}).get("id"),
            (location or {}).get("name"),
            address.get("address_1"),
            address.get("address_2"),
            address.get("city"),
            address.get("state_province"),
            address.get("postal_code"),
            address.get("country"),
            (location or {}).get("latitude"),
            (location or {}).get("longitude"),
            _phones(service, at_location, location),
            _hours(service, at_location, location),
            *tail,
        ]
