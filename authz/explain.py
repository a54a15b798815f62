"""Why a principal may or may not do something with a coordinate: the plan's answer, and the
rule that decided it.

The answer (allowed or not, under which row scopes) is read from the principal's compiled
:class:`PlanCore`, the plan enforcement uses. The rule behind it is found by walking the policy
snapshot with the compiler's semantics (:mod:`.compiler`), in the order a reader checks them:

1. the principal's roles (those it holds in its home, as the plan counts them): a role's deny
   line wins (``ROLE_DENY``); without a role's allow line nothing is allowed (``NO_ROLE_RULE``);
2. the owner's deny rules for the principal (``DENY_RULE``);
3. the owner's allow rules: its own data (``OWN_DATA``) or an agreement (``AGREEMENT``); failing
   that, one that would share the field once approved (``PENDING_REVIEW``), one outside its
   validity window (``NOT_VALID_NOW``), or none (``NO_AGREEMENT``);
4. the row scopes a given record falls under (``OUTSIDE_ROW_SCOPE``).

Operations (``createReferral``) answer to roles alone (``OPERATION_ALLOWED``/``_DENIED``).
A walk that disagrees with the plan is a bug: :class:`ExplanationMismatch`, never a wrong answer.
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial

from sharegraph.authz.compiler import PlanCore
from sharegraph.authz.coordinates import (
    ANSWERS_PREFIX,
    OPERATIONS,
    TYPE_FIELDS,
    answer_coordinate,
    coordinate_matches,
    field_coordinates,
    type_of,
)
from sharegraph.authz.names import Names, scope_ids
from sharegraph.authz.policy import (
    ACTIONS,
    OWN,
    PUBLIC,
    AgreementRow,
    Snapshot,
    approved_at,
    role_subject,
    stamp,
    valid_at,
)
from sharegraph.authz.scopes import parse
from sharegraph.errors import BadUserInput, quote

SUGGESTIONS = 5
Rule = tuple[str, ...]


class Decision(StrEnum):
    """The kind of rule that decided."""

    OWN_DATA = "OWN_DATA"
    AGREEMENT = "AGREEMENT"
    ROLE_DENY = "ROLE_DENY"
    NO_ROLE_RULE = "NO_ROLE_RULE"
    DENY_RULE = "DENY_RULE"
    NO_AGREEMENT = "NO_AGREEMENT"
    PENDING_REVIEW = "PENDING_REVIEW"
    NOT_VALID_NOW = "NOT_VALID_NOW"
    OUTSIDE_ROW_SCOPE = "OUTSIDE_ROW_SCOPE"
    OPERATION_ALLOWED = "OPERATION_ALLOWED"
    OPERATION_DENIED = "OPERATION_DENIED"
    DISABLED = "DISABLED"


class CoordinateKind(StrEnum):
    FIELD = "field"
    ANSWER = "answer"
    OPERATION = "operation"


class ExplanationMismatch(RuntimeError):
    """The rule walk and the compiled plan disagree: a bug in one of them."""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    decided_by: Decision
    reason: str
    roles: tuple[str, ...] = ()
    agreement: AgreementRow | None = None
    role_rule: Rule | None = None  # role, glob, action, effect
    sharing_rule: Rule | None = None  # a p2 rule (see model.conf)
    row_scopes: tuple[str, ...] = ()
    record_in_scopes: tuple[str, ...] | None = None


DISABLED = Verdict(
    allowed=False,
    decided_by=Decision.DISABLED,
    reason="the principal is disabled: its credentials are refused",
)


# -- the question ------------------------------------------------------------------------------


def classify(coordinate: str, answer_keys: Iterable[str]) -> CoordinateKind:
    """What ``coordinate`` names; ``BAD_USER_INPUT``/``UNKNOWN_COORDINATE`` with the closest known
    coordinates when it names nothing."""
    keys = set(answer_keys)
    if coordinate in OPERATIONS:
        return CoordinateKind.OPERATION
    if coordinate.startswith(ANSWERS_PREFIX) and coordinate[len(ANSWERS_PREFIX) :] in keys:
        return CoordinateKind.ANSWER
    type_name, _, name = coordinate.partition(".")
    if name in TYPE_FIELDS.get(type_name, ()):
        return CoordinateKind.FIELD
    known = [*field_coordinates(), *OPERATIONS, *(answer_coordinate(k) for k in sorted(keys))]
    close = difflib.get_close_matches(coordinate, known, n=SUGGESTIONS)
    hint = (
        f"; the closest known: {', '.join(quote(c) for c in close)}"
        if close
        else "; use Type.field, ContactRecord.answers.<form field key> or an operation name"
    )
    raise BadUserInput(
        f"{quote(coordinate)} is not a known coordinate{hint}",
        reason="UNKNOWN_COORDINATE",
        suggestions=close,
    )


def action_for(kind: CoordinateKind, coordinate: str, action: str | None) -> str:
    """The action to explain: ``read`` for fields unless given; an operation is checked for its
    own action only (``createReferral``: ``write``), so another one is ``BAD_ACTION``."""
    if kind is CoordinateKind.OPERATION:
        own = OPERATIONS[coordinate]
        if action is not None and action != own:
            raise BadUserInput(
                f"{coordinate} is checked for {own} only, not {quote(action)}",
                reason="BAD_ACTION",
            )
        return own
    chosen = action or "read"
    if chosen not in ACTIONS:
        raise BadUserInput(f"action must be one of {', '.join(ACTIONS)}", reason="BAD_ACTION")
    return chosen


def names_needed(snapshot: Snapshot, core: PlanCore, owner: uuid.UUID) -> set[uuid.UUID]:
    """The ids an explanation of ``owner``'s data for ``core`` may name (owner, the principal's
    home, forms and inventories of row scopes)."""
    home = core.grantee.tenant_id or core.grantee.partner_id
    scopes = {parse(r[5]) for r in snapshot.sharing_rules() if r[0] == str(owner) and r[5] != "-"}
    return {owner, *([home] if home else []), *scope_ids(scopes)}


# -- the answer --------------------------------------------------------------------------------


def explain(
    snapshot: Snapshot,
    core: PlanCore,
    owner: uuid.UUID,
    coordinate: str,
    action: str,
    *,
    names: Names,
    now: datetime | None = None,
    record_scopes: Iterable[str] | None = None,
) -> Verdict:
    """Whether the principal ``core`` was compiled for may ``action`` ``coordinate`` of
    ``owner``'s data (on a record under ``record_scopes``, if given), and the rule that decided.
    ``now`` must be a moment the plan holds for (``PolicyStore.plan_for(principal, now)``)."""
    now = now or datetime.now(UTC)
    kind = classify(coordinate, snapshot.answer_keys.get(owner, {}))
    walk = _Walk(snapshot, core, owner, coordinate, action, now, names)
    if kind is CoordinateKind.OPERATION:
        return walk.operation()
    planned = _plan_scopes(core, owner, coordinate, action, kind)
    if walk.scopes() != planned:
        raise ExplanationMismatch(
            f"the plan shares {coordinate} ({action}) under {sorted(planned)}, "
            f"the rules under {sorted(walk.scopes())}"
        )
    in_scopes = None if record_scopes is None else planned & {str(s) for s in record_scopes}
    return walk.field(planned, in_scopes, kind)


def _plan_scopes(
    core: PlanCore, owner: uuid.UUID, coordinate: str, action: str, kind: CoordinateKind
) -> set[str]:
    grants = core.grants.get((action, type_of(coordinate)), {}).get(owner, ())
    if kind is CoordinateKind.ANSWER:
        key = coordinate[len(ANSWERS_PREFIX) :]
        return {str(g.scope) for g in grants if key in g.answer_keys}
    name = coordinate.split(".", 1)[1]
    return {str(g.scope) for g in grants if name in g.fields}


class _Walk:
    """The rules that bear on one question, and the sentences that name them."""

    def __init__(
        self,
        snapshot: Snapshot,
        core: PlanCore,
        owner: uuid.UUID,
        coordinate: str,
        action: str,
        now: datetime,
        names: Names,
    ) -> None:
        self.snapshot = snapshot
        self.core = core
        self.owner = owner
        self.coordinate = coordinate
        self.action = action
        self.names = names
        self.roles = tuple(sorted(core.roles))
        lines = [
            tuple(r)
            for r in snapshot.role_rules()
            if r[0] in core.roles and r[2] == action and coordinate_matches(coordinate, r[1])
        ]
        self.role_deny = next((r for r in lines if r[3] != "allow"), None)
        self.role_allow = next((r for r in lines if r[3] == "allow"), None)
        subjects = {core.home, PUBLIC, *(role_subject(core.home, r) for r in core.roles)}
        at = stamp(now)
        self.rules = [
            tuple(r)
            for r in snapshot.sharing_rules()
            if r[0] == str(owner) and r[3] == action and coordinate_matches(coordinate, r[2])
        ]
        mine = [r for r in self.rules if r[1] in subjects]
        self.others = [r for r in self.rules if r[1] not in subjects and valid_at(at, r[6], r[7])]
        valid = [r for r in mine if valid_at(at, r[6], r[7])]
        self.invalid = [r for r in mine if r[4] == "allow" and not valid_at(at, r[6], r[7])]
        self.denies = [r for r in valid if r[4] != "allow"]
        self.allows = [r for r in valid if r[4] == "allow" and approved_at(coordinate, r[9])]
        self.pending = [r for r in valid if r[4] == "allow" and not approved_at(coordinate, r[9])]

    # -- the compiler's semantics ----------------------------------------------------------------
    def role_ok(self) -> bool:
        return self.role_allow is not None and self.role_deny is None

    def scopes(self) -> set[str]:
        if not self.role_ok() or self.denies:
            return set()
        return {str(parse(r[5])) for r in self.allows}

    # -- verdicts --------------------------------------------------------------------------------
    def operation(self) -> Verdict:
        allowed = self.role_ok()
        if allowed != (self.coordinate in self.core.operations.get(self.action, frozenset())):
            raise ExplanationMismatch(f"the plan and the role lines disagree on {self.coordinate}")
        if self.role_deny is not None:
            return self._verdict(
                False,
                Decision.OPERATION_DENIED,
                f"denied by the role policy line {_line(self.role_deny)}",
                role_rule=self.role_deny,
            )
        if self.role_allow is None:
            return self._verdict(
                False,
                Decision.OPERATION_DENIED,
                f"no role of the principal ({self._held()}) allows the operation "
                f"{self.coordinate} ({self.action})",
            )
        return self._verdict(
            True,
            Decision.OPERATION_ALLOWED,
            f"the principal's role may use {self.coordinate}: {_line(self.role_allow)}",
            role_rule=self.role_allow,
        )

    def field(self, planned: set[str], in_scopes: set[str] | None, kind: CoordinateKind) -> Verdict:
        verdict = partial(
            self._verdict,
            row_scopes=tuple(sorted(planned)),
            record_in_scopes=None if in_scopes is None else tuple(sorted(in_scopes)),
            role_rule=self.role_allow,
        )
        coordinate, action = self.coordinate, self.action
        if self.role_deny is not None:
            return verdict(
                False,
                Decision.ROLE_DENY,
                f"denied by the role policy line {_line(self.role_deny)}",
                role_rule=self.role_deny,
            )
        if self.role_allow is None:
            return verdict(
                False,
                Decision.NO_ROLE_RULE,
                f"no role of the principal ({self._held()}) allows {action} on {coordinate}",
            )
        if self.denies:
            rule = self.denies[0]
            return verdict(
                False,
                Decision.DENY_RULE,
                f"denied by the deny rule of agreement {self._agreement_name(rule)}, "
                f"which never shares `{rule[2]}` for {action}",
                sharing_rule=rule,
            )
        if not self.allows:
            return self._unshared(verdict)
        usable = [r for r in self.allows if in_scopes is None or str(parse(r[5])) in in_scopes]
        if not usable:
            scopes = ", ".join(self.names.scope(parse(s)) for s in sorted(planned))
            rule = self.allows[0]
            return verdict(
                False,
                Decision.OUTSIDE_ROW_SCOPE,
                f"the record is outside the row scopes under which {coordinate} is shared "
                f"for {action}: {scopes} (agreement {self._agreement_name(rule)})",
                sharing_rule=rule,
            )
        own = [r for r in usable if r[8] == OWN]
        if own:
            return verdict(
                True,
                Decision.OWN_DATA,
                f"allowed: {coordinate} is {self._owner()}'s own data, and the principal's "
                f"role allows {action} on it: {_line(self.role_allow)}" + self._part2(kind),
                sharing_rule=own[0],
            )
        # One rule per agreement, named in a stable order.
        deciding = sorted(
            {r[8]: r for r in usable}.values(), key=lambda r: (self._agreement_name(r), r[5])
        )
        where = ", which the record falls under" if in_scopes is not None else ""
        first, *more = [
            f"agreement {self._agreement_name(r)} (row scope {self.names.scope(parse(r[5]))}"
            for r in deciding
        ]
        also = f"; also by {'), '.join(more)})" if more else ""
        return verdict(
            True,
            Decision.AGREEMENT,
            f"allowed by {first}{where}){also}" + self._part2(kind),
            sharing_rule=deciding[0],
        )

    def _unshared(self, verdict: Callable[..., Verdict]) -> Verdict:
        coordinate, action = self.coordinate, self.action
        if self.pending:
            rule = self.pending[0]
            return verdict(
                False,
                Decision.PENDING_REVIEW,
                f"{coordinate} is pending review: agreement {self._agreement_name(rule)} would "
                "share it once an admin approves the field (approveSharingAgreement)",
                sharing_rule=rule,
            )
        if self.invalid:
            rule = self.invalid[0]
            return verdict(
                False,
                Decision.NOT_VALID_NOW,
                f"agreement {self._agreement_name(rule)} shares {coordinate} for {action} but "
                f"is not in force now ({_window(rule[6], rule[7])})",
                sharing_rule=rule,
            )
        sentence = (
            f"{self._home()} has no agreement with {self._owner()} that shares {coordinate} "
            f"for {action}"
        )
        elsewhere = [
            r for r in self.others if r[4] == "allow" and r[1].startswith(self.core.home + "/")
        ]
        if elsewhere:
            rule = elsewhere[0]
            sentence += (
                f" with the principal's roles ({self._held()}); agreement "
                f"{self._agreement_name(rule)} shares it with {self.names.subject(rule[1])} only"
            )
        return verdict(False, Decision.NO_AGREEMENT, sentence)

    # -- phrases ---------------------------------------------------------------------------------
    def _verdict(
        self,
        allowed: bool,
        decided_by: Decision,
        reason: str,
        *,
        role_rule: Rule | None = None,
        sharing_rule: Rule | None = None,
        row_scopes: tuple[str, ...] = (),
        record_in_scopes: tuple[str, ...] | None = None,
    ) -> Verdict:
        return Verdict(
            allowed=allowed,
            decided_by=decided_by,
            reason=reason,
            roles=self.roles,
            agreement=self.snapshot.agreements.get(sharing_rule[8]) if sharing_rule else None,
            role_rule=role_rule,
            sharing_rule=sharing_rule,
            row_scopes=row_scopes,
            record_in_scopes=record_in_scopes,
        )

    def _agreement_name(self, rule: Sequence[str]) -> str:
        found = self.snapshot.agreements.get(rule[8])
        return quote(found.name) if found is not None else "(no longer listed)"

    def _held(self) -> str:
        return ", ".join(self.roles) if self.roles else f"none held in {self._home()}"

    def _home(self) -> str:
        return self.names.home(self.core.grantee.tenant_id, self.core.grantee.partner_id)

    def _owner(self) -> str:
        return self.names.of("tenant", self.owner)

    def _part2(self, kind: CoordinateKind) -> str:
        key = self.coordinate[len(ANSWERS_PREFIX) :]
        if (
            kind is CoordinateKind.ANSWER
            and self.core.grantee.tenant_id != self.owner
            and key in self.core.part2_keys.get(self.owner, frozenset())
        ):
            return (
                f"; as a 42 CFR Part 2 answer it leaves {self._owner()} only under a consent "
                "of the client naming the recipient and the agreement's purpose"
            )
        return ""


def _line(rule: Sequence[str]) -> str:
    return f"`p, {', '.join(rule)}`"


def _window(start: str, end: str) -> str:
    def shown(moment: str) -> str:
        parsed = datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%fZ")
        return parsed.strftime("%Y-%m-%d %H:%M UTC")

    if start and end:
        return f"valid from {shown(start)} until {shown(end)}"
    if start:
        return f"valid from {shown(start)}"
    return f"valid until {shown(end)}"
