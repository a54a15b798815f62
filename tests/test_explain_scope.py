"""`explainAccess` and `effectivePermissions` answer only about principals the caller
administers, and refuse everyone else exactly as `principal(id:)` does, so they cannot tell
another tenant's admin who exists in Prairie 211 or what roles they hold."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from sharegraph.datastore.models import Principal
from sharegraph.graph.relay import to_global_id

from .conftest import Api

PRINCIPAL = "query($p: ID!) { principal(id: $p) { name } }"
EXPLAIN = """
query($p: ID!) { explainAccess(principalId: $p, coordinate: "Client.phone") { allowed reason roles } }
"""
EFFECTIVE = "query($p: ID!) { effectivePermissions(principalId: $p) { typeName field action } }"


async def _principal_id(api: Api, name: str) -> str:
    async with api.database.read_session() as session:
        found = await session.scalar(select(Principal.id).where(Principal.name == name))
    assert found is not None
    return to_global_id("Principal", found)


def refusal(body: dict[str, Any]) -> tuple[Any, str, str | None, str]:
    """What a refused caller learns: data, code, reason and message."""
    (error,) = body["errors"]
    return (
        body["data"],
        error["extensions"]["code"],
        error["extensions"].get("reason"),
        error["message"],
    )


async def _answers(api: Api, caller: str, subject: str) -> dict[str, dict[str, Any]]:
    return {
        name: await api.gql(caller, query, {"p": subject})
        for name, query in (
            ("principal", PRINCIPAL),
            ("explain", EXPLAIN),
            ("effective", EFFECTIVE),
        )
    }


@pytest.mark.parametrize("subject", ["prairie-call-taker", "prairie-admin", "eastside-portal"])
async def test_another_tenants_admin_learns_nothing_about_prairies_principals(
    api: Api, subject: str
) -> None:
    # eastside-portal is a partner principal managed by Prairie, whose directory lists it.
    answers = await _answers(api, "lakeside-admin", await _principal_id(api, subject))
    unknown = await _answers(api, "lakeside-admin", to_global_id("Principal", uuid.uuid4()))
    expected = refusal(answers["principal"])
    assert expected[1:3] == ("NOT_FOUND", "UNKNOWN_PRINCIPAL")
    for name in ("explain", "effective"):
        assert refusal(answers[name]) == (None, *expected[1:]), (name, answers[name])
        # ... word for word what a principal that does not exist gets.
        assert refusal(unknown[name]) == refusal(answers[name])
    assert "call-taker" not in str(answers) and "tenant-admin" not in str(answers)


@pytest.mark.parametrize("caller", ["eastside-portal", "prairie-call-taker", "prairie-api"])
async def test_a_caller_who_administers_no_one_is_refused_as_principal_is(
    api: Api, caller: str
) -> None:
    for subject in ("prairie-call-taker", "eastside-portal", caller):
        answers = await _answers(api, caller, await _principal_id(api, subject))
        expected = refusal(answers["principal"])
        assert expected[1:3] == ("FORBIDDEN", "NOT_TENANT_ADMIN")
        for name in ("explain", "effective"):
            assert refusal(answers[name]) == (None, *expected[1:]), (name, answers[name])


async def test_prairies_admin_still_explains_its_staff_and_its_partners(api: Api) -> None:
    for subject, roles in (
        ("prairie-call-taker", ["call-taker"]),
        ("eastside-portal", ["portal-user"]),
    ):
        principal_id = await _principal_id(api, subject)
        explained = (await api.data("prairie-admin", EXPLAIN, {"p": principal_id}))["explainAccess"]
        assert explained["roles"] == roles and explained["allowed"] is True, explained
        effective = await api.data("prairie-admin", EFFECTIVE, {"p": principal_id})
        assert {"typeName": "Client", "field": "phone", "action": "read"} in effective[
            "effectivePermissions"
        ]


async def test_lakesides_admin_still_explains_its_own_staff(api: Api) -> None:
    principal_id = await _principal_id(api, "lakeside-call-taker")
    explained = (await api.data("lakeside-admin", EXPLAIN, {"p": principal_id}))["explainAccess"]
    assert explained["roles"] == ["call-taker"]


async def test_a_disabled_principal_is_explained_as_having_no_access(write_api: Api) -> None:
    api = write_api
    principal_id = await _principal_id(api, "prairie-call-taker")
    before = (await api.data("prairie-admin", EXPLAIN, {"p": principal_id}))["explainAccess"]
    assert before["allowed"] is True
    async with api.database.write_session() as session:
        await session.execute(
            update(Principal).where(Principal.name == "prairie-call-taker").values(disabled=True)
        )
    # principal(id:) still shows it (disabled), and the explanations say it can do nothing.
    assert (await api.data("prairie-admin", PRINCIPAL, {"p": principal_id}))["principal"]
    explained = (await api.data("prairie-admin", EXPLAIN, {"p": principal_id}))["explainAccess"]
    assert explained["allowed"] is False and "disabled" in explained["reason"]
    effective = await api.data("prairie-admin", EFFECTIVE, {"p": principal_id})
    assert effective["effectivePermissions"] == []
