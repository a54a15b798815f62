"""The field catalogue: one declaration per field of every shared type.

A field's coordinate (``ContactRecord.narrative``), where it is stored, its GraphQL exposure and
description, the inputs that write it, the files it leaves in, its sensitivity class and the
catalogue revision that added it are declared here once (see :mod:`.spec`); every other list of
fields is derived from this one or checked against it (tests/test_catalogue.py).

**Revisions.** ``REVISION`` is the newest revision. A field added later declares
``added=REVISION + 1`` (and ``REVISION`` goes up): agreements approved at an older revision do
not grant it through their globs until an admin approves them again, so a new sensitive field
is never shared on the day it ships.
"""

from __future__ import annotations

from sharegraph.authz.catalogue import capacity, directory, queues, records
from sharegraph.authz.catalogue.spec import Export, FieldSpec, Format, Kind, Storage, TypeSpec

CATALOGUE: dict[str, TypeSpec] = {
    spec.name: spec for spec in (*records.TYPES, *queues.TYPES, *directory.TYPES, *capacity.TYPES)
}

REVISION = max(f.added for t in CATALOGUE.values() for f in t.fields)


def field_spec(coordinate: str) -> FieldSpec | None:
    """The declaration behind ``Type.field``; None for anything else (operations, answers)."""
    type_name, _, name = coordinate.partition(".")
    found = CATALOGUE.get(type_name)
    return None if found is None else found.by_name.get(name)


def revision_of(coordinate: str) -> int:
    """The revision a coordinate appeared in: form answers and operations count as always
    there (form fields are reviewed by the owner's own form editors)."""
    found = field_spec(coordinate)
    return 0 if found is None else found.added


__all__ = [
    "CATALOGUE",
    "REVISION",
    "Export",
    "FieldSpec",
    "Format",
    "Kind",
    "Storage",
    "TypeSpec",
    "field_spec",
    "revision_of",
]
