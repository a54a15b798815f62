"""Readable names for what policies spell as ids: grantee subjects and row-scope arguments.

Policies say ``partner:<uuid>/role:portal-user`` and ``shared_form:<uuid>``; people reading an
explanation or a preview want "Eastside Food Pantry (portal-user)" and "the form 'After-hours
intake'". :func:`load_names` reads every name needed in one query.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.policy import PUBLIC
from sharegraph.authz.scopes import Scope
from sharegraph.datastore.models import ContactForm, Inventory, PartnerOrganization, Tenant
from sharegraph.errors import quote

# What the id of each kind of row is called when its name is missing (deleted since).
_UNKNOWN = {
    "tenant": "a tenant no longer listed",
    "partner": "a partner organization no longer listed",
    "form": "a form no longer listed",
    "inventory": "an inventory no longer listed",
}


@dataclass(frozen=True)
class Names:
    """Names by id, and the phrases built from them."""

    by_id: Mapping[tuple[str, uuid.UUID], str]

    def of(self, kind: str, ident: uuid.UUID | None) -> str:
        """The name of a ``tenant``, ``partner``, ``form`` or ``inventory``."""
        if ident is None:
            return _UNKNOWN[kind]
        return self.by_id.get((kind, ident), _UNKNOWN[kind])

    def home(self, tenant_id: uuid.UUID | None, partner_id: uuid.UUID | None) -> str:
        return self.of("tenant", tenant_id) if tenant_id else self.of("partner", partner_id)

    def subject(self, subject: str) -> str:
        """A policy subject as people say it: "Eastside Food Pantry (portal-user)",
        "Lakeside Crisis Line", "the public"."""
        if subject == PUBLIC:
            return "the public"
        home, _, role = subject.partition("/role:")
        kind, _, ident = home.partition(":")
        name = (
            self.of(kind, _uuid(ident)) if kind in ("tenant", "partner") else "an unknown grantee"
        )
        return f"{name} ({role})" if role else name

    def scope(self, scope: Scope) -> str:
        """A row scope as people say it: "referred_to_grantee", "shared_form (the form
        'After-hours intake')"."""
        if scope.name in ("shared_form", "inventory") and scope.argument is not None:
            kind = "form" if scope.name == "shared_form" else "inventory"
            ident = _uuid(scope.argument)
            name = self.by_id.get((kind, ident)) if ident is not None else None
            return (
                f"{scope.name} ({_UNKNOWN[kind] if name is None else f'the {kind} {quote(name)}'})"
            )
        return str(scope)


def subject_ids(subjects: Iterable[str]) -> set[uuid.UUID]:
    """The tenant and partner ids policy subjects name."""
    found = set()
    for subject in subjects:
        _, _, ident = subject.partition("/role:")[0].partition(":")
        if (parsed := _uuid(ident)) is not None:
            found.add(parsed)
    return found


def scope_ids(scopes: Iterable[Scope]) -> set[uuid.UUID]:
    """The form and inventory ids row scopes name."""
    return {
        parsed
        for s in scopes
        if s.name in ("shared_form", "inventory") and (parsed := _uuid(s.argument or ""))
    }


async def load_names(session: AsyncSession, ids: Iterable[uuid.UUID]) -> Names:
    """The names of the tenants, partner organizations, forms and inventories among ``ids``."""
    wanted = sorted(set(ids))
    if not wanted:
        return Names({})
    sources: list[tuple[str, Any]] = [
        ("tenant", Tenant),
        ("partner", PartnerOrganization),
        ("form", ContactForm),
        ("inventory", Inventory),
    ]
    statement = union_all(
        *(
            select(literal(kind).label("kind"), model.id, model.name).where(model.id.in_(wanted))
            for kind, model in sources
        )
    )
    rows = (await session.execute(statement)).all()
    return Names({(kind, ident): name for kind, ident, name in rows})


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
