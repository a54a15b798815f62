"""The demo network's referral queues beyond Prairie 211's own, and what partners may do with
queues and capacity.

- Lakeside Crisis Line keeps an after-hours shelter queue served by Harbor Housing's shelter,
  and Riverbend 211 an emergency food queue served by Eastside's mobile pantry; each holds a few
  of that tenant's callers awaiting services.
- Eastside Food Pantry and Harbor Housing read, in Prairie 211's queues, the entries assigned to
  their programs and the queues those programs serve (their usual row scope), and report the
  capacity of the programs and services they operate (``updateCapacity`` also checks that the
  capacity is theirs).

Rows are added to the builder's tables before the bulk insert, so seeding stays one pass and the
counts in ``SeedResult`` include them.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sharegraph.datastore.enums import EventType, GranteeKind, ReferralStatus
from sharegraph.datastore.models import (
    ContactRecord,
    ContactRecordNeed,
    Event,
    QueueEntry,
    QueueForm,
    QueueProgram,
    QueueStatus,
    ReferralQueue,
    SharingAgreement,
)

if TYPE_CHECKING:
    from sharegraph.datastore.base import Base

S = ReferralStatus
Row = dict[str, Any]

# (key, tenant, name, description, need code, statuses, programs, form, need codes of callers)
QUEUES: list[
    tuple[str, str, str, str, str, tuple[tuple[str, str, S], ...], tuple[str, ...], str, set[str]]
] = [
    (
        "lakeside-shelter",
        "lakeside",
        "After-hours shelter beds",
        "Callers who need a bed tonight, waiting for a shelter placement.",
        "BH-1800.8500",
        (
            ("waiting", "Waiting for a bed", S.REQUESTED),
            ("placed", "Placed with a shelter", S.ACCEPTED),
            ("checked-in", "Checked in", S.COMPLETED),
            ("closed", "Closed", S.CANCELLED),
        ),
        ("harbor-shelter",),
        "lakeside-standard",
        {"BH-1800.8500", "BH-1800", "BH-3800.7000", "BH-3800.7250"},
    ),
    (
        "riverbend-food",
        "riverbend",
        "Emergency food",
        "Households waiting for a mobile pantry delivery.",
        "BD-1800.2000",
        (
            ("new", "New request", S.REQUESTED),
            ("scheduled", "Delivery scheduled", S.ACCEPTED),
            ("delivered", "Delivered", S.COMPLETED),
            ("withdrawn", "Withdrawn", S.CANCELLED),
        ),
        ("eastside-mobile",),
        "riverbend-standard",
        {"BD-1800.2000", "BD-1800", "BD-5000.8300"},
    ),
]
ENTRIES_PER_SCALE = 6

QUEUE_READ = ["ReferralQueue.*", "QueueStatus.*", "QueueEntry.*"]
CAPACITY_REPORTING = ["ServiceCapacity.*", "CapacityChange.*", "ScheduledCapacityChange.*"]


def extend(builder: Any, rows: dict[type[Base], list[Row]]) -> None:
    """Add the queues, their waiting entries and the partner agreements to ``rows``."""
    from sharegraph.demo import demo_id

    code_of = {term_id: code for code, term_id in builder.term_ids.items()}
    needs: dict[uuid.UUID, set[str]] = {}
    for link in rows.get(ContactRecordNeed, []):
        needs.setdefault(link["contact_record_id"], set()).add(code_of[link["taxonomy_term_id"]])
    created = builder.now - timedelta(days=120)
    for key, tenant, name, description, need, statuses, programs, form, codes in QUEUES:
        tenant_id = builder.tenant_ids[tenant]
        queue_id = demo_id("referral-queue", key)
        owned = {"tenant_id": tenant_id}
        rows.setdefault(ReferralQueue, []).append(
            {
                "id": queue_id,
                **owned,
                "name": name,
                "description": description,
                "need_term_id": builder.term_ids[need],
                "active": True,
                "version": 1,
                "created_at": created,
                "updated_at": created,
            }
        )
        rows.setdefault(QueueStatus, []).extend(
            {
                "id": demo_id("queue-status", f"{key}:{status_key}"),
                **owned,
                "queue_id": queue_id,
                "key": status_key,
                "label": label,
                "canonical_status": canonical,
                "position": position,
            }
            for position, (status_key, label, canonical) in enumerate(statuses)
        )
        rows.setdefault(QueueProgram, []).extend(
            {
                "id": demo_id("queue-program", f"{key}:{program}"),
                **owned,
                "queue_id": queue_id,
                "program_id": builder.program_ids[program],
            }
            for program in programs
        )
        rows.setdefault(QueueForm, []).append(
            {
                "id": demo_id("queue-form", f"{key}:{form}"),
                **owned,
                "queue_id": queue_id,
                "form_id": builder.form_ids[form],
            }
        )
        callers = [
            record
            for record in rows.get(ContactRecord, [])
            if record["tenant_id"] == tenant_id and needs.get(record["id"], set()) & codes
        ]
        callers.sort(key=lambda record: record["ended_at"], reverse=True)
        worker = builder.actor(tenant, "call-taker")
        for index, record in enumerate(callers[: ENTRIES_PER_SCALE * builder.scale]):
            entry_id = demo_id("queue-entry", f"{key}:{index}")
            enqueued = record["ended_at"]
            rows.setdefault(QueueEntry, []).append(
                {
                    "id": entry_id,
                    **owned,
                    "queue_id": queue_id,
                    "contact_record_id": record["id"],
                    "client_id": record["client_id"],
                    "status_key": statuses[0][0],
                    "priority": index % 3,
                    "assigned_program_id": None,
                    "assigned_at": None,
                    "referral_id": None,
                    "capacity_id": None,
                    "enqueued_at": enqueued,
                    "removed_at": None,
                    "removal_reason": None,
                    "version": 1,
                    "created_at": enqueued,
                    "updated_at": enqueued,
                }
            )
            rows.setdefault(Event, []).append(
                {
                    "id": demo_id("event", f"QueueEntry:{entry_id}"),
                    "event_type": EventType.CREATED,
                    "record_type": "QueueEntry",
                    "record_id": entry_id,
                    "tenant_id": tenant_id,
                    "record_version": 1,
                    "occurred_at": enqueued,
                    "actor_id": worker,
                }
            )
    rows[Event].sort(key=lambda event: event["occurred_at"])  # positions follow time
    rows.setdefault(SharingAgreement, []).extend(_agreements(builder, demo_id))


PLACEMENT_WRITE = ["ServiceCapacity.reserved", "CapacityChange.*"]


def _agreements(builder: Any, demo_id: Any) -> list[Row]:
    prairie = builder.tenant_ids["prairie"]
    made = builder.now - timedelta(days=200)
    agreements = []
    for slug, scope in (("eastside", "referred_to_grantee"), ("harbor", "assigned_to_grantee")):
        for name, actions, fields, row_scope in (
            (f"Queue entries for {slug}", ["read"], QUEUE_READ, scope),
            (f"Capacity reporting by {slug}", ["read", "write"], CAPACITY_REPORTING, "all"),
        ):
            agreements.append(
                {
                    "id": demo_id("sharing-agreement", name + str(prairie)),
                    "tenant_id": prairie,
                    "name": name,
                    "purpose": "care coordination",
                    "grantee_kind": GranteeKind.PARTNER,
                    "grantee_tenant_id": None,
                    "grantee_partner_id": builder.partner_ids[slug],
                    "grantee_role": None,
                    "actions": actions,
                    "fields": fields,
                    "denied_fields": [],
                    "answer_sensitivity": None,
                    "row_scope": row_scope,
                    "valid_from": None,
                    "valid_until": None,
                    "emergency": False,
                    "revoked_at": None,
                    "created_by_id": builder.actor("prairie", "admin"),
                    "version": 1,
                    "created_at": made,
                    "updated_at": made,
                }
            )
    # Lakeside and Riverbend place their callers with programs in Prairie's directory: taking a
    # slot writes Prairie's capacity rows, which only an agreement allows.
    for slug in ("lakeside", "riverbend"):
        name = f"Queue placements by {slug}"
        agreements.append(
            {
                **agreements[-1],
                "id": demo_id("sharing-agreement", name + str(prairie)),
                "name": name,
                "grantee_kind": GranteeKind.TENANT,
                "grantee_tenant_id": builder.tenant_ids[slug],
                "grantee_partner_id": None,
                "actions": ["write"],
                "fields": PLACEMENT_WRITE,
                "row_scope": "all",
            }
        )
    return agreements
