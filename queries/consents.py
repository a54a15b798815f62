"""Clients' 42 CFR Part 2 consents: read to decide a disclosure, never returned to callers."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.chunks import chunks
from sharegraph.datastore.models import ClientConsent


async def consents_of(
    session: AsyncSession, client_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, list[ClientConsent]]:
    """The consents of a batch of clients, by client."""
    wanted = sorted({c for c in client_ids if c is not None})
    grouped: dict[uuid.UUID, list[ClientConsent]] = {}
    for batch in chunks(wanted):
        found = await session.scalars(
            select(ClientConsent).where(ClientConsent.client_id.in_(batch))
        )
        for consent in found.all():
            grouped.setdefault(consent.client_id, []).append(consent)
    return grouped
