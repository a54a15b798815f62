"""How one field of a shared type is declared: the one place its metadata lives.

Everything else that lists fields (coordinates, the GraphQL types' plain fields and their
descriptions, the field guard's coverage, the mutation input maps, the export columns, the
e-mail template and statistics field lists, the sharing pickers) is derived from these
declarations or checked against them by a test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any

from sharegraph.datastore.enums import Sensitivity


class Storage(StrEnum):
    IDENTITY = "identity"  # the global id: never withheld from a row the plan lets through
    COLUMN = "column"  # a column of the type's own table
    RELATION = "relation"  # other rows, reached through a foreign key or link table
    COMPUTED = "computed"  # derived from stored values when read


class Kind(StrEnum):
    RECORD = "record"  # contact data: reads are audited per row
    DIRECTORY = "directory"  # the resource directory


class Format(StrEnum):
    """Ways a field leaves the system in files, besides the API."""

    CONTACT_RECORDS = "contact-records"  # the contact-record CSV and NDJSON exports
    PDF = "pdf"  # contact records e-mailed as PDFs (template fields)
    HSDS = "hsds"  # HSDS 3.0 JSON, tabular packages, the resources CSV, AIRS XML, /hsds/


@dataclass(frozen=True)
class Column:
    """An export column: a stable key (NDJSON) and its header (CSV)."""

    key: str
    header: str


@dataclass(frozen=True)
class Export:
    """Where a field leaves in files. ``Export.none(why)`` says explicitly that it does not."""

    formats: frozenset[Format] = frozenset()
    columns: tuple[Column, ...] = ()  # contact-record file columns it governs
    not_exported: str | None = None  # why it is in no file

    @classmethod
    def none(cls, why: str) -> Export:
        return cls(not_exported=why)

    def __post_init__(self) -> None:
        if bool(self.formats) == bool(self.not_exported):
            raise ValueError("an export says its formats or why it has none, not both")


@dataclass(frozen=True)
class FieldSpec:
    name: str  # the GraphQL field name, also the coordinate's second part
    description: str
    sensitivity: Sensitivity
    storage: Storage
    export: Export
    value: Any = None  # Python type of a column's or computed field's value
    target: str | None = None  # related type of a relation
    many: bool = False  # a relation to several rows
    attribute: str | None = None  # the model attribute of a column, when not the snake name
    label_text: str | None = None
    inputs: tuple[str, ...] = ()  # mutation input fields (Python names) that write it
    statistics: bool = False  # networkStatistics may group records by it
    graphql: bool = True  # False: a coordinate only, with no GraphQL field
    added: int = 1  # the catalogue revision that added it
    type_name: str = ""  # filled in by TypeSpec

    @property
    def coordinate(self) -> str:
        return f"{self.type_name}.{self.name}"

    @property
    def python_name(self) -> str:
        return snake(self.name)

    @property
    def column_attribute(self) -> str:
        return self.attribute or self.python_name

    @property
    def label(self) -> str:
        return self.label_text or words(self.name)


@dataclass(frozen=True)
class TypeSpec:
    name: str
    description: str
    kind: Kind
    fields: tuple[FieldSpec, ...]
    # Rows selected by the row scopes themselves; the other types follow the record they hang
    # off (a service's phones, a referral's outcomes).
    scoped: bool = False
    by_name: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        named: dict[str, FieldSpec] = {}
        for spec in self.fields:
            if spec.name in named:
                raise ValueError(f"{self.name}.{spec.name} is declared twice")
            filled = spec if spec.type_name else _with_type(spec, self.name)
            named[spec.name] = filled
        object.__setattr__(self, "fields", tuple(named.values()))
        object.__setattr__(self, "by_name", named)


def _with_type(spec: FieldSpec, type_name: str) -> FieldSpec:
    from dataclasses import replace

    return replace(spec, type_name=type_name)


@cache  # field names: a fixed set, converted on every compiled read
def snake(name: str) -> str:
    """``dateOfBirth`` -> ``date_of_birth``; ``address1`` -> ``address_1``."""
    spaced = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"(?<=[a-z])(\d)", r"_\1", spaced).lower()


def words(name: str) -> str:
    """``dateOfBirth`` -> ``Date of birth``."""
    text = snake(name).replace("_", " ")
    return text[:1].upper() + text[1:]


# -- declaring fields ------------------------------------------------------------------------


def identity(what: str, export: Export | None = None) -> FieldSpec:
    """The global id; a file that identifies rows does so by this field's authority (a row the
    plan lets out is never anonymous), with the row's UUID as the value."""
    return FieldSpec(
        name="id",
        description=f"The {what}'s global id (for `node(id:)` and typed lookups).",
        sensitivity=Sensitivity.PUBLIC,
        storage=Storage.IDENTITY,
        export=export or Export.none("files identify rows by their UUID"),
    )


def uuid_of(what: str, export: Export, label: str = "UUID") -> FieldSpec:
    import uuid

    return FieldSpec(
        name="uuid",
        description=f"The {what}'s UUID, stable across systems (HSDS and file exports use it).",
        sensitivity=Sensitivity.PUBLIC,
        storage=Storage.COLUMN,
        value=uuid.UUID,
        attribute="id",
        label_text=label,
        export=export,
    )


def column(
    name: str,
    value: Any,
    description: str,
    sensitivity: Sensitivity,
    *,
    export: Export,
    attribute: str | None = None,
    label: str | None = None,
    inputs: tuple[str, ...] = (),
    statistics: bool = False,
    added: int = 1,
) -> FieldSpec:
    return FieldSpec(
        name=name,
        description=description,
        sensitivity=sensitivity,
        storage=Storage.COLUMN,
        export=export,
        value=value,
        attribute=attribute,
        label_text=label,
        inputs=inputs,
        statistics=statistics,
        added=added,
    )


def relation(
    name: str,
    target: str,
    description: str,
    sensitivity: Sensitivity,
    *,
    export: Export,
    many: bool = False,
    label: str | None = None,
    inputs: tuple[str, ...] = (),
    statistics: bool = False,
    added: int = 1,
) -> FieldSpec:
    return FieldSpec(
        name=name,
        description=description,
        sensitivity=sensitivity,
        storage=Storage.RELATION,
        export=export,
        target=target,
        many=many,
        label_text=label,
        inputs=inputs,
        statistics=statistics,
        added=added,
    )


def computed(
    name: str,
    value: Any,
    description: str,
    sensitivity: Sensitivity,
    *,
    export: Export,
    label: str | None = None,
    added: int = 1,
) -> FieldSpec:
    return FieldSpec(
        name=name,
        description=description,
        sensitivity=sensitivity,
        storage=Storage.COMPUTED,
        export=export,
        value=value,
        label_text=label,
        added=added,
    )


# Shorthands for the common export declarations.
HSDS = Export(formats=frozenset({Format.HSDS}))


def record_file(*columns: tuple[str, str], pdf: bool = False) -> Export:
    formats = {Format.CONTACT_RECORDS} | ({Format.PDF} if pdf else set())
    return Export(formats=frozenset(formats), columns=tuple(Column(k, h) for k, h in columns))


PDF_ONLY = Export(formats=frozenset({Format.PDF}))
