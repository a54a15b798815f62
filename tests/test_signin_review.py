"""Found in review of sign-in and the session cookie: each test is a bug that was fixed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sharegraph.datastore.engine import Database
from sharegraph.web.csrf import SESSION_COOKIE

from .portal_support import Portal, Smtp, open_portal, portal_settings, set_password
from .portal_support import smtp as smtp  # the fixture


@pytest.fixture
async def portal(seeded_db: Database, smtp: Smtp) -> AsyncIterator[Portal]:
    async for p in open_portal(seeded_db, portal_settings(seeded_db, smtp)):
        yield p


async def test_a_stale_session_cookie_does_not_hide_the_public_hsds_api(portal: Portal) -> None:
    public = await portal.browser.http.get("/hsds/services")
    assert public.status_code == 200
    # A browser that signed in once keeps an ended session's cookie: the public API must answer
    # it as it answers anyone, not 401.
    portal.browser.http.cookies.set(SESSION_COOKIE, "an-ended-session", domain="sharegraph.test")
    stale = await portal.browser.http.get("/hsds/services")
    assert stale.status_code == 200, stale.text
    assert stale.json()["total_items"] == public.json()["total_items"]
    # A wrong API key still is refused: only the cookie is forgiven.
    wrong = await portal.browser.http.get(
        "/hsds/services", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401


async def test_a_live_session_still_reads_the_hsds_api_as_the_person(portal: Portal) -> None:
    await set_password(portal.db, "eastside-portal")
    assert (await portal.browser.sign_in("eastside-portal")).status_code == 303
    response = await portal.browser.http.get("/hsds/services")
    assert response.status_code == 200


async def test_a_partner_user_cannot_change_another_organizations_capacity(
    portal: Portal,
) -> None:
    from sqlalchemy import select

    from sharegraph.datastore.models import ServiceCapacity
    from sharegraph.graph.relay import to_global_id

    await set_password(portal.db, "eastside-portal")
    assert (await portal.browser.sign_in("eastside-portal")).status_code == 303
    async with portal.db.read_session() as session:
        capacities = (await session.scalars(select(ServiceCapacity))).all()
    page = await portal.browser.http.get("/portal/capacity")
    mine = set(re.findall(r'action="/portal/capacity/([^"/]+)"', page.text))
    others = [c for c in capacities if to_global_id("ServiceCapacity", c.id) not in mine]
    assert mine and others
    other = others[0]
    forged = await portal.browser.submit(
        "/portal/capacity",
        f"/portal/capacity/{to_global_id('ServiceCapacity', other.id)}",
        {"version": str(other.version), "available": "0", "maximum": "1"},
    )
    assert forged.status_code in (403, 404), forged.text
    async with portal.db.read_session() as session:
        after = await session.get(ServiceCapacity, other.id)
    assert after is not None and after.available == other.available


async def test_a_reset_answers_before_the_mail_leaves(portal: Portal, smtp: Smtp) -> None:
    # Waiting for the mail server only when the address is a person's told anyone timing the
    # form which addresses have accounts; the message now leaves after the answer.
    from sqlalchemy import select

    from sharegraph.datastore.models import Principal
    from sharegraph.web.signin import People

    await set_password(portal.db, "eastside-portal")
    async with portal.db.write_session() as session:
        person = await session.scalar(select(Principal).where(Principal.name == "eastside-portal"))
        assert person is not None
        person.email = "intake@eastsidefoodpantry.example.org"
    people = People(portal_settings(portal.db, smtp), {"db": portal.db})
    unknown = await people.request_reset("stranger@example.org", "192.0.2.1")
    known = await people.request_reset("intake@eastsidefoodpantry.example.org", "192.0.2.1")
    assert smtp.mailbox.received == []
    assert unknown is None and known is not None
    await known()
    assert len(smtp.links()) == 1
    # Through the page: the same answer, and the mail follows it.
    page = await portal.browser.submit(
        "/signin/reset", "/signin/reset", {"email": "intake@eastsidefoodpantry.example.org"}
    )
    assert page.status_code == 200 and len(smtp.links()) == 2


@pytest.mark.sqlite_only
def test_user_password_on_an_unmigrated_database_says_what_to_do(tmp_path: Path) -> None:
    # A new user who runs it before `serve --demo` has created the database got a traceback.
    from typer.testing import CliRunner

    from sharegraph.cli.main import app

    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    typed = "correct horse battery staple\n" * 2
    done = CliRunner().invoke(
        app, ["user", "password", "eastside-portal", "--database", url], input=typed
    )
    assert done.exit_code == 1, done.output
    assert "Traceback" not in done.output and "db upgrade" in done.output


async def test_a_referral_that_is_not_there_answers_404(portal: Portal) -> None:
    import uuid

    from sharegraph.graph.relay import to_global_id

    await set_password(portal.db, "eastside-portal")
    assert (await portal.browser.sign_in("eastside-portal")).status_code == 303
    missing = to_global_id("Referral", uuid.UUID(int=1))
    page = await portal.browser.http.get(f"/portal/referrals/{missing}")
    assert page.status_code == 404 and "NOT_FOUND" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_signing_in_again_ends_the_browsers_earlier_session(portal: Portal) -> None:
    # On a shared computer the next person signs in over the last one's cookie: the earlier
    # session must end, not stay live in the database until it expires.
    await set_password(portal.db, "eastside-portal")
    await set_password(portal.db, "harbor-portal")
    assert (await portal.browser.sign_in("eastside-portal")).status_code == 303
    first = portal.browser.http.cookies.get(SESSION_COOKIE)
    assert first
    assert (await portal.browser.sign_in("harbor-portal")).status_code == 303
    assert portal.browser.http.cookies.get(SESSION_COOKIE) != first
    async for other in portal.another_browser():
        other.http.cookies.set(SESSION_COOKIE, first, domain="sharegraph.test")
        after = await other.http.get("/portal")
        assert after.status_code == 303 and after.headers["location"].startswith("/signin")
