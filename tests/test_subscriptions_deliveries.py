"""The subscription fields other than contact records and referrals: capacity, the queue's
dashboard, the resource directory and follow-ups, and the slow-consumer close; both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sharegraph.datastore.engine import Database
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .live_client import LiveClient, served
from .test_subscriptions import RECORDS, _prairie_record, _touch_record

PRAIRIE = demo_id("tenant", "prairie")
SHELTER_QUEUE = to_global_id("ReferralQueue", demo_id("referral-queue", "lakeside-shelter"))
SHELTER_BEDS = to_global_id("ServiceCapacity", demo_id("service-capacity", "harbor-shelter"))
HARBOR_SHELTER = to_global_id("Program", demo_id("program", "harbor-shelter"))
OTHER_PROGRAM = to_global_id("Program", demo_id("program", "eastside-boxes"))
SERVICE = to_global_id("Service", demo_id("service", "harbor-prevention"))

CAPACITY_QUERY = (
    "query($id: ID!) { node(id: $id) { ... on ServiceCapacity { id version available free } } }"
)
UPDATE_CAPACITY = """
mutation($input: UpdateCapacityInput!) { updateCapacity(input: $input) {
  capacity { id version available free } } }
"""
CAPACITY = """
subscription($programs: [ID!]) { capacityChanged(programIds: $programs) {
  event { type recordVersion } capacity { id version available free } } }
"""
DASHBOARD = """
subscription($queue: ID!) { queueDashboard(queueId: $queue) {
  event { type } queue { id dashboard { capacity { program { name } free } } } } }
"""
DIRECTORY = """
subscription($types: [DirectoryRecordType!]) { directoryChanged(types: $types) {
  event { type } recordType node { id ... on Service { name } } } }
"""
SERVICE_QUERY = "query($id: ID!) { node(id: $id) { ... on Service { version } } }"
UPDATE_SERVICE = """
mutation($input: UpdateServiceInput!) { updateService(input: $input) { service { id name } } }
"""
FOLLOW_UPS = """
subscription { followUpChanged(filter: {status: OPEN}) {
  event { type } followUp { id note status } } }
"""
CREATE_FOLLOW_UP = """
mutation($input: CreateFollowUpInput!) { createFollowUp(input: $input) { followUp { id } } }
"""


async def _by_id(client: LiveClient, count: int, seconds: float = 10.0) -> dict[str, Any]:
    """The next ``count`` messages, by operation id (each id at most once)."""
    found: dict[str, Any] = {}
    for _ in range(count):
        message = await client.receive(seconds)
        assert message["id"] not in found, message
        found[message["id"]] = message
    return found


async def _capacity(api: Any, available: int | None = None, note: str | None = None) -> Any:
    now = (await api.data("harbor-portal", CAPACITY_QUERY, {"id": SHELTER_BEDS}))["node"]
    change: dict[str, Any] = {"id": SHELTER_BEDS, "version": now["version"]}
    if available is not None:
        change["available"] = available
    if note is not None:
        change["note"] = note
    return (await api.data("harbor-portal", UPDATE_CAPACITY, {"input": change}))["updateCapacity"][
        "capacity"
    ]


async def test_capacity_and_the_queue_dashboard(seeded_db: Database, keys: dict[str, str]) -> None:
    async with served(seeded_db, keys) as live, live.client() as client:
        await client.init("lakeside-admin")
        await client.subscribe("mine", CAPACITY, {"programs": [HARBOR_SHELTER]})
        await client.subscribe("other", CAPACITY, {"programs": [OTHER_PROGRAM]})
        await client.subscribe("dash", DASHBOARD, {"queue": SHELTER_QUEUE})
        await client.nothing_within(0.3)

        written = await _capacity(live.api, available=7)
        got = await _by_id(client, 2)
        assert set(got) == {"mine", "dash"}  # never the other program's subscription
        change = got["mine"]["payload"]["data"]["capacityChanged"]
        assert change["capacity"] == written
        assert change["event"]["recordVersion"] == written["version"]
        dashboard = got["dash"]["payload"]["data"]["queueDashboard"]["queue"]["dashboard"]
        assert {"program": {"name": dashboard["capacity"][0]["program"]["name"]}, "free": 7} in [
            {"program": c["program"], "free": c["free"]} for c in dashboard["capacity"]
        ]

        # A note moves no figure: the capacity subscriber hears of it, the dashboard does not.
        await _capacity(live.api, note="Staff short tonight.")
        got = await _by_id(client, 1)
        assert set(got) == {"mine"}
        assert await client.nothing_within(0.5)

        await _capacity(live.api, available=3)
        got = await _by_id(client, 2)
        assert set(got) == {"mine", "dash"}
        figures = got["dash"]["payload"]["data"]["queueDashboard"]["queue"]["dashboard"]
        assert 3 in {c["free"] for c in figures["capacity"]}


async def test_directory_and_follow_up_changes(seeded_db: Database, keys: dict[str, str]) -> None:
    async with served(seeded_db, keys) as live, live.client() as client:
        await client.init("prairie-admin")
        await client.subscribe("services", DIRECTORY, {"types": ["SERVICE"]})
        await client.subscribe("places", DIRECTORY, {"types": ["LOCATION"]})
        await client.subscribe("follow", FOLLOW_UPS)
        await client.nothing_within(0.3)

        version = (await live.api.data("prairie-admin", SERVICE_QUERY, {"id": SERVICE}))["node"][
            "version"
        ]
        await live.api.data(
            "prairie-admin",
            UPDATE_SERVICE,
            {"input": {"id": SERVICE, "version": version, "name": "Eviction prevention (new)"}},
        )
        got = await _by_id(client, 1)
        assert set(got) == {"services"}  # not the subscriber of locations only
        update = got["services"]["payload"]["data"]["directoryChanged"]
        assert update["recordType"] == "SERVICE"
        assert update["node"] == {"id": SERVICE, "name": "Eviction prevention (new)"}

        record_id, _ = await _prairie_record(seeded_db)
        due = (datetime.now(UTC) + timedelta(hours=20)).replace(microsecond=0).isoformat()
        created = await live.api.data(
            "prairie-call-taker",
            CREATE_FOLLOW_UP,
            {
                "input": {
                    "contactRecordId": to_global_id("ContactRecord", record_id),
                    "dueAt": due,
                    "note": "Call back in the morning.",
                    "assignedTenantId": to_global_id("Tenant", PRAIRIE),
                }
            },
        )
        got = await _by_id(client, 1)
        follow_up = got["follow"]["payload"]["data"]["followUpChanged"]
        assert follow_up["event"]["type"] == "CREATED"
        assert follow_up["followUp"] == {
            "id": created["createFollowUp"]["followUp"]["id"],
            "note": "Call back in the morning.",
            "status": "OPEN",
        }
        assert await client.nothing_within(0.5)


async def test_a_slow_consumer_is_closed_with_1013_and_others_keep_receiving(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    from dataclasses import replace

    from sharegraph.settings import Settings, SubscriptionSettings

    settings = Settings(
        database_url=seeded_db.url, subscriptions=replace(SubscriptionSettings(), queue_size=2)
    )
    async with served(seeded_db, keys, settings) as live, live.client() as reader:
        await reader.init("prairie-admin")
        await reader.subscribe("ok", RECORDS)
        async with live.client() as slow:
            await slow.init("prairie-admin")
            # One cohort, three members on this connection: one event puts three answers
            # in its queue at once, more than it holds.
            for op in range(3):
                await slow.subscribe(f"s{op}", RECORDS)
            await reader.nothing_within(0.3)
            await _touch_record(live.api, seeded_db, "burst")
            assert (await reader.receive())["id"] == "ok"
            code, reason = await slow.closed()
            assert code == 1013 and reason is not None and "SLOW_CONSUMER" in reason
        await _touch_record(live.api, seeded_db, "after the close")
        message = await reader.receive()
        assert message["payload"]["data"]["contactRecordChanged"]["contactRecord"]["narrative"] == (
            "after the close"
        )


AGREEMENTS = """
{ sharingAgreements { id name version actions answerSensitivity deniedFields emergency fields
  purpose rowScope validFrom validUntil grantee { kind partnerOrganization { id } role tenant { id } } } }
"""
UPDATE_AGREEMENT = """
mutation($id: ID!, $version: Int!, $input: SharingAgreementInput!) {
  updateSharingAgreement(id: $id, version: $version, input: $input) { agreement { version } } }
"""


async def test_a_narrowed_agreement_narrows_the_next_delivery(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    from .test_subscriptions import EASTSIDE, PANTRY, _coordinates, _refer

    async with served(seeded_db, keys) as live, live.client() as client:
        await client.init("eastside-portal")
        await client.subscribe("r", PANTRY)
        await client.nothing_within(0.3)
        await _refer(live.api, seeded_db, EASTSIDE)
        before = (await client.receive())["payload"]
        record = before["data"]["referralChanged"]["theReferral"]["record"]
        assert record["startedAt"] is not None
        assert "ContactRecord.startedAt" not in _coordinates(before)

        agreements = (await live.api.data("prairie-admin", AGREEMENTS))["sharingAgreements"]
        terms = next(a for a in agreements if a["name"] == "Referrals to eastside")
        assert "ContactRecord.startedAt" in terms["fields"], terms["fields"]
        grantee = terms["grantee"]
        narrowed = {
            "actions": terms["actions"],
            "answerSensitivity": terms["answerSensitivity"],
            "deniedFields": terms["deniedFields"],
            "emergency": terms["emergency"],
            "fields": [f for f in terms["fields"] if f != "ContactRecord.startedAt"],
            "granteeKind": grantee["kind"],
            "granteePartnerId": (grantee["partnerOrganization"] or {}).get("id"),
            "granteeTenantId": (grantee["tenant"] or {}).get("id"),
            "granteeRole": grantee["role"],
            "name": terms["name"],
            "purpose": terms["purpose"],
            "rowScope": terms["rowScope"],
            "validFrom": terms["validFrom"],
            "validUntil": terms["validUntil"],
        }
        await live.api.data(
            "prairie-admin",
            UPDATE_AGREEMENT,
            {"id": terms["id"], "version": terms["version"], "input": narrowed},
        )
        await asyncio.sleep(1.5)  # the policy store's check interval
        await _refer(live.api, seeded_db, EASTSIDE)
        after = (await client.receive())["payload"]
        narrower = after["data"]["referralChanged"]["theReferral"]["record"]
        assert narrower["startedAt"] is None
        assert narrower["id"] is not None  # only the withdrawn field went
        assert "ContactRecord.startedAt" in _coordinates(after)


REFERRAL_STATUS = """
mutation($input: UpdateReferralStatusInput!) { updateReferralStatus(input: $input) {
  referral { status } } }
"""


async def test_a_referral_entered_in_error_sends_the_pantry_nothing_further(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    from .test_subscriptions import EASTSIDE, PANTRY, _refer

    watched = "subscription { referralChanged { referral { id status } } }"
    async with (
        served(seeded_db, keys) as live,
        live.client() as pantry,
        live.client() as center,
    ):
        await pantry.init("eastside-portal")
        await pantry.subscribe("r", PANTRY)
        await center.init("prairie-call-taker")
        await center.subscribe("c", watched)
        await pantry.nothing_within(0.3)
        referral = await _refer(live.api, seeded_db, EASTSIDE)
        assert (await pantry.receive())["payload"]["data"]["referralChanged"]["theReferral"][
            "id"
        ] == referral
        assert (await center.receive())["payload"]["data"]["referralChanged"]["referral"][
            "status"
        ] == "REQUESTED"

        await live.api.data(
            "prairie-call-taker",
            REFERRAL_STATUS,
            {
                "input": {
                    "id": referral,
                    "version": 1,
                    "status": "ENTERED_IN_ERROR",
                    "reason": "wrong caller",
                }
            },
        )
        # The event exists (the referring center hears of it) ...
        assert (await center.receive())["payload"]["data"]["referralChanged"]["referral"] == {
            "id": referral,
            "status": "ENTERED_IN_ERROR",
        }
        # ... and the pantry, whose scope the referral left, gets nothing.
        assert await pantry.nothing_within(1.0)


async def _touch(api: Any, db: Database, record_id: Any, narrative: str) -> None:
    from sharegraph.datastore.models import ContactRecord

    from .test_subscriptions import UPDATE_RECORD

    async with db.read_session() as session:
        row = await session.get(ContactRecord, record_id)
        assert row is not None
        version = row.version
    await api.data(
        "prairie-admin",
        UPDATE_RECORD,
        {
            "input": {
                "id": to_global_id("ContactRecord", record_id),
                "version": version,
                "narrative": narrative,
            }
        },
    )


async def test_part2_answers_are_delivered_only_under_consent_with_the_notice(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    from sqlalchemy import select

    from sharegraph.authz.disclosure import REDISCLOSURE_NOTICE
    from sharegraph.datastore.models import ContactRecord

    from .test_redisclosure_notice import _consent_for_one_record
    from .test_redisclosure_notice import _treatment_partner as partner

    tenant_id, key = await partner(seeded_db)
    consented = await _consent_for_one_record(seeded_db, tenant_id)
    async with seeded_db.write_session() as session:  # the agreement lets it read, too
        from sharegraph.datastore.models import SharingAgreement
        from sharegraph.datastore.policy_version import bump

        agreement = await session.scalar(
            select(SharingAgreement).where(SharingAgreement.name == "Recovery coordination")
        )
        assert agreement is not None
        agreement.actions = ["read", "export"]
        await bump(session)
        records = (
            await session.scalars(select(ContactRecord).where(ContactRecord.tenant_id == PRAIRIE))
        ).all()
        mine = next(r for r in records if r.id == consented)
        # Same kind of record, Part 2 answers too, but its client consented to nothing.
        other = next(
            r.id
            for r in records
            if r.client_id not in (None, mine.client_id)
            and (r.answers or {}).get("substance_use")
            and r.form_version_id == mine.form_version_id
        )
    async with served(seeded_db, {**keys, "recovery": key}) as live, live.client() as client:
        await asyncio.sleep(1.5)  # the policy store picks up the agreement
        await client.init("recovery")
        await client.subscribe(
            "1", "subscription { contactRecordChanged { contactRecord { id answers } } }"
        )
        await client.nothing_within(0.3)
        await _touch(live.api, seeded_db, consented, "consented")
        body = (await client.receive())["payload"]
        delivered = body["data"]["contactRecordChanged"]["contactRecord"]
        assert delivered["id"] == to_global_id("ContactRecord", consented)
        assert "substance_use" in str(delivered["answers"])
        assert body["extensions"]["redisclosureNotice"] == REDISCLOSURE_NOTICE

        await _touch(live.api, seeded_db, other, "no consent")
        body = (await client.receive())["payload"]
        delivered = body["data"]["contactRecordChanged"]["contactRecord"]
        assert delivered["id"] == to_global_id("ContactRecord", other)
        assert "substance_use" not in str(delivered["answers"])
        assert "redisclosureNotice" not in body.get("extensions", {})
