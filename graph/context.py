"""What every resolver gets: the principal, its access plan, one session, the loaders."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.fastapi import BaseContext
from strawberry.types import Info as StrawberryInfo

from sharegraph.authz.disclosure import Disclosure
from sharegraph.authz.plan import AccessPlan
from sharegraph.authz.principal import Principal
from sharegraph.authz.store import PolicyStore
from sharegraph.datastore.audit import AuditCollector
from sharegraph.datastore.engine import Database
from sharegraph.datastore.rls import RlsScope
from sharegraph.graph.relay import CursorCodec
from sharegraph.settings import Settings

if TYPE_CHECKING:
    from sharegraph.graph.loaders import Loaders


@dataclass
class RequestContext(BaseContext):  # strawberry's router sets request/response on it
    settings: Settings
    database: Database
    session: AsyncSession
    principal: Principal
    plan: AccessPlan
    cursors: CursorCodec
    audit: AuditCollector
    policies: PolicyStore
    rls: RlsScope | None = None
    loaders: Loaders = field(init=False)
    # What may leave, for reads: the one seam every resolver asks.
    disclosure: Disclosure = field(init=False)
    # coordinate -> path of its first denied occurrence
    denied: dict[str, list[str | int]] = field(default_factory=dict)
    # set when 42 CFR Part 2 answers left the owner organization in this response
    part2_disclosed: bool = False
    # One AsyncSession cannot run two statements at once; resolvers and loader batches that
    # run concurrently take turns on it.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Sibling fields graphql-core left settling after a synchronous error (graph/settle.py).
    settling: set[asyncio.Future[Any]] = field(default_factory=set)

    def __post_init__(self) -> None:
        from sharegraph.graph.loaders import Loaders

        self.loaders = Loaders(self)
        self.disclosure = Disclosure(self.plan)

    @property
    def dialect(self) -> str:
        return self.database.dialect

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        async with self.lock:
            yield self.session

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """One write transaction, bounded by the plan's tenants on PostgreSQL (RLS)."""
        async with self.database.write_session(rls=self.rls) as session:
            yield session

    async def see_own_writes(self) -> None:
        """End the request's read transaction, which may predate a write this request just
        committed (SQLite WAL keeps its snapshot), so what resolves next reads the write."""
        async with self.db() as session:
            # Rows the loaders already hold stay readable: a rollback would expire them, and
            # an expired attribute cannot load itself again under asyncio.
            session.expunge_all()
            await session.rollback()

    def deny(self, coordinate: str, path: list[str | int], owner: uuid.UUID | None) -> None:
        # One error per coordinate, at the first of its paths in a fixed order (not the order
        # fields happened to resolve in: the resolvers and compiled reads report the same
        # one); one audit entry per (owner, coordinate) (the collector de-duplicates), so each
        # owner's trail shows what was refused on its data.
        known = self.denied.get(coordinate)
        if known is None or path_order(path) < path_order(known):
            self.denied[coordinate] = path
        self.audit.denied(owner, coordinate, "FORBIDDEN_FIELD")


def path_order(path: list[str | int]) -> tuple[tuple[int, int, str], ...]:
    """Response paths in a fixed order: list indexes by number, keys by name, prefixes first."""
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in path)


Info = StrawberryInfo[RequestContext, Any]
