"""Sharing a contact form by flags: each flag is an ordinary, previewed and audited agreement."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from sharegraph.datastore.models import ContactFormVersion, ContactRecord, SharingAgreement
from sharegraph.datastore.weeks import week_start
from sharegraph.demo import demo_id
from sharegraph.graph import statistics as graph_statistics
from sharegraph.graph.relay import to_global_id

from .conftest import Api

AFTER_HOURS = demo_id("contact-form", "prairie-after-hours")
PRAIRIE_ID = demo_id("tenant", "prairie")
RIVERBEND = to_global_id("Tenant", demo_id("tenant", "riverbend"))
LAKESIDE = to_global_id("Tenant", demo_id("tenant", "lakeside"))

SHARE = """
mutation($input: ShareContactFormInput!) {
  shareContactForm(input: $input) {
    applied
    agreements { name actions fields answerSensitivity rowScope validUntil grantee { tenant { name } } }
    changes { grantee coordinate action rowScope change }
  }
}
"""
UNSHARE = """
mutation($input: UnshareContactFormInput!) {
  unshareContactForm(input: $input) { applied agreements { name } changes { coordinate action change } }
}
"""
RECORDS = "{ contactRecords(first: 1) { totalCount } }"
FOLLOW_UPS = "{ followUps(first: 1) { totalCount } }"


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def reasons(body: dict[str, Any]) -> list[str | None]:
    return [e["extensions"].get("reason") for e in body.get("errors", [])]


def share(**flags: Any) -> dict[str, Any]:
    return {
        "input": {
            "formId": str(AFTER_HOURS),
            "granteeTenantId": RIVERBEND,
            "purpose": "regional after-hours coverage",
            **flags,
        }
    }


async def _prairie_after_hours_records(api: Api, before: datetime | None = None) -> int:
    async with api.database.read_session() as session:
        versions = select(ContactFormVersion.id).where(ContactFormVersion.form_id == AFTER_HOURS)
        conditions = [
            ContactRecord.tenant_id == PRAIRIE_ID,
            ContactRecord.form_version_id.in_(versions),
        ]
        if before is not None:
            conditions.append(ContactRecord.started_at < before)
        return int(
            await session.scalar(select(func.count()).select_from(ContactRecord).where(*conditions))
            or 0
        )


async def _agreements_on_form(api: Api) -> int:
    async with api.database.read_session() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(SharingAgreement)
                .where(SharingAgreement.row_scope == f"shared_form:{AFTER_HOURS}")
            )
            or 0
        )


async def _count(api: Api, principal: str, query: str) -> int:
    data = await api.data(principal, query)
    return int(next(iter(data.values()))["totalCount"])


async def test_an_admin_shares_a_form_by_flags_and_takes_them_back(
    write_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = write_api
    own = await _count(api, "riverbend-admin", RECORDS)
    own_follow_ups = await _count(api, "riverbend-admin", FOLLOW_UPS)
    shared_records = await _prairie_after_hours_records(api)

    # A dry run says what Riverbend would gain, and changes nothing.
    preview = await api.data(
        "prairie-admin", SHARE, share(search=True, followUps=True, dryRun=True)
    )
    result = preview["shareContactForm"]
    assert result["applied"] is False and result["agreements"] == []
    granted = {(c["coordinate"], c["action"]) for c in result["changes"] if c["change"] == "grant"}
    assert {("ContactRecord.narrative", "read"), ("FollowUp.dueAt", "read")} <= granted
    assert {c["rowScope"] for c in result["changes"]} == {f"shared_form:{AFTER_HOURS}"}
    assert await _count(api, "riverbend-admin", RECORDS) == own

    applied = await api.data(
        "prairie-admin",
        SHARE,
        share(search=True, followUps=True, statistics=True, answerSensitivity="INTERNAL"),
    )
    agreements = applied["shareContactForm"]["agreements"]
    by_flag = {a["name"].rsplit(": ", 1)[1]: a for a in agreements}
    assert set(by_flag) == {"search", "followUps", "statistics"}
    assert by_flag["search"]["actions"] == ["read"]
    assert by_flag["search"]["answerSensitivity"] == "INTERNAL"
    assert by_flag["statistics"]["actions"] == ["statistics"]
    assert all(a["grantee"]["tenant"]["name"] == "Riverbend 211" for a in agreements)
    assert await _count(api, "riverbend-admin", RECORDS) == own + shared_records
    assert await _count(api, "riverbend-admin", FOLLOW_UPS) > own_follow_ups
    # Riverbend counts another tenant's records: whole completed weeks, rounded to 5.
    now = datetime.now(UTC)
    monkeypatch.setattr(graph_statistics, "clock", lambda: now)
    completed = await _prairie_after_hours_records(api, before=week_start(now, "America/Chicago"))
    stats = await api.data(
        "riverbend-admin",
        "query($f: ID!) { networkStatistics(formId: $f) { total } }",
        {"f": str(AFTER_HOURS)},
    )
    assert stats["networkStatistics"]["total"] == 5 * round(completed / 5)

    # Sharing again with fewer flags revokes the others; sharing the same again changes nothing.
    narrowed = await api.data("prairie-admin", SHARE, share(statistics=True))
    assert [a["name"].rsplit(": ", 1)[1] for a in narrowed["shareContactForm"]["agreements"]] == [
        "statistics"
    ]
    assert {c["change"] for c in narrowed["shareContactForm"]["changes"]} == {"revoke"}
    assert await _count(api, "riverbend-admin", RECORDS) == own
    same = await api.data("prairie-admin", SHARE, share(statistics=True))
    assert same["shareContactForm"]["changes"] == []

    gone = await api.data(
        "prairie-admin",
        UNSHARE,
        {"input": {"formId": str(AFTER_HOURS), "granteeTenantId": RIVERBEND}},
    )
    assert {c["change"] for c in gone["unshareContactForm"]["changes"]} == {"revoke"}
    body = await api.gql(
        "riverbend-admin",
        "query($f: ID!) { networkStatistics(formId: $f) { total } }",
        {"f": str(AFTER_HOURS)},
    )
    assert codes(body) == ["NOT_FOUND"]

    # Sharing once more after a revocation makes new agreements (names stay unique).
    again = await api.data("prairie-admin", SHARE, share(search=True))
    assert again["shareContactForm"]["agreements"][0]["name"].endswith(": search #2")
    async with api.database.read_session() as session:
        revoked = await session.scalar(
            select(func.count())
            .select_from(SharingAgreement)
            .where(
                SharingAgreement.row_scope == f"shared_form:{AFTER_HOURS}",
                SharingAgreement.grantee_tenant_id == demo_id("tenant", "riverbend"),
                SharingAgreement.revoked_at.is_not(None),
            )
        )
    assert revoked == 3


async def test_only_the_forms_owner_admins_share_it_and_flags_must_make_sense(
    write_api: Api,
) -> None:
    api = write_api
    before = await _agreements_on_form(api)
    body = await api.gql("lakeside-admin", SHARE, share(statistics=True))
    assert codes(body) == ["FORBIDDEN"] and reasons(body) == ["NOT_ADMIN"]
    body = await api.gql("prairie-call-taker", SHARE, share(statistics=True))
    assert codes(body) == ["FORBIDDEN"] and reasons(body) == ["NOT_ADMIN"]
    body = await api.gql("riverbend-admin", SHARE, share(statistics=True))
    assert codes(body) == ["NOT_FOUND"]

    body = await api.gql("prairie-admin", SHARE, share(edit=True))
    assert codes(body) == ["BAD_USER_INPUT"] and reasons(body) == ["INVALID_FORM_SHARE"]
    assert "edit needs search" in body["errors"][0]["message"]
    body = await api.gql("prairie-admin", SHARE, share())
    assert reasons(body) == ["INVALID_FORM_SHARE"]
    body = await api.gql(
        "prairie-admin", SHARE, {"input": {**share(search=True)["input"], "purpose": " "}}
    )
    assert reasons(body) == ["INVALID_AGREEMENT"]
    # Lakeside already reads the form's records under a hand-written agreement: the checks of
    # every agreement apply, so the overlap is refused rather than silently doubled.
    body = await api.gql(
        "prairie-admin",
        SHARE,
        {"input": {**share(search=True)["input"], "granteeTenantId": LAKESIDE}},
    )
    assert reasons(body) == ["OVERLAPPING_GRANT"]
    assert await _agreements_on_form(api) == before  # nothing half-written
