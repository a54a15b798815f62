"""How our directory rows become HSDS 3.0 objects: one :class:`Table` per HSDS object.

Each column names the coordinate field that governs it (``Service.alternateName`` governs
``service.alternate_name``); a column whose coordinate the plan withholds is left out. Columns
without a coordinate are identity (``id``, the source ids, ``address_type``): they leave with
the row, as a row's id does in the GraphQL API. Links (``organization_id``...) are governed by a
relation coordinate, on the row itself (``Service.organization``) or on its parent
(``Location.addresses`` for ``address.location_id``), and need the linked row to be visible.

The RFC 5545 parts of a schedule that have no coordinate of their own (``dtstart``, ``until``,
``count``, ``wkst``, ``byweekno``, ``byyearday``) follow ``Schedule.freq``: they are one
recurrence rule. A service area's ``extent`` follows ``ServiceArea.extentType``.

Values follow the schemas: empty values are left out (never ``null`` or ``""``), except a
required text the plan withholds or that is empty, which is ``""``; a required closed
vocabulary (``service.status``, ``location.location_type``) or number that cannot be given
makes the whole object unexportable (:func:`convert` returns ``None``). Datetimes are UTC
with their offset; URLs without a scheme get ``http://``; values that still are not a URI or
an email address are left out.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sharegraph.datastore import models as m
from sharegraph.exporters.cells import utc_iso

HSDS_VERSION = "3.0"
# Namespace of the ids of objects that are not rows (organization identifiers, source-id
# attributes): uuid5 of the row's id, so they are stable across exports.
DERIVED = uuid.UUID("0b0c4c3e-5a43-4b0e-9f7e-9b1b8f0c2a11")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
FREQUENCIES = ("WEEKLY", "MONTHLY")
SERVICE_STATUSES = ("active", "inactive", "defunct", "temporarily closed")
PLACE_TYPES = ("physical", "postal", "virtual")


class Unexportable(Exception):
    """A required value the plan withholds or the data lacks, with no valid empty form."""


def derived_id(row_id: uuid.UUID, what: str) -> str:
    return str(uuid.uuid5(DERIVED, f"{row_id}:{what}"))


# -- value kinds ----------------------------------------------------------------------------


def _text(value: Any) -> Any:
    if value is None:
        return None
    found = str(value.value if hasattr(value, "value") else value)
    return found if found.strip() else None


def _uri(value: Any) -> Any:
    found = _text(value)
    if found is None:
        return None
    found = found.strip()
    if "://" not in found and not found.lower().startswith(("mailto:", "tel:")):
        found = "http://" + found
    parts = urlsplit(found)
    if any(c.isspace() for c in found) or not parts.scheme:
        return None
    if parts.scheme.lower() in {"http", "https", "ftp"} and "." not in parts.netloc:
        return None
    return found


def _email(value: Any) -> Any:
    found = _text(value)
    return found.strip() if found is not None and _EMAIL.match(found.strip()) else None


def _number(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float):
        number = float(value)
        return int(number) if number.is_integer() else number
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() else number


def _date(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return _text(value)


def _datetime(value: Any) -> Any:
    return utc_iso(value) if isinstance(value, datetime) else None


def _time(value: Any) -> Any:
    found = _text(value)
    match = _TIME.match(found) if found else None
    if match is None:
        return None
    hour, minute, second = match.group(1), match.group(2), match.group(3) or "00"
    return f"{int(hour):02d}:{minute}:{second}"


def _timezone(value: Any) -> Any:
    """HSDS wants a UTC offset in hours; an IANA zone gives its standard (winter) offset."""
    number = _number(value)
    if number is not None:
        return number
    name = _text(value)
    if name is None:
        return None
    try:
        zone = ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None
    moment = datetime.now(zone)
    offset = moment.utcoffset()
    if offset is None:
        return None
    hours = (offset - (moment.dst() or timedelta(0))).total_seconds() / 3600
    return int(hours) if hours.is_integer() else hours


def _extension(value: Any) -> Any:
    found = _text(value)
    return int(found.strip()) if found and found.strip().isdigit() else None


KINDS: dict[str, Callable[[Any], Any]] = {
    "text": _text,
    "uri": _uri,
    "email": _email,
    "number": _number,
    "date": _date,
    "datetime": _datetime,
    "time": _time,
    "enum": _text,
    "timezone": _timezone,
    "extension": _extension,
}
# Values as stored, for formats that carry text as the source gave it (AIRS XML): no scheme
# added to a web address, no check of an email address or an extension.
RAW_KINDS: dict[str, Callable[[Any], Any]] = {
    **KINDS,
    "uri": _text,
    "email": _text,
    "extension": _text,
}
# datapackage.json field types of each kind
TABULAR_TYPES: dict[str, tuple[str, str | None]] = {
    "text": ("string", None),
    "uri": ("string", "uri"),
    "email": ("string", "email"),
    "number": ("number", None),
    "date": ("date", None),
    "datetime": ("datetime", None),
    "time": ("time", None),
    "enum": ("string", None),
    "timezone": ("number", None),
    "extension": ("number", None),
    "uuid": ("string", "uuid"),
}


@dataclass(frozen=True)
class Column:
    key: str
    coordinate: str | None  # the governing field of the row's domain type; None: identity
    kind: str = "text"
    required: bool = False
    choices: tuple[str, ...] = ()
    attr: str | None = None  # model attribute, when it is not `key`
    compute: Callable[[Any], Any] | None = None  # the raw value from the row

    def raw(self, row: Any) -> Any:
        if self.compute is not None:
            return self.compute(row)
        return getattr(row, self.attr or self.key, None)

    def value(self, row: Any, fields: frozenset[str], raw: bool = False) -> Any:
        """The HSDS value, ``None`` to leave it out; raises :class:`Unexportable`."""
        allowed = self.coordinate is None or self.coordinate in fields
        kinds = RAW_KINDS if raw else KINDS
        found = kinds[self.kind](self.raw(row)) if allowed else None
        if found is not None and self.choices and found not in self.choices:
            found = None
        if found is None and self.required:
            if self.kind != "text":
                raise Unexportable(self.key)
            return ""
        return found


@dataclass(frozen=True)
class Link:
    """An id column pointing at another table's row."""

    key: str
    attr: str
    target: Any  # model of the linked row
    # The relation that governs the link: on this row's own type (``own``) or on the target's.
    relation: str
    own: bool
    required: bool = False  # HSDS tabular_required: without it the row is not exported


@dataclass(frozen=True)
class Table:
    name: str  # HSDS object name
    path: str  # file in the tabular data package
    model: Any
    type_name: str
    columns: tuple[Column, ...]
    links: tuple[Link, ...] = ()
    extension: bool = False  # HSDS 3.1 object, beyond the 3.0 data package

    def keys(self) -> list[str]:
        """Column order of the CSV: the id, the links, then the columns."""
        return ["id", *(link.key for link in self.links), *(c.key for c in self.columns)]


def convert(
    table: Table, row: Any, fields: frozenset[str], *, raw: bool = False
) -> dict[str, Any] | None:
    """The plain (unnested) HSDS object of ``row``, without its links; ``None`` if it cannot be
    exported validly with what the plan lets out. ``raw`` keeps text as stored (RAW_KINDS)."""
    found: dict[str, Any] = {"id": str(row.id)}
    try:
        for column in table.columns:
            value = column.value(row, fields, raw)
            if value is not None:
                found[column.key] = value
    except Unexportable:
        return None
    return found


def _external_identifier(row: Any) -> Any:
    """Imported locations carry their source key (the matching key of re-imports)."""
    return row.source_key or row.external_identifier


def _external_identifier_type(row: Any) -> Any:
    return row.source_system if row.source_key else None


def _free(row: Any) -> Any:
    return max(0, int(row.available or 0) - int(row.reserved or 0))


def _place_type(row: Any) -> Any:
    return row.address_type


ORGANIZATION = Table(
    "organization",
    "organizations.csv",
    m.Organization,
    "Organization",
    (
        Column("name", "name", required=True),
        Column("alternate_name", "alternateName"),
        Column("description", "description", required=True),
        Column("email", "email", "email"),
        Column("website", "website", "uri"),
        Column("tax_status", "taxStatus"),
        Column("tax_id", "taxId"),
        Column("year_incorporated", "yearIncorporated", "number"),
        Column("legal_status", "legalStatus"),
        Column("logo", "logo"),
        Column("uri", "uri", "uri"),
    ),
)
PROGRAM = Table(
    "program",
    "programs.csv",
    m.Program,
    "Program",
    (
        Column("name", "name", required=True),
        Column("alternate_name", "alternateName"),
        Column("description", "description", required=True),
    ),
    (Link("organization_id", "organization_id", m.Organization, "organization", True, True),),
)
SERVICE = Table(
    "service",
    "services.csv",
    m.Service,
    "Service",
    (
        Column("name", "name", required=True),
        Column("alternate_name", "alternateName"),
        Column("description", "description"),
        Column("url", "url", "uri"),
        Column("email", "email", "email"),
        Column("status", "status", "enum", True, SERVICE_STATUSES),
        Column("interpretation_services", "interpretationServices"),
        Column("application_process", "applicationProcess"),
        Column("fees_description", "feesDescription"),
        Column("wait_time", "waitTime"),
        Column("eligibility_description", "eligibilityDescription"),
        Column("minimum_age", "minimumAge", "number"),
        Column("maximum_age", "maximumAge", "number"),
        Column("alert", "alert"),
        Column("last_modified", "updatedAt", "datetime", attr="updated_at"),
    ),
    (
        Link("organization_id", "organization_id", m.Organization, "organization", True, True),
        Link("program_id", "program_id", m.Program, "program", True),
    ),
)
LOCATION = Table(
    "location",
    "locations.csv",
    m.Location,
    "Location",
    (
        Column("location_type", "locationType", "enum", True, PLACE_TYPES),
        Column("url", "url", "uri"),
        Column("name", "name"),
        Column("alternate_name", "alternateName"),
        Column("description", "description"),
        Column("transportation", "transportation"),
        Column("latitude", "latitude", "number"),
        Column("longitude", "longitude", "number"),
        Column("external_identifier", None, compute=_external_identifier),
        Column("external_identifier_type", None, compute=_external_identifier_type),
    ),
    (Link("organization_id", "organization_id", m.Organization, "organization", True),),
)
SERVICE_AT_LOCATION = Table(
    "service_at_location",
    "service_at_location.csv",
    m.ServiceAtLocation,
    "ServiceAtLocation",
    (Column("description", "description"),),
    (
        Link("service_id", "service_id", m.Service, "service", True, True),
        Link("location_id", "location_id", m.Location, "location", True, True),
    ),
)
ADDRESS = Table(
    "address",
    "addresses.csv",
    m.Address,
    "Address",
    (
        Column("attention", "attention"),
        Column("address_1", "address1", required=True),
        Column("address_2", "address2"),
        Column("city", "city", required=True),
        Column("region", "region"),
        Column("state_province", "stateProvince", required=True),
        Column("postal_code", "postalCode", required=True),
        Column("country", "country", required=True),
        Column("address_type", None, "enum", True, PLACE_TYPES, compute=_place_type),
    ),
    (Link("location_id", "location_id", m.Location, "addresses", False),),
)
PHONE = Table(
    "phone",
    "phones.csv",
    m.Phone,
    "Phone",
    (
        Column("number", "number", required=True),
        Column("extension", "extension", "extension"),
        Column("type", "type"),
        Column("description", "description"),
    ),
    (
        Link("location_id", "location_id", m.Location, "phones", False),
        Link("service_id", "service_id", m.Service, "phones", False),
        Link("organization_id", "organization_id", m.Organization, "phones", False),
        Link(
            "service_at_location_id",
            "service_at_location_id",
            m.ServiceAtLocation,
            "phones",
            False,
        ),
    ),
)
SCHEDULE = Table(
    "schedule",
    "schedules.csv",
    m.Schedule,
    "Schedule",
    (
        Column("valid_from", "validFrom", "date"),
        Column("valid_to", "validTo", "date"),
        Column("dtstart", "freq", "date"),
        Column("timezone", "timezone", "timezone"),
        Column("until", "freq", "date"),
        Column("count", "freq", "number"),
        Column("wkst", "freq", "enum", choices=WEEKDAYS),
        Column("freq", "freq", "enum", choices=FREQUENCIES),
        Column("interval", "interval", "number"),
        Column("byday", "byday"),
        Column("byweekno", "freq"),
        Column("bymonthday", "bymonthday"),
        Column("byyearday", "freq"),
        Column("description", "description"),
        Column("opens_at", "opensAt", "time"),
        Column("closes_at", "closesAt", "time"),
        Column("attending_type", "attendingType"),
        Column("notes", "notes"),
    ),
    (
        Link("service_id", "service_id", m.Service, "schedules", False),
        Link("location_id", "location_id", m.Location, "schedules", False),
        Link(
            "service_at_location_id",
            "service_at_location_id",
            m.ServiceAtLocation,
            "schedules",
            False,
        ),
    ),
)
LANGUAGE = Table(
    "language",
    "languages.csv",
    m.Language,
    "Language",
    (Column("name", "name"), Column("code", "code"), Column("note", "note")),
    (
        Link("service_id", "service_id", m.Service, "languages", False),
        Link("location_id", "location_id", m.Location, "languages", False),
    ),
)
SERVICE_AREA = Table(
    "service_area",
    "service_areas.csv",
    m.ServiceArea,
    "ServiceArea",
    (
        Column("name", "name"),
        Column("description", "description"),
        Column("extent", "extentType"),
        Column("extent_type", "extentType"),
        Column("uri", "uri"),
    ),
    (Link("service_id", "service_id", m.Service, "serviceAreas", False),),
)
TAXONOMY = Table(
    "taxonomy",
    "taxonomies.csv",
    m.Taxonomy,
    "Taxonomy",
    (
        Column("name", "name", required=True),
        Column("description", "description", required=True),
        Column("uri", "uri", "uri"),
        Column("version", "version"),
    ),
)
TAXONOMY_TERM = Table(
    "taxonomy_term",
    "taxonomy_terms.csv",
    m.TaxonomyTerm,
    "TaxonomyTerm",
    (
        Column("code", "code"),
        Column("name", "name", required=True),
        Column("description", "description", required=True),
        Column("language", "language"),
        Column("term_uri", "termUri", "uri"),
    ),
    (
        Link("parent_id", "parent_id", m.TaxonomyTerm, "parent", True),
        Link("taxonomy_id", "taxonomy_id", m.Taxonomy, "taxonomy", True),
    ),
)
# Attribute rows are the link between a directory record and a taxonomy term; they leave as
# part of their record's `taxonomyTerms` relation (link_id is checked per entity).
ATTRIBUTE = Table(
    "attribute",
    "attributes.csv",
    m.Attribute,
    "TaxonomyTerm",
    (
        Column("link_type", None),
        Column("link_entity", None),
        Column("value", None),
    ),
    (Link("taxonomy_term_id", "taxonomy_term_id", m.TaxonomyTerm, "", False, True),),
)
UNIT = Table(
    "unit",
    "units.csv",
    m.Unit,
    "Unit",
    (
        Column("name", "name", required=True),
        Column("scheme", "scheme"),
        Column("identifier", "identifier"),
    ),
    extension=True,
)
SERVICE_CAPACITY = Table(
    "service_capacity",
    "service_capacities.csv",
    m.ServiceCapacity,
    "ServiceCapacity",
    (
        Column("available", "free", "number", True, compute=_free),
        Column("maximum", "maximum", "number"),
        Column("description", "description"),
        Column("updated", "updated", "datetime", True),
    ),
    (
        Link("service_id", "service_id", m.Service, "capacities", False, True),
        Link("unit_id", "unit_id", m.Unit, "unit", True, True),
    ),
    extension=True,
)

# Which attribute link entities point at which table, and the relation that governs them.
ATTRIBUTE_ENTITIES: dict[str, tuple[Any, str]] = {
    "service": (m.Service, "taxonomyTerms"),
    "organization": (m.Organization, "taxonomyTerms"),
    "service_at_location": (m.ServiceAtLocation, "taxonomyTerms"),
}


def organization_identifiers(row: Any) -> list[dict[str, Any]]:
    """The source ids of an imported organization, as HSDS organization identifiers."""
    if not row.source_key:
        return []
    found: dict[str, Any] = {
        "id": derived_id(row.id, "source"),
        "organization_id": str(row.id),
        "identifier_type": "source_key",
        "identifier": str(row.source_key),
    }
    if row.source_system:
        found["identifier_scheme"] = str(row.source_system)
    return [found]


def source_attributes(row: Any, entity: str) -> list[dict[str, Any]]:
    """The source ids of an imported service, program or service-at-location, as HSDS
    attributes (``link_type`` ``source_system`` and ``source_key``)."""
    found = []
    for link_type, value in (("source_system", row.source_system), ("source_key", row.source_key)):
        if value and row.source_key:
            found.append(
                {
                    "id": derived_id(row.id, link_type),
                    "link_id": str(row.id),
                    "link_type": link_type,
                    "link_entity": entity,
                    "value": str(value),
                }
            )
    return found


ORGANIZATION_IDENTIFIER_KEYS = (
    "id",
    "organization_id",
    "identifier_scheme",
    "identifier_type",
    "identifier",
)
