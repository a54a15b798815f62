"""The disclosure seam: what of which rows may leave, for one access plan and one action.

Every path that lets records out asks here and nowhere else: the GraphQL field guard and form
answers, file exports (downloads, scheduled deliveries, the 211 Counts feed), the e-mailed PDF,
the HSDS API, and the paths built on them. Given rows (their owner, the row scopes they fall
under, their client and answer keys) and the fields asked for, :meth:`Disclosure.row` says per
row which fields and form answers may leave, the 42 CFR Part 2 decision with the consent it
rests on, whether the redisclosure notice must go with it, and the audit entries to write.

The same decisions are available as SQL (:meth:`Disclosure.readable_sql`, :meth:`masked`,
:meth:`where`), for statements that build their output inside the database.

Rules, once:
- a field leaves a row when a grant of the row's owner for this action covers it, under a row
  scope the row falls under (all of the owner's grants when they agree on the fields);
- a form answer leaves when such a grant covers its key; a 42 CFR Part 2 answer leaves the
  owner organization only under a client consent naming the recipient and the purpose of an
  agreement granting the key, unexpired and unrevoked (:func:`consent_covers`), and then the
  redisclosure notice goes with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, case, false, or_
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.coordinates import answer_coordinate
from sharegraph.authz.plan import MODEL_TYPES, AccessPlan, Action, has_scopes
from sharegraph.datastore.enums import GranteeKind
from sharegraph.errors import Forbidden

# 42 CFR 2.32 (as amended in 2024): the notice that must accompany each disclosure made with
# the patient's consent, on every path (responses, files, deliveries, PDFs).
REDISCLOSURE_NOTICE = (
    "This record which has been disclosed to you is protected by federal confidentiality rules "
    "(42 CFR part 2). These rules prohibit you from using or disclosing this record, or "
    "testimony that describes the information contained in this record, for any criminal, "
    "civil, or administrative proceedings by any Federal, State, or local authority, against "
    "the patient, unless authorized by the consent of the patient, except as provided at 42 "
    "CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR 2.64 or 2.65. In "
    "addition, the Federal rules prohibit you from making any other use or disclosure of this "
    "record unless at least one of the following applies: (i) Further use or disclosure is "
    "expressly permitted by the written consent of the individual whose information is being "
    "disclosed in this record or as otherwise permitted by 42 CFR part 2. (ii) You are a "
    "covered entity or business associate and have received the record for treatment, payment, "
    "or health care operations, or (iii) You have received the record from a covered entity or "
    "business associate as permitted by 45 CFR part 164, subparts A and E. A general "
    "authorization for the release of medical or other information is NOT sufficient to meet "
    "the required elements of written consent to further use or redisclose the record (see 42 "
    "CFR 2.31)."
)

RECORD_TYPE = "ContactRecord"
NO_SCOPES: frozenset[str] = frozenset()


class AuditSink(Protocol):
    """Where the audit entries of a disclosure go (a request's collector, an export's log)."""

    def read_fields(
        self,
        record_type: str,
        owner_tenant_id: uuid.UUID,
        record_id: uuid.UUID,
        coordinates: Iterable[str],
    ) -> None: ...

    def denied(self, owner_tenant_id: uuid.UUID | None, coordinate: str, reason: str) -> None: ...


def consent_covers(
    consent: Any, home_tenant: Any, home_partner: Any, purposes: set[str], now: datetime
) -> bool:
    """Whether a consent names this recipient and one of these purposes, unexpired, unrevoked."""
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return False
    if consent.expires_at is not None and consent.expires_at <= now:
        return False
    if consent.purpose not in purposes:
        return False
    if consent.recipient_kind is GranteeKind.TENANT:
        return home_tenant is not None and consent.recipient_tenant_id == home_tenant
    return home_partner is not None and consent.recipient_partner_id == home_partner


@dataclass(frozen=True)
class RowFacts:
    """What the seam needs of one row."""

    id: uuid.UUID
    owner: uuid.UUID
    # The row scopes of this action's grants the row falls under; only needed (and only
    # computed) where the owner's grants differ in fields by scope. None: not computed.
    scopes: frozenset[str] | None = None
    client_id: uuid.UUID | None = None  # contact records: whose consents govern Part 2 answers
    answer_keys: frozenset[str] = NO_SCOPES  # contact records: keys present in its answers

    @classmethod
    def of(cls, row: Any, scopes: frozenset[str] | None = None) -> RowFacts:
        answers = getattr(row, "answers", None)
        return cls(
            id=row.id,
            owner=row.tenant_id,
            scopes=scopes,
            client_id=getattr(row, "client_id", None),
            answer_keys=frozenset(answers) if isinstance(answers, dict) else NO_SCOPES,
        )


@dataclass(frozen=True)
class Part2:
    """42 CFR Part 2 answers of one record that leave, and what their leaving rests on."""

    keys: frozenset[str]
    within_owner: bool  # the recipient is the owner organization itself: no consent needed
    consent_id: uuid.UUID | None = None  # the consent, when they leave the owner


@dataclass(frozen=True)
class RowDisclosure:
    """What of one row may leave."""

    type_name: str
    row: RowFacts
    fields: frozenset[str]  # requested fields that leave
    withheld: frozenset[str]  # requested fields that do not
    answers: frozenset[str] = NO_SCOPES  # answer keys that leave
    withheld_answers: frozenset[str] = NO_SCOPES  # present answer keys that do not
    part2: Part2 | None = None

    @property
    def notice(self) -> bool:
        """Whether the 42 CFR 2.32 redisclosure notice must go with it."""
        return self.part2 is not None and bool(self.part2.keys) and not self.part2.within_owner

    @property
    def coordinates(self) -> list[str]:
        """The coordinates that leave, fields then answers."""
        found = [f"{self.type_name}.{f}" for f in sorted(self.fields)]
        return found + [answer_coordinate(k) for k in sorted(self.answers)]

    def audit(self, sink: AuditSink, reason: str = "FORBIDDEN_FIELD") -> None:
        """Record what left (by row) and what was withheld (once per coordinate)."""
        if self.fields or self.answers:
            sink.read_fields(self.type_name, self.row.owner, self.row.id, self.coordinates)
        for name in self.withheld:
            sink.denied(self.row.owner, f"{self.type_name}.{name}", reason)
        for key in self.withheld_answers:
            sink.denied(self.row.owner, answer_coordinate(key), reason)

    def narrowed(self, other: RowDisclosure) -> RowDisclosure:
        """What both disclosures let out (a PDF needs the sender to read and to export)."""
        answers = self.answers & other.answers
        part2 = None
        if self.part2 is not None and other.part2 is not None:
            part2 = Part2(
                self.part2.keys & other.part2.keys & answers,
                self.part2.within_owner,
                self.part2.consent_id or other.part2.consent_id,
            )
        return RowDisclosure(
            self.type_name,
            self.row,
            self.fields & other.fields,
            self.withheld | other.withheld,
            answers,
            self.withheld_answers | other.withheld_answers,
            part2,
        )


@dataclass(frozen=True)
class ScopeColumn:
    """A boolean column telling whether a row of ``owner`` falls under row scope ``scope``."""

    label: str
    owner: uuid.UUID
    scope: str
    clause: ColumnElement[bool]


@dataclass
class Disclosure:
    """One access plan's disclosure decisions for one action."""

    plan: AccessPlan
    action: Action = Action.READ
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # (type, owner, scopes) -> fields; a request sees few distinct keys.
    _fields: dict[tuple[str, uuid.UUID, frozenset[str] | None], frozenset[str]] = field(
        default_factory=dict, repr=False
    )

    # -- rows ---------------------------------------------------------------------------------
    def where(self, model: Any, *, link: Any | None = None) -> ColumnElement[bool]:
        """The rows of ``model`` this action may touch, as a SQL predicate (``link``: reached
        from one parent row through that foreign key, see :meth:`AccessPlan.row_filter`)."""
        return self.plan.row_filter(model, self.action, link=link)

    def owners(self, type_name: str) -> frozenset[uuid.UUID]:
        return self.plan.owners(type_name, self.action)

    def scope_columns(self, model: Any, owners: Iterable[uuid.UUID]) -> list[ScopeColumn]:
        """Columns to add to a statement on ``model`` so each row tells its own scopes (only
        for owners whose fields depend on them)."""
        type_name = MODEL_TYPES[model]
        found: list[ScopeColumn] = []
        if not has_scopes(model):
            return found
        for owner in sorted(owners):
            if self.uniform(type_name, owner):
                continue
            for name, clause in self.plan.scope_clauses(model, owner, self.action).items():
                found.append(ScopeColumn(f"sg_scope_{len(found)}", owner, name, clause))
        return found

    async def scopes(
        self, session: AsyncSession, model: Any, rows: Sequence[Any]
    ) -> dict[uuid.UUID, frozenset[str]]:
        """The scopes each row falls under, for rows whose owner's fields depend on them."""
        return await self.plan.matched_scopes(session, model, rows, self.action)

    # -- fields -------------------------------------------------------------------------------
    def uniform(self, type_name: str, owner: uuid.UUID) -> bool:
        """Whether every row of ``owner`` shows the same fields (no scope lookup needed)."""
        return self.plan.uniform_fields(type_name, owner, self.action) is not None

    def fields(
        self, type_name: str, owner: uuid.UUID, scopes: Iterable[str] | None = None
    ) -> frozenset[str]:
        """The fields of a row of ``owner`` under ``scopes`` that may leave."""
        key = (type_name, owner, None if scopes is None else frozenset(scopes))
        found = self._fields.get(key)
        if found is None:
            found = self._fields[key] = self.plan.fields(type_name, owner, key[2], self.action)
        return found

    def coordinates(self, type_name: str, owner: uuid.UUID) -> list[str]:
        """Every coordinate of ``type_name`` some row of ``owner`` may carry."""
        grants = self.plan.grants(type_name, self.action).get(owner, ())
        fields = frozenset().union(*(g.fields for g in grants))
        return [f"{type_name}.{f}" for f in sorted(fields)]

    def anywhere(self, type_name: str, field_name: str, owners: Iterable[uuid.UUID]) -> bool:
        """Whether ``field_name`` may leave on at least some rows of ``owners``."""
        by_owner = self.plan.grants(type_name, self.action)
        return any(field_name in g.fields for o in owners for g in by_owner.get(o, ()))

    def everywhere(self, type_name: str, field_name: str, owner: uuid.UUID) -> bool:
        """Whether ``field_name`` may leave on every row of ``owner`` the plan lets through."""
        grants = self.plan.grants(type_name, self.action).get(owner, ())
        return bool(grants) and all(field_name in g.fields for g in grants)

    def owners_granting(self, type_name: str, field_name: str) -> list[uuid.UUID]:
        """Owners on every row of which ``field_name`` (a relation, usually) may leave."""
        return sorted(
            o for o in self.owners(type_name) if self.everywhere(type_name, field_name, o)
        )

    # -- filters, sorts and searches ------------------------------------------------------
    # A filter, sort or search may use only fields readable on every row it applies to;
    # anything else would reveal values through which rows match or how they order.
    def filterable(
        self, type_name: str, fields: Iterable[str], owners: Iterable[uuid.UUID] | None = None
    ) -> list[str]:
        """Those of ``fields`` readable on every row of ``owners`` (default: every owner)."""
        chosen = None if owners is None else list(owners)
        return [f for f in fields if self.plan.readable_everywhere(type_name, f, chosen)]

    def require_filterable(
        self,
        type_name: str,
        fields: Iterable[str],
        owners: Iterable[uuid.UUID] | None = None,
        *,
        use: str,
    ) -> None:
        """``FORBIDDEN`` (reason ``FORBIDDEN_<USE>``) unless every field is filterable."""
        chosen = None if owners is None else list(owners)
        for name in fields:
            if name == "id":
                continue  # the identity of a visible row is never withheld
            if not self.plan.readable_everywhere(type_name, name, chosen):
                coordinate = f"{type_name}.{name}"
                raise Forbidden(
                    f"you may not {use} on {coordinate}: it is not readable on every row you "
                    "can see",
                    reason="FORBIDDEN_" + use.upper(),
                    coordinate=coordinate,
                )

    # -- form answers -------------------------------------------------------------------------
    def answer_grant(
        self, owner: uuid.UUID, scopes: Iterable[str] | None = None
    ) -> tuple[frozenset[str], frozenset[str]]:
        """(answer keys that may leave, ids of the agreements granting them) on a record of
        ``owner`` under ``scopes``."""
        grants = self.plan.grants(RECORD_TYPE, self.action).get(owner, ())
        if not self.uniform(RECORD_TYPE, owner):
            matched = set(scopes or ())
            grants = tuple(g for g in grants if str(g.scope) in matched)
        keys = frozenset().union(*(g.answer_keys for g in grants))
        agreements = frozenset().union(*(g.agreements for g in grants if g.answer_keys))
        return keys, agreements

    def all_answer_keys(self, owners: Iterable[uuid.UUID]) -> frozenset[str]:
        """Answer keys some record of ``owners`` may carry (a file's answer columns)."""
        by_owner = self.plan.grants(RECORD_TYPE, self.action)
        return frozenset().union(*(g.answer_keys for o in owners for g in by_owner.get(o, ())))

    def part2_keys(self, owner: uuid.UUID) -> frozenset[str]:
        return self.plan.core.part2_keys.get(owner, frozenset())

    def is_own(self, owner: uuid.UUID) -> bool:
        return self.plan.is_own(owner)

    def needs_consent(self, row: RowFacts, requested_answers: Iterable[str] | None = None) -> bool:
        """Whether deciding ``row``'s answers needs its client's consents (Part 2 answers of
        another organization's record that the grant would otherwise let out)."""
        if self.is_own(row.owner) or row.client_id is None:
            return False
        keys, _ = self.answer_grant(row.owner, row.scopes)
        asked = row.answer_keys if requested_answers is None else frozenset(requested_answers)
        return bool(self.part2_keys(row.owner) & keys & row.answer_keys & asked)

    def consent_for(self, agreements: frozenset[str], consents: Sequence[Any]) -> uuid.UUID | None:
        """The first of a client's ``consents`` that lets Part 2 answers granted by
        ``agreements`` reach this plan's principal, if any."""
        purposes = {self.plan.core.purposes[a] for a in agreements if a in self.plan.core.purposes}
        principal = self.plan.principal
        for consent in consents:
            if consent_covers(
                consent,
                principal.tenant_id,
                principal.partner_organization_id,
                purposes,
                self.now,
            ):
                return consent.id  # type: ignore[no-any-return]
        return None

    # -- one row ------------------------------------------------------------------------------
    def row(
        self,
        type_name: str,
        row: RowFacts,
        requested: Iterable[str] = (),
        *,
        requested_answers: Iterable[str] | None = None,
        consents: Sequence[Any] = (),
    ) -> RowDisclosure:
        """What of ``row`` may leave: the ``requested`` fields, and (when ``answers`` is one
        of them and may leave) the present answer keys, or ``requested_answers`` of them.
        ``consents`` are the row's client's consents, needed when :meth:`needs_consent`."""
        allowed = self.fields(type_name, row.owner, row.scopes)
        asked = frozenset(requested)
        fields = asked & allowed
        withheld = asked - allowed
        if type_name != RECORD_TYPE or "answers" not in fields:
            return RowDisclosure(type_name, row, fields, withheld)
        present = row.answer_keys
        asked_keys = present if requested_answers is None else present & set(requested_answers)
        keys, agreements = self.answer_grant(row.owner, row.scopes)
        part2_keys = self.part2_keys(row.owner)
        within_owner = self.is_own(row.owner)
        consent_id = None
        leaving = asked_keys & keys
        part2 = leaving & part2_keys
        if part2 and not within_owner:
            consent_id = self.consent_for(agreements, consents) if row.client_id else None
            if consent_id is None:
                leaving -= part2
                part2 = frozenset()
        return RowDisclosure(
            type_name,
            row,
            fields,
            withheld,
            leaving,
            asked_keys - leaving,
            Part2(part2, within_owner, consent_id),
        )

    # -- as SQL -------------------------------------------------------------------------------
    def readable_sql(
        self, model: Any, field_name: str, *, link: Any | None = None
    ) -> ColumnElement[bool] | None:
        """A predicate on ``model``'s rows telling whether ``field_name`` may leave on each (per
        owner, and per row scope where the owner's grants differ); ``None`` when it may on
        every row :meth:`where` lets through. ``link``: as in :meth:`where`."""
        type_name = MODEL_TYPES[model]
        tenant = model.tenant_id
        readable: list[ColumnElement[bool]] = []
        everywhere = True
        for owner, grants in self.plan.grants(type_name, self.action).items():
            uniform = self.plan.uniform_fields(type_name, owner, self.action)
            if uniform is not None:
                if field_name in uniform:
                    readable.append(tenant == owner)
                else:
                    everywhere = False
                continue
            clauses = self.plan.scope_clauses(model, owner, self.action, link=link)
            granting = [clauses[str(g.scope)] for g in grants if field_name in g.fields]
            everywhere = everywhere and len(granting) == len(grants)
            if granting:
                readable.append(and_(tenant == owner, or_(*granting)))
        if everywhere:
            return None
        return or_(false(), *readable)

    def masked(self, model: Any, field_name: str, value: Any) -> Any:
        """``value`` where ``field_name`` may leave on the row, else NULL."""
        readable = self.readable_sql(model, field_name)
        return value if readable is None else case((readable, value), else_=None)
