"""Inventories: a host's admins curate selections of their directory, share them by agreement,
and anyone who may see one filters directory lists by it. Both backends.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, select

from sharegraph.datastore.models import (
    Attribute,
    AuditEvent,
    Location,
    Organization,
    Service,
    ServiceAtLocation,
    TaxonomyTerm,
)
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .builders import add_tenant_with_admin
from .conftest import Api

PRAIRIE = demo_id("tenant", "prairie")
RIVERBEND = demo_id("tenant", "riverbend")
EASTSIDE_ORG = demo_id("organization", "eastside")
HARBOR_RRH = demo_id("service", "harbor-rrh")
HARBOR_SHELTER_SITE = demo_id("location", "harbor-shelter")

CREATE = "mutation($i: CreateInventoryInput!) { createInventory(input: $i) { inventory { id uuid name description } } }"
UPDATE = "mutation($i: UpdateInventoryInput!) { updateInventory(input: $i) { inventory { name description } } }"
ADD = "mutation($i: InventoryItemsInput!) { addInventoryItems(input: $i) { inventory { items { recordType record { id } } } } }"
REMOVE = "mutation($i: InventoryItemsInput!) { removeInventoryItems(input: $i) { inventory { items { recordType } } } }"
DELETE = "mutation($id: ID!) { deleteInventory(id: $id) { deletedId } }"
LIST = "{ inventories { id name owner { name } items { recordType record { id } } } }"
SHARE = "mutation($i: SharingAgreementInput!) { createSharingAgreement(input: $i) { agreement { id } } }"
REVOKE = "mutation($id: ID!) { revokeSharingAgreement(id: $id) { agreement { revokedAt } } }"
LISTS = {
    "organizations": Organization,
    "services": Service,
    "locations": Location,
    "serviceAtLocations": ServiceAtLocation,
    "taxonomyTerms": TaxonomyTerm,
}


def gid(type_name: str, row_id: uuid.UUID) -> str:
    return to_global_id(type_name, row_id)


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def reason(body: dict[str, Any]) -> str:
    assert len(body.get("errors", [])) == 1, body
    return str(body["errors"][0]["extensions"]["reason"])


async def _listed(api: Api, who: str, field: str, inventory: str | None) -> set[str]:
    query = f"query($inv: ID) {{ {field}(first: 100, inventory: $inv) {{ totalCount edges {{ node {{ uuid }} }} }} }}"
    data = await api.data(who, query, {"inv": inventory})
    found = {e["node"]["uuid"] for e in data[field]["edges"]}
    assert data[field]["totalCount"] == len(found)
    return found


async def _expected(api: Api) -> dict[str, set[str]]:
    """What an inventory of the Eastside organization, the Harbor re-housing service and the
    Harbor shelter site lists, read from the tables: a service is in it when its organization
    is; a service at a location when its service is; terms when a listed record uses them."""
    async with api.database.read_session() as session:

        async def ids(statement: Any) -> set[str]:
            return {str(i) for i in (await session.scalars(statement)).all()}

        services = await ids(
            select(Service.id).where(
                or_(Service.organization_id == EASTSIDE_ORG, Service.id == HARBOR_RRH)
            )
        )
        locations = await ids(
            select(Location.id).where(
                or_(Location.organization_id == EASTSIDE_ORG, Location.id == HARBOR_SHELTER_SITE)
            )
        )
        sals = await ids(
            select(ServiceAtLocation.id).where(
                ServiceAtLocation.service_id.in_([uuid.UUID(s) for s in services])
            )
        )
        records = [uuid.UUID(r) for r in services | locations | sals] + [EASTSIDE_ORG]
        terms = await ids(select(Attribute.taxonomy_term_id).where(Attribute.link_id.in_(records)))
    return {
        "organizations": {str(EASTSIDE_ORG)},
        "services": services,
        "locations": locations,
        "serviceAtLocations": sals,
        "taxonomyTerms": terms,
    }


async def _curated(api: Api) -> dict[str, Any]:
    created = await api.data(
        "prairie-admin", CREATE, {"i": {"name": "Food and housing, east", "description": "v1"}}
    )
    inventory: dict[str, Any] = created["createInventory"]["inventory"]
    await api.data(
        "prairie-admin",
        ADD,
        {
            "i": {
                "inventoryId": inventory["id"],
                "recordIds": [
                    gid("Organization", EASTSIDE_ORG),
                    gid("Service", HARBOR_RRH),
                    gid("Location", HARBOR_SHELTER_SITE),
                ],
            }
        },
    )
    return inventory


async def test_an_admin_curates_an_inventory_and_lists_filter_by_it(write_api: Api) -> None:
    api = write_api
    inventory = await _curated(api)
    assert inventory["name"] == "Food and housing, east"
    # Adding what is listed already changes nothing.
    again = await api.data(
        "prairie-admin",
        ADD,
        {"i": {"inventoryId": inventory["id"], "recordIds": [gid("Service", HARBOR_RRH)]}},
    )
    items = again["addInventoryItems"]["inventory"]["items"]
    assert sorted(i["recordType"] for i in items) == ["Location", "Organization", "Service"]

    expected = await _expected(api)
    for field, rows in expected.items():
        assert rows, field
        assert await _listed(api, "prairie-admin", field, inventory["id"]) == rows, field
        # a call-taker of the owner tenant sees its inventories too
        assert await _listed(api, "prairie-call-taker", field, inventory["id"]) == rows, field
    # Without the argument, lists are as before.
    assert len(await _listed(api, "prairie-admin", "services", None)) > len(expected["services"])

    renamed = await api.data(
        "prairie-admin",
        UPDATE,
        {"i": {"id": inventory["id"], "name": "East side", "description": None}},
    )
    assert renamed["updateInventory"]["inventory"] == {"name": "East side", "description": None}
    removed = await api.data(
        "prairie-admin",
        REMOVE,
        {"i": {"inventoryId": inventory["id"], "recordIds": [gid("Organization", EASTSIDE_ORG)]}},
    )
    assert {i["recordType"] for i in removed["removeInventoryItems"]["inventory"]["items"]} == {
        "Service",
        "Location",
    }
    assert await _listed(api, "prairie-admin", "organizations", inventory["id"]) == set()
    assert await _listed(api, "prairie-admin", "services", inventory["id"]) == {str(HARBOR_RRH)}

    listed = await api.data("prairie-admin", LIST)
    assert [i["name"] for i in listed["inventories"]] == ["East side"]
    async with api.database.read_session() as session:
        audited = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.record_type == "Inventory")
            )
        ).all()
    assert sorted(audited) == sorted(
        [
            "policy.inventory.create",
            "policy.inventory.add_items",
            "policy.inventory.add_items",
            "policy.inventory.update",
            "policy.inventory.remove_items",
        ]
    )
    deleted = await api.data("prairie-admin", DELETE, {"id": inventory["id"]})
    assert deleted["deleteInventory"]["deletedId"] == inventory["id"]
    assert (await api.data("prairie-admin", LIST))["inventories"] == []


async def test_inventories_are_the_owners_to_change_and_hold_its_records_only(
    write_api: Api,
) -> None:
    api = write_api
    inventory = await _curated(api)
    riverbend_org = (
        await api.data(
            "riverbend-admin",
            "query($t: [ID!]) { organizations(first: 1, filter: {tenantIds: $t}) { edges { node { id } } } }",
            {"t": [gid("Tenant", RIVERBEND)]},
        )
    )["organizations"]["edges"][0]["node"]["id"]
    body = await api.gql(
        "prairie-admin", ADD, {"i": {"inventoryId": inventory["id"], "recordIds": [riverbend_org]}}
    )
    assert reason(body) == "NOT_OWN_RECORD"
    assert body["errors"][0]["extensions"]["field"] == "recordIds"
    body = await api.gql(
        "prairie-admin",
        ADD,
        {"i": {"inventoryId": inventory["id"], "recordIds": [gid("Tenant", PRAIRIE)]}},
    )
    assert reason(body) == "BAD_ID"
    body = await api.gql("prairie-admin", CREATE, {"i": {"name": "Food and housing, east"}})
    assert reason(body) == "NAME_TAKEN"
    body = await api.gql("prairie-admin", CREATE, {"i": {"name": " "}})
    assert reason(body) == "REQUIRED_FIELD"
    # Longer than the column: a clear refusal on both backends (PostgreSQL raised an internal
    # error), for a new inventory and a renamed one.
    body = await api.gql("prairie-admin", CREATE, {"i": {"name": "n" * 256}})
    assert reason(body) == "TOO_LONG" and codes(body) == ["BAD_USER_INPUT"]
    body = await api.gql("prairie-admin", UPDATE, {"i": {"id": inventory["id"], "name": "n" * 256}})
    assert reason(body) == "TOO_LONG" and codes(body) == ["BAD_USER_INPUT"]
    body = await api.gql("prairie-admin", CREATE, {"i": {"name": "n" * 255}})
    assert "errors" not in body, body
    # Only the owner's admins: others do not find it, and call-takers may not create one.
    for who in ("riverbend-admin", "lakeside-admin", "prairie-call-taker"):
        body = await api.gql(
            who, ADD, {"i": {"inventoryId": inventory["id"], "recordIds": [riverbend_org]}}
        )
        assert codes(body) == ["NOT_FOUND"], who
        body = await api.gql(who, DELETE, {"id": inventory["id"]})
        assert codes(body) == ["NOT_FOUND"], who
    body = await api.gql("prairie-call-taker", CREATE, {"i": {"name": "Mine"}})
    assert reason(body) == "NOT_ADMIN"
    body = await api.gql(
        "riverbend-admin", CREATE, {"i": {"name": "Theirs", "tenantId": gid("Tenant", PRAIRIE)}}
    )
    assert reason(body) == "NOT_ADMIN"


async def test_a_shared_inventory_is_seen_and_filtered_by_its_grantee_only(
    write_api: Api,
) -> None:
    api = write_api
    inventory = await _curated(api)
    # Before sharing: the inventory does not exist for another tenant.
    assert (await api.data("riverbend-admin", LIST))["inventories"] == []
    body = await api.gql(
        "riverbend-admin",
        "query($inv: ID) { services(inventory: $inv) { totalCount } }",
        {"inv": inventory["id"]},
    )
    assert codes(body) == ["NOT_FOUND"]

    shared = await api.data(
        "prairie-admin",
        SHARE,
        {
            "i": {
                "name": "East side for Riverbend",
                "purpose": "information and referral",
                "granteeKind": "TENANT",
                "granteeTenantId": gid("Tenant", RIVERBEND),
                "actions": ["read"],
                "fields": ["Service.*", "Organization.*", "Location.*"],
                "rowScope": f"inventory:{inventory['uuid']}",
            }
        },
    )
    agreement = shared["createSharingAgreement"]["agreement"]["id"]
    seen = (await api.data("riverbend-admin", LIST))["inventories"]
    assert [(i["name"], i["owner"]["name"]) for i in seen] == [
        ("Food and housing, east", "Prairie 211")
    ]
    assert len(seen[0]["items"]) == 3
    expected = await _expected(api)
    for field in ("organizations", "services", "locations"):
        assert await _listed(api, "riverbend-admin", field, inventory["id"]) == expected[field]
    # Lakeside has no agreement naming it.
    assert (await api.data("lakeside-admin", LIST))["inventories"] == []
    body = await api.gql(
        "lakeside-admin",
        "query($inv: ID) { organizations(inventory: $inv) { totalCount } }",
        {"inv": inventory["id"]},
    )
    assert codes(body) == ["NOT_FOUND"]

    # An inventory an agreement shares is not deleted from under it.
    body = await api.gql("prairie-admin", DELETE, {"id": inventory["id"]})
    assert reason(body) == "INVENTORY_IN_USE"
    await api.data("prairie-admin", REVOKE, {"id": agreement})
    assert (await api.data("riverbend-admin", LIST))["inventories"] == []
    await api.data("prairie-admin", DELETE, {"id": inventory["id"]})


async def test_the_inventory_filter_is_anded_with_the_callers_rows(write_api: Api) -> None:
    """A tenant shown services of one inventory and organizations of another sees, filtering by
    the second, only what its own grants let through."""
    api = write_api
    tenant, key = await add_tenant_with_admin(api.database, "Northwoods 211", "northwoods-admin")
    # Prairie's directory is public in the demo: take that away so only the inventories count.
    agreements = (await api.data("prairie-admin", "{ sharingAgreements { id name } }"))[
        "sharingAgreements"
    ]
    public = next(a["id"] for a in agreements if a["name"] == "Public directory")
    await api.data("prairie-admin", REVOKE, {"id": public})
    wide = await _curated(api)  # the Eastside organization, Harbor re-housing, a Harbor site
    narrow = (await api.data("prairie-admin", CREATE, {"i": {"name": "Re-housing only"}}))[
        "createInventory"
    ]["inventory"]
    await api.data(
        "prairie-admin",
        ADD,
        {"i": {"inventoryId": narrow["id"], "recordIds": [gid("Service", HARBOR_RRH)]}},
    )
    for name, inventory, fields in (
        ("Services of the narrow list", narrow, ["Service.*"]),
        ("Organizations of the wide list", wide, ["Organization.*"]),
    ):
        await api.data(
            "prairie-admin",
            SHARE,
            {
                "i": {
                    "name": name,
                    "purpose": "information and referral",
                    "granteeKind": "TENANT",
                    "granteeTenantId": gid("Tenant", tenant),
                    "actions": ["read"],
                    "fields": fields,
                    "rowScope": f"inventory:{inventory['uuid']}",
                }
            },
        )
    assert {i["name"] for i in (await api.data(key, LIST))["inventories"]} == {
        "Food and housing, east",
        "Re-housing only",
    }
    assert await _listed(api, key, "services", wide["id"]) == {str(HARBOR_RRH)}
    assert await _listed(api, key, "organizations", wide["id"]) == {str(EASTSIDE_ORG)}
    assert await _listed(api, key, "organizations", narrow["id"]) == set()
    assert await _listed(api, key, "locations", wide["id"]) == set()
    # Unfiltered, the same rows: the agreements reach no further than their inventories.
    assert await _listed(api, key, "services", None) == {str(HARBOR_RRH)}
