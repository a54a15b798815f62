"""Filters and sorts may only use fields the caller can read on every row they apply to;
anything else would reveal values through which rows match or how they order."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from ..authz.plan import AccessPlan
from ..errors import Forbidden


def require_readable(
    plan: AccessPlan,
    type_name: str,
    fields: Iterable[str],
    owners: Iterable[uuid.UUID] | None = None,
    *,
    use: str,
) -> None:
    for field in fields:
        if field == "id":
            continue  # identity of a visible row is never withheld
        if not plan.readable_everywhere(type_name, field, owners):
            coordinate = f"{type_name}.{field}"
            raise Forbidden(
                f"you may not {use} on {coordinate}: it is not readable on every row you can see",
                reason="FORBIDDEN_" + use.upper(),
                coordinate=coordinate,
            )


def readable_subset(
    plan: AccessPlan,
    type_name: str,
    fields: Iterable[str],
    owners: Iterable[uuid.UUID] | None = None,
) -> list[str]:
    return [f for f in fields if plan.readable_everywhere(type_name, f, owners)]
