"""Editing the shared resource directory: HSDS validation, versions, retries, field history, and
guests who edit a host's directory only as far as an agreement allows. Both backends.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from sharegraph.datastore.models import (
    Attribute,
    DirectoryChange,
    Event,
    Organization,
    Phone,
    Schedule,
    Service,
)
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .builders import add_tenant_with_admin
from .conftest import Api, StatementCounter

PRAIRIE = demo_id("tenant", "prairie")
LAKESIDE = demo_id("tenant", "lakeside")
EASTSIDE_ORG = demo_id("organization", "eastside")
HARBOR_ORG = demo_id("organization", "harbor")
FOOD_BOXES = demo_id("service", "eastside-food-boxes")
HARBOR_RRH = demo_id("service", "harbor-rrh")
EASTSIDE_MAIN = demo_id("location", "eastside-main")
FOOD_PANTRIES = demo_id("taxonomy-term", "BD-1800.2000")
SOUP_KITCHENS = demo_id("taxonomy-term", "BD-5000.8300")
DIRECTORY_WRITE = [
    f"{t}.*" for t in ("Organization", "Service", "Location", "ServiceAtLocation", "Phone")
]

ORG_FIELDS = "id uuid name email website yearIncorporated active version"
SERVICE_FIELDS = "id uuid name status minimumAge maximumAge version organization { name }"


def gid(type_name: str, row_id: uuid.UUID) -> str:
    return to_global_id(type_name, row_id)


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body.get("errors", [])) == 1, body
    extensions: dict[str, Any] = body["errors"][0]["extensions"]
    return extensions


def mutation(name: str, payload: str) -> str:
    input_type = (
        "TaxonomyLinkInput"
        if name.endswith("TaxonomyLink")
        else name[:1].upper() + name[1:] + "Input"
    )
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {payload} }} }}"


async def run(api: Api, who: str, name: str, payload: str, input: dict[str, Any]) -> Any:
    data = await api.data(who, mutation(name, payload), {"input": input})
    return data[name]


async def count(api: Api, model: Any, *where: Any) -> int:
    async with api.database.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def history_rows(api: Api, resource_id: uuid.UUID) -> list[DirectoryChange]:
    async with api.database.read_session() as session:
        rows = await session.scalars(
            select(DirectoryChange)
            .where(DirectoryChange.resource_id == resource_id)
            .order_by(DirectoryChange.changed_at, DirectoryChange.field_name)
        )
        return list(rows.all())


async def test_an_owner_admin_builds_edits_and_retires_each_kind_of_record(
    write_api: Api,
) -> None:
    api, admin = write_api, "prairie-admin"
    events = await count(api, Event)
    started = datetime.now(UTC) - timedelta(seconds=1)

    org = (
        await run(
            api,
            admin,
            "createOrganization",
            f"organization {{ {ORG_FIELDS} }}",
            {
                "name": "Northside Diaper Bank",
                "description": "Diapers and wipes for families with infants.",
                "email": "hello@northside.example.org",
                "website": "https://northside.example.org",
                "yearIncorporated": 2019,
            },
        )
    )["organization"]
    assert org["version"] == 1 and org["active"] is True and org["yearIncorporated"] == 2019
    location = (
        await run(
            api,
            admin,
            "createLocation",
            "location { id uuid name latitude longitude locationType version }",
            {
                "organizationId": org["id"],
                "name": "Northside warehouse",
                "latitude": 41.61,
                "longitude": -93.6,
            },
        )
    )["location"]
    assert location["locationType"] == "PHYSICAL"
    service = (
        await run(
            api,
            admin,
            "createService",
            f"service {{ {SERVICE_FIELDS} }}",
            {
                "organizationId": org["id"],
                "name": "Diaper distribution",
                "minimumAge": 0,
                "maximumAge": 3,
            },
        )
    )["service"]
    assert service["status"] == "ACTIVE"
    assert service["organization"] == {"name": "Northside Diaper Bank"}
    sal = (
        await run(
            api,
            admin,
            "createServiceAtLocation",
            "serviceAtLocation { id active version service { name } location { name } }",
            {"serviceId": service["id"], "locationId": location["id"], "description": "Dock B"},
        )
    )["serviceAtLocation"]
    assert sal["service"]["name"] == "Diaper distribution"
    phone = (
        await run(
            api,
            admin,
            "createPhone",
            "phone { id uuid number type version }",
            {"serviceId": service["id"], "number": "+1 515 555 0142", "type": "voice"},
        )
    )["phone"]
    schedule = (
        await run(
            api,
            admin,
            "createSchedule",
            "schedule { id freq byday opensAt closesAt version }",
            {
                "locationId": location["id"],
                "freq": "WEEKLY",
                "byday": "MO,WE,FR",
                "opensAt": "09:00",
                "closesAt": "17:00",
            },
        )
    )["schedule"]
    assert schedule["byday"] == "MO,WE,FR" and phone["version"] == 1
    tagged = await run(
        api,
        admin,
        "addTaxonomyLink",
        "record { ... on Service { version taxonomyTerms { code } } } taxonomyTerm { code }",
        {"recordId": service["id"], "taxonomyTermId": gid("TaxonomyTerm", FOOD_PANTRIES)},
    )
    assert tagged["record"] == {"version": 2, "taxonomyTerms": [{"code": "BD-1800.2000"}]}

    updated = (
        await run(
            api,
            admin,
            "updateService",
            f"service {{ {SERVICE_FIELDS} }}",
            {"id": service["id"], "version": 2, "maximumAge": 4, "name": "Diapers and wipes"},
        )
    )["service"]
    assert updated["version"] == 3 and updated["maximumAge"] == 4
    changed_phone = (
        await run(
            api,
            admin,
            "updatePhone",
            "phone { number extension version }",
            {"id": phone["id"], "version": 1, "extension": "12"},
        )
    )["phone"]
    assert changed_phone == {"number": "+1 515 555 0142", "extension": "12", "version": 2}

    retired = {
        "deactivateServiceAtLocation": ("serviceAtLocation { active version }", sal),
        "deactivateService": ("service { status version }", updated),
        "deactivateLocation": ("location { active version }", location),
        "deactivateOrganization": ("organization { active version }", org),
    }
    for name, (payload, record) in retired.items():
        result = await run(
            api, admin, name, payload, {"id": record["id"], "version": record["version"]}
        )
        (after,) = result.values()
        assert after.get("active", False) is False and after.get("status", "INACTIVE") == "INACTIVE"
        assert after["version"] == record["version"] + 1
    deleted = await run(api, admin, "deletePhone", "deletedId", {"id": phone["id"], "version": 2})
    assert deleted == {"deletedId": phone["id"]}
    await run(api, admin, "deleteSchedule", "deletedId", {"id": schedule["id"], "version": 1})
    untagged = await run(
        api,
        admin,
        "removeTaxonomyLink",
        "record { ... on Service { taxonomyTerms { code } } }",
        {"recordId": service["id"], "taxonomyTermId": gid("TaxonomyTerm", FOOD_PANTRIES)},
    )
    assert untagged["record"] == {"taxonomyTerms": []}

    # 6 creates, 1 link, 2 updates, 4 deactivations, 2 deletes, 1 unlink: one event each
    assert await count(api, Event) == events + 16
    service_id = uuid.UUID(service["uuid"])
    assert await count(api, Event, Event.record_id == service_id) == 5
    assert await count(api, Phone, Phone.service_id == service_id) == 0
    assert await count(api, Schedule, Schedule.location_id == uuid.UUID(location["uuid"])) == 0

    # Field history: who and when, one row per changed field, newest first in the API.
    rows = await history_rows(api, service_id)
    admin_id = demo_id("principal", "prairie-admin")
    assert {r.changed_by_id for r in rows} == {admin_id}
    assert all(started <= r.changed_at <= datetime.now(UTC) for r in rows)
    assert {(r.action, r.field_name) for r in rows if r.action == "create"} == {
        ("create", "name"),
        ("create", "organization_id"),
        ("create", "status"),
        ("create", "minimum_age"),
        ("create", "maximum_age"),
    }
    updates = {
        (r.field_name, r.previous_value, r.replacement_value) for r in rows if r.action == "update"
    }
    assert updates == {
        ("taxonomy_terms", None, str(FOOD_PANTRIES)),
        ("maximum_age", "3", "4"),
        ("name", "Diaper distribution", "Diapers and wipes"),
        ("taxonomy_terms", str(FOOD_PANTRIES), None),
    }
    assert [
        (r.field_name, r.previous_value, r.replacement_value)
        for r in rows
        if r.action == "deactivate"
    ] == [("status", "active", "inactive")]
    phone_rows = await history_rows(api, uuid.UUID(phone["uuid"]))
    assert {r.action for r in phone_rows} == {"create", "update", "delete"}
    assert ("number", "+1 515 555 0142", None) in {
        (r.field_name, r.previous_value, r.replacement_value)
        for r in phone_rows
        if r.action == "delete"
    }

    seen = await api.data(
        admin,
        "query($id: ID!) { service(id: $id) { version history { action fieldName previousValue replacementValue changedAt } } }",
        {"id": service["id"]},
    )
    history = seen["service"]["history"]
    assert len(history) == len(rows)
    assert history[0]["action"] == "update" and history[0]["fieldName"] == "taxonomy_terms"
    assert history[-1]["action"] == "create"
    stamps = [h["changedAt"] for h in history]
    assert stamps == sorted(stamps, reverse=True)


async def _share_inventory_for_writing(api: Api, record_ids: list[str]) -> tuple[str, str]:
    """Prairie lists records in an inventory and lets Lakeside's staff edit them: (inventory
    id, agreement id)."""
    admin = "prairie-admin"
    inventory = (
        await api.data(
            admin,
            "mutation($i: CreateInventoryInput!) { createInventory(input: $i) { inventory { id uuid } } }",
            {"i": {"name": "Lakeside maintains", "description": "Records Lakeside keeps current"}},
        )
    )["createInventory"]["inventory"]
    await api.data(
        admin,
        "mutation($i: InventoryItemsInput!) { addInventoryItems(input: $i) { inventory { id } } }",
        {"i": {"inventoryId": inventory["id"], "recordIds": record_ids}},
    )
    agreement = await api.data(
        admin,
        "mutation($i: SharingAgreementInput!) { createSharingAgreement(input: $i) { agreement { id } } }",
        {
            "i": {
                "name": "Lakeside edits its inventory",
                "purpose": "directory maintenance",
                "granteeKind": "TENANT",
                "granteeTenantId": gid("Tenant", LAKESIDE),
                "actions": ["write"],
                "fields": DIRECTORY_WRITE,
                "rowScope": f"inventory:{inventory['uuid']}",
            }
        },
    )
    return inventory["id"], agreement["createSharingAgreement"]["agreement"]["id"]


async def test_a_guest_edits_the_host_directory_only_inside_its_inventory(write_api: Api) -> None:
    api, guest = write_api, "lakeside-admin"
    inventory, _ = await _share_inventory_for_writing(
        api, [gid("Organization", EASTSIDE_ORG), gid("Service", HARBOR_RRH)]
    )

    # Inside: the pantry (all of its organization) and the one Harbor service listed.
    renamed = await run(
        api,
        guest,
        "updateService",
        "service { name version }",
        {"id": gid("Service", FOOD_BOXES), "version": 1, "waitTime": "Same day"},
    )
    assert renamed["service"]["version"] == 2
    await run(
        api,
        guest,
        "updateService",
        "service { version }",
        {"id": gid("Service", HARBOR_RRH), "version": 1, "alert": "Waitlist open"},
    )
    phone = await run(
        api,
        guest,
        "createPhone",
        "phone { uuid number }",
        {"serviceId": gid("Service", FOOD_BOXES), "number": "712-555-0100"},
    )
    created = await run(
        api,
        guest,
        "createService",
        "service { id uuid name }",
        {"organizationId": gid("Organization", EASTSIDE_ORG), "name": "Holiday meal boxes"},
    )
    await run(
        api,
        guest,
        "addTaxonomyLink",
        "taxonomyTerm { code }",
        {
            "recordId": gid("Service", FOOD_BOXES),
            "taxonomyTermId": gid("TaxonomyTerm", SOUP_KITCHENS),
        },
    )
    lakeside_admin = demo_id("principal", "lakeside-admin")
    for record_id in (
        FOOD_BOXES,
        uuid.UUID(created["service"]["uuid"]),
        uuid.UUID(phone["phone"]["uuid"]),
    ):
        rows = await history_rows(api, record_id)
        assert rows and {r.changed_by_id for r in rows} == {lakeside_admin}
        assert {r.tenant_id for r in rows} == {PRAIRIE}  # the host's directory keeps them

    # Outside: rows not in the inventory do not exist for the guest's writes.
    outside = [
        (
            "updateService",
            {
                "id": gid("Service", demo_id("service", "harbor-prevention")),
                "version": 1,
                "alert": "x",
            },
        ),
        ("updateOrganization", {"id": gid("Organization", HARBOR_ORG), "version": 1, "name": "x"}),
        (
            "createPhone",
            {
                "serviceId": gid("Service", demo_id("service", "harbor-prevention")),
                "number": "712-555-0101",
            },
        ),
        # the Harbor service is listed, its organization is not
        ("createService", {"organizationId": gid("Organization", HARBOR_ORG), "name": "x"}),
        ("deactivateOrganization", {"id": gid("Organization", HARBOR_ORG), "version": 1}),
    ]
    for name, input in outside:
        body = await api.gql(guest, mutation(name, "__typename"), {"input": input})
        assert codes(body) == ["NOT_FOUND"], (name, body)
    # Records of no parent need a grant on all rows; types the agreement leaves out are refused.
    body = await api.gql(
        guest,
        mutation("createOrganization", "__typename"),
        {"input": {"tenantId": gid("Tenant", PRAIRIE), "name": "x", "description": "x"}},
    )
    assert refusal(body)["reason"] == "FORBIDDEN_INPUT"
    body = await api.gql(
        guest,
        mutation("createSchedule", "__typename"),
        {"input": {"serviceId": gid("Service", FOOD_BOXES), "freq": "WEEKLY"}},
    )
    assert codes(body) == ["FORBIDDEN"]
    # The guest's call-takers have no directory operations at all.
    body = await api.gql(
        "lakeside-call-taker",
        mutation("updateService", "__typename"),
        {"input": {"id": gid("Service", FOOD_BOXES), "version": 2, "alert": "x"}},
    )
    assert refusal(body)["reason"] == "OPERATION_DENIED"

    # The host takes the pantry out of the inventory: the guest's reach ends at once.
    await api.data(
        "prairie-admin",
        "mutation($i: InventoryItemsInput!) { removeInventoryItems(input: $i) { inventory { id } } }",
        {"i": {"inventoryId": inventory, "recordIds": [gid("Organization", EASTSIDE_ORG)]}},
    )
    body = await api.gql(
        guest,
        mutation("updateService", "__typename"),
        {"input": {"id": gid("Service", FOOD_BOXES), "version": 3, "alert": "x"}},
    )
    assert codes(body) == ["NOT_FOUND"]
    async with api.database.read_session() as session:
        boxes = await session.get(Service, FOOD_BOXES)
    assert boxes is not None and boxes.alert is None and boxes.wait_time == "Same day"


# fmt: off
BAD_INPUTS: list[tuple[str, dict[str, Any], str, str]] = [
    # mutation, input (ids filled in below), reason, field
    ("createOrganization", {"name": "x", "description": "x", "email": "not-an-email"}, "INVALID_EMAIL", "email"),
    ("createOrganization", {"name": "x", "description": "x", "website": "northside.org"}, "INVALID_URI", "website"),
    ("createOrganization", {"name": "x", "description": "x", "yearIncorporated": 3020}, "INVALID_YEAR", "yearIncorporated"),
    ("createOrganization", {"name": "  ", "description": "x"}, "REQUIRED_FIELD", "name"),
    ("createOrganization", {"name": "x", "description": "x", "taxId": "9" * 65}, "TOO_LONG", "taxId"),
    ("createService", {"organizationId": "ORG", "name": "x", "minimumAge": 18, "maximumAge": 12}, "AGE_RANGE", "minimumAge"),
    ("createService", {"organizationId": "ORG", "name": "x", "minimumAge": -1}, "INVALID_AGE", "minimumAge"),
    ("createService", {"organizationId": "ORG", "name": "x", "url": "https://"}, "INVALID_URI", "url"),
    ("updateService", {"id": "SERVICE", "version": 1, "name": None}, "REQUIRED_FIELD", "name"),
    ("updateService", {"id": "SERVICE", "version": 1, "minimumAge": 99, "maximumAge": 50}, "AGE_RANGE", "minimumAge"),
    ("createLocation", {"organizationId": "ORG", "latitude": 41.6}, "INCOMPLETE_COORDINATES", "latitude"),
    ("createLocation", {"organizationId": "ORG", "latitude": 91, "longitude": 0}, "INVALID_COORDINATE", "latitude"),
    ("createPhone", {"serviceId": "SERVICE", "number": " "}, "REQUIRED_FIELD", "number"),
    ("createPhone", {"serviceId": "SERVICE", "number": "call us!"}, "INVALID_PHONE_NUMBER", "number"),
    ("createPhone", {"serviceId": "SERVICE", "number": "515-555-0100", "extension": "ext 4"}, "INVALID_EXTENSION", "extension"),
    ("createPhone", {"serviceId": "SERVICE", "number": "515-555-0100", "type": "landline"}, "INVALID_ENUM", "type"),
    ("createPhone", {"serviceId": "SERVICE", "locationId": "LOCATION", "number": "515-555-0100"}, "ONE_PARENT", "organizationId"),
    ("createPhone", {"number": "515-555-0100"}, "ONE_PARENT", "organizationId"),
    ("createSchedule", {"serviceId": "SERVICE", "freq": "DAILY"}, "INVALID_ENUM", "freq"),
    ("createSchedule", {"serviceId": "SERVICE", "freq": "WEEKLY", "byday": "MON,TUE"}, "INVALID_BYDAY", "byday"),
    ("createSchedule", {"serviceId": "SERVICE", "freq": "WEEKLY", "byday": "2MO"}, "INVALID_BYDAY", "byday"),
    ("createSchedule", {"serviceId": "SERVICE", "freq": "MONTHLY", "bymonthday": "1,32"}, "INVALID_BYMONTHDAY", "bymonthday"),
    ("createSchedule", {"serviceId": "SERVICE", "opensAt": "9am"}, "INVALID_TIME", "opensAt"),
    ("createSchedule", {"serviceId": "SERVICE", "interval": 0}, "INVALID_INTERVAL", "interval"),
    ("createSchedule", {"serviceId": "SERVICE", "timezone": "Mars/Olympus"}, "INVALID_TIMEZONE", "timezone"),
    ("createSchedule", {"serviceId": "SERVICE", "validFrom": "2026-05-01", "validTo": "2026-04-01"}, "DATE_RANGE", "validFrom"),
    ("createServiceAtLocation", {"serviceId": "SERVICE", "locationId": "LOCATION"}, "ALREADY_EXISTS", ""),
    ("createService", {"organizationId": "ORG", "name": "x", "programId": "HARBOR_PROGRAM"}, "OTHER_ORGANIZATION", "programId"),
]
# fmt: on


async def test_bad_input_names_the_field_and_writes_nothing(write_api: Api) -> None:
    api = write_api
    ids = {
        "ORG": gid("Organization", EASTSIDE_ORG),
        "SERVICE": gid("Service", FOOD_BOXES),
        "LOCATION": gid("Location", EASTSIDE_MAIN),
        "HARBOR_PROGRAM": gid("Program", demo_id("program", "harbor-rrh")),
    }
    before = {
        model: await count(api, model)
        for model in (Event, DirectoryChange, Organization, Service, Phone, Schedule)
    }
    for name, raw, reason, field in BAD_INPUTS:
        given = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in raw.items()}
        body = await api.gql("prairie-admin", mutation(name, "__typename"), {"input": given})
        extensions = refusal(body)
        expected_code = "CONFLICT" if reason == "ALREADY_EXISTS" else "BAD_USER_INPUT"
        assert (extensions["code"], extensions["reason"]) == (expected_code, reason), (
            name,
            raw,
            body,
        )
        if field:
            assert extensions["field"] == field, (name, raw, body)
            assert field in body["errors"][0]["message"]
    after = {model: await count(api, model) for model in before}
    assert after == before


UPDATE_ORG = mutation("updateOrganization", "organization { name version }")


async def test_stale_versions_conflict_and_retries_return_the_first_result(write_api: Api) -> None:
    api, admin = write_api, "prairie-admin"
    org = gid("Organization", EASTSIDE_ORG)
    events = await count(api, Event)
    first = {
        "id": org,
        "version": 1,
        "name": "Eastside Food Pantry & Market",
        "idempotencyKey": "rename-1",
    }
    done = await api.data(admin, UPDATE_ORG, {"input": first})
    assert done["updateOrganization"]["organization"] == {
        "name": "Eastside Food Pantry & Market",
        "version": 2,
    }
    # The same retry (say the response was lost) answers the same and writes nothing more.
    again = await api.data(admin, UPDATE_ORG, {"input": first})
    assert again == done
    assert await count(api, Event) == events + 1
    assert await count(api, DirectoryChange, DirectoryChange.resource_id == EASTSIDE_ORG) == 1
    # The key with another input is refused; so is a change made from a stale read.
    reused = await api.gql(admin, UPDATE_ORG, {"input": {**first, "name": "Other"}})
    assert refusal(reused)["reason"] == "IDEMPOTENCY_KEY_REUSED"
    stale = await api.gql(
        admin, UPDATE_ORG, {"input": {"id": org, "version": 1, "name": "Lost update"}}
    )
    extensions = refusal(stale)
    assert (extensions["code"], extensions["reason"], extensions["currentVersion"]) == (
        "CONFLICT",
        "VERSION_MISMATCH",
        2,
    )
    stale_delete = await api.gql(
        admin,
        mutation("deletePhone", "deletedId"),
        {
            "input": {
                "id": gid("Phone", demo_id("phone", "service:eastside-food-boxes")),
                "version": 7,
            }
        },
    )
    assert refusal(stale_delete)["reason"] == "VERSION_MISMATCH"

    # A create retried with its key makes one record.
    create = {
        "serviceId": gid("Service", FOOD_BOXES),
        "number": "515-555-0199",
        "idempotencyKey": "phone-1",
    }
    one = await run(api, admin, "createPhone", "phone { id }", create)
    two = await run(api, admin, "createPhone", "phone { id }", create)
    assert one == two
    assert await count(api, Phone, Phone.number == "515-555-0199") == 1
    offered = {
        "serviceId": gid("Service", FOOD_BOXES),
        "locationId": gid("Location", demo_id("location", "eastside-stmark")),
        "idempotencyKey": "offer-1",
    }
    first_offer = await run(
        api, admin, "createServiceAtLocation", "serviceAtLocation { id }", offered
    )
    assert first_offer == await run(
        api, admin, "createServiceAtLocation", "serviceAtLocation { id }", offered
    )
    body = await api.gql(
        admin,
        mutation("createServiceAtLocation", "__typename"),
        {"input": {**offered, "idempotencyKey": "offer-2"}},
    )
    assert refusal(body)["reason"] == "ALREADY_EXISTS"
    # Unchanged values change nothing: no new version, history or event.
    same = await api.data(
        admin,
        UPDATE_ORG,
        {"input": {"id": org, "version": 2, "name": "Eastside Food Pantry & Market"}},
    )
    assert same["updateOrganization"]["organization"]["version"] == 2
    assert await count(api, Event) == events + 3


async def test_without_an_agreement_no_one_edits_another_tenants_directory(write_api: Api) -> None:
    api = write_api
    service = gid("Service", FOOD_BOXES)
    attempts = [
        ("updateService", {"id": service, "version": 1, "alert": "x"}),
        ("createPhone", {"serviceId": service, "number": "308-555-0100"}),
        ("deactivateService", {"id": service, "version": 1}),
        (
            "deletePhone",
            {"id": gid("Phone", demo_id("phone", "service:eastside-food-boxes")), "version": 1},
        ),
    ]
    expected = {
        # reads Prairie's directory, may write none of it
        "riverbend-admin": "NOT_FOUND",
        # roles without directory operations, at home or elsewhere
        "riverbend-call-taker": "FORBIDDEN",
        "prairie-call-taker": "FORBIDDEN",
        "eastside-portal": "FORBIDDEN",
    }
    for who, code in expected.items():
        for name, input in attempts:
            body = await api.gql(who, mutation(name, "__typename"), {"input": input})
            assert codes(body) == [code], (who, name, body)
    body = await api.gql(
        "riverbend-admin",
        mutation("createOrganization", "__typename"),
        {"input": {"tenantId": gid("Tenant", PRAIRIE), "name": "x", "description": "x"}},
    )
    assert codes(body) == ["FORBIDDEN"]
    body = await api.gql(
        "riverbend-admin",
        mutation("addTaxonomyLink", "__typename"),
        {"input": {"recordId": service, "taxonomyTermId": gid("TaxonomyTerm", SOUP_KITCHENS)}},
    )
    assert codes(body) == ["NOT_FOUND"]
    async with api.database.read_session() as session:
        boxes = await session.get(Service, FOOD_BOXES)
        links = await session.scalar(
            select(func.count()).select_from(Attribute).where(Attribute.link_id == FOOD_BOXES)
        )
    assert boxes is not None and boxes.version == 1 and boxes.alert is None and links == 1


HISTORY = "query($n: Int) { services(first: $n) { edges { node { name version history { fieldName changedAt } } } } }"


async def test_history_over_many_records_is_batched(
    api: Api, count_statements: StatementCounter
) -> None:
    await api.data("prairie-admin", HISTORY, {"n": 2})
    count_statements.statements.clear()
    await api.data("prairie-admin", HISTORY, {"n": 2})
    few = count_statements.count
    count_statements.statements.clear()
    data = await api.data("prairie-admin", HISTORY, {"n": 40})
    assert len(data["services"]["edges"]) > 20
    assert count_statements.count == few


async def test_history_never_shows_a_field_the_reader_may_not_read(write_api: Api) -> None:
    api = write_api
    _, key = await add_tenant_with_admin(api.database, "Northwoods 211", "northwoods-admin")
    tenant = (await api.data(key, "{ viewer { tenant { id } } }"))["viewer"]["tenant"]["id"]
    agreements = (await api.data("prairie-admin", "{ sharingAgreements { id name } }"))[
        "sharingAgreements"
    ]
    public = next(a["id"] for a in agreements if a["name"] == "Public directory")
    await api.data(
        "prairie-admin",
        "mutation($id: ID!) { revokeSharingAgreement(id: $id) { agreement { id } } }",
        {"id": public},
    )
    await api.data(
        "prairie-admin",
        "mutation($i: SharingAgreementInput!) { createSharingAgreement(input: $i) { agreement { id } } }",
        {
            "i": {
                "name": "Names and their history",
                "purpose": "information and referral",
                "granteeKind": "TENANT",
                "granteeTenantId": tenant,
                "actions": ["read"],
                "fields": ["Service.name", "Service.history", "DirectoryChange.*"],
            }
        },
    )
    await run(
        api,
        "prairie-admin",
        "updateService",
        "service { version }",
        {
            "id": gid("Service", FOOD_BOXES),
            "version": 1,
            "name": "Emergency food boxes",
            "email": "boxes@eastside.example.org",
        },
    )
    body = await api.gql(
        key,
        "query($id: ID!) { service(id: $id) { name email history { fieldName replacementValue } } }",
        {"id": gid("Service", FOOD_BOXES)},
    )
    seen = body["data"]["service"]
    assert seen["name"] == "Emergency food boxes" and seen["email"] is None
    assert seen["history"] == [{"fieldName": "name", "replacementValue": "Emergency food boxes"}]
    owner = await api.data(
        "prairie-admin",
        "query($id: ID!) { service(id: $id) { history { fieldName } } }",
        {"id": gid("Service", FOOD_BOXES)},
    )
    assert {h["fieldName"] for h in owner["service"]["history"]} == {"name", "email"}


async def test_a_location_takes_taxonomy_links_too(write_api: Api) -> None:
    api = write_api
    location = gid("Location", EASTSIDE_MAIN)
    read = "query($id: ID!) { location(id: $id) { version taxonomyTerms { code } } }"
    before = (await api.data("prairie-admin", read, {"id": location}))["location"]
    await run(
        api,
        "prairie-admin",
        "addTaxonomyLink",
        "taxonomyTerm { code }",
        {
            "recordId": location,
            "taxonomyTermId": gid("TaxonomyTerm", FOOD_PANTRIES),
            "version": before["version"],
        },
    )
    after = (await api.data("prairie-admin", read, {"id": location}))["location"]
    assert "BD-1800.2000" in {t["code"] for t in after["taxonomyTerms"]}
    assert after["version"] == before["version"] + 1
    assert [r.field_name for r in await history_rows(api, EASTSIDE_MAIN)][:1] == ["taxonomy_terms"]
