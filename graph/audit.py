"""`auditEvents`: a tenant's audit trail, for that tenant's admins.

Merged into the Query root with ``strawberry.tools.merge_types``. Reads go through the request's
session; only principals holding tenant-admin *in* a tenant see that tenant's events.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry
from sqlalchemy import ColumnElement, Select, String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from sharegraph.datastore import audit_chain
from sharegraph.datastore import models as m
from sharegraph.datastore.audit import DISCLOSURE
from sharegraph.datastore.enums import Role
from sharegraph.errors import BadUserInput, Forbidden
from sharegraph.graph.arguments import FILTER, After, First
from sharegraph.graph.context import Info
from sharegraph.graph.pagination import page_connection
from sharegraph.graph.relay import Connection, from_global_id, to_global_id
from sharegraph.graph.types.base import maybe
from sharegraph.graph.types.tenants import PartnerOrganization, Tenant
from sharegraph.queries.pagination import SortKey

SORT_NAME = "POSITION_DESC"
MAX_DISCLOSURE_GROUPS = 500


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
    record_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Only events naming this record among their `recordIds` (its UUID or its "
        "global id).",
    )


@strawberry.type(
    name="AuditSealProblem",
    description="Why one seal of an audit chain does not verify.",
)
class AuditSealProblem:
    sequence: int = strawberry.field(description="The seal's number in its chain (1, 2, ...).")
    kind: str = strawberry.field(
        description="`row-changed`, `row-missing`, `row-inserted` or `chain-broken` (a seal "
        "changed, removed or re-linked)."
    )
    message: str = strawberry.field(description="What was found, in words.")
    first_position: str = strawberry.field(
        description="The first audit position the seal covers (a decimal string)."
    )
    last_position: str = strawberry.field(
        description="The last audit position the seal covers (a decimal string)."
    )


@strawberry.type(
    name="AuditChainStatus",
    description="The verification of a tenant's sealed audit chain, computed when asked (the "
    "check `sharegraph audit verify` makes).",
)
class AuditChainStatus:
    intact: bool = strawberry.field(
        description="Every seal recomputes and links to the one before it: no sealed row was "
        "changed, removed or inserted."
    )
    seals_checked: int = strawberry.field(description="How many seals were recomputed.")
    rows_sealed: int = strawberry.field(description="Audit rows covered by those seals.")
    rows_unsealed: int = strawberry.field(
        description="Rows written after the newest seal (sealed by the periodic job later; "
        "until then no seal protects them)."
    )
    head_sequence: int | None = strawberry.field(
        description="The newest seal's number; null when nothing is sealed yet."
    )
    head_seal_hash: str | None = strawberry.field(
        description="The newest seal's SHA-256 (keep it elsewhere to detect removed seals)."
    )
    problems: list[AuditSealProblem] = strawberry.field(
        description="The seals that do not verify, first broken first; empty when intact."
    )
    verified_at: datetime = strawberry.field(description="When the check ran (UTC).")


@strawberry.type(
    name="DisclosureCount",
    description="How many disclosure rows of a tenant's audit trail name one receiving "
    "organization and one acting principal in a period.",
)
class DisclosureCount:
    recipient: str = strawberry.field(
        description="The receiving organization as the audit rows name it (`tenant:<uuid>` or "
        "`partner:<uuid>`, or a webhook or e-mail recipient)."
    )
    recipient_tenant: Tenant | None = strawberry.field(
        description="The receiving tenant, when the recipient is one."
    )
    recipient_partner_organization: PartnerOrganization | None = strawberry.field(
        description="The receiving partner organization, when the recipient is one."
    )
    principal_id: strawberry.ID | None = strawberry.field(
        description="Global id of the principal the data was disclosed to (who acted)."
    )
    principal_name: str | None = strawberry.field(description="That principal's sign-in name.")
    count: int = strawberry.field(description="Disclosure rows in the period.")
    first_occurred_at: datetime = strawberry.field(description="The earliest of them (UTC).")
    last_occurred_at: datetime = strawberry.field(description="The latest of them (UTC).")


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


def _record_uuid(value: strawberry.ID) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return from_global_id(value)[1]


def _naming_record(record_id: uuid.UUID) -> ColumnElement[bool]:
    """Rows whose ``record_ids`` (a JSON array of UUID strings) hold ``record_id``: the same
    text test on both backends (a UUID string holds no quote, so ``"<uuid>"`` matches one
    whole element and nothing else)."""
    return cast(m.AuditEvent.record_ids, String).contains(f'"{record_id}"', autoescape=True)


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
    if flt.record_id is not None:
        statement = statement.where(_naming_record(_record_uuid(flt.record_id)))
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

    @strawberry.field(
        name="auditChain",
        description="Verifies your tenant's sealed audit chain now and says whether it is intact "
        "(tenant admins only; the same check as `sharegraph audit verify`, reading every sealed "
        "row, so it takes longer on a long trail).",
    )
    async def audit_chain(
        self,
        info: Info,
        tenant_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="The global id of a tenant you administer; left out: your own."
            ),
        ] = None,
    ) -> AuditChainStatus:
        tenant = administered_tenant(info, tenant_id)
        report = await audit_chain.verify(info.context.database, tenant)
        return AuditChainStatus(
            intact=report.ok,
            seals_checked=report.seals_checked,
            rows_sealed=report.rows_sealed,
            rows_unsealed=report.rows_unsealed,
            head_sequence=report.head_sequence,
            head_seal_hash=report.head_seal_hash,
            problems=[
                AuditSealProblem(
                    sequence=p.sequence,
                    kind=p.kind,
                    message=p.message,
                    first_position=str(p.first_position),
                    last_position=str(p.last_position),
                )
                for p in report.problems
            ],
            verified_at=datetime.now(UTC),
        )

    @strawberry.field(
        name="auditDisclosures",
        description="Disclosure rows of your tenant's audit trail counted per receiving "
        "organization and principal, most first (at most "
        f"{MAX_DISCLOSURE_GROUPS} groups; tenant admins only).",
    )
    async def audit_disclosures(
        self,
        info: Info,
        tenant_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="The global id of a tenant you administer; left out: your own."
            ),
        ] = None,
        occurred_after: Annotated[
            datetime | None,
            strawberry.argument(description="Count rows at or after this instant (with offset)."),
        ] = None,
        occurred_before: Annotated[
            datetime | None,
            strawberry.argument(description="Count rows before this instant (with offset)."),
        ] = None,
    ) -> list[DisclosureCount]:
        tenant = administered_tenant(info, tenant_id)
        flt = AuditEventFilterInput(
            action=DISCLOSURE, occurred_after=occurred_after, occurred_before=occurred_before
        )
        rows = audit_statement(tenant, flt).subquery()
        recipient = rows.c.detail["recipient"].as_string()
        grouped = (
            select(
                recipient.label("recipient"),
                rows.c.principal_id,
                func.count().label("count"),
                func.min(rows.c.occurred_at).label("first"),
                func.max(rows.c.occurred_at).label("last"),
            )
            .group_by(recipient, rows.c.principal_id)
            .order_by(func.count().desc(), recipient, rows.c.principal_id)
            .limit(MAX_DISCLOSURE_GROUPS)
        )
        async with info.context.db() as session:
            found = (await session.execute(grouped)).all()
            principal_ids = {r.principal_id for r in found if r.principal_id is not None}
            names: dict[uuid.UUID, str] = {}
            if principal_ids:
                named = await session.execute(
                    select(m.Principal.id, m.Principal.name).where(
                        m.Principal.id.in_(principal_ids)
                    )
                )
                names = {row.id: row.name for row in named}
        loaders = info.context.loaders
        counts = []
        for r in found:
            kind, _, raw = str(r.recipient or "").partition(":")
            try:
                recipient_id: uuid.UUID | None = uuid.UUID(raw)
            except ValueError:
                recipient_id = None
            tenant_row = await loaders.one(m.Tenant, recipient_id) if kind == "tenant" else None
            partner_row = (
                await loaders.one(m.PartnerOrganization, recipient_id)
                if kind == "partner"
                else None
            )
            counts.append(
                DisclosureCount(
                    recipient=str(r.recipient or ""),
                    recipient_tenant=maybe(Tenant, tenant_row),
                    recipient_partner_organization=maybe(PartnerOrganization, partner_row),
                    principal_id=(
                        strawberry.ID(to_global_id("Principal", r.principal_id))
                        if r.principal_id is not None
                        else None
                    ),
                    principal_name=names.get(r.principal_id) if r.principal_id else None,
                    count=int(r[2]),
                    first_occurred_at=r.first,
                    last_occurred_at=r.last,
                )
            )
        return counts
