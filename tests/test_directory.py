"""Directory lists: search rules, filters and keyset pagination, on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import Service

from .builders import Network, directory_network, names
from .conftest import Api, make_api
from .queries import SERVICE_SEARCH


@pytest.fixture
async def network(migrated_db: Database) -> Network:
    return await directory_network(migrated_db)


@pytest.fixture
async def dir_api(migrated_db: Database, network: Network) -> AsyncIterator[Api]:
    async for api in make_api(migrated_db, network.keys):
        yield api


async def search(api: Api, **variables: Any) -> dict[str, Any]:
    return await api.data("test-admin", SERVICE_SEARCH, variables)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pantry", ["Emergency Food Pantry", "Pantry Plus Delivery"]),  # case-insensitive word
        ("PAN", ["Emergency Food Pantry", "Pantry Plus Delivery"]),  # prefix
        ("food pantry", ["Emergency Food Pantry"]),  # every word must match
        ("groceries", ["Emergency Food Pantry"]),  # description is searched
        ("crisis", ["Crisis Counseling"]),
        ("médico", ["Café Médico"]),  # accents are kept, not folded
        ("rent", ["Rapid Re-Housing"]),  # prefix of "Rental"
        ("zzz", []),
    ],
)
async def test_search_matching_rules_are_the_same_on_both_backends(
    dir_api: Api, query: str, expected: list[str]
) -> None:
    data = await search(dir_api, filter={"search": query})
    assert names(data) == expected
    assert data["services"]["totalCount"] == len(expected)


async def test_search_sees_rows_written_by_any_path_at_once(
    dir_api: Api, migrated_db: Database, network: Network
) -> None:
    async with migrated_db.write_session() as session:
        await session.execute(
            update(Service)
            .where(Service.id == network.ids["Legal Aid Clinic"])
            .values(name="Tenant Rights Hotline")
        )
    assert names(await search(dir_api, filter={"search": "hotline"})) == ["Tenant Rights Hotline"]
    assert names(await search(dir_api, filter={"search": "legal"})) == []


async def test_search_without_words_is_refused(dir_api: Api) -> None:
    body = await dir_api.gql("test-admin", SERVICE_SEARCH, {"filter": {"search": "  *** "}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_filters_by_taxonomy_term_organization_distance_and_modification(
    dir_api: Api, network: Network
) -> None:
    from sharegraph.graph.relay import to_global_id

    food = to_global_id("TaxonomyTerm", network.ids["food"])
    assert names(await search(dir_api, filter={"taxonomyTermIds": [food]})) == [
        "Emergency Food Pantry",
        "Pantry Plus Delivery",
    ]
    near = {"latitude": 41.60, "longitude": -93.60, "radiusKm": 3}
    assert names(await search(dir_api, filter={"near": near})) == [
        "Café Médico",
        "Crisis Counseling",
        "Emergency Food Pantry",
        "Pantry Plus Delivery",
    ]
    near_and_food = await search(
        dir_api, filter={"near": {**near, "radiusKm": 1}, "taxonomyTermIds": [food]}
    )
    assert names(near_and_food) == ["Emergency Food Pantry"]
    org = to_global_id("Organization", network.ids["org"])
    assert len(names(await search(dir_api, filter={"organizationId": org}))) == 6
    recent = await search(dir_api, filter={"modifiedAfter": "2026-01-04T12:00:00Z"})
    assert names(recent) == ["Café Médico", "Crisis Counseling"]


@pytest.mark.parametrize("sort", ["NAME_ASC", "NAME_DESC", "UPDATED_AT_ASC", "UPDATED_AT_DESC"])
async def test_keyset_pages_cover_every_row_once(dir_api: Api, sort: str) -> None:
    seen: list[str] = []
    after = None
    while True:
        data = await search(dir_api, first=2, after=after, sort=sort)
        seen += names(data)
        info = data["services"]["pageInfo"]
        assert info["hasPreviousPage"] == (after is not None)
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert len(seen) == len(set(seen)) == 6
    everything = names(await search(dir_api, first=100, sort=sort))
    assert seen == everything
    if sort == "NAME_ASC":
        # Byte order on both backends, whatever the server's locale.
        assert everything == sorted(everything, key=lambda n: n.encode())


async def test_bad_cursors_and_page_sizes_get_actionable_errors(dir_api: Api) -> None:
    data = await search(dir_api, first=2)
    cursor = data["services"]["pageInfo"]["endCursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for variables in (
        {"after": tampered},
        {"after": "not a cursor"},
        {"after": cursor, "sort": "UPDATED_AT_DESC"},
        {"first": 101},
        {"first": -1},
        {"filter": {"organizationId": "bogus"}},
        {"filter": {"near": {"latitude": 91, "longitude": 0, "radiusKm": 1}}},
    ):
        body = await dir_api.gql("test-admin", SERVICE_SEARCH, variables)
        assert body["data"] is None or body["data"]["services"] is None
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", variables


async def test_cursors_do_not_carry_row_values(dir_api: Api) -> None:
    import base64

    data = await search(dir_api, first=1)
    cursor = data["services"]["edges"][0]["cursor"]
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b"Caf" not in raw and b"2026" not in raw
