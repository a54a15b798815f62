"""The webhook admin API: create (secret once), update, rotate (both secrets sign), test send,
delivery log, replay, delete, who may, and bad input; on both backends."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import AuditEvent
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .test_subscriptions import _touch_record
from .test_webhooks import harness
from .webhook_receiver import receiver

FIELDS = "id url eventTypes payloadMode enabled version receivingPrincipalId filter { statuses }"
CREATE = (
    "mutation($input: WebhookEndpointInput!) { createWebhookEndpoint(input: $input) { "
    f"signingSecret webhookEndpoint {{ {FIELDS} }} }} }}"
)
UPDATE = (
    "mutation($id: ID!, $version: Int!, $input: WebhookEndpointInput!) { "
    "updateWebhookEndpoint(id: $id, version: $version, input: $input) { "
    f"signingSecret webhookEndpoint {{ {FIELDS} }} }} }}"
)
ROTATE = (
    "mutation($id: ID!) { rotateWebhookSecret(id: $id) { signingSecret "
    "webhookEndpoint { previousSecretUntil } } }"
)
DELIVERIES = """
query($id: ID!) { webhookDeliveries(endpointId: $id) {
  id webhookId eventType status attemptCount attempts { statusCode latencyMs responseBody } } }
"""


def _principal(name: str) -> str:
    return to_global_id("Principal", demo_id("principal", name))


def _input(url: str, principal: str = "prairie-admin", **extra: Any) -> dict[str, Any]:
    return {
        "url": url,
        "eventTypes": ["contact_record.updated"],
        "receivingPrincipalId": _principal(principal),
        **extra,
    }


def _code(body: dict[str, Any]) -> tuple[str, str]:
    extensions = body["errors"][0]["extensions"]
    return extensions["code"], extensions.get("reason", "")


async def test_manage_rotate_test_send_log_replay_delete(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with receiver() as hook, harness(seeded_db, keys) as h:
        data = await h.api.data("prairie-admin", CREATE, {"input": _input(hook.url)})
        created = data["createWebhookEndpoint"]
        secret = created["signingSecret"]
        endpoint = created["webhookEndpoint"]
        assert secret.startswith("whsec_") and endpoint["payloadMode"] == "FULL"
        listed = await h.api.data("prairie-admin", "{ webhookEndpoints { id signingSecret: url } }")
        assert secret not in str(listed) and len(listed["webhookEndpoints"]) == 1
        assert (await h.api.data("lakeside-admin", "{ webhookEndpoints { id } }")) == {
            "webhookEndpoints": []
        }
        # Rotation: both secrets sign every message during the overlap.
        rotated = await h.api.data("prairie-admin", ROTATE, {"id": endpoint["id"]})
        new_secret = rotated["rotateWebhookSecret"]["signingSecret"]
        assert new_secret != secret
        await _touch_record(h.api, seeded_db, "rotated")
        await h.run()
        (delivery,) = hook.received
        assert len(delivery.headers["webhook-signature"].split(" ")) == 2
        for key in (secret, new_secret):
            assert (
                Webhook(key).verify(delivery.body, delivery.headers)["data"]["record"]["narrative"]
                == "rotated"
            )
        # A test send, then the log.
        sent = await h.api.data(
            "prairie-admin",
            "mutation($id: ID!) { sendTestWebhook(endpointId: $id) { count } }",
            {"id": endpoint["id"]},
        )
        assert sent["sendTestWebhook"]["count"] == 1
        await h.run()
        assert (
            Webhook(new_secret).verify(hook.received[1].body, hook.received[1].headers)["type"]
            == "webhook.test"
        )
        log = (await h.api.data("prairie-admin", DELIVERIES, {"id": endpoint["id"]}))[
            "webhookDeliveries"
        ]
        assert [d["eventType"] for d in log] == ["webhook.test", "contact_record.updated"]
        assert all(d["status"] == "DELIVERED" and d["attempts"][0]["statusCode"] == 200
                   for d in log)  # fmt: skip
        # Replay one: the same webhook-id again.
        replayed = await h.api.data(
            "prairie-admin",
            "mutation($id: ID!, $d: [ID!]) { replayWebhookDeliveries(endpointId: $id, "
            "deliveryIds: $d) { count } }",
            {"id": endpoint["id"], "d": [log[1]["id"]]},
        )
        assert replayed["replayWebhookDeliveries"]["count"] == 1
        await h.run(timedelta(seconds=1))
        assert hook.received[2].headers["webhook-id"] == log[1]["webhookId"]
        assert hook.received[2].headers["webhook-id"] == hook.received[0].headers["webhook-id"]
        # Update (stale version: CONFLICT), then disable; delete.
        stale = await h.api.gql(
            "prairie-admin",
            UPDATE,
            {"id": endpoint["id"], "version": 99, "input": _input(hook.url)},
        )
        assert _code(stale)[0] == "CONFLICT"
        updated = await h.api.data(
            "prairie-admin",
            UPDATE,
            {
                "id": endpoint["id"],
                "version": 2,  # created 1, rotated 2
                "input": {
                    **_input(hook.url, enabled=False, filter={"statuses": ["accepted"]}),
                    "eventTypes": ["referral.*"],
                },
            },
        )
        assert updated["updateWebhookEndpoint"]["webhookEndpoint"]["enabled"] is False
        assert updated["updateWebhookEndpoint"]["webhookEndpoint"]["filter"] == {
            "statuses": ["accepted"]
        }
        deleted = await h.api.data(
            "prairie-admin",
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { deletedId } }",
            {"id": endpoint["id"]},
        )
        assert deleted["deleteWebhookEndpoint"]["deletedId"] == endpoint["id"]
        assert (await h.api.data("prairie-admin", "{ webhookEndpoints { id } }")) == {
            "webhookEndpoints": []
        }
        # Every change to where data is pushed is in the trail, without the secrets.
        async with seeded_db.read_session() as session:
            trail = (
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.action.like("webhook.endpoint.%"))
                    .order_by(AuditEvent.occurred_at, AuditEvent.id)
                )
            ).all()
        assert [e.action for e in trail] == [
            f"webhook.endpoint.{a}"
            for a in ("create", "rotate_secret", "test", "replay", "update", "delete")
        ]
        assert {e.principal_id for e in trail} == {demo_id("principal", "prairie-admin")}
        assert trail[0].detail is not None and trail[0].detail["url"] == hook.url
        assert trail[3].detail is not None and trail[3].detail["deliveries"] == 1
        assert secret not in str([e.detail for e in trail])
        assert new_secret not in str([e.detail for e in trail])


async def test_bad_input_is_refused_with_a_reason(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with harness(seeded_db, keys, allow_private_addresses=False) as h:
        public = "http://93.184.216.34/hook"
        cases = [
            ("prairie-admin", _input("ftp://example.org/hook"), "BAD_URL"),
            ("prairie-admin", _input("http://127.0.0.1:9/hook"), "PRIVATE_ADDRESS"),
            ("prairie-admin", _input("http://169.254.169.254/latest/meta-data"), "PRIVATE_ADDRESS"),
            ("prairie-admin", _input("http://192.168.1.1/hook"), "PRIVATE_ADDRESS"),
            ("prairie-admin", {**_input(public), "eventTypes": ["contact_record.eaten"]},
             "UNKNOWN_EVENT_TYPE"),
            ("eastside-portal", _input(public, "eastside-portal", filter={"riskLevels": ["high"]}),
             "FILTER_NOT_READABLE"),
            ("prairie-admin", _input(public, filter={"queueIds": [to_global_id("ReferralQueue", uuid.uuid4())]}), "FILTER_NOT_APPLICABLE"),
            # A tenant admin may not receive as a partner's principal (what other tenants
            # share with that partner would reach the admin's URL), nor as another tenant's.
            ("prairie-admin", _input(public, "harbor-portal"), "BAD_RECEIVER"),
            ("prairie-admin", _input(public, "lakeside-api"), "BAD_RECEIVER"),
        ]  # fmt: skip
        for caller, given, reason in cases:
            body = await h.api.gql(caller, CREATE, {"input": given})
            assert _code(body) == ("BAD_USER_INPUT", reason), (given, body)
        async with h.db.read_session() as session:
            from sqlalchemy import func, select

            from sharegraph.datastore.models import WebhookEndpoint

            assert await session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


async def test_who_may_manage_endpoints(seeded_db: Database, keys: dict[str, str]) -> None:
    async with receiver() as hook, harness(seeded_db, keys) as h:
        body = await h.api.gql("prairie-call-taker", "{ webhookEndpoints { id } }")
        assert _code(body)[0] == "FORBIDDEN"
        # A partner user (its role may subscribe) receives as its own organization only.
        other = await h.api.gql(
            "eastside-portal", CREATE, {"input": _input(hook.url, "prairie-admin")}
        )
        assert _code(other) == ("BAD_USER_INPUT", "BAD_RECEIVER")
        mine = await h.api.data(
            "eastside-portal",
            CREATE,
            {"input": {**_input(hook.url, "eastside-portal"), "eventTypes": ["referral.*"]}},
        )
        endpoint = mine["createWebhookEndpoint"]["webhookEndpoint"]["id"]
        assert (await h.api.data("harbor-portal", "{ webhookEndpoints { id } }")) == {
            "webhookEndpoints": []
        }
        listed = await h.api.data("eastside-portal", "{ webhookEndpoints { id } }")
        assert listed["webhookEndpoints"] == [{"id": endpoint}]


# -- the emergency-services story ---------------------------------------------------------------

SHARE = """
mutation($input: SharingAgreementInput!) { createSharingAgreement(input: $input) { agreement { id } } }
"""
NEW_RECORD = """
mutation($input: CreateContactRecordInput!) { createContactRecord(input: $input) { contactRecord { id } } }
"""


async def test_the_county_crisis_team_receives_each_high_risk_record_with_granted_fields_only(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    import asyncio

    async with receiver() as hook, harness(seeded_db, keys) as h:
        # Riverbend stands in for the county crisis team: Prairie grants it four fields.
        await h.api.data(
            "prairie-admin",
            SHARE,
            {
                "input": {
                    "name": "Emergency services intake",
                    "purpose": "emergency services",
                    "granteeKind": "TENANT",
                    "granteeTenantId": to_global_id("Tenant", demo_id("tenant", "riverbend")),
                    "actions": ["read"],
                    "fields": [
                        "ContactRecord.startedAt",
                        "ContactRecord.riskLevel",
                        "ContactRecord.callerCounty",
                    ],
                    "rowScope": "all",
                }
            },
        )
        created = await h.api.data(
            "riverbend-admin",
            CREATE,
            {
                "input": {
                    **_input(
                        hook.url, "riverbend-api", filter={"riskLevels": ["high", "imminent"]}
                    ),
                    "eventTypes": ["contact_record.created"],
                }
            },
        )
        secret = created["createWebhookEndpoint"]["signingSecret"]
        h.scheduler.poll_seconds = 0.2
        await h.scheduler.start()
        try:
            wanted = []
            for level in ("HIGH", "LOW", "IMMINENT"):
                data = await h.api.data(
                    "prairie-call-taker",
                    NEW_RECORD,
                    {
                        "input": {
                            "channel": "CALL",
                            "startedAt": "2026-12-07T10:00:00Z",
                            "riskLevel": level,
                            "narrative": f"caller story {level}",
                            "callerCounty": "Prairie County",
                        }
                    },
                )
                if level != "LOW":
                    wanted.append(data["createContactRecord"]["contactRecord"]["id"])
            async with asyncio.timeout(10):  # within seconds of the commits
                while len(hook.received) < 2:  # noqa: ASYNC110 (polls a list)
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # and nothing for the low-risk record
        finally:
            await h.scheduler.stop()
        payloads = [Webhook(secret).verify(r.body, r.headers) for r in hook.received]
        assert sorted(p["data"]["id"] for p in payloads) == sorted(wanted)
        for payload in payloads:
            record = payload["data"]["record"]
            assert record["riskLevel"] in ("HIGH", "IMMINENT")
            assert record["callerCounty"] == "Prairie County"
            assert "narrative" not in record and "answers" not in record
            assert "ContactRecord.narrative" in payload["data"]["deniedFields"]
            assert "caller story" not in str(payload)
