"""A partner's and a tenant's work lists: the `referrals` inbox and outbox, and `queueEntries`
across queues. Both are keyset connections over the caller's plan, like every other list."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from sharegraph.authz.plan import Action
from sharegraph.datastore import models as m
from sharegraph.graph.context import Info
from sharegraph.graph.enums import ReferralDirection, ReferralStatus
from sharegraph.graph.inputs import decode_id, decode_ids
from sharegraph.graph.pagination import connection
from sharegraph.graph.relay import Connection
from sharegraph.graph.types.contacts import Referral
from sharegraph.graph.types.queues import SORT_FIELDS, SORT_KEYS, QueueEntry, QueueEntrySort
from sharegraph.queries import queues as queue_queries
from sharegraph.queries import referrals as q
from sharegraph.queries.pagination import SortKey

First = Annotated[
    int | None,
    strawberry.argument(description="Page size (default and maximum: the server's settings)."),
]
After = Annotated[
    str | None, strawberry.argument(description="The `endCursor` of the previous page.")
]


@strawberry.input(
    description="Narrows `referrals`; all given conditions must hold. A condition on a field "
    "you cannot read on every referral you see is refused (`FORBIDDEN` / `FORBIDDEN_FILTER`)."
)
class ReferralFilterInput:
    direction: ReferralDirection | None = strawberry.field(
        default=None, description="Only the referrals you received, or only those you sent."
    )
    status: list[ReferralStatus] | None = strawberry.field(
        default=None,
        description="Only referrals in one of these statuses (one status may be given alone).",
    )
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only referrals to this receiving organization (global id)."
    )
    program_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only referrals to this program (global id)."
    )
    service_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only referrals to this service, at any location (global id)."
    )
    updated_after: datetime | None = strawberry.field(
        default=None,
        description="Only referrals changed strictly after this time (ISO 8601 with offset); "
        "poll with the newest `updatedAt` you have seen.",
    )
    external_id: str | None = strawberry.field(
        default=None, description="Only the referral carrying this receiving-side case number."
    )

    def used_fields(self) -> list[str]:
        """The Referral fields the filter reads (each must be readable on every row)."""
        target = ["serviceAtLocation", "program"]
        used: dict[str, bool] = {
            "tenant": self.direction is ReferralDirection.SENT,
            "status": bool(self.status),
            "program": self.program_id is not None,
            "service": self.service_id is not None,
            "updatedAt": self.updated_after is not None,
            "externalId": self.external_id is not None,
        }
        names = [name for name, on in used.items() if on]
        if self.direction is ReferralDirection.RECEIVED or self.organization_id is not None:
            names += target
        return list(dict.fromkeys(names))

    def to_filter(self) -> q.ReferralFilter:
        return q.ReferralFilter(
            direction=None if self.direction is None else q.Direction[self.direction.name],
            statuses=tuple(self.status or ()),
            organization_id=decode_id(self.organization_id, "Organization"),
            program_id=decode_id(self.program_id, "Program"),
            service_id=decode_id(self.service_id, "Service"),
            updated_after=self.updated_after,
            external_id=self.external_id,
        )


@strawberry.enum(description="The order of `referrals`.")
class ReferralSort(Enum):
    CREATED_AT_DESC = strawberry.enum_value("CREATED_AT_DESC", description="Newest first.")
    CREATED_AT_ASC = strawberry.enum_value("CREATED_AT_ASC", description="Oldest first.")
    UPDATED_AT_DESC = strawberry.enum_value(
        "UPDATED_AT_DESC", description="Most recently changed first."
    )
    UPDATED_AT_ASC = strawberry.enum_value(
        "UPDATED_AT_ASC", description="Least recently changed first (for polling)."
    )


def _referral_sort(sort: ReferralSort) -> tuple[str, list[SortKey]]:
    descending = sort.name.endswith("_DESC")
    if sort.name.startswith("CREATED"):
        return "createdAt", [
            SortKey(m.Referral.created_at, descending),
            SortKey(m.Referral.id, descending),
        ]
    return "updatedAt", [
        SortKey(m.Referral.updated_at, descending),
        SortKey(m.Referral.id, descending),
    ]


@strawberry.input(
    description="Narrows `queueEntries`; all given conditions must hold. Conditions on fields "
    "you cannot read on every entry you see are refused (`FORBIDDEN` / `FORBIDDEN_FILTER`)."
)
class QueueEntriesFilterInput:
    queue_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only entries of these queues (global ids)."
    )
    assigned_program_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only entries assigned to these programs (global ids)."
    )
    canonical_statuses: list[ReferralStatus] | None = strawberry.field(
        default=None,
        description="Only entries whose queue status maps to one of these lifecycle statuses.",
    )
    awaiting: bool | None = strawberry.field(
        default=None,
        description="true: only entries awaiting services (unassigned, in a draft or requested "
        "status); false: only the others.",
    )
    include_removed: bool = strawberry.field(
        default=False, description="Include entries removed from their queue."
    )

    def used_fields(self) -> list[str]:
        used = {
            "queue": bool(self.queue_ids),
            "assignedProgram": bool(self.assigned_program_ids) or self.awaiting is not None,
            "status": bool(self.canonical_statuses) or self.awaiting is not None,
            "removedAt": self.include_removed or self.awaiting is not None,
        }
        return [name for name, on in used.items() if on]


@strawberry.type
class InboxQuery:
    @strawberry.field(
        description="Referrals you may see, as a connection: with `direction: RECEIVED` those "
        "to organizations you operate (a partner's inbox), with `SENT` those your tenant made. "
        "Each referral's contact record and client are as readable as your sharing agreements "
        "allow."
    )
    async def referrals(
        self,
        info: Info,
        filter: Annotated[
            ReferralFilterInput | None, strawberry.argument(description="What to list.")
        ] = None,
        sort: Annotated[
            ReferralSort, strawberry.argument(description="The order (default: newest first).")
        ] = ReferralSort.CREATED_AT_DESC,
        first: First = None,
        after: After = None,
    ) -> Connection[Referral]:
        ctx = info.context
        ctx.plan.require_operation("referrals", Action.READ)
        given = filter or ReferralFilterInput()
        flt = given.to_filter()
        home = ctx.principal.tenant_id
        # The outbox holds only the caller's own referrals: other owners' fields do not matter.
        owners = [home] if flt.direction is q.Direction.SENT and home else None
        ctx.disclosure.require_filterable("Referral", given.used_fields(), owners, use="filter")
        sort_field, keys = _referral_sort(sort)
        ctx.disclosure.require_filterable("Referral", [sort_field], owners, use="sort")
        statement = q.referrals(ctx.plan, flt)
        return await connection(
            info, Referral, m.Referral, statement, sort.name, keys, first=first, after=after
        )

    @strawberry.field(
        name="queueEntries",
        description="Queue entries you may see across every queue, as a connection: a "
        "partner's are the live entries assigned to its programs.",
    )
    async def queue_entries(
        self,
        info: Info,
        filter: Annotated[
            QueueEntriesFilterInput | None, strawberry.argument(description="What to list.")
        ] = None,
        sort: Annotated[
            QueueEntrySort,
            strawberry.argument(
                description="The order (default: highest priority, then longest waiting)."
            ),
        ] = QueueEntrySort.PRIORITY,
        first: First = None,
        after: After = None,
    ) -> Connection[QueueEntry]:
        ctx = info.context
        ctx.plan.require_operation("queueEntries", Action.READ)
        given = filter or QueueEntriesFilterInput()
        ctx.disclosure.require_filterable("QueueEntry", given.used_fields(), use="filter")
        ctx.disclosure.require_filterable("QueueEntry", SORT_FIELDS[sort], use="sort")
        statement = queue_queries.entries(
            ctx.plan,
            None,
            canonical=given.canonical_statuses or (),
            awaiting=given.awaiting,
            include_removed=given.include_removed,
            queue_ids=decode_ids(given.queue_ids, "ReferralQueue"),
            program_ids=decode_ids(given.assigned_program_ids, "Program"),
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
