"""Admin API: tenant admins create principals, assign roles and issue, rotate and revoke keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from sharegraph.authz.credentials import hash_key
from sharegraph.datastore.models import (
    ApiKey,
    AuditEvent,
    PartnerOrganization,
    Principal,
    RoleAssignment,
    Tenant,
)
from sharegraph.datastore.policy_version import current
from sharegraph.graph.relay import to_global_id
from sharegraph.queries import principals

from .conftest import Api

PRINCIPAL_FIELDS = """
  id uuid name displayName email kind disabled
  tenant { name } partnerOrganization { name }
  roles { role tenant { name } partnerOrganization { name } }
  apiKeys { id prefix label active }
"""

CREATE_PRINCIPAL = f"""
mutation Create($input: CreatePrincipalInput!) {{
  createPrincipal(input: $input) {{ principal {{ {PRINCIPAL_FIELDS} }} }}
}}
"""

CREATE_KEY = """
mutation Key($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    apiKey { id prefix label createdAt expiresAt revokedAt active }
    plaintextKey
    principal { name apiKeys { id } }
  }
}
"""

ROTATE_KEY = """
mutation Rotate($input: RotateApiKeyInput!) {
  rotateApiKey(input: $input) {
    apiKey { id prefix label createdAt expiresAt active }
    plaintextKey
    previousApiKey { id expiresAt active }
  }
}
"""

REVOKE_KEY = """
mutation Revoke($input: RevokeApiKeyInput!) {
  revokeApiKey(input: $input) { apiKey { id revokedAt active } }
}
"""

ASSIGN_ROLE = """
mutation Assign($input: PrincipalRoleInput!) {
  assignRole(input: $input) { principal { name roles { role tenant { name } } } }
}
"""

REVOKE_ROLE = """
mutation RevokeRole($input: PrincipalRoleInput!) {
  revokeRole(input: $input) { principal { name roles { role tenant { name } } } }
}
"""

PRINCIPAL = f"query($id: ID!) {{ principal(id: $id) {{ {PRINCIPAL_FIELDS} }} }}"

PRINCIPALS = """
query($first: Int, $after: String, $partners: Boolean! = false) {
  principals(first: $first, after: $after, includePartnerOrganizations: $partners) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name kind tenant { name } partnerOrganization { name } roles { role } } }
  }
}
"""

VIEWER = "{ viewer { name kind tenant { name } partnerOrganization { name } roles { role } } }"


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def reasons(body: dict[str, Any]) -> list[str | None]:
    return [e["extensions"].get("reason") for e in body.get("errors", [])]


async def _principal_id(api: Api, name: str) -> str:
    async with api.database.read_session() as session:
        found = await session.scalar(select(Principal.id).where(Principal.name == name))
    assert found is not None, name
    return to_global_id("Principal", found)


async def _demo_key_id(api: Api, name: str) -> str:
    async with api.database.read_session() as session:
        found = await session.scalar(
            select(ApiKey.id).join(Principal).where(Principal.name == name)
        )
    assert found is not None, name
    return to_global_id("ApiKey", found)


async def _row_id(api: Api, model: Any, name: str) -> str:
    async with api.database.read_session() as session:
        found = await session.scalar(select(model.id).where(model.name == name))
    assert found is not None, name
    return to_global_id(model.__name__, found)


async def _counts(api: Api) -> dict[str, int]:
    """Rows of what admins change, the admin audit rows and the policy version."""
    async with api.database.read_session() as session:
        counts = {
            model.__name__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Principal, RoleAssignment, ApiKey)
        }
        # Other audit rows (reads, refusals) are written by every request; count ours only.
        counts["admin_audit"] = int(
            await session.scalar(
                select(func.count()).where(AuditEvent.action.in_(principals.ACTIONS))
            )
            or 0
        )
        counts["policy_version"] = await current(session)
    return counts


async def _audit(api: Api, action: str) -> list[AuditEvent]:
    async with api.database.read_session() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.position)
        )
        return list(rows.all())


async def _create_api_client(
    api: Api, admin: str = "prairie-admin", name: str = "prairie-dashboard"
) -> dict[str, Any]:
    data = await api.data(
        admin,
        CREATE_PRINCIPAL,
        {
            "input": {
                "kind": "API_CLIENT",
                "name": name,
                "displayName": "Prairie 211 board dashboard",
                "roles": ["API_CLIENT"],
            }
        },
    )
    principal: dict[str, Any] = data["createPrincipal"]["principal"]
    return principal


async def _create_key(
    api: Api, principal_id: str, admin: str = "prairie-admin", **extra: Any
) -> dict[str, Any]:
    data = await api.data(
        admin, CREATE_KEY, {"input": {"principalId": principal_id, "label": "primary", **extra}}
    )
    created: dict[str, Any] = data["createApiKey"]
    return created


async def _set_expiry(api: Api, key_global_id: str, expires_at: datetime) -> None:
    from sharegraph.graph.relay import from_global_id

    _, key_id = from_global_id(key_global_id, expected="ApiKey")
    async with api.database.write_session() as session:
        await session.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(expires_at=expires_at)
        )
    api.forget_credentials()


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# -- stories ---------------------------------------------------------------------------------


async def test_a_tenant_admin_creates_an_api_client_and_its_key_works_at_once(
    write_api: Api,
) -> None:
    api = write_api
    principal = await _create_api_client(api)
    assert principal["name"] == "prairie-dashboard"
    assert principal["kind"] == "API_CLIENT"
    assert principal["tenant"] == {"name": "Prairie 211"}
    assert principal["partnerOrganization"] is None
    assert principal["roles"] == [
        {"role": "API_CLIENT", "tenant": {"name": "Prairie 211"}, "partnerOrganization": None}
    ]
    assert principal["apiKeys"] == []

    expires = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    created = await _create_key(api, principal["id"], expiresAt=expires)
    assert created["apiKey"]["label"] == "primary"
    assert created["apiKey"]["active"] is True
    assert _parse(created["apiKey"]["expiresAt"]) == _parse(expires)
    assert created["principal"]["apiKeys"] == [{"id": created["apiKey"]["id"]}]

    unused = await api.data(
        "prairie-admin",
        "query($id: ID!) { principal(id: $id) { apiKeys { lastUsedAt } } }",
        {"id": principal["id"]},
    )
    assert unused["principal"]["apiKeys"] == [{"lastUsedAt": None}]
    viewer = (await api.data(created["plaintextKey"], VIEWER))["viewer"]
    used = await api.data(
        "prairie-admin",
        "query($id: ID!) { principal(id: $id) { apiKeys { lastUsedAt } } }",
        {"id": principal["id"]},
    )
    last_used = _parse(used["principal"]["apiKeys"][0]["lastUsedAt"])
    assert datetime.now(UTC) - timedelta(minutes=1) < last_used <= datetime.now(UTC)
    assert viewer == {
        "name": "prairie-dashboard",
        "kind": "API_CLIENT",
        "tenant": {"name": "Prairie 211"},
        "partnerOrganization": None,
        "roles": [{"role": "API_CLIENT"}],
    }
    # The new client reads its tenant's data like the demo's own API client.
    records = await api.data(created["plaintextKey"], "{ contactRecords(first: 1) { totalCount } }")
    demo = await api.data("prairie-api", "{ contactRecords(first: 1) { totalCount } }")
    assert records == demo

    listed = (await api.data("prairie-admin", PRINCIPALS, {"first": 100}))["principals"]
    assert "prairie-dashboard" in {e["node"]["name"] for e in listed["edges"]}
    assert {e["node"]["tenant"]["name"] for e in listed["edges"]} == {"Prairie 211"}
    assert listed["totalCount"] == len(listed["edges"]) == 4


async def test_the_principals_list_pages_by_name(write_api: Api) -> None:
    api = write_api
    first = (await api.data("prairie-admin", PRINCIPALS, {"first": 2}))["principals"]
    rest = (
        await api.data(
            "prairie-admin", PRINCIPALS, {"first": 2, "after": first["pageInfo"]["endCursor"]}
        )
    )["principals"]
    names = [e["node"]["name"] for e in first["edges"] + rest["edges"]]
    assert names == ["prairie-admin", "prairie-api", "prairie-call-taker"]
    assert first["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]

    with_partners = (await api.data("prairie-admin", PRINCIPALS, {"first": 100, "partners": True}))[
        "principals"
    ]
    partner_names = {
        e["node"]["name"]: e["node"]["partnerOrganization"]
        for e in with_partners["edges"]
        if e["node"]["partnerOrganization"]
    }
    # Both partners are listed in Prairie 211's directory, so Prairie's admins manage them.
    assert partner_names == {
        "eastside-portal": {"name": "Eastside Food Pantry"},
        "harbor-portal": {"name": "Harbor Housing"},
    }
    lakeside = (await api.data("lakeside-admin", PRINCIPALS, {"first": 100, "partners": True}))[
        "principals"
    ]
    assert {e["node"]["name"] for e in lakeside["edges"]} == {
        "lakeside-admin",
        "lakeside-api",
        "lakeside-call-taker",
    }


async def test_the_key_is_shown_once_and_stored_hashed(write_api: Api) -> None:
    api = write_api
    principal = await _create_api_client(api)
    created = await _create_key(api, principal["id"])
    plaintext = created["plaintextKey"]
    prefix = created["apiKey"]["prefix"]
    assert plaintext.startswith(f"sg_{prefix}_")

    async with api.database.read_session() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        assert row is not None
        assert row.key_hash == hash_key(plaintext)
        stored = [str(getattr(row, c.key)) for c in ApiKey.__table__.columns]
        assert not any(plaintext in value for value in stored)

    # No field of the schema ever returns it again.
    key_type = await api.data("prairie-admin", '{ __type(name: "ApiKey") { fields { name } } }')
    assert {f["name"] for f in key_type["__type"]["fields"]} == {
        "id",
        "uuid",
        "prefix",
        "label",
        "createdAt",
        "expiresAt",
        "revokedAt",
        "lastUsedAt",
        "active",
    }
    again = await api.data("prairie-admin", PRINCIPAL, {"id": principal["id"]})
    assert plaintext not in str(again)
    assert again["principal"]["apiKeys"] == [
        {"id": created["apiKey"]["id"], "prefix": prefix, "label": "primary", "active": True}
    ]

    # The audit trail names the key by id and prefix, never by its secret or its hash.
    (event,) = await _audit(api, "key.create")
    assert event.detail is not None
    assert event.detail["prefix"] == prefix
    assert plaintext not in str(event.detail) and row.key_hash not in str(event.detail)


async def test_rotating_a_key_keeps_the_old_one_working_during_the_overlap_and_not_after(
    write_api: Api,
) -> None:
    api = write_api
    principal = await _create_api_client(api)
    old = await _create_key(api, principal["id"])
    before = datetime.now(UTC)

    rotated = (
        await api.data(
            "prairie-admin",
            ROTATE_KEY,
            {"input": {"id": old["apiKey"]["id"], "overlapSeconds": 3600}},
        )
    )["rotateApiKey"]
    new_key = rotated["plaintextKey"]
    assert new_key != old["plaintextKey"]
    assert rotated["apiKey"]["label"] == "primary"
    assert rotated["apiKey"]["expiresAt"] is None  # the old key had no expiry either
    assert rotated["previousApiKey"]["id"] == old["apiKey"]["id"]
    assert rotated["previousApiKey"]["active"] is True
    old_expiry = _parse(rotated["previousApiKey"]["expiresAt"])
    assert before + timedelta(minutes=59) < old_expiry <= datetime.now(UTC) + timedelta(hours=1)

    # During the overlap both keys work.
    for key in (old["plaintextKey"], new_key):
        assert (await api.data(key, VIEWER))["viewer"]["name"] == "prairie-dashboard"

    # An hour later (simulated) the old key is refused; the new one still works.
    await _set_expiry(api, old["apiKey"]["id"], datetime.now(UTC) - timedelta(seconds=1))
    body = await api.gql(old["plaintextKey"], VIEWER)
    assert codes(body) == ["UNAUTHENTICATED"] and reasons(body) == ["EXPIRED_CREDENTIALS"]
    assert (await api.data(new_key, VIEWER))["viewer"]["name"] == "prairie-dashboard"

    # An overlap of 0 retires the old key at once.
    again = (
        await api.data(
            "prairie-admin",
            ROTATE_KEY,
            {"input": {"id": rotated["apiKey"]["id"], "overlapSeconds": 0}},
        )
    )["rotateApiKey"]
    assert again["previousApiKey"]["active"] is False
    assert codes(await api.gql(new_key, VIEWER)) == ["UNAUTHENTICATED"]
    assert (await api.data(again["plaintextKey"], VIEWER))["viewer"]["name"] == "prairie-dashboard"

    # An expired key cannot be rotated (create a new one instead).
    body = await api.gql("prairie-admin", ROTATE_KEY, {"input": {"id": old["apiKey"]["id"]}})
    assert codes(body) == ["BAD_USER_INPUT"] and reasons(body) == ["KEY_EXPIRED"]

    events = await _audit(api, "key.rotate")
    assert len(events) == 2
    assert all(e.detail and e.detail["overlap_seconds"] in (3600, 0) for e in events)


async def test_the_overlap_never_extends_a_key_and_the_new_key_keeps_its_lifetime(
    write_api: Api,
) -> None:
    api = write_api
    principal = await _create_api_client(api)
    soon = datetime.now(UTC) + timedelta(minutes=10)
    old = await _create_key(api, principal["id"], expiresAt=soon.isoformat())

    rotated = (await api.data("prairie-admin", ROTATE_KEY, {"input": {"id": old["apiKey"]["id"]}}))[
        "rotateApiKey"
    ]  # default overlap: 24 hours
    assert _parse(rotated["previousApiKey"]["expiresAt"]) == soon
    created = _parse(rotated["apiKey"]["createdAt"])
    lifetime = _parse(rotated["apiKey"]["expiresAt"]) - created
    assert timedelta(minutes=9) < lifetime <= timedelta(minutes=10)


async def test_a_revoked_key_is_refused_with_unauthenticated(write_api: Api) -> None:
    api = write_api
    principal = await _create_api_client(api)
    created = await _create_key(api, principal["id"])
    assert (await api.data(created["plaintextKey"], VIEWER))["viewer"][
        "name"
    ] == "prairie-dashboard"
    version = (await _counts(api))["policy_version"]

    revoked = (
        await api.data("prairie-admin", REVOKE_KEY, {"input": {"id": created["apiKey"]["id"]}})
    )["revokeApiKey"]["apiKey"]
    assert revoked["active"] is False and revoked["revokedAt"] is not None

    body = await api.gql(created["plaintextKey"], VIEWER)
    assert codes(body) == ["UNAUTHENTICATED"] and reasons(body) == ["REVOKED_CREDENTIALS"]
    assert body["data"] is None

    # Revoking again changes nothing: same timestamp, no new audit row, no new policy version.
    again = (
        await api.data("prairie-admin", REVOKE_KEY, {"input": {"id": created["apiKey"]["id"]}})
    )["revokeApiKey"]["apiKey"]
    assert again == revoked
    assert len(await _audit(api, "key.revoke")) == 1
    assert (await _counts(api))["policy_version"] == version + 1

    # A demo key is revoked the same way.
    demo_key = await _demo_key_id(api, "prairie-call-taker")
    await api.data("prairie-admin", REVOKE_KEY, {"input": {"id": demo_key}})
    assert codes(await api.gql("prairie-call-taker", VIEWER)) == ["UNAUTHENTICATED"]


async def test_a_call_taker_cannot_create_principals(write_api: Api) -> None:
    api = write_api
    before = await _counts(api)
    own_key = await _demo_key_id(api, "prairie-call-taker")
    admin_id = await _principal_id(api, "prairie-admin")
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        (CREATE_PRINCIPAL, "prairie-call-taker", {"input": {"kind": "USER", "name": "sneaky"}}),
        (
            ASSIGN_ROLE,
            "prairie-call-taker",
            {"input": {"principalId": admin_id, "role": "CALL_TAKER"}},
        ),
        (CREATE_KEY, "prairie-call-taker", {"input": {"principalId": admin_id}}),
        (ROTATE_KEY, "prairie-call-taker", {"input": {"id": own_key}}),
        (REVOKE_KEY, "prairie-api", {"input": {"id": own_key}}),
        (PRINCIPALS, "prairie-call-taker", {}),
        (PRINCIPAL, "prairie-call-taker", {"id": admin_id}),
        (CREATE_PRINCIPAL, "eastside-portal", {"input": {"kind": "USER", "name": "sneaky"}}),
        (PRINCIPALS, "eastside-portal", {}),
    ]
    for query, who, variables in attempts:
        body = await api.gql(who, query, variables)
        assert codes(body) == ["FORBIDDEN"], (who, query, body)
        assert body["errors"][0]["message"]
    assert await _counts(api) == before


async def test_lakesides_admin_cannot_touch_prairies_principals(write_api: Api) -> None:
    api = write_api
    before = await _counts(api)
    prairie_api = await _principal_id(api, "prairie-api")
    prairie_key = await _demo_key_id(api, "prairie-api")
    eastside = await _principal_id(api, "eastside-portal")
    cases: list[tuple[str, dict[str, Any]]] = [
        (PRINCIPAL, {"id": prairie_api}),
        (PRINCIPAL, {"id": eastside}),  # managed by Prairie, whose directory lists Eastside
        (ASSIGN_ROLE, {"input": {"principalId": prairie_api, "role": "TENANT_ADMIN"}}),
        (REVOKE_ROLE, {"input": {"principalId": prairie_api, "role": "API_CLIENT"}}),
        (CREATE_KEY, {"input": {"principalId": prairie_api}}),
        (ROTATE_KEY, {"input": {"id": prairie_key}}),
        (REVOKE_KEY, {"input": {"id": prairie_key}}),
    ]
    for query, variables in cases:
        body = await api.gql("lakeside-admin", query, variables)
        assert codes(body) == ["NOT_FOUND"], (query, body)
    # Tenants are public, so creating principals in another tenant is plainly forbidden.
    prairie = await _row_id(api, Tenant, "Prairie 211")
    harbor = await _row_id(api, PartnerOrganization, "Harbor Housing")
    for home in ({"tenantId": prairie}, {"partnerOrganizationId": harbor}):
        body = await api.gql(
            "lakeside-admin",
            CREATE_PRINCIPAL,
            {"input": {"kind": "USER", "name": "lakeside-mole", **home}},
        )
        assert codes(body) == ["FORBIDDEN"], body
    assert await _counts(api) == before
    assert (await api.data("prairie-api", VIEWER))["viewer"]["name"] == "prairie-api"


async def test_a_tenant_admin_manages_the_partners_its_directory_lists(write_api: Api) -> None:
    api = write_api
    eastside = await _row_id(api, PartnerOrganization, "Eastside Food Pantry")
    created = (
        await api.data(
            "prairie-admin",
            CREATE_PRINCIPAL,
            {
                "input": {
                    "kind": "USER",
                    "name": "eastside-volunteer",
                    "displayName": "Eastside volunteer",
                    "email": "volunteer@eastside.example",
                    "partnerOrganizationId": eastside,
                    "roles": ["PORTAL_USER"],
                }
            },
        )
    )["createPrincipal"]["principal"]
    assert created["tenant"] is None
    assert created["partnerOrganization"] == {"name": "Eastside Food Pantry"}
    assert created["roles"] == [
        {
            "role": "PORTAL_USER",
            "tenant": None,
            "partnerOrganization": {"name": "Eastside Food Pantry"},
        }
    ]
    key = await _create_key(api, created["id"])
    viewer = (await api.data(key["plaintextKey"], VIEWER))["viewer"]
    assert viewer["partnerOrganization"] == {"name": "Eastside Food Pantry"}
    assert viewer["roles"] == [{"role": "PORTAL_USER"}]

    (event,) = await _audit(api, "principal.create")
    async with api.database.read_session() as session:
        prairie_id = await session.scalar(select(Tenant.id).where(Tenant.name == "Prairie 211"))
    assert event.tenant_id == prairie_id  # the tenant that manages Eastside
    assert event.detail is not None and event.detail["roles"] == ["portal-user"]


async def test_duplicate_names_get_conflict_and_nothing_is_written(write_api: Api) -> None:
    api = write_api
    before = await _counts(api)
    for who, name in [
        ("prairie-admin", "prairie-admin"),
        ("prairie-admin", "Prairie-Admin"),  # names compare case-insensitively
        ("lakeside-admin", "prairie-call-taker"),  # unique across the whole network
    ]:
        body = await api.gql(
            who,
            CREATE_PRINCIPAL,
            {"input": {"kind": "USER", "name": name, "roles": ["CALL_TAKER"]}},
        )
        assert codes(body) == ["CONFLICT"] and reasons(body) == ["NAME_TAKEN"], body
        assert "already exists" in body["errors"][0]["message"]
    assert await _counts(api) == before

    await _create_api_client(api)
    after_one = await _counts(api)
    body = await api.gql(
        "prairie-admin", CREATE_PRINCIPAL, {"input": {"kind": "USER", "name": "prairie-dashboard"}}
    )
    assert codes(body) == ["CONFLICT"]
    assert await _counts(api) == after_one


async def test_a_role_change_bumps_the_policy_version_and_is_audited(write_api: Api) -> None:
    api = write_api
    call_taker = await _principal_id(api, "prairie-call-taker")
    before = await _counts(api)

    assigned = (
        await api.data(
            "prairie-admin",
            ASSIGN_ROLE,
            {"input": {"principalId": call_taker, "role": "TENANT_ADMIN"}},
        )
    )["assignRole"]["principal"]
    assert sorted(r["role"] for r in assigned["roles"]) == ["CALL_TAKER", "TENANT_ADMIN"]
    after = await _counts(api)
    assert after["policy_version"] == before["policy_version"] + 1
    assert after["admin_audit"] == before["admin_audit"] + 1
    # The new role counts from the next request on.
    listed = await api.data("prairie-call-taker", PRINCIPALS, {"first": 1})
    assert listed["principals"]["totalCount"] == 3

    # Assigning a held role again changes nothing.
    await api.data(
        "prairie-admin", ASSIGN_ROLE, {"input": {"principalId": call_taker, "role": "TENANT_ADMIN"}}
    )
    assert await _counts(api) == after

    revoked = (
        await api.data(
            "prairie-admin",
            REVOKE_ROLE,
            {"input": {"principalId": call_taker, "role": "TENANT_ADMIN"}},
        )
    )["revokeRole"]["principal"]
    assert [r["role"] for r in revoked["roles"]] == ["CALL_TAKER"]
    final = await _counts(api)
    assert final["policy_version"] == before["policy_version"] + 2
    assert codes(await api.gql("prairie-call-taker", PRINCIPALS, {"first": 1})) == ["FORBIDDEN"]

    async with api.database.read_session() as session:
        prairie_id = await session.scalar(select(Tenant.id).where(Tenant.name == "Prairie 211"))
        admin_id = await session.scalar(
            select(Principal.id).where(Principal.name == "prairie-admin")
        )
    (assign,) = await _audit(api, "role.assign")
    (revoke,) = await _audit(api, "role.revoke")
    for event, action in ((assign, "role.assign"), (revoke, "role.revoke")):
        assert event.action == action
        assert event.tenant_id == prairie_id
        assert event.principal_id == admin_id
        assert event.record_type == "RoleAssignment"
        assert event.detail is not None
        assert event.detail["principal_name"] == "prairie-call-taker"
        assert event.detail["role"] == "tenant-admin"


async def test_an_admin_cannot_revoke_their_own_last_admin_role(write_api: Api) -> None:
    api = write_api
    admin = await _principal_id(api, "prairie-admin")
    before = await _counts(api)
    body = await api.gql(
        "prairie-admin", REVOKE_ROLE, {"input": {"principalId": admin, "role": "TENANT_ADMIN"}}
    )
    assert codes(body) == ["BAD_USER_INPUT"] and reasons(body) == ["LAST_ADMIN"]
    assert await _counts(api) == before

    # Another admin can take it away.
    second = (
        await api.data(
            "prairie-admin",
            CREATE_PRINCIPAL,
            {"input": {"kind": "USER", "name": "prairie-admin-2", "roles": ["TENANT_ADMIN"]}},
        )
    )["createPrincipal"]["principal"]
    key = await _create_key(api, second["id"])
    await api.data(
        key["plaintextKey"], REVOKE_ROLE, {"input": {"principalId": admin, "role": "TENANT_ADMIN"}}
    )
    assert codes(await api.gql("prairie-admin", PRINCIPALS)) == ["FORBIDDEN"]


BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    (CREATE_PRINCIPAL, {"input": {"kind": "USER", "name": "has a space"}}, "BAD_NAME"),
    (
        CREATE_PRINCIPAL,
        {"input": {"kind": "USER", "name": "jo", "email": "not-an-email"}},
        "BAD_EMAIL",
    ),
    (
        CREATE_PRINCIPAL,
        {"input": {"kind": "USER", "name": "jo", "roles": ["PORTAL_USER"]}},
        "ROLE_DOMAIN",
    ),
    (
        CREATE_PRINCIPAL,
        {
            "input": {
                "kind": "USER",
                "name": "jo",
                "tenantId": "@prairie",
                "partnerOrganizationId": "@eastside",
            }
        },
        "BAD_DOMAIN",
    ),
    (
        ASSIGN_ROLE,
        {"input": {"principalId": "@eastside-portal", "role": "API_CLIENT"}},
        "ROLE_DOMAIN",
    ),
    (
        ASSIGN_ROLE,
        {"input": {"principalId": "@prairie-api", "role": "CALL_TAKER", "tenantId": "@lakeside"}},
        "ROLE_OUTSIDE_HOME",
    ),
    (
        CREATE_KEY,
        {"input": {"principalId": "@prairie-api", "expiresAt": "2001-01-01T00:00:00Z"}},
        "BAD_EXPIRY",
    ),
    (
        CREATE_KEY,
        {"input": {"principalId": "@prairie-api", "expiresAt": "2099-01-01T00:00:00"}},
        "BAD_DATE_TIME",  # no UTC offset: refused by the DateTime scalar itself
    ),
    (
        ROTATE_KEY,
        {"input": {"id": "@key:prairie-api", "overlapSeconds": 31 * 24 * 3600}},
        "BAD_OVERLAP",
    ),
    (ROTATE_KEY, {"input": {"id": "@key:prairie-api", "overlapSeconds": -1}}, "BAD_OVERLAP"),
    (PRINCIPAL, {"id": "@prairie"}, "BAD_ID"),
    (REVOKE_KEY, {"input": {"id": "not-an-id"}}, "BAD_ID"),
]


async def test_bad_input_is_refused_with_a_message(write_api: Api) -> None:
    api = write_api
    references = {
        "@prairie": await _row_id(api, Tenant, "Prairie 211"),
        "@lakeside": await _row_id(api, Tenant, "Lakeside Crisis Line"),
        "@eastside": await _row_id(api, PartnerOrganization, "Eastside Food Pantry"),
        "@eastside-portal": await _principal_id(api, "eastside-portal"),
        "@prairie-api": await _principal_id(api, "prairie-api"),
        "@key:prairie-api": await _demo_key_id(api, "prairie-api"),
    }

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return references.get(value, value) if isinstance(value, str) else value

    before = await _counts(api)
    for query, variables, reason in BAD_INPUTS:
        body = await api.gql("prairie-admin", query, resolve(variables))
        assert codes(body) == ["BAD_USER_INPUT"], (variables, body)
        assert reasons(body) == [reason], (variables, body)
        assert len(body["errors"][0]["message"]) > 10
    assert await _counts(api) == before


async def test_unknown_ids_are_not_found(write_api: Api) -> None:
    api = write_api
    missing_principal = to_global_id("Principal", uuid.uuid4())
    missing_key = to_global_id("ApiKey", uuid.uuid4())
    cases: list[tuple[str, dict[str, Any]]] = [
        (PRINCIPAL, {"id": missing_principal}),
        (CREATE_KEY, {"input": {"principalId": missing_principal}}),
        (REVOKE_KEY, {"input": {"id": missing_key}}),
    ]
    for query, variables in cases:
        assert codes(await api.gql("prairie-admin", query, variables)) == ["NOT_FOUND"]
