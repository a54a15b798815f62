"""`auditEvents`: a tenant's audit trail, for that tenant's admins.

Merged into the Query root with ``strawberry.tools.merge_types``. Reads go through the request's
session; only principals holding tenant-admin *in* a tenant see that tenant's events.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from sharegraph.datastore import models as m
from sharegraph.datastore.enums import Role
from sharegraph.errors import BadUserInput, Forbidden
from sharegraph.graph.arguments import FILTER, After, First
from sharegraph.graph.context import Info
from sharegraph.graph.pagination import page_connection
from sharegraph.graph.relay import Connection, from_global_id, to_global_id
from sharegraph.graph.types.base import maybe
from sharegraph.graph.types.tenants import Tenant
from sharegraph.queries.pagination import SortKey

SORT_NAME = "POSITION_DESC"


@strawberry.type(
    name="AuditEvent",
    description="One row of a tenant's append-only audit trail: a read, a refusal, a "
    "disclosure to another organization, or a policy or credential change.",
)
class AuditEvent:
    row: strawberry.Private[Any]
    id: strawberry.ID = strawberry.field(description="The event's global id.")
    uuid: UUID = strawberry.field(description="The event's UUID.")
    position: str = strawberry.field(
        description="Order in the audit table (a decimal string: it outgrows a 32-bit Int)."
    )
    occurred_at: datetime = strawberry.field(description="When it happened (UTC).")
    action: str = strawberry.field(
        description="`read`, `denied`, `disclosure`, or a change such as "
        "`policy.agreement.create`, `credentials.key.create`."
    )
    purpose: str | None = strawberry.field(
        description=("The purpose given (exports, e-mails, sharing), if any.")
    )
    record_type: str | None = strawberry.field(
        description=("The type of the records it concerns (`ContactRecord`...), if any.")
    )
    record_ids: list[str] | None = strawberry.field(description="Raw UUIDs of the records.")
    coordinates: list[str] | None = strawberry.field(
        description="Schema coordinates (`Type.field`) returned, refused or disclosed."
    )
    detail: JSON | None = strawberry.field(
        description=("More about the event, as JSON (what changed, the reason for a refusal).")
    )
    principal_id: strawberry.ID | None = strawberry.field(
        description="Global id of the principal who acted."
    )
    principal_name: str | None = strawberry.field(
        description="The sign-in name of the principal who acted."
    )
    tenant: Tenant | None = strawberry.field(description="The tenant whose trail it is in.")


@strawberry.input(description="Filters for `auditEvents`; all given conditions must hold.")
class AuditEventFilterInput:
    tenant_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The tenant whose trail to read; default: your own tenant (you must be its "
        "tenant admin).",
    )
    action: str | None = strawberry.field(default=None, description="Exact action name.")
    principal_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only events of this principal (global id or uuid)."
    )
    occurred_after: datetime | None = strawberry.field(
        default=None, description=("Events at or after this instant (ISO 8601 with offset).")
    )
    occurred_before: datetime | None = strawberry.field(
        default=None, description="Events before this instant."
    )


def administered_tenant(info: Info, requested: strawberry.ID | None) -> uuid.UUID:
    """The tenant whose audit trail the caller may read, or FORBIDDEN."""
    principal = info.context.principal
    tenants = {
        grant.tenant_id
        for grant in principal.roles
        if grant.role is Role.TENANT_ADMIN and grant.tenant_id is not None
    }
    if requested is not None:
        _, wanted = from_global_id(requested, expected="Tenant")
    elif principal.tenant_id is not None and principal.tenant_id in tenants:
        wanted = principal.tenant_id
    elif len(tenants) == 1:
        wanted = next(iter(tenants))
    else:
        raise Forbidden(
            "only a tenant's admins can read its audit events", reason="NOT_TENANT_ADMIN"
        )
    if wanted not in tenants:
        raise Forbidden(
            "only a tenant's admins can read its audit events", reason="NOT_TENANT_ADMIN"
        )
    return wanted


def _principal_uuid(value: strawberry.ID) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return from_global_id(value, expected="Principal")[1]


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise BadUserInput(f"`{name}` needs a time zone (e.g. 2026-01-01T00:00:00Z)")
    return value


def audit_statement(tenant_id: uuid.UUID, flt: AuditEventFilterInput) -> Select[Any]:
    statement = select(m.AuditEvent).where(m.AuditEvent.tenant_id == tenant_id)
    if flt.action is not None:
        statement = statement.where(m.AuditEvent.action == flt.action)
    if flt.principal_id is not None:
        statement = statement.where(m.AuditEvent.principal_id == _principal_uuid(flt.principal_id))
    if flt.occurred_after is not None:
        after = _aware(flt.occurred_after, "occurredAfter")
        statement = statement.where(m.AuditEvent.occurred_at > after)
    if flt.occurred_before is not None:
        before = _aware(flt.occurred_before, "occurredBefore")
        statement = statement.where(m.AuditEvent.occurred_at < before)
    return statement


def _node(row: Any, names: dict[uuid.UUID, str], tenant: Tenant | None) -> AuditEvent:
    return AuditEvent(
        row=row,
        id=strawberry.ID(to_global_id("AuditEvent", row.id)),
        uuid=row.id,
        position=str(row.position),
        occurred_at=row.occurred_at,
        action=row.action,
        purpose=row.purpose,
        record_type=row.record_type,
        record_ids=row.record_ids,
        coordinates=row.coordinates,
        detail=row.detail,
        principal_id=(
            strawberry.ID(to_global_id("Principal", row.principal_id))
            if row.principal_id is not None
            else None
        ),
        principal_name=names.get(row.principal_id) if row.principal_id is not None else None,
        tenant=tenant,
    )


@strawberry.type
class AuditQuery:
    @strawberry.field(
        name="auditEvents",
        description="Your tenant's audit trail, newest first (tenant admins only).",
    )
    async def audit_events(
        self,
        info: Info,
        filter: Annotated[AuditEventFilterInput | None, FILTER] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[AuditEvent]:
        flt = filter or AuditEventFilterInput()
        tenant_id = administered_tenant(info, flt.tenant_id)
        statement = audit_statement(tenant_id, flt)
        keys = [SortKey(m.AuditEvent.position, descending=True)]

        async def build(session: AsyncSession, rows: list[Any]) -> list[AuditEvent]:
            principal_ids = {r.principal_id for r in rows if r.principal_id is not None}
            names: dict[uuid.UUID, str] = {}
            if principal_ids:
                found = await session.execute(
                    select(m.Principal.id, m.Principal.name).where(
                        m.Principal.id.in_(principal_ids)
                    )
                )
                names = {row.id: row.name for row in found}
            tenant = maybe(Tenant, await session.get(m.Tenant, tenant_id))
            return [_node(row, names, tenant) for row in rows]

        return await page_connection(
            info, "AuditEvent", m.AuditEvent, statement, SORT_NAME, keys,
            first=first, after=after, build=build,
        )  # fmt: skip
