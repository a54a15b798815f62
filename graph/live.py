"""Running subscriptions: from committed events to answers, shared by cohorts.

:meth:`LiveUpdates.start` checks a subscription document the way a query is checked (parse,
validation, depth, cost and alias limits, list limits: one probe execution through the same
schema extensions), then the ``subscribe`` action for the field and the field's own checks
(filters on denied fields, the queue being visible, the resume position).

Subscribers with the same access plan (home and roles: :meth:`PolicyStore.plan_key`), document,
variables and resume position form a *cohort* (Hasura's cohorts), whatever their principal: one
evaluation per event, whose answer goes to every member (encoded once). One dispatcher reads
the event relay for every live cohort and puts each event in the inboxes of the cohorts that
want it (a cohort that falls too far behind, or resumes from a position, reads the relay on
its own).
A subscription gets every event committed after its ``subscribe`` was read: it takes the relay's
position then (:meth:`LiveUpdates.anchor`), before any check; a new cohort is in the
dispatcher's routing from the turn it is created and reads what was routed before from the
table; a member joining a cohort that took events after its position joins at once, gets those
evaluated (and audited) for it first, together with the others joining it then, and the cohort's
answers meanwhile after them.
A field whose answer depends on the principal itself (``followUpChanged(filter:
{assignedToMe})``) keys its cohorts by principal too. The audit rows of an evaluation name every
member's principal (and purpose), in one multi-row insert, before the answer leaves; the members
of an event are those of the cohort when it took the event.
An evaluation runs under the cohort's plan *at that moment* (a narrowed agreement narrows the
next delivery), in a fresh read session with fresh loaders, exactly like a query: the event's
record is loaded through the request loaders (outside the row scopes: not delivered), then the
document is executed with the field's payload as root value, through the same field guard, and
the answer is finished like a query's (``FORBIDDEN_FIELD`` per denied coordinate, the
redisclosure notice, the audit trail flushed before it leaves).

When the policy version moves, every cohort checks again that its principal may still subscribe
and read what the field delivers; if not, its members get a last ``FORBIDDEN`` answer and the
stream ends (within about a second: the policy store's check interval plus ours).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import FragmentDefinitionNode, OperationDefinitionNode, get_operation_ast, parse
from graphql.execution.collect_fields import FragmentDetails, collect_fields
from graphql.execution.values import get_argument_values, get_variable_values
from sqlalchemy import select
from strawberry.types.arguments import convert_arguments
from strawberry.types.graphql import OperationType

from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.authz.principal import Principal
from sharegraph.authz.store import PolicyStore
from sharegraph.datastore.audit import AuditCollector, flush
from sharegraph.datastore.engine import Database
from sharegraph.datastore.relay import START, Cursor, EventRelay, cursor_at
from sharegraph.errors import BadUserInput, ErrorCode, Forbidden, SharegraphError
from sharegraph.graph.context import RequestContext
from sharegraph.graph.relay import CursorCodec
from sharegraph.graph.responses import error_body, format_error, unflushed_body
from sharegraph.graph.schema import Schema
from sharegraph.graph.settle import settled
from sharegraph.graph.subscriptions import FIELDS, PREFILTER_MODELS, Field
from sharegraph.settings import Settings

log = logging.getLogger("sharegraph.live")

SUBSCRIPTION_ONLY = (OperationType.SUBSCRIPTION,)
REVOCATION_CHECK_SECONDS = 0.5
STORED_ROWS = 2_000
EVALUATION_WINDOW = 2  # evaluations of one cohort in flight at once (each holds a session)
# Subscribes checked at once: each holds a database session for its probe and reads, so a burst
# of subscribes queues here instead of exhausting the pool (DATABASE_BUSY).
STARTS_AT_ONCE = 4
# Events a live cohort may have waiting in its inbox; beyond, it reads the relay on its own.
INBOX_EVENTS = 1_000
DISPATCH_BATCH = 500  # events the dispatcher routes together (their stored rows in one read)
_LAGGED = object()

Deliver = Callable[[dict[str, Any] | None], None]  # an answer; None: the stream ended
Answer = tuple[dict[str, Any], frozenset[int]]  # a body and the members it was audited for


class Timings:
    """Where a delivery's time goes, per phase, in milliseconds (the last ``KEPT`` of each):
    ``dispatch`` the event's age (its ``occurred_at``) when the dispatcher takes it from the
    relay, ``relay`` its age when a cohort takes it, ``queued`` from there to its evaluation
    starting (the cohort's window), ``select`` the field's payload read (a pooled connection,
    the plan's RLS scope, the loaders), ``execute`` the document over it, ``flush`` the audit
    rows made durable (after the read session closed), ``evaluation`` the three together,
    ``fanout`` handing one answer to every member; ``gc`` the garbage collector's pauses of
    10 ms or more (web/collector.py). Cheap enough to keep on: two clock reads per phase."""

    KEPT = 20_000

    def __init__(self) -> None:
        self.phases: dict[str, deque[float]] = {}

    def add(self, phase: str, started: float) -> float:
        now = time.perf_counter()
        self.add_value(phase, (now - started) * 1000)
        return now

    def add_value(self, phase: str, milliseconds: float) -> None:
        kept = self.phases.get(phase)
        if kept is None:
            kept = self.phases[phase] = deque(maxlen=self.KEPT)
        kept.append(milliseconds)

    def summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for phase, kept in self.phases.items():
            values = sorted(kept)
            if not values:
                continue
            out[phase] = {
                "count": len(values),
                "p50_ms": round(statistics.median(values), 2),
                "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))], 2),
            }
        return out


class Refused(Exception):
    """The subscription cannot start: these errors go back in the protocol's ``error``."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "refused")
        self.errors = errors


@dataclass
class Subscriber:
    """Who subscribes (one per connection): the principal and why it reads."""

    principal: Principal
    purpose: str | None = None


@dataclass(frozen=True)
class _Operation:
    name: str
    field: Field
    args: dict[str, Any]


@dataclass(eq=False)
class Cohort:
    key: tuple[Any, ...]
    subscriber: Subscriber
    operation: _Operation
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    after: Cursor | None
    members: dict[int, tuple[Subscriber, Deliver]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    # The last event it took (its members for it fixed), or where it began: a member added now
    # gets every event it wants after this one.
    taken: Cursor = START
    last_body: str | None = None  # for fields that send changes only
    evaluations: int = 0
    # The policy version its members' access was checked under; another: check it again.
    checked: Any = None
    # Members about to join, catching up on what it took (:meth:`LiveUpdates._chase`).
    chasers: list[_Chaser] = field(default_factory=list)
    chase: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Chaser:
    """A member whose cohort took events after its position (``position`` to ``until``): those
    are evaluated for it (with the others catching up on the cohort at the time) while the
    cohort's next answers wait for it."""

    deliver: Deliver
    subscriber: Subscriber
    position: Cursor
    until: Cursor
    done: asyncio.Future[None]
    gone: bool = False
    last_body: str | None = None


@dataclass(eq=False)
class _Shared:
    """One evaluation of an event for several cohorts, and everyone it is audited for."""

    readers: dict[int, Subscriber] = field(default_factory=dict)  # member id -> subscriber
    closed: bool = False  # its audit rows are being written: nobody joins any more
    task: asyncio.Task[Answer | None] | None = None


class LiveUpdates:
    """The subscriptions of one process."""

    def __init__(
        self,
        schema: Schema,
        settings: Settings,
        db: Database,
        policies: PolicyStore,
        cursors: CursorCodec,
        relay: EventRelay,
    ) -> None:
        self.schema = schema
        self.settings = settings
        self.db = db
        self.policies = policies
        self.cursors = cursors
        self.relay = relay
        self._cohorts: dict[tuple[Any, ...], Cohort] = {}
        self._next_member = 0
        self._watch: asyncio.Task[None] | None = None
        # position -> the event's row as stored, read once for every cohort's prefilter
        self._stored: dict[int, asyncio.Future[Any]] = {}
        self._starting = asyncio.Semaphore(STARTS_AT_ONCE)
        # Members catching up at once: not in the checks' slots, which a long catch-up (an
        # `after:` replay, slow evaluations) held for every other subscribe of the process.
        self._catching_up = asyncio.Semaphore(STARTS_AT_ONCE)
        self.timings = Timings()
        # Live cohorts (no resume position) and their inboxes, fed by one dispatcher.
        self._fed: dict[Cohort, asyncio.Queue[Any]] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._routed = START  # the last event the dispatcher put in the inboxes
        self._evaluations: dict[Any, _Shared] = {}  # in flight, shared by cohorts

    @property
    def cohorts(self) -> int:
        return len(self._cohorts)

    async def stop(self) -> None:
        tasks: list[asyncio.Task[Any]] = [
            t for c in self._cohorts.values() for t in (c.task, c.chase) if t is not None
        ]
        tasks += [s.task for s in self._evaluations.values() if s.task is not None]
        for extra in (self._watch, self._dispatcher):
            if extra is not None:
                tasks.append(extra)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._cohorts.clear()
        self._fed.clear()
        self._watch = self._dispatcher = None

    # -- starting -------------------------------------------------------------------------
    def _context(self, subscriber: Subscriber, plan: AccessPlan, session: Any) -> RequestContext:
        principal = subscriber.principal
        return RequestContext(
            settings=self.settings,
            database=self.db,
            session=session,
            principal=principal,
            plan=plan,
            cursors=self.cursors,
            audit=AuditCollector(
                principal.id, plan.core.home, principal.tenant_id, subscriber.purpose
            ),
            policies=self.policies,
            rls=plan.rls_scope(),
        )

    async def start(
        self,
        subscriber: Subscriber,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        deliver: Deliver,
        anchor: Cursor | None = None,
    ) -> int:
        """Check the subscription and join its cohort; the member id, for :meth:`leave`.
        :class:`Refused` when it cannot start. The member gets every event committed after
        ``anchor`` (:meth:`anchor` when the subscribe was read; by default, when this call
        began), whatever committed while it was being checked; with ``after``, every event
        after that position."""
        if anchor is None:
            try:
                await self.relay.start()
            except SharegraphError as error:
                raise Refused([error_body(error)]) from error
            anchor = self.relay.cursor
        version = self.policies.snapshot.version
        plan = self.policies.plan_for(subscriber.principal)
        async with self._starting, self.db.read_session(rls=plan.rls_scope()) as session:
            ctx = self._context(subscriber, plan, session)
            probe = await self._probe(ctx, query, variables, operation_name)
            if probe.errors:
                raise Refused([format_error(e) for e in probe.errors])
            try:
                operation = self._operation(query, variables, operation_name)
                plan.require_operation(operation.name, Action.SUBSCRIBE)
                await operation.field.prepare(ctx, operation.args)
                after = await self._resume_cursor(session, operation.args.get("after"))
            except SharegraphError as error:
                raise Refused([error_body(error)]) from error
        key: tuple[Any, ...] = (
            self.policies.plan_key(subscriber.principal),
            subscriber.principal.id if operation.field.per_principal(operation.args) else None,
            query,
            json.dumps(variables, sort_keys=True, default=str),
            operation_name,
            after,
        )
        position = anchor if after is None else after
        cohort = self._cohorts.get(key)
        if cohort is None:
            cohort = Cohort(key, subscriber, operation, query, variables, operation_name, after)
            cohort.taken = position
            cohort.checked = version
            self._begin(cohort)
        if cohort.taken <= position:  # it took nothing this member may not have missed
            member = self._join(cohort, subscriber, deliver, version)
        else:
            try:
                member = await self._join_behind(cohort, subscriber, deliver, version, position)
            except SharegraphError as error:
                raise Refused([error_body(error)]) from error
        if self._watch is None:
            self._watch = asyncio.create_task(self._watch_policies(), name="live-revocation")
        return member

    def _join(self, cohort: Cohort, subscriber: Subscriber, deliver: Deliver, version: Any) -> int:
        if cohort.checked != version:  # this member was checked under another version
            cohort.checked = None
        self._next_member += 1
        cohort.members[self._next_member] = (subscriber, deliver)
        return self._next_member

    async def ready(self) -> None:
        """Start the relay before any subscribe comes (on a connection's init): :meth:`anchor`
        then has a position to give in the very turn a subscribe is read."""
        try:
            await self.relay.start()
        except Exception:  # the database out of reach: start() tries again, or refuses
            log.warning("the event relay could not start", exc_info=True)

    def anchor(self) -> Cursor | None:
        """A position every event committed from now on lies after (the relay's cursor only
        ever passes events already committed); None before the relay has started."""
        return self.relay.cursor if self.relay.started else None

    def _begin(self, cohort: Cohort) -> None:
        """Run a new cohort from ``cohort.taken``. A live one is fed from this very turn: the
        dispatcher puts every event after the last it routed in its inbox, and the cohort reads
        those before (routed to the others while it was being checked) from the table."""
        self._cohorts[cohort.key] = cohort
        inbox: asyncio.Queue[Any] | None = None
        if cohort.after is None:
            inbox = self._fed[cohort] = asyncio.Queue()
            if self._dispatcher is None or self._dispatcher.done():
                self._routed = cohort.taken
                self._dispatcher = asyncio.create_task(
                    self._dispatch(cohort.taken), name="live-dispatch"
                )
        cohort.task = asyncio.create_task(
            self._run(cohort, inbox, self._routed), name="live-cohort"
        )

    async def _join_behind(
        self,
        cohort: Cohort,
        subscriber: Subscriber,
        deliver: Deliver,
        version: Any,
        position: Cursor,
    ) -> int:
        """Join ``cohort``, which took events after ``position``: those are evaluated (and
        audited) for this member first, then the cohort's answers that came meanwhile follow,
        in commit order. Those joining the cohort at the time catch up together: one
        evaluation per event for all of them (one each, one after the other, made a flood of
        subscribes to a busy cohort quadratic: each waited longer, so had more to catch up)."""
        held: list[dict[str, Any] | None] = []
        holding_on = [True]

        def holding(body: dict[str, Any] | None) -> None:
            if holding_on[0]:
                held.append(body)
            else:
                deliver(body)

        member = self._join(cohort, subscriber, holding, version)
        chaser = _Chaser(deliver, subscriber, position, cohort.taken, _future())
        cohort.chasers.append(chaser)
        if cohort.chase is None or cohort.chase.done():
            cohort.chase = asyncio.create_task(self._catch_up(cohort), name="live-catch-up")
        try:
            await asyncio.shield(chaser.done)
        except BaseException:
            chaser.gone = True
            with contextlib.suppress(ValueError):
                cohort.chasers.remove(chaser)
            self.leave(member)
            raise
        for body in held:
            deliver(body)
        holding_on[0] = False
        return member

    async def _catch_up(self, cohort: Cohort) -> None:
        group: list[_Chaser] = []
        try:
            async with self._catching_up:
                while cohort.chasers:
                    group, cohort.chasers = cohort.chasers, []
                    try:
                        await self._catch_up_group(cohort, group)
                    except Exception as error:
                        for chaser in group:
                            if not chaser.gone and not chaser.done.done():
                                chaser.done.set_exception(error)
                        continue
                    for chaser in group:
                        if not chaser.done.done():
                            chaser.done.set_result(None)
        finally:  # cancelled (the process stops): nobody waits for ever
            for chaser in [*group, *cohort.chasers]:
                if not chaser.done.done():
                    chaser.done.cancel()

    async def _catch_up_group(self, cohort: Cohort, group: list[_Chaser]) -> None:
        """The events each of ``group`` missed, evaluated (and audited) for those who missed
        it, as the cohort evaluates an event for its members."""
        low = min(chaser.position for chaser in group)
        high = max(chaser.until for chaser in group)
        async for event in self.relay.between(low, high):
            if self._cohorts.get(cohort.key) is not cohort:
                return  # it ended (revoked, ...): its last answer is what they get next
            if not self._wanted(cohort, event, await self._stored_for(cohort, event)):
                continue
            readers = [c for c in group if c.position < event.cursor <= c.until and not c.gone]
            if not readers:
                continue
            together = Cohort(
                cohort.key,
                readers[0].subscriber,
                cohort.operation,
                cohort.query,
                cohort.variables,
                cohort.operation_name,
                cohort.after,
                {number: (c.subscriber, c.deliver) for number, c in enumerate(readers)},
            )
            answer = await self._evaluate(together, event)
            if answer is None:
                continue
            figures = _without_event(answer[0]) if cohort.operation.field.changes_only else None
            for chaser in readers:
                if chaser.gone:
                    continue
                if figures is not None:
                    if figures == chaser.last_body:
                        continue
                    chaser.last_body = figures
                chaser.deliver(answer[0])

    def leave(self, member: int) -> None:
        for key, cohort in list(self._cohorts.items()):
            if cohort.members.pop(member, None) is None:
                continue
            if not cohort.members:
                del self._cohorts[key]
                self._fed.pop(cohort, None)  # its task may never run to its own cleanup
                if cohort.task is not None:
                    cohort.task.cancel()
            else:  # evaluate for one who is still there
                cohort.subscriber = next(iter(cohort.members.values()))[0]

    async def _probe(
        self,
        ctx: RequestContext,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> Any:
        """The document through the schema's extensions and validation, as a query goes: the
        root field resolves to nothing, so nothing is read."""
        try:
            return await self.schema.execute(
                query,
                variables,
                ctx,
                None,
                operation_name,
                allowed_operation_types=SUBSCRIPTION_ONLY,
            )
        except Exception as error:  # not a subscription, no operation, several without a name
            raise Refused(
                [
                    error_body(
                        BadUserInput(
                            "send one subscription operation (queries and mutations go over "
                            "HTTP POST)",
                            reason="NOT_A_SUBSCRIPTION",
                        )
                    )
                ]
            ) from error

    def _operation(
        self, query: str, variables: dict[str, Any] | None, operation_name: str | None
    ) -> _Operation:
        """The subscribed field and its arguments (the probe has validated the document)."""
        schema = self.schema._schema
        document = parse(query)
        operation = get_operation_ast(document, operation_name)
        root = schema.subscription_type
        assert isinstance(operation, OperationDefinitionNode) and root is not None
        coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
        if isinstance(coerced, list):  # the probe reports these first
            raise BadUserInput(coerced[0].message, reason="BAD_VARIABLES")
        fragments = {
            d.name.value: FragmentDetails(d)
            for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        collected = collect_fields(schema, fragments, coerced, root, operation)
        ((_key, details),) = collected.grouped_field_set.items()
        node = details[0].node
        name = node.name.value
        definition = root.fields[name]
        raw = get_argument_values(definition, node, coerced)
        strawberry_field = definition.extensions["strawberry-definition"]
        args = convert_arguments(
            raw,
            strawberry_field.arguments,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
        )
        return _Operation(name, FIELDS[name], args)

    async def _resume_cursor(self, session: Any, after: str | None) -> Cursor | None:
        if after is None:
            return None
        if not after.isdigit():
            raise BadUserInput("`after` must be an event position", reason="BAD_POSITION")
        found = await cursor_at(session, int(after))
        if found is None:
            raise SharegraphError(
                f"event {after} is no longer kept (retention "
                f"{self.settings.event_retention_days:g} days): refetch with a query and "
                "subscribe again without `after`",
                code=ErrorCode.RESUME_TOO_OLD,
            )
        return found

    async def evaluate(
        self, subscriber: Subscriber, query: str, event: Any, *, readers: Sequence[Subscriber] = ()
    ) -> dict[str, Any] | None:
        """One event through a subscription document for one subscriber, as a delivery is
        evaluated (webhooks render their payloads this way); None: not for the subscriber.
        ``readers``: everyone the one answer goes to, each with its purpose (the subscriber's
        principal, so its plan: a cohort), audited one row each in one write."""
        if any(r.principal.id != subscriber.principal.id for r in readers):
            raise ValueError("readers of one evaluation share the subscriber's principal")
        operation = self._operation(query, None, None)
        members: dict[int, tuple[Subscriber, Deliver]] = {
            number: (reader, _nowhere) for number, reader in enumerate(readers)
        }
        # No members: the collector audits the subscriber itself.
        cohort = Cohort((), subscriber, operation, query, None, None, None, members)
        answer = await self._evaluate(cohort, event)
        return None if answer is None else answer[0]

    # -- running --------------------------------------------------------------------------
    async def _run(self, cohort: Cohort, inbox: asyncio.Queue[Any] | None, routed: Cursor) -> None:
        """Read the cohort's events after ``cohort.taken``; evaluate up to
        ``EVALUATION_WINDOW`` of them at once (an evaluation mostly waits on the database) and
        deliver the answers in commit order. ``inbox``: a live cohort's, fed by the dispatcher
        with the events after ``routed``."""
        pending: asyncio.Queue[asyncio.Task[Answer | None]] = asyncio.Queue(EVALUATION_WINDOW)
        deliverer = asyncio.create_task(self._deliver_in_order(cohort, pending))

        async def take(event: Any) -> None:
            arrived = time.perf_counter()
            self.timings.add_value("relay", _age_ms(event.occurred_at))
            cohort.taken = event.cursor
            members = dict(cohort.members)  # who joins from now on catches up on this one
            await pending.put(asyncio.create_task(self._answer(cohort, event, arrived, members)))

        async def wanted(event: Any) -> bool:
            return self._wanted(cohort, event, await self._stored_for(cohort, event))

        try:
            after = cohort.taken
            if inbox is not None:  # live: fed by the one dispatcher
                async for event in self.relay.between(after, routed):
                    after = event.cursor
                    if await wanted(event):
                        await take(event)
                while (event := await inbox.get()) is not _LAGGED:
                    if event.cursor > after:  # not one it read from the table, or before it began
                        after = event.cursor
                        await take(event)
                # Fell too far behind: its own reader from the last event it took (the relay
                # reads what it missed from the table; nothing is lost, nothing repeated).
            async for event in self.relay.events(after):
                if await wanted(event):
                    await take(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("subscription cohort failed")
            self._end(cohort, Forbidden("the subscription ended; subscribe again"))
        finally:
            self._fed.pop(cohort, None)
            deliverer.cancel()
            while not pending.empty():
                pending.get_nowait().cancel()

    @staticmethod
    def _wanted(cohort: Cohort, event: Any, stored: Any) -> bool:
        field = cohort.operation.field
        if event.record_type not in field.record_types:
            return False
        return field.prefilter is None or field.prefilter(cohort.operation.args, event, stored)

    async def _stored_for(self, cohort: Cohort, event: Any) -> Any:
        field = cohort.operation.field
        if field.prefilter is None or event.record_type not in field.record_types:
            return None
        return await self._stored_row(event)

    async def _dispatch(self, after: Cursor) -> None:
        """One reader of the relay for every live cohort: each event is read (and its stored
        row, for the prefilters) once and put in the inbox of each cohort that wants it, in
        commit order; hundreds of cohorts no longer each take and filter every event.

        The events that arrived meanwhile go together: their stored rows in one read. One read
        per event, one after the other, was the bottleneck of the whole path: each waited for a
        pooled connection behind the cohorts' evaluations, which wait on this dispatcher."""
        arrived: asyncio.Queue[Any] = asyncio.Queue(DISPATCH_BATCH)

        async def read_relay() -> None:
            # From the position the cohort that started it took: the tail may read on before
            # this task's reader begins, and those events are that cohort's.
            async for event in self.relay.events(after):
                await arrived.put(event)

        reader = asyncio.create_task(read_relay(), name="live-dispatch-relay")
        try:
            while True:
                batch = [await _taken(arrived, reader)]
                while not arrived.empty() and len(batch) < DISPATCH_BATCH:
                    batch.append(arrived.get_nowait())
                for event in batch:
                    self.timings.add_value("dispatch", _age_ms(event.occurred_at))
                prefiltered = {
                    record_type
                    for c in self._fed
                    if c.operation.field.prefilter is not None
                    for record_type in c.operation.field.record_types
                }
                stored = await self._stored_rows(
                    [event for event in batch if event.record_type in prefiltered]
                )
                for event in batch:
                    self._route(event, stored.get(event.position))
                    self._routed = event.cursor
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("subscription dispatch failed")
            for cohort in list(self._fed):
                self._end(cohort, Forbidden("the subscription ended; subscribe again"))
        finally:
            reader.cancel()

    def _route(self, event: Any, stored: Any) -> None:
        # Cohorts of one document and variables (one per plan) want the same events: ask once.
        wanted: dict[tuple[Any, ...], bool] = {}
        for cohort, inbox in list(self._fed.items()):
            if inbox.qsize() >= INBOX_EVENTS:  # let it read on its own
                self._fed.pop(cohort, None)
                inbox.put_nowait(_LAGGED)
                continue
            operation = cohort.key[2:5]
            if operation not in wanted:
                wanted[operation] = self._wanted(cohort, event, stored)
            if wanted[operation]:
                inbox.put_nowait(event)

    async def _stored_rows(self, events: Sequence[Any]) -> dict[int, Any]:
        """The stored rows of ``events`` (position -> row), one read per record type; kept
        for the cohorts that read the relay on their own (:meth:`_stored_row`)."""
        # Those another cohort's read has begun on are awaited, never taken for rows not found.
        known = {e.position: self._stored[e.position] for e in events if e.position in self._stored}
        ids: dict[Any, list[Any]] = {}
        for event in events:
            model = PREFILTER_MODELS.get(event.record_type)
            if model is not None and event.position not in known:
                ids.setdefault(model, []).append(event.record_id)
        found: dict[int, Any] = {}
        if ids:
            rows: dict[Any, Any] = {}
            try:
                async with self.db.read_session() as session:
                    for model, record_ids in ids.items():
                        read = await session.scalars(select(model).where(model.id.in_(record_ids)))
                        rows.update({(model, row.id): row for row in read})
            except Exception as error:
                log.warning("prefilter read failed: %s", error)
            loop = asyncio.get_running_loop()
            for event in events:
                model = PREFILTER_MODELS.get(event.record_type)
                if model is not None and event.position not in known:
                    found[event.position] = rows.get((model, event.record_id))
                    if event.position not in self._stored:
                        future = self._stored[event.position] = loop.create_future()
                        future.set_result(found[event.position])
            while len(self._stored) > STORED_ROWS:
                del self._stored[next(iter(self._stored))]
        for position, future in known.items():
            found[position] = await asyncio.shield(future)
        return found

    async def _answer(
        self, cohort: Cohort, event: Any, arrived: float, members: dict[int, Any]
    ) -> Answer | None:
        self.timings.add("queued", arrived)
        try:
            return await self._shared_evaluation(cohort, event, members)
        except SharegraphError as error:  # the database out of reach, ...
            return {"data": None, "errors": [error_body(error)]}, frozenset(members)
        except Exception:
            log.exception("subscription delivery failed")
            return None

    async def _deliver_in_order(
        self, cohort: Cohort, pending: asyncio.Queue[asyncio.Task[Answer | None]]
    ) -> None:
        while True:
            task = await pending.get()
            try:
                answer = await task
            except asyncio.CancelledError:
                task.cancel()
                raise
            if answer is None:
                continue
            body, audited = answer
            if cohort.operation.field.changes_only:
                # The event part always differs; compare the rest.
                figures = _without_event(body)
                if figures == cohort.last_body:
                    continue
                cohort.last_body = figures
            started = time.perf_counter()
            for member, (_subscriber, deliver) in list(cohort.members.items()):
                if member in audited:
                    deliver(body)
            self.timings.add("fanout", started)

    async def _stored_row(self, event: Any) -> Any:
        """The event's row as stored (no plan: for prefilters only, never delivered)."""
        model = PREFILTER_MODELS.get(event.record_type)
        if model is None:
            return None
        found = self._stored.get(event.position)
        if found is None:
            # A task of its own: a caller cancelled meanwhile (its cohort left) must not leave
            # the others (and the dispatcher) waiting on a future nobody will settle.
            found = self._stored[event.position] = asyncio.ensure_future(
                self._read_stored(model, event.record_id)
            )
            while len(self._stored) > STORED_ROWS:
                del self._stored[next(iter(self._stored))]
        return await asyncio.shield(found)

    async def _read_stored(self, model: Any, record_id: Any) -> Any:
        try:
            async with self.db.read_session() as session:
                return await session.get(model, record_id)
        except Exception as error:
            log.warning("prefilter read failed: %s", error)
            return None

    async def _shared_evaluation(
        self, cohort: Cohort, event: Any, members: dict[int, tuple[Subscriber, Deliver]]
    ) -> Answer | None:
        """The event through the cohort's document, in one evaluation with every other cohort
        that evaluates the same event, document, variables (and principal, for fields that
        depend on it) under a plan that reads alike (:meth:`AccessPlan.read_key`: the same
        grants for every type, so never across different row scopes or masks). Cohorts that
        come once its audit rows are being written start another."""
        plan = self.policies.plan_for(cohort.subscriber.principal)
        key = (event.position, plan.read_key(), cohort.key[1:5])
        shared = self._evaluations.get(key)
        if shared is None or shared.closed:
            shared = self._evaluations[key] = _Shared()
            shared.task = asyncio.create_task(self._run_shared(key, shared, cohort, plan, event))
            # Read its failure even when every cohort waiting on it has gone meanwhile.
            shared.task.add_done_callback(lambda t: t.cancelled() or t.exception())
        shared.readers.update((member, subscriber) for member, (subscriber, _) in members.items())
        assert shared.task is not None
        answer = await asyncio.shield(shared.task)
        return None if answer is None else (answer[0], frozenset(members))

    async def _run_shared(
        self, key: Any, shared: _Shared, cohort: Cohort, plan: AccessPlan, event: Any
    ) -> Answer | None:
        try:
            return await self._evaluate(cohort, event, plan=plan, shared=shared)
        finally:
            if self._evaluations.get(key) is shared:
                del self._evaluations[key]

    async def _evaluate(
        self,
        cohort: Cohort,
        event: Any,
        *,
        plan: AccessPlan | None = None,
        shared: _Shared | None = None,
    ) -> Answer | None:
        """``shared``: the answer goes to the readers gathered there until the audit rows are
        written, not only to the cohort's members."""
        plan = plan or self.policies.plan_for(cohort.subscriber.principal)
        members = dict(cohort.members)
        timings = self.timings
        began = time.perf_counter()
        async with self.db.read_session(rls=plan.rls_scope()) as session:
            ctx = self._context(cohort.subscriber, plan, session)
            payload = await cohort.operation.field.select(ctx, cohort.operation.args, event)
            if payload is None:
                return None
            cohort.evaluations += 1
            selected = timings.add("select", began)
            result = await asyncio.wait_for(
                self.schema.execute(
                    cohort.query,
                    cohort.variables,
                    ctx,
                    payload,
                    cohort.operation_name,
                    allowed_operation_types=SUBSCRIPTION_ONLY,
                ),
                timeout=self.settings.limits.request_timeout_seconds,
            )
            await settled(ctx)  # nothing may use the session once it closes
            body = unflushed_body(ctx, result)
            executed = timings.add("execute", selected)
        # The read session is closed: its connection serves other evaluations while the audit
        # rows are written (the group commit's own connection). Durable before the answer
        # leaves, as for a query. No reader joins once they are being written.
        if shared is not None:
            shared.closed = True
            readers = list(shared.readers.values())
        else:
            readers = [subscriber for subscriber, _ in members.values()]
        ctx.audit.readers = sorted(
            {(s.principal.id, s.purpose) for s in readers},
            key=lambda reader: (str(reader[0]), reader[1] or ""),
        )
        await flush(self.db, ctx.audit)
        timings.add("flush", executed)
        timings.add("evaluation", began)
        return body, frozenset(members)

    def _end(self, cohort: Cohort, error: SharegraphError) -> None:
        body = {"data": None, "errors": [error_body(error)]}
        for _subscriber, deliver in list(cohort.members.values()):
            deliver(body)
            deliver(None)
        cohort.members.clear()
        if self._cohorts.get(cohort.key) is cohort:
            del self._cohorts[cohort.key]
        self._fed.pop(cohort, None)
        if cohort.task is not None and cohort.task is not asyncio.current_task():
            cohort.task.cancel()

    # -- revocation -----------------------------------------------------------------------
    async def _watch_policies(self) -> None:
        """Check again every cohort not checked under the current policy version: also one
        that began (or took a member) checked under a version this loop had already passed."""
        while True:
            await asyncio.sleep(REVOCATION_CHECK_SECONDS)
            current = self.policies.snapshot.version
            for cohort in list(self._cohorts.values()):
                if cohort.checked == current:
                    continue
                cohort.checked = current  # a member joining meanwhile under another resets it
                try:
                    await self._still_allowed(cohort)
                except SharegraphError as error:
                    self._end(cohort, error)
                except Exception:  # the database may be restarting: check on the next change
                    log.warning("subscription access check failed", exc_info=True)

    async def _still_allowed(self, cohort: Cohort) -> None:
        plan = self.policies.plan_for(cohort.subscriber.principal)
        operation = cohort.operation
        plan.require_operation(operation.name, Action.SUBSCRIBE)
        if not plan.owners(operation.field.reads):
            raise Forbidden(
                f"you may no longer read {operation.field.reads}", reason="ACCESS_REVOKED"
            )
        async with self.db.read_session(rls=plan.rls_scope()) as session:
            await operation.field.prepare(
                self._context(cohort.subscriber, plan, session), operation.args
            )


async def _taken(queue: asyncio.Queue[Any], producer: asyncio.Task[None]) -> Any:
    """The next item of ``queue``; the producer's failure if it ends first."""
    getting = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait({getting, producer}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        getting.cancel()
        raise
    if getting.done():
        return getting.result()
    getting.cancel()
    producer.result()  # raises what ended it
    raise RuntimeError("the relay's events ended")


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


def _nowhere(_answer: dict[str, Any] | None) -> None:
    """The delivery of an evaluation whose caller takes the answer itself."""


def _age_ms(occurred_at: datetime) -> float:
    if occurred_at.tzinfo is None:  # SQLite gives it back naive, in UTC
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return (datetime.now(UTC) - occurred_at).total_seconds() * 1000


def _without_event(body: dict[str, Any]) -> str:
    data = body.get("data") or {}
    trimmed = {
        key: {k: v for k, v in value.items() if k != "event"} if isinstance(value, dict) else value
        for key, value in data.items()
    }
    return json.dumps([trimmed, body.get("errors")], sort_keys=True, default=str)
