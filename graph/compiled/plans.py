"""The plan cache: a root field's built statement, kept per access plan and shape.

Building a statement (moving the plan's predicates onto aliases, the masks of every field) costs
far more than running it, so each root field's statement is built once per (access plan core,
backend, root kind, selection shape, arguments that change the SQL) and reused with the values
that do not (the looked-up id, the cursor row's sort values) as bound parameters. The selection
shape is what the document, the operation and the variables' ``@skip``/``@include`` flags
collect to, so the same document with other ids or cursors hits the same entry. A new policy
version or an expired plan gives a new :class:`PlanCore`, hence new entries; old ones age out
of the bounded LRU.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from sharegraph.authz.compiler import PlanCore
from sharegraph.datastore.direct import DirectStatement
from sharegraph.graph.compiled.selection import Part, Shape

SIZE = 512


@dataclass(frozen=True)
class Template:
    """One root field's statement and what finishing its rows needs."""

    core: PlanCore  # kept so a reused id() of a dropped core cannot match
    statement: Any
    shapes: tuple[Shape, ...]  # the node shapes, in statement column order
    masks: dict[int, tuple[bool, ...]]  # Builder.masks for these shapes
    parts: tuple[Part, ...] = ()  # connections: the parts whose node shapes are ``shapes``
    run: DirectStatement = field(init=False)  # ``statement``, to run many times

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", DirectStatement(self.statement))


class PlanCache:
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Hashable, ...], Template] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, core: PlanCore, key: tuple[Hashable, ...]) -> Template | None:
        full = (id(core), *key)
        found = self._entries.get(full)
        if found is None or found.core is not core:
            self.misses += 1
            return None
        self._entries.move_to_end(full)
        self.hits += 1
        return found

    def put(self, key: tuple[Hashable, ...], template: Template) -> None:
        self._entries[(id(template.core), *key)] = template
        self._entries.move_to_end((id(template.core), *key))
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


PLANS = PlanCache()
