"""The field catalogue is the one list of shared fields: everything else agrees with it.

Each test is two-way where both sides exist: what the catalogue declares is used, and what is
used is declared.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import strawberry

from sharegraph.authz.catalogue import CATALOGUE, Format, Storage
from sharegraph.authz.coordinates import TYPE_FIELDS
from sharegraph.exporters import hsds_spec
from sharegraph.exporters.contact_records import FIXED_COLUMNS
from sharegraph.graph.directory_edit import SPECS
from sharegraph.graph.guard import FieldGuard
from sharegraph.graph.mutations import (
    INPUT_COORDINATES,
    ClientInput,
    CreateContactRecordInput,
    UpdateContactRecordInput,
)
from sharegraph.graph.schema import build_schema
from sharegraph.graph.types.catalogued import CATALOGUED
from sharegraph.queries import statistics
from sharegraph.queries.email_templates import CLIENT_FIELDS, RECORD_FIELDS
from sharegraph.queries.form_sharing import STATISTICS_FIELDS
from sharegraph.settings import Settings

SCHEMA = build_schema(Settings())
FIELDS = [f for spec in CATALOGUE.values() for f in spec.fields]


def test_type_fields_are_the_catalogue() -> None:
    assert {t: tuple(f.name for f in s.fields) for t, s in CATALOGUE.items()} == TYPE_FIELDS


@pytest.mark.parametrize("type_name", sorted(CATALOGUE))
def test_every_graphql_field_is_declared_and_every_declared_field_is_exposed(
    type_name: str,
) -> None:
    graphql_type = SCHEMA._schema.get_type(type_name)
    assert graphql_type is not None, f"{type_name} is in the catalogue but not in the schema"
    exposed = set(graphql_type.fields)  # type: ignore[attr-defined]
    spec = CATALOGUE[type_name]
    declared = {f.name for f in spec.fields if f.graphql}
    internal = {f.name for f in spec.fields if not f.graphql}
    assert exposed == declared, (exposed - declared, declared - exposed)
    assert not exposed & internal


@pytest.mark.parametrize("type_name", sorted(CATALOGUE))
def test_descriptions_come_from_the_catalogue(type_name: str) -> None:
    graphql_type = SCHEMA._schema.get_type(type_name)
    spec = CATALOGUE[type_name]
    assert graphql_type.description == spec.description  # type: ignore[union-attr]
    for field in spec.fields:
        assert field.description.strip(), field.coordinate
        if field.graphql:
            assert graphql_type.fields[field.name].description == field.description  # type: ignore[union-attr]


@pytest.mark.parametrize("type_name", sorted(CATALOGUE))
def test_the_guard_covers_every_field_of_every_catalogued_type(type_name: str) -> None:
    definition = CATALOGUED[type_name].__strawberry_definition__
    for field in definition.fields:
        if field.python_name in {"row", "id"}:
            continue
        guards = [e for e in field.extensions if isinstance(e, FieldGuard)]
        assert len(guards) == 1, f"{type_name}.{field.graphql_name or field.python_name}"
        assert guards[0].coordinate.split(".", 1)[1] in TYPE_FIELDS[type_name]


def test_every_field_is_exported_or_says_why_not() -> None:
    for field in FIELDS:
        export = field.export
        assert bool(export.formats) != bool(export.not_exported), field.coordinate
        if export.columns:
            assert Format.CONTACT_RECORDS in export.formats, field.coordinate


def test_contact_record_file_columns_are_the_catalogue_columns() -> None:
    declared = [
        (c.key, c.header, None if f.storage is Storage.IDENTITY else f.name)
        for f in CATALOGUE["ContactRecord"].fields
        for c in f.export.columns
    ]
    assert [(c.key, c.header, c.field) for c in FIXED_COLUMNS] == declared
    in_files = {
        f.name
        for f in CATALOGUE["ContactRecord"].fields
        if Format.CONTACT_RECORDS in f.export.formats
    }
    assert {c.field or "id" for c in FIXED_COLUMNS} | {"answers"} == in_files
    # No other type claims the contact-record files.
    assert not {
        f.coordinate
        for f in FIELDS
        if f.type_name != "ContactRecord" and Format.CONTACT_RECORDS in f.export.formats
    }


def test_pdf_fields_are_the_catalogue_pdf_fields() -> None:
    declared = {f.coordinate: f.label for f in FIELDS if Format.PDF in f.export.formats}
    assert declared == {**RECORD_FIELDS, **CLIENT_FIELDS}


def _hsds_coordinates() -> set[str]:
    from sharegraph.authz.plan import MODEL_TYPES

    found: set[str] = set()
    for table in (v for v in vars(hsds_spec).values() if isinstance(v, hsds_spec.Table)):
        found |= {f"{table.type_name}.{c.coordinate}" for c in table.columns if c.coordinate}
        for link in table.links:
            owner = table.type_name if link.own else MODEL_TYPES[link.target]
            if link.relation:
                found.add(f"{owner}.{link.relation}")
    return found


def test_hsds_properties_are_governed_by_catalogue_fields_declared_for_hsds() -> None:
    declared = {f.coordinate for f in FIELDS if Format.HSDS in f.export.formats}
    tables = _hsds_coordinates()
    assert tables <= declared, tables - declared
    # What the tables do not name is followed by the builder between objects, by name.
    builder = Path(hsds_spec.__file__).with_name("hsds.py").read_text()
    followed = set(re.findall(r'"([a-z][A-Za-z]+)"', builder))
    unexplained = {
        c
        for c in declared - tables
        if c.split(".", 1)[1] not in followed and not c.endswith((".id", ".uuid"))
    }
    assert not unexplained


def test_contact_record_inputs_are_the_catalogue_inputs() -> None:
    not_fields = {"tenant_id", "id", "version", "idempotency_key", "answers"}  # answers: per key
    created = {f.name for f in dataclasses.fields(CreateContactRecordInput)} - not_fields
    assert created == set(INPUT_COORDINATES)
    updated = {f.name for f in dataclasses.fields(UpdateContactRecordInput)} - not_fields
    assert updated == set(INPUT_COORDINATES) - {"form_version_id"}  # a record keeps its form
    client_inputs = {name for f in CATALOGUE["Client"].fields for name in f.inputs}
    assert {f.name for f in dataclasses.fields(ClientInput)} == client_inputs


def test_directory_inputs_are_the_catalogue_inputs() -> None:
    for type_name, spec in SPECS.items():
        catalogue = CATALOGUE[type_name]
        writes = {name: f.name for f in catalogue.fields for name in f.inputs}
        edited = {f.column for f in spec.fields}
        parents = {p.column for p in spec.parents if p.relation is None or p.column in writes}
        assert edited <= set(writes), (type_name, edited - set(writes))
        assert set(writes) <= edited | {p.column for p in spec.parents}, type_name
        for field in spec.fields:
            assert writes[field.column] == field.coordinate, (type_name, field.column)
        assert parents <= {p.column for p in spec.parents}


def test_statistics_fields_are_the_catalogue_statistics_fields() -> None:
    declared = {f.name for f in CATALOGUE["ContactRecord"].fields if f.statistics}
    assert set(statistics.DIMENSION_FIELDS.values()) == declared
    assert {c.split(".", 1)[1] for c in STATISTICS_FIELDS} == declared


def test_column_fields_are_columns_of_their_model() -> None:
    from sharegraph.graph.types.base import NODE_TYPES

    for type_name, spec in CATALOGUE.items():
        if type_name not in NODE_TYPES:
            continue
        model, _ = NODE_TYPES[type_name]
        for field in spec.fields:
            if field.storage is Storage.COLUMN:
                assert hasattr(model, field.column_attribute), field.coordinate


def test_relations_name_catalogue_or_network_types() -> None:
    network = {"Tenant", "PartnerOrganization", "FormField"}
    for field in FIELDS:
        if field.storage is Storage.RELATION:
            assert field.target in CATALOGUE or field.target in network, field.coordinate


@strawberry.type(name="ContactRecord")
class Impostor:
    narrative: str | None


@strawberry.type
class ImpostorQuery:
    record: Impostor | None = None


def test_a_shared_type_declared_by_hand_is_refused() -> None:
    from sharegraph.graph.schema import Schema, require_catalogued

    with pytest.raises(RuntimeError, match="ContactRecord is a shared type"):
        require_catalogued(Schema(query=ImpostorQuery))
