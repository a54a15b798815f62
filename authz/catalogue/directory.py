"""The resource directory, shaped on Open Referral HSDS 3.0 (camelCase of its field names)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sharegraph.authz.catalogue.spec import (
    HSDS,
    Export,
    FieldSpec,
    Kind,
    TypeSpec,
    column,
    identity,
    relation,
    uuid_of,
)
from sharegraph.datastore.enums import LocationType, ServiceStatus
from sharegraph.datastore.enums import Sensitivity as S

HISTORY_ONLY = Export.none("field history is read through the API")
NOT_IN_HSDS = Export.none("HSDS has no property for it")
P = S.PUBLIC


def hsds_text(name: str, description: str, *, editable: bool = True, value: Any = str) -> FieldSpec:
    """A public HSDS property of the record, edited through the directory mutations."""
    return column(
        name,
        value,
        description,
        P,
        inputs=(_snake(name),) if editable else (),
        export=HSDS,
    )


def _snake(name: str) -> str:
    from sharegraph.authz.catalogue.spec import snake

    return snake(name)


def version(what: str) -> FieldSpec:
    return column(
        "version",
        int,
        f"Bumped by every change of the {what}; pass it back to its update mutation.",
        S.INTERNAL,
        export=NOT_IN_HSDS,
    )


def updated_at(what: str, export: Export = NOT_IN_HSDS) -> FieldSpec:
    return column("updatedAt", datetime, f"When the {what} last changed (UTC).", P, export=export)


def tenant(what: str) -> FieldSpec:
    return relation(
        "tenant", "Tenant", f"The tenant whose directory holds the {what}.", P, export=NOT_IN_HSDS
    )


def history(what: str) -> FieldSpec:
    return relation(
        "history",
        "DirectoryChange",
        f"Changed fields of the {what}, newest first, with who and when.",
        S.INTERNAL,
        many=True,
        export=HISTORY_ONLY,
    )


def taxonomy_terms(what: str) -> FieldSpec:
    return relation(
        "taxonomyTerms",
        "TaxonomyTerm",
        f"Taxonomy terms the {what} is coded with (`addTaxonomyLink`).",
        P,
        many=True,
        export=HSDS,
    )


def phones(what: str) -> FieldSpec:
    return relation("phones", "Phone", f"Phone numbers of the {what}.", P, many=True, export=HSDS)


def schedules(what: str) -> FieldSpec:
    return relation(
        "schedules", "Schedule", f"When the {what} is open or delivered.", P, many=True, export=HSDS
    )


def active(what: str) -> FieldSpec:
    return column(
        "active",
        bool,
        f"False once the {what} is deactivated (or an import no longer holds it).",
        P,
        export=NOT_IN_HSDS,
    )


ORGANIZATION = TypeSpec(
    "Organization",
    "An organization that provides services (HSDS `organization`).",
    Kind.DIRECTORY,
    scoped=True,
    fields=(
        identity("organization"),
        uuid_of("organization", HSDS),
        hsds_text("name", "The organization's official or public name."),
        hsds_text("alternateName", "Another name it is known by."),
        hsds_text("description", "What the organization does and for whom."),
        hsds_text("email", "Its general contact e-mail address."),
        hsds_text("website", "Its website (a URL)."),
        hsds_text("taxStatus", "Its tax status (e.g. 501(c)(3))."),
        hsds_text("taxId", "Its tax identifier (e.g. an EIN)."),
        hsds_text("yearIncorporated", "The year it was incorporated.", value=int),
        hsds_text("legalStatus", "Its legal status (e.g. non-profit)."),
        hsds_text("logo", "URL of the organization's logo."),
        hsds_text("uri", "A persistent identifier of the organization (a URI)."),
        active("organization"),
        updated_at("organization"),
        tenant("organization"),
        relation("services", "Service", "Services it provides.", P, many=True, export=HSDS),
        relation("locations", "Location", "Places it operates from.", P, many=True, export=HSDS),
        relation("programs", "Program", "Programs it runs.", P, many=True, export=HSDS),
        phones("organization"),
        taxonomy_terms("organization"),
        version("organization"),
        history("organization"),
    ),
)

SERVICE = TypeSpec(
    "Service",
    "A service an organization provides (HSDS `service`); referrals point at it through a "
    "service at a location, and its capacities say how much it can take.",
    Kind.DIRECTORY,
    scoped=True,
    fields=(
        identity("service"),
        uuid_of("service", HSDS),
        hsds_text("name", "The service's name."),
        hsds_text("alternateName", "Another name it is known by."),
        hsds_text("description", "What the service offers and to whom."),
        hsds_text("url", "The service's web page (a URL)."),
        hsds_text("email", "An e-mail address for the service."),
        hsds_text(
            "status",
            "HSDS status: active, inactive, defunct or temporarily closed.",
            value=ServiceStatus,
        ),
        hsds_text("interpretationServices", "Interpretation offered (languages, sign language)."),
        hsds_text("applicationProcess", "How to apply for or access the service."),
        hsds_text("feesDescription", "Fees, if any, and how they are set."),
        hsds_text("eligibilityDescription", "Who is eligible, in words."),
        hsds_text("minimumAge", "The youngest age served, in years.", value=int),
        hsds_text("maximumAge", "The oldest age served, in years.", value=int),
        hsds_text("alert", "A short notice about the service (closures, changes)."),
        hsds_text("waitTime", "The usual wait, in words."),
        updated_at("service", HSDS),
        tenant("service"),
        relation(
            "organization",
            "Organization",
            "The organization that provides it.",
            P,
            inputs=("organization_id",),
            export=HSDS,
        ),
        relation(
            "program",
            "Program",
            "The program it belongs to, if any.",
            P,
            inputs=("program_id",),
            export=HSDS,
        ),
        relation(
            "serviceAtLocations",
            "ServiceAtLocation",
            "Where it is delivered: one entry per location.",
            P,
            many=True,
            export=HSDS,
        ),
        relation(
            "locations",
            "Location",
            "The locations it is delivered at.",
            P,
            many=True,
            export=NOT_IN_HSDS,
        ),
        phones("service"),
        schedules("service"),
        relation("languages", "Language", "Languages it is offered in.", P, many=True, export=HSDS),
        relation("serviceAreas", "ServiceArea", "Areas it serves.", P, many=True, export=HSDS),
        taxonomy_terms("service"),
        relation(
            "capacities",
            "ServiceCapacity",
            "How much it can take now, per unit (HSDS 3.1 service_capacity).",
            P,
            many=True,
            export=HSDS,
        ),
        version("service"),
        history("service"),
    ),
)

LOCATION = TypeSpec(
    "Location",
    "A place services are delivered at, or a postal or virtual location (HSDS `location`).",
    Kind.DIRECTORY,
    scoped=True,
    fields=(
        identity("location"),
        uuid_of("location", HSDS),
        hsds_text("name", "The location's name."),
        hsds_text("alternateName", "Another name it is known by."),
        hsds_text("description", "What and where it is."),
        hsds_text(
            "locationType", "HSDS location type: physical, postal or virtual.", value=LocationType
        ),
        hsds_text("transportation", "How to get there (public transport, parking)."),
        hsds_text("url", "A web page about the location (a URL)."),
        hsds_text("latitude", "WGS 84 latitude in degrees.", value=float),
        hsds_text("longitude", "WGS 84 longitude in degrees.", value=float),
        active("location"),
        updated_at("location"),
        tenant("location"),
        relation(
            "organization",
            "Organization",
            "The organization that operates it.",
            P,
            inputs=("organization_id",),
            export=HSDS,
        ),
        relation(
            "addresses", "Address", "Its physical and postal addresses.", P, many=True, export=HSDS
        ),
        phones("location"),
        schedules("location"),
        relation("languages", "Language", "Languages spoken there.", P, many=True, export=HSDS),
        version("location"),
        history("location"),
        taxonomy_terms("location"),
    ),
)

SERVICE_AT_LOCATION = TypeSpec(
    "ServiceAtLocation",
    "A service as delivered at one location: what a referral points at "
    "(HSDS `service_at_location`).",
    Kind.DIRECTORY,
    scoped=True,
    fields=(
        identity("service at location"),
        uuid_of("service at location", HSDS),
        hsds_text("description", "What is particular about the service at this location."),
        active("service at location"),
        updated_at("service at location"),
        tenant("service at location"),
        relation("service", "Service", "The service.", P, inputs=("service_id",), export=HSDS),
        relation("location", "Location", "The location.", P, inputs=("location_id",), export=HSDS),
        phones("service at location"),
        schedules("service at location"),
        version("service at location"),
        history("service at location"),
        taxonomy_terms("service at location"),
    ),
)

PROGRAM = TypeSpec(
    "Program",
    "A program of an organization that groups services (HSDS `program`); queue entries are "
    "assigned to programs.",
    Kind.DIRECTORY,
    scoped=True,
    fields=(
        identity("program"),
        uuid_of("program", HSDS),
        hsds_text("name", "The program's name.", editable=False),
        hsds_text("alternateName", "Another name it is known by.", editable=False),
        hsds_text("description", "What the program does.", editable=False),
        active("program"),
        updated_at("program"),
        tenant("program"),
        relation("organization", "Organization", "The organization that runs it.", P, export=HSDS),
        relation(
            "capacities",
            "ServiceCapacity",
            "How much the program can take now, per unit.",
            P,
            many=True,
            export=NOT_IN_HSDS,
        ),
        version("program"),
        history("program"),
    ),
)

TAXONOMY_TERM = TypeSpec(
    "TaxonomyTerm",
    "A term of a taxonomy (AIRS/211 LA, Open Eligibility...) that codes needs and services.",
    Kind.DIRECTORY,
    scoped=True,
    fields=(
        identity("taxonomy term"),
        uuid_of("taxonomy term", HSDS),
        hsds_text("code", "The term's code in its taxonomy (e.g. `BD-1800.2000`).", editable=False),
        hsds_text("name", "The term's name.", editable=False),
        hsds_text("description", "What the term covers.", editable=False),
        hsds_text(
            "language", "The language of the name and description (ISO 639).", editable=False
        ),
        hsds_text("termUri", "A URI that identifies the term.", editable=False),
        updated_at("taxonomy term"),
        tenant("taxonomy term"),
        relation("taxonomy", "Taxonomy", "The taxonomy the term belongs to.", P, export=HSDS),
        relation("parent", "TaxonomyTerm", "The broader term, if any.", P, export=HSDS),
        version("taxonomy term"),
    ),
)

TAXONOMY = TypeSpec(
    "Taxonomy",
    "A published vocabulary of terms (HSDS `taxonomy`).",
    Kind.DIRECTORY,
    scoped=True,
    fields=(
        identity("taxonomy"),
        uuid_of("taxonomy", HSDS),
        hsds_text("name", "The taxonomy's name.", editable=False),
        hsds_text("description", "What it is for.", editable=False),
        hsds_text("uri", "Where it is published (a URI).", editable=False),
        hsds_text("version", "The version of the taxonomy the terms come from.", editable=False),
    ),
)

ADDRESS = TypeSpec(
    "Address",
    "A location's physical or postal address (HSDS `address`).",
    Kind.DIRECTORY,
    fields=(
        uuid_of("address", HSDS),
        hsds_text("attention", "The person or office to address.", editable=False),
        hsds_text("address1", "The first line (street and number).", editable=False),
        hsds_text("address2", "The second line.", editable=False),
        hsds_text("city", "The city or town.", editable=False),
        hsds_text("region", "The region or county.", editable=False),
        hsds_text("stateProvince", "The state or province.", editable=False),
        hsds_text("postalCode", "The postal code.", editable=False),
        hsds_text("country", "The ISO 3166-1 alpha-2 country code.", editable=False),
        version("address"),
    ),
)

PHONE = TypeSpec(
    "Phone",
    "A phone number of an organization, service, location or service at a location.",
    Kind.DIRECTORY,
    fields=(
        identity("phone"),
        uuid_of("phone", HSDS),
        hsds_text("number", "The number, as dialled locally or in E.164."),
        hsds_text("extension", "An extension to dial after the number."),
        hsds_text("type", "HSDS phone type: text, voice, fax, cell, video, pager or textphone."),
        hsds_text("description", "What the number is for or when it answers."),
        version("phone"),
    ),
)

SCHEDULE = TypeSpec(
    "Schedule",
    "When a service or location is open, as RFC 5545 recurrence parts (HSDS `schedule`).",
    Kind.DIRECTORY,
    fields=(
        uuid_of("schedule", HSDS),
        hsds_text("description", "The schedule in words."),
        hsds_text("freq", "RFC 5545 frequency: WEEKLY or MONTHLY."),
        hsds_text("interval", "Every how many weeks or months.", value=int),
        hsds_text("byday", "Days: MO,TU... (2MO, the second Monday, when MONTHLY)."),
        hsds_text("bymonthday", "Days of the month (1-31, -1 the last)."),
        hsds_text("opensAt", "Opening time, HH:MM, e.g. 09:00."),
        hsds_text("closesAt", "Closing time, HH:MM, e.g. 17:30."),
        hsds_text("validFrom", "The first day it applies (ISO 8601 date).", value=date),
        hsds_text("validTo", "The last day it applies (ISO 8601 date).", value=date),
        hsds_text("timezone", "UTC offset in hours (HSDS) or an IANA zone name."),
        hsds_text("notes", "Anything else about the hours (holidays, appointments)."),
        hsds_text("attendingType", "How people attend (in person, online, phone)."),
        identity("schedule"),
        version("schedule"),
    ),
)

LANGUAGE = TypeSpec(
    "Language",
    "A language a service is offered in or a location speaks (HSDS `language`).",
    Kind.DIRECTORY,
    fields=(
        uuid_of("language", HSDS),
        hsds_text("name", "The language's name.", editable=False),
        hsds_text("code", "Its ISO 639 code.", editable=False),
        hsds_text("note", "A note (e.g. only on Tuesdays).", editable=False),
    ),
)

SERVICE_AREA = TypeSpec(
    "ServiceArea",
    "An area a service covers (HSDS `service_area`).",
    Kind.DIRECTORY,
    fields=(
        uuid_of("service area", HSDS),
        hsds_text("name", "The area's name.", editable=False),
        hsds_text("description", "The area in words.", editable=False),
        hsds_text(
            "extentType", "How the extent is given (geojson, topojson, kml, text).", editable=False
        ),
        hsds_text("uri", "A URI that identifies the area.", editable=False),
    ),
)

DIRECTORY_CHANGE = TypeSpec(
    "DirectoryChange",
    "One changed field of a directory record; who changed it is kept, not shown.",
    Kind.DIRECTORY,
    fields=(
        uuid_of("change", HISTORY_ONLY),
        column(
            "resourceId",
            uuid.UUID,
            "The UUID of the record that changed.",
            S.INTERNAL,
            export=HISTORY_ONLY,
        ),
        column(
            "resourceType",
            str,
            "HSDS table: `service`, `location`...",
            S.INTERNAL,
            export=HISTORY_ONLY,
        ),
        column(
            "action", str, "create, update, deactivate or delete.", S.INTERNAL, export=HISTORY_ONLY
        ),
        column(
            "fieldName", str, "HSDS field name: `minimum_age`.", S.INTERNAL, export=HISTORY_ONLY
        ),
        column("previousValue", str, "The value before, as text.", S.INTERNAL, export=HISTORY_ONLY),
        column(
            "replacementValue", str, "The value after, as text.", S.INTERNAL, export=HISTORY_ONLY
        ),
        column("changedAt", datetime, "When (UTC).", S.INTERNAL, export=HISTORY_ONLY),
    ),
)

TYPES = (
    ORGANIZATION,
    SERVICE,
    LOCATION,
    SERVICE_AT_LOCATION,
    PROGRAM,
    TAXONOMY_TERM,
    TAXONOMY,
    ADDRESS,
    PHONE,
    SCHEDULE,
    LANGUAGE,
    SERVICE_AREA,
    DIRECTORY_CHANGE,
)
