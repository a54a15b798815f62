"""Idempotency keys for write-back: a retry with the same key and input returns the first result.

The key row is written in the same transaction as the change it guards, so a failed write leaves
no key behind, and a concurrent retry waits on the unique index until the first one commits.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.models import IdempotencyKey
from sharegraph.errors import BadUserInput, Conflict

MAX_KEY_LENGTH = 255


def request_hash(operation: str, payload: Any) -> str:
    canonical = json.dumps([operation, payload], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(
    session: AsyncSession, principal_id: uuid.UUID, key: str, operation: str, payload: Any
) -> dict[str, Any] | None:
    """Reserve ``key`` for this write, or return the result stored under it by an earlier one.

    ``CONFLICT`` (``IDEMPOTENCY_KEY_REUSED``) when the key was used for another operation or
    another input."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise BadUserInput(
            f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters", reason="BAD_IDEMPOTENCY_KEY"
        )
    digest = request_hash(operation, payload)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = await session.scalar(
        insert(IdempotencyKey)
        .values(
            id=uuid.uuid4(),
            principal_id=principal_id,
            key=key,
            operation=operation,
            request_hash=digest,
        )
        .on_conflict_do_nothing(index_elements=["principal_id", "key"])
        .returning(IdempotencyKey.id)
    )
    if inserted is not None:
        return None
    earlier = await session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.principal_id == principal_id, IdempotencyKey.key == key
        )
    )
    assert earlier is not None  # the conflicting row is committed: the insert waited for it
    if earlier.operation != operation or earlier.request_hash != digest:
        raise Conflict(
            "this idempotency key was already used with a different input; use a new key "
            "for a new change",
            reason="IDEMPOTENCY_KEY_REUSED",
        )
    return earlier.result or {}


async def remember(
    session: AsyncSession, principal_id: uuid.UUID, key: str, result: dict[str, Any]
) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.principal_id == principal_id, IdempotencyKey.key == key)
        .values(result=result)
    )
