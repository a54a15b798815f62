"""Whole stories of the console's sharing and access areas in a real browser (the system's
headless Chromium, as tests/test_portal_browser.py sets it up): Prairie 211's admin narrows the
food pantry's agreement after previewing it, and the pantry's open referral page stops showing
the withdrawn field on its next refresh; approves a field pending review; explains a denial
from the permission matrix. Every page is checked with axe-core (0 serious or critical) and
photographed into the run's `screens` folder."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import Client, ContactRecord, Referral
from sharegraph.graph.relay import from_global_id

from .live_server import serve
from .portal_support import PASSWORD, portal_settings, set_password
from .test_console_access import PANTRY as PANTRY_USER
from .test_console_sharing import PANTRY, agreements, approved_before_notes
from .test_email_pdf import free_port
from .test_portal_browser import Browser, Story, _context
from .test_portal_browser import browser as browser  # the fixture
from .test_portal_browser import pytestmark as portal_marks
from .test_portal_browser import screens as screens  # the fixture

pytestmark = portal_marks


@pytest.fixture
def live(seeded_db: Database) -> Iterator[str]:
    port = free_port()
    settings = portal_settings(seeded_db, None, public_url=f"http://127.0.0.1:{port}")
    with serve(settings, port) as base:
        yield base


async def _signed_in(browser: Browser, live: str, who: str, screens: Path, name: str) -> Story:
    context = await _context(browser, viewport={"width": 1200, "height": 900})
    story = Story(await context.new_page(), live, screens, name)
    await story.page.goto(f"{live}/signin")
    await story.page.get_by_label("Name or e-mail address").fill(who)
    await story.page.get_by_label("Password").fill(PASSWORD)
    await story.page.get_by_role("button", name="Sign in").click()
    await story.page.wait_for_url(re.compile(r"/portal$"))
    return story


async def test_the_admin_narrows_the_pantrys_agreement_after_previewing_it(
    browser: Browser,
    live: str,
    seeded_db: Database,
    keys: dict[str, str],
    screens: Path,
    backend: str,
) -> None:
    for who in ("prairie-admin", "eastside-portal"):
        await set_password(seeded_db, who)

    # The pantry has a referral open, with the client's phone.
    pantry = await _signed_in(browser, live, "eastside-portal", screens, f"{backend}-pantry")
    await pantry.page.locator("#inbox a").first.click()
    await pantry.page.wait_for_url(re.compile(r"/portal/referrals/"))
    referral_id = pantry.page.url.rsplit("/", 1)[-1]
    async with seeded_db.read_session() as session:
        phone = await session.scalar(
            select(Client.phone)
            .join(ContactRecord, ContactRecord.client_id == Client.id)
            .join(Referral, Referral.contact_record_id == ContactRecord.id)
            .where(Referral.id == from_global_id(referral_id)[1])
        )
    assert phone and phone in await pantry.page.content()

    # Prairie's admin opens the agreement, withdraws the phone and previews.
    admin = await _signed_in(browser, live, "prairie-admin", screens, f"{backend}-console-sharing")
    page = admin.page
    await page.goto(f"{live}/console/sharing")
    await admin.check("agreements")
    await page.get_by_role("link", name=PANTRY, exact=True).click()
    await page.wait_for_url(re.compile(r"/console/sharing/[^/]+$"))
    await admin.check("agreement")
    before = (await agreements(seeded_db, keys))[PANTRY]
    assert "Client.phone" in before["fields"]
    await page.get_by_label(re.compile(r"^Phone phone")).select_option("")
    await page.get_by_role("button", name="Preview the change").click()
    await page.wait_for_url(re.compile(r"/console/sharing/preview$"))
    preview = page.locator("#preview")
    assert "Would revoke (1)" in await preview.inner_text()
    assert "Client.phone" in await preview.locator("table").inner_text()
    await admin.check("preview")
    await page.screenshot(path=str(screens / f"{backend}-console-sharing-preview-top.png"))
    # Previewing changed nothing, for the API or for the pantry.
    assert (await agreements(seeded_db, keys))[PANTRY] == before
    await pantry.page.reload()
    assert phone in await pantry.page.content()

    await page.get_by_role("button", name="Apply this change").click()
    await page.wait_for_url(re.compile(r"done=updated"))
    assert "applies now" in await page.get_by_role("status").first.inner_text()
    await admin.check("applied")
    after = (await agreements(seeded_db, keys))[PANTRY]
    assert "Client.phone" not in after["fields"] and after["version"] == before["version"] + 1

    # The pantry's open page no longer shows the phone on its next refresh.
    await pantry.page.reload()
    body = await pantry.page.content()
    assert phone not in body and "withheld from you" in body
    await pantry.check("referral-after-narrowing")

    # The list at a phone's width: no sideways scrolling.
    await page.set_viewport_size({"width": 375, "height": 800})
    await page.goto(f"{live}/console/sharing")
    wide = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    assert not wide, "the agreements list scrolls sideways on a phone"
    await admin.check("agreements-phone")
    await page.get_by_role("link", name=PANTRY, exact=True).click()
    await page.wait_for_url(re.compile(r"/console/sharing/[^/]+$"))
    wide = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    assert not wide, "the agreement editor scrolls sideways on a phone"
    await admin.check("agreement-phone")
    assert admin.csp_violations == [] and pantry.csp_violations == []


async def test_the_admin_approves_a_field_pending_review(
    browser: Browser,
    live: str,
    seeded_db: Database,
    keys: dict[str, str],
    screens: Path,
    backend: str,
) -> None:
    await set_password(seeded_db, "prairie-admin")
    await approved_before_notes(seeded_db)
    admin = await _signed_in(browser, live, "prairie-admin", screens, f"{backend}-console-review")
    page = admin.page
    await page.goto(f"{live}/console/sharing")
    row = page.locator("tr", has=page.get_by_role("link", name=PANTRY, exact=True))
    assert "Referral.notes" in await row.inner_text()
    await row.get_by_role("link", name="1 field").click()
    await page.wait_for_url(re.compile(r"#review$"))
    review = page.locator("#review")
    assert "Referral.notes" in await review.inner_text()
    await admin.check("pending-review")
    await review.get_by_role("button", name="Approve 1 field").click()
    await page.wait_for_url(re.compile(r"done=approved"))
    assert "None: everything its patterns share was approved." in await page.content()
    await admin.check("approved")
    approved = (await agreements(seeded_db, keys))[PANTRY]
    assert approved["pendingReview"] == [] and approved["catalogueRevision"] == 2

    # Revoking shows what it takes away first.
    await page.get_by_role("link", name="Revoke this agreement…").click()
    await page.wait_for_url(re.compile(r"/revoke$"))
    assert "Referral.notes" in await page.locator("#preview").inner_text()
    await admin.check("revoke-preview")
    assert (await agreements(seeded_db, keys))[PANTRY]["revokedAt"] is None
    await page.get_by_role("button", name="Revoke this agreement now").click()
    await page.wait_for_url(re.compile(r"done=revoked"))
    assert (await agreements(seeded_db, keys))[PANTRY]["revokedAt"]
    assert admin.csp_violations == []


async def test_the_admin_explains_a_denial_from_the_matrix(
    browser: Browser, live: str, seeded_db: Database, screens: Path, backend: str
) -> None:
    await set_password(seeded_db, "prairie-admin")
    admin = await _signed_in(browser, live, "prairie-admin", screens, f"{backend}-console-access")
    page = admin.page
    await page.goto(f"{live}/console/access")
    await admin.check("pick")
    await page.get_by_label("Principal").select_option(PANTRY_USER)
    await page.get_by_role("button", name="Show permissions").click()
    await page.wait_for_url(re.compile(r"principal="))
    await admin.check("matrix")
    await page.locator("#type-Client").get_by_role("link", name="Client", exact=True).click()
    await page.wait_for_url(re.compile(r"type=Client"))
    client = page.locator("#matrix-Client")
    assert "yes" in await client.locator("tr", has_text="phone").locator("td").first.inner_text()
    await admin.check("matrix-client")
    await page.screenshot(path=str(screens / f"{backend}-console-access-fields-top.png"))
    await page.get_by_role(
        "link", name=re.compile(r"^why not\W+eastside-portal may not read Client\.dateOfBirth$")
    ).click()
    await page.wait_for_url(re.compile(r"/console/access/explain"))
    verdict = await page.get_by_role("status").inner_text()
    assert "Not allowed." in verdict and "DENY_RULE" in verdict
    assert "Referrals to eastside" in verdict
    heading = await page.get_by_role("heading", level=1).inner_text()
    assert heading.startswith("Why can't") and "Client.dateOfBirth" in heading
    await admin.check("explain-denial")
    await page.set_viewport_size({"width": 375, "height": 800})
    await page.go_back()
    await page.wait_for_url(re.compile(r"type=Client"))
    wide = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    assert not wide, "the permission matrix scrolls sideways on a phone"
    await admin.check("matrix-phone")
    assert admin.csp_violations == []
