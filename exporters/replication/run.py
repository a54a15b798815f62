"""One replication pass, and ``--follow``: the loop that keeps a target in sync.

A pass is **full** on the first run, after the sharing rules changed (policy version), and
when the last full pass is older than ``reconcile_every``; otherwise **incremental** from the
checkpoint. Every page is written to the target in one transaction together with its
checkpoint (incremental) or with its pass marker and the pass's progress (full; the checkpoint
moves only when the full pass ends), so a crash anywhere leaves a target that the next run
brings to the same result, and a full pass that stopped (crash, kill, time budget) continues
after its last committed page instead of starting again. Each page is recorded as a
disclosure in the audit trail before it is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection

from sharegraph.authz.disclosure import Disclosure
from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.datastore import policy_version
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import ReplicationStatus
from sharegraph.datastore.relay import START, Cursor, EventRelay, head, read_after
from sharegraph.exporters.contact_records import ExportedRecord, ExportFilter
from sharegraph.exporters.disclosures import DisclosureLog
from sharegraph.exporters.replication import contact_records as cr
from sharegraph.exporters.replication import related as rel
from sharegraph.exporters.replication import resources as rs
from sharegraph.exporters.replication import target as t
from sharegraph.exporters.resources import service_batches
from sharegraph.exporters.run_as import RunAs

PAGE_SIZE = 1000
EVENT_PAGE = 500
RECONCILE_EVERY = timedelta(hours=1)
# A first copy stopped (crash, kill, time budget) continues from its page checkpoint within
# this; an older one starts again (the outbox it would catch up from may have been pruned).
RESUME_WITHIN = timedelta(hours=24)


@dataclass(frozen=True)
class PassResult:
    what: str
    full: bool
    rows_written: int
    rows_deleted: int
    events: int
    seconds: float
    lag_seconds: float  # how far behind the target was when the pass began
    cursor: Cursor
    policy_version: int
    pages: int = 0  # target transactions this run wrote
    resumed_rows: int = 0  # a resumed first copy: rows the interrupted run(s) already wrote
    complete: bool = True  # False: a full pass stopped at its time budget, to be resumed

    @property
    def rows_per_second(self) -> float:
        return self.rows_written / self.seconds if self.seconds > 0 else 0.0

    def document(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "mode": "full" if self.full else "incremental",
            "rowsWritten": self.rows_written,
            "rowsDeleted": self.rows_deleted,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "rowsPerSecond": round(self.rows_per_second, 1),
            "lagSeconds": round(self.lag_seconds, 3),
            "cursor": {"xid": self.cursor.xid, "position": self.cursor.position},
            "policyVersion": self.policy_version,
            "pages": self.pages,
            "resumedRows": self.resumed_rows,
            "complete": self.complete,
        }


def _now() -> datetime:
    return datetime.now(UTC)


class Replicator:
    """Replicates what ``principal_id`` may read into ``target``."""

    def __init__(
        self,
        db: Database,
        target: t.Target,
        principal_id: uuid.UUID,
        *,
        page_size: int = PAGE_SIZE,
        reconcile_every: timedelta = RECONCILE_EVERY,
        after_page: Callable[[int], None] | None = None,
        resume_within: timedelta = RESUME_WITHIN,
    ) -> None:
        self.db = db
        self.target = target
        self.principal_id = principal_id
        self.page_size = page_size
        self.reconcile_every = reconcile_every
        self.after_page = after_page  # tests: raise here to simulate a crash after N pages
        self.resume_within = resume_within
        self._pages = 0
        self._run_as = RunAs()

    async def _plan(self) -> tuple[int, AccessPlan]:
        # The version first: a change between the two makes the next pass a full one.
        async with self.db.read_session() as session:
            version = await policy_version.current(session)
        return version, await self._run_as.plan(self.db, self.principal_id)

    def _log(self, plan: AccessPlan, what: str = cr.WHAT) -> DisclosureLog:
        principal = plan.principal
        recipient = (
            f"tenant:{principal.tenant_id}"
            if principal.tenant_id
            else f"partner:{principal.partner_organization_id}"
        )
        return DisclosureLog(
            recipient=recipient,
            principal_id=self.principal_id,
            purpose="replication",
            detail={
                "channel": "replication",
                "what": what,
                "target": self.target.display,
                "asPrincipal": principal.name,
            },
        )

    async def _page_written(
        self,
        plan: AccessPlan,
        records: list[ExportedRecord],
        work: Callable[[Connection], Any],
        related: Sequence[tuple[str, uuid.UUID, uuid.UUID, Iterable[str]]] = (),
    ) -> None:
        if records or related:  # on record before the target has it
            log = self._log(plan)
            for record in records:
                log.record(record.owner, cr.RECORD_TYPE, record.id, record.coordinates)
            for type_name, owner, row_id, coordinates in related:
                log.record(owner, type_name, row_id, coordinates)
            await log.write(self.db)
        await self.target.run(work)
        self._pages += 1
        if self.after_page is not None:
            self.after_page(self._pages)

    # -- contact records ------------------------------------------------------------------------
    async def contact_records(
        self, *, full: bool = False, budget_seconds: float | None = None
    ) -> PassResult:
        """One pass. ``budget_seconds``: a full pass stops after the page that exceeds it
        (``complete`` False) and the next call continues it from its page checkpoint."""
        await self.target.prepare()
        version, plan = await self._plan()

        def read(c: Connection) -> tuple[t.Checkpoint | None, t.Progress | None]:
            return (
                t.read_checkpoint(c, self.principal_id, cr.WHAT),
                t.read_progress(c, self.principal_id, cr.WHAT),
            )

        point, under_way = await self.target.run(read)
        if under_way is not None and (
            under_way.policy_version != version
            or _now() - under_way.started_at >= self.resume_within
        ):
            under_way = None  # written under other rules, or too old: start again
        if (
            full
            or under_way is not None  # a first copy (or reconcile) stopped mid-way: finish it
            or point is None
            or point.policy_version != version
            or _now() - point.reconciled_at >= self.reconcile_every
        ):
            result = await self._full(plan, version, point, under_way, budget_seconds)
            return await self._record(result) if result.complete else result
        return await self._record(await self._incremental(plan, point))

    async def _record(self, result: PassResult) -> PassResult:
        """Where this target stands, for ``replicationStatus`` (sharegraph's database)."""
        key = (self.principal_id, result.what, self.target.display)
        values = {
            "mode": "full" if result.full else "incremental",
            "cursor_position": result.cursor.position,
            "policy_version": result.policy_version,
            "rows_written": result.rows_written,
            "rows_deleted": result.rows_deleted,
            "events": result.events,
            "rows_per_second": result.rows_per_second,
            "lag_seconds": result.lag_seconds,
            "passed_at": _now(),
        }
        async with self.db.write_session() as session:
            row = await session.get(ReplicationStatus, key)
            if row is None:
                session.add(
                    ReplicationStatus(principal_id=key[0], what=key[1], target=key[2], **values)
                )
            else:
                for name, value in values.items():
                    setattr(row, name, value)
        return result

    async def _full(
        self,
        plan: AccessPlan,
        version: int,
        point: t.Checkpoint | None,
        under_way: t.Progress | None,
        budget_seconds: float | None,
    ) -> PassResult:
        """Every readable record, then its clients, referrals and outcomes, in keyset pages.
        Each page is written with the pass's progress (phase and keyset position) in one target
        transaction, so a rerun after a crash continues after the last committed page, under
        the same pass id and from the same outbox position; rows are swept and the checkpoint
        moves only when every phase is done."""
        began = time.monotonic()
        access = Disclosure(plan, Action.READ)
        async with self.db.read_session() as session:
            lag = await _lag(session, point)
            if under_way is None:
                cursor = await head(session)  # events after it are applied by the next pass
            else:
                cursor = Cursor(under_way.cursor_xid, under_way.cursor_position)
        now = _now()
        state = under_way or t.Progress(
            principal_id=self.principal_id,
            what=cr.WHAT,
            pass_id=uuid.uuid4().hex,
            policy_version=version,
            cursor_xid=cursor.xid,
            cursor_position=cursor.position,
            phase=cr.WHAT,
            after_started_at=None,
            after_id=None,
            rows_written=0,
            pages=0,
            seconds=0.0,
            started_at=now,
            updated_at=now,
        )
        earlier_rows, earlier_pages, earlier_seconds = (
            state.rows_written,
            state.pages,
            state.seconds,
        )
        phases = [cr.WHAT, *(kind.type_name for kind in rel.KINDS)]
        first_phase = phases.index(state.phase) if state.phase in phases else 0
        pass_id = state.pass_id
        written = pages = 0

        def moved(phase: str, after: tuple[datetime | None, str]) -> t.Progress:
            return replace(
                state,
                phase=phase,
                after_started_at=after[0],
                after_id=after[1],
                rows_written=earlier_rows + written,
                pages=earlier_pages + pages,
                seconds=earlier_seconds + (time.monotonic() - began),
                updated_at=_now(),
            )

        def spent() -> bool:
            return budget_seconds is not None and time.monotonic() - began >= budget_seconds

        stopped = False
        async with self.db.read_session(rls=plan.rls_scope()) as session:
            if not self.db.is_sqlite:
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            if first_phase == 0:
                records = cr.stream(session, access, self.page_size)
                layout = await records.layout()
                after = None
                if state.after_id is not None and state.after_started_at is not None:
                    after = (state.after_started_at, uuid.UUID(state.after_id))
                async with contextlib.aclosing(records.batches(layout, after)) as batches:
                    async for batch in batches:
                        rows, needs = cr.target_rows(batch, pass_id)
                        assert records.position is not None
                        written += len(rows)
                        pages += 1
                        at = records.position
                        state = moved(cr.WHAT, (at[0], str(at[1])))

                        def page(c: Connection, r: Any = rows, n: Any = needs,
                                 p: t.Progress = state) -> None:  # fmt: skip
                            cr.write(c, r, n)
                            t.write_progress(c, p)

                        await self._page_written(plan, batch, page)
                        if spent():
                            stopped = True
                            break
            for index, kind in enumerate(rel.KINDS, start=1):
                if stopped or index < first_phase:
                    continue
                after_id = None
                if index == first_phase and state.after_id is not None:
                    after_id = uuid.UUID(state.after_id)
                found_pages = rel.batches(
                    session, access, kind, pass_id, self.page_size, after=after_id
                )
                async with contextlib.aclosing(found_pages) as related_pages:
                    async for found, disclosed in related_pages:
                        written += len(found)
                        pages += 1
                        state = moved(kind.type_name, (None, found[-1]["id"]))

                        def related_page(c: Connection, k: Any = kind, f: Any = found,
                                         p: t.Progress = state) -> None:  # fmt: skip
                            rel.write(c, k.table, f, [])
                            t.write_progress(c, p)

                        named = [(kind.type_name, *d) for d in disclosed]
                        await self._page_written(plan, [], related_page, named)
                        if spent():
                            stopped = True
                            break
        seconds = time.monotonic() - began
        if stopped:
            return PassResult(cr.WHAT, True, written, 0, 0, seconds, lag, cursor, version,
                              pages, earlier_rows, complete=False)  # fmt: skip
        done = _now()
        total_rows = earlier_rows + written
        total_seconds = earlier_seconds + seconds
        finished = t.Checkpoint(
            principal_id=self.principal_id,
            what=cr.WHAT,
            cursor_xid=cursor.xid,
            cursor_position=cursor.position,
            policy_version=version,
            reconciled_at=done,
            updated_at=done,
            rows_written=total_rows,
            rows_per_second=int(total_rows / total_seconds) if total_seconds > 0 else 0,
            lag_seconds=int(lag),
        )

        def end(connection: Connection) -> int:
            removed = cr.sweep(connection, pass_id) + rel.sweep(connection, pass_id)
            t.write_checkpoint(connection, finished)
            t.end_progress(connection, self.principal_id, cr.WHAT)
            return removed

        removed = await self.target.run(end)
        return PassResult(cr.WHAT, True, written, removed, 0, seconds, lag, cursor, version,
                          pages, earlier_rows)  # fmt: skip

    # -- resources ------------------------------------------------------------------------------
    async def resources(self, *, full: bool = False) -> PassResult:
        await self.target.prepare()
        version, plan = await self._plan()
        point = await self.target.run(lambda c: t.read_checkpoint(c, self.principal_id, rs.WHAT))
        began = time.monotonic()
        async with self.db.read_session() as session:
            cursor = await head(session)
            lag = await _lag(session, point)
            events = 0
            due = (
                full
                or point is None
                or point.policy_version != version
                or _now() - point.reconciled_at >= self.reconcile_every
            )
            if not due and point is not None:
                after = Cursor(point.cursor_xid, point.cursor_position)
                while not due:
                    page = await read_after(session, after, EVENT_PAGE)
                    if not page:
                        break
                    events += len(page)
                    due = rs.directory_changed(page)
                    after = page[-1].cursor
        if not due:
            assert point is not None
            moved = replace(point, cursor_xid=cursor.xid, cursor_position=cursor.position,
                            updated_at=_now(), lag_seconds=int(lag))  # fmt: skip
            await self.target.run(lambda c: t.write_checkpoint(c, moved))
            seconds = time.monotonic() - began
            return await self._record(
                PassResult(rs.WHAT, False, 0, 0, events, seconds, lag, cursor, version)
            )
        access = Disclosure(plan, Action.READ)
        pass_id = uuid.uuid4().hex
        written = 0
        async with self.db.read_session(rls=plan.rls_scope()) as session:
            if not self.db.is_sqlite:
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            batches = service_batches(session, access, ExportFilter(), batch_size=self.page_size)
            async for rows, objects in batches:
                tables = rs.target_rows(objects, pass_id)
                owners = {str(r.id): r.tenant_id for r in rows}
                log = self._log(plan, rs.WHAT)
                for obj in objects:
                    owner = owners[obj["id"]]
                    log.count(owner, "Service", access.coordinates("Service", owner))
                await log.write(self.db)

                def write_page(c: Connection, found: Any = tables) -> None:
                    rs.write(c, found)

                await self.target.run(write_page)
                written += sum(len(found) for found in tables.values())
                self._pages += 1
                if self.after_page is not None:
                    self.after_page(self._pages)
        seconds = time.monotonic() - began
        done = _now()
        finished = t.Checkpoint(
            principal_id=self.principal_id,
            what=rs.WHAT,
            cursor_xid=cursor.xid,
            cursor_position=cursor.position,
            policy_version=version,
            reconciled_at=done,
            updated_at=done,
            rows_written=written,
            rows_per_second=int(written / seconds) if seconds > 0 else 0,
            lag_seconds=int(lag),
        )

        def end(connection: Connection) -> int:
            removed = rs.sweep(connection, pass_id)
            t.write_checkpoint(connection, finished)
            return removed

        removed = await self.target.run(end)
        return await self._record(
            PassResult(rs.WHAT, True, written, removed, events, seconds, lag, cursor, version)
        )

    async def _incremental(self, plan: AccessPlan, point: t.Checkpoint) -> PassResult:
        began = time.monotonic()
        access = Disclosure(plan, Action.READ)
        cursor = Cursor(point.cursor_xid, point.cursor_position)
        written = removed = events = 0
        async with self.db.read_session() as session:
            lag = await _lag(session, point)
        while True:
            async with self.db.read_session() as session:
                page = await read_after(session, cursor, EVENT_PAGE)
                if not page:
                    break
                ids = await cr.affected_records(session, page)
                by_type: dict[str, set[uuid.UUID]] = {}
                for event in page:
                    by_type.setdefault(event.record_type, set()).add(event.record_id)
                others = await rel.affected(session, by_type, ids)
            found: list[ExportedRecord] = []
            related: list[tuple[Any, list[dict[str, Any]], list[str]]] = []
            named: list[tuple[str, uuid.UUID, uuid.UUID, Iterable[str]]] = []
            async with self.db.read_session(rls=plan.rls_scope()) as session:
                if ids:
                    records = cr.stream(session, access, self.page_size, sorted(ids))
                    layout = await records.layout()
                    async for batch in records.batches(layout):
                        found += batch
                for kind in rel.KINDS:
                    wanted = others[kind.type_name]
                    if not wanted:
                        continue
                    kept: list[dict[str, Any]] = []
                    async for part, disclosed in rel.batches(
                        session, access, kind, "incremental", self.page_size, sorted(wanted)
                    ):
                        kept += part
                        named += [(kind.type_name, *d) for d in disclosed]
                    left = sorted(str(i) for i in wanted - {uuid.UUID(r["id"]) for r in kept})
                    related.append((kind.table, kept, left))
                    written += len(kept)
                    removed += len(left)
            rows, needs = cr.target_rows(found, "incremental")
            gone = sorted(str(i) for i in ids - {r.id for r in found})
            cursor = page[-1].cursor
            events += len(page)
            written += len(rows)
            removed += len(gone)
            moved = replace(
                point,
                cursor_xid=cursor.xid,
                cursor_position=cursor.position,
                updated_at=_now(),
                lag_seconds=int(lag),
            )

            def work(c: Connection, r: Any = rows, n: Any = needs, g: Any = gone,
                     o: Any = related, p: t.Checkpoint = moved) -> None:  # fmt: skip
                cr.write(c, r, n, g)
                for table, kept, left in o:
                    rel.write(c, table, kept, left)
                t.write_checkpoint(c, p)

            await self._page_written(plan, found, work, named)
        seconds = time.monotonic() - began
        return PassResult(
            cr.WHAT, False, written, removed, events, seconds, lag, cursor, point.policy_version
        )


async def _lag(session: Any, point: t.Checkpoint | None) -> float:
    """Seconds since the oldest event the target does not reflect yet occurred (0: none)."""
    after = START if point is None else Cursor(point.cursor_xid, point.cursor_position)
    first = await read_after(session, after, 1)
    return max(0.0, (_now() - t.utc(first[0].occurred_at)).total_seconds()) if first else 0.0


async def follow_passes(
    replicator: Replicator,
    passes: Callable[[], Any],
    report: Callable[[list[PassResult]], None],
    *,
    idle_seconds: float = 5.0,
) -> None:
    """Run passes for ever: after each, wait for the next committed event (the relay) or
    ``idle_seconds`` (policy changes and the periodic reconcile are noticed then)."""
    relay = EventRelay(replicator.db)
    try:
        while True:
            results: list[PassResult] = await passes()
            report(results)
            cursor = min((r.cursor for r in results), default=None)
            events = cast(AsyncGenerator[Any, None], relay.events(after=cursor))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(anext(events), timeout=idle_seconds)
            await events.aclose()
    finally:
        await relay.stop()
