"""Parse and validation caches that keep only small documents.

Dashboards send the same small documents again and again; those are worth caching. A large
document (close to the token limit) is rarely repeated, and caching a hundred of them keeps
millions of AST nodes alive, which every full garbage collection then walks while the event
loop waits (measured: 1.2-1.6 s per collection with 128 cached 5,000-token documents).
"""

from __future__ import annotations

import weakref
from functools import lru_cache
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

# Larger documents are parsed and validated afresh each time (a few ms at most).
MAX_CACHED_CHARS = 4_096
CACHED_DOCUMENTS = 128

# A small document's text is the same object's key each time it comes: compiled reads
# (graph/compiled/selection.py) keep what they worked out beside the parsed document.
_parse = lru_cache(maxsize=CACHED_DOCUMENTS)(parse)


@lru_cache(maxsize=CACHED_DOCUMENTS)
def _validated(
    schema: GraphQLSchema,
    query: str,
    parse_options: tuple[tuple[str, Any], ...],
    rules: tuple[type[ASTValidationRule], ...],
) -> list[GraphQLError]:
    """Keyed by the document's text, not the parsed document: hashing and comparing a parsed
    document walks all of it (~10 us each for a small one, on every request)."""
    return validate_document(schema, _parse(query, **dict(parse_options)), rules)


# What was worked out from a parsed document, kept while the document lives. Keyed by its
# identity (graphql-core hashes and compares a document by walking all of it); a finalizer
# drops the entry with the document the parse cache let go, so nothing keyed by its nodes' ids
# outlives them.
_BESIDE: dict[int, dict[str, Any]] = {}


def _forget(key: int) -> None:
    _BESIDE.pop(key, None)


def beside(document: DocumentNode) -> dict[str, Any]:
    """A dict kept beside ``document`` for as long as it lives."""
    found = _BESIDE.get(id(document))
    if found is None:
        found = _BESIDE[id(document)] = {}
        weakref.finalize(document, _forget, id(document))
    return found


def _small(query: str | None) -> bool:
    return query is not None and len(query) <= MAX_CACHED_CHARS


def parse_document(context: ExecutionContext) -> None:
    """The request's document, from the cache when it is small."""
    parser = _parse if _small(context.query) else parse
    context.graphql_document = parser(context.query or "", **context.parse_options)


def validate(context: ExecutionContext) -> None:
    """The document's validation errors, from the cache when it is small."""
    if context.graphql_document is None:
        return
    schema = context.schema._schema
    rules = tuple(context.validation_rules)
    if _small(context.query):
        options = tuple(sorted(context.parse_options.items()))
        errors = _validated(schema, context.query or "", options, rules)
    else:
        errors = validate_document(schema, context.graphql_document, rules)
    context.pre_execution_errors = errors
