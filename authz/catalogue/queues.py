"""Referral queues (iCarol ReferralQ): queues, their statuses and their entries."""

from __future__ import annotations

from datetime import datetime

from sharegraph.authz.catalogue.spec import (
    Export,
    Kind,
    TypeSpec,
    column,
    computed,
    identity,
    relation,
    uuid_of,
)
from sharegraph.datastore.enums import ReferralStatus
from sharegraph.datastore.enums import Sensitivity as S

NO_FILE = Export.none("queues are worked through the API; no file export carries them")

REFERRAL_QUEUE = TypeSpec(
    "ReferralQueue",
    "A named queue around a need (supportive housing, ride vouchers...) where clients wait "
    "until a program with capacity takes them. Each queue has its own statuses.",
    Kind.RECORD,
    scoped=True,
    fields=(
        identity("queue"),
        uuid_of("queue", NO_FILE),
        column("name", str, "The queue's name, unique in its tenant.", S.PUBLIC, export=NO_FILE),
        column(
            "description",
            str,
            "What the queue is for and who may be placed in it.",
            S.PUBLIC,
            export=NO_FILE,
        ),
        column(
            "active",
            bool,
            "Whether clients may still be enqueued.",
            S.PUBLIC,
            export=NO_FILE,
        ),
        column(
            "version",
            int,
            "Bumped by every change; pass it back to updates.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column(
            "createdAt", datetime, "When the queue was created (UTC).", S.INTERNAL, export=NO_FILE
        ),
        column(
            "updatedAt", datetime, "When the queue last changed (UTC).", S.INTERNAL, export=NO_FILE
        ),
        relation("tenant", "Tenant", "The tenant that runs the queue.", S.PUBLIC, export=NO_FILE),
        relation(
            "need",
            "TaxonomyTerm",
            "The need the queue is about (a taxonomy term).",
            S.PUBLIC,
            export=NO_FILE,
        ),
        relation(
            "statuses",
            "QueueStatus",
            "The queue's own statuses, in order, each mapped to a canonical referral status.",
            S.PUBLIC,
            many=True,
            export=NO_FILE,
        ),
        relation(
            "programs",
            "Program",
            "Programs (internal or a partner's) that serve the queue.",
            S.PUBLIC,
            many=True,
            export=NO_FILE,
        ),
        relation(
            "forms",
            "ContactFormVersion",
            "The current version of each contact form linked to the queue.",
            S.PUBLIC,
            many=True,
            export=NO_FILE,
        ),
        relation(
            "entries",
            "QueueEntry",
            "The queue's entries you may see, filtered and sorted.",
            S.INTERNAL,
            many=True,
            export=NO_FILE,
        ),
        computed(
            "dashboard",
            dict,
            "Entries per status, how long clients awaiting services have waited, and each "
            "program's capacity: figures over the entries and capacities you may see.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        # Derived only from entry times the caller must already read on every entry it sees
        # (checked like `dashboard`), so it needs no review of its own: revision 1.
        computed(
            "lengthOverTime",
            list,
            "How many entries you may see were waiting at each moment of a bounded time range, "
            "from the entries' enqueued, assigned and removed times: at most 92 days and 96 "
            "buckets (else BAD_USER_INPUT); needs the entries' times readable on every entry "
            "you see, like `dashboard`.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        # Figures come only from capacity history rows the caller may already read (checked
        # per row like `ServiceCapacity.history`): revision 1, like `lengthOverTime`.
        computed(
            "capacityOverTime",
            list,
            "Each serving program's capacity at each moment of a bounded time range, from the "
            "history of its capacities you may read: at most 92 days and 96 buckets (else "
            "BAD_USER_INPUT).",
            S.INTERNAL,
            export=NO_FILE,
        ),
    ),
)

QUEUE_STATUS = TypeSpec(
    "QueueStatus",
    "One of a queue's own statuses, mapped to a canonical referral status.",
    Kind.RECORD,
    fields=(
        column("key", str, "The status's key, unique in its queue.", S.PUBLIC, export=NO_FILE),
        column("label", str, "The status as people read it.", S.PUBLIC, export=NO_FILE),
        column(
            "canonicalStatus",
            ReferralStatus,
            "The referral lifecycle status it stands for.",
            S.PUBLIC,
            export=NO_FILE,
        ),
        column(
            "position", int, "Its place in the queue's order, from 0.", S.PUBLIC, export=NO_FILE
        ),
    ),
)

QUEUE_ENTRY = TypeSpec(
    "QueueEntry",
    "A client waiting in a queue, until assigned to a program with capacity or removed.",
    Kind.RECORD,
    scoped=True,
    fields=(
        identity("queue entry"),
        uuid_of("queue entry", NO_FILE),
        relation(
            "status",
            "QueueStatus",
            "The entry's status in its queue's own list.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        computed(
            "canonicalStatus",
            ReferralStatus,
            "The referral lifecycle status the entry's status stands for.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column(
            "priority",
            int,
            "Higher is served first; `reprioritizeQueueEntry` changes it.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column(
            "enqueuedAt",
            datetime,
            "When the client was placed in the queue (UTC).",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column(
            "assignedAt",
            datetime,
            "When a program took the entry (UTC).",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column(
            "removedAt",
            datetime,
            "When the entry left the queue (UTC).",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column(
            "removalReason",
            str,
            "Why the entry left the queue.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column(
            "version",
            int,
            "Bumped by every change; pass it back to updates.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        relation("tenant", "Tenant", "The tenant that runs the queue.", S.PUBLIC, export=NO_FILE),
        relation(
            "queue", "ReferralQueue", "The queue the entry waits in.", S.PUBLIC, export=NO_FILE
        ),
        relation(
            "contactRecord",
            "ContactRecord",
            "The contact record the client was enqueued from.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        relation(
            "client",
            "Client",
            "The client waiting.",
            S.PII,
            export=NO_FILE,
        ),
        relation(
            "assignedProgram",
            "Program",
            "The program the entry was assigned to.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        relation(
            "referral",
            "Referral",
            "The referral the assignment made.",
            S.INTERNAL,
            export=NO_FILE,
        ),
    ),
)

TYPES = (REFERRAL_QUEUE, QUEUE_STATUS, QUEUE_ENTRY)
