"""The referrals inbox and outbox (`referrals`) and `queueEntries` across queues, on both
backends: a partner lists the referrals to its organizations, a tenant what it sent and received,
nobody another organization's, filters go through the disclosure seam, and nested relations
cost the same number of statements for a page of 5 or of 50."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from sharegraph.datastore.enums import ReferralStatus
from sharegraph.datastore.models import (
    Organization,
    Program,
    QueueEntry,
    Referral,
    Service,
    ServiceAtLocation,
)
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .conftest import Api, StatementCounter

PRAIRIE = demo_id("tenant", "prairie")
LAKESIDE = demo_id("tenant", "lakeside")
EASTSIDE = demo_id("partner-organization", "eastside")
HARBOR = demo_id("partner-organization", "harbor")

REFERRALS = """
query($filter: ReferralFilterInput, $sort: ReferralSort, $first: Int, $after: String) {
  referrals(filter: $filter, sort: $sort, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      uuid status createdAt
      tenant { uuid }
      serviceAtLocation { uuid }
      program { uuid }
      contactRecord { id startedAt client { firstName phone } }
      notes { body authorTenant { name } }
    } }
  }
}
"""


async def _scalar(api: Api, statement: Any) -> Any:
    async with api.database.read_session() as session:
        return await session.scalar(statement)


async def _all(api: Api, statement: Any) -> list[Any]:
    async with api.database.read_session() as session:
        return list((await session.scalars(statement)).all())


def _organizations_of(partner: uuid.UUID) -> Any:
    return select(Organization.id).where(Organization.partner_organization_id == partner)


def _to_partner(partner: uuid.UUID) -> Any:
    """Referrals to a service or program of an organization the partner runs."""
    orgs = _organizations_of(partner)
    sals = (
        select(ServiceAtLocation.id)
        .join(Service, Service.id == ServiceAtLocation.service_id)
        .where(Service.organization_id.in_(orgs))
    )
    programs = select(Program.id).where(Program.organization_id.in_(orgs))
    return (Referral.service_at_location_id.in_(sals)) | (Referral.program_id.in_(programs))


async def _partner_referral_ids(api: Api, partner: uuid.UUID) -> set[str]:
    """What the demo agreements share with a partner: Prairie's referrals to it (other tenants
    refer to the partner too, but share nothing with it)."""
    closed = (ReferralStatus.DRAFT, ReferralStatus.ENTERED_IN_ERROR)
    rows = await _all(
        api,
        select(Referral.id).where(
            _to_partner(partner), Referral.status.not_in(closed), Referral.tenant_id == PRAIRIE
        ),
    )
    return {str(r) for r in rows}


async def _every_page(
    api: Api, principal: str, variables: dict[str, Any], page: int = 50
) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        data = await api.data(principal, REFERRALS, {**variables, "first": page, "after": after})
        connection = data["referrals"]
        nodes += [e["node"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            assert connection["totalCount"] == len(nodes)
            return nodes
        after = connection["pageInfo"]["endCursor"]


async def test_the_pantry_lists_its_referrals_in_one_query(api: Api) -> None:
    expected = await _partner_referral_ids(api, EASTSIDE)
    assert expected, "the demo network refers clients to the pantry"
    nodes = await _every_page(api, "eastside-portal", {"filter": {"direction": "RECEIVED"}})
    assert {n["uuid"] for n in nodes} == expected
    # Newest first by default; the contact record and client as far as the agreement allows.
    created = [n["createdAt"] for n in nodes]
    assert created == sorted(created, reverse=True)
    with_client = [n for n in nodes if n["contactRecord"] and n["contactRecord"]["client"]]
    assert with_client and all(n["contactRecord"]["startedAt"] for n in nodes)
    # Without a direction the inbox is the same: a partner sees nothing else.
    assert {n["uuid"] for n in await _every_page(api, "eastside-portal", {})} == expected


async def test_the_pantry_filters_by_status(api: Api) -> None:
    statuses = await _all(
        api,
        select(Referral.status).where(
            Referral.id.in_([uuid.UUID(i) for i in await _partner_referral_ids(api, EASTSIDE)])
        ),
    )
    status = statuses[0]
    nodes = await _every_page(api, "eastside-portal", {"filter": {"status": status.name}})
    assert nodes and {n["status"] for n in nodes} == {status.name}
    assert len(nodes) == statuses.count(status)
    both = await _every_page(
        api, "eastside-portal", {"filter": {"status": ["REQUESTED", "ACCEPTED"]}}
    )
    assert {n["status"] for n in both} <= {"REQUESTED", "ACCEPTED"}


async def test_the_pantry_never_sees_another_organizations_referrals(api: Api) -> None:
    """Cross-tenant leak: Harbor's and Lakeside's referrals do not exist for the pantry, under
    any filter, and a cursor of another caller's list reveals nothing."""
    pantry = await _partner_referral_ids(api, EASTSIDE)
    harbor = await _partner_referral_ids(api, HARBOR)
    assert harbor and not pantry & harbor
    lakeside_rows = {str(r) for r in await _all(api, select(Referral.id).where(
        Referral.tenant_id == LAKESIDE))}  # fmt: skip
    for variables in (
        {},
        {"filter": {"direction": "RECEIVED"}},
        {"filter": {"direction": "SENT"}},
        {"filter": {"organizationId": to_global_id("Organization", await _harbor_org(api))}},
        {"sort": "UPDATED_AT_ASC"},
    ):
        seen = {n["uuid"] for n in await _every_page(api, "eastside-portal", variables)}
        assert seen <= pantry
        assert not seen & (harbor | lakeside_rows)
    sent = await _every_page(api, "eastside-portal", {"filter": {"direction": "SENT"}})
    assert sent == []  # a partner sends none
    # Harbor's agreement (queue entries assigned to it) shows it some of its referrals, never
    # the pantry's.
    harbor_seen = {n["uuid"] for n in await _every_page(api, "harbor-portal", {})}
    assert harbor_seen and harbor_seen <= harbor


async def _harbor_org(api: Api) -> uuid.UUID:
    found: uuid.UUID = await _scalar(
        api, _organizations_of(HARBOR).order_by(Organization.id).limit(1)
    )
    return found


async def test_a_tenant_sees_what_it_sent_and_what_it_received(api: Api) -> None:
    sent = await _every_page(api, "prairie-admin", {"filter": {"direction": "SENT"}})
    own = await _scalar(
        api, select(func.count()).select_from(Referral).where(Referral.tenant_id == PRAIRIE)
    )
    assert len(sent) == own and {n["tenant"]["uuid"] for n in sent} == {str(PRAIRIE)}
    received = await _every_page(api, "prairie-admin", {"filter": {"direction": "RECEIVED"}})
    prairie_orgs = select(Organization.id).where(Organization.tenant_id == PRAIRIE)
    sals = (
        select(ServiceAtLocation.id)
        .join(Service, Service.id == ServiceAtLocation.service_id)
        .where(Service.organization_id.in_(prairie_orgs))
    )
    programs = select(Program.id).where(Program.organization_id.in_(prairie_orgs))
    to_prairie = {
        str(r)
        for r in await _all(
            api,
            select(Referral.id).where(
                Referral.service_at_location_id.in_(sals) | Referral.program_id.in_(programs),
            ),
        )
    }
    visible = {n["uuid"] for n in await _every_page(api, "prairie-admin", {})}
    assert {n["uuid"] for n in received} == to_prairie & visible
    assert {n["uuid"] for n in sent} | {n["uuid"] for n in received} <= visible
    # Received from another tenant (Lakeside's after-hours records, shared back) counts too.
    assert any(n["tenant"]["uuid"] != str(PRAIRIE) for n in received)
    # Lakeside sends nothing Prairie receives, so Lakeside's outbox never shows Prairie's rows.
    lakeside_sent = await _every_page(api, "lakeside-admin", {"filter": {"direction": "SENT"}})
    assert {n["tenant"]["uuid"] for n in lakeside_sent} <= {str(LAKESIDE)}


SHARE = """
mutation($input: SharingAgreementInput!) { createSharingAgreement(input: $input) { agreement { id } } }
"""


async def test_filters_on_unreadable_fields_are_refused(write_api: Api) -> None:
    """A filter is a read: Riverbend, once Prairie shares its referrals' status and creation
    time, may filter on status (and sort by creation) but not on `externalId` nor sort by
    `updatedAt`, except over its own outbox."""
    api = write_api
    share = {
        "name": "Referral statuses",
        "purpose": "regional coordination",
        "granteeKind": "TENANT",
        "granteeTenantId": to_global_id("Tenant", demo_id("tenant", "riverbend")),
        "actions": ["read"],
        "fields": ["Referral.id", "Referral.status", "Referral.createdAt"],
        "rowScope": "all",
    }
    await api.data("prairie-admin", SHARE, {"input": share})
    by_status = await api.gql(
        "riverbend-admin",
        "query { referrals(filter: {status: REQUESTED}, first: 100) { edges { node { id } } } }",
    )
    assert "errors" not in by_status
    refused = await api.gql(
        "riverbend-admin",
        'query { referrals(filter: {externalId: "X"}) { totalCount } }',
    )
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"] == {
        "code": "FORBIDDEN",
        "reason": "FORBIDDEN_FILTER",
        "coordinate": "Referral.externalId",
    }
    sorted_by_update = await api.gql(
        "riverbend-admin", "query { referrals(sort: UPDATED_AT_ASC) { totalCount } }"
    )
    assert sorted_by_update["errors"][0]["extensions"]["reason"] == "FORBIDDEN_SORT"
    own = await api.gql(
        "riverbend-admin",
        'query { referrals(filter: {direction: SENT, externalId: "X"}) { totalCount } }',
    )
    assert own == {"data": {"referrals": {"totalCount": 0}}}


async def test_referrals_nested_cost_no_more_statements_for_more_rows(
    api: Api, count_statements: StatementCounter
) -> None:
    # Own referrals (rows shared by others add one scope query per owning tenant, not per row).
    # A first request outside the count: its API key is looked up once, then remembered.
    await api.data("prairie-admin", REFERRALS, {"first": 1, "filter": {"direction": "SENT"}})
    counts = []
    for first in (5, 50):
        count_statements.statements.clear()
        data = await api.data(
            "prairie-admin", REFERRALS, {"first": first, "filter": {"direction": "SENT"}}
        )
        assert len(data["referrals"]["edges"]) == first
        reads = [
            s
            for s in count_statements.statements
            if not s.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS")
        ]
        counts.append(len(reads))
    assert counts[0] == counts[1], count_statements.statements
    # page, count, then one per relation: tenant, service at location,
    # program, contact record, client, notes, their author tenants
    assert counts[0] <= 12


QUEUE_ENTRIES = """
query($filter: QueueEntriesFilterInput, $first: Int) {
  queueEntries(filter: $filter, first: $first) {
    totalCount
    edges { node { uuid queue { uuid } assignedProgram { uuid } client { firstName } } }
  }
}
"""


async def test_a_partner_lists_its_assigned_entries_across_queues(api: Api) -> None:
    harbor_programs = select(Program.id).where(Program.organization_id.in_(
        _organizations_of(HARBOR)))  # fmt: skip
    expected = {
        str(r)
        for r in await _all(
            api,
            select(QueueEntry.id).where(
                QueueEntry.assigned_program_id.in_(harbor_programs),
                QueueEntry.removed_at.is_(None),
            ),
        )
    }
    assert expected, "the demo network assigns entries to Harbor's programs"
    data = await api.data("harbor-portal", QUEUE_ENTRIES, {"first": 100})
    seen = {e["node"]["uuid"] for e in data["queueEntries"]["edges"]}
    assert seen == expected
    assert data["queueEntries"]["totalCount"] == len(expected)
    pantry = await api.data("eastside-portal", QUEUE_ENTRIES, {"first": 100})
    assert not {e["node"]["uuid"] for e in pantry["queueEntries"]["edges"]} & expected
    # The tenant that runs the queues sees every live entry; awaiting narrows them.
    everything = await api.data("prairie-admin", QUEUE_ENTRIES, {"first": 100})
    awaiting = await api.data(
        "prairie-admin", QUEUE_ENTRIES, {"first": 100, "filter": {"awaiting": True}}
    )
    assert expected <= {e["node"]["uuid"] for e in everything["queueEntries"]["edges"]}
    assert all(e["node"]["assignedProgram"] is None for e in awaiting["queueEntries"]["edges"])
    assert awaiting["queueEntries"]["totalCount"] < everything["queueEntries"]["totalCount"]


async def test_queue_entries_nested_cost_no_more_statements_for_more_rows(
    api: Api, count_statements: StatementCounter
) -> None:
    query = """
    query($first: Int) {
      queueEntries(first: $first) {
        edges { node { priority status { label } queue { name } assignedProgram { name }
          client { firstName } referral { status } } }
      }
    }
    """
    total = (await api.data("prairie-admin", QUEUE_ENTRIES, {"first": 100}))["queueEntries"][
        "totalCount"
    ]
    assert total > 5
    counts = []
    for first in (5, min(total, 100)):
        count_statements.statements.clear()
        data = await api.data("prairie-admin", query, {"first": first})
        assert len(data["queueEntries"]["edges"]) == first
        counts.append(
            len(
                [
                    s
                    for s in count_statements.statements
                    if not s.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS")
                ]
            )
        )
    assert counts[0] == counts[1], count_statements.statements
