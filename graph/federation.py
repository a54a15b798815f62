"""`_service { sdl }`: the subgraph's schema, for the router that composes the supergraph.

strawberry.federation.Schema adds its own open `_service` unless the query type has one; this
is ours. While introspection is on the schema is public anyway and anyone may read it. With
introspection off, only principals whose roles allow the `compose` action on `_service`
(authz/role_policy.csv: the api-client role, whose key the router uses) get it; anyone else
gets ``FORBIDDEN`` (``FEDERATION_DENIED``), so the SDL cannot stand in for the introspection
that was turned off. `_entities` is strawberry's and goes through the access plan like any
lookup; :func:`checked_representations` refuses a malformed representation (its item only, with
``BAD_USER_INPUT`` / ``BAD_REPRESENTATION``) before strawberry's resolver sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

import strawberry
from strawberry.printer import print_schema
from strawberry.schema.base import BaseSchema

from sharegraph.authz.plan import Action
from sharegraph.errors import BadUserInput, Forbidden, quote
from sharegraph.graph.context import Info

OPERATION = "_service"
KEYS = frozenset({"__typename", "id"})  # every entity of this subgraph is keyed by its id


@lru_cache(maxsize=8)
def _sdl(schema: BaseSchema) -> str:
    # The schema never changes once built; printing it takes a while (about 60 KB of SDL).
    return print_schema(schema)


@strawberry.type(
    description=(
        "Apollo Federation: this subgraph's schema, for the router that composes the supergraph."
    ),
    name="_Service",
)
class FederationService:
    sdl: str = strawberry.field(
        description=("The subgraph's SDL, with its federation directives (`@key`...).")
    )


@strawberry.type
class FederationQuery:
    @strawberry.field(
        name="_service",
        description=(
            "Apollo Federation: the subgraph's SDL. With introspection "
            "off, only the router's principals (api-client role) may read"
            " it; others get `FORBIDDEN` / `FEDERATION_DENIED`."
        ),
    )
    async def federation_service(self, info: Info) -> FederationService:
        # Async on purpose: when a sync resolver raises in a non-null root field, graphql-core
        # leaves its async siblings running in the background, past the request's session;
        # an async refusal has them cancelled and settled first.
        ctx = info.context
        if not ctx.settings.introspection and not ctx.plan.allows_operation(
            OPERATION, Action.COMPOSE
        ):
            raise Forbidden(
                "the schema is served only to the federation router while introspection is off",
                reason="FEDERATION_DENIED",
                operation=OPERATION,
            )
        return FederationService(sdl=_sdl(info.schema))


def checked_representations(
    representations: Iterable[Any], entity_types: frozenset[str]
) -> Iterator[dict[str, Any] | BadUserInput]:
    """Each representation as a copy strawberry's resolver may change, or the error it gets.

    strawberry's resolver takes ``__typename`` out of each representation, the variable's own
    object: a second ``_entities`` field over the same variable found none and failed whole
    with ``INTERNAL``, as did an unknown type, a missing or extra key, an id that is no text.
    """
    for representation in representations:
        if not isinstance(representation, dict) or set(representation) != KEYS:
            yield BadUserInput(
                "a representation is an object of `__typename` and `id`, nothing else",
                reason="BAD_REPRESENTATION",
            )
        elif (
            # a list or an object is unhashable: no membership test before it is known text
            not isinstance(representation["__typename"], str)
            or representation["__typename"] not in entity_types
        ):
            yield BadUserInput(
                f"{quote(representation['__typename'])} is not an entity type of this subgraph",
                reason="BAD_REPRESENTATION",
            )
        elif not isinstance(representation["id"], str):
            yield BadUserInput("an entity's `id` is a global id, as text", reason="BAD_ID")
        else:
            yield dict(representation)
