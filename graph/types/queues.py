"""Referral queues (iCarol ReferralQ), their entries and the queue dashboard."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.dataloader import DataLoader

from sharegraph.datastore import models as m
from sharegraph.errors import BadUserInput
from sharegraph.graph.arguments import FILTER, SORT, After, First
from sharegraph.graph.context import Info
from sharegraph.graph.enums import ReferralStatus, describe_enum
from sharegraph.graph.guard import readable_fields
from sharegraph.graph.pagination import connection
from sharegraph.graph.relay import Connection, Node
from sharegraph.graph.types.base import many, maybe
from sharegraph.graph.types.catalogued import shared_type
from sharegraph.graph.types.contacts import Client, ContactFormVersion, ContactRecord, Referral
from sharegraph.graph.types.resources import Program, ServiceCapacity, TaxonomyTerm
from sharegraph.graph.types.tenants import Tenant
from sharegraph.queries import queues as q
from sharegraph.queries.pagination import SortKey


@shared_type("QueueStatus")
class QueueStatus:
    row: strawberry.Private[Any]


async def _status_of(info: Info, queue_id: uuid.UUID, key: str) -> Any | None:
    statuses = await info.context.loaders.children(
        m.QueueStatus, "queue_id", (m.QueueStatus.position,)
    ).load(queue_id)
    return next((s for s in statuses if s.key == key), None)


@strawberry.enum
class QueueEntrySort(Enum):
    PRIORITY = "priority"  # highest priority first, then longest waiting
    ENQUEUED_AT_ASC = "enqueued_at_asc"


describe_enum(
    QueueEntrySort,
    "The order of queue entries.",
    PRIORITY="Highest priority first, then longest waiting.",
    ENQUEUED_AT_ASC="Longest waiting first.",
)

SORT_KEYS = {
    QueueEntrySort.PRIORITY: [
        SortKey(m.QueueEntry.priority, descending=True),
        SortKey(m.QueueEntry.enqueued_at),
        SortKey(m.QueueEntry.id),
    ],
    QueueEntrySort.ENQUEUED_AT_ASC: [SortKey(m.QueueEntry.enqueued_at), SortKey(m.QueueEntry.id)],
}
SORT_FIELDS = {
    QueueEntrySort.PRIORITY: ["priority", "enqueuedAt"],
    QueueEntrySort.ENQUEUED_AT_ASC: ["enqueuedAt"],
}


@strawberry.input(description="All given conditions must hold.")
class QueueEntryFilterInput:
    statuses: list[str] | None = strawberry.field(default=None, description="The queue's keys.")
    canonical_statuses: list[ReferralStatus] | None = strawberry.field(
        default=None,
        description=("Only entries whose status maps to one of these referral statuses."),
    )
    awaiting: bool | None = strawberry.field(
        default=None, description="Awaiting services: unassigned, in a draft/requested status."
    )
    include_removed: bool = strawberry.field(
        default=False, description="True: removed entries too."
    )

    def used_fields(self) -> list[str]:
        used = []
        if self.statuses or self.canonical_statuses:
            used.append("status")
        if self.awaiting is not None:
            used += ["status", "assignedProgram", "removedAt"]
        if self.include_removed:
            used.append("removedAt")
        return used


@strawberry.type(description="How many entries are in one status.")
class QueueStatusCount:
    status: QueueStatus | None = strawberry.field(description="The queue's status.")
    count: int = strawberry.field(description="Entries in it that you may see.")


@strawberry.type(description="A program serving the queue and its capacity you may see.")
class QueueProgramCapacity:
    program: Program | None = strawberry.field(
        description="The program; null when you may not see it."
    )
    available: int | None = strawberry.field(
        description=("Free slots reported, summed over its capacities you may see.")
    )
    reserved: int | None = strawberry.field(description="Slots taken by assignments from queues.")
    free: int | None = strawberry.field(
        description=("Slots assignment can still take (`available` minus `reserved`).")
    )
    capacities: list[ServiceCapacity] = strawberry.field(
        description="Its capacity records you may see."
    )


@strawberry.type(description="Figures over the entries you may see.")
class QueueDashboard:
    counts: list[QueueStatusCount] = strawberry.field(description="Entries per status.")
    awaiting: int = strawberry.field(description="Entries awaiting services.")
    waiting_median_seconds: int | None = strawberry.field(
        description="Median time entries awaiting services have waited so far."
    )
    waiting_oldest_seconds: int | None = strawberry.field(
        description="How long the longest-waiting entry awaiting services has waited."
    )
    capacity: list[QueueProgramCapacity] = strawberry.field(
        description=("Each program serving the queue, with its capacity you may see.")
    )


_DASHBOARDS = "_sg_queue_dashboards"


def _dashboard_loader(info: Info) -> DataLoader[uuid.UUID, q.Dashboard]:
    """Per request, like every loader: all queues of a page share one batch."""
    ctx = info.context
    loader: DataLoader[uuid.UUID, q.Dashboard] | None = getattr(ctx.loaders, _DASHBOARDS, None)
    if loader is None:

        async def load(queue_ids: list[uuid.UUID]) -> list[q.Dashboard]:
            async with ctx.db() as session:
                found = await q.dashboards(session, ctx.plan, queue_ids, datetime.now(UTC))
            return [found[i] for i in queue_ids]

        loader = DataLoader(load_fn=load)
        setattr(ctx.loaders, _DASHBOARDS, loader)
    return loader


def _total(info: Info, rows: list[Any], name: str) -> int | None:
    """Sum of one capacity field over the rows where it is readable; null if none is."""
    disclosure = info.context.disclosure
    readable = [r for r in rows if name in readable_fields(disclosure, "ServiceCapacity", r)]
    if not readable:
        return None
    if name == "free":
        return int(sum(max(r.available - r.reserved, 0) for r in readable))
    return int(sum(int(getattr(r, name)) for r in readable))


async def _dashboard(info: Info, found: q.Dashboard) -> QueueDashboard:
    programs = await info.context.loaders.many(m.Program, [p.program_id for p in found.programs])
    by_id = {p.id: p for p in programs}
    return QueueDashboard(
        counts=[
            QueueStatusCount(status=maybe(QueueStatus, c.status), count=c.count)
            for c in found.counts
        ],
        awaiting=found.awaiting,
        waiting_median_seconds=found.waiting_median_seconds,
        waiting_oldest_seconds=found.waiting_oldest_seconds,
        capacity=[
            QueueProgramCapacity(
                program=maybe(Program, by_id[p.program_id]),
                available=_total(info, p.capacities, "available"),
                reserved=_total(info, p.capacities, "reserved"),
                free=_total(info, p.capacities, "free"),
                capacities=many(ServiceCapacity, p.capacities),
            )
            for p in found.programs
            if p.program_id in by_id
        ],
    )


# Bounds of `lengthOverTime` and `capacityOverTime` (one statement with a column per bucket,
# over a bounded span); the field catalogue's descriptions (authz/catalogue/queues.py) say them.
MAX_BUCKETS = 96
MIN_BUCKETS = 2
MAX_SPAN = timedelta(days=92)
DEFAULT_BUCKETS = 24


@strawberry.type(description="How many entries were waiting in a queue at one moment.")
class QueueLengthPoint:
    at: datetime = strawberry.field(description="The moment (UTC): the end of its bucket.")
    waiting: int = strawberry.field(
        description="Entries you may see that were waiting then: enqueued, and neither "
        "assigned to a program nor removed yet."
    )


def _instants(start: datetime, end: datetime, buckets: int) -> list[datetime]:
    """The end of each of ``buckets`` equal buckets from ``start`` to ``end``, checked."""
    if not MIN_BUCKETS <= buckets <= MAX_BUCKETS:
        raise BadUserInput(
            f"buckets must be from {MIN_BUCKETS} to {MAX_BUCKETS}",
            reason="TOO_MANY_BUCKETS" if buckets > MAX_BUCKETS else "TOO_FEW_BUCKETS",
            field="buckets",
        )
    if end <= start:
        raise BadUserInput("`to` must be after `from`", reason="BAD_RANGE", field="to")
    if end - start > MAX_SPAN:
        raise BadUserInput(
            f"the time range may span at most {MAX_SPAN.days} days",
            reason="RANGE_TOO_LONG",
            field="from",
        )
    step = (end - start) / buckets
    return [start + step * (i + 1) for i in range(buckets)]


_LENGTHS = "_sg_queue_lengths"


def _lengths_loader(info: Info, instants: tuple[datetime, ...]) -> DataLoader[uuid.UUID, list[int]]:
    """Per request and time axis: every queue of a page asking for the same axis shares one
    statement."""
    ctx = info.context
    by_axis: dict[tuple[datetime, ...], DataLoader[uuid.UUID, list[int]]] = (
        getattr(ctx.loaders, _LENGTHS, None) or {}
    )
    setattr(ctx.loaders, _LENGTHS, by_axis)
    loader = by_axis.get(instants)
    if loader is None:

        async def load(queue_ids: list[uuid.UUID]) -> list[list[int]]:
            async with ctx.db() as session:
                found = await q.lengths_over_time(session, ctx.plan, queue_ids, instants)
            return [found[i] for i in queue_ids]

        loader = by_axis[instants] = DataLoader(load_fn=load)
    return loader


@strawberry.type(description="A program's capacity at one moment.")
class CapacityPoint:
    at: datetime = strawberry.field(description="The moment (UTC): the end of its bucket.")
    available: int | None = strawberry.field(
        description="Places available then (as last reported or changed by then), summed over "
        "its capacities whose history you may read; null when none had a figure yet."
    )
    maximum: int | None = strawberry.field(
        description="The most it could take then, summed the same way; null when unknown."
    )


@strawberry.type(description="A program serving the queue, and its capacity over time.")
class ProgramCapacityOverTime:
    program: Program | None = strawberry.field(
        description="The program; null when you may not see it."
    )
    points: list[CapacityPoint] = strawberry.field(description="One per bucket, in time order.")


def _figure_at(info: Info, changes: list[Any], name: str, moment: datetime) -> int | None:
    """A capacity's figure at ``moment``: its last readable change by then."""
    disclosure = info.context.disclosure
    value: int | None = None
    for change in changes:  # oldest first
        if change.changed_at > moment:
            break
        if name in readable_fields(disclosure, "CapacityChange", change):
            figure = getattr(change, name)
            value = None if figure is None else int(figure)
    return value


def _capacity_over_time(
    info: Info, found: list[q.CapacityHistory], instants: tuple[datetime, ...]
) -> list[tuple[uuid.UUID, list[CapacityPoint]]]:
    disclosure = info.context.disclosure
    programs: dict[uuid.UUID, list[q.CapacityHistory]] = {}
    for history in found:
        programs.setdefault(history.program_id, []).append(history)
    result = []
    for program_id, histories in programs.items():
        points = []
        for moment in instants:
            sums: dict[str, int | None] = {"available": None, "maximum": None}
            for history in histories:
                if history.capacity is None:
                    continue
                readable = readable_fields(disclosure, "ServiceCapacity", history.capacity)
                if "history" not in readable:
                    continue
                for name in sums:
                    if name not in readable:
                        continue
                    figure = _figure_at(info, history.changes, name, moment)
                    if figure is not None:
                        sums[name] = (sums[name] or 0) + figure
            points.append(CapacityPoint(at=moment, **sums))
        result.append((program_id, points))
    return result


_CAPACITIES = "_sg_queue_capacities"


def _capacities_loader(
    info: Info, instants: tuple[datetime, ...]
) -> DataLoader[uuid.UUID, list[q.CapacityHistory]]:
    """Per request and time axis, like `_lengths_loader`."""
    ctx = info.context
    by_axis: dict[tuple[datetime, ...], DataLoader[uuid.UUID, list[q.CapacityHistory]]] = (
        getattr(ctx.loaders, _CAPACITIES, None) or {}
    )
    setattr(ctx.loaders, _CAPACITIES, by_axis)
    loader = by_axis.get(instants)
    if loader is None:
        start = instants[0] - (instants[1] - instants[0])

        async def load(queue_ids: list[uuid.UUID]) -> list[list[q.CapacityHistory]]:
            async with ctx.db() as session:
                found = await q.capacity_histories(
                    session, ctx.plan, queue_ids, start, instants[-1]
                )
            return [found[i] for i in queue_ids]

        loader = by_axis[instants] = DataLoader(load_fn=load)
    return loader


@shared_type("ReferralQueue", m.ReferralQueue)
class ReferralQueue(Node):
    row: strawberry.Private[Any]

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        return maybe(Tenant, await info.context.loaders.one(m.Tenant, self.row.tenant_id))

    @strawberry.field(description="The need the queue is about (a taxonomy term).")
    async def need(self, info: Info) -> TaxonomyTerm | None:
        return maybe(
            TaxonomyTerm, await info.context.loaders.one(m.TaxonomyTerm, self.row.need_term_id)
        )

    @strawberry.field
    async def statuses(self, info: Info) -> list[QueueStatus] | None:
        rows = await info.context.loaders.children(
            m.QueueStatus, "queue_id", (m.QueueStatus.position,)
        ).load(self.row.id)
        return many(QueueStatus, rows)

    @strawberry.field(description="Programs (internal or a partner's) that serve the queue.")
    async def programs(self, info: Info) -> list[Program] | None:
        loaders = info.context.loaders
        links = await loaders.children(m.QueueProgram, "queue_id").load(self.row.id)
        found = await loaders.many(m.Program, [link.program_id for link in links])
        return many(Program, sorted(found, key=lambda p: (p.name, p.id)))

    @strawberry.field(description="The current version of each contact form linked to the queue.")
    async def forms(self, info: Info) -> list[ContactFormVersion] | None:
        loaders = info.context.loaders
        links = await loaders.children(m.QueueForm, "queue_id").load(self.row.id)
        versions = loaders.children(
            m.ContactFormVersion, "form_id", (m.ContactFormVersion.version.desc(),)
        )
        latest = [
            found[0]
            for found in await versions.load_many([link.form_id for link in links])
            if found
        ]
        return many(ContactFormVersion, latest)

    @strawberry.field
    async def entries(
        self,
        info: Info,
        filter: Annotated[QueueEntryFilterInput | None, FILTER] = None,
        sort: Annotated[QueueEntrySort, SORT] = QueueEntrySort.PRIORITY,
        first: First = None,
        after: After = None,
    ) -> Connection[QueueEntry]:
        plan = info.context.plan
        given = filter or QueueEntryFilterInput()
        owners = [self.row.tenant_id]
        info.context.disclosure.require_filterable(
            "QueueEntry", given.used_fields(), owners, use="filter"
        )
        info.context.disclosure.require_filterable(
            "QueueEntry", SORT_FIELDS[sort], owners, use="sort"
        )
        statement = q.entries(
            plan,
            self.row.id,
            status_keys=given.statuses or (),
            canonical=given.canonical_statuses or (),
            awaiting=given.awaiting,
            include_removed=given.include_removed,
        )
        return await connection(
            info,
            QueueEntry,
            m.QueueEntry,
            statement,
            sort.name,
            SORT_KEYS[sort],
            first=first,
            after=after,
        )

    @strawberry.field(
        description="Entries per status, how long clients awaiting services have waited, and "
        "the capacity of the programs serving the queue."
    )
    async def dashboard(self, info: Info) -> QueueDashboard | None:
        # Counts and waiting times summarize the entries' statuses and times: only for callers
        # who may read those on every entry they see.
        info.context.disclosure.require_filterable(
            "QueueEntry",
            ["status", "enqueuedAt"],
            [self.row.tenant_id],
            use="aggregate",
        )
        return await _dashboard(info, await _dashboard_loader(info).load(self.row.id))

    @strawberry.field(
        name="lengthOverTime",
        description="How many entries were waiting at the end of each of `buckets` equal "
        "buckets from `from` to `to`: enqueued, and neither assigned to a program nor removed "
        f"by then (from the entries' timestamps). At most {MAX_SPAN.days} days and "
        f"{MAX_BUCKETS} buckets (else BAD_USER_INPUT); needs the entries' times readable like "
        "`dashboard`.",
    )
    async def length_over_time(
        self,
        info: Info,
        start: Annotated[
            datetime,
            strawberry.argument(name="from", description="Start of the first bucket (UTC offset)."),
        ],
        end: Annotated[
            datetime,
            strawberry.argument(name="to", description="End of the last bucket (UTC offset)."),
        ],
        buckets: Annotated[
            int,
            strawberry.argument(description=f"How many buckets, {MIN_BUCKETS} to {MAX_BUCKETS}."),
        ] = DEFAULT_BUCKETS,
    ) -> list[QueueLengthPoint]:
        instants = tuple(_instants(start, end, buckets))
        info.context.disclosure.require_filterable(
            "QueueEntry",
            ["enqueuedAt", "assignedAt", "removedAt"],
            [self.row.tenant_id],
            use="aggregate",
        )
        counts = await _lengths_loader(info, instants).load(self.row.id)
        return [
            QueueLengthPoint(at=moment, waiting=n)
            for moment, n in zip(instants, counts, strict=True)
        ]

    @strawberry.field(
        name="capacityOverTime",
        description="The capacity of each program serving the queue at the end of each of "
        "`buckets` equal buckets from `from` to `to`, from its capacities' history (reports, "
        "reservations, releases) as far as you may read it. Same bounds as `lengthOverTime`.",
    )
    async def capacity_over_time(
        self,
        info: Info,
        start: Annotated[
            datetime,
            strawberry.argument(name="from", description="Start of the first bucket (UTC offset)."),
        ],
        end: Annotated[
            datetime,
            strawberry.argument(name="to", description="End of the last bucket (UTC offset)."),
        ],
        buckets: Annotated[
            int,
            strawberry.argument(description=f"How many buckets, {MIN_BUCKETS} to {MAX_BUCKETS}."),
        ] = DEFAULT_BUCKETS,
    ) -> list[ProgramCapacityOverTime]:
        instants = tuple(_instants(start, end, buckets))
        found = await _capacities_loader(info, instants).load(self.row.id)
        series = _capacity_over_time(info, found, instants)
        programs = await info.context.loaders.many(m.Program, [p for p, _ in series])
        by_id = {p.id: p for p in programs}
        return [
            ProgramCapacityOverTime(program=maybe(Program, by_id.get(program_id)), points=points)
            for program_id, points in series
            if program_id in by_id
        ]


@shared_type("QueueEntry", m.QueueEntry)
class QueueEntry(Node):
    row: strawberry.Private[Any]

    @strawberry.field
    async def status(self, info: Info) -> QueueStatus | None:
        return maybe(QueueStatus, await _status_of(info, self.row.queue_id, self.row.status_key))

    @strawberry.field(name="canonicalStatus")
    async def canonical_status(self, info: Info) -> ReferralStatus | None:
        status = await _status_of(info, self.row.queue_id, self.row.status_key)
        return None if status is None else status.canonical_status

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        return maybe(Tenant, await info.context.loaders.one(m.Tenant, self.row.tenant_id))

    @strawberry.field
    async def queue(self, info: Info) -> ReferralQueue | None:
        return maybe(
            ReferralQueue, await info.context.loaders.one(m.ReferralQueue, self.row.queue_id)
        )

    @strawberry.field(name="contactRecord")
    async def contact_record(self, info: Info) -> ContactRecord | None:
        row = await info.context.loaders.one(m.ContactRecord, self.row.contact_record_id)
        return maybe(ContactRecord, row)

    @strawberry.field
    async def client(self, info: Info) -> Client | None:
        return maybe(Client, await info.context.loaders.one(m.Client, self.row.client_id))

    @strawberry.field(name="assignedProgram")
    async def assigned_program(self, info: Info) -> Program | None:
        return maybe(
            Program, await info.context.loaders.one(m.Program, self.row.assigned_program_id)
        )

    @strawberry.field(description="The referral the assignment made.")
    async def referral(self, info: Info) -> Referral | None:
        return maybe(Referral, await info.context.loaders.one(m.Referral, self.row.referral_id))
