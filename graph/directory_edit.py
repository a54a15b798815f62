"""Editing the shared resource directory: one table-driven implementation for every record type.

``SPECS`` says, per record type, which input fields it takes (each a column, read through the
coordinate of the same name, with its HSDS checks), which records it hangs off and how it
retires (deactivated, or deleted). The GraphQL inputs, payloads and the mutations
``create<Type>``, ``update<Type>``, ``deactivate<Type>`` / ``delete<Type>`` are generated from it;
``addTaxonomyLink`` / ``removeTaxonomyLink`` tag records with taxonomy terms.

Who may write what (every check runs before anything is written):
- the caller's roles must allow the operation;
- a change (update, deactivate, delete) needs the row inside one of the caller's write scopes
  (``NOT_FOUND`` otherwise, like a row it cannot see) and every input field's coordinate
  writable under those scopes (``FORBIDDEN``, reason ``FORBIDDEN_INPUT``);
- a record that hangs off nothing (an organization, a location without one) is created only
  under a write grant with scope ``all`` on its owner;
- children follow the write scopes of their parent: a service or location is created under an
  organization, a service-at-location under its service, a phone or schedule under its record,
  a taxonomy link on its record, when the caller may change the parent (its relation
  coordinate, e.g. ``Organization.services``) and the child's fields under the scopes the parent
  falls under. So a guest whose agreement grants ``write`` on ``inventory:<id>`` adds phones to
  the services in that inventory, and services to the organizations in it, and nothing
  elsewhere. A scoped record created this way must land inside a write scope of the caller
  (``FORBIDDEN``, reason ``OUTSIDE_WRITE_SCOPE``: a ``region`` grant cannot create a service
  that has no location in the region yet);
- phones and schedules have no row scopes of their own: they are changed and deleted under the
  write scopes of their parent record (deleting one needs the parent's relation coordinate).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.coordinates import SCOPED_TYPES, TYPE_FIELDS
from sharegraph.authz.plan import Action
from sharegraph.datastore import hsds
from sharegraph.datastore import models as m
from sharegraph.errors import BadUserInput, Conflict, NotFound
from sharegraph.graph.arguments import INPUT
from sharegraph.graph.context import Info
from sharegraph.graph.enums import LocationType, ServiceStatus
from sharegraph.graph.guard import camel
from sharegraph.graph.inputs import decode_id, require_id
from sharegraph.graph.relay import Node, from_global_id, to_global_id
from sharegraph.graph.types.base import NODE_TYPES, maybe
from sharegraph.graph.types.catalogued import catalogued_input, input_descriptions
from sharegraph.graph.types.directory_history import coordinate_field
from sharegraph.graph.types.resources import TaxonomyTerm
from sharegraph.graph.writes import forget_cached, require_fields, transaction, write_target
from sharegraph.queries import directory_edit

UNSET: Any = strawberry.UNSET


@dataclass(frozen=True)
class Field:
    """One input field: a column of the record, read through the coordinate of the same name."""

    column: str
    type: Any
    checks: tuple[hsds.Check, ...] = ()
    required: bool = False  # given on create, never cleared
    default: Any = None  # on create, when left out
    description: str | None = None

    @property
    def coordinate(self) -> str:
        return coordinate_field(self.column)

    @property
    def input_name(self) -> str:
        return camel(self.column)


@dataclass(frozen=True)
class Parent:
    """A record the new record hangs off (given on create only)."""

    column: str
    type_name: str
    # The parent's field the new record appears in; set when the child follows the parent's
    # write scopes (see the module docstring).
    relation: str | None
    required: bool = False
    # (parent column, child column) that must hold the same value: a service's program must be
    # one of its organization's.
    same: tuple[str, str] | None = None

    @property
    def model(self) -> Any:
        return NODE_TYPES[self.type_name][0]

    @property
    def input_name(self) -> str:
        return camel(self.column)


@dataclass(frozen=True)
class RecordSpec:
    type_name: str
    fields: tuple[Field, ...]
    retire: str  # "deactivate" | "delete"
    retire_column: str | None = None  # what deactivating sets, and to what
    retire_value: Any = None
    parents: tuple[Parent, ...] = ()
    one_parent: bool = False  # exactly one of ``parents`` (phones, schedules)
    record_checks: tuple[hsds.RecordCheck, ...] = ()
    unique_with_parents: bool = False  # one record per combination of its parents

    @property
    def model(self) -> Any:
        return NODE_TYPES[self.type_name][0]

    @property
    def cls(self) -> Any:
        return NODE_TYPES[self.type_name][1]

    @property
    def payload_field(self) -> str:
        return self.type_name[:1].lower() + self.type_name[1:]

    @property
    def scoped(self) -> bool:
        return self.type_name in SCOPED_TYPES

    def parent_coordinate(self, parent: Parent) -> str | None:
        name = coordinate_field(parent.column, reference=True)
        return name if name in TYPE_FIELDS[self.type_name] else None


TEXT = str
uri, email = (hsds.uri,), (hsds.email,)
required_text = (hsds.not_blank,)

SPECS: dict[str, RecordSpec] = {
    spec.type_name: spec
    for spec in (
        RecordSpec(
            "Organization",
            (
                Field("name", TEXT, required_text, required=True),
                Field("alternate_name", TEXT),
                Field("description", TEXT, required_text, required=True),
                Field("email", TEXT, email),
                Field("website", TEXT, uri),
                Field("tax_status", TEXT),
                Field("tax_id", TEXT),
                Field("year_incorporated", int, (hsds.year,)),
                Field("legal_status", TEXT),
                Field("logo", TEXT, uri, description="URL of the organization's logo."),
                Field("uri", TEXT, uri, description="A persistent identifier of the organization."),
            ),
            retire="deactivate",
            retire_column="active",
            retire_value=False,
        ),
        RecordSpec(
            "Service",
            (
                Field("name", TEXT, required_text, required=True),
                Field("alternate_name", TEXT),
                Field("description", TEXT),
                Field("url", TEXT, uri),
                Field("email", TEXT, email),
                Field("status", ServiceStatus, required=True, default=ServiceStatus.ACTIVE),
                Field("interpretation_services", TEXT),
                Field("application_process", TEXT),
                Field("fees_description", TEXT),
                Field("eligibility_description", TEXT),
                Field("minimum_age", int, (hsds.age,)),
                Field("maximum_age", int, (hsds.age,)),
                Field("alert", TEXT),
                Field("wait_time", TEXT),
            ),
            retire="deactivate",
            retire_column="status",
            retire_value=ServiceStatus.INACTIVE,
            parents=(
                Parent("organization_id", "Organization", "services", required=True),
                Parent("program_id", "Program", None, same=("organization_id", "organization_id")),
            ),
            record_checks=(hsds.ordered("minimum_age", "maximum_age", "AGE_RANGE"),),
        ),
        RecordSpec(
            "Location",
            (
                Field("location_type", LocationType, required=True, default=LocationType.PHYSICAL),
                Field("name", TEXT),
                Field("alternate_name", TEXT),
                Field("description", TEXT),
                Field("transportation", TEXT),
                Field("url", TEXT, uri),
                Field("latitude", float, (hsds.latitude,)),
                Field("longitude", float, (hsds.longitude,)),
            ),
            retire="deactivate",
            retire_column="active",
            retire_value=False,
            parents=(Parent("organization_id", "Organization", "locations"),),
            record_checks=(hsds.both_or_neither("latitude", "longitude"),),
        ),
        RecordSpec(
            "ServiceAtLocation",
            (Field("description", TEXT),),
            retire="deactivate",
            retire_column="active",
            retire_value=False,
            parents=(
                Parent("service_id", "Service", "serviceAtLocations", required=True),
                Parent("location_id", "Location", None, required=True),
            ),
            unique_with_parents=True,
        ),
        RecordSpec(
            "Phone",
            (
                Field("number", TEXT, (hsds.phone_number,), required=True),
                Field("extension", TEXT, (hsds.extension,)),
                Field(
                    "type",
                    TEXT,
                    (hsds.one_of(hsds.PHONE_TYPES),),
                    description="One of: " + ", ".join(hsds.PHONE_TYPES) + ".",
                ),
                Field("description", TEXT),
            ),
            retire="delete",
            parents=(
                Parent("organization_id", "Organization", "phones"),
                Parent("service_id", "Service", "phones"),
                Parent("location_id", "Location", "phones"),
                Parent("service_at_location_id", "ServiceAtLocation", "phones"),
            ),
            one_parent=True,
        ),
        RecordSpec(
            "Schedule",
            (
                Field("description", TEXT),
                Field(
                    "freq",
                    TEXT,
                    (hsds.one_of(hsds.FREQUENCIES),),
                    description="WEEKLY or MONTHLY.",
                ),
                Field("interval", int, (hsds.positive,)),
                Field("byday", TEXT, (hsds.byday,), description="MO,TU... (2MO when MONTHLY)."),
                Field("bymonthday", TEXT, (hsds.bymonthday,)),
                Field("opens_at", TEXT, (hsds.time_of_day,), description="HH:MM, e.g. 09:00."),
                Field("closes_at", TEXT, (hsds.time_of_day,), description="HH:MM, e.g. 17:30."),
                Field("valid_from", date),
                Field("valid_to", date),
                Field(
                    "timezone",
                    TEXT,
                    (hsds.timezone,),
                    description="UTC offset in hours (HSDS) or an IANA zone name.",
                ),
                Field("notes", TEXT),
                Field("attending_type", TEXT),
            ),
            retire="delete",
            parents=(
                Parent("service_id", "Service", "schedules"),
                Parent("location_id", "Location", "schedules"),
                Parent("service_at_location_id", "ServiceAtLocation", "schedules"),
            ),
            one_parent=True,
            record_checks=(
                hsds.ordered("valid_from", "valid_to", "DATE_RANGE"),
                hsds.monthly_parts,
            ),
        ),
    )
}
# Types with a taxonomyTerms field.
LINKABLE = ("Organization", "Service", "Location", "ServiceAtLocation")


# -- validation ---------------------------------------------------------------------------------


def _length_check(model: Any, column: str) -> tuple[hsds.Check, ...]:
    length = getattr(model.__table__.columns[column].type, "length", None)
    return (hsds.max_length(length),) if length else ()


def _validated(spec: RecordSpec, given: dict[Field, Any], current: Any | None) -> dict[str, Any]:
    """Column values for ``given``, or ``BAD_USER_INPUT`` naming every bad field (the first in
    ``field`` and ``reason``)."""
    problems: list[tuple[str, hsds.Problem]] = []
    for field, value in given.items():
        if value is None:
            if field.required:
                problems.append((field.input_name, hsds.Problem("REQUIRED_FIELD", "is required")))
            continue
        for check in (*field.checks, *_length_check(spec.model, field.column)):
            problem = check(value)
            if problem is not None:
                problems.append((field.input_name, problem))
                break
    if not problems:
        after = {f.column: getattr(current, f.column, None) for f in spec.fields}
        after.update({f.column: v for f, v in given.items()})
        for record_check in spec.record_checks:
            problem = record_check(after)
            if problem is not None:
                problems.append((camel(problem.column or ""), problem))
    if problems:
        name, first = problems[0]
        raise BadUserInput(
            "; ".join(f"{n}: {p.message}" for n, p in problems),
            reason=first.reason,
            field=name,
            problems=[{"field": n, "reason": p.reason, "message": p.message} for n, p in problems],
        )
    return {f.column: v for f, v in given.items()}


# -- access -------------------------------------------------------------------------------------


async def _target(
    info: Info, spec: RecordSpec, row_id: uuid.UUID
) -> tuple[Any, frozenset[str] | None, Parent | None]:
    """The row to change, the write scopes it is changed under, and the parent giving them
    (records without row scopes of their own follow their parent's)."""
    if spec.scoped:
        row, scopes = await write_target(info, spec.model, row_id, spec.type_name)
        return row, scopes, None
    row = await info.context.loaders.one(spec.model, row_id)
    if row is None:
        raise NotFound(f"no such {spec.type_name}")
    for parent in spec.parents:
        parent_id = getattr(row, parent.column)
        if parent_id is not None:
            _, scopes = await write_target(info, parent.model, parent_id, spec.type_name)
            return row, scopes, parent
    return row, None, None  # hanging off nothing: only an `all` grant covers it


async def _create_scope(
    info: Info, spec: RecordSpec, input: Any, parents: dict[Parent, uuid.UUID]
) -> tuple[uuid.UUID, frozenset[str] | None]:
    """The owner of the new record and the write scopes it is created under (``None``: only an
    ``all`` grant covers it)."""
    ctx = info.context
    given_owner = decode_id(getattr(input, "tenant_id", None), "Tenant")
    scoping = next((p for p in parents if p.relation is not None), None)
    if scoping is None:
        owner = given_owner or ctx.principal.tenant_id
        if owner is None:
            raise BadUserInput(
                "tenantId: partner organizations have no directory of their own; give one",
                reason="TENANT_REQUIRED",
                field="tenantId",
            )
        ctx.plan.require_owner_write(spec.model, owner)
        return owner, None
    parent_row, scopes = await write_target(
        info, scoping.model, parents[scoping], scoping.type_name
    )
    owner = parent_row.tenant_id
    if given_owner is not None and given_owner != owner:
        raise BadUserInput(
            f"tenantId: differs from the owner of the {scoping.type_name}",
            reason="OWNER_MISMATCH",
            field="tenantId",
        )
    ctx.plan.require_owner_write(spec.model, owner)
    require_fields(info, scoping.type_name, owner, [str(scoping.relation)], scopes)
    return owner, scopes


async def _check_other_parents(
    info: Info, spec: RecordSpec, owner: uuid.UUID, parents: dict[Parent, uuid.UUID]
) -> None:
    """Parents the new record only points at must be visible, the owner's, and consistent."""
    loaders = info.context.loaders
    by_column = {p.column: i for p, i in parents.items()}
    for parent, parent_id in parents.items():
        if parent.relation is not None:
            continue  # the scoping parent: checked by _create_scope
        row = await loaders.one(parent.model, parent_id)
        if row is None:
            raise NotFound(f"no such {parent.type_name}")
        if row.tenant_id != owner:
            raise BadUserInput(
                f"{parent.input_name}: the {parent.type_name} is in another tenant's directory",
                reason="OTHER_TENANT",
                field=parent.input_name,
            )
        if parent.same is not None:
            theirs, ours = parent.same
            if getattr(row, theirs) != by_column.get(ours):
                raise BadUserInput(
                    f"{parent.input_name}: the {parent.type_name} is another organization's",
                    reason="OTHER_ORGANIZATION",
                    field=parent.input_name,
                )


async def _refuse_duplicate(
    session: AsyncSession, spec: RecordSpec, parents: dict[Parent, uuid.UUID]
) -> None:
    """One record per combination of parents (a service is offered once at a location)."""
    if not spec.unique_with_parents:
        return
    clash = await session.scalar(
        select(spec.model.id).where(
            *(getattr(spec.model, p.column) == i for p, i in parents.items())
        )
    )
    if clash is not None:
        raise Conflict(f"this {spec.type_name} exists already", reason="ALREADY_EXISTS")


# -- the operations -----------------------------------------------------------------------------


async def _reloaded(info: Info, spec: RecordSpec, row_id: uuid.UUID) -> Any:
    """The record as the caller now sees it (row scopes evaluated after the write)."""
    forget_cached(info, spec.model, row_id)
    return maybe(spec.cls, await info.context.loaders.one(spec.model, row_id))


async def create(info: Info, spec: RecordSpec, input: Any) -> Any:
    ctx = info.context
    operation = f"create{spec.type_name}"
    ctx.plan.require_operation(operation, Action.WRITE)
    parents = {
        p: i
        for p in spec.parents
        if (i := decode_id(getattr(input, p.column), p.type_name)) is not None
    }
    if spec.one_parent and len(parents) != 1:
        names = [p.input_name for p in spec.parents]
        raise BadUserInput(
            f"give exactly one of {', '.join(names)}", reason="ONE_PARENT", field=names[0]
        )
    owner, scopes = await _create_scope(info, spec, input, parents)
    await _check_other_parents(info, spec, owner, parents)
    given = {f: v for f in spec.fields if (v := getattr(input, f.column)) is not None}
    coordinates = [f.coordinate for f in given]
    coordinates += [c for p in parents if (c := spec.parent_coordinate(p))]
    require_fields(info, spec.type_name, owner, coordinates, scopes)
    values = _validated(spec, given, None)
    values.update({p.column: i for p, i in parents.items()})
    async with transaction(info, operation, input, input.idempotency_key) as w:
        if w.replayed is None:
            await _refuse_duplicate(w.session, spec, parents)
            row = await directory_edit.create(
                w.session, spec.model, owner, values, ctx.principal.id
            )
            if spec.scoped and scopes is not None and "all" not in scopes:
                await directory_edit.require_in_write_scope(
                    w.session, ctx.plan, spec.model, row, spec.type_name
                )
            w.result = {"id": str(row.id)}
    created = uuid.UUID((w.replayed or w.result)["id"])
    return await _reloaded(info, spec, created)


async def update(info: Info, spec: RecordSpec, input: Any) -> Any:
    ctx = info.context
    operation = f"update{spec.type_name}"
    ctx.plan.require_operation(operation, Action.WRITE)
    row_id = require_id(input.id, spec.type_name)
    row, scopes, _ = await _target(info, spec, row_id)
    given = {f: v for f in spec.fields if (v := getattr(input, f.column)) is not UNSET}
    require_fields(info, spec.type_name, row.tenant_id, [f.coordinate for f in given], scopes)
    values = _validated(spec, given, row)
    async with transaction(info, operation, input, input.idempotency_key) as w:
        if w.replayed is None:
            await directory_edit.update(
                w.session,
                ctx.plan,
                spec.model,
                row_id,
                input.version,
                values,
                ctx.principal.id,
                what=spec.type_name,
            )
            w.result = {"id": str(row_id)}
    return await _reloaded(info, spec, row_id)


async def deactivate(info: Info, spec: RecordSpec, input: Any) -> Any:
    ctx = info.context
    operation = f"deactivate{spec.type_name}"
    ctx.plan.require_operation(operation, Action.WRITE)
    row_id = decode_id(input.id, spec.type_name)
    assert row_id is not None and spec.retire_column is not None
    row, scopes, _ = await _target(info, spec, row_id)
    coordinate = coordinate_field(spec.retire_column)
    require_fields(info, spec.type_name, row.tenant_id, [coordinate], scopes)
    async with transaction(info, operation, input, input.idempotency_key) as w:
        if w.replayed is None:
            await directory_edit.update(
                w.session,
                ctx.plan,
                spec.model,
                row_id,
                input.version,
                {spec.retire_column: spec.retire_value},
                ctx.principal.id,
                what=spec.type_name,
                action="deactivate",
            )
            w.result = {"id": str(row_id)}
    return await _reloaded(info, spec, row_id)


async def delete(info: Info, spec: RecordSpec, input: Any) -> Any:
    ctx = info.context
    operation = f"delete{spec.type_name}"
    ctx.plan.require_operation(operation, Action.WRITE)
    row_id = require_id(input.id, spec.type_name)
    row, scopes, parent = await _target(info, spec, row_id)
    if parent is not None:
        require_fields(info, parent.type_name, row.tenant_id, [str(parent.relation)], scopes)
    else:
        every = [f.coordinate for f in spec.fields]
        require_fields(info, spec.type_name, row.tenant_id, every, scopes)
    async with transaction(info, operation, input, input.idempotency_key) as w:
        if w.replayed is None:
            await directory_edit.delete(
                w.session,
                ctx.plan,
                spec.model,
                row_id,
                input.version,
                ctx.principal.id,
                what=spec.type_name,
            )
            w.result = {"id": str(row_id)}
    forget_cached(info, spec.model, row_id)
    return DeletedRecordPayload(deleted_id=strawberry.ID(to_global_id(spec.type_name, row_id)))


# -- GraphQL: inputs, payloads and the Mutation root, generated from SPECS -----------------------


def _input(
    spec: RecordSpec, name: str, description: str, fields: list[tuple[str, Any, Any, str | None]]
) -> Any:
    """A strawberry input class from (python name, type, default, description) tuples; a field
    without a description of its own gets the catalogue's (or the write conventions')."""
    known = input_descriptions(spec.type_name)
    namespace: dict[str, Any] = {"__annotations__": {}}
    for python_name, annotation, default, text in fields:
        namespace["__annotations__"][python_name] = annotation
        namespace[python_name] = strawberry.field(
            default=default, description=text or known.get(python_name)
        )
    return strawberry.input(type(name, (), namespace), description=description)


def _create_input(spec: RecordSpec) -> Any:
    fields: list[tuple[str, Any, Any, str | None]] = []
    for parent in spec.parents:
        needed = parent.required and not spec.one_parent
        fields.append(
            (
                parent.column,
                strawberry.ID if needed else strawberry.ID | None,
                UNSET if needed else None,
                f"The {parent.type_name} it belongs to.",
            )
        )
    if not any(p.required and p.relation for p in spec.parents) and not spec.one_parent:
        fields.append(
            ("tenant_id", strawberry.ID | None, None, "Owner tenant, when no parent says it.")
        )
    for field in spec.fields:
        if field.required:
            default = UNSET if field.default is None else field.default
            fields.append((field.column, field.type, default, field.description))
        else:
            fields.append((field.column, field.type | None, None, field.description))
    if spec.one_parent:
        parents = ", ".join(p.input_name for p in spec.parents)
        description = f"A new {spec.type_name}: give exactly one of {parents}."
    else:
        description = f"A new {spec.type_name}."
    fields.append(("idempotency_key", str | None, None, None))
    return _input(spec, f"Create{spec.type_name}Input", description, fields)


def _update_input(spec: RecordSpec) -> Any:
    fields: list[tuple[str, Any, Any, str | None]] = [
        ("id", strawberry.ID, UNSET, None),
        ("version", int, UNSET, None),
    ]
    fields += [(f.column, f.type | None, UNSET, f.description) for f in spec.fields]
    fields.append(("idempotency_key", str | None, None, None))
    return _input(
        spec,
        f"Update{spec.type_name}Input",
        "Fields left out stay as they are; `null` clears a field.",
        fields,
    )


def _retire_input(spec: RecordSpec) -> Any:
    verb = spec.retire.capitalize()
    return _input(
        spec,
        f"{verb}{spec.type_name}Input",
        f"{verb} a {spec.type_name}.",
        [
            ("id", strawberry.ID, UNSET, None),
            ("version", int, UNSET, None),
            ("idempotency_key", str | None, None, None),
        ],
    )


def _payload(spec: RecordSpec) -> Any:
    name = _snake(spec.payload_field)
    namespace = {
        "__annotations__": {name: spec.cls | None},
        name: strawberry.field(description=f"The {spec.type_name} as it is now."),
    }
    return strawberry.type(
        type(f"{spec.type_name}Payload", (), namespace),
        description=f"The {spec.type_name} as written.",
    )


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


@strawberry.type(description="What a delete removed.")
class DeletedRecordPayload:
    deleted_id: strawberry.ID = strawberry.field(description="The global id of the deleted row.")


Operation = Callable[[Info, RecordSpec, Any], Awaitable[Any]]


def _mutation(
    spec: RecordSpec, verb: str, operation: Operation, input_cls: Any, payload: Any | None
) -> Any:
    async def resolve(info: Info, input: Any) -> Any:
        result = await operation(info, spec, input)
        if payload is None:
            return result
        return payload(**{_snake(spec.payload_field): result})

    resolve.__annotations__ = {
        "info": Info,
        "input": Annotated[input_cls, INPUT],
        "return": DeletedRecordPayload if payload is None else payload,
    }
    return strawberry.mutation(
        resolver=resolve, name=f"{verb}{spec.type_name}", description=_WHAT[verb](spec)
    )


# What each generated mutation does, for the schema's readers.
_WHAT: dict[str, Callable[[RecordSpec], str]] = {
    "create": lambda spec: (
        f"Adds a {spec.type_name} where you may write: a record that hangs "
        "off nothing needs a write grant with row scope `all` on its owner, a child one the right "
        "to change its parent. Checked against HSDS 3.0 (`BAD_USER_INPUT` with `extensions.field`)."
    ),
    "update": lambda spec: (
        f"Changes fields of a {spec.type_name} inside your write scopes "
        "(`NOT_FOUND` outside them, `FORBIDDEN` / `FORBIDDEN_INPUT` for a field you may not "
        "write); fields left out stay as they are, `null` clears one. Field history is kept."
    ),
    "deactivate": lambda spec: (
        f"Retires a {spec.type_name} inside your write scopes: it is "
        "kept, marked inactive, with its history."
    ),
    "delete": lambda spec: (
        f"Deletes a {spec.type_name}, under the write scopes of the record it belongs to."
    ),
}


def _mutations() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for spec in SPECS.values():
        payload = _payload(spec)
        retire: Operation = deactivate if spec.retire == "deactivate" else delete
        found[f"create_{_snake(spec.payload_field)}"] = _mutation(
            spec, "create", create, _create_input(spec), payload
        )
        found[f"update_{_snake(spec.payload_field)}"] = _mutation(
            spec, "update", update, _update_input(spec), payload
        )
        found[f"{spec.retire}_{_snake(spec.payload_field)}"] = _mutation(
            spec,
            spec.retire,
            retire,
            _retire_input(spec),
            payload if retire is deactivate else None,
        )
    return found


# -- taxonomy links -----------------------------------------------------------------------------


@strawberry.input(description="A taxonomy term on an organization, service or service at location.")
@catalogued_input()
class TaxonomyLinkInput:
    record_id: strawberry.ID = strawberry.field(
        description="The global id of the Organization, Service or ServiceAtLocation."
    )
    taxonomy_term_id: strawberry.ID = strawberry.field(
        description="The global id of the TaxonomyTerm (see `taxonomyTerms`)."
    )
    version: int | None = strawberry.field(
        default=None, description="The record's version you read, if it must not have changed."
    )
    idempotency_key: str | None = None


@strawberry.type(description="The record and term of a taxonomy link change.")
class TaxonomyLinkPayload:
    record: Node | None = strawberry.field(description="The record, as it is now.")
    taxonomy_term: TaxonomyTerm | None = strawberry.field(description="The term.")


async def _link(info: Info, input: TaxonomyLinkInput, *, add: bool) -> TaxonomyLinkPayload:
    ctx = info.context
    operation = "addTaxonomyLink" if add else "removeTaxonomyLink"
    ctx.plan.require_operation(operation, Action.WRITE)
    type_name, record_id = from_global_id(input.record_id, expected=LINKABLE)
    term_id = require_id(input.taxonomy_term_id, "TaxonomyTerm")
    spec = SPECS[type_name]
    row, scopes = await write_target(info, spec.model, record_id, type_name)
    require_fields(info, type_name, row.tenant_id, ["taxonomyTerms"], scopes)
    term = await ctx.loaders.one(m.TaxonomyTerm, term_id)
    if term is None:
        raise NotFound("no such taxonomy term")
    if term.tenant_id != row.tenant_id:
        raise BadUserInput(
            "taxonomyTermId: records take their own directory's taxonomy terms only",
            reason="OTHER_TENANT",
            field="taxonomyTermId",
        )
    async with transaction(info, operation, input, input.idempotency_key) as w:
        if w.replayed is None:
            await directory_edit.link_term(
                w.session,
                ctx.plan,
                spec.model,
                record_id,
                term_id,
                ctx.principal.id,
                add=add,
                expected_version=input.version,
                what=type_name,
            )
            w.result = {"id": str(record_id)}
    return TaxonomyLinkPayload(
        record=await _reloaded(info, spec, record_id), taxonomy_term=maybe(TaxonomyTerm, term)
    )


@strawberry.type
class TaxonomyLinkMutation:
    @strawberry.mutation(
        name="addTaxonomyLink",
        description=(
            "Tags an organization, service or service at location with a "
            "taxonomy term, when you may change that record."
        ),
    )
    async def add_taxonomy_link(
        self, info: Info, input: Annotated[TaxonomyLinkInput, INPUT]
    ) -> TaxonomyLinkPayload:
        return await _link(info, input, add=True)

    @strawberry.mutation(
        name="removeTaxonomyLink",
        description=("Removes a taxonomy term from a record you may change."),
    )
    async def remove_taxonomy_link(
        self, info: Info, input: Annotated[TaxonomyLinkInput, INPUT]
    ) -> TaxonomyLinkPayload:
        return await _link(info, input, add=False)


DirectoryEditMutation: Any = strawberry.type(
    type("DirectoryEditMutation", (TaxonomyLinkMutation,), _mutations())
)
