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

from sharegraph.authz.compiler import PlanCore, compile_core
from sharegraph.authz.plan import AccessPlan
from sharegraph.authz.policy import Snapshot, load
from sharegraph.authz.principal import Principal
from sharegraph.datastore.engine import Database
from sharegraph.datastore.listen import listen_forever
from sharegraph.datastore.policy_version import POLICY_CHANNEL, current

log = logging.getLogger("sharegraph.authz")

CHECK_INTERVAL_SECONDS = 1.0


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
        self._reloads: set[asyncio.Task[Snapshot]] = set()

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

    @staticmethod
    def plan_key(principal: Principal) -> tuple[str, frozenset[str]]:
        """What a principal's plan depends on (its home and its roles there): principals with
        the same key get the same plan under one policy version."""
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
        return home, roles

    def plan_for(self, principal: Principal, now: datetime | None = None) -> AccessPlan:
        snapshot = self.snapshot
        now = now or datetime.now(UTC)
        home, roles = self.plan_key(principal)
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
        async def caught_up() -> None:
            await self.reload()  # anything changed while disconnected

        def changed(_channel: str, _payload: str) -> None:
            task = asyncio.create_task(self.reload())
            self._reloads.add(task)
            task.add_done_callback(self._reloads.discard)

        await listen_forever(self.db.url, [POLICY_CHANNEL], changed, caught_up, name="policy store")
