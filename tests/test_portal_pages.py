"""The provider portal's pages, driven over HTTP as a signed-in partner user: only the fields the
plan allows (the rest shown as withheld), referral actions, outcomes, case numbers and
capacity, each a GraphQL operation of the public schema run as that person."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from graphql import parse, validate
from sqlalchemy import select

from sharegraph.authz.disclosure import REDISCLOSURE_NOTICE
from sharegraph.console import portal as portal_module
from sharegraph.console.graph_client import PAGES
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import GranteeKind, Sensitivity
from sharegraph.datastore.models import (
    Client,
    ClientConsent,
    ContactFormVersion,
    ContactRecord,
    FormField,
    Outcome,
    Referral,
    ServiceCapacity,
)
from sharegraph.demo import demo_id
from sharegraph.graph.relay import from_global_id, to_global_id
from sharegraph.graph.schema import build_schema
from sharegraph.settings import Settings

from .portal_support import Portal, open_portal, portal_settings, set_password

REFERRAL_LINK = re.compile(r'href="/portal/referrals/([^"]+)"')


def test_every_document_beside_the_pages_validates_against_the_schema() -> None:
    schema = build_schema(Settings())._schema  # type: ignore[attr-defined]
    documents = sorted(Path(PAGES).rglob("*.graphql"))
    assert len(documents) >= 10
    for path in documents:
        errors = validate(schema, parse(path.read_text()))
        assert errors == [], (path.name, [e.message for e in errors])


def test_every_template_control_has_a_label() -> None:
    for path in sorted(Path(PAGES).rglob("*.html")):
        text = path.read_text()
        ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', text))
        labelled = set(re.findall(r'<label for="([^"]+)"', text))
        visible = re.findall(r"<(?:input|select|textarea)(?![^>]*type=\"hidden\")[^>]*>", text)
        assert all(' id="' in control for control in visible), (path.name, visible)
        assert ids <= labelled, (path.name, ids - labelled)


@pytest.fixture
async def portal(seeded_db: Database) -> AsyncIterator[Portal]:
    await set_password(seeded_db, "eastside-portal")
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        await p.browser.sign_in("eastside-portal")
        yield p


async def _new_referral(portal: Portal) -> str:
    inbox = await portal.browser.http.get("/portal?status=REQUESTED")
    assert inbox.status_code == 200
    found = REFERRAL_LINK.findall(inbox.text)
    assert found, "the demo network has new referrals for Eastside"
    return found[0]


async def test_the_inbox_shows_new_referrals_first_and_filters_by_status(portal: Portal) -> None:
    page = await portal.browser.http.get("/portal")
    statuses = re.findall(r'<span class="status">([^<]+)</span>', page.text)
    assert statuses and "New" in statuses
    first_other = next(i for i, s in enumerate(statuses) if s != "New")
    assert "New" not in statuses[first_other:]
    unknown = await portal.browser.http.get("/portal?status=BOGUS")
    assert re.findall(r'<span class="status">([^<]+)</span>', unknown.text) == statuses
    completed = await portal.browser.http.get("/portal?status=COMPLETED")
    assert set(re.findall(r'<span class="status">([^<]+)</span>', completed.text)) <= {"Completed"}


async def test_the_inbox_pages_through_the_referrals_received(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(portal_module, "INBOX_SIZE", 2)
    first = await portal.browser.http.get("/portal")
    ids = REFERRAL_LINK.findall(first.text)
    older = re.search(r'href="(/portal\?after=[^"]+)" rel="next"', first.text)
    assert len(ids) == 2 and older is not None
    second = await portal.browser.http.get(html.unescape(older.group(1)))
    more = REFERRAL_LINK.findall(second.text)
    assert more and not set(more) & set(ids)
    assert 'href="/portal">Newest referrals' in second.text


async def test_the_referral_page_shows_only_allowed_fields(portal: Portal) -> None:
    referral_id = await _new_referral(portal)
    page = await portal.browser.http.get(f"/portal/referrals/{referral_id}")
    assert page.status_code == 200
    assert "withheld from you" in page.text
    async with portal.db.read_session() as session:
        client = await session.scalar(
            select(Client)
            .join(ContactRecord, ContactRecord.client_id == Client.id)
            .join(Referral, Referral.contact_record_id == ContactRecord.id)
            .where(Referral.id == from_global_id(referral_id)[1])
        )
    # What the plan withholds is not on the page: Eastside may not read last names.
    assert client is not None and client.last_name
    assert client.last_name not in page.text
    assert re.search(r"<dt>Last name</dt><dd><span class=\"withheld\">", page.text)


def test_the_referral_document_leaves_out_what_is_never_readable() -> None:
    from sharegraph.console.readable import pruned

    everything = frozenset(
        (t, f) for t, fields in portal_module.REFERRAL_PRUNE.values() for f in fields
    )
    full = pruned("referral", portal_module.REFERRAL_PRUNE, everything)
    assert "lastName" in full and "narrative" in full and "body" in full
    narrowed = pruned(
        "referral",
        portal_module.REFERRAL_PRUNE,
        everything - {("Client", "lastName"), ("ContactRecord", "narrative")},
    )
    assert "lastName" not in narrowed and "narrative" not in narrowed
    assert "firstName" in narrowed and "outcomes" in narrowed
    schema = build_schema(Settings())._schema  # type: ignore[attr-defined]
    assert validate(schema, parse(narrowed)) == []
    inbox = pruned("inbox", portal_module.INBOX_PRUNE, frozenset())
    assert "firstName" not in inbox and "contactRecord" not in inbox
    assert validate(schema, parse(inbox)) == []
    # Nothing readable under the client: the client selection goes too, the query stays valid.
    bare = pruned("referral", portal_module.REFERRAL_PRUNE, frozenset())
    assert "client" not in bare and validate(schema, parse(bare)) == []


async def test_the_referral_page_asks_only_for_fields_it_may_read(portal: Portal) -> None:
    sent: list[str] = []
    real = portal_module.run

    async def spy(request, name, variables=None, source=None):  # type: ignore[no-untyped-def]
        if name == "referral":
            sent.append(source or "")
        return await real(request, name, variables, source)

    referral_id = await _new_referral(portal)
    portal_module.run = spy  # type: ignore[assignment]
    try:
        page = await portal.browser.http.get(f"/portal/referrals/{referral_id}")
    finally:
        portal_module.run = real  # type: ignore[assignment]
    # Eastside may never read last names: not asked for, and still shown as withheld.
    assert sent and "lastName" not in sent[0] and "firstName" in sent[0]
    assert re.search(r"<dt>Last name</dt><dd><span class=\"withheld\">", page.text)


async def test_accepting_a_referral_and_recording_an_outcome(portal: Portal) -> None:
    referral_id = await _new_referral(portal)
    path = f"/portal/referrals/{referral_id}"
    page = await portal.browser.http.get(path)
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version is not None
    # Reject needs a reason: the page says so in words, with the code in small print.
    no_reason = await portal.browser.submit(
        path, f"{path}/status", {"status": "REJECTED", "version": version.group(1)}
    )
    assert no_reason.status_code == 400
    assert "<small>BAD_USER_INPUT" in no_reason.text
    accepted = await portal.browser.submit(
        path, f"{path}/status", {"status": "ACCEPTED", "version": version.group(1)}
    )
    assert accepted.status_code == 303 and accepted.headers["location"] == f"{path}?done=status"
    outcome = await portal.browser.submit(
        path,
        f"{path}/outcome",
        {"code": "GOT_HELP", "outcome_date": "2026-12-07", "note": "Box delivered"},
    )
    assert outcome.status_code == 303
    page = await portal.browser.http.get(outcome.headers["location"])
    assert "The outcome is recorded." in page.text and "Box delivered" in page.text
    stale = await portal.browser.submit(
        path, f"{path}/external-id", {"external_id": "EFP-1", "version": version.group(1)}
    )
    assert stale.status_code == 409 and "<small>CONFLICT" in stale.text
    async with portal.db.read_session() as session:
        row = await session.get(Referral, from_global_id(referral_id)[1])
        assert row is not None and row.status.value == "accepted"
        notes = (
            await session.scalars(select(Outcome.note).where(Outcome.referral_id == row.id))
        ).all()
    assert "Box delivered" in notes


SHARE_NOTES = """
mutation($input: SharingAgreementInput!) { createSharingAgreement(input: $input) { agreement { id } } }
"""


async def test_adding_a_case_note_lists_it_on_the_referral(
    portal: Portal, keys: dict[str, str]
) -> None:
    referral_id = await _new_referral(portal)
    path = f"/portal/referrals/{referral_id}"
    # The demo's agreements do not let Eastside write notes: refused, in words.
    refused = await portal.browser.submit(path, f"{path}/note", {"body": "Called"})
    assert refused.status_code == 403 and "<small>FORBIDDEN" in refused.text
    shared = await portal.browser.http.post(
        "/graphql",
        json={
            "query": SHARE_NOTES,
            "variables": {
                "input": {
                    "name": "Pantry notes",
                    "purpose": "closing the loop",
                    "granteeKind": "PARTNER",
                    "granteePartnerId": to_global_id(
                        "PartnerOrganization", demo_id("partner-organization", "eastside")
                    ),
                    "rowScope": "referred_to_grantee",
                    "actions": ["read", "write"],
                    "fields": ["ReferralNote.*"],
                }
            },
        },
        headers={"authorization": f"Bearer {keys['prairie-admin']}"},
    )
    assert "errors" not in shared.json(), shared.json()
    empty = await portal.browser.submit(path, f"{path}/note", {"body": "   "})
    assert empty.status_code == 400 and "<small>BAD_USER_INPUT" in empty.text
    added = await portal.browser.submit(path, f"{path}/note", {"body": "Called, left a message"})
    assert added.status_code == 303 and added.headers["location"] == f"{path}?done=note"
    page = await portal.browser.http.get(added.headers["location"])
    assert "The case note is added." in page.text
    listed = re.search(r'<ul class="notes">(.*?)</ul>', page.text, re.S)
    assert listed is not None and "Called, left a message" in listed.group(1)
    assert "Eastside" in listed.group(1)  # the partner organization that wrote it


async def test_reporting_capacity(portal: Portal) -> None:
    page = await portal.browser.http.get("/portal/capacity")
    assert page.status_code == 200
    form = re.search(
        r'action="/portal/capacity/([^"/]+)">\s*<input type="hidden" name="csrf_token" '
        r'value="[^"]+">\s*<input type="hidden" name="version" value="(\d+)"',
        page.text,
    )
    assert form is not None, page.text
    capacity_id, version = form.groups()
    done = await portal.browser.submit(
        "/portal/capacity",
        f"/portal/capacity/{capacity_id}",
        {"version": version, "available": "7", "maximum": "90", "note": "Truck back"},
    )
    assert done.status_code == 303
    async with portal.db.read_session() as session:
        row = await session.get(ServiceCapacity, from_global_id(capacity_id)[1])
    assert row is not None and row.available == 7 and row.maximum == 90
    after = await portal.browser.http.get(done.headers["location"])
    assert "Capacity is reported." in after.text and "Truck back" in after.text
    scheduled = await portal.browser.submit(
        "/portal/capacity",
        f"/portal/capacity/{capacity_id}/schedule",
        {"local_date": "2030-01-06", "local_time": "08:00", "available": "40"},
    )
    assert scheduled.status_code == 303, scheduled.text
    later = await portal.browser.http.get(scheduled.headers["location"])
    assert "The change is scheduled." in later.text and "available 40" in later.text
    nonsense = await portal.browser.submit(
        "/portal/capacity",
        f"/portal/capacity/{capacity_id}/schedule",
        {"local_date": "2030-01-06", "local_time": "08:00", "available": "many"},
    )
    assert nonsense.status_code == 400 and "<small>BAD_USER_INPUT" in nonsense.text


async def test_queue_and_follow_up_pages_answer(portal: Portal) -> None:
    for path in ("/portal/queue", "/portal/follow-ups"):
        page = await portal.browser.http.get(path)
        assert page.status_code == 200, path
        assert 'class="problem"' not in page.text, path


async def test_part2_answers_come_with_the_redisclosure_notice(seeded_db: Database) -> None:
    """Lakeside's call-taker reads Prairie 211's after-hours answers; the Part 2 ones only under
    the client's consent, and then the page shows the redisclosure notice."""
    prairie, lakeside = demo_id("tenant", "prairie"), demo_id("tenant", "lakeside")
    async with seeded_db.read_session() as session:
        part2 = set(
            (
                await session.scalars(
                    select(FormField.key)
                    .join(ContactFormVersion, ContactFormVersion.id == FormField.form_version_id)
                    .where(
                        ContactFormVersion.form_id
                        == demo_id("contact-form", "prairie-after-hours"),
                        FormField.sensitivity == Sensitivity.PART2,
                    )
                )
            ).all()
        )
        rows = (
            await session.execute(
                select(Referral.id, ContactRecord.client_id, ContactRecord.answers)
                .join(ContactRecord, ContactRecord.id == Referral.contact_record_id)
                .join(ContactFormVersion, ContactFormVersion.id == ContactRecord.form_version_id)
                .where(
                    ContactRecord.tenant_id == prairie,
                    ContactRecord.client_id.is_not(None),
                    ContactFormVersion.form_id == demo_id("contact-form", "prairie-after-hours"),
                )
            )
        ).all()
    assert part2, "the after-hours form has Part 2 questions"
    referral_id, client_id, _answers = next(
        r for r in rows if part2 & {k for k, v in (r[2] or {}).items() if v not in (None, "")}
    )
    await set_password(seeded_db, "lakeside-call-taker")
    async for portal in open_portal(seeded_db, portal_settings(seeded_db, None)):
        await portal.browser.sign_in("lakeside-call-taker")
        path = f"/portal/referrals/{to_global_id('Referral', referral_id)}"
        before = await portal.browser.http.get(path)
        assert before.status_code == 200
        assert "Redisclosure notice" not in before.text
        now = datetime.now(UTC)
        async with seeded_db.write_session() as session:
            session.add(
                ClientConsent(
                    tenant_id=prairie,
                    client_id=client_id,
                    recipient_kind=GranteeKind.TENANT,
                    recipient_tenant_id=lakeside,
                    purpose="after-hours coverage",
                    granted_at=now - timedelta(days=1),
                    expires_at=now + timedelta(days=30),
                )
            )
        after = await portal.browser.http.get(path)
        assert "Redisclosure notice (42 CFR Part 2)" in after.text
        assert html.escape(REDISCLOSURE_NOTICE, quote=False) in after.text
        shown = {key for key in part2 if f"<dt>{key}</dt>" in after.text}
        assert shown, "the consented Part 2 answers are on the page"
        assert not {key for key in part2 if f"<dt>{key}</dt>" in before.text}
