"""`viewer { permissions }`: every principal reads its own effective permissions, the same
entries its tenant admin's `effectivePermissions` shows for it (one implementation)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from sharegraph.datastore.models import Principal
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .conftest import Api

ENTRY = """
  owner { uuid } typeName field action rowScopes
  agreements { id name purpose validFrom validUntil }
"""
VIEWER = f"{{ viewer {{ permissions {{ {ENTRY} }} }} }}"
EFFECTIVE = f"query($p: ID!) {{ effectivePermissions(principalId: $p) {{ {ENTRY} }} }}"
PRAIRIE = str(demo_id("tenant", "prairie"))


async def _principal_id(api: Api, name: str) -> str:
    async with api.database.read_session() as session:
        found = await session.scalar(select(Principal.id).where(Principal.name == name))
    assert found is not None
    return to_global_id("Principal", found)


async def _own(api: Api, principal: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (await api.data(principal, VIEWER))["viewer"]["permissions"]
    return entries


async def _as_admin_sees(api: Api, principal: str) -> list[dict[str, Any]]:
    data = await api.data("prairie-admin", EFFECTIVE, {"p": await _principal_id(api, principal)})
    entries: list[dict[str, Any]] = data["effectivePermissions"]
    return entries


async def test_the_pantry_reads_its_own_permissions(api: Api) -> None:
    own = await _own(api, "eastside-portal")
    by_key = {(e["typeName"], e["field"], e["action"]): e for e in own if e["owner"]}
    phone = by_key[("Client", "phone", "read")]
    assert phone["owner"]["uuid"] == PRAIRIE and phone["rowScopes"] == ["referred_to_grantee"]
    assert [a["name"] for a in phone["agreements"]] and all(
        a["purpose"] for a in phone["agreements"]
    )
    assert ("Client", "dateOfBirth", "read") not in by_key
    assert by_key[("Referral", "status", "write")]["rowScopes"] == ["referred_to_grantee"]
    operations = {(e["field"], e["action"]) for e in own if e["typeName"] == "Operation"}
    assert {("referrals", "read"), ("updateReferralStatus", "write")} <= operations
    assert ("createReferral", "write") not in operations
    assert all(e["owner"] is None and e["rowScopes"] == [] for e in own if not e["owner"])
    # Prairie's admin sees the same for the pantry, restricted to Prairie's data.
    prairies = [e for e in own if e["owner"] is None or e["owner"]["uuid"] == PRAIRIE]
    assert await _as_admin_sees(api, "eastside-portal") == prairies


async def test_an_admin_and_its_staff_read_what_effective_permissions_shows(api: Api) -> None:
    for principal in ("prairie-admin", "prairie-call-taker"):
        own = await _own(api, principal)
        assert own == await _as_admin_sees(api, principal)
        # Own records come from the roles, not from an agreement; others' data from agreements.
        mine = {
            (e["typeName"], e["field"], e["action"]): e
            for e in own
            if e["owner"] and e["owner"]["uuid"] == PRAIRIE
        }
        assert mine[("Client", "dateOfBirth", "read")]["agreements"] == []
        shared = [e for e in own if e["owner"] and e["owner"]["uuid"] != PRAIRIE]
        assert shared and all(e["agreements"] for e in shared)


async def test_a_principal_without_admin_rights_still_cannot_ask_about_others(api: Api) -> None:
    body = await api.gql(
        "eastside-portal", EFFECTIVE, {"p": await _principal_id(api, "prairie-call-taker")}
    )
    assert body["errors"][0]["extensions"]["code"] in {"FORBIDDEN", "NOT_FOUND"}
