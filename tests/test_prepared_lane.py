"""The prepared lane (graph/compiled/extension.py ``answer_prepared``) answers as the full path
would for this request: another principal, purpose, operation name, settings or variables than
the request that prepared the document change nothing but what the full path would change."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from graphql import DocumentNode
from sqlalchemy import text

from sharegraph.datastore.engine import Database
from sharegraph.graph.compiled import extension
from sharegraph.graph.compiled.extension import PREPARED, STATS
from sharegraph.graph.document_cache import CACHED_DOCUMENTS
from sharegraph.settings import Limits, Settings
from sharegraph.web import fairness

from . import test_compiled_reads as compiled_reads_tests
from .conftest import Api, make_api
from .test_compiled_reads import Pair, _audit_between, _body, _global_ids, _last_position
from .test_fairness import terminate

LIST = """query Q($first: Int, $ids: [ID!], $client: Boolean = true) {
  contactRecords(first: $first, filter: {ids: $ids}) {
    edges { cursor node { id channel client @include(if: $client) { firstName } } }
    pageInfo { endCursor hasNextPage } } }"""
NODE = "query N($id: ID!) { node(id: $id) { id ... on ContactRecord { channel } } }"


# The resolvers and the compiled path on one database, as test_compiled_reads pairs them.
pair = compiled_reads_tests.pair


async def compare(
    pair: Pair,
    principal: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    resolvers: Api | None = None,
    compiled: Api | None = None,
) -> dict[str, Any]:
    """The compiled app's body, after checking it and its audit rows against the resolvers'."""
    start = await _last_position(pair.database)
    expected = await (resolvers or pair.resolvers).post(principal, body, headers)
    middle = await _last_position(pair.database)
    got = await (compiled or pair.compiled).post(principal, body, headers)
    assert got.status_code == expected.status_code, got.text[:2000]
    assert json.dumps(_body(got)) == json.dumps(_body(expected)), (principal, body)
    audit_expected = await _audit_between(pair.database, start, middle)
    audit_got = await _audit_between(pair.database, middle, None)
    assert audit_got == audit_expected, (principal, body)
    assert STATS["failed"] == 0
    return _body(got)


async def test_other_principals_purposes_and_names_are_answered_as_the_full_path(
    pair: Pair,
) -> None:
    record = pair.ids["ContactRecord"][0]
    prepare = {"query": LIST, "variables": {"first": 3}}
    await compare(pair, "prairie-admin", prepare)
    prepared = STATS["prepared"]
    for principal in ("eastside-portal", "lakeside-call-taker", "riverbend-api", "prairie-api"):
        for purpose in (None, "treatment", "audit"):
            headers = {"Sharegraph-Purpose": purpose} if purpose else None
            for variables in (
                {"first": 3},
                {"first": 2, "ids": [record], "client": False},
                {"first": 1, "extra": [1, 2, 3]},  # an undeclared variable
                {"first": 1, "ids": pair.ids["ContactRecord"][-3:]},
            ):
                await compare(pair, principal, {"query": LIST, "variables": variables}, headers)
    assert STATS["prepared"] > prepared
    for name in ("Q", None, "R", ""):
        body = {"query": LIST, "variables": {"first": 2}, "operationName": name}
        await compare(pair, "prairie-admin", body)


async def test_node_ids_of_other_types_and_tenants_go_the_full_way_alike(pair: Pair) -> None:
    await compare(
        pair, "prairie-admin", {"query": NODE, "variables": {"id": pair.ids["ContactRecord"][0]}}
    )
    for principal in ("prairie-admin", "lakeside-admin", "harbor-portal"):
        for ids in pair.ids.values():
            for global_id in ids[:2] + ids[-1:]:
                await compare(pair, principal, {"query": NODE, "variables": {"id": global_id}})
        for bad in ("nope", "", "Q29udGFjdFJlY29yZDpub3Q=", 5, None, ["x"]):
            await compare(pair, principal, {"query": NODE, "variables": {"id": bad}})


@pytest.fixture
async def strict(demo_db: Database, keys: dict[str, str]) -> AsyncIterator[tuple[Api, Api]]:
    """Apps with the default apps' schema (same token limit and introspection) but tighter
    limits, compiled reads off and on."""
    limits = Limits(
        max_depth=3, max_aliases=0, max_cost=8, max_list_items=1, max_page_size=2,
        default_page_size=1,
    )  # fmt: skip
    off = Settings(database_url=demo_db.url, compiled_reads=False, limits=limits)
    on = Settings(database_url=demo_db.url, compiled_reads=True, limits=limits)
    async for resolvers in make_api(demo_db, keys, off):
        async for compiled in make_api(demo_db, keys, on):
            yield resolvers, compiled


async def test_documents_prepared_under_other_limits_are_held_to_this_apps(
    pair: Pair, strict: tuple[Api, Api]
) -> None:
    resolvers, compiled = strict
    record = pair.ids["ContactRecord"][0]
    shallow = "query S($first: Int) { contactRecords(first: $first) { edges { node { id } } } }"
    aliased = "query A($id: ID!) { a: node(id: $id) { id } }"
    for query, variables in (
        (LIST, {"first": 3}),
        (LIST, {"first": 1, "ids": [record, record]}),
        (shallow, {"first": 5}),
        (shallow, {}),
        (aliased, {"id": record}),
    ):
        body = {"query": query, "variables": variables}
        await compare(pair, "prairie-admin", body)  # prepared by the default apps
        await compare(pair, "prairie-admin", body, resolvers=resolvers, compiled=compiled)


async def test_prepared_documents_stay_bounded(pair: Pair) -> None:
    record = pair.ids["ContactRecord"][0]
    for i in range(300):
        query = f"query Q{i}($id: ID!) {{ contactRecord(id: $id) {{ id }} }}"
        await pair.compiled.post("prairie-admin", {"query": query, "variables": {"id": record}})
    assert 0 < len(PREPARED) <= 256
    padding = " " * (4_096 - 60)
    near = f"query N($id: ID!) {{ contactRecord(id: $id) {{ id }} }}{padding}"[:4_096]
    over = near + " "
    for query in (near, over, near, over):
        await compare(pair, "prairie-admin", {"query": query, "variables": {"id": record}})
    assert all(len(key[2]) <= 4_096 for key in PREPARED)


@pytest.mark.parametrize("prepared", [False, True])
async def test_a_connection_lost_in_the_lane_is_a_503_as_on_the_full_path(
    pair: Pair,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    prepared: bool,
    backend: str,
) -> None:
    """The connection lost under a compiled read (the lane's, or the extension's on the full
    path) left the session unusable: the resolvers then failed with INTERNAL errors, a 200 with
    a logged incident, instead of the outage's 503 to retry."""
    if backend != "postgresql":
        pytest.skip("terminates a PostgreSQL backend under the request")
    record = pair.ids["ContactRecord"][0]
    query = NODE + (" # prepared" if prepared else " # not prepared")
    body = {"query": query, "variables": {"id": record}}
    if prepared:
        await pair.compiled.post("prairie-admin", body)
        assert any(key[2] == query for key in PREPARED)
    original = extension._answer
    calls: list[int] = []

    async def lose_connection(ec: Any, ctx: Any, *args: Any) -> Any:
        if not calls:
            async with ctx.db() as session:
                pid = await session.scalar(text("SELECT pg_backend_pid()"))
            await terminate(int(pid))
        calls.append(1)
        return await original(ec, ctx, *args)

    monkeypatch.setattr(extension, "_answer", lose_connection)
    failed = STATS["failed"]
    response = await pair.compiled.post("prairie-admin", body)
    assert response.status_code == 503, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["reason"] == "DATABASE_CONNECTION_LOST"
    assert STATS["failed"] == failed
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_the_request_timeout_cuts_the_lane_as_the_full_path(
    demo_db: Database, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(database_url=demo_db.url, limits=Limits(request_timeout_seconds=0.3))
    async for api in make_api(demo_db, keys, settings):
        ids = await _global_ids(demo_db)
        body = {"query": NODE, "variables": {"id": ids["ContactRecord"][0]}}
        answer = (await api.post("prairie-admin", body)).json()
        assert answer["data"]["node"]["id"] == ids["ContactRecord"][0]
        original = extension._answer

        async def slow(*args: Any, original: Any = original) -> Any:
            await asyncio.sleep(5)
            return await original(*args)

        monkeypatch.setattr(extension, "_answer", slow)
        prepared = STATS["prepared"]
        for query in (NODE, NODE + " # not prepared"):
            response = await api.post("prairie-admin", {**body, "query": query})
            assert response.status_code == 200, response.text
            [error] = response.json()["errors"]
            assert error["extensions"]["code"] == "TIMEOUT", error
        monkeypatch.setattr(extension, "_answer", original)
        assert (await api.post("prairie-admin", body)).json() == answer
        assert STATS["prepared"] == prepared + 1


async def test_prepared_documents_live_no_longer_than_the_parse_cache_keeps_them(
    pair: Pair, backend: str
) -> None:
    """A parsed document keeps every token of its text alive (comments too), which each full
    garbage collection walks while the event loop waits (graph/document_cache.py bounds it to
    CACHED_DOCUMENTS); 256 prepared documents of 4,096 characters of comments kept ~3 times the
    parse cache's worth alive (~65 -> ~170 ms per full collection)."""
    record = pair.ids["ContactRecord"][0]
    marker = f"# prepared-lane-memory {backend}"
    for i in range(CACHED_DOCUMENTS * 2):
        query = f"query Q{i}($id: ID!) {{ contactRecord(id: $id) {{ id }} }}\n{marker}\n"
        query = (query + "#\n" * 2_048)[:4_096]
        body = {"query": query, "variables": {"id": record}}
        assert (await pair.compiled.post("prairie-admin", body)).json()["data"]["contactRecord"]
    fairness._small_document.cache_clear()  # its own cache of documents, not the lane's
    gc.collect()
    alive = [
        o
        for o in gc.get_objects()
        if isinstance(o, DocumentNode) and o.loc is not None and marker in o.loc.source.body
    ]
    assert len(alive) <= CACHED_DOCUMENTS


async def test_cursors_of_other_principals_and_huge_variables_go_as_the_full_path(
    pair: Pair,
) -> None:
    query = (
        "query C($after: String) { contactRecords(first: 2, after: $after) {"
        " edges { node { id } } pageInfo { endCursor } } }"
    )
    first = await compare(pair, "prairie-admin", {"query": query, "variables": {}})
    cursor = first["data"]["contactRecords"]["pageInfo"]["endCursor"]
    prepared = STATS["prepared"]
    for principal in ("prairie-admin", "lakeside-admin", "eastside-portal", "riverbend-api"):
        for variables in (
            {"after": cursor},
            {"after": cursor[:-2]},
            {"after": None},
            {"after": "x" * 200_000},
            {"after": None, "unused": "y" * 1_000_000},
        ):
            await compare(pair, principal, {"query": query, "variables": variables})
    assert STATS["prepared"] > prepared


async def test_after_a_policy_change_the_lane_answers_for_the_new_plan(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    from .test_sharing_admin import CREATE, REVOKE, riverbend_regional

    query = (
        "query R { contactRecords(first: 100) { totalCount edges { node { id startedAt"
        " narrative } } } }"
    )
    async for api in make_api(seeded_db, keys, Settings(database_url=seeded_db.url)):
        await api.post("riverbend-admin", {"query": query})  # prepares it

        async def full_and_lane(step: str, api: Api = api) -> dict[str, Any]:
            fresh = {"query": f"{query} # {step}"}  # the same operation, not prepared yet
            start = await _last_position(seeded_db)
            expected = (await api.post("riverbend-admin", fresh)).json()
            middle = await _last_position(seeded_db)
            prepared = STATS["prepared"]
            got = (await api.post("riverbend-admin", {"query": query})).json()
            assert STATS["prepared"] == prepared + 1, step
            assert json.dumps(got) == json.dumps(expected), step
            audit_expected = await _audit_between(seeded_db, start, middle)
            assert await _audit_between(seeded_db, middle, None) == audit_expected, step
            return got

        own = (await full_and_lane("before"))["data"]["contactRecords"]["totalCount"]
        created = await api.gql("prairie-admin", CREATE, {"input": riverbend_regional()})
        agreement = created["data"]["createSharingAgreement"]["agreement"]["id"]
        shared = await full_and_lane("shared")
        assert shared["data"]["contactRecords"]["totalCount"] > own
        assert [e["extensions"]["coordinate"] for e in shared["errors"]] == [
            "ContactRecord.narrative"
        ]
        await api.gql("prairie-admin", REVOKE, {"id": agreement})
        again = await full_and_lane("revoked")
        assert again["data"]["contactRecords"]["totalCount"] == own
