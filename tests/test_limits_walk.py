"""One small query must never stop the gateway: limits are decided on the parsed document, with
each fragment measured once, before graphql-core validates it (issue 9, item 1)."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
from graphql import GraphQLSchema, parse, validate

from sharegraph.errors import QueryTooComplex
from sharegraph.graph.limits import (
    OVERLAP_BUDGET_PER_FIELD,
    Measure,
    bounded_overlap_rule,
    enforce,
    measure,
)
from sharegraph.graph.schema import build_schema
from sharegraph.settings import Limits, Settings

from .conftest import Api, make_api
from .queries import CONTACT_RECORDS_NESTED, SERVICE_SEARCH

# Any valid key will do for an attacker; a call taker's is the most common.
CALLER = "riverbend-call-taker"


def fragment_ladder(levels: int) -> str:
    """A kilobyte or two that expands to 2**levels fields: each fragment spreads the one below twice."""
    lines = ["fragment F0 on Viewer { name }"]
    lines += [
        f"fragment F{i} on Viewer {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    ]
    return "\n".join(lines) + f"\n{{ viewer {{ ...F{levels} }} }}"


def first_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body["data"] is None, body
    error: dict[str, Any] = body["errors"][0]
    return error


async def timed(api: Api, query: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    body = await api.gql(CALLER, query)
    return body, time.perf_counter() - started


# -- through the gateway, on both backends ------------------------------------------------------


@pytest.mark.parametrize("levels", [24, 40])
async def test_a_fragment_ladder_is_refused_at_once_and_the_gateway_keeps_answering(
    api: Api, levels: int
) -> None:
    document = fragment_ladder(levels)
    assert len(document) < 2_000

    body, seconds = await timed(api, document)

    error = first_error(body)
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "reason": "FIELDS"}
    assert "fragment F11" in error["message"]  # the first rung past 2,000 fields
    assert seconds < 2.0
    started = time.perf_counter()
    health = await api.http.get("/healthz")
    assert health.status_code == 200
    assert time.perf_counter() - started < 1.0


async def test_a_thousand_typename_aliases_are_too_many_aliases(api: Api) -> None:
    document = "{ " + " ".join(f"a{i}: __typename" for i in range(1000)) + " }"

    body, seconds = await timed(api, document)

    assert first_error(body)["extensions"] == {"code": "QUERY_TOO_COMPLEX", "reason": "ALIASES"}
    assert seconds < 2.0


async def test_cyclic_fragments_get_the_validation_error_not_a_hang(api: Api) -> None:
    document = """
    fragment A on Viewer { name ...B }
    fragment B on Viewer { ...A }
    { viewer { ...A } }
    """

    body, seconds = await timed(api, document)

    error = first_error(body)
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Cannot spread fragment 'A' within itself" in error["message"]
    assert seconds < 2.0


async def test_unknown_fragments_and_fields_keep_graphqls_own_errors(api: Api) -> None:
    unknown_fragment = first_error(await api.gql(CALLER, "{ viewer { ...Nowhere } }"))
    assert unknown_fragment["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Unknown fragment 'Nowhere'" in unknown_fragment["message"]

    document = "fragment V on Viewer { nope { deeper } } { viewer { ...V } }"
    unknown_field = first_error(await api.gql(CALLER, document))
    assert unknown_field["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Cannot query field 'nope'" in unknown_field["message"]


def fragments_of_repeated_names(fragments: int, names: int) -> str:
    """Few pairs inside each fragment, but every pair of fragments compares names x names."""
    body = " ".join(["name"] * names)
    definitions = "\n".join(f"fragment N{i} on Viewer {{ {body} }}" for i in range(fragments))
    spreads = " ".join(f"...N{i}" for i in range(fragments))
    return definitions + f"\n{{ viewer {{ {spreads} }} }}"


async def test_fields_repeated_under_the_token_limit_are_refused_before_they_are_compared(
    api: Api,
) -> None:
    documents = [
        # 2,400 fields: over the field count.
        "{ viewer { " + " ".join(["tenant { name }"] * 1200) + " } }",
        # 300 fields, but ~45,000 pairs of the same name for validation to compare.
        "{ viewer { " + " ".join(["name"] * 300) + " } }",
        # 300 fragments spread together: ~45,000 pairs of fragments.
        "\n".join(f"fragment G{i} on Viewer {{ name tenant {{ name }} }}" for i in range(300))
        + "\n{ viewer { "
        + " ".join(f"...G{i}" for i in range(300))
        + " } }",
        # Passes the walk (~10,000 units), but the fragments' names compare 30 x 30 per pair of
        # fragments: validation stops at its budget.
        fragments_of_repeated_names(12, 30),
    ]
    for document in documents:
        body, seconds = await timed(api, document)
        assert first_error(body)["extensions"] == {"code": "QUERY_TOO_COMPLEX", "reason": "FIELDS"}
        assert seconds < 2.0


async def test_dashboard_queries_still_pass(api: Api) -> None:
    records = await api.data("riverbend-admin", CONTACT_RECORDS_NESTED, {"first": 50})
    assert len(records["contactRecords"]["edges"]) > 0

    with_fragments = """
    fragment Card on Service { id name organization { name } }
    query Dashboard($first: Int) {
      services(first: $first) { totalCount edges { node { ...Card } } }
      viewer { name tenant { name } }
    }
    """
    data = await api.data("prairie-admin", with_fragments, {"first": 20})
    assert data["services"]["edges"][0]["node"]["organization"]["name"]
    search = await api.data("prairie-admin", SERVICE_SEARCH, {"first": 20})
    assert search["services"]["totalCount"] > 0


async def test_a_page_size_from_a_variable_default_counts_towards_the_cost(
    api: Api, keys: dict[str, str]
) -> None:
    settings = Settings(database_url=api.database.url, limits=replace(Limits(), max_cost=500))
    document = """
    query Pages($n: Int = 100) { services(first: $n) { edges { node { name phones { number } } } } }
    """
    async for strict in make_api(api.database, keys, settings):
        body = await strict.gql("prairie-admin", document)
        assert first_error(body)["extensions"]["reason"] == "COST"
        small = await strict.gql("prairie-admin", document, {"n": 5})
        assert "errors" not in small


async def test_a_page_size_sent_as_a_whole_float_counts_like_the_integer(
    api: Api, keys: dict[str, str]
) -> None:
    """GraphQL's Int takes 100.0 as 100: the walk (and the measure it remembers per document)
    must count it so, not as the default page size, or a float multiplies the pages past the
    cost limit unmeasured."""
    settings = Settings(database_url=api.database.url, limits=replace(Limits(), max_cost=500))
    document = """
    query Pages($n: Int) { services(first: $n) { edges { node { name phones { number } } } } }
    """
    async for strict in make_api(api.database, keys, settings):
        small = await strict.gql("prairie-admin", document, {"n": 5.0})
        assert "errors" not in small, small
        body = await strict.gql("prairie-admin", document, {"n": 100.0})
        assert first_error(body)["extensions"]["reason"] == "COST"


# -- the walk itself ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(Settings())._schema


GENEROUS = Limits(max_depth=100, max_aliases=10**6, max_cost=10**12, max_fields=10**12)


def measured(schema: GraphQLSchema, document: str, limits: Limits = GENEROUS) -> Measure:
    return measure(schema, parse(document), None, {}, limits)


PAGE = "fragment Page on Query { services(first: 5) { edges { node { name phones { number } } } } }"


def test_a_fragment_spread_n_times_costs_n_times_its_cost(schema: GraphQLSchema) -> None:
    once = measured(schema, PAGE + "{ ...Page }")
    written_out = measured(
        schema, "{ services(first: 5) { edges { node { name phones { number } } } } }"
    )
    assert once.cost == written_out.cost > 0
    for n in (2, 3, 7):
        spreads = " ".join(["...Page"] * n)
        many = measured(schema, PAGE + "{ " + spreads + " }")
        assert many.cost == n * once.cost
        assert many.fields == n * once.fields
        assert many.depth == once.depth


def test_a_fragment_inside_a_page_is_multiplied_like_its_fields(schema: GraphQLSchema) -> None:
    card = "fragment Card on Service { name phones { number } }"
    with_fragment = measured(schema, card + "{ services(first: 4) { edges { node { ...Card } } } }")
    written_out = measured(
        schema, "{ services(first: 4) { edges { node { name phones { number } } } } }"
    )
    assert with_fragment == written_out


def test_a_ladder_is_measured_exactly_without_expanding_it(schema: GraphQLSchema) -> None:
    ladder = measured(schema, fragment_ladder(36))
    assert ladder.fields == 1 + 2**36  # viewer, then every `name`
    assert ladder.cost == 1 + 2**36
    assert ladder.depth == 2


def test_the_walk_stops_at_the_first_definition_past_a_limit(schema: GraphQLSchema) -> None:
    limits = Limits()
    ladder = measured(schema, fragment_ladder(60), limits)
    assert ladder.definition == "fragment F11"
    assert ladder.fields == 2**11 > limits.max_fields

    deep = "fragment D on Organization { services { organization { services { name } } } }"
    spread_deep = deep + "{ services { edges { node { organization { ...D } } } } }"
    depth = measured(schema, spread_deep, replace(limits, max_depth=5))
    assert (depth.definition, depth.depth) == ("the operation", 8)  # 4 levels, then D's 4


def test_cycles_and_unknown_fragments_measure_as_nothing(schema: GraphQLSchema) -> None:
    cyclic = measured(schema, "fragment A on Viewer { name ...A } { viewer { ...A } }")
    assert cyclic.fields == 2  # viewer, name: the spread closing the cycle adds nothing
    unknown = measured(schema, "{ viewer { name ...Nowhere } }")
    assert unknown.fields == 2


def test_pairs_validation_would_compare_are_counted_before_it_runs(schema: GraphQLSchema) -> None:
    limits = Limits()
    repeated = measured(schema, "{ viewer { " + " ".join(["name"] * 300) + " } }", limits)
    assert repeated.overlaps > limits.max_fields * OVERLAP_BUDGET_PER_FIELD
    with pytest.raises(QueryTooComplex) as refused:
        enforce(repeated, limits)
    assert refused.value.reason == "FIELDS"


def test_validation_stops_at_its_budget_where_the_walk_cannot_see_the_pairs(
    schema: GraphQLSchema,
) -> None:
    limits = Limits()
    document = parse(fragments_of_repeated_names(12, 30))
    enforce(measure(schema, document, None, {}, limits), limits)  # the walk lets it through
    bounded = bounded_overlap_rule(limits.max_fields * OVERLAP_BUDGET_PER_FIELD)
    assert bounded is bounded_overlap_rule(limits.max_fields * OVERLAP_BUDGET_PER_FIELD)
    with pytest.raises(QueryTooComplex) as refused:
        validate(schema, document, [bounded])
    assert refused.value.reason == "FIELDS"
    assert validate(schema, parse(fragments_of_repeated_names(3, 5)), [bounded]) == []


def test_the_field_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHAREGRAPH_MAX_FIELDS", raising=False)
    assert Settings.from_env().limits.max_fields == 2_000
    monkeypatch.setenv("SHAREGRAPH_MAX_FIELDS", "500")
    assert Settings.from_env().limits.max_fields == 500


async def test_large_documents_are_not_kept_in_the_parse_cache(api: Api) -> None:
    """Caching near-limit documents would keep millions of AST nodes alive between requests."""
    from sharegraph.graph.document_cache import _parse as cache

    small = "{ viewer { n" + uuid.uuid4().hex + ": name } }"
    large = "{ viewer { " + " ".join(f"a{i}: name" for i in range(25)) + " " + "name " * 900 + "} }"
    before = cache.cache_info()
    await api.gql("prairie-admin", large)
    after = cache.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)  # never consulted
    await api.gql("prairie-admin", small)
    assert cache.cache_info().misses == before.misses + 1


async def test_large_documents_are_not_kept_in_the_measure_cache(api: Api) -> None:
    """A comment costs no token: a document a few megabytes long passes the token limit, and
    remembering 512 of them by their text would keep gigabytes alive per process."""
    from sharegraph.graph import limits
    from sharegraph.graph.document_cache import MAX_CACHED_CHARS

    small = "{ viewer { n" + uuid.uuid4().hex + ": name } }"
    assert "errors" not in await api.gql("prairie-admin", small)
    remembered = [key for cache in limits._MEASURES.values() for key in cache]
    assert any(key[0] == small for key in remembered), "small documents are remembered"
    query = "# " + "x" * 1_000_000 + "\n{ viewer { n" + uuid.uuid4().hex + ": name } }"
    body = await api.gql("prairie-admin", query)
    assert "errors" not in body, body
    remembered = [key for cache in limits._MEASURES.values() for key in cache]
    assert all(len(key[0]) <= MAX_CACHED_CHARS for key in remembered)
    # Nor small documents sent with thousands of variables they do not declare.
    many = {f"v{i}_{'y' * 100}": 1 for i in range(10_000)}
    small = "{ viewer { n" + uuid.uuid4().hex + ": name } }"
    body = await api.gql("prairie-admin", small, many)
    assert "errors" not in body, body
    remembered = [key for cache in limits._MEASURES.values() for key in cache]
    assert all(sum(map(len, key[3])) <= MAX_CACHED_CHARS for key in remembered)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"query": "query A { viewer { name } }", "operationName": "B"}, "UNKNOWN_OPERATION"),
        ({"query": "fragment F on Viewer { name }"}, "NO_OPERATION"),
        (
            {"query": "query A { viewer { name } } query C { viewer { uuid } }"},
            "OPERATION_NAME_REQUIRED",
        ),
    ],
)
async def test_the_operation_to_run_must_be_in_the_document(
    api: Api, body: dict[str, Any], reason: str
) -> None:
    response = await api.post("prairie-admin", body)
    assert response.status_code in (200, 400)
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": reason}
    chosen = await api.post(
        "prairie-admin",
        {"query": "query A { viewer { name } } query C { viewer { uuid } }", "operationName": "C"},
    )
    assert list(chosen.json()["data"]["viewer"]) == ["uuid"]
