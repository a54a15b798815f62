"""`explainAccess` answers with the access plan enforcement uses, and names the rule that decided:
Prairie 211's admin asks why the food pantry may read a client's first name but never a call's
narrative, and gets the agreement, the deny rule or the role line, by name, without hedging."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from sharegraph.authz import explain as explaining
from sharegraph.authz import policy
from sharegraph.authz.authenticate import load_principal
from sharegraph.authz.catalogue import REVISION, revision_of
from sharegraph.authz.compiler import PlanCore, compile_core
from sharegraph.authz.coordinates import (
    ANSWERS_PREFIX,
    OPERATIONS,
    TYPE_FIELDS,
    coordinate_matches,
    type_of,
)
from sharegraph.authz.names import Names
from sharegraph.authz.policy import ACTIONS, AgreementRow, Snapshot
from sharegraph.authz.scopes import parse
from sharegraph.authz.store import PolicyStore
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import GranteeKind, Sensitivity
from sharegraph.datastore.models import Client
from sharegraph.demo import demo_id
from sharegraph.errors import BadUserInput
from sharegraph.graph.relay import to_global_id
from sharegraph.settings import Limits, Settings

from .conftest import Api, make_api

PRAIRIE = demo_id("tenant", "prairie")
EASTSIDE = demo_id("partner-organization", "eastside")
PANTRY = to_global_id("Principal", demo_id("principal", "eastside-portal"))
CALL_TAKER = to_global_id("Principal", demo_id("principal", "prairie-call-taker"))

ALLOWING = {"OWN_DATA", "AGREEMENT", "OPERATION_ALLOWED"}
ANSWER = """
allowed decidedBy reason roles roleRule rowScopes recordInScopes sharingRule grantee
grantee_subject: granteeSubject
agreement { name actions fields deniedFields rowScope answerSensitivity }
"""
EXPLAIN = f"""
query($p: ID!, $c: String!, $r: ID, $a: String) {{
  explainAccess(principalId: $p, coordinate: $c, recordId: $r, action: $a) {{ {ANSWER} }}
}}
"""
PRINCIPALS = """
{ principals(first: 50, includePartnerOrganizations: true) { edges { node { id uuid name } } } }
"""
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


async def explained(
    api: Api, principal: str, coordinate: str, record: str | None = None, action: str | None = None
) -> dict[str, Any]:
    body = await api.data(
        "prairie-admin", EXPLAIN, {"p": principal, "c": coordinate, "r": record, "a": action}
    )
    answer: dict[str, Any] = body["explainAccess"]
    assert_plain_words(answer["reason"])
    return answer


def assert_plain_words(reason: str) -> None:
    assert "(or" not in reason and not UUID.search(reason), reason


async def compiled_plan(db: Database, principal_id: uuid.UUID) -> tuple[Snapshot, PlanCore]:
    """The plan enforcement compiles for the principal (``PolicyStore.plan_for``)."""
    store = PolicyStore(db)
    await store.reload()
    async with db.read_session() as session:
        principal = await load_principal(session, principal_id)
    assert principal is not None
    return store.snapshot, store.plan_for(principal).core


def plan_allows(core: PlanCore, owner: uuid.UUID, coordinate: str, action: str) -> bool:
    if coordinate in OPERATIONS:
        return coordinate in core.operations.get(action, frozenset())
    grants = core.grants.get((action, type_of(coordinate)), {}).get(owner, ())
    if coordinate.startswith(ANSWERS_PREFIX):
        return any(coordinate.removeprefix(ANSWERS_PREFIX) in g.answer_keys for g in grants)
    return any(coordinate.split(".", 1)[1] in g.fields for g in grants)


def sample_coordinates(snapshot: Snapshot) -> list[str]:
    fields = [
        f"{type_name}.{name}"
        for type_name in ("ContactRecord", "Client", "Referral")
        for name in TYPE_FIELDS[type_name]
    ]
    directory = [
        f"{type_name}.{name}"
        for type_name in ("Organization", "Service", "Phone", "ServiceCapacity", "FollowUp")
        for name in TYPE_FIELDS[type_name][:3]
    ]
    keys = snapshot.answer_keys[PRAIRIE]
    part2 = sorted(k for k, s in keys.items() if s is Sensitivity.PART2)[:1]
    answers = [ANSWERS_PREFIX + k for k in [*sorted(keys)[:3], *part2]]
    return fields + directory + answers


OPERATION_SAMPLE = [
    "contactRecords",
    "clients",
    "createContactRecord",
    "createReferral",
    "updateReferralStatus",
    "addOutcome",
    "updateCapacity",
    "startExport",
    "networkStatistics",
]


def assert_consistent(answer: dict[str, Any], coordinate: str, action: str, home: str) -> None:
    """The rule named is one that says what was decided."""
    kind, agreement = answer["decidedBy"], answer["agreement"]
    assert (kind in ALLOWING) == answer["allowed"], answer
    assert_plain_words(answer["reason"])
    if kind == "AGREEMENT":
        covered = any(coordinate_matches(coordinate, f) for f in agreement["fields"]) or (
            coordinate.startswith(ANSWERS_PREFIX) and agreement["answerSensitivity"] is not None
        )
        assert covered and action in agreement["actions"], answer
        assert str(parse(agreement["rowScope"])) in answer["rowScopes"], answer
        assert agreement["name"] in answer["reason"]
    elif kind == "OWN_DATA":
        assert home == f"tenant:{PRAIRIE}" and agreement is None, answer
        assert answer["sharingRule"][8] == "own" and answer["roleRule"][3] == "allow"
    elif kind == "DENY_RULE":
        assert any(coordinate_matches(coordinate, d) for d in agreement["deniedFields"]), answer
        assert answer["rowScopes"] == [] and agreement["name"] in answer["reason"]
    elif kind in ("NO_ROLE_RULE", "OPERATION_DENIED"):
        assert answer["roleRule"] is None or answer["roleRule"][3] == "deny", answer
        assert all(role in answer["reason"] for role in answer["roles"]), answer
    elif kind == "NO_AGREEMENT":
        assert agreement is None and answer["rowScopes"] == [], answer
    elif kind == "OPERATION_ALLOWED":
        assert coordinate_matches(coordinate, answer["roleRule"][1]), answer
    else:
        pytest.fail(f"unexpected decision for the demo network: {answer}")


async def test_every_answer_is_the_compiled_plans(demo_db: Database, keys: dict[str, str]) -> None:
    """For each principal Prairie's admin administers, sampled coordinates and every action:
    allowed exactly when the plan allows, by a rule that covers the coordinate."""
    settings = Settings(
        database_url=demo_db.url,
        limits=Limits(max_aliases=5_000, max_tokens=500_000, max_cost=500_000, max_fields=50_000),
    )
    async for api in make_api(demo_db, keys, settings):
        listed = (await api.data("prairie-admin", PRINCIPALS))["principals"]["edges"]
        principals = {e["node"]["name"]: e["node"] for e in listed}
        assert {"prairie-call-taker", "eastside-portal", "harbor-portal"} <= set(principals)
        seen: set[str] = set()
        for name, node in sorted(principals.items()):
            snapshot, core = await compiled_plan(api.database, uuid.UUID(node["uuid"]))
            coordinates = sample_coordinates(snapshot)
            questions = [(c, a) for a in ACTIONS for c in coordinates]
            questions += [(op, OPERATIONS[op]) for op in OPERATION_SAMPLE]
            fields = " ".join(
                f'q{i}: explainAccess(principalId: $p, coordinate: "{c}", action: "{a}") '
                f"{{ {ANSWER} }}"
                for i, (c, a) in enumerate(questions)
            )
            answers = await api.data(
                "prairie-admin", f"query($p: ID!) {{ {fields} }}", {"p": node["id"]}
            )
            for i, (coordinate, action) in enumerate(questions):
                answer = answers[f"q{i}"]
                expected = plan_allows(core, PRAIRIE, coordinate, action)
                assert answer["allowed"] is expected, (name, coordinate, action, answer)
                assert_consistent(answer, coordinate, action, core.home)
                seen.add(answer["decidedBy"])
        # The sample exercises every decision the demo network makes.
        assert {
            "OWN_DATA",
            "AGREEMENT",
            "NO_ROLE_RULE",
            "DENY_RULE",
            "NO_AGREEMENT",
            "OPERATION_ALLOWED",
            "OPERATION_DENIED",
        } <= seen


async def test_the_pantry_never_reads_a_calls_narrative_because_of_a_deny_rule(api: Api) -> None:
    answer = await explained(api, PANTRY, "ContactRecord.narrative")
    assert answer["allowed"] is False and answer["decidedBy"] == "DENY_RULE"
    assert answer["agreement"]["name"] == "Referrals to eastside"
    assert answer["reason"].startswith(
        "denied by the deny rule of agreement 'Referrals to eastside'"
    )
    assert answer["grantee"] == "Eastside Food Pantry"
    assert answer["grantee_subject"] == f"partner:{EASTSIDE}"
    assert answer["roles"] == ["portal-user"]


async def _pantry_client_ids(api: Api) -> set[str]:
    seen: set[str] = set()
    after = None
    while True:
        page = (
            await api.data(
                "eastside-portal",
                "query($a: String) { clients(first: 100, after: $a) "
                "{ pageInfo { hasNextPage endCursor } edges { node { id } } } }",
                {"a": after},
            )
        )["clients"]
        seen |= {e["node"]["id"] for e in page["edges"]}
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_a_referred_client_is_shared_and_another_is_outside_the_row_scope(api: Api) -> None:
    referred = await _pantry_client_ids(api)
    async with api.database.read_session() as session:
        prairies = {
            to_global_id("Client", i)
            for i in (await session.scalars(select(Client.id).where(Client.tenant_id == PRAIRIE)))
        }
    assert referred and referred <= prairies
    shown = await explained(api, PANTRY, "Client.firstName", sorted(referred)[0])
    assert shown["allowed"] is True and shown["decidedBy"] == "AGREEMENT"
    assert shown["agreement"]["name"] == "Referrals to eastside"
    assert shown["recordInScopes"] == ["referred_to_grantee"]
    assert "which the record falls under" in shown["reason"]

    hidden = await explained(api, PANTRY, "Client.firstName", sorted(prairies - referred)[0])
    assert hidden["allowed"] is False and hidden["decidedBy"] == "OUTSIDE_ROW_SCOPE"
    assert hidden["rowScopes"] == ["referred_to_grantee"] and hidden["recordInScopes"] == []
    assert "referred_to_grantee" in hidden["reason"]


async def test_a_record_of_another_type_is_refused(api: Api) -> None:
    client = sorted(await _pantry_client_ids(api))[0]
    body = await api.gql(
        "prairie-admin", EXPLAIN, {"p": PANTRY, "c": "ContactRecord.startedAt", "r": client}
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "needs the id of a ContactRecord" in body["errors"][0]["message"]


async def test_the_pantrys_role_does_not_let_it_change_a_name(api: Api) -> None:
    answer = await explained(api, PANTRY, "Client.lastName", action="write")
    assert answer["allowed"] is False and answer["decidedBy"] == "NO_ROLE_RULE"
    assert (
        answer["reason"] == "no role of the principal (portal-user) allows write on Client.lastName"
    )
    # A phone number its role may correct (`updateClientContact`), once an agreement says so.
    phone = await explained(api, PANTRY, "Client.phone", action="write")
    assert phone["allowed"] is False and phone["decidedBy"] == "NO_AGREEMENT"
    # Reading it is what the pantry's agreement is for.
    read = await explained(api, PANTRY, "Client.phone")
    assert read["decidedBy"] == "AGREEMENT" and read["roleRule"] == [
        "portal-user",
        "**",
        "read",
        "allow",
    ]


async def test_a_partner_without_an_agreement_for_a_field_is_told_so_by_name(api: Api) -> None:
    harbor = to_global_id("Principal", demo_id("principal", "harbor-portal"))
    answer = await explained(api, harbor, "Client.postalCode")
    assert answer["decidedBy"] == "NO_AGREEMENT" and answer["allowed"] is False
    assert answer["reason"] == (
        "Harbor Housing has no agreement with Prairie 211 that shares Client.postalCode for read"
    )


async def test_operations_answer_to_roles(api: Api) -> None:
    taker = await explained(api, CALL_TAKER, "createReferral")
    assert taker["decidedBy"] == "OPERATION_ALLOWED"
    assert taker["roleRule"] == ["call-taker", "createReferral", "write", "allow"]
    pantry = await explained(api, PANTRY, "createReferral")
    assert pantry["decidedBy"] == "OPERATION_DENIED" and pantry["allowed"] is False
    assert "(portal-user)" in pantry["reason"]
    # An operation is checked for its own action only.
    body = await api.gql(
        "prairie-admin", EXPLAIN, {"p": PANTRY, "c": "createReferral", "a": "read"}
    )
    assert body["errors"][0]["extensions"]["reason"] == "BAD_ACTION"


async def test_an_unknown_coordinate_gets_the_closest_known_ones(api: Api) -> None:
    body = await api.gql("prairie-admin", EXPLAIN, {"p": PANTRY, "c": "ContactRecord.narative"})
    (error,) = body["errors"]
    assert body["data"] is None
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["reason"] == "UNKNOWN_COORDINATE"
    assert error["extensions"]["suggestions"][0] == "ContactRecord.narrative"
    assert "'ContactRecord.narrative'" in error["message"]
    for typo in ("Client.phne", "createReferal"):
        body = await api.gql("prairie-admin", EXPLAIN, {"p": PANTRY, "c": typo})
        assert body["errors"][0]["extensions"]["reason"] == "UNKNOWN_COORDINATE"
        assert body["errors"][0]["extensions"]["suggestions"]


CREATE = """
mutation($input: SharingAgreementInput!) { createSharingAgreement(input: $input) { agreement { name } } }
"""


async def test_an_expired_agreement_is_not_in_force(write_api: Api) -> None:
    api = write_api
    now = datetime.now(UTC)
    await api.data(
        "prairie-admin",
        CREATE,
        {
            "input": {
                "name": "Winter shelter postal codes",
                "purpose": "cold-weather outreach",
                "granteeKind": "PARTNER",
                "granteePartnerId": to_global_id("PartnerOrganization", EASTSIDE),
                "actions": ["read"],
                "fields": ["Client.postalCode"],
                "rowScope": "referred_to_grantee",
                "validFrom": (now - timedelta(days=30)).isoformat(),
                "validUntil": (now - timedelta(days=1)).isoformat(),
            }
        },
    )
    answer = await explained(api, PANTRY, "Client.postalCode")
    assert answer["allowed"] is False and answer["decidedBy"] == "NOT_VALID_NOW"
    assert answer["agreement"]["name"] == "Winter shelter postal codes"
    assert answer["reason"].startswith(
        "agreement 'Winter shelter postal codes' shares Client.postalCode for read but is not "
        "in force now (valid from "
    )


PREVIEW = """
query($input: SharingAgreementInput!) {
  previewSharingAgreement(input: $input) { grantee granteeSubject coordinate change }
}
"""


@pytest.mark.parametrize(
    ("grantee", "named", "subject"),
    [
        (
            {"granteeKind": "PARTNER", "granteePartnerId": to_global_id("PartnerOrganization", EASTSIDE),
             "granteeRole": "PORTAL_USER", "actions": ["read"], "fields": ["Client.postalCode"]},
            "Eastside Food Pantry (portal-user)",
            f"partner:{EASTSIDE}/role:portal-user",
        ),
        (
            {"granteeKind": "TENANT",
             "granteeTenantId": to_global_id("Tenant", demo_id("tenant", "lakeside"))},
            "Lakeside Crisis Line",
            f"tenant:{demo_id('tenant', 'lakeside')}",
        ),
        ({"granteeKind": "PUBLIC"}, "the public", "public"),
    ],
)  # fmt: skip
async def test_a_preview_names_the_grantee(
    api: Api, grantee: dict[str, Any], named: str, subject: str
) -> None:
    given = {
        "name": "Call volumes",
        "purpose": "planning",
        "actions": ["statistics"],
        "fields": ["ContactRecord.channel"],
        **grantee,
    }
    changes = (await api.data("prairie-admin", PREVIEW, {"input": given}))[
        "previewSharingAgreement"
    ]
    assert changes
    assert {(c["grantee"], c["granteeSubject"]) for c in changes} == {(named, subject)}


# -- the rule walk against plans compiled from hand-made policies ------------------------------

OWNER, GRANTEE = uuid.UUID(int=1), uuid.UUID(int=2)
NAMES = Names({("tenant", OWNER): "Owner Line", ("tenant", GRANTEE): "Grantee Line"})


def _agreement(**given: Any) -> AgreementRow:
    base = AgreementRow(
        id=uuid.uuid4(),
        name="Answers for the grantee",
        owner=OWNER,
        grantee_kind=GranteeKind.TENANT,
        grantee_tenant_id=GRANTEE,
        grantee_partner_id=None,
        grantee_role=None,
        actions=("read",),
        fields=("ContactRecord.id",),
        denied_fields=(),
        answer_sensitivity=Sensitivity.INTERNAL,
        row_scope="all",
        valid_from=None,
        valid_until=None,
        purpose="coordination",
        catalogue_revision=REVISION,
    )
    return replace(base, **given)


def _snapshot(*agreements: AgreementRow, role_lines: Sequence[list[str]] = ()) -> Snapshot:
    keys = {"housing": Sensitivity.INTERNAL, "substance_use": Sensitivity.PART2}
    snapshot = policy.build(1, [OWNER, GRANTEE], list(agreements), {OWNER: keys, GRANTEE: keys}, [])
    for line in role_lines:
        snapshot.enforcer.add_named_policy("p", line)
    return snapshot


def _explain(snapshot: Snapshot, coordinate: str, action: str = "read") -> explaining.Verdict:
    now = datetime.now(UTC)
    core = compile_core(
        snapshot, home_tenant=GRANTEE, home_partner=None, roles=frozenset({"call-taker"}), now=now
    )
    verdict = explaining.explain(snapshot, core, OWNER, coordinate, action, names=NAMES, now=now)
    assert verdict.allowed is plan_allows(core, OWNER, coordinate, action)
    assert_plain_words(verdict.reason)
    return verdict


def test_form_answers_are_explained_by_the_agreement_granting_their_sensitivity() -> None:
    shared = _agreement()
    snapshot = _snapshot(shared)
    internal = _explain(snapshot, "ContactRecord.answers.housing")
    assert internal.decided_by is explaining.Decision.AGREEMENT
    assert internal.agreement == shared and internal.row_scopes == ("all",)
    part2 = _explain(snapshot, "ContactRecord.answers.substance_use")
    assert part2.decided_by is explaining.Decision.NO_AGREEMENT
    assert part2.reason == (
        "Grantee Line has no agreement with Owner Line that shares "
        "ContactRecord.answers.substance_use for read"
    )


def test_a_role_deny_line_wins_and_is_quoted() -> None:
    snapshot = _snapshot(
        _agreement(), role_lines=[["call-taker", "ContactRecord.id", "read", "deny"]]
    )
    verdict = _explain(snapshot, "ContactRecord.id")
    assert verdict.decided_by is explaining.Decision.ROLE_DENY
    assert verdict.reason == (
        "denied by the role policy line `p, call-taker, ContactRecord.id, read, deny`"
    )


def test_an_agreement_for_another_role_is_named() -> None:
    snapshot = _snapshot(_agreement(grantee_role="tenant-admin"))
    verdict = _explain(snapshot, "ContactRecord.id")
    assert verdict.decided_by is explaining.Decision.NO_AGREEMENT
    assert verdict.reason.endswith(
        "agreement 'Answers for the grantee' shares it with Grantee Line (tenant-admin) only"
    )


def test_a_field_newer_than_the_agreements_approval_is_pending_review() -> None:
    coordinate = "ContactRecord.channel"
    approved = revision_of(coordinate) - 1  # approved just before the field was catalogued
    snapshot = _snapshot(_agreement(fields=("ContactRecord.*",), catalogue_revision=approved))
    verdict = _explain(snapshot, coordinate)
    assert verdict.decided_by is explaining.Decision.PENDING_REVIEW
    assert verdict.reason.startswith(
        "ContactRecord.channel is pending review: agreement 'Answers for the grantee' would share"
    )
    assert _explain(snapshot, "ContactRecord.answers.housing").allowed  # answers need no review


def test_a_plan_that_disagrees_with_the_rules_is_a_bug_not_an_answer() -> None:
    now = datetime.now(UTC)
    before = _snapshot()
    stale = compile_core(
        before, home_tenant=GRANTEE, home_partner=None, roles=frozenset({"call-taker"}), now=now
    )
    with pytest.raises(explaining.ExplanationMismatch):
        explaining.explain(
            _snapshot(_agreement()), stale, OWNER, "ContactRecord.id", "read", names=NAMES, now=now
        )


def test_an_unknown_answer_key_is_an_unknown_coordinate() -> None:
    with pytest.raises(BadUserInput) as raised:
        explaining.classify("ContactRecord.answers.housng", ["housing"])
    assert raised.value.reason == "UNKNOWN_COORDINATE"
    assert raised.value.extra["suggestions"][0] == "ContactRecord.answers.housing"
