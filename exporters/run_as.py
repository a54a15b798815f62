"""The access plan an export job or a scheduled delivery runs under, compiled when it runs.

The principal is loaded again and its plan compiled from the current policy snapshot at every
run, exactly as for a request: a role revoked, an agreement ended or a principal disabled since
the export was asked for or scheduled is honoured (the export gets less, or is refused).
"""

from __future__ import annotations

import uuid

from sharegraph.authz.authenticate import load_principal
from sharegraph.authz.plan import AccessPlan
from sharegraph.authz.store import PolicyStore
from sharegraph.datastore.engine import Database
from sharegraph.errors import Forbidden


class RunAs:
    """Plans for the principals exports run as; one policy snapshot per database, reloaded
    (a cheap version check) before each plan."""

    def __init__(self) -> None:
        self._db: Database | None = None
        self._store: PolicyStore | None = None

    async def plan(self, db: Database, principal_id: uuid.UUID) -> AccessPlan:
        if self._store is None or self._db is not db:
            self._db, self._store = db, PolicyStore(db)
        await self._store.reload()
        async with db.read_session() as session:
            principal = await load_principal(session, principal_id)
        if principal is None:
            raise Forbidden(
                "the principal this export runs as is disabled or gone", reason="PRINCIPAL_DISABLED"
            )
        return self._store.plan_for(principal)
