"""Sibling fields never outlive their request (graph/settle.py): not when an async sibling
fails, and not when a synchronous resolver's error bubbles while async siblings are running."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import strawberry

from sharegraph.graph import settle


@dataclass
class Context:
    finished: list[str] = field(default_factory=list)
    settling: set[asyncio.Future[Any]] = field(default_factory=set)


@strawberry.type
class Query:
    @strawberry.field
    async def slow(self, info: strawberry.Info[Context, None]) -> int | None:
        await asyncio.sleep(0.05)
        info.context.finished.append("slow")
        return 1

    @strawberry.field
    def boom(self) -> int:
        raise ValueError("refused at once")


async def test_a_synchronous_failure_leaves_no_sibling_running_after_the_answer() -> None:
    settle.install()
    schema = strawberry.Schema(query=Query)
    context = Context()
    result = await schema.execute("{ slow boom }", context_value=context)
    assert result.errors and "refused at once" in result.errors[0].message
    assert context.finished == []  # graphql-core returned with `slow` still running
    assert context.settling, "the running sibling is handed to the request"
    await settle.settled(context)
    assert context.finished == ["slow"] and not context.settling
