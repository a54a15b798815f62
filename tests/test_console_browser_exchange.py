"""The data exchange area in a real browser: Prairie's admin imports a directory file and
reads its report; registers a webhook endpoint at a loopback receiver whose first delivery
fails (it answers 500), fixes the receiver, replays the failed delivery from the delivery log,
and the receiver gets it with the same webhook-id. The served app runs its own scheduler
(imports and deliveries), as ``serve`` does. Every page: axe (0 serious/critical) and a
screenshot; a phone-width look at the report.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sharegraph.datastore.engine import Database

from .live_server import serve
from .portal_support import PASSWORD, set_password
from .test_console_exchange import INVALID, exchange_settings
from .test_email_pdf import free_port
from .test_portal_browser import Browser, Story, _context, pytestmark  # noqa: F401
from .test_portal_browser import browser as browser  # the fixture
from .test_portal_browser import screens as screens  # the fixture
from .webhook_receiver import Answer, receiver

ADMIN = "prairie-admin"


@pytest.fixture
def live(seeded_db: Database, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    settings = replace(
        exchange_settings(seeded_db, tmp_path), scheduler=True, scheduler_poll_seconds=0.3
    )
    settings = replace(
        settings, signin=replace(settings.signin, public_url=f"http://127.0.0.1:{port}")
    )
    with serve(settings, port) as base:
        yield base


async def _until(predicate: object, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_the_admin_imports_a_file_and_replays_a_failed_delivery(
    browser: Browser, live: str, seeded_db: Database, screens: Path, backend: str
) -> None:
    await set_password(seeded_db, ADMIN)
    context = await _context(browser, viewport={"width": 1200, "height": 900})
    story = Story(await context.new_page(), live, screens, f"{backend}-console-exchange")
    page = story.page

    await page.goto(f"{live}/signin?next=/console/exchange")
    await page.get_by_label("Name or e-mail address").fill(ADMIN)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/console/exchange$"))
    await story.check("overview")

    # Import a file; the report follows the job until it is done, and lists the bad rows.
    await page.get_by_role("link", name="Imports", exact=True).first.click()
    await page.wait_for_url(re.compile(r"/console/exchange/imports$"))
    await story.check("imports")
    await page.get_by_label("File", exact=True).set_input_files(str(INVALID))
    await page.get_by_label("Format", exact=True).select_option("airs-xml")
    await page.get_by_role("button", name="Upload and import").click()
    await page.wait_for_url(re.compile(r"/console/exchange/imports/.+\?done=uploaded"))
    await page.locator(".status-done").wait_for(timeout=30_000)
    report = await page.locator("table.problems").inner_text()
    assert "Agency INVALID_AGENCY has no Name" in report
    assert "Agency ANOTHER_INVALID_AGENCY has no Name" in report
    rows = await page.locator("table.problems tbody tr td:first-child").all_inner_texts()
    assert rows[:2] == ["3", "901"]
    await story.check("import-report")
    await page.set_viewport_size({"width": 375, "height": 800})
    await story.check("import-report-phone")
    await page.set_viewport_size({"width": 1200, "height": 900})

    await page.get_by_role("link", name="Exports", exact=True).first.click()
    await story.check("exports")
    await page.get_by_role("link", name="E-mail templates", exact=True).first.click()
    await story.check("templates")

    async with receiver() as hook:
        hook.default = Answer(500)
        # Register the endpoint: its secret is on this page only.
        await page.get_by_role("link", name="Webhooks", exact=True).first.click()
        await page.get_by_label("URL (https; public addresses only)").fill(hook.url)
        await page.get_by_role("button", name="Register endpoint").click()
        secret = await page.get_by_label("Signing secret").input_value()
        assert secret.startswith("whsec_")
        await story.check("webhook-secret")

        # A test message: the receiver answers 500, the log shows the failed attempt.
        await page.get_by_role("link", name="Delivery log").click()
        await page.get_by_role("button", name="Send a test message").click()
        await page.wait_for_url(re.compile(r"\?done=test"))
        await _until(lambda: len(hook.received) >= 1)
        first_id = hook.received[0].headers["webhook-id"]
        for _ in range(50):
            await page.reload()
            if await page.get_by_text("HTTP 500").count():
                break
            await asyncio.sleep(0.2)
        assert await page.get_by_text(first_id).count() >= 1
        await story.check("deliveries-failed")

        # The receiver is fixed; replay the delivery from the log.
        hook.default = Answer(200)
        before = len(hook.received)
        await page.get_by_role("button", name=f"Replay {first_id}").click()
        await page.wait_for_url(re.compile(r"\?done=replayed&count=1"))
        await _until(lambda: len(hook.received) > before)
        assert {r.headers["webhook-id"] for r in hook.received} == {first_id}
        for _ in range(50):
            await page.reload()
            if await page.locator(".status-done", has_text="delivered").count():
                break
            await asyncio.sleep(0.2)
        assert await page.locator(".status-done", has_text="delivered").count() == 1
        await story.check("deliveries-replayed")

    # The audit view shows the steps just taken, newest first.
    await page.goto(f"{live}/console/audit")
    await page.get_by_label("Who acted").select_option(label="prairie-admin")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url(re.compile(r"principal="))
    actions = await page.locator("table.audit td[data-label=Action] a").all_inner_texts()
    steps = ["import.upload", "webhook.endpoint.create", "webhook.endpoint.test"]
    steps.append("webhook.endpoint.replay")
    assert [a for a in reversed(actions) if a in steps] == steps, actions
    await story.check("audit-steps")

    assert story.csp_violations == []
    await context.close()
