"""GraphQL types of the shared domain types, built from the field catalogue.

``@shared_type("ContactRecord", m.ContactRecord)`` makes a class the GraphQL type of a catalogue
type (with the catalogue's description; with a model, a Node and federation entity). It adds
a nullable field for every stored column the catalogue declares and the class does not define
itself (so a new column needs no edit here), and gives every field the catalogue's
description. Classes keep only what needs code: relations and computed fields, as resolvers.
Every class made this way is registered, and the field guard covers each of them (the
catalogue decides coverage, not the module a class lives in).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, Optional, TypeVar

import strawberry
from strawberry.types.field import StrawberryField

from sharegraph.authz.catalogue import CATALOGUE, Storage

T = TypeVar("T")

# GraphQL type name -> class, for every catalogued class.
CATALOGUED: dict[str, type[Any]] = {}


def catalogued(type_name: str) -> Callable[[type[T]], type[T]]:
    spec = CATALOGUE[type_name]

    def build(cls: type[T]) -> type[T]:
        annotations = dict(inspect.get_annotations(cls))
        for field in spec.fields:
            if not field.graphql:
                continue
            if field.storage is Storage.IDENTITY:
                # The Node interface's id, redeclared to carry the type's own description.
                annotations["id"] = strawberry.ID
                cls.id = strawberry.field(description=field.description)  # type: ignore[attr-defined]
                continue
            defined = cls.__dict__.get(field.python_name)
            if isinstance(defined, StrawberryField):
                defined.description = field.description
                continue
            if field.python_name in annotations:
                raise TypeError(
                    f"{type_name}.{field.name} is declared in the catalogue; "
                    "drop its annotation from the class"
                )
            if field.storage is not Storage.COLUMN:
                raise TypeError(f"{type_name}.{field.name} needs a resolver on the class")
            annotations[field.python_name] = Optional[field.value]  # noqa: UP045
            setattr(
                cls,
                field.python_name,
                strawberry.field(name=field.name, description=field.description, default=None),
            )
        cls.__annotations__ = annotations
        CATALOGUED[type_name] = cls
        return cls

    return build


def shared_type(
    type_name: str, model: Any = None, *, entity: bool = True
) -> Callable[[type[T]], type[T]]:
    """The GraphQL type of catalogue type ``type_name``; with ``model``, also a Node fetchable
    by id and (``entity``) an Apollo Federation entity keyed by ``id``."""
    from sharegraph.graph.types.base import node_type

    description = CATALOGUE[type_name].description

    def build(cls: type[T]) -> type[T]:
        made = catalogued(type_name)(cls)
        if model is None:
            return strawberry.type(made, description=description)
        if entity:
            typed = strawberry.federation.type(made, keys=["id"], description=description)
        else:
            typed = strawberry.type(made, description=description)
        return node_type(model)(typed)  # type: ignore[no-any-return]

    return build


def column_attributes(type_name: str) -> dict[str, str]:
    """Python field name -> model attribute, for the stored columns of a catalogued type."""
    spec = CATALOGUE.get(type_name)
    if spec is None:
        return {}
    return {
        f.python_name: f.column_attribute
        for f in spec.fields
        if f.graphql and f.storage is Storage.COLUMN
    }


def input_descriptions(type_name: str | None) -> dict[str, str]:
    """Python input-field name -> description: the catalogue's for fields that write a
    catalogued field, and the write conventions every mutation input shares."""
    from sharegraph.datastore.idempotency import MAX_KEY_LENGTH

    found: dict[str, str] = {
        "idempotency_key": "A key you choose for this write (1 to "
        f"{MAX_KEY_LENGTH} characters), so that retrying after a timeout cannot write twice: "
        "the same key with the same input returns the first result; with another input it is "
        "`CONFLICT` / `IDEMPOTENCY_KEY_REUSED`. Keys are per principal.",
        "version": "The `version` you last read; if the row changed since, the write is "
        "refused with `CONFLICT` / `VERSION_MISMATCH` (read it again and retry).",
    }
    if type_name is None:
        return found
    found["id"] = f"The global id of the {type_name} it acts on."
    for spec in CATALOGUE[type_name].fields if type_name in CATALOGUE else ():
        for name in spec.inputs:
            found[name] = f"{spec.description} Writes `{spec.coordinate}`."
    return found


def catalogued_input(type_name: str | None = None) -> Callable[[type[T]], type[T]]:
    """Describes the fields of a mutation input (apply below ``@strawberry.input``): those
    that write a field of catalogue type ``type_name`` get that field's catalogue description,
    ``id``, ``version`` and ``idempotencyKey`` the shared conventions. A description the class
    gives itself is kept."""
    descriptions = input_descriptions(type_name)

    def build(cls: type[T]) -> type[T]:
        for name in inspect.get_annotations(cls):
            description = descriptions.get(name)
            if description is None:
                continue
            defined = cls.__dict__.get(name, dataclasses.MISSING)
            if isinstance(defined, StrawberryField):
                defined.description = defined.description or description
            elif defined is dataclasses.MISSING:
                setattr(cls, name, strawberry.field(description=description))
            else:
                setattr(cls, name, strawberry.field(default=defined, description=description))
        return cls

    return build
