"""Every type, field, argument, enum value and input field of the running schema has a
description: GraphiQL's docs and `schema.graphql` are a partner developer's manual.

Skipped: graphql's own introspection types (`__Schema`...) and the Apollo Federation built-ins
strawberry adds (`_Any`, `_Entity`, `_FieldSet`, `link__Import`, `link__Purpose` and
`Query._entities`), which it gives no description and has no hook to describe. Our own
`_service` / `_Service` are described like everything else.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
)

from sharegraph.authz.catalogue import CATALOGUE
from sharegraph.graph.sdl import running_schema

FEDERATION_BUILT_INS = {"_Any", "_Entity", "_FieldSet", "link__Import", "link__Purpose"}
FEDERATION_FIELDS = {"Query._entities"}


def undescribed(schema: GraphQLSchema) -> Iterator[str]:
    """Schema coordinates (`Type.field(arg:)`, `Enum.VALUE`) without a description."""
    for name, named in schema.type_map.items():
        if name.startswith("__") or name in FEDERATION_BUILT_INS:
            continue
        if not (named.description or "").strip():
            yield name
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                coordinate = f"{name}.{field_name}"
                if coordinate in FEDERATION_FIELDS:
                    continue
                if not (field.description or "").strip():
                    yield coordinate
                for arg_name, arg in field.args.items():
                    if not (arg.description or "").strip():
                        yield f"{coordinate}({arg_name}:)"
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                if not (input_field.description or "").strip():
                    yield f"{name}.{field_name}"
        elif isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                if not (value.description or "").strip():
                    yield f"{name}.{value_name}"


def test_every_part_of_the_schema_is_described() -> None:
    missing = sorted(undescribed(running_schema()))
    assert missing == [], (
        f"{len(missing)} schema coordinates have no description (write one for a partner "
        "developer: what it is, who may read or write it, units and formats; a shared type's "
        f"fields take theirs from authz/catalogue/): {missing}"
    )


def test_the_walk_finds_what_is_missing() -> None:
    from graphql import build_schema

    schema = build_schema(
        """
        "Described." type Query { "Described." a(x: Int): E, b: Int }
        enum E { "Described." ONE TWO }
        input I { "Described." f: Int, g: Int }
        type T { "Described." h(i: I): Int }
        """
    )
    assert sorted(undescribed(schema)) == sorted(
        ["Query.a(x:)", "Query.b", "E", "E.TWO", "I", "I.g", "T", "T.h(i:)"]
    )


def test_shared_types_take_their_field_descriptions_from_the_catalogue() -> None:
    schema = running_schema()
    for type_name, spec in CATALOGUE.items():
        found = schema.type_map.get(type_name)
        if not isinstance(found, GraphQLObjectType):
            continue
        for field_spec in spec.fields:
            if field_spec.graphql:
                field = found.fields[field_spec.name]
                assert field.description == field_spec.description, field_spec.coordinate
