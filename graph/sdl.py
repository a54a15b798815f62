"""The schema as SDL, committed as ``schema.graphql`` at the repository root.

The file is printed by graphql-core from the schema the app builds, with types, fields and
arguments sorted by name (so parallel changes merge as separate hunks). It is the reviewable
record of the API: a test fails when it differs from the running schema, and another when the
running schema breaks a client of the committed one (graphql-core's ``find_breaking_changes``)
unless that change is listed in ``schema-breaking-changes.txt`` on purpose.
"""

from __future__ import annotations

from graphql import (
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
    lexicographic_sort_schema,
    print_schema,
)

from sharegraph.graph.schema import build_schema as build_app_schema
from sharegraph.settings import Settings

SDL_FILE = "schema.graphql"
INTENTIONAL_FILE = "schema-breaking-changes.txt"
REGENERATE = "sharegraph schema --write"


def running_schema() -> GraphQLSchema:
    """The schema the app serves with default settings (settings change no type or field)."""
    return build_app_schema(Settings())._schema


def printed_sdl(schema: GraphQLSchema | None = None) -> str:
    # Sorted once rebuilt from its own SDL: sorting strawberry's types directly loses the
    # Python enums its default values need to print.
    unsorted = print_schema(schema or running_schema())
    return print_schema(lexicographic_sort_schema(build_schema(unsorted))) + "\n"


def breaking_changes(committed_sdl: str, schema: GraphQLSchema | None = None) -> list[str]:
    """How the running schema would break a client written against ``committed_sdl``, one
    graphql-core description per change (``Field Query.foo was removed.``)."""
    old = build_schema(committed_sdl)
    return sorted(c.description for c in find_breaking_changes(old, schema or running_schema()))


def intentional(text: str) -> set[str]:
    """The changes listed as intentional: one description per line; ``#`` starts a comment."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return {line for line in lines if line}


def unintended_breaking_changes(
    committed_sdl: str, intentional_text: str, schema: GraphQLSchema | None = None
) -> list[str]:
    allowed = intentional(intentional_text)
    return [c for c in breaking_changes(committed_sdl, schema) if c not in allowed]
