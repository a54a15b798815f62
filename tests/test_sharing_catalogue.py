"""`sharingCatalogue`: the sharing pickers' read of the field catalogue, for tenant admins only."""

from __future__ import annotations

import pytest

from sharegraph.authz import catalogue
from sharegraph.authz.catalogue import CATALOGUE
from sharegraph.authz.policy import ACTIONS
from sharegraph.authz.scopes import SCOPE_NAMES
from sharegraph.graph.sharing_catalogue import SCOPE_WORDS

from .conftest import Api

CATALOGUE_QUERY = """
{ sharingCatalogue {
    revision actions
    types { name kind fields { name coordinate label sensitivity addedInRevision } }
    rowScopes { name argument description }
} }
"""


def test_every_row_scope_has_its_words() -> None:
    assert set(SCOPE_WORDS) == set(SCOPE_NAMES)


async def test_the_catalogue_is_the_field_catalogue(api: Api) -> None:
    found = (await api.data("prairie-admin", CATALOGUE_QUERY))["sharingCatalogue"]
    assert found["revision"] == catalogue.REVISION
    assert found["actions"] == list(ACTIONS)
    assert [t["name"] for t in found["types"]] == sorted(CATALOGUE)
    fields = {f["coordinate"]: f for t in found["types"] for f in t["fields"]}
    declared = {f.coordinate: f for spec in CATALOGUE.values() for f in spec.fields}
    assert set(fields) == set(declared)
    for coordinate, spec in declared.items():
        shown = fields[coordinate]
        assert shown["sensitivity"] == spec.sensitivity.name, coordinate
        assert shown["addedInRevision"] == spec.added
        assert shown["label"] == spec.label
    assert fields["Client.dateOfBirth"]["sensitivity"] == "PII"
    assert fields["Referral.notes"]["addedInRevision"] == 2
    scopes = {s["name"]: s for s in found["rowScopes"]}
    assert list(scopes) == list(SCOPE_NAMES)
    assert scopes["shared_form"]["argument"] == "form id" and scopes["all"]["argument"] is None


@pytest.mark.parametrize("who", ["eastside-portal", "prairie-call-taker", "prairie-api"])
async def test_only_tenant_admins_read_it(api: Api, who: str) -> None:
    body = await api.gql(who, CATALOGUE_QUERY)
    assert body["data"] is None or body["data"].get("sharingCatalogue") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert body["errors"][0]["extensions"]["reason"] == "NOT_ADMIN"
