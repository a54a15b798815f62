"""How fast the gateway refuses small adversarial documents (target: a 40-level fragment ladder
in under 50 ms), and what the checks cost a normal query.

    .venv/bin/python -m sharegraph.benchmarks.limits                 # 20 runs per document
    .venv/bin/python -m sharegraph.benchmarks.limits --runs 50 --json

Every document goes through the real schema as a request's does (`graph.schema.build_schema`
with default settings: token limit, parse, the limits walk, validation with the bounded
overlapping-fields rule), with no HTTP and no database: a document that passes the checks
then executes without a request context and fails in its first resolver, which is not timed
apart. Each run appends a different comment, so that ParserCache and ValidationCache never
answer from memory: the figures are cold.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import logging
import statistics
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from graphql import GraphQLError, Lexer, Source, TokenKind, get_introspection_query, parse
from strawberry.extensions import ParserCache, ValidationCache

from sharegraph.benchmarks.run import CONTACT_RECORDS, RESOURCE_SEARCH
from sharegraph.errors import QueryTooComplex
from sharegraph.graph.limits import enforce, measure
from sharegraph.graph.responses import format_error
from sharegraph.graph.schema import Schema, build_schema
from sharegraph.settings import Settings

TARGET_MS = 50.0


def fragment_ladder(levels: int) -> str:
    """`fragment F1 on Viewer { ...F0 ...F0 }` and so on: 2**levels fields once expanded."""
    lines = ["fragment F0 on Viewer { name }"]
    lines += [
        f"fragment F{i} on Viewer {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    ]
    return "\n".join(lines) + f"\n{{ viewer {{ ...F{levels} }} }}"


def fragment_chain(length: int) -> str:
    """`fragment C0 on Viewer { ...C1 }` and so on: longer than Python's recursion limit."""
    lines = [f"fragment C{i} on Viewer {{ ...C{i + 1} }}" for i in range(length)]
    lines.append(f"fragment C{length} on Viewer {{ name }}")
    return "\n".join(lines) + "\n{ viewer { ...C0 } }"


def _repeat(template: str, times: int, sep: str = " ") -> str:
    return sep.join(template.format(i=i) for i in range(times))


def _in_viewer(selections: str) -> str:
    return "{ viewer { " + selections + " } }"


def _spread_fragments(fragments: int, on: str, selection: str, times: int) -> str:
    """Few pairs inside each fragment, but each pair of fragments compares times x times
    fields: the walk cannot count those, validation's budget stops them."""
    body = " ".join([selection] * times)
    definitions = "\n".join(f"fragment N{i} on {on} {{ {body} }}" for i in range(fragments))
    spreads = " ".join(f"...N{i}" for i in range(fragments))
    return definitions + "\n" + (_in_viewer(spreads) if on == "Viewer" else f"{{ {spreads} }}")


DOCUMENTS: list[tuple[str, str]] = [
    ("fragment ladder, 24 levels", fragment_ladder(24)),
    ("fragment ladder, 40 levels", fragment_ladder(40)),
    ("1,000 aliased __typename", "{ " + _repeat("a{i}: __typename", 1000) + " }"),
    (
        "cyclic fragments",
        "fragment A on Viewer { name ...B } fragment B on Viewer { ...A } { viewer { ...A } }",
    ),
    ("chain of 600 fragments", fragment_chain(600)),
    ("`name` 4,990 times", _in_viewer(_repeat("name", 4990))),
    ("`name` 1,900 times", _in_viewer(_repeat("name", 1900))),
    ("`tenant { name }` 1,200 times", _in_viewer(_repeat("tenant {{ name }}", 1200))),
    ("`tenant { name }` 900 times", _in_viewer(_repeat("tenant {{ name }}", 900))),
    ("550 `services(first: 1)`", "{ " + _repeat("services(first: 1) {{ totalCount }}", 550) + " }"),
    (
        "550 `services(first: i % 10)`",
        "{ " + " ".join(f"services(first: {i % 10}) {{ totalCount }}" for i in range(550)) + " }",
    ),
    (
        "300 fragments spread together",
        _repeat("fragment G{i} on Viewer {{ name tenant {{ name }} }}", 300, "\n")
        + "\n"
        + _in_viewer(_repeat("...G{i}", 300)),
    ),
    ("12 spread fragments of 30 `name`", _spread_fragments(12, "Viewer", "name", 30)),
    (
        "12 spread fragments of 30 `services`",
        _spread_fragments(12, "Query", "services(first: 1) { totalCount }", 30),
    ),
    (
        "450 inline fragments",
        _in_viewer(_repeat("... on Viewer {{ name tenant {{ name }} }}", 450)),
    ),
    ("introspection query, executed", get_introspection_query()),
    ("dashboard: contactRecords(first: 100)", CONTACT_RECORDS),
    (
        "dashboard: resource search",
        RESOURCE_SEARCH.replace("($search: String!)", "").replace("$search", '"help"'),
    ),
]


@dataclass
class Figure:
    document: str
    tokens: int
    answer: str
    answered_by: str
    p50_ms: float
    max_ms: float
    parse_p50_ms: float  # graphql-core's parser alone, for comparison


def tokens(document: str) -> int:
    lexer = Lexer(Source(document))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def _answer(
    settings: Settings, schema: Schema, document: str, errors: list[GraphQLError] | None
) -> tuple[str, str]:
    """The answer's code (and reason), and which step gave it."""
    if not errors:
        return "passes", "execution"
    first = errors[0]
    if first.path is not None:
        return "passes the checks", "execution"  # it reached a resolver
    extensions = format_error(first)["extensions"]
    reason = extensions.get("reason")
    answer = f"{extensions['code']}/{reason}" if reason else str(extensions["code"])
    if not isinstance(first.original_error, QueryTooComplex):
        return answer, "validation"
    if reason is None:
        return answer, "parser"  # the token limit
    limits = settings.limits
    try:
        enforce(measure(schema._schema, parse(document), None, {}, limits), limits)
    except QueryTooComplex:
        return answer, "limits walk"
    return answer, "validation budget"


def _forget_documents() -> None:
    """Empties the parse and validation caches (shared by every schema in the process), so
    that one document's leftovers do not lengthen the next one's garbage collections."""
    for cached in (ParserCache().cached_parse_document, ValidationCache().cached_validate_document):
        cast("functools._lru_cache_wrapper[Any]", cached).cache_clear()
    gc.collect()


async def run(schema: Schema, settings: Settings, name: str, document: str, runs: int) -> Figure:
    context = SimpleNamespace(settings=settings)
    times: list[float] = []
    errors: list[GraphQLError] | None = None
    for number in range(runs):
        started = time.perf_counter()
        result = await schema.execute(f"{document}\n# run {number}", {}, context)
        times.append((time.perf_counter() - started) * 1000)
        errors = result.errors
    answer, by = _answer(settings, schema, document, errors)
    parsing: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        parse(document)
        parsing.append((time.perf_counter() - started) * 1000)
    _forget_documents()
    return Figure(
        name,
        tokens(document),
        answer,
        by,
        statistics.median(times),
        max(times),
        statistics.median(parsing),
    )


async def full_collection_ms(schema: Schema, settings: Settings) -> tuple[float, int]:
    """A full garbage collection once ParserCache holds 128 refused 5,000-token documents."""
    document = dict(DOCUMENTS)["`name` 4,990 times"]
    context = SimpleNamespace(settings=settings)
    for number in range(128):
        await schema.execute(f"{document}\n# fill {number}", {}, context)
    started = time.perf_counter()
    gc.collect()
    elapsed = (time.perf_counter() - started) * 1000
    tracked = len(gc.get_objects())
    _forget_documents()
    return elapsed, tracked


async def main(runs: int) -> tuple[list[Figure], tuple[float, int]]:
    settings = Settings()
    schema = build_schema(settings)
    gc.collect()
    gc.freeze()  # as the app does once started: full collections skip the schema's objects
    # Documents that pass the checks fail in their resolvers (no request context): quiet.
    logging.getLogger("sharegraph.graph").setLevel(logging.CRITICAL)
    figures = [await run(schema, settings, name, doc, runs) for name, doc in DOCUMENTS]
    return figures, await full_collection_ms(schema, settings)


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sharegraph.benchmarks.limits",
        description="Time to refuse adversarial GraphQL documents (parse, limits, validation).",
    )
    parser.add_argument("--runs", type=int, default=20, help="runs per document (default 20)")
    parser.add_argument("--json", action="store_true", dest="as_json", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    figures, (collection_ms, tracked) = asyncio.run(main(args.runs))
    ladder = next(f for f in figures if f.document == "fragment ladder, 40 levels")
    if args.as_json:
        report: dict[str, Any] = {
            "runs": args.runs,
            "target_ms": TARGET_MS,
            "ladder_40_met": ladder.p50_ms < TARGET_MS,
            "full_collection_ms_parser_cache_full": collection_ms,
            "objects_tracked_parser_cache_full": tracked,
            "documents": [vars(f) for f in figures],
        }
        print(json.dumps(report, indent=2))
        return
    print(
        f"{'document':38s} {'tokens':>6s}  {'answer':26s} {'by':18s} "
        f"{'p50 ms':>7s} {'max ms':>7s} {'parse':>7s}"
    )
    for f in figures:
        print(
            f"{f.document:38s} {f.tokens:6d}  {f.answer:26s} {f.answered_by:18s} "
            f"{f.p50_ms:7.2f} {f.max_ms:7.2f} {f.parse_p50_ms:7.2f}"
        )
    verdict = "met" if ladder.p50_ms < TARGET_MS else "NOT met"
    print(f"\n40-level ladder refused in {ladder.p50_ms:.2f} ms p50", end="")
    print(f"; target < {TARGET_MS:g} ms: {verdict}")
    print(
        f"A full garbage collection with ParserCache full of 5,000-token documents: "
        f"{collection_ms:.0f} ms ({tracked:,} objects tracked)"
    )


if __name__ == "__main__":
    cli()
