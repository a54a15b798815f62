"""`/console/sharing`: the admin lists, previews, applies, approves and revokes sharing
agreements through the pages, and each change is checked through the API itself."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from sqlalchemy import update

from sharegraph.datastore import policy_version
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import SharingAgreement
from sharegraph.demo import demo_id

from .conftest import make_api
from .console_support import console as console  # the fixture
from .portal_support import Portal, open_portal, portal_settings, set_password

AGREEMENTS = """
{ sharingAgreements { id name version fields deniedFields actions rowScope revokedAt
    pendingReview catalogueRevision grantee { partnerOrganization { name } } } }
"""
PANTRY = "Referrals to eastside"
PANTRY_ID = demo_id("sharing-agreement", PANTRY + str(demo_id("tenant", "prairie")))
APPLY_INPUT = re.compile(r'name="input" value="([^"]*)"')


async def agreements(db: Database, keys: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The tenant's agreements as the API (not the page) has them, by name."""
    async for api in make_api(db, keys):
        found = await api.data("prairie-admin", AGREEMENTS)
        return {a["name"]: a for a in found["sharingAgreements"]}
    raise AssertionError("no api")


def editor_fields(page: str) -> dict[str, str]:
    """The editor form's controls as the browser would post them (selected options, ticked
    boxes, text), so a test changes only what a person would change."""
    form = page.split('action="/console/sharing/preview"', 1)[1].split("</form>", 1)[0]
    fields: dict[str, str] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form):
        fields[name] = html.unescape(value)
    for tag in re.findall(r"<input [^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or 'type="hidden"' in tag:
            continue
        if 'type="checkbox"' in tag:
            if " checked" in tag:
                fields[name.group(1)] = "on"
            continue
        value = re.search(r'value="([^"]*)"', tag)
        fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, body in re.findall(r'<select id="[^"]+" name="([^"]+)">(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        fields[name] = html.unescape(chosen.group(1)) if chosen else ""
    for name, body in re.findall(
        r'<textarea id="[^"]+" name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S
    ):
        fields[name] = html.unescape(body)
    return fields


async def approved_before_notes(db: Database) -> None:
    """The pantry's agreement as approved before the catalogue added referral notes (revision
    2): its `Referral.*` now reaches `Referral.notes`, which waits for review."""
    async with db.write_session() as session:
        await session.execute(
            update(SharingAgreement)
            .where(SharingAgreement.id == PANTRY_ID)
            .values(catalogue_revision=1)
        )
        await policy_version.bump(session)


async def _open(console: Portal, name: str) -> tuple[str, str]:
    listing = await console.browser.http.get("/console/sharing")
    found = re.search(r'href="/console/sharing/([^"#?]+)">' + re.escape(name) + "<", listing.text)
    assert found, listing.text
    page = await console.browser.http.get(f"/console/sharing/{found.group(1)}")
    assert page.status_code == 200 and 'class="problem"' not in page.text, page.text
    return found.group(1), page.text


async def test_the_list_shows_the_tenants_agreements(console: Portal, keys: dict[str, str]) -> None:
    page = await console.browser.http.get("/console/sharing")
    assert page.status_code == 200 and 'class="problem"' not in page.text, page.text
    truth = await agreements(console.db, keys)
    assert len(truth) >= 8
    for name in truth:
        assert f">{html.escape(name)}</a>" in page.text
    row = page.text.split(f">{PANTRY}</a>", 1)[1].split("</tr>", 1)[0]
    assert "Eastside Food Pantry" in row and "In force" in row
    assert "referred_to_grantee" in row and "until revoked" in row
    assert 'href="/console/sharing/new"' in page.text


async def test_the_editor_shows_the_catalogue_with_sensitivity(console: Portal) -> None:
    _id, page = await _open(console, PANTRY)
    # the pantry's fields are picked as the agreement lists them; sensitivity beside each
    phone = page.split('<label for="f-Client.phone">', 1)[1].split("</div>", 1)[0]
    assert '<span class="sens PII">PII</span>' in phone
    assert '<option value="share" selected>' in phone
    birth = page.split('<label for="f-Client.dateOfBirth">', 1)[1].split("</div>", 1)[0]
    assert '<option value="deny" selected>' in birth
    fields = editor_fields(page)
    assert fields["type:Referral"] == "share" and fields["field:Client.phone"] == "share"
    assert "ContactRecord.answers.*" in fields["other_denied"]
    assert fields["scope_kind"] == "referred_to_grantee" and fields["action:read"] == "on"


async def test_the_row_scope_argument_offers_the_inventories(
    console: Portal, keys: dict[str, str]
) -> None:
    async for api in make_api(console.db, keys):
        made = await api.data(
            "prairie-admin",
            'mutation { createInventory(input: {name: "Winter shelters"}) { inventory { uuid } } }',
        )
    uuid = made["createInventory"]["inventory"]["uuid"]
    page = (await console.browser.http.get("/console/sharing/new")).text
    assert f'<option value="{uuid}">inventory: Winter shelters (Prairie 211)</option>' in page


async def test_a_preview_changes_nothing_and_apply_does(
    console: Portal, keys: dict[str, str]
) -> None:
    before = (await agreements(console.db, keys))[PANTRY]
    agreement_id, page = await _open(console, PANTRY)
    fields = editor_fields(page)
    fields["field:Client.phone"] = ""  # withdraw the phone
    preview = await console.browser.submit(
        f"/console/sharing/{agreement_id}", "/console/sharing/preview", fields
    )
    assert preview.status_code == 200 and 'class="problem"' not in preview.text, preview.text
    shown = preview.text.split('id="preview"', 1)[1].split("</section>", 1)[0]
    assert "Would revoke (1)" in shown and "Would grant" not in shown
    assert "<code>Client.phone</code>" in shown and "Eastside Food Pantry" in shown
    assert (await agreements(console.db, keys))[PANTRY] == before  # nothing changed yet

    applied_input = html.unescape(APPLY_INPUT.search(preview.text).group(1))  # type: ignore[union-attr]
    assert "Client.phone" not in json.loads(applied_input)["fields"]
    applied = await console.browser.submit(
        f"/console/sharing/{agreement_id}",
        "/console/sharing/apply",
        {"input": applied_input, "id": agreement_id, "version": str(before["version"])},
    )
    assert applied.status_code == 303, applied.text
    assert applied.headers["location"] == f"/console/sharing/{agreement_id}?done=updated"
    after = (await agreements(console.db, keys))[PANTRY]
    assert after["version"] == before["version"] + 1
    assert set(before["fields"]) - set(after["fields"]) == {"Client.phone"}
    assert sorted(after["deniedFields"]) == sorted(before["deniedFields"])
    flash = await console.browser.http.get(applied.headers["location"])
    assert "The agreement is changed and applies now." in flash.text


async def test_a_new_agreement_is_previewed_then_created(
    console: Portal, keys: dict[str, str]
) -> None:
    page = (await console.browser.http.get("/console/sharing/new")).text
    fields = editor_fields(page)
    riverbend = re.search(r'<option value="(TENANT:[^"]+)"[^>]*>Riverbend 211<', page)
    assert riverbend
    fields |= {
        "name": "Riverbend crisis counts",
        "purpose": "regional planning",
        "grantee": riverbend.group(1),
        "type:ContactRecord": "",
        "field:ContactRecord.startedAt": "share",
        "field:ContactRecord.channel": "share",
        "action:read": "on",
        "scope_kind": "region",
        "scope_argument": "Story",
        "valid_until": "2031-01-01T00:00",
    }
    preview = await console.browser.submit(
        "/console/sharing/new", "/console/sharing/preview", fields
    )
    assert preview.status_code == 200 and 'class="problem"' not in preview.text, preview.text
    assert "Would grant (2)" in preview.text and "Riverbend 211" in preview.text
    assert "Riverbend crisis counts" not in await agreements(console.db, keys)
    applied_input = html.unescape(APPLY_INPUT.search(preview.text).group(1))  # type: ignore[union-attr]
    created = await console.browser.submit(
        "/console/sharing/new", "/console/sharing/apply", {"input": applied_input}
    )
    assert created.status_code == 303, created.text
    made = (await agreements(console.db, keys))["Riverbend crisis counts"]
    assert made["rowScope"] == "region:Story" and made["actions"] == ["read"]
    assert sorted(made["fields"]) == ["ContactRecord.channel", "ContactRecord.startedAt"]
    assert created.headers["location"] == f"/console/sharing/{made['id']}?done=created"


async def test_an_unknown_field_is_a_clear_problem_and_changes_nothing(
    console: Portal, keys: dict[str, str]
) -> None:
    before = await agreements(console.db, keys)
    agreement_id, page = await _open(console, PANTRY)
    fields = editor_fields(page)
    fields["other_fields"] = "Client.shoeSize"
    preview = await console.browser.submit(
        f"/console/sharing/{agreement_id}", "/console/sharing/preview", fields
    )
    assert preview.status_code == 400
    problem = preview.text.split('class="problem"', 1)[1].split("</small>", 1)[0]
    assert "unknown types or fields: Client.shoeSize" in problem
    assert "BAD_USER_INPUT" in problem and "INVALID_AGREEMENT" in problem
    assert 'id="preview"' not in preview.text  # no apply button for a refused change
    assert "Client.shoeSize" in preview.text  # what was typed is kept
    # applying a forged input is refused by the API the same way
    bad = {**json.loads(json.dumps({"name": "x"}))}
    forged = await console.browser.submit(
        f"/console/sharing/{agreement_id}",
        "/console/sharing/apply",
        {"input": json.dumps(bad), "id": agreement_id, "version": "1"},
    )
    assert forged.status_code == 400 and 'class="problem"' in forged.text
    assert await agreements(console.db, keys) == before


async def test_approve_shares_the_fields_pending_review(
    console: Portal, keys: dict[str, str]
) -> None:
    await approved_before_notes(console.db)
    before = (await agreements(console.db, keys))[PANTRY]
    assert before["pendingReview"] == ["Referral.notes"]
    listing = await console.browser.http.get("/console/sharing")
    row = listing.text.split(f">{PANTRY}</a>", 1)[1].split("</tr>", 1)[0]
    assert "1 field</strong></a>: Referral.notes" in row
    agreement_id, page = await _open(console, PANTRY)
    review = page.split('id="review"', 1)[1].split("</section>", 1)[0]
    assert "<code>Referral.notes</code>" in review and "Approve 1 field" in review
    approved = await console.browser.submit(
        f"/console/sharing/{agreement_id}",
        f"/console/sharing/{agreement_id}/approve",
        {"version": str(before["version"])},
    )
    assert approved.status_code == 303, approved.text
    after = (await agreements(console.db, keys))[PANTRY]
    assert after["pendingReview"] == [] and after["catalogueRevision"] == 2
    assert after["version"] == before["version"] + 1
    page = (await console.browser.http.get(approved.headers["location"])).text
    assert "The fields pending review are approved" in page and "Approve 1 field" not in page


async def test_revoke_after_seeing_what_it_revokes(console: Portal, keys: dict[str, str]) -> None:
    before = (await agreements(console.db, keys))[PANTRY]
    agreement_id, page = await _open(console, PANTRY)
    assert f'href="/console/sharing/{agreement_id}/revoke"' in page
    confirm = await console.browser.http.get(f"/console/sharing/{agreement_id}/revoke")
    assert confirm.status_code == 200 and 'class="problem"' not in confirm.text, confirm.text
    shown = confirm.text.split('id="preview"', 1)[1].split("</section>", 1)[0]
    assert "<code>Client.phone</code>" in shown and "Eastside Food Pantry" in shown
    assert '<span class="sens PII">PII</span>' in shown
    assert "Would grant" not in shown and "Would revoke (" in shown
    assert (await agreements(console.db, keys))[PANTRY] == before  # nothing changed yet
    revoked = await console.browser.submit(
        f"/console/sharing/{agreement_id}", f"/console/sharing/{agreement_id}/revoke", {}
    )
    assert revoked.status_code == 303, revoked.text
    assert (await agreements(console.db, keys))[PANTRY]["revokedAt"]
    listing = await console.browser.http.get("/console/sharing")
    row = listing.text.split(f">{PANTRY}</a>", 1)[1].split("</tr>", 1)[0]
    assert "Revoked" in row
    page = (await console.browser.http.get(revoked.headers["location"])).text
    assert "The agreement is revoked." in page and "Revoke this agreement" not in page


async def test_a_stale_version_is_a_conflict_and_changes_nothing(
    console: Portal, keys: dict[str, str]
) -> None:
    before = (await agreements(console.db, keys))[PANTRY]
    agreement_id, page = await _open(console, PANTRY)
    fields = editor_fields(page)
    preview = await console.browser.submit(
        f"/console/sharing/{agreement_id}", "/console/sharing/preview", fields
    )
    applied_input = html.unescape(APPLY_INPUT.search(preview.text).group(1))  # type: ignore[union-attr]
    stale = await console.browser.submit(
        f"/console/sharing/{agreement_id}",
        "/console/sharing/apply",
        {"input": applied_input, "id": agreement_id, "version": str(before["version"] - 1)},
    )
    assert stale.status_code == 409 and "VERSION_MISMATCH" in stale.text
    assert (await agreements(console.db, keys))[PANTRY] == before


async def test_an_emergency_agreement_shows_its_expiry_and_must_have_one(
    console: Portal, keys: dict[str, str]
) -> None:
    page = (await console.browser.http.get("/console/sharing/new")).text
    lakeside = re.search(r'<option value="(TENANT:[^"]+)"[^>]*>Lakeside Crisis Line<', page)
    assert lakeside
    fields = editor_fields(page) | {
        "name": "Flood response",
        "purpose": "disaster response",
        "grantee": lakeside.group(1),
        "field:Client.phone": "share",
        "field:Client.firstName": "share",
        "action:read": "on",
        "scope_kind": "region",
        "scope_argument": "Story",
        "emergency": "on",
    }
    endless = await console.browser.submit(
        "/console/sharing/new", "/console/sharing/preview", fields
    )
    assert endless.status_code == 400
    assert "emergency agreements must expire" in endless.text
    assert "INVALID_AGREEMENT" in endless.text and 'id="preview"' not in endless.text
    assert "Flood response" not in await agreements(console.db, keys)

    fields["valid_until"] = "2030-06-01T12:00"
    preview = await console.browser.submit(
        "/console/sharing/new", "/console/sharing/preview", fields
    )
    assert preview.status_code == 200 and "Would grant (2)" in preview.text, preview.text
    applied_input = html.unescape(APPLY_INPUT.search(preview.text).group(1))  # type: ignore[union-attr]
    created = await console.browser.submit(
        "/console/sharing/new", "/console/sharing/apply", {"input": applied_input}
    )
    assert created.status_code == 303, created.text
    listing = (await console.browser.http.get("/console/sharing")).text
    row = listing.split(">Flood response</a>", 1)[1].split("</tr>", 1)[0]
    assert "Emergency" in row and "expires 01 Jun 2030, 12:00 UTC" in row


@pytest.mark.parametrize("who", ["eastside-portal", "prairie-call-taker"])
async def test_non_admins_are_refused(seeded_db: Database, keys: dict[str, str], who: str) -> None:
    before = await agreements(seeded_db, keys)
    await set_password(seeded_db, who)
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        await p.browser.sign_in(who)
        for path in ("/console/sharing", "/console/sharing/new"):
            page = await p.browser.http.get(path)
            assert page.status_code == 403, (path, page.text)
            assert "NOT_ADMIN" in page.text and "You are not allowed" in page.text
            assert PANTRY not in page.text and "Client.phone" not in page.text
        some = before[PANTRY]["id"]
        for path in (f"/console/sharing/{some}", f"/console/sharing/{some}/revoke"):
            page = await p.browser.http.get(path)
            assert page.status_code == 403 and PANTRY not in page.text, path
            assert "Client.phone" not in page.text
        token = await p.browser.token("/portal")
        for action in (
            f"/console/sharing/{some}/revoke",
            f"/console/sharing/{some}/approve",
            "/console/sharing/apply",
            "/console/sharing/preview",
        ):
            refused = await p.browser.http.post(
                action,
                data={
                    "csrf_token": token,
                    "id": some,
                    "version": "1",
                    "input": json.dumps({"name": "x"}),
                },
            )
            assert refused.status_code == 403 and 'class="problem"' in refused.text, action
            assert "NOT_ADMIN" in refused.text and PANTRY not in refused.text
    assert await agreements(seeded_db, keys) == before
