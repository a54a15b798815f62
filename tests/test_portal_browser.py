"""Whole stories in a real browser (the system's headless Chromium, driven by Playwright): an
admin invites the pantry's intake worker, who sets a password from the e-mail (a real SMTP
server on loopback) and signs in, reads only the fields the plan allows, accepts a referral,
records an outcome and reports capacity; wrong passwords lock out; a form forged on another
origin is refused. Every page is checked with axe-core (vendored; 0 serious or critical
violations) and saved as a screenshot under the run's temporary folder (printed at the end).

Skipped, with the reason, when Playwright or a Chromium is missing; `.ci/run` installs
Debian's chromium so CI always runs them.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import (
    Client,
    ContactRecord,
    PartnerOrganization,
    Referral,
    ServiceCapacity,
)
from sharegraph.graph.relay import from_global_id, to_global_id

from .live_server import serve, serve_html
from .portal_support import PASSWORD, Smtp, portal_settings
from .portal_support import smtp as smtp  # the fixture
from .test_email_pdf import free_port

CHROMIUM = (
    os.environ.get("SHAREGRAPH_CHROMIUM")
    or shutil.which("chromium")
    or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
)
AXE = Path(__file__).parent / "browser" / "vendor" / "axe-4.14.1.min.js"

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover - the test extras bring it
    async_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        async_playwright is None, reason="browser tests skipped: playwright is not installed"
    ),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="browser tests skipped: no Chromium (apt-get install chromium, or set "
        "SHAREGRAPH_CHROMIUM to its path)",
    ),
]

INVITE = """
mutation($input: InviteUserInput!) { inviteUser(input: $input) { sent deliveryError } }"""
WORKER_EMAIL = "dana@eastsidefoodpantry.example.org"


@pytest.fixture(scope="session")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's screenshot folder (shared by xdist workers); conftest prints its path."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "screens"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert async_playwright is not None and CHROMIUM is not None
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield launched
        finally:
            await launched.close()


class Story:
    """One person's browser on the live portal: checks and photographs every page."""

    def __init__(self, page: Page, base: str, screens: Path, name: str) -> None:
        self.page = page
        self.base = base
        self.screens = screens
        self.name = name
        self.shots = 0
        self.csp_violations: list[str] = []
        page.on(
            "console",
            lambda m: (
                self.csp_violations.append(m.text) if "Content Security Policy" in m.text else None
            ),
        )

    async def check(self, label: str) -> None:
        """axe-core on the page (0 serious/critical), then a screenshot."""
        await self.page.add_script_tag(path=str(AXE))
        violations: list[dict[str, Any]] = await self.page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.map(v => ({id: v.id, impact: v.impact,
                    nodes: v.nodes.map(n => n.target.join(' '))}));
            }"""
        )
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert bad == [], (label, bad)
        self.shots += 1
        await self.page.screenshot(
            path=str(self.screens / f"{self.name}-{self.shots:02d}-{label}.png"), full_page=True
        )


async def _context(browser: Browser, **options: Any) -> Any:
    # axe is injected as a script tag, which the pages' CSP would (rightly) refuse; the CSP
    # itself is checked on a context without the bypass (test_pages_keep_their_csp).
    return await browser.new_context(bypass_csp=True, **options)


@pytest.fixture
def live(seeded_db: Database, smtp: Smtp) -> Iterator[str]:
    port = free_port()
    settings = portal_settings(
        seeded_db, smtp, max_failed_attempts=3, public_url=f"http://127.0.0.1:{port}"
    )
    with serve(settings, port) as base:
        yield base


async def _invite(db: Database, base: str, keys: dict[str, str]) -> None:
    async with db.read_session() as session:
        eastside = await session.scalar(
            select(PartnerOrganization.id).where(PartnerOrganization.name == "Eastside Food Pantry")
        )
    assert eastside is not None
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post(
            "/graphql",
            json={
                "query": INVITE,
                "variables": {
                    "input": {
                        "name": "eastside-intake",
                        "displayName": "Dana",
                        "email": WORKER_EMAIL,
                        "partnerOrganizationId": to_global_id("PartnerOrganization", eastside),
                    }
                },
            },
            headers={"Authorization": f"Bearer {keys['prairie-admin']}"},
        )
    assert response.json() == {"data": {"inviteUser": {"sent": True, "deliveryError": None}}}


async def test_the_intake_worker_story(
    browser: Browser,
    live: str,
    smtp: Smtp,
    seeded_db: Database,
    keys: dict[str, str],
    screens: Path,
    backend: str,
) -> None:
    await _invite(seeded_db, live, keys)
    [link] = smtp.links()
    assert link.startswith(live)

    context = await _context(browser, viewport={"width": 1200, "height": 900})
    story = Story(await context.new_page(), live, screens, f"{backend}-intake")
    page = story.page

    # Choose a password from the e-mailed link.
    await page.goto(link)
    await story.check("set-password")
    await page.get_by_label("New password").fill(PASSWORD)
    await page.get_by_label("The same password again").fill(PASSWORD)
    await page.get_by_role("button", name="Set password").click()
    await page.wait_for_url(re.compile(r"/signin\?done=password"))
    await story.check("sign-in")

    # Sign in with the e-mail address.
    await page.get_by_label("Name or e-mail address").fill(WORKER_EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/portal$"))
    assert await page.get_by_role("heading", level=1).inner_text() == (
        "Referrals to Eastside Food Pantry"
    )
    await story.check("inbox")

    # Filter to new referrals (htmx swaps the list), open the first.
    await page.get_by_label("Show").select_option("REQUESTED")
    await page.wait_for_url(re.compile(r"status=REQUESTED"))
    statuses = await page.locator("#inbox .status").all_inner_texts()
    assert statuses and set(statuses) == {"New"}
    await story.check("inbox-new")
    await page.locator("#inbox a").first.click()
    await page.wait_for_url(re.compile(r"/portal/referrals/"))
    referral_id = page.url.rsplit("/", 1)[-1]

    # Only the allowed fields: the last name is withheld, and is nowhere on the page.
    async with seeded_db.read_session() as session:
        last_name = await session.scalar(
            select(Client.last_name)
            .join(ContactRecord, ContactRecord.client_id == Client.id)
            .join(Referral, Referral.contact_record_id == ContactRecord.id)
            .where(Referral.id == from_global_id(referral_id)[1])
        )
    assert last_name
    body = await page.content()
    assert last_name not in body
    assert "withheld from you" in body
    await story.check("referral")

    # Accept it, record an outcome.
    await page.get_by_role("button", name="Accept").click()
    await page.wait_for_url(re.compile(r"done=status"))
    assert "Accepted" in await page.locator(".status").first.inner_text()
    await page.get_by_label("Outcome", exact=True).select_option("GOT_HELP")
    await page.get_by_label("Note", exact=True).fill("Food box delivered on Tuesday")
    await page.get_by_role("button", name="Add outcome").click()
    await page.wait_for_url(re.compile(r"done=outcome"))
    assert "Food box delivered on Tuesday" in await page.content()
    await story.check("referral-accepted")

    # Capacity, from a phone.
    await context.close()
    phone = await _context(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    story = Story(await phone.new_page(), live, screens, f"{backend}-phone")
    page = story.page
    await page.goto(f"{live}/signin")
    await page.get_by_label("Name or e-mail address").fill("eastside-intake")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/portal$"))
    await page.get_by_role("link", name="Capacity").click()
    await page.wait_for_url(re.compile(r"/portal/capacity"))
    wide = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    assert not wide, "the capacity page scrolls sideways on a phone"
    await story.check("capacity")
    section = page.locator("section.card").first
    capacity_id = (await section.locator("form").first.get_attribute("action") or "").rsplit(
        "/", 1
    )[-1]
    await section.get_by_label("Available now").fill("12")
    await section.get_by_label("Note").fill("Truck came back")
    await section.get_by_role("button", name="Report capacity").click()
    await page.wait_for_url(re.compile(r"done=capacity"))
    await story.check("capacity-reported")
    async with seeded_db.read_session() as session:
        row = await session.get(ServiceCapacity, from_global_id(capacity_id)[1])
    assert row is not None and row.available == 12

    for name, path in (("queue", "/portal/queue"), ("follow-ups", "/portal/follow-ups")):
        await page.goto(live + path)
        await story.check(name)
    await phone.close()
    assert story.csp_violations == []


async def test_wrong_passwords_lock_out_in_the_browser(
    browser: Browser, live: str, screens: Path, backend: str, seeded_db: Database
) -> None:
    from .portal_support import set_password

    await set_password(seeded_db, "eastside-portal")
    context = await _context(browser)
    story = Story(await context.new_page(), live, screens, f"{backend}-lockout")
    page = story.page
    await page.goto(f"{live}/portal")
    await page.wait_for_url(re.compile(r"/signin\?next=/portal"))
    for _ in range(3):
        await page.get_by_label("Name or e-mail address").fill("eastside-portal")
        await page.get_by_label("Password").fill("guessing wrongly again")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_load_state()
    alert = await page.get_by_role("alert").inner_text()
    assert "locked" in alert and "RATE_LIMITED" in alert
    await story.check("locked")
    await page.get_by_label("Name or e-mail address").fill("eastside-portal")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    assert "locked" in await page.get_by_role("alert").inner_text()
    await context.close()


async def test_a_form_forged_on_another_origin_is_refused(
    browser: Browser, live: str, screens: Path, backend: str, seeded_db: Database
) -> None:
    from .portal_support import set_password

    await set_password(seeded_db, "eastside-portal")
    context = await browser.new_context()  # no CSP bypass: the pages' own policy applies
    page = await context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    await page.goto(f"{live}/signin")
    await page.get_by_label("Name or e-mail address").fill("eastside-portal")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/portal$"))
    assert await page.evaluate("typeof htmx") == "object"  # the vendored script loaded
    link = await page.locator("#inbox a").first.get_attribute("href")
    assert link is not None
    referral_id = link.rsplit("/", 1)[-1]
    async with seeded_db.read_session() as session:
        before = await session.get(Referral, from_global_id(referral_id)[1])
    assert before is not None
    evil = (
        f'<!doctype html><html lang="en"><title>Win a prize</title><body>'
        f'<form id="f" method="post" action="{live}/portal/referrals/{referral_id}/status">'
        f'<input type="hidden" name="status" value="FAILED">'
        f'<input type="hidden" name="reason" value="forged">'
        f'<input type="hidden" name="version" value="{before.version}">'
        f'<button id="go">Claim</button></form></body></html>'
    )
    with serve_html(evil, free_port()) as evil_url:
        await page.goto(evil_url)
        async with page.expect_navigation():
            await page.click("#go")
        assert "did not come from this site" in await page.content()
        await page.screenshot(path=str(screens / f"{backend}-forged-form-refused.png"))
    async with seeded_db.read_session() as session:
        after = await session.get(Referral, from_global_id(referral_id)[1])
    assert after is not None and after.version == before.version
    assert after.status == before.status
    assert violations == []
    await context.close()


async def test_the_inbox_shows_a_new_referral_without_reloading(
    browser: Browser, live: str, seeded_db: Database, keys: dict[str, str], screens: Path
) -> None:
    from .conftest import Api
    from .portal_support import set_password
    from .test_subscriptions import EASTSIDE, _refer

    await set_password(seeded_db, "eastside-portal")
    # No CSP bypass here: the page's own policy must let its script reach the WebSocket.
    context = await browser.new_context()
    page = await context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    await page.goto(f"{live}/signin")
    await page.get_by_label("Name or e-mail address").fill("eastside-portal")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/portal$"))
    await page.wait_for_selector("html[data-live=on]")
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))

    async with httpx.AsyncClient(base_url=live, timeout=30) as http:
        referral_id = await _refer(
            Api(http=http, keys=keys, database=seeded_db), seeded_db, EASTSIDE
        )
    link = page.locator(f'#inbox a[href="/portal/referrals/{referral_id}"]')
    await link.wait_for(timeout=15_000)
    row = page.locator("#inbox tbody tr").first
    assert await row.locator(".status").inner_text() == "New"
    assert await row.locator(f'a[href="/portal/referrals/{referral_id}"]').count() == 1
    assert loads == [], "the page reloaded"
    await page.screenshot(path=str(screens / "live-inbox-01-new-referral.png"), full_page=True)
    await context.close()
    assert violations == []
