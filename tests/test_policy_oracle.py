"""Casbin as the oracle for the plan compiler (authz/compiler.py).

Hypothesis generates owner tenants, a principal (home tenant or partner, one or two roles),
sharing agreements (grantees, roles, actions, field globs, denials, answer sensitivity, row
scopes, validity windows around ``now``) and form answer keys. The snapshot is built with
``policy.build`` and the plan core compiled for the principal at ``now``; then, for every owner,
action, row scope named in the rules and coordinate (every ``Type.field`` plus every answer
coordinate of the owner's forms):

    coordinate in the compiled grant  <=>  enforce_role(...) and enforce_sharing(..., scope, now)

and a row of (owner, type, scope) is visible (a Grant with that scope exists) iff some field of
the type is allowed. The plan's expiry is the first validity boundary after ``now`` among the
principal's agreements (and the plan compiled just before it is the same), and its operations
are what the roles allow. A role held outside the principal's home domain acts for nobody's
home (tested below).

Speed: Casbin evaluates every rule on every call (~0.5 ms), and there are thousands of
(owner, action, scope, coordinate) questions per example. The model reads the coordinate only
through ``coordMatch(r.obj, p.obj)``, so two coordinates matched by exactly the same patterns of
the policy get the same answer from Casbin for every other argument: the oracle asks Casbin once
per such class (memoised) and every coordinate is still checked against the plan.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sharegraph.authz import policy
from sharegraph.authz.catalogue import REVISION
from sharegraph.authz.compiler import Grant, PlanCore, compile_core
from sharegraph.authz.coordinates import (
    OPERATIONS,
    TYPE_FIELDS,
    answer_coordinate,
    coordinate_matches,
    field_coordinates,
)
from sharegraph.authz.policy import ACTIONS, ROLE_ONLY_ACTIONS, AgreementRow, Snapshot
from sharegraph.datastore.enums import GranteeKind, Sensitivity

NOW = datetime(2025, 6, 1, 12, 0, 0, 500_000, tzinfo=UTC)
TENANTS = [uuid.UUID(int=0x7E0000 + i) for i in range(1, 4)]  # 7e0001.. : easy to read
PARTNERS = [uuid.UUID(int=0xBA0000 + i) for i in range(1, 3)]
PRINCIPAL = uuid.UUID(int=0x1)
BYSTANDER = uuid.UUID(int=0x2)  # another principal whose links must not leak
ROLES = sorted({rule[0] for rule in policy.role_rules()})
COORDINATES = field_coordinates()
ANSWER_KEYS = ["risk", "housing", "sud_history", "income"]
SCOPES = [
    "all",
    "all",  # weighted: most agreements in practice
    "referred_to_grantee",
    "assigned_to_grantee",
    "follow_up_assigned_to_grantee",
    "region:Polk",
    "region:501",
    f"shared_form:{uuid.UUID(int=0xF0)}",
    f"inventory:{uuid.UUID(int=0x1F)}",
]
# Validity bounds relative to NOW: exactly NOW and one microsecond either side included.
OFFSETS = [
    timedelta(days=-30),
    timedelta(hours=-1),
    timedelta(microseconds=-1),
    timedelta(0),
    timedelta(microseconds=1),
    timedelta(hours=1),
    timedelta(days=30),
]
ZONES = [UTC, timezone(timedelta(hours=-6)), timezone(timedelta(hours=5, minutes=30))]

patterns = st.one_of(
    st.sampled_from(COORDINATES),  # exact coordinates
    st.sampled_from([f"{t}.*" for t in TYPE_FIELDS]),
    st.sampled_from(
        [
            "*",
            "ContactRecord.*",
            "ContactRecord.answers",
            "ContactRecord.answers.*",
            "ContactRecord.answers.r*",
            "Client.*",
            "Referral.status*",
            "Service*",
            "*.uuid",
            "*.name",
            "*.tenant",
            "Client.[fl]*Name",
        ]
    ),
    st.sampled_from([answer_coordinate(k) for k in ANSWER_KEYS]),
)


@st.composite
def moments(draw: st.DrawFn) -> datetime | None:
    offset = draw(st.none() | st.sampled_from(OFFSETS))
    if offset is None:
        return None
    return (NOW + offset).astimezone(draw(st.sampled_from(ZONES)))


@st.composite
def agreements(
    draw: st.DrawFn,
    index: int,
    owners: list[uuid.UUID],
    home: tuple[uuid.UUID | None, uuid.UUID | None],
    roles: tuple[str, ...],
) -> AgreementRow:
    # Half the agreements name the principal's home (else few examples would share anything).
    grantee = draw(st.sampled_from(["home", "home", "tenant", "partner", "public"]))
    if grantee == "home":
        grantee_tenant, grantee_partner = home
    else:
        grantee_tenant = draw(st.sampled_from(owners)) if grantee == "tenant" else None
        grantee_partner = draw(st.sampled_from(PARTNERS)) if grantee == "partner" else None
    if grantee_tenant is not None:
        kind = GranteeKind.TENANT
    elif grantee_partner is not None:
        kind = GranteeKind.PARTNER
    else:
        kind = GranteeKind.PUBLIC
    role = (
        None
        if kind is GranteeKind.PUBLIC
        else draw(st.none() | st.sampled_from(roles) | st.sampled_from(ROLES))
    )
    fields = draw(st.lists(patterns, min_size=1, max_size=3, unique=True))
    denied = draw(
        st.lists(st.sampled_from(fields) | patterns, max_size=2, unique=True) | st.just([])
    )
    start, end = draw(moments()), draw(moments())
    if start is not None and end is not None and end <= start:
        start, end = end, (start if start > end else None)  # valid_until > valid_from
    return AgreementRow(
        id=uuid.UUID(int=0xA6000 + index),
        name=f"agreement {index}",
        owner=draw(st.sampled_from(owners)),
        grantee_kind=kind,
        grantee_tenant_id=grantee_tenant,
        grantee_partner_id=grantee_partner,
        grantee_role=role,
        actions=tuple(draw(st.lists(st.sampled_from(ACTIONS), min_size=1, unique=True))),
        fields=tuple(fields),
        denied_fields=tuple(denied),
        answer_sensitivity=draw(st.none() | st.sampled_from(list(Sensitivity))),
        row_scope=draw(st.sampled_from(SCOPES)),
        valid_from=start,
        valid_until=end,
        purpose=f"purpose {index}",
        # 0: approved before any field existed, so its globs grant no catalogue field (form
        # answers only); the oracle and the compiler must agree on that too.
        catalogue_revision=draw(st.sampled_from([0, REVISION])),
    )


@dataclass(frozen=True)
class World:
    owners: list[uuid.UUID]
    home_tenant: uuid.UUID | None
    home_partner: uuid.UUID | None
    roles: tuple[str, ...]
    agreements: list[AgreementRow]
    answer_keys: dict[uuid.UUID, dict[str, Sensitivity]]
    # (role, domain) assignments outside the home domain (the admin API refuses them)
    foreign_roles: tuple[tuple[str, str], ...] = ()

    @property
    def home(self) -> str:
        if self.home_tenant is not None:
            return policy.tenant_subject(self.home_tenant)
        return policy.partner_subject(self.home_partner)  # type: ignore[arg-type]

    def grants(self) -> list[tuple[uuid.UUID, str, str, str]]:
        rows = [(PRINCIPAL, role, self.home, self.home) for role in self.roles]
        rows += [(PRINCIPAL, role, domain, self.home) for role, domain in self.foreign_roles]
        # A bystander at another home with every role: its links must not reach PRINCIPAL.
        other = policy.partner_subject(PARTNERS[-1])
        if other == self.home:
            other = policy.tenant_subject(TENANTS[-1])
        rows += [(BYSTANDER, role, other, other) for role in ROLES]
        return rows

    def snapshot(self) -> Snapshot:
        return policy.build(1, self.owners, self.agreements, self.answer_keys, self.grants())

    def compile(self, snapshot: Snapshot) -> PlanCore:
        return compile_core(
            snapshot,
            home_tenant=self.home_tenant,
            home_partner=self.home_partner,
            roles=frozenset(self.roles),
            now=NOW,
        )


@st.composite
def worlds(draw: st.DrawFn) -> World:
    owners = TENANTS[: draw(st.integers(2, 3))]
    if draw(st.booleans()):
        home_tenant, home_partner = draw(st.sampled_from(owners)), None
    else:
        home_tenant, home_partner = None, draw(st.sampled_from(PARTNERS))
    roles = tuple(draw(st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True)))
    answer_keys = {
        owner: draw(
            st.dictionaries(
                st.sampled_from(ANSWER_KEYS), st.sampled_from(list(Sensitivity)), max_size=3
            )
        )
        for owner in owners
    }
    count = draw(st.integers(0, 4))
    rows = [draw(agreements(i, owners, (home_tenant, home_partner), roles)) for i in range(count)]
    return World(owners, home_tenant, home_partner, roles, rows, answer_keys)


class Oracle:
    """The two Casbin checks of model.conf, asked once per class of equivalent coordinates.

    A rule can only match requests with its own action (and owner), so a coordinate's class is
    the set of patterns of that action's (and owner's) rules that it matches.
    """

    def __init__(self, snapshot: Snapshot, home: str) -> None:
        self.snapshot = snapshot
        self.home = home
        self._patterns: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for _role, pattern, action, _eft in snapshot.role_rules():
            self._patterns[("p", action)].add(pattern)
        for owner, _sub, pattern, action, *_rest in snapshot.sharing_rules():
            self._patterns[("p2", owner, action)].add(pattern)

    def _classes(self, rules: tuple[str, ...], coordinates: list[str]) -> dict[str, frozenset[str]]:
        patterns = self._patterns.get(rules, set())
        return {c: frozenset(p for p in patterns if coordinate_matches(c, p)) for c in coordinates}

    def role(self, action: str, coordinates: list[str]) -> set[str]:
        """The coordinates the principal's roles allow in its home domain."""
        answers: dict[frozenset[str], bool] = {}
        allowed = set()
        for coordinate, cls in self._classes(("p", action), coordinates).items():
            if cls not in answers:
                answers[cls] = policy.enforce_role(
                    self.snapshot, PRINCIPAL, self.home, coordinate, action
                )
            if answers[cls]:
                allowed.add(coordinate)
        return allowed

    def sharing(
        self, owner: uuid.UUID, action: str, coordinates: list[str]
    ) -> Callable[[str, str], tuple[bool, list[str]]]:
        """enforce_sharing(owner, coordinate, action, scope, NOW) as ``decide(coordinate, scope)``."""
        classes = self._classes(("p2", str(owner), action), coordinates)
        answers: dict[tuple[str, frozenset[str]], tuple[bool, list[str]]] = {}

        def decide(coordinate: str, scope: str) -> tuple[bool, list[str]]:
            key = (scope, classes[coordinate])
            if key not in answers:
                answers[key] = policy.enforce_sharing(
                    self.snapshot, PRINCIPAL, owner, coordinate, action, scope, NOW
                )
            return answers[key]

        return decide


def _grant(core: PlanCore, action: str, type_name: str, owner: uuid.UUID, scope: str) -> Grant:
    found = [
        g for g in core.grants.get((action, type_name), {}).get(owner, ()) if str(g.scope) == scope
    ]
    assert len(found) <= 1, f"several grants for {action} {type_name} {owner} {scope}: {found}"
    return found[0] if found else Grant(None, frozenset(), frozenset(), frozenset())  # type: ignore[arg-type]


def _subjects(world: World) -> set[str]:
    return {world.home, policy.PUBLIC, *(policy.role_subject(world.home, r) for r in world.roles)}


def _has_rules(agreement: AgreementRow, keys: dict[str, Sensitivity]) -> bool:
    answers = agreement.answer_sensitivity is not None and any(
        s.rank <= agreement.answer_sensitivity.rank for s in keys.values()
    )
    return bool(agreement.actions) and bool(agreement.fields or agreement.denied_fields or answers)


def expected_expiry(world: World) -> datetime | None:
    subjects = _subjects(world)
    bounds = [
        moment
        for a in world.agreements
        if a.subject in subjects and _has_rules(a, world.answer_keys.get(a.owner, {}))
        for moment in (a.valid_from, a.valid_until)
        if moment is not None and moment > NOW
    ]
    return min(bounds) if bounds else None


def check(world: World, *, record_events: bool = True) -> None:
    snapshot = world.snapshot()
    core = world.compile(snapshot)
    oracle = Oracle(snapshot, world.home)
    scopes = sorted({r[5] for r in snapshot.sharing_rules() if r[4] == "allow"})
    problems: list[str] = []

    # Nothing in the plan outside the space checked below.
    for (action, type_name), by_owner in core.grants.items():
        assert action in ACTIONS and type_name in TYPE_FIELDS, (action, type_name)
        for owner, type_grants in by_owner.items():
            assert owner in world.owners, owner
            for g in type_grants:
                assert str(g.scope) in scopes, g
                assert g.fields <= set(TYPE_FIELDS[type_name]), g
                assert g.answer_keys <= set(world.answer_keys[owner]), g

    role_allowed = {action: oracle.role(action, COORDINATES) for action in ACTIONS}
    for owner in world.owners:
        answers = [answer_coordinate(k) for k in sorted(world.answer_keys[owner])]
        by_type = {t: [f"{t}.{f}" for f in fields] for t, fields in TYPE_FIELDS.items()}
        by_type["ContactRecord"] += answers
        for action in ACTIONS:
            by_role = role_allowed[action] | oracle.role(action, answers)
            decide = oracle.sharing(owner, action, [*COORDINATES, *answers])
            for scope in scopes:
                for type_name, coordinates in by_type.items():
                    grant = _grant(core, action, type_name, owner, scope)
                    in_plan = {f"{type_name}.{f}" for f in grant.fields} | {
                        answer_coordinate(k) for k in grant.answer_keys
                    }
                    allowed = set()
                    for coordinate in coordinates:
                        if coordinate not in by_role:
                            continue
                        ok, rule = decide(coordinate, scope)
                        if not ok:
                            continue
                        allowed.add(coordinate)
                        if coordinate in in_plan and rule and rule[8] not in grant.agreements:
                            problems.append(
                                f"{action} {coordinate} of {owner} on {scope}: allowed by "
                                f"agreement {rule[8]}, missing from {sorted(grant.agreements)}"
                            )
                    for coordinate in sorted(in_plan ^ allowed):
                        problems.append(
                            f"{action} {coordinate} of owner {owner} on scope {scope}: casbin "
                            f"{'allows' if coordinate in allowed else 'denies'} it (role "
                            f"{coordinate in by_role}, sharing rule "
                            f"{decide(coordinate, scope)[1]}), the plan "
                            f"{'has' if coordinate in in_plan else 'lacks'} it"
                        )
                    visible = grant.scope is not None
                    if visible != bool(allowed):
                        problems.append(
                            f"{action} {type_name} rows of owner {owner} on scope {scope}: "
                            f"plan {'shows' if visible else 'hides'} them, casbin allows "
                            f"{'some' if allowed else 'no'} field"
                        )
    for action in (*ACTIONS, *ROLE_ONLY_ACTIONS):
        expected = oracle.role(action, list(OPERATIONS))
        if core.operations[action] != expected:
            problems.append(
                f"operations {action}: plan {core.operations[action]}, casbin {expected}"
            )
    if core.expires_at != expected_expiry(world):
        problems.append(f"expires_at: plan {core.expires_at}, expected {expected_expiry(world)}")
    # Until it expires, the plan stays what it is (a cached plan is reused until then).
    last = (core.expires_at or NOW + timedelta(days=3650)) - timedelta(microseconds=1)
    later = compile_core(
        snapshot,
        home_tenant=world.home_tenant,
        home_partner=world.home_partner,
        roles=frozenset(world.roles),
        now=last,
    )
    if later.grants != core.grants:
        problems.append(f"the plan compiled at {last} differs from the one compiled at {NOW}")
    assert not problems, "\n".join(problems[:20])
    # What the examples exercised (shown by --hypothesis-show-statistics).
    shared = {
        g.scope.name
        for by_owner in core.grants.values()
        for owner, type_grants in by_owner.items()
        if owner != world.home_tenant
        for g in type_grants
    }
    if not record_events:
        return
    event(f"shared by another owner: {bool(shared)}")
    event(f"plan expires: {core.expires_at is not None}")
    event(
        f"answer keys granted: {any(g.answer_keys for gs in core.grants.get(('read', 'ContactRecord'), {}).values() for g in gs)}"
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_compiled_plan_matches_casbin(world: World) -> None:
    check(world)


def test_role_held_outside_the_home_domain() -> None:
    home, owner = TENANTS[0], TENANTS[1]
    world = World(
        owners=[home, owner],
        home_tenant=home,
        home_partner=None,
        roles=("call-taker",),  # the home-domain roles, as AuthzStore.plan_for computes them
        agreements=[
            AgreementRow(
                id=uuid.UUID(int=0xA6000),
                name="admins of the home",
                owner=owner,
                grantee_kind=GranteeKind.TENANT,
                grantee_tenant_id=home,
                grantee_role="tenant-admin",
                grantee_partner_id=None,
                actions=("read",),
                fields=("Client.*",),
                denied_fields=(),
                answer_sensitivity=None,
                row_scope="all",
                catalogue_revision=REVISION,
                valid_from=None,
                valid_until=None,
                purpose="purpose 0",
            )
        ],
        answer_keys={home: {}, owner: {}},
        foreign_roles=(("tenant-admin", policy.tenant_subject(owner)),),
    )
    snapshot = world.snapshot()
    # A role held in another tenant does not make its holder act as "<home>/role:<r>": both
    # Casbin and the plan refuse the grant made to home tenant-admins.
    sharing = policy.enforce_sharing(
        snapshot, PRINCIPAL, owner, "Client.firstName", "read", "all", NOW
    )
    assert not sharing[0]
    check(world, record_events=False)
