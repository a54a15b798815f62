"""Browser story (headless Chromium): Prairie 211's admin creates an API key for the
integration, rotates it with a short overlap, sees both keys work and then the old one stop,
and opens the audit trail filtered to themself to find the steps just taken. Every page is
checked with axe-core (0 serious or critical) and photographed, on a desk and on a phone."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from sharegraph.datastore.engine import Database

from .live_server import serve
from .portal_support import PASSWORD, portal_settings, set_password
from .test_email_pdf import free_port
from .test_portal_browser import Story, _context
from .test_portal_browser import browser as browser  # the fixture
from .test_portal_browser import pytestmark as pytestmark
from .test_portal_browser import screens as screens  # the fixture

OVERLAP = 4  # seconds the old key keeps working after the rotation


@pytest.fixture
def live(seeded_db: Database) -> Iterator[str]:
    port = free_port()
    with serve(portal_settings(seeded_db, None, public_url=f"http://127.0.0.1:{port}"), port) as b:
        yield b


async def whoami(base: str, key: str) -> int:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post(
            "/graphql",
            json={"query": "{ viewer { name } }"},
            headers={"Authorization": f"Bearer {key}"},
        )
    return response.status_code


async def test_the_admin_rotates_a_key_and_audits_it(
    browser: Browser, live: str, seeded_db: Database, screens: Path, backend: str
) -> None:
    await set_password(seeded_db, "prairie-admin")
    context = await _context(browser, viewport={"width": 1200, "height": 900})
    story = Story(await context.new_page(), live, screens, f"{backend}-console-people")
    page = story.page

    await page.goto(f"{live}/signin?next=/console/people")
    await page.get_by_label("Name or e-mail address").fill("prairie-admin")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/console/people$"))
    assert await page.get_by_role("heading", level=1).inner_text() == "People and keys"
    await story.check("people")

    # The integration's principal: a new key, its secret shown on this answer only.
    await page.get_by_role("link", name="prairie-api", exact=True).click()
    await page.wait_for_url(re.compile(r"/console/people/[A-Za-z0-9_-]+$"))
    person_url = page.url
    await story.check("person")
    await page.get_by_label("New key's label").fill("county dashboard")
    await page.get_by_role("button", name="Create API key").click()
    await page.wait_for_load_state()
    first = await page.get_by_label("Key for prairie-api").input_value()
    assert first.startswith("sg_")
    assert first not in page.url
    await story.check("key-created")
    assert await whoami(live, first) == 200

    # Rotate it with a short overlap: both keys work, then only the new one.
    row = page.locator("tr", has_text="county dashboard")
    await row.get_by_label("Old key keeps working for (seconds)").fill(str(OVERLAP))
    await row.get_by_role("button", name=re.compile("^Rotate key")).click()
    await page.wait_for_load_state()
    rotated_at = time.monotonic()
    second = await page.get_by_label("Key for prairie-api").input_value()
    assert second.startswith("sg_") and second != first
    assert "keeps working until" in await page.locator(".secret").inner_text()
    await story.check("key-rotated")
    assert await whoami(live, first) == 200
    assert await whoami(live, second) == 200
    await asyncio.sleep(max(0.0, OVERLAP + 0.5 - (time.monotonic() - rotated_at)))
    assert await whoami(live, first) == 401
    assert await whoami(live, second) == 200

    # The secret is on no later page.
    await page.goto(person_url)
    content = await page.content()
    assert first not in content and second not in content
    assert "county dashboard" in content

    # The audit trail, filtered to themself: the steps just taken.
    await page.get_by_role("link", name="Audit", exact=True).click()
    await page.wait_for_url(re.compile(r"/console/audit$"))
    await page.get_by_label("Who acted").select_option(label="prairie-admin")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url(re.compile(r"principal="))
    await page.get_by_role("button", name="Verify the chain now").click()
    await page.locator("#chain .chain-ok").wait_for()  # htmx brought the verification
    actions = await page.locator("table.audit td[data-label=Action] a").all_inner_texts()
    assert actions[:2] == ["key.rotate", "key.create"], actions
    who = set(await page.locator("table.audit td[data-label=Who]").all_inner_texts())
    assert who == {"prairie-admin"}
    assert story.csp_violations == []
    await story.check("audit")

    # Disclosures and the chain's own page.
    await page.get_by_role("link", name="Disclosures per partner").click()
    await page.wait_for_url(re.compile(r"/console/audit/disclosures"))
    await story.check("disclosures")
    await page.goto(f"{live}/console/audit/chain")
    assert "Intact." in await page.content()
    await story.check("chain")
    await context.close()

    # The same pages on a phone: nothing scrolls sideways.
    phone = await _context(
        browser, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True
    )
    story = Story(await phone.new_page(), live, screens, f"{backend}-console-people-phone")
    page = story.page
    await page.goto(f"{live}/signin?next=/console/people")
    await page.get_by_label("Name or e-mail address").fill("prairie-admin")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/console/people$"))
    for path, label in (
        ("/console/people", "people"),
        (person_url.removeprefix(live), "person"),
        ("/console/audit", "audit"),
    ):
        await page.goto(f"{live}{path}")
        wide = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
        assert not wide, f"{path} scrolls sideways on a phone"
        await story.check(label)
    await phone.close()
