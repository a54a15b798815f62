"""Field-level enforcement: every field of a domain type asks the plan before it resolves.

Decided by schema coordinate (``Client.dateOfBirth``), never by response path, so aliases,
fragments, interfaces, ``node`` and nested paths all land here. A denied field resolves to
null without running its resolver; the response carries one ``FORBIDDEN_FIELD`` error per
coordinate (at its first path), not one per row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import FieldExtension
from strawberry.types import Info

from sharegraph.authz.coordinates import RECORD_TYPES, TYPE_FIELDS
from sharegraph.authz.disclosure import Disclosure
from sharegraph.authz.plan import AccessPlan

FIELDS_ATTRIBUTE = "_sg_fields"
SCOPES_ATTRIBUTE = "_sg_scopes"


def readable_fields(disclosure: Disclosure, type_name: str, row: Any) -> frozenset[str]:
    """The fields of ``row`` this request may read (cached on the row)."""
    cached: frozenset[str] | None = row.__dict__.get(FIELDS_ATTRIBUTE)
    if cached is None:
        cached = disclosure.fields(type_name, row.tenant_id, row_scopes_of(row))
        row.__dict__[FIELDS_ATTRIBUTE] = cached
    return cached


def row_scopes_of(row: Any) -> frozenset[str] | None:
    """The read scopes a loaded row was tagged with (see :func:`annotate_scopes`)."""
    found: frozenset[str] | None = row.__dict__.get(SCOPES_ATTRIBUTE)
    return found


class FieldGuard(FieldExtension):
    def __init__(self, type_name: str, field_name: str) -> None:
        super().__init__()
        self.type_name = type_name
        self.field_name = field_name
        self.coordinate = f"{type_name}.{field_name}"
        self.audited = type_name in RECORD_TYPES

    def _allowed(self, source: Any, info: Info[Any, Any]) -> bool:
        ctx = info.context
        row = source.row
        if self.field_name in readable_fields(ctx.disclosure, self.type_name, row):
            if self.audited:
                ctx.audit.read(self.type_name, row.tenant_id, row.id, self.coordinate)
            return True
        ctx.deny(self.coordinate, info.path.as_list(), row.tenant_id)
        return False

    def resolve(
        self, next_: Callable[..., Any], source: Any, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        return next_(source, info, **kwargs) if self._allowed(source, info) else None

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        if not self._allowed(source, info):
            return None
        result = next_(source, info, **kwargs)
        return await result if isinstance(result, Awaitable) else result


def guard(classes: Iterable[type[Any]]) -> None:
    """Attach a FieldGuard to every field of the domain types among ``classes``."""
    for cls in classes:
        type_name = cls.__name__
        if type_name not in TYPE_FIELDS:
            continue
        for field in cls.__strawberry_definition__.fields:
            if field.python_name == "row":
                continue  # strawberry.Private: the row itself, never exposed
            name = field.graphql_name or camel(field.python_name)
            if name == "id":
                continue  # the identity of a row the plan lets through is never withheld
            if any(isinstance(e, FieldGuard) for e in field.extensions):
                continue
            if name not in TYPE_FIELDS[type_name]:
                raise RuntimeError(
                    f"{type_name}.{name} is not in the field catalogue (authz/catalogue/)"
                )
            field.extensions.append(FieldGuard(type_name, name))


def camel(name: str) -> str:
    """A Python (column) name as its GraphQL field name: ``date_of_birth`` -> ``dateOfBirth``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


async def annotate_scopes(
    session: AsyncSession, plan: AccessPlan, model: Any, rows: list[Any]
) -> None:
    """Tag rows with the row scopes they fall under, where their readable fields depend on it.

    Only needed when one owner shares a type under several scopes with different fields; then
    one query per (model, owner) tells which scopes each row matches.
    """
    by_id = {row.id: row for row in rows}
    for row_id, matched in (await plan.matched_scopes(session, model, rows)).items():
        row = by_id[row_id]
        row.__dict__[SCOPES_ATTRIBUTE] = matched
        row.__dict__.pop(FIELDS_ATTRIBUTE, None)


async def row_scopes(
    session: AsyncSession, plan: AccessPlan, model: Any, row: Any, action: Any
) -> frozenset[str]:
    """The scopes of the plan's ``action`` grants that one row falls under."""
    clauses = plan.scope_clauses(model, row.tenant_id, action)
    if not clauses:
        return frozenset()
    names = list(clauses)
    statement = select(*(clauses[n].label(f"s{i}") for i, n in enumerate(names))).where(
        model.id == row.id
    )
    hits = (await session.execute(statement.select_from(model))).first()
    if hits is None:
        return frozenset()
    return frozenset(n for n, hit in zip(names, hits, strict=True) if hit)
