"""Effective permissions: what `viewer { permissions }` and the admin's `effectivePermissions`
both return, built here once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import strawberry

from sharegraph.authz.plan import AccessPlan
from sharegraph.datastore import models as m
from sharegraph.graph.context import Info
from sharegraph.graph.relay import to_global_id
from sharegraph.graph.types.base import maybe
from sharegraph.graph.types.tenants import Tenant

# The `typeName` of entries that are operations (queries and mutations) rather than fields.
OPERATION = "Operation"


@strawberry.type(description="A sharing agreement a permission comes from.")
class PermissionAgreement:
    id: strawberry.ID = strawberry.field(description="The agreement's global id.")
    name: str = strawberry.field(description="The name its owner gave it.")
    purpose: str = strawberry.field(description="Why the owner shares under it.")
    valid_from: datetime | None = strawberry.field(
        description="When it starts to apply (UTC); null: since it was made."
    )
    valid_until: datetime | None = strawberry.field(
        description="When it stops applying (UTC); null: until revoked."
    )


@strawberry.type(
    description="One thing a principal may do: an action on a field of one owner tenant's "
    "rows (under row scopes), or an operation its roles allow (`typeName` `Operation`)."
)
class PermissionEntry:
    owner: Tenant | None = strawberry.field(
        description="The tenant whose data it is; null for operations."
    )
    type_name: str = strawberry.field(
        description="The shared type (`Client`), or `Operation` for a query or mutation."
    )
    field: str = strawberry.field(
        description="The field (`phone`, `answers.<key>` for a form answer), or the operation's "
        "name (`referrals`, `addOutcome`)."
    )
    action: str = strawberry.field(
        description="read, write, export, subscribe, statistics or compose."
    )
    row_scopes: list[str] = strawberry.field(
        description="The row scopes it holds on (`all`, `referred_to_grantee`...); empty for "
        "operations."
    )
    agreements: list[PermissionAgreement] = strawberry.field(
        description="The sharing agreements granting it; empty when it is the principal's own "
        "tenant's data or an operation (its roles grant those)."
    )


async def permission_entries(
    info: Info, plan: AccessPlan, include_owner: Callable[[uuid.UUID], bool] | None = None
) -> list[PermissionEntry]:
    """Every field permission of ``plan`` (of the owners ``include_owner`` accepts) and every
    operation it allows, sorted by owner, type, field and action."""
    agreements = info.context.policies.snapshot.agreements
    merged: dict[tuple[uuid.UUID, str, str, str], tuple[set[str], set[str]]] = {}
    for (action, type_name), by_owner in plan.core.grants.items():
        for owner, grants in by_owner.items():
            if include_owner is not None and not include_owner(owner):
                continue
            for grant in grants:
                names = [*grant.fields, *(f"answers.{k}" for k in grant.answer_keys)]
                for name in names:
                    scopes, sources = merged.setdefault(
                        (owner, type_name, name, action), (set(), set())
                    )
                    scopes.add(str(grant.scope))
                    sources.update(a for a in grant.agreements if a in agreements)
    tenants = {
        o: maybe(Tenant, await info.context.loaders.one(m.Tenant, o))
        for o in {k[0] for k in merged}
    }

    def source(agreement_id: str) -> PermissionAgreement:
        row = agreements[agreement_id]
        return PermissionAgreement(
            id=strawberry.ID(to_global_id("SharingAgreement", row.id)),
            name=row.name,
            purpose=row.purpose,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
        )

    fields = [
        PermissionEntry(
            owner=tenants[o],
            type_name=t,
            field=f,
            action=a,
            row_scopes=sorted(scopes),
            agreements=[source(i) for i in sorted(sources)],
        )
        for (o, t, f, a), (scopes, sources) in sorted(
            merged.items(), key=lambda kv: (str(kv[0][0]), *kv[0][1:])
        )
    ]
    operations = [
        PermissionEntry(
            owner=None, type_name=OPERATION, field=name, action=action, row_scopes=[], agreements=[]
        )
        for action, names in sorted(plan.core.operations.items())
        for name in sorted(names)
    ]
    return fields + operations
