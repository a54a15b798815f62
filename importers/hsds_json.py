"""HSDS 3.0 JSON: one object, a list of objects, an API ``Page`` (``contents``), or several of
these one after the other (NDJSON: one object a line, as ``--format ndjson`` exports and
``/hsds/...?format=ndjson`` answer).

Objects may be services, organizations, locations, services at locations, taxonomies or
taxonomy terms, each with what HSDS nests in it (a service's organization, program, phones,
schedules, service areas, languages, attributes and services at locations with their
locations). A field or list the object leaves out is left as it is (API list endpoints send
summaries); an explicit null, "" or [] empties it. Lists and pages stream item by item
(ijson: a JSON list of a whole directory does not fit in memory the way ``json.load`` needs).
The source system comes from ``--source``.
"""

from __future__ import annotations

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
)
from sharegraph.importers.report import ImportFailed
from sharegraph.importers.sources import Progress, no_progress

FORMAT = "hsds-json"

ORGANIZATION = (
    "name", "alternate_name", "description", "email", "website", "tax_status", "tax_id",
    "year_incorporated", "legal_status", "logo", "uri",
)  # fmt: skip
PROGRAM = ("name", "alternate_name", "description")
SERVICE = (
    "name", "alternate_name", "description", "url", "email", "status", "interpretation_services",
    "application_process", "fees_description", "eligibility_description", "minimum_age",
    "maximum_age", "alert", "wait_time", "assured_date",
)  # fmt: skip
LOCATION = (
    "location_type", "url", "name", "alternate_name", "description", "transportation", "latitude",
    "longitude", "external_identifier",
)  # fmt: skip
TAXONOMY = ("name", "description", "uri", "version")
TERM = ("code", "name", "description", "language", "term_uri")
CHILD_COLUMNS: dict[ChildTable, tuple[str, ...]] = {
    "phones": ("number", "extension", "type", "description"),
    "addresses": (
        "attention", "address_1", "address_2", "city", "region", "state_province", "postal_code",
        "country", "address_type",
    ),
    "schedules": (
        "valid_from", "valid_to", "dtstart", "timezone", "until", "count", "wkst", "freq",
        "interval", "byday", "byweekno", "bymonthday", "byyearday", "description", "opens_at",
        "closes_at", "schedule_link", "attending_type", "notes",
    ),
    "languages": ("name", "code", "note"),
    "service_areas": ("name", "description", "extent", "extent_type", "uri"),
}  # fmt: skip
_ORGANIZATION_ONLY = frozenset(
    {"website", "email", "tax_status", "tax_id", "year_incorporated", "legal_status", "logo",
     "locations", "programs", "phones", "organization_identifiers", "alternate_name", "funding"}
)  # fmt: skip
_TAXONOMY_KEYS = frozenset({"id", "name", "description", "uri", "version", "metadata"})
_NOT_IMPORTED = ("contacts", "funding", "cost_options", "required_documents", "accessibility",
                 "organization_identifiers")  # fmt: skip


def _key(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def kind_of(obj: dict[str, Any]) -> Kind | None:
    keys = set(obj)
    if {"service_id", "location_id"} <= keys or {"service", "location"} <= keys:
        return "service_at_location"
    if "status" in keys:
        return "service"
    if "location_type" in keys or "addresses" in keys or "latitude" in keys:
        return "location"
    if keys & {"taxonomy_detail", "term_uri", "code", "taxonomy_id", "parent_id"}:
        return "taxonomy_term"
    if keys & _ORGANIZATION_ONLY:
        return "organization"
    if "name" in keys and keys <= _TAXONOMY_KEYS:
        return "taxonomy"
    if "name" in keys:
        return "organization"
    return None


class HsdsJsonReader:
    format = FORMAT
    carried: frozenset[Kind] = frozenset(KINDS)

    def __init__(self, path: Path, progress: Progress = no_progress) -> None:
        self.path = path
        self.file = str(path)
        self.progress = progress
        self.ignored: set[str] = set()

    def items(self) -> Iterator[Item]:
        import ijson  # type: ignore[import-untyped]

        try:
            raw = self.path.open("rb")
        except OSError as error:
            raise ImportFailed(
                Origin(self.file), f"cannot read the file: {error.strerror}"
            ) from None
        with raw:
            counted = _Counting(raw, self.progress)
            try:
                events = ijson.parse(counted, use_float=True, multiple_values=True)
                for path, obj in _objects(events, self.file):
                    yield from self._object(obj, path)
            except ijson.JSONError as error:
                raise ImportFailed(Origin(self.file), f"malformed JSON: {error}") from None
            except UnicodeDecodeError as error:
                raise ImportFailed(
                    Origin(self.file), f"not UTF-8 text ({error.reason}); save it as UTF-8"
                ) from None

    def _object(self, obj: Any, path: str) -> Iterator[Item]:
        if not isinstance(obj, dict):
            yield Rejected(Origin(self.file, path=path), "not a JSON object")
            return
        kind = kind_of(obj)
        if kind is None or _key(obj.get("id")) is None:
            yield Rejected(Origin(self.file, path=path), "not an HSDS record (no id and name)")
            return
        if kind == "service":
            yield from self._service(obj, path)
        elif kind == "organization":
            yield from self._organization(obj, path)
        elif kind == "location":
            yield from self._location(obj, path, None)
        elif kind == "service_at_location":
            yield from self._service_at_location(obj, path, None)
        elif kind == "taxonomy_term":
            yield from self._term(obj, path)
        else:
            yield from self._taxonomy(obj, path)

    # -- one record each ----------------------------------------------------------------------
    def _origin(self, path: str) -> Origin:
        return Origin(self.file, path=path)

    def _note_ignored(self, obj: dict[str, Any], path: str) -> Iterator[Item]:
        for name in _NOT_IMPORTED:
            if obj.get(name) and name not in self.ignored:
                self.ignored.add(name)
                yield Note(
                    self._origin(f"{path}.{name}"),
                    f"{name} are not part of the directory model and are not imported",
                )

    def _children(
        self, obj: dict[str, Any], tables: tuple[ChildTable, ...], path: str
    ) -> dict[ChildTable, list[Child]]:
        children: dict[ChildTable, list[Child]] = {}
        for table in tables:
            if table not in obj:
                continue
            columns = CHILD_COLUMNS[table]
            rows = obj.get(table) or []
            children[table] = [
                Child({c: row.get(c) for c in columns}, origin=self._origin(f"{path}.{table}[{i}]"))
                for i, row in enumerate(rows if isinstance(rows, list) else [])
                if isinstance(row, dict)
            ]
        return children

    def _attributes(
        self, obj: dict[str, Any], path: str, children: dict[ChildTable, list[Child]]
    ) -> Iterator[Item]:
        if "attributes" not in obj:
            return
        links: list[Child] = []
        rows = obj.get("attributes") or []
        for index, attribute in enumerate(rows if isinstance(rows, list) else []):
            if not isinstance(attribute, dict):
                continue
            where = f"{path}.attributes[{index}]"
            term = attribute.get("taxonomy_term")
            if isinstance(term, dict) and _key(term.get("id")):
                yield from self._term(term, f"{where}.taxonomy_term")
            term_key = _key(attribute.get("taxonomy_term_id")) or (
                _key(term.get("id")) if isinstance(term, dict) else None
            )
            if term_key is None:
                yield Note(self._origin(where), "attribute without a taxonomy term; skipped")
                continue
            links.append(
                Child(
                    {"value": attribute.get("value")},
                    {"taxonomy_term_id": Ref("taxonomy_term", term_key)},
                    self._origin(where),
                )
            )
        children["attributes"] = links

    def _organization(self, obj: dict[str, Any], path: str) -> Iterator[Item]:
        key = _key(obj["id"])
        assert key is not None
        yield from self._note_ignored(obj, path)
        children = self._children(obj, ("phones",), path)
        yield from self._attributes(obj, path, children)
        refs: dict[str, Ref | None] = {}
        _link(obj, refs, "parent_organization_id", "parent_organization", "organization")
        yield Record(
            "organization",
            key,
            self._origin(path),
            values=_present(obj, ORGANIZATION),
            refs=refs,
            children=children,
        )
        organization = Ref("organization", key)
        for index, program in enumerate(obj.get("programs") or []):
            if isinstance(program, dict) and _key(program.get("id")):
                yield self._program(program, f"{path}.programs[{index}]", organization)
        for index, location in enumerate(obj.get("locations") or []):
            if isinstance(location, dict) and _key(location.get("id")):
                yield from self._location(location, f"{path}.locations[{index}]", organization)

    def _program(self, obj: dict[str, Any], path: str, organization: Ref | None) -> Record:
        key = _key(obj["id"])
        assert key is not None
        refs: dict[str, Ref | None] = {}
        _link(obj, refs, "organization_id", "organization", "organization", organization)
        return Record("program", key, self._origin(path), values=_present(obj, PROGRAM), refs=refs)

    def _location(self, obj: dict[str, Any], path: str, organization: Ref | None) -> Iterator[Item]:
        key = _key(obj["id"])
        assert key is not None
        yield from self._note_ignored(obj, path)
        children = self._children(obj, ("addresses", "phones", "schedules", "languages"), path)
        yield from self._attributes(obj, path, children)
        refs: dict[str, Ref | None] = {}
        _link(obj, refs, "organization_id", "organization", "organization", organization)
        yield Record(
            "location",
            key,
            self._origin(path),
            values=_present(obj, LOCATION),
            refs=refs,
            children=children,
        )

    def _service(self, obj: dict[str, Any], path: str) -> Iterator[Item]:
        key = _key(obj["id"])
        assert key is not None
        yield from self._note_ignored(obj, path)
        if isinstance(obj.get("organization"), dict) and _key(obj["organization"].get("id")):
            yield from self._organization(obj["organization"], f"{path}.organization")
        organization = _ref(obj, "organization_id", "organization", "organization")
        if isinstance(obj.get("program"), dict) and _key(obj["program"].get("id")):
            yield self._program(obj["program"], f"{path}.program", organization)
        children = self._children(obj, ("phones", "schedules", "service_areas", "languages"), path)
        yield from self._attributes(obj, path, children)
        links = [
            (index, sal)
            for index, sal in enumerate(obj.get("service_at_locations") or [])
            if isinstance(sal, dict) and _key(sal.get("id"))
        ]
        for index, sal in links:
            location = sal.get("location")
            if isinstance(location, dict) and _key(location.get("id")):
                yield from self._location(
                    location, f"{path}.service_at_locations[{index}].location", None
                )
        refs: dict[str, Ref | None] = {}
        _link(obj, refs, "organization_id", "organization", "organization")
        _link(obj, refs, "program_id", "program", "program")
        yield Record(
            "service",
            key,
            self._origin(path),
            values=_present(obj, SERVICE),
            refs=refs,
            children=children,
        )
        service = Ref("service", key)
        for index, sal in links:
            yield from self._service_at_location(
                sal, f"{path}.service_at_locations[{index}]", service
            )

    def _service_at_location(
        self, obj: dict[str, Any], path: str, service: Ref | None
    ) -> Iterator[Item]:
        key = _key(obj["id"])
        assert key is not None
        if service is None:
            nested = obj.get("service")
            if isinstance(nested, dict) and _key(nested.get("id")):
                yield from self._service(nested, f"{path}.service")
            service = _ref(obj, "service_id", "service", "service")
            location = obj.get("location")
            if isinstance(location, dict) and _key(location.get("id")):
                yield from self._location(location, f"{path}.location", None)
        children = self._children(obj, ("phones", "schedules"), path)
        yield from self._attributes(obj, path, children)
        yield Record(
            "service_at_location",
            key,
            self._origin(path),
            values=_present(obj, ("description",)),
            refs={
                "service_id": service,
                "location_id": _ref(obj, "location_id", "location", "location"),
            },
            children=children,
        )

    def _taxonomy(self, obj: dict[str, Any], path: str) -> Iterator[Item]:
        key = _key(obj["id"])
        assert key is not None
        yield Record("taxonomy", key, self._origin(path), values=_present(obj, TAXONOMY))

    def _term(self, obj: dict[str, Any], path: str) -> Iterator[Item]:
        key = _key(obj["id"])
        assert key is not None
        detail = obj.get("taxonomy_detail")
        if isinstance(detail, dict) and _key(detail.get("id")) and detail.get("name"):
            yield from self._taxonomy(detail, f"{path}.taxonomy_detail")
        refs: dict[str, Ref | None] = {}
        _link(obj, refs, "taxonomy_id", "taxonomy_detail", "taxonomy")
        _link(obj, refs, "parent_id", "parent", "taxonomy_term")
        yield Record(
            "taxonomy_term", key, self._origin(path), values=_present(obj, TERM), refs=refs
        )


def _ref(obj: dict[str, Any], column: str, nested: str, kind: Kind) -> Ref | None:
    key = _key(obj.get(column))
    if key is None and isinstance(obj.get(nested), dict):
        key = _key(obj[nested].get("id"))
    return Ref(kind, key) if key else None


def _link(
    obj: dict[str, Any],
    refs: dict[str, Ref | None],
    column: str,
    nested: str,
    kind: Kind,
    fallback: Ref | None = None,
) -> None:
    """Sets the reference when the object names it (null empties it), else ``fallback`` (the
    record it is nested in), else leaves it as it is."""
    if column in obj or nested in obj:
        refs[column] = _ref(obj, column, nested, kind) or fallback
    elif fallback is not None:
        refs[column] = fallback


def _present(obj: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    """The columns the object has: a key left out leaves the column as it is (list endpoints
    send summaries), an explicit null or "" empties it."""
    return {column: obj[column] for column in columns if column in obj}


class _Counting:
    """A binary file that reports how far it has been read."""

    def __init__(self, raw: Any, progress: Progress) -> None:
        self.raw = raw
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk: bytes = self.raw.read(size)
        self.progress(len(chunk))
        return chunk


def _objects(events: Iterator[tuple[str, str, Any]], file: str) -> Iterator[tuple[str, Any]]:
    """(JSON path, value) of each record: the items of a top-level list or of a page's
    ``contents``, else the top-level object itself; the same for each further top-level value
    (NDJSON), whose paths start with ``line N`` (counting values; one a line in NDJSON). Items
    are built one at a time."""
    count = 0
    for _, event, _ in events:
        count += 1
        where = "" if count == 1 else f"line {count}"
        if event == "start_array":
            yield from _items(events, where)
        elif event == "start_map":
            yield from _top_object(events, where)
        else:
            raise ImportFailed(Origin(file), "expected a JSON object or a list of objects")
    if count == 0:
        raise ImportFailed(Origin(file), "the file is empty")


def _top_object(events: Iterator[tuple[str, str, Any]], where: str) -> Iterator[tuple[str, Any]]:
    """The records of one top-level object, whose ``start_map`` has been read."""
    from ijson.common import ObjectBuilder  # type: ignore[import-untyped]

    top = ObjectBuilder()
    top.event("start_map", None)
    paged = False
    depth = 1
    for prefix, event, value in events:
        if depth == 1 and prefix == "contents" and event == "start_array":
            paged = True
            yield from _items(events, f"{where} contents".strip())
            top.event("start_array", None)
            top.event("end_array", None)
            continue
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                break
        top.event(event, value)
    if not paged:
        yield where, top.value


def _items(events: Iterator[tuple[str, str, Any]], prefix: str) -> Iterator[tuple[str, Any]]:
    from ijson.common import ObjectBuilder

    index, depth = 0, 0
    builder: Any = None
    for _, event, value in events:
        if depth == 0:
            if event == "end_array":
                return
            if event in ("start_map", "start_array"):
                builder = ObjectBuilder()
                builder.event(event, value)
                depth = 1
                continue
            yield f"{prefix}[{index}]", value
            index += 1
            continue
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                yield f"{prefix}[{index}]", builder.value
                index += 1
