"""The policy version: bumped in the same transaction as every change to who may see what."""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.models import Instance

POLICY_CHANNEL = "sharegraph_policy"


async def bump(session: AsyncSession) -> int:
    """Increment the version; on PostgreSQL also NOTIFY (delivered when the transaction commits)."""
    result = await session.execute(
        update(Instance)
        .where(Instance.id == 1)
        .values(policy_version=Instance.policy_version + 1)
        .returning(Instance.policy_version)
    )
    version = int(result.scalar_one())
    if session.bind is not None and session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"NOTIFY {POLICY_CHANNEL}, '{version}'"))
    return version


async def current(session: AsyncSession) -> int:
    return int(await session.scalar(select(Instance.policy_version).where(Instance.id == 1)) or 0)
