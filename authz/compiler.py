"""Compiling an access plan from a policy snapshot, with exactly the model's semantics.

For the principal's subjects (its home, its home narrowed to each of its roles, ``public``)
and each action, per owner tenant:
- a coordinate is denied when any valid deny rule matches it;
- it is readable on rows of scope S when a valid allow rule with scope S matches it (and the
  coordinate was in the field catalogue when the rule's agreement was approved), it is not
  denied, and one of the principal's roles allows it (role deny rules win there too).
Globs are expanded against the known coordinates (plus the owner's form answer keys), so the
plan holds plain sets and a request never evaluates a rule.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from sharegraph.authz.coordinates import (
    ANSWERS_PREFIX,
    DIRECTORY_TYPES,
    OPERATIONS,
    answer_coordinate,
    coordinate_matches,
    field_coordinates,
    type_of,
)
from sharegraph.authz.policy import (
    ACTIONS,
    PUBLIC,
    ROLE_ONLY_ACTIONS,
    Snapshot,
    approved_at,
    role_subject,
    stamp,
    valid_at,
)
from sharegraph.authz.scopes import Grantee, Scope, parse
from sharegraph.datastore.rls import RlsScope


@dataclass(frozen=True)
class Grant:
    """Rows of one scope, and what may be done with their fields."""

    scope: Scope
    fields: frozenset[str]  # GraphQL field names of the type
    answer_keys: frozenset[str]  # form answer keys (ContactRecord only)
    agreements: frozenset[str]  # ids of the agreements behind it ("own" for the owner itself)


@dataclass(frozen=True)
class PlanCore:
    """Everything a plan decides, for one home and set of roles at one policy version."""

    home: str
    grantee: Grantee
    roles: frozenset[str]
    policy_version: int
    # (action, type) -> owner tenant -> grants
    grants: dict[tuple[str, str], dict[uuid.UUID, tuple[Grant, ...]]]
    operations: dict[str, frozenset[str]]  # action -> operation names the roles allow
    part2_keys: dict[uuid.UUID, frozenset[str]]
    known_answer_keys: dict[uuid.UUID, frozenset[str]]
    purposes: dict[str, str]  # agreement id -> purpose
    expires_at: datetime | None

    @cached_property
    def rls_scope(self) -> RlsScope:
        """The tenants whose record and directory rows a transaction under this plan may
        touch (PostgreSQL RLS): every tenant any grant names. Once per core, not per request."""
        records: set[uuid.UUID] = set()
        directory: set[uuid.UUID] = set()
        for (_action, type_name), by_owner in self.grants.items():
            (directory if type_name in DIRECTORY_TYPES else records).update(by_owner)
        return RlsScope(record_tenants=frozenset(records), directory_tenants=frozenset(directory))


def _role_allowed(
    snapshot: Snapshot, roles: Iterable[str], action: str, universe: Iterable[str]
) -> set[str]:
    allow: list[str] = []
    deny: list[str] = []
    for role, pattern, act, effect in snapshot.role_rules():
        if role in roles and act == action:
            (allow if effect == "allow" else deny).append(pattern)
    return {
        c
        for c in universe
        if any(coordinate_matches(c, p) for p in allow)
        and not any(coordinate_matches(c, p) for p in deny)
    }


def compile_core(
    snapshot: Snapshot,
    *,
    home_tenant: uuid.UUID | None,
    home_partner: uuid.UUID | None,
    roles: frozenset[str],
    now: datetime | None = None,
) -> PlanCore:
    now = now or datetime.now(UTC)
    at = stamp(now)
    home = f"tenant:{home_tenant}" if home_tenant else f"partner:{home_partner}"
    subjects = {home, PUBLIC, *(role_subject(home, r) for r in roles)}
    base = field_coordinates()
    rules_by_owner: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
    boundaries: list[str] = []
    purposes: dict[str, str] = {}
    for rule in snapshot.sharing_rules():
        owner_text, subject, _obj, action, _eft, _scope, start, end, agreement, _rev = rule
        if subject not in subjects:
            continue
        boundaries += [b for b in (start, end) if b and b > at]
        if not valid_at(at, start, end):
            continue
        rules_by_owner[(owner_text, action)].append(rule)
        if agreement in snapshot.agreements:
            purposes[agreement] = snapshot.agreements[agreement].purpose

    grants: dict[tuple[str, str], dict[uuid.UUID, tuple[Grant, ...]]] = defaultdict(dict)
    operations: dict[str, frozenset[str]] = {
        action: frozenset(_role_allowed(snapshot, roles, action, OPERATIONS))
        for action in ROLE_ONLY_ACTIONS
    }
    for action in ACTIONS:
        operations[action] = frozenset(_role_allowed(snapshot, roles, action, OPERATIONS))
        role_cache: dict[uuid.UUID, set[str]] = {}
        for (rule_owner, rule_action), rules in rules_by_owner.items():
            if rule_action != action:
                continue
            owner = uuid.UUID(rule_owner)
            universe = base + [answer_coordinate(k) for k in snapshot.answer_keys.get(owner, {})]
            if owner not in role_cache:
                role_cache[owner] = _role_allowed(snapshot, roles, action, universe)
            allowed_by_role = role_cache[owner]
            denies = [r[2] for r in rules if r[4] == "deny"]
            # scope -> (coordinates, type -> ids of the agreements that share that type)
            per_scope: dict[str, tuple[set[str], dict[str, set[str]]]] = {}
            for rule in rules:
                if rule[4] != "allow":
                    continue
                matched = {
                    c
                    for c in allowed_by_role
                    if coordinate_matches(c, rule[2]) and approved_at(c, rule[9])
                }
                matched = {c for c in matched if not any(coordinate_matches(c, d) for d in denies)}
                if not matched:
                    continue
                coords, agreements = per_scope.setdefault(rule[5], (set(), defaultdict(set)))
                coords |= matched
                for coordinate in matched:
                    agreements[type_of(coordinate)].add(rule[8])
            by_type: dict[str, list[Grant]] = defaultdict(list)
            for scope_text, (coords, agreements) in per_scope.items():
                fields_by_type: dict[str, set[str]] = defaultdict(set)
                answer_keys: set[str] = set()
                for coordinate in coords:
                    if coordinate.startswith(ANSWERS_PREFIX):
                        answer_keys.add(coordinate[len(ANSWERS_PREFIX) :])
                    else:
                        fields_by_type[type_of(coordinate)].add(coordinate.split(".", 1)[1])
                if answer_keys:
                    fields_by_type.setdefault(
                        "ContactRecord", set()
                    )  # answers alone make rows visible
                scope = parse(scope_text)
                for type_name, fields in fields_by_type.items():
                    keys = frozenset(answer_keys) if type_name == "ContactRecord" else frozenset()
                    by_type[type_name].append(
                        Grant(scope, frozenset(fields), keys, frozenset(agreements[type_name]))
                    )
            for type_name, type_grants in by_type.items():
                grants[(action, type_name)][owner] = tuple(
                    sorted(type_grants, key=lambda g: str(g.scope))
                )

    return PlanCore(
        home=home,
        grantee=Grantee(tenant_id=home_tenant, partner_id=home_partner),
        roles=roles,
        policy_version=snapshot.version,
        grants=dict(grants),
        operations=operations,
        part2_keys={owner: snapshot.part2_keys(owner) for owner in snapshot.tenants},
        known_answer_keys={owner: frozenset(keys) for owner, keys in snapshot.answer_keys.items()},
        purposes=purposes,
        expires_at=datetime.strptime(min(boundaries), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        if boundaries
        else None,
    )
