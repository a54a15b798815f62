"""iCarol AIRS XML 3.0: ``Source`` > ``Agency`` > ``Site`` > ``SiteService``.

Mapping (as in the domain notes): Agency -> organization (phones); Site -> location (physical
and mailing addresses, phones, coordinates, hours, languages, PublicAccessTransportation);
SiteService -> service (phones, taxonomy codes, areas served, languages, hours) +
service_at_location (key ``<service key>@<site key>``);
Taxonomy/Code -> taxonomy term (AIRS codes in the "AIRS/211 Taxonomy", anything else, such as
BC 211's facet strings, in "Local codes") linked by an attribute; Agency/ServiceGroup ->
program (SiteService/ServiceGroupKey links a service to it). The source system is
``Source/@SourceEntity``. Confidential phones and addresses are not imported. Descriptions
carry escaped HTML: they become plain text. ``TimeOpen`` days become weekly schedules
(see :mod:`.airs_hours`); language names also get their ISO 639 code when it is a known one.

A service delivered at several sites is listed once per site. It is read as one service: what
every copy carries is the service's; hours and phones that differ from site to site belong to
the service at that site (the hours a copy shares with its site are the site's own, as our
exporter writes a service without hours of its own). A site with the agency's key and nothing
of a place (no address, coordinates or phone) stands for the agency itself, as our exporter
writes services delivered at no location: its services get no location.

A bad Agency (no Key or Name) is rejected whole, with its element path and line; a bad Site or
SiteService only itself. Agencies stream one at a time (expat), whatever the file's size.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sharegraph.importers import airs_hours
from sharegraph.importers.records import (
    Child,
    Item,
    Kind,
    Note,
    Origin,
    Record,
    Ref,
    Rejected,
    SourceName,
)
from sharegraph.importers.report import ImportFailed
from sharegraph.importers.sources import Progress, XmlRecord, XmlStream, html_to_text, no_progress

FORMAT = "airs-xml"
CARRIED: frozenset[Kind] = frozenset(
    {
        "taxonomy",
        "taxonomy_term",
        "organization",
        "program",
        "location",
        "service",
        "service_at_location",
    }
)
AIRS_TAXONOMY = "airs"
LOCAL_TAXONOMY = "local"
_AIRS_CODE = re.compile(r"^[A-Z]{1,2}(-\d{4}(\.\d{4}(-\d{3}(\.\d{2,3})?)?)?)?(\*[A-Z].*)?$")
_PHONE_TYPES = {
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


def _text(parent: ET.Element, path: str) -> str | None:
    found = parent.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _plain(parent: ET.Element, path: str) -> str | None:
    return html_to_text(_text(parent, path))


def _name(parent: ET.Element, path: str) -> str | None:
    text = _text(parent, path)
    return html_to_text(text) if text else None


def _confidential(element: ET.Element) -> bool:
    return (element.get("Confidential") or "").strip().lower() == "true"


def service_at_location_key(service_key: str, site_key: str) -> str:
    return f"{service_key}@{site_key}"


class AirsXmlReader:
    format = FORMAT
    carried = CARRIED

    def __init__(self, path: Path, progress: Progress = no_progress) -> None:
        self.path = path
        self.file = str(path)
        self.stream = XmlStream(path, progress)
        self.taxonomies: set[str] = set()
        self.codes: set[str] = set()

    def items(self) -> Iterator[Item]:
        named = False
        for record in self.stream:
            if not named:
                named = True
                yield from self._source()
            tag = record.element.tag
            path = f"/{self.stream.root_tag}/{tag}[{record.index}]"
            if tag == "Agency":
                yield from self._agency(record, path)
            else:
                yield Note(Origin(self.file, record.line, path), f"<{tag}> is not read; skipped")
        if not named:
            yield from self._source()

    def _source(self) -> Iterator[Item]:
        if self.stream.root_tag != "Source":
            raise ImportFailed(
                Origin(self.file, 1),
                f"not an AIRS XML file: the root element is <{self.stream.root_tag}>, not <Source>",
            )
        entity = (self.stream.root_attributes.get("SourceEntity") or "").strip()
        if entity:
            yield SourceName(entity)

    def _origin(self, record: XmlRecord, element: ET.Element, path: str) -> Origin:
        return Origin(self.file, record.lines.get(element), path)

    def _agency(self, record: XmlRecord, path: str) -> Iterator[Item]:
        agency = record.element
        origin = self._origin(record, agency, path)
        key = _text(agency, "Key")
        inner = list(self._inner_keys(agency))
        if not key:
            yield Rejected(origin, "Agency has no Key", inner)
            return
        name = _name(agency, "Name")
        if not name:
            yield Rejected(origin, f"Agency {key} has no Name", [Ref("organization", key), *inner])
            return
        yield from self._terms(agency)
        yield Record(
            "organization",
            key,
            origin,
            values={
                "name": name,
                "alternate_name": self._aka(agency),
                "description": _plain(agency, "AgencyDescription"),
                "email": _text(agency, "Email/Address"),
                "website": _text(agency, "URL/Address"),
                "legal_status": agency.get("LegalStatus"),
                "tax_status": _text(agency, "IRSStatus"),
                "tax_id": _text(agency, "FEIN"),
                "year_incorporated": _text(agency, "YearIncorporated"),
            },
            children={"phones": self._phones(agency)},
        )
        organization = Ref("organization", key)
        for index, group in enumerate(agency.findall("ServiceGroup"), 1):
            group_path = f"{path}/ServiceGroup[{index}]"
            group_key, group_name = _text(group, "Key"), _name(group, "Name")
            group_origin = self._origin(record, group, group_path)
            if not group_key or not group_name:
                yield Rejected(group_origin, f"ServiceGroup in Agency {key} has no Key or Name")
                continue
            yield Record(
                "program",
                group_key,
                group_origin,
                values={"name": group_name, "description": _plain(group, "Description")},
                refs={"organization_id": organization},
            )
        copies: dict[str, list[_Copy]] = {}
        for index, site in enumerate(agency.findall("Site"), 1):
            site_path = f"{path}/Site[{index}]"
            site_origin = self._origin(record, site, site_path)
            site_key = _text(site, "Key")
            if not site_key:
                keys = [Ref("service", k) for k in self._keys(site, "SiteService/Key")]
                yield Rejected(site_origin, f"Site in Agency {key} has no Key", keys)
                continue
            location = self._site(site, site_key, site_origin, organization)
            if _stands_for_agency(site, site_key, key):
                where: str | None = None
            else:
                yield location
                where = site_key
            for number, service in enumerate(site.findall("SiteService"), 1):
                service_path = f"{site_path}/SiteService[{number}]"
                service_origin = self._origin(record, service, service_path)
                copy = self._copy(service, where or site_key, service_origin)
                if isinstance(copy, Rejected):
                    yield copy
                    continue
                copy.site_key = where
                copy.site_hours = location.children["schedules"]
                copies.setdefault(copy.key, []).append(copy)
        links: list[Item] = []
        for found in copies.values():
            yield from self._service(found, organization, links)
        yield from links

    def _inner_keys(self, agency: ET.Element) -> Iterator[Ref]:
        for site in agency.findall("Site"):
            site_key = _text(site, "Key")
            if site_key:
                yield Ref("location", site_key)
            for service in site.findall("SiteService"):
                service_key = _text(service, "Key")
                if service_key:
                    yield Ref("service", service_key)
                    if site_key:
                        yield Ref(
                            "service_at_location", service_at_location_key(service_key, site_key)
                        )

    def _keys(self, element: ET.Element, path: str) -> list[str]:
        return [
            found.text.strip()
            for found in element.findall(path)
            if found.text and found.text.strip()
        ]

    def _site(self, site: ET.Element, key: str, origin: Origin, organization: Ref) -> Record:
        return Record(
            "location",
            key,
            origin,
            values={
                "name": _name(site, "Name"),
                "alternate_name": self._aka(site),
                "description": _plain(site, "SiteDescription"),
                "transportation": _plain(site, "PublicAccessTransportation"),
                "url": _text(site, "URL/Address"),
                "latitude": _text(site, "SpatialLocation/Latitude"),
                "longitude": _text(site, "SpatialLocation/Longitude"),
            },
            refs={"organization_id": organization},
            children={
                "addresses": [
                    *self._addresses(site, "PhysicalAddress", "physical"),
                    *self._addresses(site, "MailingAddress", "postal"),
                ],
                "phones": self._phones(site),
                "schedules": self._hours(site),
                "languages": self._languages(site),
            },
        )

    def _copy(self, service: ET.Element, site_key: str, origin: Origin) -> _Copy | Rejected:
        """One SiteService: a service as delivered at one site."""
        key = _text(service, "Key")
        if not key:
            return Rejected(origin, f"SiteService at Site {site_key} has no Key")
        name = _name(service, "Name")
        if not name:
            keys = [
                Ref("service", key),
                Ref("service_at_location", service_at_location_key(key, site_key)),
            ]
            return Rejected(origin, f"SiteService {key} has no Name", keys)
        return _Copy(key, service, origin, self._hours(service), self._phones(service))

    def _service(self, copies: list[_Copy], organization: Ref, links: list[Item]) -> Iterator[Item]:
        """A service from its copies, one per site: what every copy carries belongs to the
        service; hours and phones only some carry belong to the service at that site."""
        first = copies[0]
        service = first.element
        group = _text(service, "ServiceGroupKey") or _text(service, "ServiceGroup/Key")
        record = Record(
            "service",
            first.key,
            first.origin,
            values={
                "name": _name(service, "Name"),
                "alternate_name": self._aka(service),
                "description": _plain(service, "Description"),
                "url": _text(service, "URL/Address"),
                "email": _text(service, "Email/Address"),
                "application_process": _plain(service, "ApplicationProcess"),
                "eligibility_description": _plain(service, "Eligibility"),
                "fees_description": _plain(service, "FeeStructureSource"),
                "interpretation_services": _plain(service, "InterpretationServices"),
                "wait_time": _plain(service, "WaitTime"),
            },
            refs={
                "organization_id": organization,
                "program_id": Ref("program", group) if group else None,
            },
            children={
                "attributes": [
                    Child({}, {"taxonomy_term_id": Ref("taxonomy_term", code)})
                    for code in self._keys(service, "Taxonomy/Code")
                ],
                "service_areas": self._areas(service),
                "languages": self._languages(service),
            },
        )
        content = _content(service)
        for copy in copies[1:]:
            if _content(copy.element) != content:
                yield Note(
                    copy.origin,
                    f"service {first.key} appears more than once with different content; "
                    "the first one is kept",
                )
        phones = _common([copy.phones for copy in copies])
        hours = _service_hours(copies)
        record.children["phones"] = phones
        record.children["schedules"] = hours if hours is not None else []
        yield record
        for copy in copies:
            if copy.site_key is None:
                continue
            own = copy.hours if hours is None and not copy.inherits() else []
            links.append(
                Record(
                    "service_at_location",
                    service_at_location_key(copy.key, copy.site_key),
                    copy.origin,
                    refs={
                        "service_id": Ref("service", copy.key),
                        "location_id": Ref("location", copy.site_key),
                    },
                    children={"phones": _without(copy.phones, phones), "schedules": own},
                )
            )

    def _terms(self, agency: ET.Element) -> Iterator[Item]:
        origin = Origin(self.file)
        for code in self._keys(agency, "Site/SiteService/Taxonomy/Code"):
            if code in self.codes:
                continue
            self.codes.add(code)
            taxonomy = AIRS_TAXONOMY if _AIRS_CODE.match(code) else LOCAL_TAXONOMY
            if taxonomy not in self.taxonomies:
                self.taxonomies.add(taxonomy)
                yield self._taxonomy(taxonomy)
            yield Record(
                "taxonomy_term",
                code,
                origin,
                values={"code": code, "name": code},
                refs={"taxonomy_id": Ref("taxonomy", taxonomy)},
            )

    def _taxonomy(self, key: str) -> Record:
        if key == AIRS_TAXONOMY:
            values = {
                "name": "AIRS/211 Taxonomy",
                "uri": "https://211taxonomy.org/",
                "version": self.stream.root_attributes.get("TaxonomyVersion"),
            }
        else:
            values = {
                "name": "Local codes",
                "description": "Codes of the source that are not AIRS/211 Taxonomy codes.",
            }
        return Record("taxonomy", key, Origin(self.file), values=values)

    def _aka(self, element: ET.Element) -> str | None:
        for aka in element.findall("AKA"):
            if (_text(aka, "Confidential") or "").lower() == "true":
                continue
            name = _name(aka, "Name")
            if name:
                return name
        return None

    def _phones(self, element: ET.Element) -> list[Child]:
        phones: list[Child] = []
        for phone in element.findall("Phone"):
            number = _text(phone, "PhoneNumber")
            if not number or number.lower() == "(none)" or _confidential(phone):
                continue
            label = _text(phone, "Type")
            kind = _PHONE_TYPES.get((label or "").lower(), "voice")
            phones.append(
                Child(
                    {
                        "number": number,
                        "extension": _text(phone, "Extension"),
                        "type": kind,
                        # iCarol's Type is a label ("Phone1", "After Hours"): it describes
                        # the phone, unless the file describes it itself.
                        "description": _text(phone, "Description") or label,
                    }
                )
            )
        return phones

    def _addresses(self, site: ET.Element, tag: str, kind: str) -> list[Child]:
        found: list[Child] = []
        for address in site.findall(tag):
            if _confidential(address):
                continue
            lines = [_text(address, f"Line{n}") for n in range(1, 5)]
            line1, rest = lines[0], [line for line in lines[1:] if line]
            values = {
                "address_1": line1,
                "address_2": ", ".join(rest) or None,
                "city": _text(address, "City"),
                "region": _text(address, "County"),
                "state_province": _text(address, "State"),
                "postal_code": _text(address, "ZipCode"),
                "country": _text(address, "Country"),
                "address_type": kind,
            }
            if any(values[c] for c in ("address_1", "city", "postal_code")):
                found.append(Child(values))
        return found

    def _areas(self, service: ET.Element) -> list[Child]:
        areas: list[Child] = []
        for area in service.findall("GeographicAreaServed"):
            parts = [_text(area, tag) for tag in ("City", "County", "State", "ZipCode", "Country")]
            name = ", ".join(part for part in parts if part)
            if name:
                areas.append(Child({"name": name, "description": _plain(area, "Description")}))
        return areas

    def _hours(self, element: ET.Element) -> list[Child]:
        time_open = element.find("TimeOpen")
        notes = _plain(element, "TimeOpen/Notes")
        if time_open is not None and len(time_open) == 0:
            notes = _plain(element, "TimeOpen")  # free text straight in the element
        return [Child(values) for values in airs_hours.time_open(time_open, notes)]

    def _languages(self, element: ET.Element) -> list[Child]:
        return [Child(airs_hours.language(name)) for name in self._keys(element, "Languages/Name")]


@dataclass
class _Copy:
    """A SiteService: one service as one site lists it."""

    key: str
    element: ET.Element
    origin: Origin
    hours: list[Child]
    phones: list[Child]
    site_key: str | None = None  # None: the site stands for the agency itself
    site_hours: list[Child] = field(default_factory=list)

    def inherits(self) -> bool:
        """Its hours are its site's (as our exporter writes a service without its own)."""
        return bool(self.site_hours) and _same(self.hours, self.site_hours)


def _same(one: list[Child], other: list[Child]) -> bool:
    return [c.values for c in one] == [c.values for c in other]


def _service_hours(copies: list[_Copy]) -> list[Child] | None:
    """The service's own hours when every site lists the same ones (and they are not merely
    each site's hours); None when they differ by site (they then belong to each site)."""
    first = copies[0].hours
    if all(_same(copy.hours, first) for copy in copies):
        return [] if all(copy.inherits() for copy in copies) else first
    return None


def _common(groups: list[list[Child]]) -> list[Child]:
    """The children every group holds (as many times as each holds them), in the first's order."""
    rest = [list(group) for group in groups[1:]]
    common: list[Child] = []
    for child in groups[0]:
        matches = [next((c for c in group if c.values == child.values), None) for group in rest]
        if all(match is not None for match in matches):
            common.append(child)
            for group, match in zip(rest, matches, strict=True):
                group.remove(match)  # type: ignore[arg-type]
    return common


def _without(children: list[Child], taken: list[Child]) -> list[Child]:
    left = list(children)
    for child in taken:
        match = next((c for c in left if c.values == child.values), None)
        if match is not None:
            left.remove(match)
    return left


_PER_SITE = frozenset({"Phone", "TimeOpen"})


def _content(service: ET.Element) -> list[Any]:
    """A SiteService without what may differ from site to site (nor its layout)."""
    return [_shape(child) for child in service if child.tag not in _PER_SITE]


def _shape(element: ET.Element) -> tuple[Any, ...]:
    children = [_shape(child) for child in element]
    return (element.tag, sorted(element.attrib.items()), (element.text or "").strip(), children)


def _stands_for_agency(site: ET.Element, site_key: str, agency_key: str) -> bool:
    """A site with the agency's key and nothing of a place (no address, coordinates or phone):
    our exporter lists the services delivered at no location under one."""
    return site_key == agency_key and all(
        site.find(tag) is None
        for tag in ("PhysicalAddress", "MailingAddress", "SpatialLocation", "Phone")
    )
