"""Edges of the closed-loop referral work found in review, each once a real bug: children of
directory records reachable by id under a narrow scope, statistics differenced across queries,
far dates, capacity taken without an agreement, and a concurrent duplicate answered INTERNAL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from sharegraph.datastore.models import (
    ContactFormVersion,
    ContactRecord,
    Phone,
    Service,
    ServiceCapacity,
)
from sharegraph.demo import demo_id
from sharegraph.demo.sharing import DIRECTORY
from sharegraph.graph.relay import to_global_id

from .builders import add_tenant_with_admin
from .conftest import Api

PRAIRIE = demo_id("tenant", "prairie")
LAKESIDE = demo_id("tenant", "lakeside")
RIVERBEND = demo_id("tenant", "riverbend")
EASTSIDE_ORG = demo_id("organization", "eastside")
HARBOR_ORG = demo_id("organization", "harbor")
HARBOR_SHELTER = demo_id("program", "harbor-shelter")
SHELTER_BEDS = demo_id("service-capacity", "harbor-shelter")
MOBILE_PANTRY = demo_id("service-capacity", "eastside-mobile")
AFTER_HOURS = demo_id("contact-form", "prairie-after-hours")
CHICAGO = ZoneInfo("America/Chicago")

SHARE = "mutation($i: SharingAgreementInput!) { createSharingAgreement(input: $i) { agreement { id } } }"
REVOKE = "mutation($id: ID!) { revokeSharingAgreement(id: $id) { agreement { revokedAt } } }"


def gid(type_name: str, row_id: uuid.UUID) -> str:
    return to_global_id(type_name, row_id)


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


# -- 1. Unscoped types that became nodes ignore the grant's row scope ---------------------------


async def test_inventory_guest_cannot_read_phones_and_capacity_outside_the_inventory(
    write_api: Api,
) -> None:
    api = write_api
    tenant, key = await add_tenant_with_admin(api.database, "Northwoods 211", "northwoods-admin")
    # Prairie's directory is public in the demo: take that away so only the inventory counts.
    agreements = (await api.data("prairie-admin", "{ sharingAgreements { id name } }"))[
        "sharingAgreements"
    ]
    public = next(a["id"] for a in agreements if a["name"] == "Public directory")
    await api.data("prairie-admin", REVOKE, {"id": public})
    created = await api.data(
        "prairie-admin",
        'mutation { createInventory(input: {name: "East food"}) { inventory { id uuid } } }',
    )
    inventory = created["createInventory"]["inventory"]
    await api.data(
        "prairie-admin",
        "mutation($i: InventoryItemsInput!) { addInventoryItems(input: $i) { inventory { id } } }",
        {"i": {"inventoryId": inventory["id"], "recordIds": [gid("Organization", EASTSIDE_ORG)]}},
    )
    await api.data(
        "prairie-admin",
        SHARE,
        {
            "i": {
                "name": "East food for Northwoods",
                "purpose": "information and referral",
                "granteeKind": "TENANT",
                "granteeTenantId": gid("Tenant", tenant),
                "actions": ["read"],
                "fields": DIRECTORY,
                "rowScope": f"inventory:{inventory['uuid']}",
            }
        },
    )
    async with api.database.read_session() as session:
        harbor_services = select(Service.id).where(Service.organization_id == HARBOR_ORG)
        phone = await session.scalar(
            select(Phone.id)
            .where((Phone.organization_id == HARBOR_ORG) | Phone.service_id.in_(harbor_services))
            .limit(1)
        )
    assert phone is not None
    query = """query($org: ID!, $cap: ID!, $phone: ID!) {
      org: node(id: $org) { id }
      cap: node(id: $cap) { ... on ServiceCapacity { available note } }
      phone: node(id: $phone) { ... on Phone { number } }
    }"""
    data = await api.data(
        key,
        query,
        {
            "org": gid("Organization", HARBOR_ORG),
            "cap": gid("ServiceCapacity", SHELTER_BEDS),
            "phone": gid("Phone", phone),
        },
    )
    assert data["org"] is None  # Harbor Housing is outside the inventory...
    assert data["cap"] is None  # ...so are its shelter's beds
    assert data["phone"] is None  # ...and its phones


# -- 2. Network statistics: date-range differencing singles out callers -------------------------


async def test_statistics_totals_cannot_be_differenced_down_to_one_day(
    write_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime, time, timedelta
    from itertools import pairwise

    from sharegraph.graph import statistics as graph_statistics

    api = write_api
    await api.data(
        "prairie-admin",
        """mutation($input: ShareContactFormInput!) { shareContactForm(input: $input) { applied } }""",
        {
            "input": {
                "formId": str(AFTER_HOURS),
                "granteeTenantId": gid("Tenant", LAKESIDE),
                "statistics": True,
                "purpose": "network reporting",
            }
        },
    )
    async with api.database.read_session() as session:
        versions = select(ContactFormVersion.id).where(ContactFormVersion.form_id == AFTER_HOURS)
        started = (
            await session.scalars(
                select(ContactRecord.started_at).where(
                    ContactRecord.form_version_id.in_(versions),
                    ContactRecord.tenant_id.in_([PRAIRIE, LAKESIDE]),
                )
            )
        ).all()
    per_day = Counter(s.astimezone(CHICAGO).date() for s in started)
    days = sorted(per_day)
    running, day = 0, None
    for candidate in days:
        if running >= 5 and 1 <= per_day[candidate] <= 4:
            day = candidate
            break
        running += per_day[candidate]
    assert day is not None, "no day with a small count in the demo data"
    before = days[days.index(day) - 1]
    stats = (
        "query($f: ID!, $from: Date, $to: Date) "
        "{ networkStatistics(formId: $f, from: $from, to: $to) { total threshold rounding } }"
    )

    async def ask(**period: str) -> dict[str, Any]:
        return await api.gql("lakeside-call-taker", stats, {"f": str(AFTER_HOURS), **period})

    # The day-by-day differencing is refused: periods are whole weeks once another tenant's
    # records may be counted (`to` a Sunday, `from` a Monday).
    for last in (before, day):
        if last.isoweekday() != 7:
            body = await ask(to=last.isoformat())
            assert codes(body) == ["BAD_USER_INPUT"], body
            assert body["errors"][0]["extensions"]["reason"] == "UNALIGNED_PERIOD"
    first = day if day.isoweekday() != 1 else day + timedelta(days=1)
    body = await ask(**{"from": first.isoformat()})
    assert codes(body) == ["BAD_USER_INPUT"], body

    # Week by week, every total is a multiple of 5, so no difference is a count of 1 to 4.
    now = datetime.combine(days[-1] + timedelta(days=7), time(12), tzinfo=CHICAGO)
    monkeypatch.setattr(graph_statistics, "clock", lambda: now)
    sundays = sorted({d + timedelta(days=6 - d.weekday()) for d in days})
    totals = []
    for sunday in sundays:
        answer = (
            await api.data(
                "lakeside-call-taker", stats, {"f": str(AFTER_HOURS), "to": sunday.isoformat()}
            )
        )["networkStatistics"]
        assert answer["threshold"] == 5 and answer["rounding"] == 5
        totals.append(answer["total"])
    shown = [t for t in totals if t is not None]
    assert len(shown) >= 2 and all(t % 5 == 0 for t in shown)
    assert not any(1 <= b - a < 5 for a, b in pairwise(shown))

    # Nor can "today" be differenced out by asking again later in the week: the current
    # week is not counted until it is over.
    monday = datetime.combine(day - timedelta(days=day.weekday()), time(0), tzinfo=CHICAGO)
    earlier = sum(1 for s in started if s < monday)
    seen = []
    for moment in (monday + timedelta(minutes=1), monday + timedelta(days=6, hours=23)):
        monkeypatch.setattr(graph_statistics, "clock", lambda moment=moment: moment)
        seen.append(
            (await api.data("lakeside-call-taker", stats, {"f": str(AFTER_HOURS)}))[
                "networkStatistics"
            ]["total"]
        )
    assert seen[0] == seen[1] == (5 * round(earlier / 5) if earlier >= 5 else None)


# -- 3. Bad input that ends as INTERNAL ------------------------------------------------------


async def test_statistics_far_date_is_bad_user_input(api: Api) -> None:
    body = await api.gql(
        "prairie-admin",
        'query($f: ID!) { networkStatistics(formId: $f, to: "9999-12-31") { total } }',
        {"f": str(AFTER_HOURS)},
    )
    assert codes(body) == ["BAD_USER_INPUT"], body


async def test_schedule_capacity_far_local_date_is_bad_user_input(write_api: Api) -> None:
    body = await write_api.gql(
        "eastside-portal",
        """mutation($input: ScheduleCapacityInput!) {
          scheduleCapacity(input: $input) { scheduledChange { id } }
        }""",
        {
            "input": {
                "capacityId": gid("ServiceCapacity", MOBILE_PANTRY),
                "localDate": "9999-12-31",
                "localTime": "23:00:00",
                "availableDelta": 5,
            }
        },
    )
    assert codes(body) == ["BAD_USER_INPUT"], body


# -- 4. A tenant with read-only directory access reserves another tenant's capacity -------------


async def test_read_only_tenant_cannot_reserve_another_tenants_capacity(write_api: Api) -> None:
    api = write_api
    # Without the demo's placement agreement, Riverbend only reads Prairie's directory.
    agreements = (await api.data("prairie-admin", "{ sharingAgreements { id name } }"))[
        "sharingAgreements"
    ]
    placements = next(a["id"] for a in agreements if a["name"] == "Queue placements by riverbend")
    await api.data("prairie-admin", REVOKE, {"id": placements})
    async with api.database.read_session() as session:
        before = await session.scalar(
            select(ServiceCapacity.reserved).where(ServiceCapacity.id == SHELTER_BEDS)
        )
        record = await session.scalar(
            select(ContactRecord.id).where(ContactRecord.tenant_id == RIVERBEND).limit(1)
        )
    assert record is not None
    created = await api.gql(
        "riverbend-admin",
        """mutation($input: CreateReferralQueueInput!) {
          createReferralQueue(input: $input) { referralQueue { id } }
        }""",
        {
            "input": {
                "name": "Beds anywhere",
                "statuses": [
                    {"key": "waiting", "label": "Waiting", "canonicalStatus": "REQUESTED"},
                    {"key": "placed", "label": "Placed", "canonicalStatus": "ACCEPTED"},
                ],
                "programIds": [gid("Program", HARBOR_SHELTER)],
            }
        },
    )
    if "errors" not in created:
        queue = created["data"]["createReferralQueue"]["referralQueue"]["id"]
        entry = (
            await api.data(
                "riverbend-admin",
                """mutation($input: EnqueueClientInput!) {
                  enqueueClient(input: $input) { queueEntry { id version } }
                }""",
                {"input": {"queueId": queue, "contactRecordId": gid("ContactRecord", record)}},
            )
        )["enqueueClient"]["queueEntry"]
        assigned = await api.gql(
            "riverbend-admin",
            """mutation($input: AssignQueueEntryInput!) {
              assignQueueEntry(input: $input) { queueEntry { id } }
            }""",
            {"input": {"id": entry["id"], "version": entry["version"]}},
        )
        assert [e["extensions"].get("reason") for e in assigned["errors"]] == [
            "NO_PLACEMENT_AGREEMENT"
        ], assigned
    async with api.database.read_session() as session:
        after = await session.scalar(
            select(ServiceCapacity.reserved).where(ServiceCapacity.id == SHELTER_BEDS)
        )
    assert after == before


RIVERBEND_FOOD = demo_id("referral-queue", "riverbend-food")
HOUSING = demo_id("referral-queue", "housing")  # Prairie's


async def test_riverbend_assigns_in_its_own_demo_queue_without_internal_error(
    write_api: Api,
) -> None:
    """The demo's Riverbend food queue is served by Eastside's mobile pantry, a program of
    Prairie's directory. The reservation writes Prairie-owned capacity rows: Riverbend's
    placement agreement allows it, and puts Prairie in the transaction's RLS tenants (it once
    ended in INTERNAL on PostgreSQL while succeeding on SQLite)."""
    data = await write_api.data(
        "riverbend-call-taker",
        """query($id: ID!) { referralQueue(id: $id) {
          entries(first: 1, filter: {awaiting: true}) { edges { node { id version } } } } }""",
        {"id": gid("ReferralQueue", RIVERBEND_FOOD)},
    )
    entry = data["referralQueue"]["entries"]["edges"][0]["node"]
    body = await write_api.gql(
        "riverbend-call-taker",
        """mutation($input: AssignQueueEntryInput!) {
          assignQueueEntry(input: $input) { queueEntry { id } }
        }""",
        {"input": {"id": entry["id"], "version": entry["version"]}},
    )
    assert "errors" not in body, body


# -- 5. Check-then-insert on unique names: a concurrent duplicate is INTERNAL (PostgreSQL) -------


async def test_concurrent_queue_creates_with_one_name_conflict_not_internal(
    write_api: Api, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serializes writers: no race to lose")
    mutation = """mutation($input: CreateReferralQueueInput!) {
      createReferralQueue(input: $input) { referralQueue { id } }
    }"""
    given = {
        "input": {
            "name": "Race",
            "statuses": [{"key": "waiting", "label": "Waiting", "canonicalStatus": "REQUESTED"}],
        }
    }
    seen: list[str] = []
    for attempt in range(5):
        given["input"]["name"] = f"Race {attempt}"
        bodies = await asyncio.gather(
            *(write_api.gql("prairie-admin", mutation, given) for _ in range(8))
        )
        seen += [c for b in bodies for c in codes(b)]
    assert "INTERNAL" not in seen, Counter(seen)


# -- 6. Aggregates need the fields they summarize -----------------------------------------------


async def test_a_queue_dashboard_needs_entry_statuses_and_times_readable(write_api: Api) -> None:
    api = write_api
    tenant, key = await add_tenant_with_admin(api.database, "Northwoods 211", "northwoods-admin")
    await api.data(
        "prairie-admin",
        SHARE,
        {
            "i": {
                "name": "Queues without entry details",
                "purpose": "care coordination",
                "granteeKind": "TENANT",
                "granteeTenantId": gid("Tenant", tenant),
                "actions": ["read"],
                "fields": ["ReferralQueue.*", "QueueEntry.priority"],
                "rowScope": "all",
            }
        },
    )
    query = """query($id: ID!) { referralQueue(id: $id) { name dashboard { awaiting } } }"""
    body = await api.gql(key, query, {"id": gid("ReferralQueue", HOUSING)})
    assert body["data"]["referralQueue"]["name"], body
    assert body["data"]["referralQueue"]["dashboard"] is None
    assert [e["extensions"].get("reason") for e in body["errors"]] == ["FORBIDDEN_AGGREGATE"]
    # Prairie's own admin reads every entry's status and times: the dashboard answers.
    own = await api.data("prairie-admin", query, {"id": gid("ReferralQueue", HOUSING)})
    assert own["referralQueue"]["dashboard"]["awaiting"] >= 0
