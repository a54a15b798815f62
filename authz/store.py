"""The process's policy snapshot, kept current, and the plan cache.

A policy change takes effect in every gateway process within about a second: on PostgreSQL a
LISTEN connection (reconnecting, and reloading after every reconnect) hears the NOTIFY the
change sends on commit; everywhere, a periodic check of the policy version catches anything a
notification missed (and is all SQLite needs, since its writers share one file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from ..datastore.engine import Database
from ..datastore.policy_version import POLICY_CHANNEL, current
from .compiler import PlanCore, compile_core
from .plan import AccessPlan
from .policy import Snapshot, load
from .principal import Principal

log = logging.getLogger("sharegraph.authz")

CHECK_INTERVAL_SECONDS = 1.0
RECONNECT_DELAY_SECONDS = 1.0


@dataclass(frozen=True)
class _Cached:
    core: PlanCore
    expires_at: datetime | None


class PolicyStore:
    def __init__(self, db: Database, *, check_interval: float = CHECK_INTERVAL_SECONDS) -> None:
        self.db = db
        self.check_interval = check_interval
        self._snapshot: Snapshot | None = None
        self._plans: dict[tuple[str, frozenset[str], int], _Cached] = {}
        self._reload_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            raise RuntimeError("PolicyStore.start() has not run")
        return self._snapshot

    async def start(self) -> None:
        await self.reload()
        self._tasks.append(asyncio.create_task(self._poll(), name="policy-version-check"))
        if self.db.dialect == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen(), name="policy-listen"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def reload(self) -> Snapshot:
        """Build a new snapshot if the stored policy version moved (or none is loaded)."""
        async with self._reload_lock:
            async with self.db.read_session() as session:
                version = await current(session)
                if self._snapshot is not None and self._snapshot.version == version:
                    return self._snapshot
                snapshot = await load(session)
            self._snapshot = snapshot
            self._plans = {k: v for k, v in self._plans.items() if k[2] == snapshot.version}
            log.info("policy snapshot at version %s", snapshot.version)
            return snapshot

    def plan_for(self, principal: Principal, now: datetime | None = None) -> AccessPlan:
        snapshot = self.snapshot
        now = now or datetime.now(UTC)
        home = (
            f"tenant:{principal.tenant_id}"
            if principal.tenant_id
            else f"partner:{principal.partner_organization_id}"
        )
        roles = frozenset(
            grant.role.value
            for grant in principal.roles
            if grant.tenant_id == principal.tenant_id
            and grant.partner_organization_id == principal.partner_organization_id
        )
        key = (home, roles, snapshot.version)
        cached = self._plans.get(key)
        if cached is None or (cached.expires_at is not None and now >= cached.expires_at):
            core = compile_core(
                snapshot,
                home_tenant=principal.tenant_id,
                home_partner=principal.partner_organization_id,
                roles=roles,
                now=now,
            )
            cached = self._plans[key] = _Cached(core, core.expires_at)
        return AccessPlan(principal=principal, core=cached.core)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                await self.reload()
            except Exception:  # the database may be restarting; try again next tick
                log.warning("policy version check failed", exc_info=True)

    async def _listen(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        dsn = (
            make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        while True:
            connection: Any = None
            try:
                connection = await asyncpg.connect(dsn)
                woke = asyncio.Event()
                await connection.add_listener(POLICY_CHANNEL, lambda *_, event=woke: event.set())
                await self.reload()  # anything missed while disconnected
                while not connection.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woke.wait(), timeout=30)
                    if woke.is_set():
                        woke.clear()
                        await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("policy LISTEN connection lost; reconnecting", exc_info=True)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)
