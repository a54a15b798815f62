"""`previewRevokeSharingAgreement`: what revoking an agreement would take away, before it does;
only what no other agreement of the grantee also grants; owner tenant's admins only."""

from __future__ import annotations

import pytest

from .conftest import Api

AGREEMENTS = "{ sharingAgreements { id name version revokedAt } }"
PREVIEW = """
query($id: ID!) { previewRevokeSharingAgreement(id: $id) {
  grantee coordinate action rowScope change } }
"""
REVOKE = "mutation($id: ID!) { revokeSharingAgreement(id: $id) { agreement { revokedAt } } }"


async def _by_name(api: Api, who: str = "prairie-admin") -> dict[str, dict[str, str]]:
    return {a["name"]: a for a in (await api.data(who, AGREEMENTS))["sharingAgreements"]}


async def test_it_lists_what_revoking_takes_away_and_changes_nothing(write_api: Api) -> None:
    before = await _by_name(write_api)
    pantry = before["Referrals to eastside"]
    changes = (await write_api.data("prairie-admin", PREVIEW, {"id": pantry["id"]}))[
        "previewRevokeSharingAgreement"
    ]
    assert changes and {c["change"] for c in changes} == {"revoke"}
    assert {c["grantee"] for c in changes} == {"Eastside Food Pantry"}
    assert ("Client.phone", "read", "referred_to_grantee") in {
        (c["coordinate"], c["action"], c["rowScope"]) for c in changes
    }
    # the directory it also reads under another agreement stays
    assert not any(c["coordinate"].startswith("Service.") for c in changes)
    assert await _by_name(write_api) == before

    await write_api.data("prairie-admin", REVOKE, {"id": pantry["id"]})
    again = await write_api.data("prairie-admin", PREVIEW, {"id": pantry["id"]})
    assert again["previewRevokeSharingAgreement"] == []


async def test_another_tenants_agreement_does_not_exist(write_api: Api) -> None:
    lakeside = next(iter((await _by_name(write_api, "lakeside-admin")).values()))
    body = await write_api.gql("prairie-admin", PREVIEW, {"id": lakeside["id"]})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]


@pytest.mark.parametrize("who", ["eastside-portal", "prairie-call-taker"])
async def test_non_admins_are_refused(write_api: Api, who: str) -> None:
    pantry = (await _by_name(write_api))["Referrals to eastside"]
    body = await write_api.gql(who, PREVIEW, {"id": pantry["id"]})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert body["data"] is None
