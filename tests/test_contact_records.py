"""Contact records: a tenant without sharing agreements sees and writes only its own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from sharegraph.datastore.models import ContactRecord, Event, Tenant

from .conftest import Api
from .queries import CONTACT_RECORDS_NESTED


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def _first_record_id(api: Api, principal: str) -> str:
    data = await api.data(principal, "{ contactRecords(first: 1) { edges { node { id } } } }")
    return str(data["contactRecords"]["edges"][0]["node"]["id"])


async def test_a_call_taker_sees_only_their_own_tenants_records(api: Api) -> None:
    data = await api.data("riverbend-call-taker", CONTACT_RECORDS_NESTED, {"first": 100})
    records = data["contactRecords"]
    assert records["edges"], "Riverbend has contact records in the demo"
    assert {e["node"]["tenant"]["name"] for e in records["edges"]} == {"Riverbend 211"}
    async with api.database.read_session() as session:
        own_total = await session.scalar(
            select(func.count(ContactRecord.id))
            .join(Tenant, Tenant.id == ContactRecord.tenant_id)
            .where(Tenant.name == "Riverbend 211")
        )
    assert records["totalCount"] == own_total


async def test_another_tenants_record_does_not_exist_for_you(api: Api) -> None:
    prairie_record = await _first_record_id(api, "prairie-admin")

    body = await api.gql(
        "lakeside-admin", "query($id: ID!) { node(id: $id) { id } }", {"id": prairie_record}
    )
    assert body["data"]["node"] is None and "errors" not in body

    body = await api.gql(
        "lakeside-admin",
        "query($id: ID!) { contactRecord(id: $id) { id narrative } }",
        {"id": prairie_record},
    )
    assert body["data"]["contactRecord"] is None
    assert codes(body) == ["NOT_FOUND"]

    body = await api.gql(
        "lakeside-admin",
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on ContactRecord { narrative } } }",
        {"r": [{"__typename": "ContactRecord", "id": prairie_record}]},
    )
    assert body["data"]["_entities"] == [None]


async def test_nested_relations_respect_the_plan(api: Api) -> None:
    """A referral reached through another path still only shows the caller's tenant's rows."""
    data = await api.data("riverbend-admin", CONTACT_RECORDS_NESTED, {"first": 50})
    for edge in data["contactRecords"]["edges"]:
        assert edge["node"]["tenant"]["name"] == "Riverbend 211"


CREATE = """
mutation Create($input: CreateContactRecordInput!) {
  createContactRecord(input: $input) {
    contactRecord { id uuid version channel narrative answers client { firstName } needs { name } tenant { name } }
  }
}
"""

UPDATE = """
mutation Update($input: UpdateContactRecordInput!) {
  updateContactRecord(input: $input) { contactRecord { id version narrative riskLevel answers } }
}
"""


async def _form_version(api: Api, principal: str) -> tuple[str, list[dict[str, Any]]]:
    own = (await api.data(principal, "{ viewer { tenant { id } } }"))["viewer"]["tenant"]["id"]
    data = await api.data(
        principal,
        "query($t: [ID!]) { contactRecords(first: 50, filter: {tenantIds: $t}) { edges { node { formVersion { id fields { key type options required sensitivity } } } } } }",
        {"t": [own]},
    )
    for edge in data["contactRecords"]["edges"]:
        version = edge["node"]["formVersion"]
        if version:
            return version["id"], version["fields"]
    raise AssertionError("no form version in the demo data")


def _valid_answers(fields: list[dict[str, Any]]) -> dict[str, Any]:
    samples = {
        "TEXT": "some text",
        "TEXTAREA": "longer text",
        "NUMBER": 3,
        "BOOLEAN": True,
        "DATE": "2026-01-31",
    }
    answers: dict[str, Any] = {}
    for field in fields:
        kind = field["type"]
        if kind == "SINGLE_SELECT":
            answers[field["key"]] = field["options"][0]
        elif kind == "MULTI_SELECT":
            answers[field["key"]] = field["options"][:2]
        else:
            answers[field["key"]] = samples[kind]
    return answers


async def _count(api: Api, model: Any) -> int:
    async with api.database.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_call_taker_documents_a_call_and_edits_it(write_api: Api) -> None:
    api = write_api
    form_version, fields = await _form_version(api, "prairie-call-taker")
    terms = await api.data(
        "prairie-call-taker", "{ taxonomyTerms(first: 2) { edges { node { id name } } } }"
    )
    term_ids = [e["node"]["id"] for e in terms["taxonomyTerms"]["edges"]]
    events_before = await _count(api, Event)

    created = await api.data(
        "prairie-call-taker",
        CREATE,
        {
            "input": {
                "formVersionId": form_version,
                "channel": "CALL",
                "startedAt": "2026-11-20T14:00:00-06:00",
                "endedAt": "2026-11-20T14:12:00-06:00",
                "client": {"firstName": "Dana", "lastName": "Kessler", "phone": "555-0101"},
                "needTermIds": term_ids,
                "narrative": "Caller needs food for the weekend.",
                "riskLevel": "LOW",
                "answers": _valid_answers(fields),
            }
        },
    )
    record = created["createContactRecord"]["contactRecord"]
    assert record["version"] == 1
    assert record["tenant"]["name"] == "Prairie 211"
    assert record["client"]["firstName"] == "Dana"
    assert [n["name"] for n in record["needs"]] == [
        e["node"]["name"] for e in terms["taxonomyTerms"]["edges"]
    ]
    assert await _count(api, Event) == events_before + 1

    updated = await api.data(
        "prairie-call-taker",
        UPDATE,
        {
            "input": {
                "id": record["id"],
                "version": 1,
                "narrative": "Follow-up needed.",
                "riskLevel": None,
            }
        },
    )
    after = updated["updateContactRecord"]["contactRecord"]
    assert after["version"] == 2
    assert after["narrative"] == "Follow-up needed."
    assert after["riskLevel"] is None
    assert after["answers"] == record["answers"]
    assert await _count(api, Event) == events_before + 2

    stale = await api.gql(
        "prairie-call-taker",
        UPDATE,
        {"input": {"id": record["id"], "version": 1, "narrative": "lost update"}},
    )
    assert codes(stale) == ["CONFLICT"]
    assert stale["errors"][0]["extensions"]["reason"] == "VERSION_MISMATCH"
    check = await api.data(
        "prairie-call-taker",
        "query($id: ID!) { contactRecord(id: $id) { narrative version } }",
        {"id": record["id"]},
    )
    assert check["contactRecord"] == {"narrative": "Follow-up needed.", "version": 2}


async def test_bad_answers_are_refused_and_nothing_is_written(write_api: Api) -> None:
    api = write_api
    form_version, fields = await _form_version(api, "prairie-call-taker")
    records_before = await _count(api, ContactRecord)
    events_before = await _count(api, Event)
    base = {"formVersionId": form_version, "channel": "CHAT", "startedAt": "2026-11-20T10:00:00Z"}
    select_field = next(f for f in fields if f["type"] in ("SINGLE_SELECT", "MULTI_SELECT"))
    bad_inputs = [
        {**base, "answers": {**_valid_answers(fields), "no_such_field": 1}},
        {**base, "answers": {**_valid_answers(fields), select_field["key"]: "not-an-option"}},
        {**base, "endedAt": "2026-11-20T09:00:00Z", "answers": _valid_answers(fields)},
        {**base, "needTermIds": ["bm90LWFuLWlk"], "answers": _valid_answers(fields)},
        {
            **base,
            "client": {"firstName": "X"},
            "clientId": "Q2xpZW50OjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA",
        },
    ]
    for bad in bad_inputs:
        body = await api.gql("prairie-call-taker", CREATE, {"input": bad})
        assert codes(body) == ["BAD_USER_INPUT"], (bad, body)
        assert body["errors"][0]["message"]
    body = await api.gql(
        "prairie-call-taker", CREATE, {"input": {**base, "startedAt": "yesterday"}}
    )
    assert codes(body) == ["BAD_USER_INPUT"]
    assert await _count(api, ContactRecord) == records_before
    assert await _count(api, Event) == events_before


async def test_you_cannot_write_another_tenants_records(write_api: Api) -> None:
    api = write_api
    prairie_record = await _first_record_id(api, "prairie-admin")
    body = await api.gql(
        "lakeside-admin",
        UPDATE,
        {"input": {"id": prairie_record, "version": 1, "narrative": "hijack"}},
    )
    assert codes(body) == ["NOT_FOUND"]

    tenants = await api.data("riverbend-admin", "{ tenants { id name } }")
    prairie = next(t["id"] for t in tenants["tenants"] if t["name"] == "Prairie 211")
    body = await api.gql(
        "riverbend-admin",
        CREATE,
        {"input": {"tenantId": prairie, "channel": "CALL", "startedAt": "2026-11-20T10:00:00Z"}},
    )
    assert codes(body) == ["NOT_FOUND"]

    body = await api.gql(
        "eastside-portal",
        CREATE,
        {"input": {"channel": "CALL", "startedAt": "2026-11-20T10:00:00Z"}},
    )
    assert codes(body) == ["FORBIDDEN"]


async def test_the_ids_filter_returns_only_the_given_records_you_can_see(api: Api) -> None:
    riverbend_record = await _first_record_id(api, "riverbend-admin")
    prairie_record = await _first_record_id(api, "prairie-admin")
    query = """
    query($ids: [ID!]) {
      contactRecords(first: 10, filter: {ids: $ids}) {
        totalCount edges { node { id tenant { name } } }
      }
    }
    """

    data = await api.data("riverbend-admin", query, {"ids": [riverbend_record, prairie_record]})
    records = data["contactRecords"]
    assert records["totalCount"] == 1
    assert [e["node"]["id"] for e in records["edges"]] == [riverbend_record]
    assert records["edges"][0]["node"]["tenant"]["name"] == "Riverbend 211"

    # An empty list matches nothing (not "no filter").
    data = await api.data("riverbend-admin", query, {"ids": []})
    assert data["contactRecords"]["totalCount"] == 0
    assert data["contactRecords"]["edges"] == []


async def test_a_retried_create_with_the_same_key_documents_the_call_once(write_api: Api) -> None:
    api = write_api
    given = {
        "channel": "CALL",
        "startedAt": "2026-11-02T21:05:00+00:00",
        "narrative": "Caller asked about rent help.",
        "idempotencyKey": "cad-incident-77",
    }
    records_before, events_before = await _count(api, ContactRecord), await _count(api, Event)
    first = await api.data("lakeside-call-taker", CREATE, {"input": given})
    second = await api.data("lakeside-call-taker", CREATE, {"input": given})
    assert first == second
    assert await _count(api, ContactRecord) == records_before + 1
    assert await _count(api, Event) == events_before + 1
    changed = {**given, "narrative": "Caller asked about food."}
    body = await api.gql("lakeside-call-taker", CREATE, {"input": changed})
    assert body["errors"][0]["extensions"]["reason"] == "IDEMPOTENCY_KEY_REUSED"
    assert await _count(api, ContactRecord) == records_before + 1
