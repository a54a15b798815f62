"""Capacity (HSDS 3.1 service_capacity and unit), its history and announced changes."""

from __future__ import annotations

from datetime import datetime

from sharegraph.authz.catalogue.spec import (
    HSDS,
    Export,
    Kind,
    TypeSpec,
    column,
    computed,
    identity,
    relation,
    uuid_of,
)
from sharegraph.datastore.enums import CapacityStatus
from sharegraph.datastore.enums import Sensitivity as S

NOT_IN_HSDS = Export.none("HSDS has no property for it")
HISTORY_ONLY = Export.none("capacity history is read through the API")
P = S.PUBLIC

SERVICE_CAPACITY = TypeSpec(
    "ServiceCapacity",
    "What a service or program can take now (HSDS 3.1 service_capacity), kept current by its "
    "operator and reserved by queue assignments.",
    Kind.DIRECTORY,
    fields=(
        uuid_of("capacity", HSDS),
        column(
            "available",
            int,
            "Free slots now as reported, counting referrals already received as taken.",
            P,
            inputs=("available",),
            export=NOT_IN_HSDS,
        ),
        column(
            "reserved",
            int,
            "Slots taken by queue assignments since the last report.",
            P,
            export=NOT_IN_HSDS,
        ),
        column(
            "maximum",
            int,
            "The most it can take, in its unit.",
            P,
            inputs=("maximum",),
            export=HSDS,
        ),
        column(
            "status",
            CapacityStatus,
            "Gravity capacity status: capacity, no-capacity, waitlist, "
            "additional-assessment-required.",
            P,
            inputs=("status",),
            export=NOT_IN_HSDS,
        ),
        column("description", str, "What is counted (HSDS description).", P, export=HSDS),
        column(
            "note",
            str,
            'A note from the operator ("about 15 on the waitlist, 4-6 weeks").',
            P,
            inputs=("note",),
            export=NOT_IN_HSDS,
        ),
        column("updated", datetime, "When the figures were last reported (UTC).", P, export=HSDS),
        computed(
            "free",
            int,
            "Slots free now: available minus what assignments reserved (HSDS `available`).",
            P,
            export=HSDS,
        ),
        relation(
            "unit",
            "Unit",
            "What is counted: beds, appointments, vouchers...",
            P,
            inputs=("unit_id",),
            export=HSDS,
        ),
        identity("capacity"),
        column(
            "version",
            int,
            "Bumped by every report and reservation; pass it back to `updateCapacity`.",
            S.INTERNAL,
            export=NOT_IN_HSDS,
        ),
        relation(
            "history",
            "CapacityChange",
            "Every change, newest first: reports, reservations, releases.",
            S.INTERNAL,
            many=True,
            export=HISTORY_ONLY,
        ),
        relation(
            "scheduled",
            "ScheduledCapacityChange",
            "Changes announced ahead, not yet applied nor cancelled.",
            P,
            many=True,
            export=HISTORY_ONLY,
        ),
    ),
)

CAPACITY_CHANGE = TypeSpec(
    "CapacityChange",
    "One change of a capacity: the figures after it, and when.",
    Kind.RECORD,
    fields=(
        uuid_of("change", HISTORY_ONLY),
        column("available", int, "Available after the change.", P, export=HISTORY_ONLY),
        column("reserved", int, "Reserved after the change.", P, export=HISTORY_ONLY),
        column("maximum", int, "Maximum after the change.", P, export=HISTORY_ONLY),
        column("status", CapacityStatus, "Status after the change.", P, export=HISTORY_ONLY),
        column("note", str, "The note given with the change.", P, export=HISTORY_ONLY),
        column("changedAt", datetime, "When (UTC).", P, export=HISTORY_ONLY),
    ),
)

SCHEDULED_CAPACITY_CHANGE = TypeSpec(
    "ScheduledCapacityChange",
    'A capacity change announced ahead ("+5 slots on Monday"); the scheduler applies it once '
    "at `applyAt`, unless it is cancelled first.",
    Kind.DIRECTORY,
    fields=(
        identity("scheduled change"),
        uuid_of("scheduled change", HISTORY_ONLY),
        column("applyAt", datetime, "When it applies (UTC).", P, export=HISTORY_ONLY),
        column(
            "availableDelta",
            int,
            "Slots added (or, negative, taken away) from what is available then.",
            P,
            export=HISTORY_ONLY,
        ),
        column("available", int, "A new figure for what is available.", P, export=HISTORY_ONLY),
        column("maximum", int, "A new maximum.", P, export=HISTORY_ONLY),
        column("status", CapacityStatus, "A new status.", P, export=HISTORY_ONLY),
        column("note", str, "A new note.", P, export=HISTORY_ONLY),
        column("createdAt", datetime, "When it was announced (UTC).", P, export=HISTORY_ONLY),
        column(
            "appliedAt", datetime, "When the scheduler applied it (UTC).", P, export=HISTORY_ONLY
        ),
        column("cancelledAt", datetime, "When it was cancelled (UTC).", P, export=HISTORY_ONLY),
    ),
)

UNIT = TypeSpec(
    "Unit",
    "A unit capacity is counted in (HSDS 3.1 unit): beds, appointments, vouchers.",
    Kind.DIRECTORY,
    fields=(
        uuid_of("unit", HSDS),
        column("name", str, "The unit's name.", P, export=HSDS),
        column("scheme", str, "The scheme the identifier comes from.", P, export=HSDS),
        column("identifier", str, "The unit's identifier in its scheme.", P, export=HSDS),
    ),
)

TYPES = (SERVICE_CAPACITY, CAPACITY_CHANGE, SCHEDULED_CAPACITY_CHANGE, UNIT)
