"""Referral queues: the `referralQueues` / `referralQueue` roots and the queue mutations.

Queue mutations take an optional ``idempotencyKey``; those that change a queue or an entry take
the ``version`` the caller read. Assignment takes a capacity slot atomically (see
``queries/capacity.py``): when no serving program has one, the entry stays awaiting
services and the answer is ``CONFLICT`` / ``NO_CAPACITY``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import strawberry

from sharegraph.authz.plan import Action
from sharegraph.datastore import models as m
from sharegraph.errors import Forbidden, NotFound, quote
from sharegraph.graph.arguments import FILTER, INPUT, After, First
from sharegraph.graph.context import Info
from sharegraph.graph.enums import ReferralStatus
from sharegraph.graph.inputs import decode_id, decode_ids, require_id
from sharegraph.graph.pagination import connection
from sharegraph.graph.relay import Connection, from_global_id
from sharegraph.graph.types.base import maybe
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.graph.types.contacts import Referral
from sharegraph.graph.types.queues import QueueEntry, ReferralQueue
from sharegraph.graph.writes import forget_cached, require_fields, transaction, write_target
from sharegraph.queries import queues as q
from sharegraph.queries.pagination import SortKey


@strawberry.input(description="Filters for referral queues.")
class ReferralQueueFilterInput:
    active: bool | None = strawberry.field(
        default=None, description=("Only active (true) or inactive (false) queues; left out: both.")
    )


@strawberry.input(description=("One status of a queue, mapped to the referral lifecycle."))
@catalogued_input("QueueStatus")
class QueueStatusInput:
    key: str = strawberry.field(description="Stable key: lowercase letters, digits, '-', '_'.")
    label: str = strawberry.field(description="What users see.")
    canonical_status: ReferralStatus = strawberry.field(
        description="The referral lifecycle status it maps to (DRAFT and REQUESTED: "
        "awaiting services)."
    )


@strawberry.input(description="A new referral queue (tenant admins).")
@catalogued_input("ReferralQueue")
class CreateReferralQueueInput:
    tenant_id: strawberry.ID | None = strawberry.field(
        default=None, description="Owner tenant; defaults to yours."
    )
    name: str = strawberry.field(description="The queue's name, unique in the tenant.")
    description: str | None = strawberry.field(default=None, description="What the queue is for.")
    need_term_id: strawberry.ID | None = strawberry.field(
        default=None, description="The need it serves (a taxonomy term's global id)."
    )
    statuses: list[QueueStatusInput] = strawberry.field(
        description="In display order; new entries take the first one mapped to requested."
    )
    program_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=(
            "Programs that serve it (global ids); their capacity is what assignment draws on."
        ),
    )
    form_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Any version of each contact form."
    )
    active: bool = strawberry.field(
        default=True, description="False: the queue takes no new entries."
    )
    idempotency_key: str | None = None


@strawberry.input(description="Fields left out stay as they are; lists replace the current ones.")
@catalogued_input("ReferralQueue")
class UpdateReferralQueueInput:
    id: strawberry.ID
    version: int = strawberry.field(description="The version you read; a newer one -> CONFLICT.")
    name: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new name, unique in the tenant."
    )
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="What the queue is for; `null` clears it."
    )
    need_term_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description=("The need it serves (a taxonomy term's global id); `null` clears it."),
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="False: the queue takes no new entries."
    )
    statuses: list[QueueStatusInput] | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "The queue's statuses, replacing the current ones (keys of statuses in use must stay)."
        ),
    )
    program_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET,
        description=("Programs that serve it, replacing the current ones."),
    )
    form_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET,
        description=("Contact forms it takes clients from, replacing the current ones."),
    )
    idempotency_key: str | None = None


@strawberry.input(description=("A client (through a contact record) to add to a queue."))
@catalogued_input("QueueEntry")
class EnqueueClientInput:
    queue_id: strawberry.ID = strawberry.field(description="The queue's global id.")
    contact_record_id: strawberry.ID = strawberry.field(
        description=("The global id of the contact record the client came in on.")
    )
    priority: int = strawberry.field(
        default=0, description="Higher comes first; -1000 to 1000, default 0."
    )
    idempotency_key: str | None = None


@strawberry.input(
    description=(
        "A waiting queue entry to place with a program: takes a free "
        "slot and creates a requested referral."
    )
)
@catalogued_input("QueueEntry")
class AssignQueueEntryInput:
    id: strawberry.ID
    version: int
    program_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A program serving the queue; left out, the one with the most free slots.",
    )
    idempotency_key: str | None = None


@strawberry.input(description="A queue entry's new status.")
@catalogued_input("QueueEntry")
class UpdateQueueEntryStatusInput:
    id: strawberry.ID
    version: int
    status: str = strawberry.field(description="One of the queue's status keys.")
    idempotency_key: str | None = None


@strawberry.input(description="A waiting entry's new priority.")
@catalogued_input("QueueEntry")
class ReprioritizeQueueEntryInput:
    id: strawberry.ID
    version: int
    priority: int = strawberry.field(description="Higher comes first; -1000 to 1000.")
    idempotency_key: str | None = None


@strawberry.input(
    description=(
        "A queue entry to take out of its queue (before service: "
        "frees its slot and cancels its referral)."
    )
)
@catalogued_input("QueueEntry")
class RemoveQueueEntryInput:
    id: strawberry.ID
    version: int
    reason: str = strawberry.field(description="Why it is removed (kept in the history).")
    idempotency_key: str | None = None


@strawberry.type(description="A referral queue as written.")
class ReferralQueuePayload:
    referral_queue: ReferralQueue | None = strawberry.field(description="The queue as it is now.")


@strawberry.type(description="A queue entry as written.")
class QueueEntryPayload:
    queue_entry: QueueEntry | None = strawberry.field(description="The entry as it is now.")
    referral: Referral | None = strawberry.field(
        default=None, description="The referral an assignment made."
    )


def _given(value: Any) -> bool:
    return value is not strawberry.UNSET


def _statuses(given: list[QueueStatusInput] | None) -> list[q.StatusSpec] | None:
    if given is None:
        return None
    return [q.StatusSpec(s.key, s.label, s.canonical_status) for s in given]


async def _queue(info: Info, queue_id: uuid.UUID) -> ReferralQueue | None:
    forget_cached(info, m.ReferralQueue, queue_id)
    return maybe(ReferralQueue, await info.context.loaders.one(m.ReferralQueue, queue_id))


async def _entry_payload(info: Info, result: dict[str, Any]) -> QueueEntryPayload:
    loaders = info.context.loaders
    entry_id = uuid.UUID(result["entry"])
    forget_cached(info, m.QueueEntry, entry_id)
    entry = maybe(QueueEntry, await loaders.one(m.QueueEntry, entry_id))
    referral = None
    if result.get("referral"):
        referral_id = uuid.UUID(result["referral"])
        forget_cached(info, m.Referral, referral_id)
        referral = maybe(Referral, await loaders.one(m.Referral, referral_id))
    return QueueEntryPayload(queue_entry=entry, referral=referral)


async def _entry_target(
    info: Info, operation: str, entry_id: strawberry.ID, fields: list[str]
) -> tuple[Any, uuid.UUID]:
    info.context.plan.require_operation(operation, Action.WRITE)
    row_id = require_id(entry_id, "QueueEntry")
    entry, scopes = await write_target(info, m.QueueEntry, row_id, "queue entry")
    require_fields(info, "QueueEntry", entry.tenant_id, fields, scopes)
    return entry, row_id


@strawberry.type
class QueueQuery:
    @strawberry.field(
        name="referralQueues",
        description=(
            "Referral queues you may see: your tenant's, and those whose "
            "agreements share them with you."
        ),
    )
    async def referral_queues(
        self,
        info: Info,
        filter: Annotated[ReferralQueueFilterInput | None, FILTER] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[ReferralQueue]:
        plan = info.context.plan
        plan.require_operation("referralQueues", Action.READ)
        given = filter or ReferralQueueFilterInput()
        if given.active is not None:
            info.context.disclosure.require_filterable("ReferralQueue", ["active"], use="filter")
        statement = q.queues(plan, active=given.active)
        # By name when the caller may read every queue's name, else in a stable opaque order.
        by_name = bool(info.context.disclosure.filterable("ReferralQueue", ["name"]))
        keys = [SortKey(m.ReferralQueue.name)] if by_name else []
        keys.append(SortKey(m.ReferralQueue.id))
        return await connection(
            info,
            ReferralQueue,
            m.ReferralQueue,
            statement,
            "NAME" if by_name else "ID",
            keys,
            first=first,
            after=after,
        )

    @strawberry.field(
        name="referralQueue",
        description=("One referral queue; null when it does not exist or you may not see it."),
    )
    async def referral_queue(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The queue's global id.")],
    ) -> ReferralQueue | None:
        _, row_id = from_global_id(id, expected="ReferralQueue")
        found = maybe(ReferralQueue, await info.context.loaders.one(m.ReferralQueue, row_id))
        if found is None:
            raise NotFound(f"no ReferralQueue with id {quote(id)}")
        return found


@strawberry.type
class QueueMutation:
    @strawberry.mutation(
        name="createReferralQueue",
        description=(
            "Creates a referral queue with its statuses, programs and forms (tenant admins)."
        ),
    )
    async def create_referral_queue(
        self, info: Info, input: Annotated[CreateReferralQueueInput, INPUT]
    ) -> ReferralQueuePayload:
        ctx = info.context
        ctx.plan.require_operation("createReferralQueue", Action.WRITE)
        tenant_id = decode_id(input.tenant_id, "Tenant") or ctx.principal.tenant_id
        if tenant_id is None:
            raise Forbidden("partner organizations cannot create referral queues")
        ctx.plan.require_owner_write(m.ReferralQueue, tenant_id)
        written = ["name", "statuses", "active"] + [
            name
            for name, value in (
                ("description", input.description),
                ("need", input.need_term_id),
                ("programs", input.program_ids),
                ("forms", input.form_ids),
            )
            if value is not None
        ]
        require_fields(info, "ReferralQueue", tenant_id, written, None)
        spec = q.QueueSpec(
            name=input.name,
            description=input.description,
            need_term_id=decode_id(input.need_term_id, "TaxonomyTerm"),
            active=input.active,
            statuses=_statuses(input.statuses),
            program_ids=list(decode_ids(input.program_ids, "Program")),
            form_ids=list(decode_ids(input.form_ids, "ContactFormVersion")),
        )
        async with transaction(info, "createReferralQueue", input, input.idempotency_key) as w:
            if w.replayed is None:
                queue = await q.create_queue(w.session, ctx.plan, tenant_id, spec)
                w.result = {"queue": str(queue.id)}
            queue_id = uuid.UUID((w.replayed or w.result)["queue"])
        return ReferralQueuePayload(referral_queue=await _queue(info, queue_id))

    @strawberry.mutation(
        name="updateReferralQueue",
        description=("Changes a referral queue (tenant admins); fields left out stay as they are."),
    )
    async def update_referral_queue(
        self, info: Info, input: Annotated[UpdateReferralQueueInput, INPUT]
    ) -> ReferralQueuePayload:
        ctx = info.context
        ctx.plan.require_operation("updateReferralQueue", Action.WRITE)
        queue_id = require_id(input.id, "ReferralQueue")
        target, scopes = await write_target(info, m.ReferralQueue, queue_id, "referral queue")
        coordinates = {
            "name": "name",
            "description": "description",
            "need_term_id": "need",
            "active": "active",
            "statuses": "statuses",
            "program_ids": "programs",
            "form_ids": "forms",
        }
        written = [c for name, c in coordinates.items() if _given(getattr(input, name))]
        require_fields(info, "ReferralQueue", target.tenant_id, written, scopes)

        def value(name: str) -> Any:
            given = getattr(input, name)
            return None if given is strawberry.UNSET else given

        need = value("need_term_id")
        spec = q.QueueSpec(
            name=value("name"),
            description=value("description"),
            need_term_id=decode_id(need, "TaxonomyTerm"),
            active=value("active"),
            statuses=_statuses(value("statuses")),
            program_ids=list(decode_ids(value("program_ids"), "Program"))
            if value("program_ids") is not None
            else None,
            form_ids=list(decode_ids(value("form_ids"), "ContactFormVersion"))
            if value("form_ids") is not None
            else None,
            clear={
                part
                for part, name in (("description", "description"), ("need", "need_term_id"))
                if _given(getattr(input, name)) and getattr(input, name) is None
            },
        )
        async with transaction(info, "updateReferralQueue", input, input.idempotency_key) as w:
            if w.replayed is None:
                await q.update_queue(w.session, ctx.plan, queue_id, input.version, spec)
                w.result = {"queue": str(queue_id)}
        return ReferralQueuePayload(referral_queue=await _queue(info, queue_id))

    @strawberry.mutation(name="enqueueClient", description="A client waits in a queue.")
    async def enqueue_client(
        self, info: Info, input: Annotated[EnqueueClientInput, INPUT]
    ) -> QueueEntryPayload:
        ctx = info.context
        ctx.plan.require_operation("enqueueClient", Action.WRITE)
        queue_id = require_id(input.queue_id, "ReferralQueue")
        record_id = require_id(input.contact_record_id, "ContactRecord")
        queue = await ctx.loaders.one(m.ReferralQueue, queue_id)
        if queue is None:
            raise NotFound("no such referral queue")
        ctx.plan.require_owner_write(m.QueueEntry, queue.tenant_id)
        written = ["queue", "contactRecord", "client", "status", "enqueuedAt"]
        if input.priority:
            written.append("priority")
        require_fields(info, "QueueEntry", queue.tenant_id, written, None)
        async with transaction(info, "enqueueClient", input, input.idempotency_key) as w:
            if w.replayed is None:
                entry = await q.enqueue(w.session, ctx.plan, queue_id, record_id, input.priority)
                w.result = {"entry": str(entry.id)}
        return await _entry_payload(info, w.replayed or w.result)

    @strawberry.mutation(
        name="assignQueueEntry",
        description="Assign an entry to a program serving the queue that has a free slot: takes "
        "the slot and creates the referral, or CONFLICT (NO_CAPACITY) with nothing changed.",
    )
    async def assign_queue_entry(
        self, info: Info, input: Annotated[AssignQueueEntryInput, INPUT]
    ) -> QueueEntryPayload:
        ctx = info.context
        fields = ["assignedProgram", "assignedAt", "referral", "status"]
        entry, entry_id = await _entry_target(info, "assignQueueEntry", input.id, fields)
        record = await ctx.loaders.one(m.ContactRecord, entry.contact_record_id)
        if record is not None:
            require_fields(
                info, "Referral", record.tenant_id, ["status", "program", "contactRecord"], None
            )
        program_id = decode_id(input.program_id, "Program")
        async with transaction(info, "assignQueueEntry", input, input.idempotency_key) as w:
            if w.replayed is None:
                assigned = await q.assign(w.session, ctx.plan, entry_id, input.version, program_id)
                w.result = {"entry": str(assigned.id), "referral": str(assigned.referral_id)}
        return await _entry_payload(info, w.replayed or w.result)

    @strawberry.mutation(
        name="updateQueueEntryStatus",
        description=(
            "Moves a queue entry to another of the queue's statuses (call-takers and admins "
            "who may write the entry)."
        ),
    )
    async def update_queue_entry_status(
        self, info: Info, input: Annotated[UpdateQueueEntryStatusInput, INPUT]
    ) -> QueueEntryPayload:
        ctx = info.context
        _, entry_id = await _entry_target(info, "updateQueueEntryStatus", input.id, ["status"])
        async with transaction(info, "updateQueueEntryStatus", input, input.idempotency_key) as w:
            if w.replayed is None:
                await q.set_status(w.session, ctx.plan, entry_id, input.version, input.status)
                w.result = {"entry": str(entry_id)}
        return await _entry_payload(info, w.replayed or w.result)

    @strawberry.mutation(
        name="reprioritizeQueueEntry",
        description=("Changes a waiting entry's priority (call-takers of the queue's tenant)."),
    )
    async def reprioritize_queue_entry(
        self, info: Info, input: Annotated[ReprioritizeQueueEntryInput, INPUT]
    ) -> QueueEntryPayload:
        ctx = info.context
        _, entry_id = await _entry_target(info, "reprioritizeQueueEntry", input.id, ["priority"])
        async with transaction(info, "reprioritizeQueueEntry", input, input.idempotency_key) as w:
            if w.replayed is None:
                await q.reprioritize(w.session, ctx.plan, entry_id, input.version, input.priority)
                w.result = {"entry": str(entry_id)}
        return await _entry_payload(info, w.replayed or w.result)

    @strawberry.mutation(
        name="removeQueueEntry",
        description="Take an entry out of its queue; a slot it holds goes back unless service "
        "started, and its open referral is cancelled with the same reason.",
    )
    async def remove_queue_entry(
        self, info: Info, input: Annotated[RemoveQueueEntryInput, INPUT]
    ) -> QueueEntryPayload:
        ctx = info.context
        fields = ["removedAt", "removalReason", "status"]
        _, entry_id = await _entry_target(info, "removeQueueEntry", input.id, fields)
        async with transaction(info, "removeQueueEntry", input, input.idempotency_key) as w:
            if w.replayed is None:
                removed = await q.remove(w.session, ctx.plan, entry_id, input.version, input.reason)
                w.result = {"entry": str(entry_id), "referral": str(removed.referral_id or "")}
        return await _entry_payload(info, w.replayed or w.result)
