"""The resource directory as AIRS XML 3.0, shaped like iCarol's exports (the BC 2-1-1 samples).

``Source`` (no namespace) > ``Agency`` (an organization) > ``Site`` (a location, with its
addresses, phones, hours, languages, transportation and coordinates) > ``SiteService`` (a
service delivered there, with its phones, hours and taxonomy codes). A service delivered at
several locations appears under each site with the same ``Key``, with the phones of the service
and of the service at that location, and the hours that hold there: the service at location's,
else the service's, else the location's (``TimeOpen`` days as ``09:00-17:00`` ranges, the
schedules' descriptions in ``Notes``). A service delivered at no location is listed under a
site that carries the agency's own key and name and nothing of a place. Our importer reads all
of it back to the same records. Only active organizations and active or
temporarily closed services are written (AIRS has no status to carry the rest).

Round trips: ``Source/@SourceEntity`` is the source system of the exported records when they
all came from one (so a re-import matches them again), else ``sharegraph <tenant>``; each
``Key`` is the record's source key when it came from that source, else its UUID.
Descriptions are HTML escaped once inside the XML text, as iCarol writes them (importers
unescape them once). Phone ``Type`` is a label, as in iCarol's files: the phone's description
when reading that label back gives the phone's kind (``Fax`` for a fax, ``After Hours`` for a
voice line), else ``Phone1``, ``Phone2``... for voice and ``Fax``, ``Cell``, ``Text``, ``Video``,
``Pager`` or ``TTY`` (the description then in ``Description``). Text is written as stored (no
scheme added to web addresses), so a re-import compares equal.

Written agency by agency (organizations in keyset batches), so memory stays flat.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph import __version__
from sharegraph.authz.disclosure import Disclosure
from sharegraph.datastore import models as m
from sharegraph.exporters.batches import keyset_batches
from sharegraph.exporters.contact_records import ExportFilter
from sharegraph.exporters.hsds import HsdsBuilder
from sharegraph.exporters.resources import directory_statement

ORGANIZATION_BATCH_SIZE = 50
DAYS = (("SU", "Sunday"), ("MO", "Monday"), ("TU", "Tuesday"), ("WE", "Wednesday"),
        ("TH", "Thursday"), ("FR", "Friday"), ("SA", "Saturday"))  # fmt: skip
PHONE_TYPES = {
    "fax": "Fax",
    "text": "Text",
    "cell": "Cell",
    "video": "Video",
    "pager": "Pager",
    "textphone": "TTY",
}
SERVICE_STATES = ("active", "temporarily closed")
# Phone Type labels read back as a kind other than voice (as importers map them).
PHONE_KINDS = {
    "fax": "fax",
    "tty": "textphone",
    "tdd": "textphone",
    "tty/tdd": "textphone",
    "cell": "cell",
    "mobile": "cell",
    "pager": "pager",
    "text": "text",
    "sms": "text",
    "video": "video",
}
# SiteService elements carrying a service's free texts (HTML escaped like descriptions).
SERVICE_TEXTS = (
    ("ApplicationProcess", "application_process"),
    ("Eligibility", "eligibility_description"),
    ("FeeStructureSource", "fees_description"),
    ("InterpretationServices", "interpretation_services"),
    ("WaitTime", "wait_time"),
)


def escape_html(text: str) -> str:
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def _sub(parent: ET.Element, tag: str, text: Any = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None and text != "":
        element.text = str(text)
    return element


class AirsKeys:
    """Keys of the exported records: source keys from the file's source, else UUIDs."""

    def __init__(self, source_entity: str) -> None:
        self.source_entity = source_entity

    def organization(self, organization: dict[str, Any]) -> str:
        for identifier in organization.get("organization_identifiers", []):
            if identifier.get("identifier_scheme") == self.source_entity:
                return str(identifier["identifier"])
        return str(organization["id"])

    def service(self, service: dict[str, Any]) -> str:
        """A service's (or a program's) key, from its source-id attributes."""
        values = {a.get("link_type"): a.get("value") for a in service.get("attributes", [])}
        if values.get("source_system") == self.source_entity and values.get("source_key"):
            return str(values["source_key"])
        return str(service["id"])

    def location(self, location: dict[str, Any]) -> str:
        if location.get("external_identifier_type") == self.source_entity:
            return str(location["external_identifier"])
        return str(location["id"])


class AirsWriter:
    def __init__(
        self, stream: IO[str], keys: AirsKeys, taxonomy_version: str | None = None
    ) -> None:
        self.stream = stream
        self.keys = keys
        self.taxonomy_version = taxonomy_version

    def start(self) -> None:
        moment = datetime.now(UTC).isoformat(timespec="milliseconds")
        attributes = {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xmlns:xsd": "http://www.w3.org/2001/XMLSchema",
            "SourceEntity": self.keys.source_entity,
            "OriginTimestamp": moment,
            "SoftwareVendor": "sharegraph",
            "SoftwareVersion": __version__,
            **({"TaxonomyVersion": self.taxonomy_version} if self.taxonomy_version else {}),
            "SchemaVersion": "3.0",
        }
        opening = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attributes.items())
        self.stream.write(f'<?xml version="1.0" encoding="utf-8"?>\n<Source {opening}>\n')

    def end(self) -> None:
        self.stream.write("</Source>\n")

    def agency(self, organization: dict[str, Any]) -> int:
        """Write one Agency; how many services it carries."""
        element = self._agency(organization)
        ET.indent(element, space="  ", level=1)
        self.stream.write("  " + ET.tostring(element, encoding="unicode") + "\n")
        return len({key.text for key in element.iterfind("Site/SiteService/Key")})

    # -- elements ---------------------------------------------------------------------------------
    def _agency(self, organization: dict[str, Any]) -> ET.Element:
        attributes = {"ExcludeFromWebsite": "false", "ExcludeFromDirectory": "false"}
        if organization.get("legal_status"):
            attributes = {"LegalStatus": organization["legal_status"], **attributes}
        agency = ET.Element("Agency", attributes)
        _sub(agency, "Key", self.keys.organization(organization))
        _sub(agency, "Name", organization.get("name"))
        _sub(agency, "AgencyDescription", escape_html(organization.get("description", "")))
        self._aka(agency, organization.get("alternate_name"))
        sites = self._sites(organization)
        first_with_address = next((s for s in sites if s[0].get("addresses")), None)
        if first_with_address is not None:
            agency_location = _sub(agency, "AgencyLocation")
            _sub(agency_location, "Name")
            _sub(agency_location, "SiteDescription")
            self._addresses(agency_location, first_with_address[0])
        self._phones(agency, [organization])
        self._url(agency, organization.get("website"))
        self._email(agency, organization.get("email"))
        if organization.get("tax_status"):
            _sub(agency, "IRSStatus", organization["tax_status"])
        if organization.get("tax_id"):
            _sub(agency, "FEIN", organization["tax_id"])
        if organization.get("year_incorporated") is not None:
            _sub(agency, "YearIncorporated", organization["year_incorporated"])
        for program in organization.get("programs", []):
            group = _sub(agency, "ServiceGroup")
            _sub(group, "Key", self.keys.service(program))
            _sub(group, "Name", program.get("name"))
            if program.get("description"):
                _sub(group, "Description", escape_html(program["description"]))
        for location, services in sites:
            self._site(agency, organization, location, services)
        return agency

    def _sites(
        self, organization: dict[str, Any]
    ) -> list[tuple[dict[str, Any], list[tuple[dict[str, Any], dict[str, Any] | None]]]]:
        """(location, [(service, its service-at-location there)]) per site, in a stable order;
        services delivered nowhere go to a site standing for the agency itself."""
        sites: dict[str, tuple[dict[str, Any], list[Any]]] = {}
        for location in organization.get("locations", []):
            sites[location["id"]] = (location, [])
        nowhere: list[Any] = []
        for service in organization.get("services", []):
            if service.get("status") not in SERVICE_STATES:
                continue
            placed = False
            for at_location in service.get("service_at_locations", []):
                location = at_location.get("location")
                if location is None:
                    continue
                sites.setdefault(location["id"], (location, []))[1].append((service, at_location))
                placed = True
            if not placed:
                nowhere.append((service, None))
        found = list(sites.values())
        if nowhere:
            agency_site = {
                "id": organization["id"],
                "name": organization.get("name"),
                "organization_identifiers": organization.get("organization_identifiers", []),
                "agency": True,
            }
            found.append((agency_site, nowhere))
        return found

    def _site(
        self,
        agency: ET.Element,
        organization: dict[str, Any],
        location: dict[str, Any],
        services: list[tuple[dict[str, Any], dict[str, Any] | None]],
    ) -> None:
        site = _sub(agency, "Site")
        key = (
            self.keys.organization(organization)
            if location.get("agency")
            else self.keys.location(location)
        )
        _sub(site, "Key", key)
        _sub(site, "Name", location.get("name") or organization.get("name"))
        _sub(site, "SiteDescription", escape_html(location.get("description", "")))
        self._aka(site, location.get("alternate_name"))
        self._addresses(site, location)
        self._phones(site, [location])
        self._url(site, location.get("url"))
        self._time_open(site, [location])
        self._languages(site, location)
        if location.get("transportation"):
            _sub(site, "PublicAccessTransportation", escape_html(location["transportation"]))
        for service, at_location in services:
            self._site_service(site, service, at_location)
        latitude, longitude = location.get("latitude"), location.get("longitude")
        if latitude is not None and longitude is not None:
            spatial = _sub(site, "SpatialLocation")
            _sub(spatial, "Datum", f"{latitude}, {longitude}")
            _sub(spatial, "Latitude", latitude)
            _sub(spatial, "Longitude", longitude)

    def _site_service(
        self, site: ET.Element, service: dict[str, Any], at_location: dict[str, Any] | None
    ) -> None:
        element = _sub(site, "SiteService")
        _sub(element, "Name", service.get("name"))
        _sub(element, "Key", self.keys.service(service))
        self._aka(element, service.get("alternate_name"))
        _sub(element, "Description", escape_html(service.get("description", "")))
        for tag, key in SERVICE_TEXTS:
            if service.get(key):
                _sub(element, tag, escape_html(service[key]))
        self._phones(element, [service, at_location or {}])
        # The hours at this site: the most specific ones (HSDS), so a reader gets each site's.
        at = at_location or {}
        owners = (at, service, at.get("location") or {})
        self._time_open(element, [next((o for o in owners if o.get("schedules")), {})])
        self._languages(element, service)
        for attribute in service.get("attributes", []):
            term = attribute.get("taxonomy_term")
            code = (term or {}).get("code") or (term or {}).get("name")
            if code:
                taxonomy = _sub(element, "Taxonomy")
                _sub(taxonomy, "Code", code)
        for area in service.get("service_areas", []):
            if area.get("name"):
                # Our area names are free text ("Osage County", "Langley, BC, Canada"): one
                # element carries all of it, so a re-import names the area the same.
                served = _sub(element, "GeographicAreaServed")
                _sub(served, "City", area["name"])
                if area.get("description"):
                    _sub(served, "Description", escape_html(area["description"]))
        self._url(element, service.get("url"))
        self._email(element, service.get("email"))
        program = service.get("program")
        if program is not None:
            _sub(element, "ServiceGroupKey", self.keys.service(program))

    def _languages(self, parent: ET.Element, owner: dict[str, Any]) -> None:
        languages = [lang.get("name") or lang.get("code") for lang in owner.get("languages", [])]
        if any(languages):
            spoken = _sub(parent, "Languages")
            for language in languages:
                if language:
                    _sub(spoken, "Name", language)

    def _aka(self, parent: ET.Element, name: str | None) -> None:
        if name:
            aka = _sub(parent, "AKA")
            _sub(aka, "Name", name)
            _sub(aka, "Confidential", "false")
            _sub(aka, "Description")

    def _addresses(self, parent: ET.Element, location: dict[str, Any]) -> None:
        addresses = location.get("addresses", [])
        for kind, tag in (("physical", "PhysicalAddress"), ("postal", "MailingAddress")):
            address = next((a for a in addresses if a.get("address_type") == kind), None)
            if address is None:
                continue
            element = _sub(parent, tag, Confidential="false")
            _sub(element, "Line1", address.get("address_1"))
            if address.get("address_2"):
                _sub(element, "Line2", address["address_2"])
            _sub(element, "City", address.get("city"))
            if address.get("region"):
                _sub(element, "County", address["region"])
            _sub(element, "State", address.get("state_province"))
            _sub(element, "ZipCode", address.get("postal_code"))
            _sub(element, "Country", address.get("country"))

    def _phones(self, parent: ET.Element, owners: list[dict[str, Any]]) -> None:
        voice = 0
        for owner in owners:
            for phone in owner.get("phones", []):
                kind = phone.get("type") or "voice"
                description = phone.get("description")
                # iCarol's Type is a label ("Phone1", "Fax", "After Hours"): the description
                # when reading it back gives the same kind, else the kind's own label.
                if description and PHONE_KINDS.get(description.lower(), "voice") == kind:
                    label, described = description, None
                elif kind == "voice":
                    voice += 1
                    label, described = f"Phone{voice}", description
                else:
                    label, described = PHONE_TYPES.get(kind, kind.title()), description
                element = _sub(parent, "Phone", TollFree="false", Confidential="false")
                _sub(element, "PhoneNumber", phone["number"])
                if phone.get("extension") is not None:
                    _sub(element, "Extension", phone["extension"])
                if described:
                    _sub(element, "Description", described)
                _sub(element, "Type", label)

    def _time_open(self, parent: ET.Element, owners: list[dict[str, Any]]) -> None:
        schedules = [s for owner in owners for s in owner.get("schedules", [])]
        if not schedules:
            return
        hours: dict[str, list[str]] = {}
        notes = []
        for schedule in schedules:
            opens, closes = schedule.get("opens_at"), schedule.get("closes_at")
            days = [d for d in (schedule.get("byday") or "").split(",") if d]
            if opens and closes:
                for day in days:
                    hours.setdefault(day, []).append(f"{opens[:5]}-{closes[:5]}")
            for text in (schedule.get("description"), schedule.get("notes")):
                if text:
                    notes.append(text)
        element = _sub(parent, "TimeOpen")
        for code, name in DAYS:
            if code in hours:
                _sub(element, name, ", ".join(hours[code]))
        if notes:
            _sub(element, "Notes", "; ".join(dict.fromkeys(notes)))

    def _url(self, parent: ET.Element, url: str | None) -> None:
        if url:
            element = _sub(parent, "URL")
            _sub(element, "Address", url)
            _sub(element, "Note")

    def _email(self, parent: ET.Element, email: str | None) -> None:
        if email:
            element = _sub(parent, "Email")
            _sub(element, "Address", email)


async def agencies(
    session: AsyncSession,
    access: Disclosure,
    flt: ExportFilter,
    *,
    batch_size: int = ORGANIZATION_BATCH_SIZE,
) -> AsyncIterator[tuple[list[Any], list[dict[str, Any]]]]:
    """(rows, full HSDS objects with full services) of the active organizations the plan lets
    out, batch by batch."""
    statement = directory_statement(access, m.Organization, flt).where(m.Organization.active)
    async for rows in keyset_batches(session, m.Organization, statement, batch_size=batch_size):
        builder = HsdsBuilder(session, access, raw=True)
        yield rows, await builder.organization_objects(rows, full=True, full_services=True)
