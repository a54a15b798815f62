"""Sharing policies as partners and neighbouring centers meet them: nothing leaks.

User stories over the demo sharing scenario (demo/sharing.py), on both backends.
What each caller should see is computed from the demo tables with plain SQLAlchemy queries
(and the fixed demo ids), never from the API itself.
"""

from __future__ import annotations

import base64
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, or_, select

from sharegraph.datastore.enums import GranteeKind, ReferralStatus, Sensitivity
from sharegraph.datastore.models import (
    Client,
    ClientConsent,
    ContactFormVersion,
    ContactRecord,
    Event,
    FollowUp,
    FormField,
    Organization,
    Program,
    QueueEntry,
    Referral,
    Service,
    ServiceAtLocation,
)
from sharegraph.demo import demo_id

from .conftest import Api

PRAIRIE = demo_id("tenant", "prairie")
LAKESIDE = demo_id("tenant", "lakeside")
RIVERBEND = demo_id("tenant", "riverbend")
EASTSIDE = demo_id("partner-organization", "eastside")
HARBOR = demo_id("partner-organization", "harbor")
AFTER_HOURS_FORM = demo_id("contact-form", "prairie-after-hours")
AFTER_HOURS_PURPOSE = "after-hours coverage"
CLOSED_FOR_PARTNERS = (ReferralStatus.DRAFT, ReferralStatus.ENTERED_IN_ERROR)
LAKESIDE_CALL_TAKER = demo_id("principal", "lakeside-call-taker")

# What the food pantry may never read (demo/sharing.py: PARTNER_NEVER).
PARTNER_DENIED = {
    "ContactRecord.narrative",
    "ContactRecord.riskLevel",
    "ContactRecord.answers",
    "Client.lastName",
    "Client.dateOfBirth",
}


# -- ids, errors, response paths ----------------------------------------------------------------


def gid(type_name: str, row_id: uuid.UUID) -> str:
    """A Relay global id, spelled as the README says (base64url of `Type:uuid`, unpadded)."""
    return base64.urlsafe_b64encode(f"{type_name}:{row_id}".encode()).decode().rstrip("=")


def uid(global_id: str) -> uuid.UUID:
    raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    return uuid.UUID(raw.partition(":")[2])


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def denied(body: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """FORBIDDEN_FIELD errors: coordinate -> the paths it was reported at."""
    found: dict[str, list[list[Any]]] = defaultdict(list)
    for error in body.get("errors", []):
        if error["extensions"]["code"] == "FORBIDDEN_FIELD":
            found[error["extensions"]["coordinate"]].append(error["path"])
    return dict(found)


def other_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in body.get("errors", []) if e["extensions"]["code"] != "FORBIDDEN_FIELD"]


def at(data: Any, path: Iterable[Any]) -> Any:
    for step in path:
        data = data[step]
    return data


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    """The single error of a refused operation."""
    assert len(body.get("errors", [])) == 1, body
    extensions: dict[str, Any] = body["errors"][0]["extensions"]
    return extensions


def decode_cursor(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


# -- expected rows, from the database -------------------------------------------------------------


@dataclass
class Scenario:
    """Facts about the demo network, read straight from its tables."""

    # referral id -> (contact record id, record owner, status) for referrals to a partner
    partner_referrals: dict[str, dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, ReferralStatus]]] = (
        field(default_factory=dict)
    )
    records: dict[uuid.UUID, Any] = field(default_factory=dict)
    clients: dict[uuid.UUID, Any] = field(default_factory=dict)
    referrals: dict[uuid.UUID, Any] = field(default_factory=dict)
    after_hours_versions: set[uuid.UUID] = field(default_factory=set)
    follow_ups: list[Any] = field(default_factory=list)

    def referred_records(self, partner: str) -> set[uuid.UUID]:
        """Prairie 211 records with a live referral to an organization the partner operates."""
        return {
            record
            for record, owner, status in self.partner_referrals[partner].values()
            if owner == PRAIRIE and status not in CLOSED_FOR_PARTNERS
        }

    def own_referrals(self, partner: str, record_id: uuid.UUID) -> set[uuid.UUID]:
        return {
            referral
            for referral, (record, _, status) in self.partner_referrals[partner].items()
            if record == record_id and status not in CLOSED_FOR_PARTNERS
        }

    def owned_by(self, tenant: uuid.UUID) -> set[uuid.UUID]:
        return {r.id for r in self.records.values() if r.tenant_id == tenant}

    def on_after_hours_form(self, tenant: uuid.UUID) -> set[uuid.UUID]:
        return {
            r.id
            for r in self.records.values()
            if r.tenant_id == tenant and r.form_version_id in self.after_hours_versions
        }

    def handed_off(self, owner: uuid.UUID, to: uuid.UUID) -> set[uuid.UUID]:
        """Records of ``owner`` with a follow-up assigned to tenant ``to``."""
        return {
            f.contact_record_id
            for f in self.follow_ups
            if f.tenant_id == owner and f.assigned_tenant_id == to
        }


async def scenario(api: Api) -> Scenario:
    facts = Scenario()
    async with api.database.read_session() as session:
        for partner, partner_id in (("eastside", EASTSIDE), ("harbor", HARBOR)):
            orgs = select(Organization.id).where(Organization.partner_organization_id == partner_id)
            sals = (
                select(ServiceAtLocation.id)
                .join(Service, Service.id == ServiceAtLocation.service_id)
                .where(Service.organization_id.in_(orgs))
            )
            programs = select(Program.id).where(Program.organization_id.in_(orgs))
            rows = await session.execute(
                select(Referral.id, ContactRecord.id, ContactRecord.tenant_id, Referral.status)
                .join(ContactRecord, ContactRecord.id == Referral.contact_record_id)
                .where(
                    or_(
                        Referral.service_at_location_id.in_(sals),
                        Referral.program_id.in_(programs),
                    )
                )
            )
            facts.partner_referrals[partner] = {
                referral: (record, owner, status) for referral, record, owner, status in rows.all()
            }
        facts.records = {r.id: r for r in (await session.scalars(select(ContactRecord))).all()}
        facts.clients = {c.id: c for c in (await session.scalars(select(Client))).all()}
        facts.referrals = {r.id: r for r in (await session.scalars(select(Referral))).all()}
        facts.after_hours_versions = set(
            (
                await session.scalars(
                    select(ContactFormVersion.id).where(
                        ContactFormVersion.form_id == AFTER_HOURS_FORM
                    )
                )
            ).all()
        )
        facts.follow_ups = list((await session.scalars(select(FollowUp))).all())
    return facts


async def assigned_to_harbor(api: Api) -> set[uuid.UUID]:
    """Prairie records with a live queue entry assigned to a program Harbor Housing runs."""
    async with api.database.read_session() as session:
        programs = (
            select(Program.id)
            .join(Organization, Organization.id == Program.organization_id)
            .where(Organization.partner_organization_id == HARBOR)
        )
        rows = await session.scalars(
            select(QueueEntry.contact_record_id)
            .join(ContactRecord, ContactRecord.id == QueueEntry.contact_record_id)
            .where(
                ContactRecord.tenant_id == PRAIRIE,
                QueueEntry.removed_at.is_(None),
                QueueEntry.assigned_program_id.in_(programs),
            )
        )
        return {record for record in rows.all() if record is not None}


async def record_row(api: Api, record_id: uuid.UUID) -> ContactRecord:
    async with api.database.read_session() as session:
        row = await session.get(ContactRecord, record_id)
        assert row is not None
        return row


async def event_count(api: Api) -> int:
    async with api.database.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


async def walk(
    api: Api,
    principal: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    field_name: str = "contactRecords",
    page: int = 9,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every node of a connection, page by page through its cursors; and each page's body."""
    nodes: list[dict[str, Any]] = []
    bodies: list[dict[str, Any]] = []
    after = None
    while True:
        body = await api.gql(principal, query, {**(variables or {}), "first": page, "after": after})
        assert not other_errors(body), body["errors"]
        bodies.append(body)
        connection = body["data"][field_name]
        nodes += [edge["node"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes, bodies
        after = connection["pageInfo"]["endCursor"]
        assert len(bodies) < 50, "pagination does not end"


# -- the food pantry ------------------------------------------------------------------------------

PANTRY_LIST = """
query Pantry($first: Int, $after: String) {
  contactRecords(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id startedAt narrative riskLevel answers
        needs { name }
        client { id firstName phone preferredLanguage lastName dateOfBirth }
        referrals { id status }
      }
    }
  }
}
"""


async def test_the_food_pantry_sees_only_clients_referred_to_it(api: Api) -> None:
    facts = await scenario(api)
    expected = facts.referred_records("eastside")
    assert len(expected) > 5, "the demo refers Prairie 211 callers to the food pantry"

    body = await api.gql("eastside-portal", PANTRY_LIST, {"first": 100})
    connection = body["data"]["contactRecords"]
    nodes = [edge["node"] for edge in connection["edges"]]
    returned = [uid(node["id"]) for node in nodes]
    assert len(returned) == len(set(returned))
    assert set(returned) == expected
    assert connection["totalCount"] == len(expected)

    for node in nodes:
        record = facts.records[uid(node["id"])]
        listed = {uid(r["id"]) for r in node["referrals"]}
        assert listed == facts.own_referrals("eastside", record.id), node
        assert all(r["status"] not in ("DRAFT", "ENTERED_IN_ERROR") for r in node["referrals"])
        assert node["startedAt"] is not None and node["needs"]
        assert node["narrative"] is None and node["riskLevel"] is None and node["answers"] is None
        if record.client_id is None:
            assert node["client"] is None
            continue
        client = facts.clients[record.client_id]
        assert node["client"] == {
            "id": gid("Client", client.id),
            "firstName": client.first_name,
            "phone": client.phone,
            "preferredLanguage": client.preferred_language,
            "lastName": None,
            "dateOfBirth": None,
        }

    # One error per denied coordinate (not per row), at its first occurrence.
    assert not other_errors(body), body["errors"]
    errors = denied(body)
    assert set(errors) == PARTNER_DENIED
    assert all(len(paths) == 1 for paths in errors.values()), errors
    first_client = next(i for i, node in enumerate(nodes) if node["client"] is not None)
    for coordinate, (path,) in errors.items():
        type_name, field_name = coordinate.split(".")
        if type_name == "ContactRecord":
            assert path == ["contactRecords", "edges", 0, "node", field_name]
        else:
            assert path == ["contactRecords", "edges", first_client, "node", "client", field_name]


async def test_the_pantry_pages_through_exactly_its_records(api: Api) -> None:
    facts = await scenario(api)
    expected = facts.referred_records("eastside")
    nodes, bodies = await walk(api, "eastside-portal", PANTRY_LIST, page=4)
    assert len(bodies) > 2
    assert [uid(n["id"]) for n in nodes] == sorted(
        expected, key=lambda r: (facts.records[r].started_at, r), reverse=True
    )
    assert {b["data"]["contactRecords"]["totalCount"] for b in bodies} == {len(expected)}


async def test_a_referral_to_the_pantry_on_a_record_prairie_does_not_own_shares_nothing(
    api: Api,
) -> None:
    """Lakeside and Riverbend refer callers to the pantry too; those records are not Prairie's
    to share."""
    facts = await scenario(api)
    elsewhere = {
        record
        for record, owner, status in facts.partner_referrals["eastside"].values()
        if owner != PRAIRIE and status not in CLOSED_FOR_PARTNERS
    }
    assert elsewhere, "the demo has such referrals"
    for record_id in sorted(elsewhere):
        body = await api.gql(
            "eastside-portal",
            "query($id: ID!) { node(id: $id) { id } contactRecord(id: $id) { id } }",
            {"id": gid("ContactRecord", record_id)},
        )
        assert body["data"] is None or body["data"]["node"] is None, body
        assert codes(body) == ["NOT_FOUND"], body


async def test_a_draft_or_mistaken_referral_shares_nothing(write_api: Api) -> None:
    api = write_api
    facts = await scenario(api)
    visible = facts.referred_records("eastside")
    record_id = next(r for r in sorted(visible) if len(facts.own_referrals("eastside", r)) == 1)
    (referral_id,) = facts.own_referrals("eastside", record_id)
    query = """query($id: ID!, $ref: ID!) { contactRecords { totalCount }
                 record: node(id: $id) { id } referral: node(id: $ref) { id } }"""
    ids = {"id": gid("ContactRecord", record_id), "ref": gid("Referral", referral_id)}
    for status, shared in (
        (ReferralStatus.DRAFT, False),
        (ReferralStatus.ENTERED_IN_ERROR, False),
        (ReferralStatus.REQUESTED, True),
    ):
        async with api.database.write_session() as session:
            referral = await session.get(Referral, referral_id)
            assert referral is not None
            referral.status = status
        data = await api.data("eastside-portal", query, ids)
        assert data == {
            "contactRecords": {"totalCount": len(visible) - (0 if shared else 1)},
            "record": {"id": ids["id"]} if shared else None,
            "referral": {"id": ids["ref"]} if shared else None,
        }, status


# -- every query path -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathCase:
    query: str
    denied: dict[str, list[Any]]  # coordinate -> path of its first occurrence
    readable: dict[str, tuple[Any, ...]]  # expected value name -> path


PATH_CASES = {
    "aliases": PathCase(
        """query($id: ID!) { contactRecord(id: $id) {
             id n: narrative r: riskLevel
             client { dob: dateOfBirth last: lastName first: firstName } } }""",
        {
            "ContactRecord.narrative": ["contactRecord", "n"],
            "ContactRecord.riskLevel": ["contactRecord", "r"],
            "Client.dateOfBirth": ["contactRecord", "client", "dob"],
            "Client.lastName": ["contactRecord", "client", "last"],
        },
        {"record": ("contactRecord", "id"), "first_name": ("contactRecord", "client", "first")},
    ),
    "fragments": PathCase(
        """fragment Private on Client { dateOfBirth lastName }
           fragment Case on ContactRecord { id narrative answers client { firstName ...Private } }
           query($id: ID!) { contactRecord(id: $id) { ...Case } }""",
        {
            "ContactRecord.narrative": ["contactRecord", "narrative"],
            "ContactRecord.answers": ["contactRecord", "answers"],
            "Client.dateOfBirth": ["contactRecord", "client", "dateOfBirth"],
            "Client.lastName": ["contactRecord", "client", "lastName"],
        },
        {"record": ("contactRecord", "id"), "first_name": ("contactRecord", "client", "firstName")},
    ),
    "inline fragments on node": PathCase(
        """query($id: ID!) { node(id: $id) {
             id
             ... on ContactRecord { narrative client { ... on Client { firstName dateOfBirth } } }
             ... on Node { ... on ContactRecord { risk: riskLevel } } } }""",
        {
            "ContactRecord.narrative": ["node", "narrative"],
            "ContactRecord.riskLevel": ["node", "risk"],
            "Client.dateOfBirth": ["node", "client", "dateOfBirth"],
        },
        {"record": ("node", "id"), "first_name": ("node", "client", "firstName")},
    ),
    "client node": PathCase(
        """query($client: ID!) { node(id: $client) { ... on Client { firstName dob: dateOfBirth } }
             client(id: $client) { lastName } }""",
        {
            "Client.dateOfBirth": ["node", "dob"],
            "Client.lastName": ["client", "lastName"],
        },
        {"first_name": ("node", "firstName")},
    ),
    "nested": PathCase(
        """query($ref: ID!) { referral(id: $ref) { status contactRecord {
             id narrative referrals { contactRecord { riskLevel client { lastName } } } } } }""",
        {
            "ContactRecord.narrative": ["referral", "contactRecord", "narrative"],
            "ContactRecord.riskLevel": [
                "referral",
                "contactRecord",
                "referrals",
                0,
                "contactRecord",
                "riskLevel",
            ],
            "Client.lastName": [
                "referral",
                "contactRecord",
                "referrals",
                0,
                "contactRecord",
                "client",
                "lastName",
            ],
        },
        {"record": ("referral", "contactRecord", "id")},
    ),
    "_entities": PathCase(
        """query($reps: [_Any!]!) { _entities(representations: $reps) {
             ... on ContactRecord { id narrative }
             ... on Client { firstName dateOfBirth }
             ... on Referral { contactRecord { answers } } } }""",
        {
            "ContactRecord.narrative": ["_entities", 0, "narrative"],
            "Client.dateOfBirth": ["_entities", 1, "dateOfBirth"],
            "ContactRecord.answers": ["_entities", 2, "contactRecord", "answers"],
        },
        {"record": ("_entities", 0, "id"), "first_name": ("_entities", 1, "firstName")},
    ),
    "same field thrice": PathCase(
        """query($id: ID!) { a: contactRecord(id: $id) { narrative }
             b: contactRecord(id: $id) { story: narrative }
             c: node(id: $id) { ... on ContactRecord { narrative } } }""",
        {"ContactRecord.narrative": ["a", "narrative"]},
        {},
    ),
}


@pytest.mark.parametrize("case", PATH_CASES.values(), ids=list(PATH_CASES))
async def test_no_query_path_reveals_a_denied_field(api: Api, case: PathCase) -> None:
    """Aliases, fragments, inline fragments, node, nested paths and _entities are all decided
    by coordinate: the value is null and the error names the coordinate once."""
    facts = await scenario(api)
    record_id = next(
        r
        for r in sorted(facts.referred_records("eastside"))
        if facts.records[r].client_id is not None and len(facts.own_referrals("eastside", r)) == 1
    )
    record = facts.records[record_id]
    (referral_id,) = facts.own_referrals("eastside", record_id)
    client = facts.clients[record.client_id]
    variables = {
        "id": gid("ContactRecord", record_id),
        "client": gid("Client", client.id),
        "ref": gid("Referral", referral_id),
        "reps": [
            {"__typename": "ContactRecord", "id": gid("ContactRecord", record_id)},
            {"__typename": "Client", "id": gid("Client", client.id)},
            {"__typename": "Referral", "id": gid("Referral", referral_id)},
        ],
    }
    used = {k: v for k, v in variables.items() if f"${k}" in case.query}
    body = await api.gql("eastside-portal", case.query, used)

    assert not other_errors(body), body["errors"]
    assert denied(body) == {c: [p] for c, p in case.denied.items()}, body.get("errors")
    for denied_path in case.denied.values():
        assert at(body["data"], denied_path) is None
    values = {"record": gid("ContactRecord", record_id), "first_name": client.first_name}
    for name, path in case.readable.items():
        assert at(body["data"], path) == values[name], (name, body["data"])


# -- rows outside the scope do not exist ----------------------------------------------------------

LOOKUPS = """
query($record: ID!, $client: ID!, $referral: ID!, $reps: [_Any!]!) {
  recordNode: node(id: $record) { id }
  clientNode: node(id: $client) { id }
  referralNode: node(id: $referral) { id }
  _entities(representations: $reps) { ... on ContactRecord { id } ... on Client { id }
                                      ... on Referral { id } }
}
"""


async def assert_absent(
    api: Api, principal: str, record_id: uuid.UUID, client_id: uuid.UUID, referral_id: uuid.UUID
) -> None:
    ids = {
        "record": gid("ContactRecord", record_id),
        "client": gid("Client", client_id),
        "referral": gid("Referral", referral_id),
    }
    reps = [
        {"__typename": "ContactRecord", "id": ids["record"]},
        {"__typename": "Client", "id": ids["client"]},
        {"__typename": "Referral", "id": ids["referral"]},
    ]
    body = await api.gql(principal, LOOKUPS, {**ids, "reps": reps})
    assert "errors" not in body, body["errors"]
    assert body["data"] == {
        "recordNode": None,
        "clientNode": None,
        "referralNode": None,
        "_entities": [None, None, None],
    }
    for field_name, value in (
        ("contactRecord", ids["record"]),
        ("client", ids["client"]),
        ("referral", ids["referral"]),
    ):
        body = await api.gql(
            principal, f"query($id: ID!) {{ {field_name}(id: $id) {{ id }} }}", {"id": value}
        )
        assert codes(body) == ["NOT_FOUND"], (field_name, body)
        assert body["data"] is None or body["data"][field_name] is None
    body = await api.gql(
        principal,
        "query($c: ID!) { contactRecords(filter: {clientId: $c}) { totalCount edges { node { id } } } }",
        {"c": ids["client"]},
    )
    assert body["data"]["contactRecords"] == {"totalCount": 0, "edges": []}, body


def _hidden_example(facts: Scenario, owner: uuid.UUID, visible_records: set[uuid.UUID]) -> Any:
    """A referral on a record of ``owner`` that the caller cannot see, whose client it has no
    other way to see either."""
    visible_clients = {facts.records[r].client_id for r in visible_records}
    return next(
        ref
        for ref in sorted(facts.referrals.values(), key=lambda r: r.id)
        if facts.records[ref.contact_record_id].tenant_id == owner
        and ref.contact_record_id not in visible_records
        and ref.client_id is not None
        and ref.client_id not in visible_clients
    )


async def test_a_prairie_record_not_referred_to_the_pantry_does_not_exist_for_it(api: Api) -> None:
    facts = await scenario(api)
    ref = _hidden_example(facts, PRAIRIE, facts.referred_records("eastside"))
    await assert_absent(api, "eastside-portal", ref.contact_record_id, ref.client_id, ref.id)


async def test_another_organizations_referral_on_a_shared_record_stays_hidden(api: Api) -> None:
    """The pantry sees a record; a referral on it to someone else still does not exist."""
    facts = await scenario(api)
    visible = facts.referred_records("eastside")
    others = [
        ref
        for ref in facts.referrals.values()
        if ref.contact_record_id in visible
        and ref.id not in facts.own_referrals("eastside", ref.contact_record_id)
    ]
    assert others, "the demo has shared records with referrals to other organizations"
    for ref in others:
        reps = [{"__typename": "Referral", "id": gid("Referral", ref.id)}]
        body = await api.gql(
            "eastside-portal",
            """query($id: ID!, $reps: [_Any!]!) { node(id: $id) { id }
                 _entities(representations: $reps) { ... on Referral { id status } } }""",
            {"id": gid("Referral", ref.id), "reps": reps},
        )
        assert body == {"data": {"node": None, "_entities": [None]}}, body
        body = await api.gql(
            "eastside-portal",
            "query($id: ID!) { referral(id: $id) { id status } }",
            {"id": gid("Referral", ref.id)},
        )
        assert codes(body) == ["NOT_FOUND"]


@pytest.mark.parametrize("principal", ["eastside-portal", "riverbend-admin"])
async def test_a_lakeside_record_off_the_shared_form_does_not_exist(
    api: Api, principal: str
) -> None:
    facts = await scenario(api)
    ref = _hidden_example(facts, LAKESIDE, facts.on_after_hours_form(LAKESIDE))
    assert facts.records[ref.contact_record_id].form_version_id not in facts.after_hours_versions
    await assert_absent(api, principal, ref.contact_record_id, ref.client_id, ref.id)
    body = await api.gql(
        principal,
        "query($t: [ID!]) { contactRecords(filter: {tenantIds: $t}) { totalCount } "
        "clients(filter: {tenantIds: $t}) { totalCount } }",
        {"t": [gid("Tenant", LAKESIDE)]},
    )
    assert body["data"] == {"contactRecords": {"totalCount": 0}, "clients": {"totalCount": 0}}


# -- filters and sorts ----------------------------------------------------------------------------

REFUSED_FOR_THE_PANTRY = {
    "client date of birth": (
        "query($v: Date) { clients(filter: {dateOfBirth: $v}) { totalCount } }",
        "Client.dateOfBirth",
    ),
    "client last name": (
        "query($v: String) { clients(filter: {lastName: $v}) { totalCount } }",
        "Client.lastName",
    ),
    "client postal code": (
        "query($v: String) { clients(filter: {postalCode: $v}) { totalCount } }",
        "Client.postalCode",
    ),
    "risk levels": (
        "{ contactRecords(filter: {riskLevels: [HIGH, IMMINENT]}) { totalCount } }",
        "ContactRecord.riskLevel",
    ),
    "caller county": (
        '{ contactRecords(filter: {callerCounty: "Polk"}) { totalCount } }',
        "ContactRecord.callerCounty",
    ),
    "channels": (
        "{ contactRecords(filter: {channels: [CALL]}) { totalCount } }",
        "ContactRecord.channel",
    ),
    "updated after": (
        '{ contactRecords(filter: {updatedAfter: "2020-01-01T00:00:00Z"}) { totalCount } }',
        "ContactRecord.updatedAt",
    ),
    "sort by updatedAt desc": (
        "{ contactRecords(sort: UPDATED_AT_DESC) { totalCount edges { node { id } } } }",
        "ContactRecord.updatedAt",
    ),
    "sort by updatedAt asc": (
        "{ contactRecords(sort: UPDATED_AT_ASC, first: 1) { edges { node { id } } } }",
        "ContactRecord.updatedAt",
    ),
}


@pytest.mark.parametrize("case", REFUSED_FOR_THE_PANTRY.values(), ids=list(REFUSED_FOR_THE_PANTRY))
async def test_a_filter_on_a_field_the_pantry_cannot_read_is_refused(
    api: Api, case: tuple[str, str]
) -> None:
    query, coordinate = case
    facts = await scenario(api)
    # A value some shared client really has, so a leaking filter would match.
    client = next(
        facts.clients[facts.records[r].client_id]
        for r in sorted(facts.referred_records("eastside"))
        if facts.records[r].client_id is not None
    )
    value = {
        "Client.dateOfBirth": client.date_of_birth.isoformat(),
        "Client.lastName": client.last_name,
        "Client.postalCode": client.postal_code,
    }.get(coordinate)
    body = await api.gql("eastside-portal", query, {"v": value} if "$v" in query else None)
    assert body["data"] is None, body
    extensions = refusal(body)
    assert extensions["code"] == "FORBIDDEN"
    assert extensions["coordinate"] == coordinate


async def test_the_pantry_filters_on_what_it_can_read(api: Api) -> None:
    facts = await scenario(api)
    expected = facts.referred_records("eastside")
    starts = sorted(facts.records[r].started_at for r in expected)
    since = starts[len(starts) // 2]
    want = {r for r in expected if facts.records[r].started_at >= since}
    assert 0 < len(want) < len(expected)
    body = await api.gql(
        "eastside-portal",
        "query($s: DateTime) { contactRecords(first: 100, filter: {startedAfter: $s}, "
        "sort: STARTED_AT_ASC) { totalCount edges { node { id } } } }",
        {"s": since.isoformat()},
    )
    assert "errors" not in body, body["errors"]
    got = body["data"]["contactRecords"]
    assert got["totalCount"] == len(want)
    assert {uid(e["node"]["id"]) for e in got["edges"]} == want

    shared_clients = {facts.records[r].client_id for r in expected} - {None}
    data = await api.data(
        "eastside-portal", "{ clients(first: 100) { totalCount edges { node { id } } } }"
    )
    assert data["clients"]["totalCount"] == len(shared_clients)
    assert {uid(e["node"]["id"]) for e in data["clients"]["edges"]} == shared_clients

    # A shared client's other, unshared records stay out of a client filter.
    client_id, theirs = max(
        (
            (c, {r.id for r in facts.records.values() if r.client_id == c})
            for c in sorted(shared_clients)
        ),
        key=lambda pair: len(pair[1] - expected),
    )
    assert theirs - expected, "the demo has a shared client with unshared records"
    data = await api.data(
        "eastside-portal",
        "query($c: ID!) { contactRecords(first: 100, filter: {clientId: $c}) { totalCount edges { node { id } } } }",
        {"c": gid("Client", client_id)},
    )
    assert {uid(e["node"]["id"]) for e in data["contactRecords"]["edges"]} == theirs & expected
    assert data["contactRecords"]["totalCount"] == len(theirs & expected)

    # Filtering on a readable field counts only shared clients, even when others share the value.
    phone = facts.clients[sorted(shared_clients)[0]].phone
    everyone = {c.id for c in facts.clients.values() if c.phone == phone}
    data = await api.data(
        "eastside-portal",
        "query($p: String) { clients(first: 100, filter: {phone: $p}) { totalCount edges { node { id } } } }",
        {"p": phone},
    )
    assert {uid(e["node"]["id"]) for e in data["clients"]["edges"]} == everyone & shared_clients
    assert data["clients"]["totalCount"] == len(everyone & shared_clients)


async def test_lakeside_may_filter_on_risk_only_where_it_can_read_it(api: Api) -> None:
    """Lakeside reads riskLevel on Prairie's after-hours records but not on handed-off ones,
    so a risk filter over everything it sees is refused; over its own records it works."""
    body = await api.gql(
        "lakeside-admin", "{ contactRecords(filter: {riskLevels: [HIGH]}) { totalCount } }"
    )
    extensions = refusal(body)
    assert (extensions["code"], extensions["coordinate"]) == (
        "FORBIDDEN",
        "ContactRecord.riskLevel",
    )

    facts = await scenario(api)
    own_high = {
        r
        for r in facts.owned_by(LAKESIDE)
        if facts.records[r].risk_level is not None and facts.records[r].risk_level.value == "high"
    }
    data = await api.data(
        "lakeside-admin",
        "query($t: [ID!]) { contactRecords(filter: {riskLevels: [HIGH], tenantIds: $t}) { totalCount } }",
        {"t": [gid("Tenant", LAKESIDE)]},
    )
    assert data["contactRecords"]["totalCount"] == len(own_high)


# -- neighbouring centers -------------------------------------------------------------------------


async def test_riverbend_sees_prairies_directory_but_none_of_its_records(api: Api) -> None:
    facts = await scenario(api)
    own = facts.owned_by(RIVERBEND)
    nodes, _ = await walk(
        api,
        "riverbend-admin",
        """query($first: Int, $after: String) { contactRecords(first: $first, after: $after) {
             totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }""",
        page=25,
    )
    assert {uid(n["id"]) for n in nodes} == own
    data = await api.data(
        "riverbend-admin",
        """query($p: [ID!]) { all: contactRecords { totalCount }
             prairie: contactRecords(filter: {tenantIds: $p}) { totalCount }
             clients(filter: {tenantIds: $p}) { totalCount } }""",
        {"p": [gid("Tenant", PRAIRIE)]},
    )
    assert data == {
        "all": {"totalCount": len(own)},
        "prairie": {"totalCount": 0},
        "clients": {"totalCount": 0},
    }

    async with api.database.read_session() as session:
        by_owner = dict(
            (
                await session.execute(
                    select(Service.tenant_id, func.count()).group_by(Service.tenant_id)
                )
            ).all()
        )
    assert by_owner.get(PRAIRIE, 0) > 0
    data = await api.data(
        "riverbend-admin",
        """query($p: [ID!]) { all: services { totalCount }
             prairie: services(filter: {tenantIds: $p}) { totalCount } }""",
        {"p": [gid("Tenant", PRAIRIE)]},
    )
    assert data["prairie"]["totalCount"] == by_owner[PRAIRIE]
    assert data["all"]["totalCount"] == by_owner[PRAIRIE] + by_owner.get(RIVERBEND, 0)


CENTER_LIST = """
query($first: Int, $after: String) {
  contactRecords(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id narrative followUps { assignedTenant { name } } } }
  }
}
"""


@pytest.mark.parametrize(
    ("viewer", "home", "partner"),
    [("lakeside-admin", LAKESIDE, PRAIRIE), ("prairie-admin", PRAIRIE, LAKESIDE)],
)
async def test_the_after_hours_partners_see_the_shared_form_and_their_handoffs(
    api: Api, viewer: str, home: uuid.UUID, partner: uuid.UUID
) -> None:
    facts = await scenario(api)
    own = facts.owned_by(home)
    shared_form = facts.on_after_hours_form(partner)
    handoffs = facts.handed_off(partner, home)
    handoff_only = handoffs - shared_form
    assert own and shared_form and handoff_only, "the demo has each kind of record"
    expected = own | shared_form | handoffs

    nodes, bodies = await walk(api, viewer, CENTER_LIST, page=40)
    returned = [uid(n["id"]) for n in nodes]
    assert len(returned) == len(set(returned))
    assert set(returned) == expected
    assert not (set(returned) & (facts.owned_by(partner) - shared_form - handoffs))
    assert {b["data"]["contactRecords"]["totalCount"] for b in bodies} == {len(expected)}

    home_name = {LAKESIDE: "Lakeside Crisis Line", PRAIRIE: "Prairie 211"}[home]
    for node in nodes:
        record = facts.records[uid(node["id"])]
        if record.id in handoff_only:
            # The handoff shares the follow-ups assigned to us and the basics, not the narrative.
            assert node["narrative"] is None
            assert node["followUps"], node
            assert {f["assignedTenant"]["name"] for f in node["followUps"]} == {home_name}
        else:
            assert node["narrative"] == record.narrative
    for body in bodies:
        edges = body["data"]["contactRecords"]["edges"]
        hidden = [i for i, e in enumerate(edges) if uid(e["node"]["id"]) in handoff_only]
        errors = denied(body)
        if hidden:
            assert errors == {
                "ContactRecord.narrative": [
                    ["contactRecords", "edges", hidden[0], "node", "narrative"]
                ]
            }
        else:
            assert errors == {}


async def test_lakeside_reaches_prairie_follow_ups_only_where_shared(api: Api) -> None:
    facts = await scenario(api)
    after_hours = facts.on_after_hours_form(PRAIRIE)
    prairies = [f for f in sorted(facts.follow_ups, key=lambda f: f.id) if f.tenant_id == PRAIRIE]
    handed = next(
        f
        for f in prairies
        if f.assigned_tenant_id == LAKESIDE and f.contact_record_id not in after_hours
    )
    on_shared_form = next(
        f
        for f in prairies
        if f.assigned_tenant_id == PRAIRIE and f.contact_record_id in after_hours
    )
    kept = next(
        f
        for f in prairies
        if f.assigned_tenant_id == PRAIRIE
        and f.contact_record_id not in after_hours
        and f.contact_record_id not in facts.handed_off(PRAIRIE, LAKESIDE)
    )
    query = """query($id: ID!) { followUp(id: $id) { id status contactRecord { id narrative } } }"""
    body = await api.gql("lakeside-call-taker", query, {"id": gid("FollowUp", handed.id)})
    assert body["data"]["followUp"]["contactRecord"] == {
        "id": gid("ContactRecord", handed.contact_record_id),
        "narrative": None,
    }
    assert denied(body) == {"ContactRecord.narrative": [["followUp", "contactRecord", "narrative"]]}
    assert not other_errors(body)

    data = await api.data("lakeside-call-taker", query, {"id": gid("FollowUp", on_shared_form.id)})
    record = facts.records[on_shared_form.contact_record_id]
    assert data["followUp"]["contactRecord"]["narrative"] == record.narrative

    body = await api.gql("lakeside-call-taker", query, {"id": gid("FollowUp", kept.id)})
    assert codes(body) == ["NOT_FOUND"]
    body = await api.gql(
        "lakeside-call-taker",
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": gid("FollowUp", kept.id)},
    )
    assert body == {"data": {"node": None}}


async def test_harbor_sees_exactly_the_records_assigned_to_it(api: Api) -> None:
    expected = await assigned_to_harbor(api)
    assert expected
    nodes, bodies = await walk(
        api,
        "harbor-portal",
        """query($first: Int, $after: String) { contactRecords(first: $first, after: $after) {
             totalCount pageInfo { hasNextPage endCursor }
             edges { node { id startedAt narrative client { firstName dateOfBirth } } } } }""",
        page=10,
    )
    assert {uid(n["id"]) for n in nodes} == expected
    assert len(nodes) == len(expected)
    assert {b["data"]["contactRecords"]["totalCount"] for b in bodies} == {len(expected)}
    assert all(n["narrative"] is None for n in nodes)
    assert all(n["client"] is None or n["client"]["dateOfBirth"] is None for n in nodes)
    for body in bodies:
        assert set(denied(body)) <= {"ContactRecord.narrative", "Client.dateOfBirth"}
        assert "ContactRecord.narrative" in denied(body)


async def test_harbor_sees_only_its_own_referrals(api: Api) -> None:
    facts = await scenario(api)
    harbor_referrals = set(facts.partner_referrals["harbor"])
    data = await api.data(
        "harbor-portal", "{ contactRecords(first: 100) { edges { node { referrals { id } } } } }"
    )
    listed = {uid(r["id"]) for e in data["contactRecords"]["edges"] for r in e["node"]["referrals"]}
    assert listed <= harbor_referrals, f"{len(listed - harbor_referrals)} foreign referrals"


# -- mutations ------------------------------------------------------------------------------------

UPDATE = """
mutation($input: UpdateContactRecordInput!) {
  updateContactRecord(input: $input) { contactRecord { id } }
}
"""


async def assert_untouched(api: Api, before: ContactRecord, events_before: int) -> None:
    after = await record_row(api, before.id)
    assert (after.version, after.narrative, after.answers, after.updated_at) == (
        before.version,
        before.narrative,
        before.answers,
        before.updated_at,
    )
    assert await event_count(api) == events_before


async def test_the_pantry_cannot_edit_contact_records(write_api: Api) -> None:
    api = write_api
    facts = await scenario(api)
    visible = sorted(facts.referred_records("eastside"))[0]
    hidden = next(
        r for r in sorted(facts.owned_by(PRAIRIE)) if r not in facts.referred_records("eastside")
    )
    events = await event_count(api)
    for record_id, allowed_codes in (
        (visible, {"FORBIDDEN"}),
        (hidden, {"FORBIDDEN", "NOT_FOUND"}),
    ):
        before = await record_row(api, record_id)
        for change in (
            {"narrative": "the pantry was here"},
            {"client": {"firstName": "Changed"}},
            {"startedAt": "2026-01-01T00:00:00Z"},
        ):
            body = await api.gql(
                "eastside-portal",
                UPDATE,
                {
                    "input": {
                        "id": gid("ContactRecord", record_id),
                        "version": before.version,
                        **change,
                    }
                },
            )
            assert refusal(body)["code"] in allowed_codes, body
            assert body["data"] is None
            await assert_untouched(api, before, events)


async def test_riverbend_cannot_edit_a_prairie_record(write_api: Api) -> None:
    api = write_api
    facts = await scenario(api)
    record_id = sorted(facts.owned_by(PRAIRIE))[0]
    before = await record_row(api, record_id)
    events = await event_count(api)
    body = await api.gql(
        "riverbend-admin",
        UPDATE,
        {
            "input": {
                "id": gid("ContactRecord", record_id),
                "version": before.version,
                "narrative": "x",
            }
        },
    )
    assert refusal(body)["code"] == "NOT_FOUND"
    await assert_untouched(api, before, events)


async def test_lakeside_cannot_edit_prairie_records_it_was_not_given(write_api: Api) -> None:
    api = write_api
    facts = await scenario(api)
    record_id = sorted(
        facts.owned_by(PRAIRIE)
        - facts.on_after_hours_form(PRAIRIE)
        - facts.handed_off(PRAIRIE, LAKESIDE)
    )[0]
    before = await record_row(api, record_id)
    events = await event_count(api)
    body = await api.gql(
        "lakeside-call-taker",
        UPDATE,
        {
            "input": {
                "id": gid("ContactRecord", record_id),
                "version": before.version,
                "narrative": "x",
            }
        },
    )
    assert refusal(body)["code"] == "NOT_FOUND"
    await assert_untouched(api, before, events)


async def _after_hours_record(api: Api, *, part2: bool = False) -> tuple[ContactRecord, str]:
    """A Prairie after-hours record with a client (and a Part 2 answer); its Part 2 key."""
    facts = await scenario(api)
    keys = await part2_keys(api)
    for record_id in sorted(facts.on_after_hours_form(PRAIRIE)):
        record = facts.records[record_id]
        present = sorted(keys & set(record.answers or {}))
        if record.client_id is not None and (present or not part2):
            return record, (present or sorted(keys))[0]
    raise AssertionError("the demo has Prairie after-hours records with Part 2 answers")


async def part2_keys(api: Api) -> set[str]:
    async with api.database.read_session() as session:
        rows = await session.scalars(
            select(FormField.key)
            .join(ContactFormVersion, ContactFormVersion.id == FormField.form_version_id)
            .where(
                ContactFormVersion.form_id == AFTER_HOURS_FORM,
                FormField.sensitivity == Sensitivity.PART2,
            )
        )
        keys = set(rows.all())
    assert keys, "the after-hours form has a Part 2 field"
    return keys


async def test_lakeside_edits_a_prairie_after_hours_record(write_api: Api) -> None:
    api = write_api
    record, _ = await _after_hours_record(api)
    events = await event_count(api)
    body = await api.gql(
        "lakeside-call-taker",
        UPDATE,
        {
            "input": {
                "id": gid("ContactRecord", record.id),
                "version": record.version,
                "narrative": "Checked in overnight; caller is safe.",
                "answers": {"risk_assessment_notes": "Reviewed by Lakeside overnight."},
            }
        },
    )
    assert "errors" not in body, body["errors"]
    after = await record_row(api, record.id)
    assert after.version == record.version + 1
    assert after.narrative == "Checked in overnight; caller is safe."
    assert after.answers == {
        **record.answers,
        "risk_assessment_notes": "Reviewed by Lakeside overnight.",
    }
    assert await event_count(api) == events + 1
    async with api.database.read_session() as session:
        event = await session.scalar(select(Event).order_by(Event.position.desc()).limit(1))
    assert event is not None
    assert (event.record_type, event.record_id, event.actor_id, event.tenant_id) == (
        "ContactRecord",
        record.id,
        LAKESIDE_CALL_TAKER,
        PRAIRIE,
    )
    data = await api.data(
        "lakeside-call-taker",
        "query($id: ID!) { contactRecord(id: $id) { version narrative } }",
        {"id": gid("ContactRecord", record.id)},
    )
    assert data["contactRecord"] == {
        "version": record.version + 1,
        "narrative": "Checked in overnight; caller is safe.",
    }


async def test_lakeside_reads_back_what_it_wrote(write_api: Api) -> None:
    api = write_api
    record, _ = await _after_hours_record(api)
    body = await api.gql(
        "lakeside-call-taker",
        """mutation($input: UpdateContactRecordInput!) { updateContactRecord(input: $input) {
             contactRecord { version narrative } } }""",
        {
            "input": {
                "id": gid("ContactRecord", record.id),
                "version": record.version,
                "narrative": "ok",
            }
        },
    )
    assert body == {
        "data": {
            "updateContactRecord": {
                "contactRecord": {"version": record.version + 1, "narrative": "ok"}
            }
        }
    }


async def test_lakeside_cannot_write_the_narrative_of_a_handed_off_record(write_api: Api) -> None:
    api = write_api
    facts = await scenario(api)
    record_id = sorted(facts.handed_off(PRAIRIE, LAKESIDE) - facts.on_after_hours_form(PRAIRIE))[0]
    before = await record_row(api, record_id)
    events = await event_count(api)
    body = await api.gql(
        "lakeside-call-taker",
        UPDATE,
        {
            "input": {
                "id": gid("ContactRecord", record_id),
                "version": before.version,
                "narrative": "overwritten by Lakeside",
            }
        },
    )
    extensions = refusal(body)
    assert extensions["code"] == "FORBIDDEN"
    await assert_untouched(api, before, events)


async def test_lakeside_cannot_write_a_part2_answer(write_api: Api) -> None:
    api = write_api
    record, key = await _after_hours_record(api, part2=True)
    # Lakeside cannot read it (no consent)...
    body = await api.gql(
        "lakeside-call-taker",
        "query($id: ID!) { contactRecord(id: $id) { answers } }",
        {"id": gid("ContactRecord", record.id)},
    )
    assert key not in body["data"]["contactRecord"]["answers"]
    # ...so it may not write it either.
    before = await record_row(api, record.id)
    events = await event_count(api)
    body = await api.gql(
        "lakeside-call-taker",
        UPDATE,
        {
            "input": {
                "id": gid("ContactRecord", record.id),
                "version": before.version,
                "answers": {key: "Other"},
            }
        },
    )
    extensions = refusal(body)
    assert extensions["code"] == "FORBIDDEN"
    await assert_untouched(api, before, events)


# -- 42 CFR Part 2 --------------------------------------------------------------------------------

ANSWERS = "query($id: ID!) { contactRecord(id: $id) { answers } }"


async def add_consent(api: Api, client_id: uuid.UUID, overrides: dict[str, Any]) -> None:
    """A Prairie client's consent to disclose to Lakeside for after-hours coverage, valid for
    90 days from yesterday, with ``overrides``."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": PRAIRIE,
        "client_id": client_id,
        "recipient_kind": GranteeKind.TENANT,
        "recipient_tenant_id": LAKESIDE,
        "purpose": AFTER_HOURS_PURPOSE,
        "granted_at": now - timedelta(days=1),
        "expires_at": now + timedelta(days=90),
        "revoked_at": None,
        **overrides,
    }
    async with api.database.write_session() as session:
        session.add(ClientConsent(**values))


async def test_part2_answers_reach_lakeside_only_under_a_valid_consent(write_api: Api) -> None:
    api = write_api
    record, key = await _after_hours_record(api, part2=True)
    variables = {"id": gid("ContactRecord", record.id)}
    coordinate = f"ContactRecord.answers.{key}"
    readable = {k: v for k, v in record.answers.items() if k != key}
    client_id = record.client_id
    assert client_id is not None

    async def withheld(label: str) -> None:
        body = await api.gql("lakeside-admin", ANSWERS, variables)
        assert body["data"]["contactRecord"]["answers"] == readable, label
        assert denied(body) == {coordinate: [["contactRecord", "answers"]]}, label
        assert not other_errors(body)
        assert "redisclosureNotice" not in body.get("extensions", {}), label

    await withheld("no consent")
    now = datetime.now(UTC)
    other_client = next(
        c
        for c in sorted((await scenario(api)).clients.values(), key=lambda c: c.id)
        if c.tenant_id == PRAIRIE and c.id != record.client_id
    )
    for label, overrides in (
        (
            "expired",
            {"granted_at": now - timedelta(days=60), "expires_at": now - timedelta(days=1)},
        ),
        ("revoked", {"revoked_at": now - timedelta(hours=1)}),
        ("another purpose", {"purpose": "follow-up"}),
        ("another recipient", {"recipient_tenant_id": RIVERBEND}),
        ("another client", {"client_id": other_client.id}),
        (
            "a partner recipient",
            {
                "recipient_kind": GranteeKind.PARTNER,
                "recipient_tenant_id": None,
                "recipient_partner_id": EASTSIDE,
            },
        ),
    ):
        await add_consent(api, client_id, overrides)
        await withheld(label)

    await add_consent(api, client_id, {})
    body = await api.gql("lakeside-admin", ANSWERS, variables)
    assert "errors" not in body, body["errors"]
    assert body["data"]["contactRecord"]["answers"] == record.answers
    assert "42 CFR part 2" in body["extensions"]["redisclosureNotice"]

    # The notice goes with disclosures only.
    body = await api.gql(
        "lakeside-admin", "query($id: ID!) { contactRecord(id: $id) { narrative } }", variables
    )
    assert "errors" not in body and "extensions" not in body, body
    # The owner reads its own Part 2 answers without consent or notice.
    body = await api.gql("prairie-admin", ANSWERS, variables)
    assert body["data"]["contactRecord"]["answers"] == record.answers
    assert "errors" not in body and "extensions" not in body


# -- cursors --------------------------------------------------------------------------------------

CURSOR_PAGE = """
query($first: Int, $after: String) {
  contactRecords(first: $first, after: $after) { edges { cursor node { id startedAt } } }
}
"""


async def test_a_pantry_cursor_carries_no_field_values(api: Api) -> None:
    facts = await scenario(api)
    data = await api.data("eastside-portal", CURSOR_PAGE, {"first": 5})
    prefix = b"ContactRecord|STARTED_AT_DESC|"
    for edge in data["contactRecords"]["edges"]:
        raw = decode_cursor(edge["cursor"])
        record = facts.records[uid(edge["node"]["id"])]
        # The list, the sort, the row id and a 12-byte signature; room for nothing else.
        assert raw.startswith(prefix)
        assert len(raw) == len(prefix) + 16 + 12
        assert raw[len(prefix) : len(prefix) + 16] == record.id.bytes
        for value in (
            record.started_at.isoformat(),
            str(int(record.started_at.timestamp())),
            record.started_at.date().isoformat(),
        ):
            assert value.encode() not in raw


async def test_a_cursor_only_resumes_its_own_list_and_sort(api: Api) -> None:
    data = await api.data("eastside-portal", CURSOR_PAGE, {"first": 2})
    cursor = data["contactRecords"]["edges"][0]["cursor"]
    for query in (
        "query($a: String) { contactRecords(after: $a, sort: STARTED_AT_ASC) { edges { node { id } } } }",
        "query($a: String) { clients(after: $a) { edges { node { id } } } }",
        "query($a: String) { services(after: $a) { edges { node { id } } } }",
    ):
        body = await api.gql("eastside-portal", query, {"a": cursor})
        assert refusal(body)["code"] == "BAD_USER_INPUT", (query, body)
    tampered = decode_cursor(cursor)
    tampered = tampered[:-13] + bytes([tampered[-13] ^ 1]) + tampered[-12:]
    body = await api.gql(
        "eastside-portal",
        "query($a: String) { contactRecords(after: $a) { edges { node { id } } } }",
        {"a": base64.urlsafe_b64encode(tampered).decode().rstrip("=")},
    )
    assert refusal(body)["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("principal", ["riverbend-admin", "lakeside-admin"])
async def test_a_pantry_cursor_does_not_work_for_another_center(
    api: Api, backend: str, principal: str, request: pytest.FixtureRequest
) -> None:
    facts = await scenario(api)
    home = {"riverbend-admin": RIVERBEND, "lakeside-admin": LAKESIDE}[principal]
    sees = facts.owned_by(home) | (
        facts.on_after_hours_form(PRAIRIE) | facts.handed_off(PRAIRIE, LAKESIDE)
        if home == LAKESIDE
        else set()
    )
    data = await api.data("eastside-portal", CURSOR_PAGE, {"first": 100})
    edge = next(
        e
        for e in data["contactRecords"]["edges"]
        if uid(e["node"]["id"]) not in sees
        and any(
            facts.records[r].started_at < facts.records[uid(e["node"]["id"])].started_at
            for r in sees
        )
    )
    body = await api.gql(
        principal,
        "query($a: String) { contactRecords(first: 5, after: $a) { edges { node { id } } } }",
        {"a": edge["cursor"]},
    )
    if body.get("errors"):
        assert codes(body) == ["BAD_USER_INPUT"], body
    else:
        assert body["data"]["contactRecords"]["edges"] == [], body


# -- text search ----------------------------------------------------------------------------------


async def test_search_never_matches_text_the_caller_cannot_read(write_api: Api) -> None:
    """Riverbend shares its services' names (not descriptions) with the pantry: a word only in
    a description finds nothing, a word in a name finds the service."""
    api = write_api
    async with api.database.read_session() as session:
        services = (
            await session.scalars(select(Service).where(Service.tenant_id == RIVERBEND))
        ).all()
    word, target = next(
        (word, s)
        for s in sorted(services, key=lambda s: s.name)
        for word in sorted((s.description or "").replace(",", " ").replace(".", " ").split())
        if len(word) > 5
        and word.isalpha()
        and not any(word.lower() in f"{o.name} {o.alternate_name or ''}".lower() for o in services)
    )
    name_word = target.name.split()[0]
    riverbend = [gid("Tenant", RIVERBEND)]
    search = """query($s: String, $t: [ID!]) { services(first: 100, filter: {search: $s, tenantIds: $t}) {
                  totalCount edges { node { id name } } } }"""

    # Before any agreement the pantry sees none of Riverbend's directory.
    data = await api.data("eastside-portal", search, {"s": name_word, "t": riverbend})
    assert data["services"]["totalCount"] == 0

    body = await api.gql(
        "riverbend-admin",
        "mutation($i: SharingAgreementInput!) { createSharingAgreement(input: $i) { agreement { id } } }",
        {
            "i": {
                "name": "Service names for the pantry",
                "purpose": "information and referral",
                "granteeKind": "PARTNER",
                "granteePartnerId": gid("PartnerOrganization", EASTSIDE),
                "actions": ["read"],
                "fields": ["Service.id", "Service.name", "Service.tenant"],
            }
        },
    )
    assert "errors" not in body, body["errors"]

    data = await api.data("eastside-portal", search, {"s": name_word, "t": riverbend})
    assert gid("Service", target.id) in {e["node"]["id"] for e in data["services"]["edges"]}
    data = await api.data("eastside-portal", search, {"s": word, "t": riverbend})
    assert data["services"] == {"totalCount": 0, "edges": []}, word
    data = await api.data("eastside-portal", search, {"s": word, "t": None})
    assert gid("Service", target.id) not in {e["node"]["id"] for e in data["services"]["edges"]}

    for query in (
        "{ services(sort: UPDATED_AT_DESC) { totalCount } }",
        '{ services(filter: {modifiedAfter: "2020-01-01T00:00:00Z"}) { totalCount } }',
    ):
        extensions = refusal(await api.gql("eastside-portal", query))
        assert (extensions["code"], extensions["coordinate"]) == ("FORBIDDEN", "Service.updatedAt")
