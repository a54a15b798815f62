"""`replicationStatus`: where each ``sharegraph replicate`` target stands (README,
"Replication"). A principal sees its own targets; a tenant admin those of its tenant's
principals and of the partner organizations the tenant hosts."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from sqlalchemy import func, or_, select

from sharegraph.datastore import models as m
from sharegraph.datastore.enums import Role
from sharegraph.graph.context import Info
from sharegraph.graph.relay import to_global_id


@strawberry.type(
    name="ReplicationTarget",
    description="One external database kept in sync by `sharegraph replicate`: what it holds, "
    "as whom, and how far behind sharegraph it is.",
)
class ReplicationTarget:
    principal_id: strawberry.ID = strawberry.field(
        description="Global id of the principal whose read access decides what the target holds."
    )
    principal_name: str = strawberry.field(description="That principal's name.")
    what: str = strawberry.field(description="`contact-records` (later also `resources`).")
    target: str = strawberry.field(description="The target database URL, with any password hidden.")
    mode: str = strawberry.field(
        description="The last pass: `full` (everything re-checked) or `incremental` (from the "
        "events since the previous pass)."
    )
    passed_at: datetime = strawberry.field(description="When the last pass ended.")
    rows_written: int = strawberry.field(description="Rows the last pass wrote.")
    rows_deleted: int = strawberry.field(
        description="Rows the last pass deleted (records deleted or out of the scope)."
    )
    events: int = strawberry.field(description="Outbox events the last pass applied.")
    rows_per_second: float = strawberry.field(description="The last pass's write rate.")
    lag_seconds_at_pass: float = strawberry.field(
        description="How far behind the target was when the last pass began (seconds since "
        "the oldest event it did not reflect yet)."
    )
    lag_seconds: float = strawberry.field(
        description="How far behind it is now: seconds since the oldest committed event after "
        "its last pass (0 when none)."
    )
    policy_version: int = strawberry.field(
        description="The version of the sharing rules the target was last written under."
    )


@strawberry.type
class ReplicationQuery:
    @strawberry.field(
        name="replicationStatus",
        description="The external databases replicated as you, or (tenant admins) as your "
        "tenant's principals and the partner organizations it hosts; newest pass first.",
    )
    async def replication_status(self, info: Info) -> list[ReplicationTarget]:
        principal = info.context.principal
        administered = [
            grant.tenant_id
            for grant in principal.roles
            if grant.role is Role.TENANT_ADMIN and grant.tenant_id is not None
        ]
        hosted = select(m.PartnerOrganization.id).where(
            m.PartnerOrganization.tenant_id.in_(administered)
        )
        visible = or_(
            m.Principal.id == principal.id,
            m.Principal.tenant_id.in_(administered),
            m.Principal.partner_organization_id.in_(hosted),
        )
        # The oldest event after each target's position, in the same statement (no N+1).
        oldest = (
            select(func.min(m.Event.occurred_at))
            .where(m.Event.position > m.ReplicationStatus.cursor_position)
            .scalar_subquery()
        )
        statement = (
            select(m.ReplicationStatus, m.Principal.name, oldest)
            .join(m.Principal, m.Principal.id == m.ReplicationStatus.principal_id)
            .where(visible)
            .order_by(m.ReplicationStatus.passed_at.desc())
        )
        now = datetime.now(UTC)
        found = []
        async with info.context.db() as session:
            rows = (await session.execute(statement)).all()
        for status, name, behind in rows:
            lag = (now - utc(behind)).total_seconds() if behind is not None else 0.0
            found.append(
                ReplicationTarget(
                    principal_id=strawberry.ID(to_global_id("Principal", status.principal_id)),
                    principal_name=name,
                    what=status.what,
                    target=status.target,
                    mode=status.mode,
                    passed_at=status.passed_at,
                    rows_written=status.rows_written,
                    rows_deleted=status.rows_deleted,
                    events=status.events,
                    rows_per_second=status.rows_per_second,
                    lag_seconds_at_pass=status.lag_seconds,
                    lag_seconds=max(0.0, lag),
                    policy_version=status.policy_version,
                )
            )
        return found


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
