"""Form answers, authorized per field key (``ContactRecord.answers.<key>``).

42 CFR Part 2 answers leave the owner organization only under a recorded client consent
naming the recipient and the purpose of the agreement that shares them, unexpired and
unrevoked; such responses carry the redisclosure notice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ...authz.consent import consent_covers
from ...authz.coordinates import answer_coordinate
from ..context import Info
from ..guard import SCOPES_ATTRIBUTE


async def part2_consented(
    info: Info, owner: Any, client_id: Any, agreements: frozenset[str]
) -> bool:
    """Whether Part 2 answers of ``owner``'s client may reach the caller under the agreements
    ``agreements`` (their purposes): always within the owner, else only with consent."""
    ctx = info.context
    if ctx.plan.is_own(owner):
        return True
    if client_id is None:
        return False
    purposes = {ctx.plan.core.purposes[a] for a in agreements if a in ctx.plan.core.purposes}
    consents = await ctx.loaders.consents(client_id)
    now = datetime.now(UTC)
    principal = ctx.principal
    return any(
        consent_covers(c, principal.tenant_id, principal.partner_organization_id, purposes, now)
        for c in consents
    )


async def readable_answers(info: Info, row: Any) -> dict[str, Any]:
    ctx = info.context
    plan = ctx.plan
    owner = row.tenant_id
    keys, agreements = plan.answer_keys(owner, row.__dict__.get(SCOPES_ATTRIBUTE))
    answers: dict[str, Any] = row.answers or {}
    path = [*info.path.as_list()]
    part2 = plan.core.part2_keys.get(owner, frozenset())
    consented = True
    if part2 & keys & answers.keys():
        consented = await part2_consented(info, owner, row.client_id, agreements)
    result: dict[str, Any] = {}
    disclosed_part2 = False
    for key, value in answers.items():
        coordinate = answer_coordinate(key)
        if key in keys and (key not in part2 or consented):
            result[key] = value
            ctx.audit.read("ContactRecord", owner, row.id, coordinate)
            disclosed_part2 = disclosed_part2 or (key in part2 and not plan.is_own(owner))
        else:
            ctx.deny(coordinate, path, owner)
    if disclosed_part2:
        ctx.part2_disclosed = True
    return result
