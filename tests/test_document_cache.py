"""What is remembered per document: validation by the document's text, compiled-read shapes
for as long as the parsed document lives."""

from __future__ import annotations

import gc
import uuid

from graphql import parse

from sharegraph.graph import document_cache
from sharegraph.graph.compiled import selection
from sharegraph.graph.document_cache import MAX_CACHED_CHARS, _validated
from sharegraph.graph.schema import build_schema
from sharegraph.settings import Settings

from .conftest import Api


async def test_validation_is_remembered_by_the_documents_text(api: Api) -> None:
    query = "{ viewer { n" + uuid.uuid4().hex + ": name } }"
    before = _validated.cache_info()
    for _ in range(3):
        assert "errors" not in await api.gql("prairie-admin", query)
    after = _validated.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 2)
    invalid = "{ viewer { n" + uuid.uuid4().hex + ": nope } }"
    for _ in range(2):
        body = await api.gql("prairie-admin", invalid)
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    large = "# " + "x" * MAX_CACHED_CHARS + "\n{ viewer { name } }"
    before = _validated.cache_info()
    assert "errors" not in await api.gql("prairie-admin", large)
    assert _validated.cache_info() == before  # never consulted


def test_a_documents_shapes_go_with_it() -> None:
    schema = build_schema(Settings())._schema  # type: ignore[attr-defined]
    document = parse("query Q($x: Boolean!) { viewer { name @include(if: $x) } }")
    key = id(document)
    memo = selection.document_memo(document, schema, {"x": True})
    assert memo is not None and key in document_cache._BESIDE
    assert selection.document_memo(document, schema, {"x": True}) is memo
    assert selection.document_memo(document, schema, {"x": False}) is not memo
    del document, memo
    gc.collect()
    assert key not in document_cache._BESIDE
