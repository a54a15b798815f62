"""One action of an access plan, as exporters and the HSDS API use it: which rows (SQL), and
per row which fields and form answers may leave.

Everything here asks :class:`~sharegraph.authz.plan.AccessPlan`; nothing decides on its own.
Where one owner shares a type under several row scopes with different fields, the fields of a
row depend on the scopes it falls under: :meth:`FieldAccess.scopes` tells them for a batch of
rows in one statement per owner, or :meth:`FieldAccess.scope_columns` adds them to the batch's
own statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..authz.plan import MODEL_TYPES, AccessPlan, Action, has_scopes
from ..datastore.models import ClientConsent

NO_SCOPES: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ScopeColumn:
    """A boolean column telling whether a row of ``owner`` falls under row scope ``scope``."""

    label: str
    owner: uuid.UUID
    scope: str
    clause: ColumnElement[bool]


class FieldAccess:
    def __init__(self, plan: AccessPlan, action: Action) -> None:
        self.plan = plan
        self.action = action

    # -- rows ---------------------------------------------------------------------------------
    def where(self, model: Any) -> ColumnElement[bool]:
        return self.plan.row_filter(model, self.action)

    def owners(self, type_name: str) -> frozenset[uuid.UUID]:
        return self.plan.owners(type_name, self.action)

    # -- fields -------------------------------------------------------------------------------
    def uniform(self, type_name: str, owner: uuid.UUID) -> bool:
        return self.plan.uniform_fields(type_name, owner, self.action) is not None

    def fields(
        self, type_name: str, owner: uuid.UUID, row_scopes: Iterable[str] | None = None
    ) -> frozenset[str]:
        return self.plan.fields(type_name, owner, row_scopes, self.action)

    def coordinates(self, type_name: str, owner: uuid.UUID) -> list[str]:
        """Every coordinate of ``type_name`` some row of ``owner`` may carry (for the audit)."""
        grants = self.plan.grants(type_name, self.action).get(owner, ())
        fields = frozenset().union(*(g.fields for g in grants))
        return [f"{type_name}.{f}" for f in sorted(fields)]

    def anywhere(self, type_name: str, field: str, owners: Iterable[uuid.UUID]) -> bool:
        """Whether ``field`` may leave on at least some rows of ``owners``."""
        by_owner = self.plan.grants(type_name, self.action)
        return any(field in g.fields for o in owners for g in by_owner.get(o, ()))

    def everywhere(self, type_name: str, field: str, owner: uuid.UUID) -> bool:
        """Whether ``field`` may leave on every row of ``owner`` the plan lets through."""
        grants = self.plan.grants(type_name, self.action).get(owner, ())
        return bool(grants) and all(field in g.fields for g in grants)

    def owners_granting(self, type_name: str, field: str) -> list[uuid.UUID]:
        """Owners on every row of which ``field`` (a relation, usually) may leave."""
        return sorted(o for o in self.owners(type_name) if self.everywhere(type_name, field, o))

    def scope_columns(self, model: Any, owners: Iterable[uuid.UUID]) -> list[ScopeColumn]:
        """Columns to add to a statement on ``model`` so each row tells its own scopes (only
        for owners whose fields depend on them)."""
        type_name = MODEL_TYPES[model]
        found: list[ScopeColumn] = []
        if not has_scopes(model):
            return found
        for owner in sorted(owners):
            if self.uniform(type_name, owner):
                continue
            for name, clause in self.plan.scope_clauses(model, owner, self.action).items():
                found.append(ScopeColumn(f"sg_scope_{len(found)}", owner, name, clause))
        return found

    async def scopes(
        self, session: AsyncSession, model: Any, rows: Sequence[Any]
    ) -> dict[uuid.UUID, frozenset[str]]:
        """The scopes each row falls under, for rows whose owner's fields depend on them."""
        return await self.plan.matched_scopes(session, model, rows, self.action)

    # -- form answers (contact records) -------------------------------------------------------
    def answer_keys(
        self, owner: uuid.UUID, row_scopes: Iterable[str] | None
    ) -> tuple[frozenset[str], frozenset[str]]:
        """(answer keys that may leave, ids of the agreements granting them) for one record."""
        grants = self.plan.grants("ContactRecord", self.action).get(owner, ())
        if not self.uniform("ContactRecord", owner):
            matched = set(row_scopes or ())
            grants = tuple(g for g in grants if str(g.scope) in matched)
        keys = frozenset().union(*(g.answer_keys for g in grants))
        agreements = frozenset().union(*(g.agreements for g in grants if g.answer_keys))
        return keys, agreements

    def all_answer_keys(self, owners: Iterable[uuid.UUID]) -> frozenset[str]:
        by_owner = self.plan.grants("ContactRecord", self.action)
        return frozenset().union(*(g.answer_keys for o in owners for g in by_owner.get(o, ())))

    def part2_keys(self, owner: uuid.UUID) -> frozenset[str]:
        return self.plan.core.part2_keys.get(owner, frozenset())

    def purposes(self, agreements: Iterable[str]) -> set[str]:
        return {self.plan.core.purposes[a] for a in agreements if a in self.plan.core.purposes}


async def consents_of(
    session: AsyncSession, client_ids: Iterable[uuid.UUID]
) -> Mapping[uuid.UUID, list[Any]]:
    """Part 2 consents of a batch of clients (read to decide a disclosure, never exported)."""
    wanted = {c for c in client_ids if c is not None}
    grouped: dict[uuid.UUID, list[Any]] = {}
    if not wanted:
        return grouped
    found = await session.scalars(select(ClientConsent).where(ClientConsent.client_id.in_(wanted)))
    for consent in found.all():
        grouped.setdefault(consent.client_id, []).append(consent)
    return grouped


def now() -> datetime:
    return datetime.now(UTC)
