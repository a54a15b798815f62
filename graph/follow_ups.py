"""Follow-ups: `followUps(filter)` and the mutations that schedule, change and complete them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from sharegraph.authz.plan import Action
from sharegraph.datastore import models as m
from sharegraph.errors import NotFound
from sharegraph.graph.arguments import FILTER, INPUT, SORT, After, First
from sharegraph.graph.context import Info, RequestContext
from sharegraph.graph.enums import FollowUpStatus, describe_enum
from sharegraph.graph.inputs import decode_id
from sharegraph.graph.pagination import connection
from sharegraph.graph.relay import Connection
from sharegraph.graph.types.base import maybe
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.graph.types.contacts import FollowUp
from sharegraph.graph.writes import forget_cached, require_fields, transaction, write_target
from sharegraph.queries import follow_ups as queries
from sharegraph.queries.pagination import SortKey


@strawberry.input(description="All given conditions must hold.")
class FollowUpFilterInput:
    status: FollowUpStatus | None = strawberry.field(
        default=None, description="Only follow-ups in this status."
    )
    due_before: datetime | None = strawberry.field(default=None, description="Due strictly before.")
    due_after: datetime | None = strawberry.field(default=None, description="Due at or after.")
    assigned_to_me: bool | None = strawberry.field(
        default=None, description="Only follow-ups assigned to you personally."
    )
    assigned_tenant_id: strawberry.ID | None = strawberry.field(
        default=None, description=("Only follow-ups assigned to this tenant (global id).")
    )

    def used_fields(self) -> list[str]:
        used = {
            "status": self.status is not None,
            "dueAt": self.due_before is not None or self.due_after is not None,
            "assignedTenant": self.assigned_tenant_id is not None,
        }
        return [name for name, on in used.items() if on]

    def to_filter(self, principal_id: uuid.UUID) -> queries.FollowUpFilter:
        return queries.FollowUpFilter(
            status=self.status,
            due_before=self.due_before,
            due_after=self.due_after,
            assigned_principal_id=principal_id if self.assigned_to_me else None,
            assigned_tenant_id=decode_id(self.assigned_tenant_id, "Tenant"),
        )


@strawberry.enum
class FollowUpSort(Enum):
    DUE_AT_ASC = "DUE_AT_ASC"
    DUE_AT_DESC = "DUE_AT_DESC"


describe_enum(
    FollowUpSort,
    "The order of follow-ups (ties broken by id).",
    DUE_AT_ASC="Soonest due first.",
    DUE_AT_DESC="Latest due first.",
)


def follow_ups_filter(
    ctx: RequestContext, filter: FollowUpFilterInput | None
) -> queries.FollowUpFilter:
    """``followUps``' filter, after the checks every reader of it runs (the operation grant,
    filterable and sortable fields); the resolver and compiled reads (graph/compiled/) both
    call it."""
    ctx.plan.require_operation("followUps", Action.READ)
    given = filter or FollowUpFilterInput()
    ctx.disclosure.require_filterable("FollowUp", given.used_fields(), use="filter")
    ctx.disclosure.require_filterable("FollowUp", ["dueAt"], use="sort")
    return given.to_filter(ctx.principal.id)


def follow_up_sort_keys(sort: FollowUpSort) -> list[SortKey]:
    descending = sort is FollowUpSort.DUE_AT_DESC
    return [SortKey(m.FollowUp.due_at, descending), SortKey(m.FollowUp.id, descending)]


@strawberry.type
class FollowUpQuery:
    @strawberry.field(
        name="followUps",
        description="Follow-ups you may see: your tenant's, and those other tenants assign to "
        "you under a sharing agreement.",
    )
    async def follow_ups(
        self,
        info: Info,
        filter: Annotated[FollowUpFilterInput | None, FILTER] = None,
        sort: Annotated[FollowUpSort, SORT] = FollowUpSort.DUE_AT_ASC,
        first: First = None,
        after: After = None,
    ) -> Connection[FollowUp]:
        ctx = info.context
        statement = queries.follow_ups(ctx.plan, follow_ups_filter(ctx, filter))
        keys = follow_up_sort_keys(sort)
        return await connection(
            info, FollowUp, m.FollowUp, statement, sort.name, keys, first=first, after=after
        )


@strawberry.input(description=("A task to follow up on a contact record, by a due time."))
@catalogued_input("FollowUp")
class CreateFollowUpInput:
    contact_record_id: strawberry.ID = strawberry.field(
        description="The contact record's global id."
    )
    due_at: datetime = strawberry.field(description="When it is due (ISO 8601 with offset).")
    note: str | None = strawberry.field(default=None, description="What to do.")
    assigned_tenant_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Another tenant to hand the follow-up to; the record's owner must share "
        "follow-ups with it. Defaults to the owner tenant (or the assigned user's tenant).",
    )
    assigned_principal_id: strawberry.ID | None = strawberry.field(
        default=None, description="A user to assign it to."
    )
    idempotency_key: str | None = None


@strawberry.input(description="Fields left out stay as they are.")
@catalogued_input("FollowUp")
class UpdateFollowUpInput:
    id: strawberry.ID
    version: int = strawberry.field(description="The version you read; a newer one -> CONFLICT.")
    due_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="A new due time (ISO 8601 with offset)."
    )
    note: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new note; `null` clears it."
    )
    status: FollowUpStatus | None = strawberry.field(
        default=strawberry.UNSET, description="OPEN or CANCELLED; use completeFollowUp to complete."
    )
    assigned_tenant_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="`null` hands it back to the owner tenant."
    )
    assigned_principal_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="`null` leaves it to the assigned tenant as a whole."
    )
    idempotency_key: str | None = None


@strawberry.input(
    description=(
        "A follow-up to mark completed (its assignee, where an "
        "agreement lets it write `FollowUp.status`)."
    )
)
@catalogued_input("FollowUp")
class CompleteFollowUpInput:
    id: strawberry.ID
    version: int
    note: str | None = strawberry.field(
        default=strawberry.UNSET, description="What was done; left out: the note stays."
    )
    idempotency_key: str | None = None


@strawberry.type(description="A follow-up as written.")
class FollowUpPayload:
    follow_up: FollowUp | None = strawberry.field(description="The follow-up as it is now.")


def _set(value: Any) -> bool:
    return value is not strawberry.UNSET


def _value(value: Any) -> Any:
    return value if _set(value) else queries.UNSET


async def _payload(info: Info, result: dict[str, Any]) -> FollowUpPayload:
    """The follow-up as the caller now sees it (scopes re-evaluated after the write)."""
    follow_up_id = uuid.UUID(result["id"])
    forget_cached(info, m.FollowUp, follow_up_id)
    row = await info.context.loaders.one(m.FollowUp, follow_up_id)
    return FollowUpPayload(follow_up=maybe(FollowUp, row))


def _decoded(value: Any, expected: str) -> uuid.UUID | None:
    return decode_id(value, expected) if value not in (strawberry.UNSET, None) else None


@strawberry.type
class FollowUpMutation:
    @strawberry.mutation(
        name="createFollowUp",
        description=(
            "Creates a follow-up on a contact record, for the owner "
            "tenant or handed to another tenant the owner shares "
            "follow-ups with (else `FORBIDDEN` / `NO_SHARING_AGREEMENT`)."
        ),
    )
    async def create_follow_up(
        self, info: Info, input: Annotated[CreateFollowUpInput, INPUT]
    ) -> FollowUpPayload:
        ctx = info.context
        ctx.plan.require_operation("createFollowUp", Action.WRITE)
        record_id = decode_id(input.contact_record_id, "ContactRecord")
        async with transaction(info, "createFollowUp", input, input.idempotency_key) as w:
            if w.replayed is None:
                record = await ctx.loaders.one(m.ContactRecord, record_id)
                if record is None:
                    raise NotFound("no such contact record")
                owner = record.tenant_id
                ctx.plan.require_owner_write(m.FollowUp, owner)
                assignment = await queries.resolve_assignment(
                    w.session,
                    owner,
                    decode_id(input.assigned_tenant_id, "Tenant"),
                    decode_id(input.assigned_principal_id, "Principal"),
                )
                fields = ["dueAt", "contactRecord"]
                if input.note is not None:
                    fields.append("note")
                if input.assigned_tenant_id or input.assigned_principal_id:
                    fields.append("assignedTenant")
                scopes = await queries.creation_scopes(
                    w.session, ctx.plan, record, assignment.tenant_id
                )
                require_fields(info, "FollowUp", owner, fields, scopes)
                await queries.require_assignable(
                    w.session, ctx.policies.snapshot, owner, record.id, assignment.tenant_id
                )
                row = await queries.create_follow_up(
                    w.session, ctx.plan, record, input.due_at, input.note, assignment
                )
                w.result = {"id": str(row.id)}
        return await _payload(info, w.replayed if w.replayed is not None else w.result)

    @strawberry.mutation(
        name="updateFollowUp",
        description=(
            "Changes a follow-up's due time, note, status (OPEN or "
            "CANCELLED) or assignment; fields left out stay as they are."
        ),
    )
    async def update_follow_up(
        self, info: Info, input: Annotated[UpdateFollowUpInput, INPUT]
    ) -> FollowUpPayload:
        ctx = info.context
        ctx.plan.require_operation("updateFollowUp", Action.WRITE)
        follow_up_id = decode_id(input.id, "FollowUp")
        async with transaction(info, "updateFollowUp", input, input.idempotency_key) as w:
            if w.replayed is None:
                target, scopes = await write_target(info, m.FollowUp, follow_up_id)
                owner = target.tenant_id
                reassigned = _set(input.assigned_tenant_id) or _set(input.assigned_principal_id)
                used = {
                    "dueAt": _set(input.due_at),
                    "note": _set(input.note),
                    "status": _set(input.status),
                    "assignedTenant": reassigned,
                }
                require_fields(info, "FollowUp", owner, [f for f, on in used.items() if on], scopes)
                assignment = None
                if reassigned:
                    tenant = _decoded(input.assigned_tenant_id, "Tenant")
                    principal = _decoded(input.assigned_principal_id, "Principal")
                    if not _set(input.assigned_tenant_id) and principal is None:
                        tenant = target.assigned_tenant_id  # only the user is cleared
                    assignment = await queries.resolve_assignment(
                        w.session, owner, tenant, principal
                    )
                    if assignment.tenant_id != target.assigned_tenant_id:
                        await queries.require_assignable(
                            w.session,
                            ctx.policies.snapshot,
                            owner,
                            target.contact_record_id,
                            assignment.tenant_id,
                        )
                changes = queries.FollowUpChanges(
                    due_at=_value(input.due_at),
                    note=_value(input.note),
                    status=_value(input.status),
                    assignment=assignment,
                )
                row = await queries.update_follow_up(
                    w.session, ctx.plan, target.id, input.version, changes
                )
                w.result = {"id": str(row.id)}
        return await _payload(info, w.replayed if w.replayed is not None else w.result)

    @strawberry.mutation(
        name="completeFollowUp",
        description="Marks an open follow-up completed, by you, now. The assignee tenant may "
        "complete it where the owner's agreement lets it write FollowUp.status.",
    )
    async def complete_follow_up(
        self, info: Info, input: Annotated[CompleteFollowUpInput, INPUT]
    ) -> FollowUpPayload:
        ctx = info.context
        ctx.plan.require_operation("completeFollowUp", Action.WRITE)
        follow_up_id = decode_id(input.id, "FollowUp")
        async with transaction(info, "completeFollowUp", input, input.idempotency_key) as w:
            if w.replayed is None:
                target, scopes = await write_target(info, m.FollowUp, follow_up_id)
                fields = ["status"] + (["note"] if _set(input.note) else [])
                require_fields(info, "FollowUp", target.tenant_id, fields, scopes)
                row = await queries.complete_follow_up(
                    w.session, ctx.plan, target.id, input.version, _value(input.note)
                )
                w.result = {"id": str(row.id)}
        return await _payload(info, w.replayed if w.replayed is not None else w.result)
