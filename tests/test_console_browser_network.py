"""Browser story for the console's network and queue areas (headless Chromium, as
tests/test_portal_browser.py sets it up): Prairie 211's admin shares a form version with
Riverbend 211 and unshares it, then opens the live queue dashboard on a phone (375 px) and
sees the charts. Every page passes axe (0 serious/critical) and is photographed; two
screenshots are kept in docs/screens/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from sharegraph.datastore.engine import Database

from .live_server import serve
from .portal_support import PASSWORD, portal_settings, set_password
from .test_email_pdf import free_port
from .test_portal_browser import Story, _context
from .test_portal_browser import browser as browser  # the fixture
from .test_portal_browser import pytestmark as pytestmark  # browser mark, skips
from .test_portal_browser import screens as screens  # the fixture

DOCS = Path(__file__).parent.parent / "docs" / "screens"


@pytest.fixture
def console_live(seeded_db: Database) -> Iterator[str]:
    port = free_port()
    settings = portal_settings(seeded_db, None, public_url=f"http://127.0.0.1:{port}")
    with serve(settings, port) as base:
        yield base


async def _sign_in(page: Page, base: str, then: str) -> None:
    await page.goto(f"{base}/signin?next={then}")
    await page.get_by_label("Name or e-mail address").fill("prairie-admin")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(re.escape(then) + "$"))


async def test_the_admin_shares_a_form_and_watches_the_queues(
    browser: Browser, console_live: str, seeded_db: Database, screens: Path, backend: str
) -> None:
    await set_password(seeded_db, "prairie-admin")
    context = await _context(browser, viewport={"width": 1200, "height": 900})
    story = Story(await context.new_page(), console_live, screens, f"{backend}-console-network")
    page = story.page

    await _sign_in(page, console_live, "/console/network")
    assert await page.get_by_role("heading", level=1).inner_text() == "Network collaboration"
    await story.check("network")

    # Share the standard call report's version 1 with Riverbend 211: read and statistics.
    await page.get_by_label("Form version").select_option(label="Standard call report v1")
    await page.get_by_label("Share with").select_option(label="Riverbend 211")
    await page.get_by_label("Count them in network statistics").check()
    await page.get_by_label("Purpose").fill("regional planning")
    await page.get_by_role("button", name="Share", exact=True).click()
    await page.wait_for_url(re.compile(r"done=shared"))
    assert await page.get_by_role("status").inner_text() == "The form is shared."
    unshare = page.get_by_role("button", name="Unshare Standard call report with Riverbend 211")
    assert await unshare.count() == 1
    await story.check("network-shared")
    shutil.copy(
        story.screens / f"{story.name}-{story.shots:02d}-network-shared.png",
        DOCS / "console-network.png",
    )

    # And stop sharing it.
    await unshare.click()
    await page.wait_for_url(re.compile(r"done=unshared"))
    assert await unshare.count() == 0
    await story.check("network-unshared")

    # The other pages of the area pass axe too: inventories, and statistics with suppression.
    await page.get_by_role("link", name="Inventories").click()
    await page.wait_for_url(re.compile(r"/console/network/inventories$"))
    await page.get_by_label("Name").last.fill("Winter shelters")
    await page.get_by_role("button", name="Create").click()
    await page.wait_for_url(re.compile(r"done=created"))
    await story.check("inventories")
    await page.get_by_role("link", name="Network statistics").click()
    await page.wait_for_url(re.compile(r"/console/network/statistics$"))
    assert await page.locator(".threshold").inner_text() == "5"
    await story.check("statistics")
    await context.close()

    # The queue dashboard on a phone: the charts are there and fit the screen.
    phone = await _context(browser, viewport={"width": 375, "height": 812}, is_mobile=True)
    story = Story(await phone.new_page(), console_live, screens, f"{backend}-console-queues")
    page = story.page
    await _sign_in(page, console_live, "/console/queues")
    charts = page.get_by_role("img", name=re.compile(r"over time$"))
    assert await charts.count() >= 4  # queue length and capacity, per queue
    first = await charts.first.bounding_box()
    assert first is not None and first["width"] <= 375 and first["height"] > 50
    assert await page.get_by_role(
        "img", name="Supportive housing: queue length over time"
    ).is_visible()
    await story.check("queues-phone")
    shutil.copy(
        story.screens / f"{story.name}-{story.shots:02d}-queues-phone.png",
        DOCS / "console-queues.png",
    )
    # The live region polls: a fresh fragment arrives and the charts are still there.
    async with page.expect_response(re.compile(r"/console/queues/live")) as polled:
        pass
    assert (await polled.value).status == 200
    assert await charts.count() >= 4
    assert story.csp_violations == []
    await phone.close()
