"""The console's frame: who gets in, and the areas it offers."""

from __future__ import annotations

from sharegraph.console.admin.shell import AREAS
from sharegraph.datastore.engine import Database

from .console_support import console as console  # the fixture
from .portal_support import Portal, open_portal, portal_settings, set_password


async def test_the_admin_sees_every_area(console: Portal) -> None:
    home = await console.browser.http.get("/console")
    assert home.status_code == 200 and 'class="problem"' not in home.text
    assert "Signed in as prairie-admin" in home.text
    for href, words, _what in AREAS:
        assert f'href="{href}"' in home.text and words in home.text
    assert home.headers["content-security-policy"].startswith("default-src 'none'")


async def test_partner_staff_are_sent_to_the_portal(seeded_db: Database) -> None:
    await set_password(seeded_db, "eastside-portal")
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        await p.browser.sign_in("eastside-portal")
        home = await p.browser.http.get("/console")
        assert home.status_code == 200
        assert "for tenant administrators" in home.text and 'href="/portal"' in home.text
        assert 'href="/console/sharing"' not in home.text.split("<main", 1)[1]


async def test_signed_out_visitors_are_sent_to_sign_in(seeded_db: Database) -> None:
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        home = await p.browser.http.get("/console")
        assert home.status_code == 303 and home.headers["location"] == "/signin?next=/console"


async def test_an_address_that_leads_nowhere_is_a_page_saying_so(console: Portal) -> None:
    for path in ("/portal/nowhere", "/console/nowhere/at/all"):
        missing = await console.browser.http.get(path)
        assert missing.status_code == 404, path
        assert missing.headers["content-type"].startswith("text/html")
        assert "Page not found" in missing.text and "NOT_FOUND" in missing.text


async def test_the_portal_links_the_console_for_admins_only(
    console: Portal, seeded_db: Database
) -> None:
    inbox = await console.browser.http.get("/portal")
    assert inbox.status_code == 200 and 'href="/console">Admin console' in inbox.text
    await set_password(seeded_db, "eastside-portal")
    async for browser in console.another_browser():
        await browser.sign_in("eastside-portal")
        theirs = await browser.http.get("/portal")
        assert theirs.status_code == 200 and 'href="/console"' not in theirs.text
