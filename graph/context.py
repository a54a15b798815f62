"""What every resolver gets: the principal, its access plan, one session, the loaders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info as StrawberryInfo

from ..authz.plan import AccessPlan
from ..authz.principal import Principal
from ..datastore.engine import Database
from ..settings import Settings
from .relay import CursorCodec

if TYPE_CHECKING:
    from .loaders import Loaders


@dataclass
class RequestContext:
    settings: Settings
    database: Database
    session: AsyncSession
    principal: Principal
    plan: AccessPlan
    cursors: CursorCodec
    loaders: Loaders = field(init=False)
    # One AsyncSession cannot run two statements at once; resolvers and loader batches that
    # run concurrently take turns on it.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        from .loaders import Loaders

        self.loaders = Loaders(self)

    @property
    def dialect(self) -> str:
        return self.database.dialect

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        async with self.lock:
            yield self.session


Info = StrawberryInfo[RequestContext, Any]
