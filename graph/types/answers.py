"""Form answers, authorized per field key (``ContactRecord.answers.<key>``) by the disclosure
seam (:mod:`sharegraph.authz.disclosure`), with the 42 CFR Part 2 consent rule.
"""

from __future__ import annotations

import uuid
from typing import Any

from sharegraph.authz.disclosure import Disclosure, RowDisclosure, RowFacts
from sharegraph.graph.context import Info
from sharegraph.graph.guard import row_scopes_of


async def client_consents(
    info: Info, disclosure: Disclosure, facts: RowFacts, asked: frozenset[str] | None = None
) -> list[Any]:
    """The record's client's consents, loaded only when the decision needs them."""
    if facts.client_id is None or not disclosure.needs_consent(facts, asked):
        return []
    return await info.context.loaders.consents(facts.client_id)


async def answers_disclosure(
    info: Info, disclosure: Disclosure, row: Any, scopes: frozenset[str] | None
) -> RowDisclosure:
    """What of ``row``'s answers may leave under ``disclosure``."""
    facts = RowFacts.of(row, scopes)
    consents = await client_consents(info, disclosure, facts)
    return disclosure.row("ContactRecord", facts, ("answers",), consents=consents)


async def readable_answers(info: Info, row: Any) -> dict[str, Any]:
    ctx = info.context
    decided = await answers_disclosure(info, ctx.disclosure, row, row_scopes_of(row))
    answers: dict[str, Any] = row.answers or {}
    path = [*info.path.as_list()]
    for key in decided.withheld_answers:
        ctx.deny(f"ContactRecord.answers.{key}", path, row.tenant_id)
    if decided.answers:
        ctx.audit.read_fields(
            "ContactRecord",
            row.tenant_id,
            row.id,
            [f"ContactRecord.answers.{k}" for k in decided.answers],
        )
    if decided.notice:
        ctx.part2_disclosed = True
    return {key: value for key, value in answers.items() if key in decided.answers}


async def part2_write_consented(
    info: Info, owner: uuid.UUID, client_id: uuid.UUID | None, agreements: frozenset[str]
) -> bool:
    """Whether Part 2 answers may move into ``owner``'s record of ``client_id`` through a write
    granted by ``agreements``: always within the owner, else only under the client's consent."""
    disclosure = info.context.disclosure
    if disclosure.is_own(owner):
        return True
    if client_id is None:
        return False
    consents = await info.context.loaders.consents(client_id)
    return disclosure.consent_for(agreements, consents) is not None
