"""What a format reader hands the importer: parsed records, independent of the file format.

A reader yields, in dependency order (a parent before the records that point at it):
``SourceName`` (when the data names its source system), ``Record`` per directory record,
``Rejected`` per bad record (with the keys it held, so a full import does not deactivate
them) and ``Note`` per warning. Values are raw: the importer coerces them to the columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sharegraph.datastore.models import (
    Address,
    Attribute,
    Language,
    Location,
    Organization,
    Phone,
    Program,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
)

Kind = Literal[
    "taxonomy",
    "taxonomy_term",
    "organization",
    "program",
    "location",
    "service",
    "service_at_location",
]
# Dependency order: every kind only points at kinds before it (self references are deferred).
KINDS: tuple[Kind, ...] = (
    "taxonomy",
    "taxonomy_term",
    "organization",
    "program",
    "location",
    "service",
    "service_at_location",
)
MODELS: dict[Kind, Any] = {
    "taxonomy": Taxonomy,
    "taxonomy_term": TaxonomyTerm,
    "organization": Organization,
    "program": Program,
    "location": Location,
    "service": Service,
    "service_at_location": ServiceAtLocation,
}

ChildTable = Literal["addresses", "phones", "schedules", "languages", "service_areas", "attributes"]


@dataclass(frozen=True)
class ChildSpec:
    """A table of rows that belong to one directory record.

    ``owners`` maps an owner kind to its foreign key, most specific first: a phone row with both
    ``service_id`` and ``location_id`` belongs to the service, so the location's phones are the
    rows whose more specific keys are all empty.
    """

    model: Any
    owners: dict[Kind, str]
    history_field: str


CHILD_SPECS: dict[ChildTable, ChildSpec] = {
    "phones": ChildSpec(
        Phone,
        {
            "service_at_location": "service_at_location_id",
            "service": "service_id",
            "location": "location_id",
            "organization": "organization_id",
        },
        "phones",
    ),
    "addresses": ChildSpec(Address, {"location": "location_id"}, "addresses"),
    "schedules": ChildSpec(
        Schedule,
        {
            "service_at_location": "service_at_location_id",
            "service": "service_id",
            "location": "location_id",
        },
        "schedules",
    ),
    "languages": ChildSpec(
        Language, {"service": "service_id", "location": "location_id"}, "languages"
    ),
    "service_areas": ChildSpec(
        ServiceArea,
        {"service_at_location": "service_at_location_id", "service": "service_id"},
        "service_areas",
    ),
    # Owned through (link_entity, link_id); see the importer.
    "attributes": ChildSpec(Attribute, {}, "taxonomy_terms"),
}


@dataclass(frozen=True)
class Origin:
    """Where a record came from: the file, and a line (CSV, XML) and/or an element path."""

    file: str
    line: int | None = None
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file}
        if self.line is not None:
            out["line"] = self.line
        if self.path is not None:
            out["path"] = self.path
        return out


@dataclass(frozen=True)
class Ref:
    """A reference to another record of the same source, by its source key."""

    kind: Kind
    key: str


@dataclass
class Child:
    values: dict[str, Any]
    # Foreign keys to records (attributes: the taxonomy term; phones: the other parents).
    refs: dict[str, Ref] = field(default_factory=dict)
    origin: Origin | None = None


@dataclass
class Record:
    kind: Kind
    key: str
    origin: Origin
    # Only the columns the format carries: a column left out is left as it is.
    values: dict[str, Any] = field(default_factory=dict)
    # Foreign key column -> reference; None when the data says "no such parent".
    refs: dict[str, Ref | None] = field(default_factory=dict)
    # Child tables the format carries: their rows are matched per record (missing ones removed).
    children: dict[ChildTable, list[Child]] = field(default_factory=dict)
    # Only children, for a record the file does not hold (a delta of phones, say): attached to
    # the record in the directory under --partial, else skipped with a warning.
    attach_only: bool = False


@dataclass
class Rejected:
    origin: Origin
    reason: str
    keys: list[Ref] = field(default_factory=list)


@dataclass
class Note:
    origin: Origin
    reason: str


@dataclass
class SourceName:
    name: str


Item = Record | Rejected | Note | SourceName
