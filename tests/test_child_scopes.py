"""Rows that hang off another record (phones, outcomes, capacities, status history) follow the
row scope of that record: which of them show, which of their fields show, and on which of them a
field may be written.

Northwoods 211 is a fresh tenant; Prairie 211 grants it two row scopes with different fields.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from sharegraph.authz.authenticate import load_principal
from sharegraph.authz.plan import Action
from sharegraph.authz.store import PolicyStore
from sharegraph.datastore.models import (
    ContactFormVersion,
    ContactRecord,
    Location,
    Outcome,
    Phone,
    Principal,
    Referral,
)
from sharegraph.demo import demo_id
from sharegraph.demo.sharing import DIRECTORY
from sharegraph.errors import Forbidden
from sharegraph.graph.relay import to_global_id
from sharegraph.queries import queues

from .builders import add_tenant_with_admin
from .conftest import Api

PRAIRIE = demo_id("tenant", "prairie")
EASTSIDE_ORG = demo_id("organization", "eastside")
HARBOR_ORG = demo_id("organization", "harbor")
HARBOR_SHELTER = demo_id("program", "harbor-shelter")
AFTER_HOURS = demo_id("contact-form", "prairie-after-hours")
REGION = "Bluestem County"  # Harbor Housing's sites and many Prairie callers

SHARE = "mutation($i: SharingAgreementInput!) { createSharingAgreement(input: $i) { agreement { id } } }"
REVOKE = "mutation($id: ID!) { revokeSharingAgreement(id: $id) { agreement { revokedAt } } }"


def gid(type_name: str, row_id: uuid.UUID) -> str:
    return to_global_id(type_name, row_id)


async def _northwoods(api: Api) -> tuple[uuid.UUID, str]:
    """A fresh tenant, and Prairie's public directory revoked so only agreements below count."""
    tenant, key = await add_tenant_with_admin(api.database, "Northwoods 211", "northwoods-admin")
    agreements = (await api.data("prairie-admin", "{ sharingAgreements { id name } }"))[
        "sharingAgreements"
    ]
    public = next(a["id"] for a in agreements if a["name"] == "Public directory")
    await api.data("prairie-admin", REVOKE, {"id": public})
    return tenant, key


async def _share(
    api: Api, tenant: uuid.UUID, name: str, scope: str, fields: list[str], actions: list[str]
) -> None:
    await api.data(
        "prairie-admin",
        SHARE,
        {
            "i": {
                "name": name,
                "purpose": "information and referral",
                "granteeKind": "TENANT",
                "granteeTenantId": gid("Tenant", tenant),
                "actions": actions,
                "fields": fields,
                "rowScope": scope,
            }
        },
    )


async def _eastside_inventory(api: Api) -> str:
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
    return str(inventory["uuid"])


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


# -- pinned: the child rule on the demo's partner paths -----------------------------------------


async def test_pantry_reads_outcomes_and_history_of_its_referrals_only(api: Api) -> None:
    data = await api.data(
        "eastside-portal",
        """{ contactRecords(first: 100) { edges { node {
              referrals { uuid outcomes { uuid code } history { toStatus } } } } } }""",
    )
    referrals = [r for e in data["contactRecords"]["edges"] for r in e["node"]["referrals"]]
    outcomes = {o["uuid"] for r in referrals for o in r["outcomes"]}
    assert referrals and outcomes and all(r["history"] for r in referrals)
    async with api.database.read_session() as session:
        owners = dict(
            (
                await session.execute(
                    select(Outcome.id, Outcome.referral_id).where(
                        Outcome.id.in_([uuid.UUID(o) for o in outcomes])
                    )
                )
            ).all()
        )
    shown = {uuid.UUID(r["uuid"]) for r in referrals}
    assert set(owners.values()) <= shown  # every outcome hangs off a referral the pantry sees


# -- 1. Field masks of child types ignore the row scope ----------------------------------------


async def test_phone_fields_follow_the_scope_the_phone_is_seen_under(write_api: Api) -> None:
    api = write_api
    tenant, key = await _northwoods(api)
    inventory = await _eastside_inventory(api)
    await _share(api, tenant, "East food", f"inventory:{inventory}", DIRECTORY, ["read"])
    await _share(
        api,
        tenant,
        "Bluestem numbers",
        f"region:{REGION}",
        ["Organization.*", "Location.*", "Phone.number"],
        ["read"],
    )
    async with api.database.read_session() as session:
        phone = await session.scalar(
            select(Phone.id)
            .join(Location, Location.id == Phone.location_id)
            .where(Location.organization_id == HARBOR_ORG, Phone.description.is_not(None))
            .limit(1)
        )
    assert phone is not None
    body = await api.gql(
        key, "query($id: ID!) { node(id: $id) { ... on Phone { number description } } }",
        {"id": gid("Phone", phone)},
    )  # fmt: skip
    node = body["data"]["node"]
    assert node is not None and node["number"]  # in the region: the number is shared...
    assert node["description"] is None  # ...its description only inside the inventory


async def test_outcome_note_follows_the_scope_the_outcome_is_seen_under(write_api: Api) -> None:
    api = write_api
    tenant, key = await _northwoods(api)
    await _share(
        api,
        tenant,
        "After-hours case files",
        f"shared_form:{AFTER_HOURS}",
        ["ContactRecord.*", "Referral.*", "Outcome.*"],
        ["read"],
    )
    await _share(
        api,
        tenant,
        "Bluestem outcome codes",
        f"region:{REGION}",
        ["ContactRecord.id", "ContactRecord.referrals", "Referral.*", "Outcome.code"],
        ["read"],
    )
    after_hours = select(ContactFormVersion.id).where(ContactFormVersion.form_id == AFTER_HOURS)
    async with api.database.read_session() as session:
        referral = await session.scalar(
            select(Referral.id)
            .join(ContactRecord, ContactRecord.id == Referral.contact_record_id)
            .join(Outcome, Outcome.referral_id == Referral.id)
            .where(
                ContactRecord.tenant_id == PRAIRIE,
                ContactRecord.caller_county == REGION,
                ContactRecord.form_version_id.not_in(after_hours),
                Outcome.note.is_not(None),
            )
            .limit(1)
        )
    assert referral is not None
    body = await api.gql(
        key,
        "query($id: ID!) { node(id: $id) { ... on Referral { outcomes { code note } } } }",
        {"id": gid("Referral", referral)},
    )
    outcomes = body["data"]["node"]["outcomes"]
    assert outcomes and all(o["code"] for o in outcomes)  # the region grant: codes...
    assert all(o["note"] is None for o in outcomes)  # ...not the case notes


# -- 2. Placement checks "reserved" on any grant of the owner, not on the row's scope ----------


async def test_placement_needs_reserved_under_the_scope_the_capacity_falls_in(
    write_api: Api,
) -> None:
    api = write_api
    tenant, _ = await _northwoods(api)
    inventory = await _eastside_inventory(api)
    # Northwoods may annotate every capacity, but take slots only inside the inventory.
    await _share(api, tenant, "Capacity notes", "all", ["ServiceCapacity.note"], ["write"])
    await _share(
        api,
        tenant,
        "East food placements",
        f"inventory:{inventory}",
        ["ServiceCapacity.reserved", "CapacityChange.*"],
        ["write"],
    )
    store = PolicyStore(api.database)
    await store.reload()
    async with api.database.read_session() as session:
        principal_id = await session.scalar(
            select(Principal.id).where(Principal.name == "northwoods-admin")
        )
        assert principal_id is not None
        principal = await load_principal(session, principal_id)
    assert principal is not None
    plan = store.plan_for(principal)
    assert PRAIRIE in plan.owners("ServiceCapacity", Action.WRITE)
    async with api.database.write_session() as session:
        # Harbor's shelter is outside the inventory: no grant there carries `reserved`.
        with pytest.raises(Forbidden) as refused:
            await queues._capacities(session, plan, [HARBOR_SHELTER])
    assert refused.value.reason == "NO_PLACEMENT_AGREEMENT"


# -- pinned: owners shared with `all` keep the plain tenant filter on child tables -------------


async def _plan_of(api: Api, name: str) -> Any:
    store = PolicyStore(api.database)
    await store.reload()
    async with api.database.read_session() as session:
        principal_id = await session.scalar(select(Principal.id).where(Principal.name == name))
        assert principal_id is not None
        principal = await load_principal(session, principal_id)
    assert principal is not None
    return store.plan_for(principal)


@pytest.mark.parametrize("model", [Outcome, Phone, ContactFormVersion])
async def test_child_filters_stay_plain_tenant_lists_under_all_grants(api: Api, model: Any) -> None:
    plan = await _plan_of(api, "riverbend-admin")  # its own records, Prairie's whole directory
    sql = str(plan.row_filter(model).compile(compile_kwargs={"literal_binds": True}))
    assert "SELECT" not in sql.upper(), sql
