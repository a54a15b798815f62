"""The console's audit view (/console/audit): the trail with filters and paging, the sealed
chain's verification, disclosures per partner, the filtered view as CSV; and the API it
stands on (`auditEvents(filter: {recordId})`, `auditChain`, `auditDisclosures`)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from sharegraph.console.admin import audit as audit_page
from sharegraph.datastore import audit_chain
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import AuditEvent

from .console_support import console as console  # the fixture
from .portal_support import Portal, open_portal, portal_settings, set_password
from .test_audit import tamper

EVENTS = """
query($filter: AuditEventFilterInput, $after: String) {
  auditEvents(filter: $filter, first: 100, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { position occurredAt action principalId principalName purpose recordType
      recordIds coordinates detail } }
  }
}
"""
PRINCIPALS = "{ principals(first: 100) { edges { node { id name apiKeys { id label } } } } }"
CREATE_KEY = """
mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id uuid } } }
"""
CHAIN = """
{ auditChain { intact sealsChecked rowsSealed rowsUnsealed headSequence headSealHash
  problems { sequence kind message firstPosition lastPosition } } }
"""
DISCLOSURES = """
query($after: DateTime, $before: DateTime) {
  auditDisclosures(occurredAfter: $after, occurredBefore: $before) {
    recipient recipientTenant { name } recipientPartnerOrganization { name }
    principalId principalName count firstOccurredAt lastOccurredAt
  }
}
"""
RECORDS = "{ contactRecords(first: 5) { edges { node { id uuid narrative } } } }"


async def gql(
    http: httpx.AsyncClient,
    key: str,
    query: str,
    variables: Any = None,
    headers: dict[str, str] | None = None,
) -> Any:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
    )
    return response.json()


async def all_events(http: httpx.AsyncClient, key: str, flt: dict[str, Any]) -> list[Any]:
    rows: list[Any] = []
    after = None
    while True:
        body = await gql(http, key, EVENTS, {"filter": flt, "after": after})
        assert "errors" not in body, body
        connection = body["data"]["auditEvents"]
        rows.extend(edge["node"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return rows
        after = connection["pageInfo"]["endCursor"]


async def ids_by_name(http: httpx.AsyncClient, keys: dict[str, str]) -> dict[str, Any]:
    body = await gql(http, keys["prairie-admin"], PRINCIPALS)
    return {e["node"]["name"]: e["node"] for e in body["data"]["principals"]["edges"]}


def positions(page: str) -> list[str]:
    return re.findall(r'<span class="muted">#(\d+)</span>', page)


async def test_the_trail_shows_real_rows_and_filters_narrow_them(
    console: Portal, keys: dict[str, str]
) -> None:
    http = console.browser.http
    admin = keys["prairie-admin"]
    people = await ids_by_name(http, keys)
    made = await gql(
        http, admin, CREATE_KEY, {"input": {"principalId": people["prairie-api"]["id"]}}
    )
    key_uuid = made["data"]["createApiKey"]["apiKey"]["uuid"]
    key_id = made["data"]["createApiKey"]["apiKey"]["id"]
    await gql(http, keys["prairie-call-taker"], RECORDS)  # reads: rows of prairie-call-taker

    page = await http.get("/console/audit")
    assert page.status_code == 200 and 'class="problem"' not in page.text, page.text
    everything = await all_events(http, admin, {})
    assert f"{len(everything)} events" in page.text
    assert positions(page.text) == [e["position"] for e in everything[: audit_page.PAGE_SIZE]]
    assert "key.create" in page.text and "prairie-admin" in page.text

    by_action = await http.get("/console/audit", params={"action": "key.create"})
    expected = await all_events(http, admin, {"action": "key.create"})
    assert 0 < len(expected) < len(everything)
    assert positions(by_action.text) == [e["position"] for e in expected]

    caller = people["prairie-call-taker"]["id"]
    by_principal = await http.get("/console/audit", params={"principal": caller})
    expected = await all_events(http, admin, {"principalId": caller})
    assert expected and all(e["principalName"] == "prairie-call-taker" for e in expected)
    assert positions(by_principal.text) == [e["position"] for e in expected]
    assert f'<option value="{caller}" selected>' in by_principal.text

    for record in (key_uuid, key_id):  # the raw UUID or the global id
        by_record = await http.get("/console/audit", params={"record": record})
        shown = positions(by_record.text)
        assert len(shown) == 1, by_record.text
        [row] = [e for e in everything if e["position"] == shown[0]]
        assert row["action"] == "key.create" and key_uuid in row["recordIds"]

    newest = datetime.fromisoformat(everything[0]["occurredAt"])
    until = (newest - timedelta(microseconds=1)).astimezone(UTC).replace(tzinfo=None)
    before_newest = await http.get("/console/audit", params={"to": until.isoformat()})
    assert everything[0]["position"] not in positions(before_newest.text)
    later = (newest + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    none_after = await http.get("/console/audit", params={"from": later})
    assert positions(none_after.text) == [] and "No events match" in none_after.text


async def test_paging_walks_the_whole_filtered_trail(
    console: Portal, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    http = console.browser.http
    monkeypatch.setattr(audit_page, "PAGE_SIZE", 2)
    await gql(http, keys["prairie-call-taker"], RECORDS)
    await gql(http, keys["prairie-call-taker"], RECORDS)
    expected = [e["position"] for e in await all_events(http, keys["prairie-admin"], {})]
    seen: list[str] = []
    path: str | None = "/console/audit"
    while path:
        page = await http.get(path)
        seen.extend(positions(page.text))
        found = re.search(r'<a href="([^"]+)">Older events</a>', page.text)
        path = found.group(1).replace("&amp;", "&") if found else None
    assert seen == expected and len(seen) >= 3


async def test_csv_export_equals_the_filtered_view_and_neutralizes_formulas(
    console: Portal, keys: dict[str, str]
) -> None:
    http = console.browser.http
    formula = '=HYPERLINK("http://evil.example","x")'
    await gql(http, keys["prairie-call-taker"], RECORDS, headers={"Sharegraph-Purpose": formula})
    await gql(http, keys["prairie-call-taker"], RECORDS, headers={"Sharegraph-Purpose": "-2+3"})
    # A spreadsheet splitting at ";" or a tab (another locale) must not find a formula either.
    inner = 'case 7;=HYPERLINK("http://evil.example","y")'
    await gql(http, keys["prairie-call-taker"], RECORDS, headers={"Sharegraph-Purpose": inner})
    await gql(http, keys["prairie-call-taker"], RECORDS, headers={"Sharegraph-Purpose": "a\t+1"})
    people = await ids_by_name(http, keys)
    caller = people["prairie-call-taker"]["id"]
    params = {"principal": caller, "action": "read"}
    download = await http.get("/console/audit/export.csv", params=params)
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/csv")
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;") and re.search(
        r'filename="audit-\w+\.csv"', disposition
    )
    assert download.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == list(audit_page.CSV_COLUMNS)
    expected = await all_events(
        http, keys["prairie-admin"], {"principalId": caller, "action": "read"}
    )
    assert [r[0] for r in rows[1:]] == [e["position"] for e in expected]
    assert len(expected) >= 2
    for row, event in zip(rows[1:], expected, strict=True):
        assert row[2] == "read" and row[3] == "prairie-call-taker" and row[4] == caller
        assert row[7] == " ".join(event["recordIds"])
        purpose = event["purpose"] or ""
        if not re.search(r"[;,\t]", purpose):  # those with a separator: below
            assert row[5] == (f"'{purpose}" if purpose[:1] in "=+-@" and purpose else purpose)
    purposes = {r[5] for r in rows[1:]}
    assert f"'{formula}" in purposes and "'-2+3" in purposes
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)
    assert 'case 7;\'=HYPERLINK("http://evil.example","y")' in purposes and "a\t'+1" in purposes
    pieces = re.split(r"[;,\t\r\n]", download.text)
    assert not [p for p in pieces if p.lstrip('"').startswith(("=", "+", "-", "@"))]
    # the page links the download of exactly its filters
    page = await http.get("/console/audit", params=params)
    assert 'href="/console/audit/export.csv?principal=' in page.text


async def test_an_export_over_the_bound_is_refused_clearly(
    console: Portal, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await gql(console.browser.http, keys["prairie-call-taker"], RECORDS)
    await gql(console.browser.http, keys["prairie-call-taker"], RECORDS)
    monkeypatch.setattr(audit_page, "MAX_EXPORT_ROWS", 1)
    refused = await console.browser.http.get("/console/audit/export.csv")
    assert refused.status_code == 400
    assert "EXPORT_TOO_LARGE" in refused.text and "text/html" in refused.headers["content-type"]


async def test_the_chain_status_is_the_verification(console: Portal, keys: dict[str, str]) -> None:
    http = console.browser.http
    await gql(http, keys["prairie-call-taker"], RECORDS)
    await audit_chain.seal(console.db, settle_seconds=0)
    body = await gql(http, keys["prairie-admin"], CHAIN)
    status = body["data"]["auditChain"]
    assert status["intact"] is True and status["sealsChecked"] >= 1 and status["problems"] == []
    page = await http.get("/console/audit/chain")
    assert page.status_code == 200 and "Intact." in page.text
    assert status["headSealHash"] in page.text
    fragment = await http.get("/console/audit/chain", headers={"HX-Request": "true"})
    assert "Intact." in fragment.text and "<html" not in fragment.text
    trail = await http.get("/console/audit")
    assert 'hx-get="/console/audit/chain"' in trail.text

    rows = await all_events(http, keys["prairie-admin"], {})
    victim = rows[-1]["position"]
    await tamper(
        console.db,
        "audit_events",
        update(AuditEvent).where(AuditEvent.position == int(victim)).values(purpose="changed"),
    )
    broken = (await gql(http, keys["prairie-admin"], CHAIN))["data"]["auditChain"]
    assert broken["intact"] is False and broken["problems"][0]["kind"] == "row-changed"
    page = await http.get("/console/audit/chain")
    assert "Broken." in page.text and "row-changed" in page.text


async def test_disclosures_are_counted_per_receiving_organization(
    console: Portal, keys: dict[str, str]
) -> None:
    http = console.browser.http
    start = datetime.now(UTC) - timedelta(seconds=1)
    read = await gql(http, keys["lakeside-call-taker"], RECORDS)
    assert read["data"]["contactRecords"]["edges"], read
    await gql(http, keys["lakeside-call-taker"], RECORDS)
    body = await gql(http, keys["prairie-admin"], DISCLOSURES, {"after": start.isoformat()})
    assert "errors" not in body, body
    counts = body["data"]["auditDisclosures"]
    lakeside = [c for c in counts if c["principalName"] == "lakeside-call-taker"]
    assert len(lakeside) == 1 and lakeside[0]["recipientTenant"]["name"] == "Lakeside Crisis Line"
    rows = await all_events(
        http,
        keys["prairie-admin"],
        {
            "action": "disclosure",
            "principalId": lakeside[0]["principalId"],
            "occurredAfter": start.isoformat(),
        },
    )
    assert lakeside[0]["count"] == len(rows) >= 2
    period = start.strftime("%Y-%m-%dT%H:%M")
    page = await http.get("/console/audit/disclosures", params={"from": period})
    assert page.status_code == 200 and 'class="problem"' not in page.text, page.text
    assert "Lakeside Crisis Line" in page.text and "lakeside-call-taker" in page.text
    assert f">{lakeside[0]['count']}</a>" in page.text
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    empty = await http.get("/console/audit/disclosures", params={"from": future})
    assert "0 disclosure rows in this period" in empty.text


async def test_bad_filters_are_clear_problems(console: Portal) -> None:
    http = console.browser.http
    bad_time = await http.get("/console/audit", params={"from": "yesterday"})
    assert bad_time.status_code == 400 and "BAD_DATE_TIME" in bad_time.text
    # the filter form is there again, to correct it
    assert 'id="f-from" name="from" type="datetime-local" value="yesterday"' in bad_time.text
    bad_record = await http.get("/console/audit", params={"record": "not-an-id"})
    assert bad_record.status_code == 400 and "BAD_ID" in bad_record.text
    reversed_period = await http.get(
        "/console/audit", params={"from": "2026-02-01T00:00", "to": "2026-01-01T00:00"}
    )
    assert reversed_period.status_code == 400 and "BAD_PERIOD" in reversed_period.text
    bad_export = await http.get("/console/audit/export.csv", params={"to": "soon"})
    assert bad_export.status_code == 400 and "BAD_DATE_TIME" in bad_export.text
    assert "content-disposition" not in bad_export.headers


async def test_non_admins_are_refused(seeded_db: Database, keys: dict[str, str]) -> None:
    await set_password(seeded_db, "prairie-call-taker")
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        await p.browser.sign_in("prairie-call-taker")
        for path in ("/console/audit", "/console/audit/chain", "/console/audit/disclosures"):
            page = await p.browser.http.get(path)
            assert page.status_code == 403 and "NOT_TENANT_ADMIN" in page.text, path
            assert "<table" not in page.text
        download = await p.browser.http.get("/console/audit/export.csv")
        assert download.status_code == 403 and "content-disposition" not in download.headers
        for query in (CHAIN, DISCLOSURES):
            body = await gql(p.browser.http, keys["prairie-call-taker"], query)
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_another_tenants_admin_sees_none_of_it(console: Portal, keys: dict[str, str]) -> None:
    http = console.browser.http
    people = await ids_by_name(http, keys)
    made = await gql(
        http,
        keys["prairie-admin"],
        CREATE_KEY,
        {"input": {"principalId": people["prairie-api"]["id"]}},
    )
    key_uuid = made["data"]["createApiKey"]["apiKey"]["uuid"]
    tenants = await gql(http, keys["prairie-admin"], "{ viewer { tenant { id } } }")
    prairie = tenants["data"]["viewer"]["tenant"]["id"]
    lakeside = keys["lakeside-admin"]
    # Lakeside's own trail holds no row naming Prairie's key, and Prairie's is closed to it.
    mine = await gql(http, lakeside, EVENTS, {"filter": {"recordId": key_uuid}})
    assert mine["data"]["auditEvents"]["totalCount"] == 0
    for query, variables in (
        (EVENTS, {"filter": {"tenantId": prairie, "recordId": key_uuid}}),
        ("query($t: ID) { auditChain(tenantId: $t) { intact } }", {"t": prairie}),
        ("query($t: ID) { auditDisclosures(tenantId: $t) { count } }", {"t": prairie}),
    ):
        body = await gql(http, lakeside, query, variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        assert body["errors"][0]["extensions"]["reason"] == "NOT_TENANT_ADMIN"


async def test_the_chain_fragment_sends_a_signed_out_page_to_sign_in(seeded_db: Database) -> None:
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        loaded = await p.browser.http.get("/console/audit/chain", headers={"HX-Request": "true"})
        assert loaded.status_code == 204 and loaded.text == ""
        assert loaded.headers["hx-redirect"] == "/signin?next=/console/audit"
        page = await p.browser.http.get("/console/audit/chain")
        assert page.status_code == 303
        assert page.headers["location"] == "/signin?next=/console/audit/chain"
