"""Admins edit sharing agreements; changes are validated, previewed, audited and take effect."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import AuditEvent
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .conftest import Api, make_api

CREATE = """
mutation($input: SharingAgreementInput!) {
  createSharingAgreement(input: $input) { agreement { id name version rowScope grantee { kind tenant { name } } } }
}
"""
REVOKE = (
    "mutation($id: ID!) { revokeSharingAgreement(id: $id) { agreement { revokedAt version } } }"
)
PREVIEW = """
query($input: SharingAgreementInput!) {
  previewSharingAgreement(input: $input) { grantee coordinate action rowScope change }
}
"""
COUNT = "{ contactRecords { totalCount } }"
RIVERBEND_RECORDS = (
    "{ contactRecords(first: 100) { totalCount edges { node { id startedAt narrative } } } }"
)


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def riverbend_regional(name: str = "Regional crisis data") -> dict[str, Any]:
    return {
        "name": name,
        "purpose": "regional crisis coordination",
        "granteeKind": "TENANT",
        "granteeTenantId": to_global_id("Tenant", demo_id("tenant", "riverbend")),
        "actions": ["read"],
        "fields": ["ContactRecord.id", "ContactRecord.startedAt", "ContactRecord.channel"],
        "rowScope": "all",
    }


async def _prairie_count(api: Api) -> int:
    from sharegraph.datastore.models import ContactRecord

    async with api.database.read_session() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(ContactRecord)
                .where(ContactRecord.tenant_id == demo_id("tenant", "prairie"))
            )
            or 0
        )


async def test_an_admin_shares_records_and_the_grantee_sees_them_at_once(write_api: Api) -> None:
    api = write_api
    before = await api.data("riverbend-admin", RIVERBEND_RECORDS)
    own = before["contactRecords"]["totalCount"]

    preview = await api.data("prairie-admin", PREVIEW, {"input": riverbend_regional()})
    granted = {(c["coordinate"], c["change"]) for c in preview["previewSharingAgreement"]}
    assert granted == {
        ("ContactRecord.id", "grant"),
        ("ContactRecord.startedAt", "grant"),
        ("ContactRecord.channel", "grant"),
    }

    created = await api.data("prairie-admin", CREATE, {"input": riverbend_regional()})
    agreement = created["createSharingAgreement"]["agreement"]
    assert agreement["grantee"] == {"kind": "TENANT", "tenant": {"name": "Riverbend 211"}}

    after = await api.gql("riverbend-admin", RIVERBEND_RECORDS)
    assert after["data"]["contactRecords"]["totalCount"] == own + await _prairie_count(api)
    # Shared rows come without the fields the agreement left out: one error per coordinate.
    denied = [e for e in after.get("errors", []) if e["extensions"]["code"] == "FORBIDDEN_FIELD"]
    assert [e["extensions"]["coordinate"] for e in denied] == ["ContactRecord.narrative"]

    async with api.database.read_session() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("policy.%"))
            )
        ).all()
    assert "policy.agreement.create" in actions

    revoked = await api.data("prairie-admin", REVOKE, {"id": agreement["id"]})
    assert revoked["revokeSharingAgreement"]["agreement"]["revokedAt"] is not None
    again = await api.data("riverbend-admin", RIVERBEND_RECORDS)
    assert again["contactRecords"]["totalCount"] == own


async def test_bad_agreements_are_refused_with_reasons(write_api: Api) -> None:
    api = write_api
    cases = [
        {"fields": ["Client.shoeSize"]},
        {"fields": ["NoSuchType.*"]},
        {"actions": ["delete"]},
        {"rowScope": "everything"},
        {"rowScope": "shared_form:not-a-uuid"},
        {"granteeTenantId": to_global_id("Tenant", demo_id("tenant", "prairie"))},
        {"validFrom": "2026-05-01T00:00:00Z", "validUntil": "2026-04-01T00:00:00Z"},
        {"emergency": True},
    ]
    for change in cases:
        body = await api.gql("prairie-admin", CREATE, {"input": {**riverbend_regional(), **change}})
        assert codes(body) == ["BAD_USER_INPUT"], (change, body)
    await api.data("prairie-admin", CREATE, {"input": riverbend_regional("First")})
    body = await api.gql("prairie-admin", CREATE, {"input": riverbend_regional("Second")})
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["reason"] == "OVERLAPPING_GRANT"


async def test_only_the_owners_admins_manage_its_agreements(write_api: Api) -> None:
    api = write_api
    for principal in ("prairie-call-taker", "prairie-api", "eastside-portal"):
        body = await api.gql(principal, CREATE, {"input": riverbend_regional()})
        assert codes(body) == ["FORBIDDEN"], principal
    agreements = await api.data("prairie-admin", "{ sharingAgreements { id name } }")
    some = agreements["sharingAgreements"][0]["id"]
    body = await api.gql("lakeside-admin", REVOKE, {"id": some})
    assert codes(body) == ["NOT_FOUND"]


async def test_emergency_agreements_expire_by_themselves(write_api: Api) -> None:
    from datetime import UTC, datetime, timedelta

    api = write_api
    soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    await api.data(
        "prairie-admin",
        CREATE,
        {
            "input": {
                **riverbend_regional("Flood response"),
                "emergency": True,
                "validUntil": soon,
                "purpose": "disaster response",
            }
        },
    )
    own_and_shared = (await api.data("riverbend-admin", COUNT))["contactRecords"]["totalCount"]
    await asyncio.sleep(3.5)
    after = (await api.data("riverbend-admin", COUNT))["contactRecords"]["totalCount"]
    assert after == own_and_shared - await _prairie_count(api)


EXPLAIN = """
query($p: ID!, $c: String!, $r: ID) {
  explainAccess(principalId: $p, coordinate: $c, recordId: $r) {
    allowed reason roles rowScopes recordInScopes agreement { name } sharingRule roleRule
  }
}
"""


async def _principal_id(api: Api, name: str) -> str:
    from sharegraph.datastore.models import Principal

    async with api.database.read_session() as session:
        principal_id = await session.scalar(select(Principal.id).where(Principal.name == name))
    assert principal_id is not None
    return to_global_id("Principal", principal_id)


async def test_explain_access_names_the_roles_and_agreement_that_decided(api: Api) -> None:
    pantry = await _principal_id(api, "eastside-portal")
    body = await api.data("prairie-admin", EXPLAIN, {"p": pantry, "c": "Client.phone"})
    phone = body["explainAccess"]
    assert phone["allowed"] is True
    assert phone["agreement"]["name"] == "Referrals to eastside"
    assert phone["rowScopes"] == ["referred_to_grantee"]
    assert phone["roles"] == ["portal-user"]

    body = await api.data("prairie-admin", EXPLAIN, {"p": pantry, "c": "Client.dateOfBirth"})
    assert body["explainAccess"]["allowed"] is False
    assert (
        "deny" in body["explainAccess"]["reason"]
        or "no agreement" in body["explainAccess"]["reason"]
    )


async def test_effective_permissions_matrix(api: Api) -> None:
    pantry = await _principal_id(api, "eastside-portal")
    body = await api.data(
        "prairie-admin",
        "query($p: ID!) { effectivePermissions(principalId: $p) { owner { name } typeName field action rowScopes } }",
        {"p": pantry},
    )
    entries = {
        (e["typeName"], e["field"], e["action"]): e["rowScopes"]
        for e in body["effectivePermissions"]
    }
    assert entries[("Client", "firstName", "read")] == ["referred_to_grantee"]
    assert ("Client", "dateOfBirth", "read") not in entries
    assert entries[("Referral", "status", "write")] == ["referred_to_grantee"]
    assert ("Referral", "status", "read") in entries
    assert entries[("Service", "name", "read")] == ["all"]


@pytest.fixture
async def two_instances(seeded_db: Database, keys: dict[str, str], backend: str) -> Any:
    if backend != "postgresql":
        pytest.skip("propagation between gateway processes runs over PostgreSQL LISTEN/NOTIFY")
    second_db = Database(seeded_db.url)
    first = make_api(seeded_db, keys)
    second = make_api(second_db, keys)
    api_one = await first.__anext__()
    api_two = await second.__anext__()
    yield api_one, api_two
    for generator in (first, second):
        with pytest.raises(StopAsyncIteration):
            await generator.__anext__()
    await second_db.dispose()


async def test_a_policy_change_reaches_another_gateway_within_two_seconds(
    two_instances: Any,
) -> None:
    one, two = two_instances
    own = (await two.data("riverbend-admin", COUNT))["contactRecords"]["totalCount"]
    await one.data("prairie-admin", CREATE, {"input": riverbend_regional()})
    started = time.monotonic()
    while True:
        seen = (await two.gql("riverbend-admin", COUNT))["data"]["contactRecords"]["totalCount"]
        if seen > own:
            break
        assert time.monotonic() - started < 2.0, (
            "the second gateway did not see the change within 2 s"
        )
        await asyncio.sleep(0.05)
