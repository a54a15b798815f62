"""The access plan: the one object that decides which rows and fields a request may touch.

Compiled once per request (from a cached :class:`PlanCore`), it answers in plain set lookups:
- ``row_filter(model, action)``: the SQL predicate every query on ``model`` must carry;
- ``fields(type, owner, scopes)``: which fields of a row the caller may read or write;
- ``operations``: which queries and mutations the caller's roles allow.
Every resolver and every datastore query takes it; nothing reads or writes a tenant-owned
table without asking it first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz import scopes
from sharegraph.authz.compiler import Grant, PlanCore
from sharegraph.authz.coordinates import DIRECTORY_TYPES, SCOPED_TYPES
from sharegraph.authz.principal import Principal
from sharegraph.datastore.base import Base
from sharegraph.datastore.chunks import chunks
from sharegraph.datastore.models import (
    Address,
    Attribute,
    CapacityChange,
    Client,
    ContactForm,
    ContactFormVersion,
    ContactRecord,
    ContactRecordNeed,
    DirectoryChange,
    FollowUp,
    FormField,
    Language,
    Location,
    Organization,
    Outcome,
    PartnerOrganization,
    Phone,
    Program,
    QueueEntry,
    QueueForm,
    QueueProgram,
    QueueStatus,
    Referral,
    ReferralNote,
    ReferralQueue,
    ReferralStatusChange,
    Schedule,
    ScheduledCapacityChange,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    Taxonomy,
    TaxonomyTerm,
    Tenant,
    Unit,
)
from sharegraph.datastore.rls import RlsScope
from sharegraph.errors import Forbidden, NotFound


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    EXPORT = "export"
    SUBSCRIBE = "subscribe"
    STATISTICS = "statistics"
    COMPOSE = "compose"


# Each table answers to the domain type whose grants govern it; link tables follow the type
# they hang off (a contact record's needs, a form's fields).
MODEL_TYPES: dict[type[Base], str] = {
    ContactRecord: "ContactRecord",
    ContactRecordNeed: "ContactRecord",
    Client: "Client",
    Referral: "Referral",
    Outcome: "Outcome",
    ReferralNote: "ReferralNote",
    ReferralStatusChange: "ReferralStatusChange",
    FollowUp: "FollowUp",
    ContactFormVersion: "ContactFormVersion",
    ContactForm: "ContactFormVersion",
    FormField: "ContactFormVersion",
    Organization: "Organization",
    Service: "Service",
    Location: "Location",
    ServiceAtLocation: "ServiceAtLocation",
    Program: "Program",
    TaxonomyTerm: "TaxonomyTerm",
    Attribute: "TaxonomyTerm",
    Taxonomy: "Taxonomy",
    Address: "Address",
    Phone: "Phone",
    Schedule: "Schedule",
    Language: "Language",
    ServiceArea: "ServiceArea",
    ServiceCapacity: "ServiceCapacity",
    CapacityChange: "CapacityChange",
    ScheduledCapacityChange: "ScheduledCapacityChange",
    DirectoryChange: "DirectoryChange",
    Unit: "Unit",
    ReferralQueue: "ReferralQueue",
    QueueStatus: "QueueStatus",
    QueueProgram: "ReferralQueue",
    QueueForm: "ReferralQueue",
    QueueEntry: "QueueEntry",
}
DIRECTORY_MODELS = frozenset(m for m, t in MODEL_TYPES.items() if t in DIRECTORY_TYPES)
# Who is in the network (tenant and partner names) is visible to every member of it.
NETWORK_MODELS: frozenset[type[Base]] = frozenset({Tenant, PartnerOrganization})

NO_GRANTS: tuple[Grant, ...] = ()


@dataclass
class AccessPlan:
    principal: Principal
    core: PlanCore
    _masks: dict[tuple[str, str, uuid.UUID], frozenset[str] | None] = field(
        default_factory=dict, repr=False
    )

    # -- rows ---------------------------------------------------------------------------------
    def grants(
        self, type_name: str, action: Action = Action.READ
    ) -> dict[uuid.UUID, tuple[Grant, ...]]:
        return self.core.grants.get((action.value, type_name), {})

    def owners(self, type_name: str, action: Action = Action.READ) -> frozenset[uuid.UUID]:
        return frozenset(self.grants(type_name, action))

    def row_filter(
        self, model: type[Any], action: Action = Action.READ, *, link: Any | None = None
    ) -> ColumnElement[bool]:
        """The SQL predicate limiting ``model`` rows to those this plan allows for ``action``.

        With ``link`` (a foreign key column between ``model`` and a parent model), the rows are
        reached from one parent row, whose columns the predicate may then also name
        (:func:`scopes.sql_via`); the rows it admits are the same."""
        if model in NETWORK_MODELS:
            return true() if action is Action.READ else false()
        type_name = MODEL_TYPES[model]
        by_owner = self.grants(type_name, action)
        if not by_owner:
            return false()
        column = model.tenant_id
        if not has_scopes(model):
            return _in(column, by_owner)
        # Owners sharing the same scopes collapse into one IN list.
        by_scopes: dict[tuple[scopes.Scope, ...], list[uuid.UUID]] = {}
        for owner, grants in by_owner.items():
            by_scopes.setdefault(tuple(sorted({g.scope for g in grants}, key=str)), []).append(
                owner
            )
        clauses = []
        for scope_set, owners in by_scopes.items():
            if any(s.name == "all" for s in scope_set):
                clauses.append(_in(column, owners))
            else:
                row_scope = scopes.sql_via(model, scope_set, self.core.grantee, link)
                clauses.append(and_(_in(column, owners), row_scope))
        return or_(*clauses)

    def row_filter_per_owner(
        self, model: type[Any], action: Action = Action.READ
    ) -> list[ColumnElement[bool]]:
        """:meth:`row_filter` as one predicate per owner tenant (each naming its
        ``tenant_id``), whose OR is the whole filter: a page sorted on an index that starts
        with ``tenant_id`` can then read each owner's first rows in index order and stop,
        where the OR across owners would sort every row it admits."""
        if model in NETWORK_MODELS or not has_scopes(model):
            return [self.row_filter(model, action)]
        by_owner = self.grants(MODEL_TYPES[model], action)
        found: list[ColumnElement[bool]] = []
        for owner in sorted(by_owner):
            scope_set = tuple(sorted({g.scope for g in by_owner[owner]}, key=str))
            mine = model.tenant_id == owner
            if any(s.name == "all" for s in scope_set):
                found.append(mine)
            else:
                found.append(and_(mine, scopes.sql_via(model, scope_set, self.core.grantee, None)))
        return found or [false()]

    def scope_clauses(
        self,
        model: type[Any],
        owner: uuid.UUID,
        action: Action = Action.READ,
        *,
        link: Any | None = None,
    ) -> dict[str, ColumnElement[bool]]:
        """Per-scope predicates, for telling which grants a row falls under (``link``: as in
        :meth:`row_filter`)."""
        return {
            str(g.scope): scopes.sql_via(model, (g.scope,), self.core.grantee, link)
            for g in self.grants(MODEL_TYPES[model], action).get(owner, ())
        }

    async def matched_scopes(
        self, session: AsyncSession, model: Any, rows: Iterable[Any], action: Action = Action.READ
    ) -> dict[uuid.UUID, frozenset[str]]:
        """For the rows whose fields under ``action`` depend on the scope they fall under (one
        owner sharing a type under several scopes with different fields): the scopes each row
        matches, by one query per owner. Other rows are left out: their fields are uniform."""
        type_name = MODEL_TYPES.get(model)
        if type_name is None or not has_scopes(model):
            return {}
        by_owner: dict[uuid.UUID, list[uuid.UUID]] = {}
        for row in rows:
            if self.uniform_fields(type_name, row.tenant_id, action) is None:
                by_owner.setdefault(row.tenant_id, []).append(row.id)
        found: dict[uuid.UUID, frozenset[str]] = {}
        for owner, ids in by_owner.items():
            found.update(dict.fromkeys(ids, frozenset()))
            clauses = self.scope_clauses(model, owner, action)
            names = list(clauses)
            if not names:
                continue
            labelled = [clauses[n].label(f"s{i}") for i, n in enumerate(names)]
            for batch in chunks(ids):
                statement = select(model.id, *labelled).where(model.id.in_(batch))
                for row_id, *hits in (await session.execute(statement)).all():
                    found[row_id] = frozenset(n for n, hit in zip(names, hits, strict=True) if hit)
        return found

    def allows_owner(
        self, model: type[Base], tenant_id: uuid.UUID, action: Action = Action.READ
    ) -> bool:
        if model in NETWORK_MODELS:
            return action is Action.READ
        return tenant_id in self.grants(MODEL_TYPES[model], action)

    def require_owner_write(self, model: type[Base], tenant_id: uuid.UUID) -> None:
        """Writing into a tenant the plan cannot see: ``NOT_FOUND``; seeing but not writing:
        ``FORBIDDEN``."""
        if not self.allows_owner(model, tenant_id, Action.READ):
            raise NotFound(f"no such {MODEL_TYPES.get(model, model.__name__)}")
        if not self.allows_owner(model, tenant_id, Action.WRITE):
            raise Forbidden(f"you may not change this {MODEL_TYPES.get(model, model.__name__)}")

    # -- fields -------------------------------------------------------------------------------
    def uniform_fields(
        self, type_name: str, owner: uuid.UUID, action: Action = Action.READ
    ) -> frozenset[str] | None:
        """The fields readable on every row of ``owner`` the plan lets through, if the same for all
        of them; ``None`` when it depends on which scope a row falls under."""
        key = (action.value, type_name, owner)
        if key not in self._masks:
            grants = self.grants(type_name, action).get(owner, NO_GRANTS)
            if not grants:
                self._masks[key] = frozenset()
            elif (
                len({(g.fields, g.answer_keys) for g in grants}) == 1
                or type_name not in ROW_SCOPED_TYPES
            ):
                self._masks[key] = frozenset().union(*(g.fields for g in grants))
            else:
                self._masks[key] = None
        return self._masks[key]

    def fields(
        self,
        type_name: str,
        owner: uuid.UUID,
        row_scopes: Iterable[str] | None = None,
        action: Action = Action.READ,
    ) -> frozenset[str]:
        uniform = self.uniform_fields(type_name, owner, action)
        if uniform is not None:
            return uniform
        matched = set(row_scopes or ())
        return frozenset().union(
            *(
                g.fields
                for g in self.grants(type_name, action).get(owner, ())
                if str(g.scope) in matched
            )
        )

    def answer_keys(
        self, owner: uuid.UUID, row_scopes: Iterable[str] | None = None
    ) -> tuple[frozenset[str], frozenset[str]]:
        """(readable answer keys, ids of the agreements granting them) for a contact record."""
        grants = self.grants("ContactRecord").get(owner, ())
        if self.uniform_fields("ContactRecord", owner) is None:
            matched = set(row_scopes or ())
            grants = tuple(g for g in grants if str(g.scope) in matched)
        keys = frozenset().union(*(g.answer_keys for g in grants))
        agreements = frozenset().union(*(g.agreements for g in grants if g.answer_keys))
        return keys, agreements

    def readable_everywhere(
        self, type_name: str, field_name: str, owners: Iterable[uuid.UUID] | None = None
    ) -> bool:
        """Whether a field is readable on every row the plan lets through (filters and sorts on
        anything less would reveal values)."""
        by_owner = self.grants(type_name)
        chosen = by_owner if owners is None else {o: by_owner[o] for o in owners if o in by_owner}
        return all(field_name in g.fields for grants in chosen.values() for g in grants)

    def write_grants(
        self, type_name: str, owner: uuid.UUID, row_scopes: Iterable[str] | None
    ) -> tuple[Grant, ...]:
        """Write grants that apply to a row under ``row_scopes``; ``None`` is a row being
        created, which only an ``all`` grant covers."""
        grants = self.grants(type_name, Action.WRITE).get(owner, ())
        if row_scopes is None:
            return tuple(g for g in grants if g.scope.name == "all")
        matched = set(row_scopes)
        return tuple(g for g in grants if str(g.scope) in matched)

    def writable_filter(self, model: type[Any], field_name: str) -> ColumnElement[bool]:
        """Rows of ``model`` on which ``field_name`` may be written: each owner's rows under a
        write grant that names the field (not merely under some write grant)."""
        clauses = []
        for owner, grants in self.grants(MODEL_TYPES[model], Action.WRITE).items():
            covering = [g for g in grants if field_name in g.fields]
            if any(g.scope.name == "all" for g in covering):
                clauses.append(model.tenant_id == owner)
            elif covering:
                in_scope = or_(*(scopes.sql(model, g.scope, self.core.grantee) for g in covering))
                clauses.append(and_(model.tenant_id == owner, in_scope))
        return or_(*clauses) if clauses else false()

    def can_write(
        self, type_name: str, owner: uuid.UUID, field_name: str, row_scopes: Iterable[str] | None
    ) -> bool:
        return any(field_name in g.fields for g in self.write_grants(type_name, owner, row_scopes))

    def allows_operation(self, operation: str, action: Action) -> bool:
        return operation in self.core.operations.get(action.value, frozenset())

    def require_operation(self, operation: str, action: Action) -> None:
        if not self.allows_operation(operation, action):
            raise Forbidden(
                f"your role may not use `{operation}`",
                reason="OPERATION_DENIED",
                operation=operation,
            )

    @property
    def home_tenant(self) -> uuid.UUID | None:
        return self.principal.tenant_id

    def is_own(self, owner: uuid.UUID) -> bool:
        return owner == self.principal.tenant_id

    def read_key(self) -> tuple[Any, ...]:
        """What reading through this plan depends on, besides the principal's own id: two
        plans with equal keys admit exactly the same rows and fields to a read (the read
        grants of every type, per owner, with their scopes, fields, answer keys and
        agreements; the read, subscribe and statistics operations; Part 2 keys; RLS scope;
        purposes; home; validity). Roles are left out: a role acts on reads only through
        these. Write, export and compose grants are left out too: nothing that reads consults
        them (a read that starts to must add them here)."""
        return (
            self.principal.tenant_id,
            self.principal.partner_organization_id,
            *_read_key(self.core),
        )

    def rls_scope(self) -> RlsScope:
        """The tenants a transaction under this plan may touch, for PostgreSQL RLS."""
        return self.core.rls_scope

    def rls_tenants(self) -> tuple[frozenset[uuid.UUID], frozenset[uuid.UUID]]:
        """Tenants whose record and directory rows this plan may touch (for database RLS)."""
        scope = self.core.rls_scope
        return scope.record_tenants or frozenset(), scope.directory_tenants or frozenset()


_SCOPED_MODEL = {
    MODEL_TYPES[m]: m
    for m in MODEL_TYPES
    if MODEL_TYPES[m] in SCOPED_TYPES and m.__name__ == MODEL_TYPES[m]
}


_READ_ACTIONS = (Action.READ.value, Action.SUBSCRIBE.value, Action.STATISTICS.value)
_READ_KEYS: dict[int, tuple[PlanCore, tuple[Any, ...]]] = {}  # id(core) -> (core, key)


def _read_key(core: PlanCore) -> tuple[Any, ...]:
    cached = _READ_KEYS.get(id(core))
    if cached is not None and cached[0] is core:
        return cached[1]
    key = (
        core.home,
        core.grantee,
        core.policy_version,
        core.expires_at,
        tuple(
            sorted(
                (type_name, tuple(sorted(by_owner.items(), key=lambda item: str(item[0]))))
                for (action, type_name), by_owner in core.grants.items()
                if action == Action.READ.value
            )
        ),
        tuple((action, core.operations.get(action, frozenset())) for action in _READ_ACTIONS),
        tuple(sorted(core.part2_keys.items(), key=lambda item: str(item[0]))),
        tuple(sorted(core.known_answer_keys.items(), key=lambda item: str(item[0]))),
        tuple(sorted(core.purposes.items())),
        core.rls_scope,
    )
    if len(_READ_KEYS) > 1_000:  # cores of old policy versions
        _READ_KEYS.clear()
    _READ_KEYS[id(core)] = (core, key)
    return key


def _scoped_model(type_name: str) -> type[Base] | None:
    return _SCOPED_MODEL.get(type_name)


# Types whose rows the row scopes select, directly or through the record they hang off: which
# fields a row shows may then depend on the scope it falls under.
ROW_SCOPED_TYPES = (
    SCOPED_TYPES | {MODEL_TYPES[m] for m in scopes.CHILD_PARENTS} | {"ContactFormVersion"}
)


def has_scopes(model: Any) -> bool:
    """Whether row scopes select among ``model``'s rows: a scoped type's own table, a child that
    follows its parent's scope, or a form version; link tables follow their parent's loader."""
    type_name = MODEL_TYPES.get(model)
    if type_name in SCOPED_TYPES and model is _scoped_model(type_name):
        return True
    return model in scopes.CHILD_PARENTS or model is ContactFormVersion


def _in(column: Any, owners: Iterable[uuid.UUID]) -> ColumnElement[bool]:
    values = sorted(owners)
    return column == values[0] if len(values) == 1 else column.in_(values)  # type: ignore[no-any-return]
