"""Live updates: GraphQL subscriptions over graphql-transport-ws, under the same sharing rules
as queries, on both backends."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import ContactRecord
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .live_client import served

PRAIRIE = demo_id("tenant", "prairie")

UPDATE_RECORD = """
mutation($input: UpdateContactRecordInput!) {
  updateContactRecord(input: $input) { contactRecord { id version } }
}
"""
RECORDS = """
subscription {
  contactRecordChanged { event { type recordVersion occurredAt position } contactRecord { id narrative } }
}
"""


async def _prairie_record(db: Database) -> tuple[uuid.UUID, int]:
    async with db.read_session() as session:
        row = (
            await session.execute(
                select(ContactRecord.id, ContactRecord.version)
                .where(ContactRecord.tenant_id == PRAIRIE)
                .order_by(ContactRecord.id)
                .limit(1)
            )
        ).one()
    return row[0], row[1]


async def _touch_record(api: Any, db: Database, narrative: str) -> str:
    record_id, version = await _prairie_record(db)
    global_id = to_global_id("ContactRecord", record_id)
    await api.data(
        "prairie-admin",
        UPDATE_RECORD,
        {"input": {"id": global_id, "version": version, "narrative": narrative}},
    )
    return global_id


async def test_a_mutation_reaches_a_subscriber(seeded_db: Database, keys: dict[str, str]) -> None:
    async with served(seeded_db, keys) as live, live.client() as client:
        await client.init("prairie-admin")
        await client.subscribe("1", RECORDS)
        await client.nothing_within(0.3)
        global_id = await _touch_record(live.api, seeded_db, "called back")
        message = await client.receive()
        assert message["type"] == "next", message
        payload = message["payload"]["data"]["contactRecordChanged"]
        assert payload["contactRecord"] == {"id": global_id, "narrative": "called back"}
        assert payload["event"]["type"] == "UPDATED"
        assert int(payload["event"]["position"]) > 0


# -- the pantry: scope and masks exactly as a query ---------------------------------------------

EASTSIDE = demo_id("partner-organization", "eastside")
HARBOR = demo_id("partner-organization", "harbor")

CREATE_REFERRAL = """
mutation($input: CreateReferralInput!) { createReferral(input: $input) { referral { id } } }
"""
# Aliases and a fragment: what the pantry may not read stays out whatever the document's shape.
MORE = """
fragment more on Referral {
  record: contactRecord { id secret: narrative startedAt client { firstName lastName } }
}
"""
PANTRY = (
    "subscription { referralChanged { event { type } theReferral: referral { id status ...more } } }"
    + MORE
)
PANTRY_QUERY = "query($id: ID!) { theReferral: referral(id: $id) { id status ...more } }" + MORE


async def _partner_sal(db: Database, partner: uuid.UUID) -> uuid.UUID:
    from sharegraph.datastore.models import Organization, Service, ServiceAtLocation

    async with db.read_session() as session:
        found = await session.scalar(
            select(ServiceAtLocation.id)
            .join(Service, Service.id == ServiceAtLocation.service_id)
            .join(Organization, Organization.id == Service.organization_id)
            .where(Organization.partner_organization_id == partner)
            .where(Organization.tenant_id == PRAIRIE)
            .order_by(ServiceAtLocation.id)
            .limit(1)
        )
    assert found is not None
    return found


async def _refer(api: Any, db: Database, partner: uuid.UUID) -> str:
    record_id, _ = await _prairie_record(db)
    variables = {
        "input": {
            "contactRecordId": to_global_id("ContactRecord", record_id),
            "serviceAtLocationId": to_global_id(
                "ServiceAtLocation", await _partner_sal(db, partner)
            ),
        }
    }
    data = await api.data("prairie-call-taker", CREATE_REFERRAL, variables)
    referral_id: str = data["createReferral"]["referral"]["id"]
    return referral_id


def _coordinates(body: dict[str, Any]) -> set[str]:
    return {
        e["extensions"].get("coordinate", e["extensions"]["code"]) for e in body.get("errors", [])
    }


async def test_the_pantry_gets_only_its_referrals_masked_as_a_query_masks_them(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with served(seeded_db, keys) as live, live.client() as client:
        await client.init("eastside-portal")
        await client.subscribe("r", PANTRY)
        await client.nothing_within(0.3)
        await _refer(live.api, seeded_db, HARBOR)  # not the pantry's: never delivered
        mine = await _refer(live.api, seeded_db, EASTSIDE)
        message = await client.receive()
        assert message["type"] == "next", message
        body = message["payload"]
        delivered = body["data"]["referralChanged"]["theReferral"]
        assert delivered["id"] == mine
        assert delivered["record"]["secret"] is None
        assert delivered["record"]["client"]["lastName"] is None

        answer = await live.api.gql("eastside-portal", PANTRY_QUERY, {"id": mine})
        assert delivered == answer["data"]["theReferral"]
        assert _coordinates(body) == _coordinates(answer)
        assert {"ContactRecord.narrative", "Client.lastName"} <= _coordinates(body)
        assert await client.nothing_within(0.5)  # nothing else (the harbor referral) follows


REVOKE = "mutation($id: ID!) { revokeSharingAgreement(id: $id) { agreement { revokedAt } } }"


async def test_a_revoked_agreement_ends_the_pantrys_stream(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    import time

    async with served(seeded_db, keys) as live, live.client() as client:
        await client.init("eastside-portal")
        await client.subscribe("r", PANTRY)
        await client.nothing_within(0.3)
        agreements = (await live.api.data("prairie-admin", "{ sharingAgreements { id name } }"))[
            "sharingAgreements"
        ]
        revoked = next(a["id"] for a in agreements if a["name"] == "Referrals to eastside")
        await live.api.data("prairie-admin", REVOKE, {"id": revoked})
        started = time.monotonic()
        message = await client.receive(5)
        assert message["type"] == "next", message
        assert message["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert time.monotonic() - started < 2.0
        assert (await client.receive(2))["type"] == "complete"


# -- the protocol -----------------------------------------------------------------------------


async def test_bad_input_gets_protocol_answers_and_the_server_stays_up(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    from dataclasses import replace

    from sharegraph.settings import Settings, SubscriptionSettings

    settings = Settings(
        database_url=seeded_db.url,
        subscriptions=replace(SubscriptionSettings(), max_per_connection=2),
    )
    async with served(seeded_db, keys, settings) as live, live.client() as bystander:
        await bystander.init("prairie-admin")
        await bystander.subscribe("ok", RECORDS)

        async with live.client() as client:  # a wrong key
            await client.send(
                {"type": "connection_init", "payload": {"authorization": "Bearer nope"}}
            )
            assert (await client.closed())[0] == 4403
        async with live.client() as client:  # no credentials at all
            await client.send({"type": "connection_init", "payload": {}})
            assert (await client.closed())[0] == 4403
        async with live.client() as client:  # a payload that is not an object
            await client.send({"type": "connection_init", "payload": "Bearer x"})
            assert (await client.closed())[0] == 4400
        async with live.client() as client:  # subscribing before the ack
            await client.subscribe("1", RECORDS)
            assert (await client.closed())[0] == 4401
        async with live.client() as client:  # not JSON
            await client.send("{{{")
            assert (await client.closed())[0] == 4400
        async with live.client() as client:  # a JSON list
            await client.send("[1, 2]")
            assert (await client.closed())[0] == 4400

        async with live.client() as client:
            await client.init("prairie-admin")
            cases = {
                "syntax": "subscription { contactRecordChanged { ",
                "unknown": "subscription { noSuchField { id } }",
                "query": "{ viewer { name } }",
                "deep": 'subscription { queueEntryChanged(queueId: "x") { queueEntry { '
                + "queue { entries { edges { node { " * 6
                + "id"
                + " } } } }" * 6
                + " } } }",
                "badId": 'subscription { queueEntryChanged(queueId: "x") { event { type } } }',
            }
            expected = {
                "syntax": "GRAPHQL_PARSE_FAILED",
                "unknown": "GRAPHQL_VALIDATION_FAILED",
                "query": "BAD_USER_INPUT",
                "deep": "QUERY_TOO_COMPLEX",
                "badId": "BAD_USER_INPUT",
            }
            for op_id, document in cases.items():
                await client.subscribe(op_id, document)
                message = await client.receive()
                assert message["type"] == "error" and message["id"] == op_id, message
                codes = {e["extensions"]["code"] for e in message["payload"]}
                assert codes == {expected[op_id]}, message
            # The limit per connection.
            await client.subscribe("a", RECORDS)
            await client.subscribe("b", RECORDS)
            await client.subscribe("c", RECORDS)
            refused = await client.receive()
            assert refused["id"] == "c" and refused["type"] == "error"
            assert refused["payload"][0]["extensions"]["reason"] == "TOO_MANY_SUBSCRIPTIONS"
            # A client may end its own subscription.
            await client.send({"id": "a", "type": "complete"})

        # The bystander was never disturbed.
        global_id = await _touch_record(live.api, seeded_db, "still here")
        message = await bystander.receive()
        assert message["id"] == "ok"
        assert message["payload"]["data"]["contactRecordChanged"]["contactRecord"]["id"] == (
            global_id
        )


# -- cohorts, audit, resume -------------------------------------------------------------------


async def test_one_evaluation_per_event_for_a_cohort_and_reads_are_audited(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    from sqlalchemy import func

    from sharegraph.datastore.models import AuditEvent

    async def reads() -> int:
        async with seeded_db.read_session() as session:
            found = await session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "read")
            )
        return int(found or 0)

    async with served(seeded_db, keys) as live, live.client() as first, live.client() as second:
        for client in (first, second):
            await client.init("prairie-admin")
            await client.subscribe("1", RECORDS)
        await first.nothing_within(0.3)
        before = await reads()
        await _touch_record(live.api, seeded_db, "one evaluation")
        one = await first.receive()
        two = await second.receive()
        assert one["payload"] == two["payload"]
        updates = live.app.state.live
        assert updates.cohorts == 1
        (cohort,) = updates._cohorts.values()
        assert cohort.evaluations == 1
        # The mutation's own answer reads nothing of the record's narrative; the delivery
        # does, and is in the trail.
        assert await reads() > before


async def test_resume_after_a_position_and_too_old(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with served(seeded_db, keys) as live:
        async with live.client() as client:
            await client.init("prairie-admin")
            await client.subscribe("1", RECORDS)
            await client.nothing_within(0.3)
            await _touch_record(live.api, seeded_db, "first")
            first = (await client.receive())["payload"]["data"]["contactRecordChanged"]
        # Disconnected: two more changes happen.
        await _touch_record(live.api, seeded_db, "second")
        await _touch_record(live.api, seeded_db, "third")
        resume = RECORDS.replace("contactRecordChanged", "contactRecordChanged(after: $after)")
        resume = resume.replace("subscription", "subscription($after: String)")
        async with live.client() as client:
            await client.init("prairie-admin")
            await client.subscribe("2", resume, {"after": first["event"]["position"]})
            narratives = [
                (await client.receive())["payload"]["data"]["contactRecordChanged"][
                    "contactRecord"
                ]["narrative"]
                for _ in range(2)
            ]
            assert narratives == ["third", "third"] or narratives == ["second", "third"]
            assert len(narratives) == 2
            await client.subscribe("3", resume, {"after": "999999999"})
            message = await client.receive()
            assert message["type"] == "error" and message["id"] == "3"
            assert message["payload"][0]["extensions"]["code"] == "RESUME_TOO_OLD"
