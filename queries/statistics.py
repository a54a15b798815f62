"""Network statistics over a shared contact form: counts only, small cells suppressed.

Rows counted: contact records on any version of the form that the caller's plan grants the
``statistics`` action on (its own tenant's through its roles; another tenant's only under that
tenant's agreement). Everything is counted by one GROUP BY statement; what leaves is cells.

Suppression, so that no count can single out a caller:
- primary: a cell whose count is below the threshold is withheld;
- complementary: for every way of adding cells up (the grand total, and each margin another
  query could return by grouping by fewer dimensions), a line that withholds anything
  withholds at least two cells that together hold at least the threshold; otherwise the
  smallest cells still shown in that line are withheld too, until it does. So subtracting the
  cells shown from a total never yields a single withheld cell, nor a sum below the threshold.
- the total is withheld when it is below the threshold.
Needs are not additive (a record with two needs counts in both cells); the total is always
distinct records.

Network mode (:func:`network_mode`: the caller holds a statistics grant from a tenant other than
its own on the form, so another tenant's records may be counted). Suppression alone protects one
answer, not the difference of two, so here:
- the threshold is never below :data:`DEFAULT_THRESHOLD`;
- periods are whole ISO weeks on the form owner's clock (``from`` a Monday, ``to`` a Sunday,
  else ``BAD_USER_INPUT`` / ``UNALIGNED_PERIOD``), so two periods differ by a week at least;
- only completed weeks count: the end is capped at the start of the current ISO week, so the
  same question asked again later in the week cannot difference out the latest records;
- every count and total shown is rounded to the nearest multiple of :data:`NETWORK_ROUNDING`
  (suppression is decided on the true counts first).
With only the caller's own tenant counted, counts are exact and any days may be asked for.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from itertools import combinations
from typing import Any

from sqlalchemy import Select, and_, func, outerjoin, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.compiler import Grant
from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.datastore.models import (
    ContactForm,
    ContactFormVersion,
    ContactRecord,
    ContactRecordNeed,
    Tenant,
)
from sharegraph.datastore.weeks import end_of_day, local_iso_week, start_of_day, week_start
from sharegraph.errors import BadUserInput, Forbidden, NotFound

DEFAULT_THRESHOLD = 5
MAX_THRESHOLD = 1000
NETWORK_ROUNDING = 5


class Dimension(StrEnum):
    NEED = "need"
    CHANNEL = "channel"
    COUNTY = "county"
    WEEK = "week"


# The ContactRecord field each dimension reveals; the statistics grant must cover it.
DIMENSION_FIELDS = {
    Dimension.NEED: "needs",
    Dimension.CHANNEL: "channel",
    Dimension.COUNTY: "callerCounty",
    Dimension.WEEK: "startedAt",
}


@dataclass(frozen=True)
class Form:
    id: uuid.UUID
    tenant_id: uuid.UUID
    time_zone: str


@dataclass(frozen=True)
class Request:
    form: Form
    group_by: tuple[Dimension, ...]
    start: datetime | None = None  # UTC, inclusive
    end: datetime | None = None  # UTC, exclusive


Key = tuple[Any, ...]


@dataclass(frozen=True)
class Counts:
    cells: dict[Key, int]
    total: int
    owners: frozenset[uuid.UUID]  # tenants whose records were counted


@dataclass(frozen=True)
class Suppressed:
    hidden: frozenset[Key]
    total_hidden: bool


@dataclass(frozen=True)
class Disclosure:
    """How figures leave: the threshold applied and the multiple counts are rounded to."""

    network: bool
    threshold: int
    rounding: int

    def shown(self, count: int) -> int:
        """``count`` rounded to the nearest multiple of :attr:`rounding` (never a tie: 5 is odd)."""
        return (count + self.rounding // 2) // self.rounding * self.rounding


def grants_for_form(plan: AccessPlan, form_id: uuid.UUID) -> dict[uuid.UUID, tuple[Grant, ...]]:
    """The caller's statistics grants on contact records that can reach rows of this form
    (a grant scoped to another shared form cannot)."""
    relevant: dict[uuid.UUID, tuple[Grant, ...]] = {}
    for owner, grants in plan.grants("ContactRecord", Action.STATISTICS).items():
        kept = tuple(
            g
            for g in grants
            if not (g.scope.name == "shared_form" and g.scope.argument != str(form_id))
        )
        if kept:
            relevant[owner] = kept
    return relevant


async def find_form(session: AsyncSession, plan: AccessPlan, form_id: uuid.UUID) -> Form:
    """The form, if the caller may see it or is granted statistics on its owner's records."""
    found = (
        await session.execute(
            select(ContactForm.id, ContactForm.tenant_id, Tenant.time_zone)
            .join(Tenant, Tenant.id == ContactForm.tenant_id)
            .where(ContactForm.id == form_id)
        )
    ).first()
    if found is None or not (
        plan.allows_owner(ContactForm, found.tenant_id)
        or found.tenant_id in grants_for_form(plan, form_id)
    ):
        raise NotFound("no such contact form")
    return Form(found.id, found.tenant_id, found.time_zone)


def require_fields(plan: AccessPlan, form_id: uuid.UUID, fields: dict[str, str]) -> None:
    """``FORBIDDEN`` unless every statistics grant that may count rows of the form covers the
    fields grouped or filtered by (``fields``: field -> what it is used for)."""
    grants = [g for gs in grants_for_form(plan, form_id).values() for g in gs]
    for field_name, use in fields.items():
        if not all(field_name in g.fields for g in grants):
            coordinate = f"ContactRecord.{field_name}"
            raise Forbidden(
                f"you may not {use} on {coordinate}: not every tenant counted shares it for "
                "statistics",
                reason="FORBIDDEN_" + use.upper().replace(" ", "_"),
                coordinate=coordinate,
            )


def network_mode(plan: AccessPlan, form_id: uuid.UUID) -> bool:
    """Whether records of a tenant other than the caller's own may be counted. Decided by the
    grants, not by the rows found, so the mode itself says nothing about the data."""
    return bool(set(grants_for_form(plan, form_id)) - {plan.home_tenant})


def disclosure_for(plan: AccessPlan, form_id: uuid.UUID, requested: int) -> Disclosure:
    """The threshold as asked, but never below the default in network mode, where counts are
    also rounded."""
    if not 1 <= requested <= MAX_THRESHOLD:
        raise BadUserInput(
            f"threshold must be between 1 and {MAX_THRESHOLD}", reason="BAD_THRESHOLD"
        )
    if network_mode(plan, form_id):
        return Disclosure(True, max(requested, DEFAULT_THRESHOLD), NETWORK_ROUNDING)
    return Disclosure(False, requested, 1)


def period(
    form: Form, first: date | None, last: date | None, *, network: bool, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """The UTC bounds (inclusive start, exclusive end) of the days ``first`` to ``last`` on the
    form owner's clock; in network mode whole weeks only, ending before the current week."""
    if first is not None and last is not None and first > last:
        raise BadUserInput("`from` must not be after `to`", reason="BAD_DATE_RANGE")
    if network and (
        (first is not None and first.isoweekday() != 1)
        or (last is not None and last.isoweekday() != 7)
    ):
        raise BadUserInput(
            "counts that may include another tenant's records cover whole ISO weeks: `from` "
            "must be a Monday and `to` a Sunday, on the form owner's clock "
            f"({form.time_zone})",
            reason="UNALIGNED_PERIOD",
        )
    start = start_of_day(first, form.time_zone) if first is not None else None
    end = end_of_day(last, form.time_zone) if last is not None else None
    if network:
        current_week = week_start(now, form.time_zone)
        end = current_week if end is None else min(end, current_week)
    return start, end


def statement(plan: AccessPlan, request: Request, dialect: str) -> Select[Any]:
    """One GROUP BY over the counted records: (owner, dimension values..., count[, total])."""
    conditions = [
        plan.row_filter(ContactRecord, Action.STATISTICS),
        ContactRecord.form_version_id.in_(
            select(ContactFormVersion.id).where(ContactFormVersion.form_id == request.form.id)
        ),
    ]
    if request.start is not None:
        conditions.append(ContactRecord.started_at >= request.start)
    if request.end is not None:
        conditions.append(ContactRecord.started_at < request.end)
    source: Any = ContactRecord
    columns: list[Any] = [ContactRecord.tenant_id.label("owner")]
    for i, dimension in enumerate(request.group_by):
        if dimension is Dimension.NEED:
            source = outerjoin(
                source,
                ContactRecordNeed,
                and_(
                    ContactRecordNeed.contact_record_id == ContactRecord.id,
                    plan.row_filter(ContactRecordNeed, Action.STATISTICS),
                ),
            )
            value: Any = ContactRecordNeed.taxonomy_term_id
        elif dimension is Dimension.CHANNEL:
            value = ContactRecord.channel
        elif dimension is Dimension.COUNTY:
            value = ContactRecord.caller_county
        else:
            value = local_iso_week(ContactRecord.started_at, request.form.time_zone, dialect)
        columns.append(value.label(f"d{i}"))
    # Grouping the computed values of a derived table keeps PostgreSQL from comparing two
    # differently bound copies of the week expression.
    rows = select(*columns).select_from(source).where(*conditions).subquery("counted")
    keys = [rows.c.owner, *(rows.c[f"d{i}"] for i in range(len(request.group_by)))]
    grouped = select(*keys, func.count().label("n")).group_by(*keys)
    if Dimension.NEED in request.group_by:
        distinct = select(func.count()).select_from(ContactRecord).where(*conditions)
        grouped = grouped.add_columns(distinct.scalar_subquery().label("total"))
    return grouped


async def count(session: AsyncSession, plan: AccessPlan, request: Request, dialect: str) -> Counts:
    cells: dict[Key, int] = defaultdict(int)
    owners: set[uuid.UUID] = set()
    total = 0
    width = len(request.group_by)
    for row in (await session.execute(statement(plan, request, dialect))).all():
        owner, *values = row[: width + 1]
        n = int(row.n)
        cells[tuple(values)] += n
        owners.add(owner)
        total = int(row.total) if Dimension.NEED in request.group_by else total + n
    return Counts(dict(cells), total, frozenset(owners))


def sort_key(key: Key) -> tuple[tuple[bool, str], ...]:
    return tuple((v is None, str(v)) for v in key)


def _lines(keys: list[Key], width: int) -> list[list[Key]]:
    """Every set of cells some total adds up: for each non-empty set of dimensions summed over,
    the cells that agree on the other dimensions."""
    lines: list[list[Key]] = []
    for size in range(1, width + 1):
        for summed in combinations(range(width), size):
            grouped: dict[Key, list[Key]] = defaultdict(list)
            for key in keys:
                grouped[tuple(v for i, v in enumerate(key) if i not in summed)].append(key)
            lines += grouped.values()
    return lines or [keys]


def suppress(cells: Mapping[Key, int], total: int, threshold: int) -> Suppressed:
    hidden = {k for k, n in cells.items() if n < threshold}
    if hidden:
        keys = sorted(cells, key=sort_key)
        lines = _lines(keys, len(keys[0]))
        changed = True
        while changed:
            changed = False
            for line in lines:
                withheld = [k for k in line if k in hidden]
                if not withheld or (
                    len(withheld) >= 2 and sum(cells[k] for k in withheld) >= threshold
                ):
                    continue
                shown = sorted((k for k in line if k not in hidden), key=lambda k: cells[k])
                if shown:
                    hidden.add(shown[0])
                    changed = True
    return Suppressed(frozenset(hidden), total < threshold)
