"""Sign-in for people: invitations and resets by e-mail (a real SMTP server on loopback),
passwords with lockout, sessions in the database through the one authentication step, CSRF on
every form and cookie-authenticated request, sign-out everywhere."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import (
    AuditEvent,
    PartnerOrganization,
    Password,
    Principal,
    WebSession,
)
from sharegraph.graph.relay import to_global_id
from sharegraph.web.csrf import SESSION_COOKIE

from .portal_support import PASSWORD, Portal, Smtp, open_portal, portal_settings, set_password
from .portal_support import smtp as smtp  # the fixture

INVITE = """
mutation($input: InviteUserInput!) {
  inviteUser(input: $input) { sent deliveryError principal { name kind email roles { role } } }
}"""


@pytest.fixture
async def portal(seeded_db: Database, smtp: Smtp) -> AsyncIterator[Portal]:
    async for p in open_portal(seeded_db, portal_settings(seeded_db, smtp, max_failed_attempts=3)):
        yield p


async def _eastside(db: Database) -> str:
    async with db.read_session() as session:
        found = await session.scalar(
            select(PartnerOrganization.id).where(PartnerOrganization.name == "Eastside Food Pantry")
        )
    assert found is not None
    return to_global_id("PartnerOrganization", found)


async def _gql(portal: Portal, key: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await portal.browser.http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
    )
    body: dict[str, Any] = response.json()
    return body


async def test_unauthenticated_pages_answer_the_sign_in_page(portal: Portal) -> None:
    for path in ("/portal", "/console", "/portal/capacity", "/portal/referrals/x"):
        response = await portal.browser.http.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/signin?next=")
    page = await portal.browser.http.get("/signin?next=/portal")
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<label for="login">' in page.text and '<label for="password">' in page.text
    # The CSRF nonce cookie comes with the form; no session yet.
    assert "sharegraph_csrf" in page.headers["set-cookie"]


async def test_an_admin_invites_a_partner_user_who_sets_a_password_and_signs_in(
    portal: Portal, smtp: Smtp, keys: dict[str, str]
) -> None:
    body = await _gql(
        portal,
        keys["prairie-admin"],
        INVITE,
        {
            "input": {
                "name": "eastside-intake",
                "displayName": "Dana at Eastside",
                "email": "dana@eastsidefoodpantry.example.org",
                "partnerOrganizationId": await _eastside(portal.db),
            }
        },
    )
    assert "errors" not in body, body
    invited = body["data"]["inviteUser"]
    assert invited["sent"] is True
    assert invited["principal"]["kind"] == "USER"
    assert [r["role"] for r in invited["principal"]["roles"]] == ["PORTAL_USER"]
    [mail] = smtp.mailbox.received
    assert mail.recipients == ["dana@eastsidefoodpantry.example.org"]
    [link] = smtp.links()
    path = link.removeprefix("http://sharegraph.test")

    page = await portal.browser.http.get(path)
    assert "Welcome, Dana at Eastside" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    short = await portal.browser.submit(path, path, {"password": "short", "confirm": "short"})
    assert short.status_code == 400 and "BAD_USER_INPUT" in short.text
    done = await portal.browser.submit(path, path, {"password": PASSWORD, "confirm": PASSWORD})
    assert done.status_code == 303
    # The link works once.
    again = await portal.browser.http.get(path)
    assert again.status_code == 404 and "LINK_EXPIRED" in again.text

    signed = await portal.browser.sign_in("dana@eastsidefoodpantry.example.org")
    assert signed.status_code == 303 and signed.headers["location"] == "/portal"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP here
    inbox = await portal.browser.http.get("/portal")
    assert inbox.status_code == 200
    assert "Referrals to Eastside Food Pantry" in inbox.text
    async with portal.db.read_session() as session:
        stored = await session.scalar(
            select(Password.hash)
            .join(Principal, Principal.id == Password.principal_id)
            .where(Principal.name == "eastside-intake")
        )
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_invitations_need_mail_and_an_admin(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async for portal in open_portal(seeded_db, portal_settings(seeded_db, None)):
        variables = {
            "input": {
                "name": "nobody-invited",
                "email": "nobody@example.org",
                "partnerOrganizationId": await _eastside(seeded_db),
            }
        }
        body = await _gql(portal, keys["prairie-admin"], INVITE, variables)
        assert body["errors"][0]["extensions"]["reason"] == "EMAIL_NOT_CONFIGURED"
        async with seeded_db.read_session() as session:
            created = await session.scalar(
                select(func.count()).where(Principal.name == "nobody-invited")
            )
        assert created == 0


async def test_a_portal_user_cannot_invite(portal: Portal, keys: dict[str, str]) -> None:
    body = await _gql(
        portal,
        keys["eastside-portal"],
        INVITE,
        {"input": {"name": "friend", "email": "friend@example.org"}},
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_wrong_passwords_lock_the_account(portal: Portal) -> None:
    await set_password(portal.db, "eastside-portal")
    for _ in range(2):
        wrong = await portal.browser.sign_in("eastside-portal", "not the password at all")
        assert wrong.status_code == 401 and "BAD_CREDENTIALS" in wrong.text
    kept = await portal.browser.submit(
        "/signin",
        "/signin?next=/console",
        {"login": "nobody-at-all", "password": "x" * 12, "next": "/console"},
    )
    assert kept.status_code == 401
    assert 'name="next" value="/console"' in kept.text and 'value="nobody-at-all"' in kept.text
    third = await portal.browser.sign_in("eastside-portal", "not the password at all")
    assert third.status_code == 429 and "ACCOUNT_LOCKED" in third.text
    assert "locked" in third.text and "Retry-After" not in third.text
    # Locked: even the right password is refused until the lockout ends.
    right = await portal.browser.sign_in("eastside-portal")
    assert right.status_code == 429
    async with portal.db.read_session() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("session.%"))
            )
        ).all()
    assert actions.count("session.sign_in_refused") == 5  # the unknown name counts too
    assert "session.sign_in" not in actions


async def test_unknown_people_and_api_clients_cannot_sign_in(portal: Portal) -> None:
    await set_password(portal.db, "prairie-api")  # an API client, even with a password row
    for login in ("nobody-here", "prairie-api"):
        response = await portal.browser.sign_in(login)
        assert response.status_code == 401, login


async def test_forms_and_graphql_on_a_session_need_the_csrf_token(portal: Portal) -> None:
    await set_password(portal.db, "eastside-portal")
    forged = await portal.browser.submit(
        "/signin", "/signin", {"login": "eastside-portal", "password": PASSWORD}, csrf=False
    )
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")
    await portal.browser.sign_in("eastside-portal")
    # A state-changing page form without the token changes nothing.
    forged = await portal.browser.http.post(
        "/portal/referrals/UmVmZXJyYWw6eA/status",
        data={"status": "ACCEPTED", "version": "1"},
    )
    assert forged.status_code == 403 and "CSRF" in forged.text
    # /graphql on the session cookie: refused without X-CSRF-Token, answered with it.
    query = {"query": "{ viewer { name } }"}
    bare = await portal.browser.http.post("/graphql", json=query)
    assert bare.status_code == 403
    assert bare.json()["errors"][0]["extensions"]["reason"] == "CSRF"
    token = await portal.browser.token("/portal")
    ok = await portal.browser.http.post("/graphql", json=query, headers={"X-CSRF-Token": token})
    assert ok.json() == {"data": {"viewer": {"name": "eastside-portal"}}}
    wrong = await portal.browser.http.post(
        "/graphql", json=query, headers={"X-CSRF-Token": token[:-2] + "00"}
    )
    assert wrong.status_code == 403


async def test_sign_out_everywhere_ends_every_session(portal: Portal) -> None:
    await set_password(portal.db, "eastside-portal")
    await portal.browser.sign_in("eastside-portal")
    async for phone in portal.another_browser():
        await phone.sign_in("eastside-portal")
        assert (await phone.http.get("/portal")).status_code == 200
        out = await portal.browser.submit("/portal", "/signout/everywhere", {})
        assert out.status_code == 303
        assert (await portal.browser.http.get("/portal")).status_code == 303
        after = await phone.http.get("/portal")
        assert after.status_code == 303 and after.headers["location"].startswith("/signin")
    async with portal.db.read_session() as session:
        live = await session.scalar(
            select(func.count()).select_from(WebSession).where(WebSession.revoked_at.is_(None))
        )
    assert live == 0


async def test_a_password_reset_by_email(portal: Portal, smtp: Smtp) -> None:
    await set_password(portal.db, "eastside-portal", "the old password here")
    async with portal.db.write_session() as session:
        person = await session.scalar(select(Principal).where(Principal.name == "eastside-portal"))
        assert person is not None
        person.email = "intake@eastsidefoodpantry.example.org"
    unknown = await portal.browser.submit(
        "/signin/reset", "/signin/reset", {"email": "stranger@example.org"}
    )
    known = await portal.browser.submit(
        "/signin/reset", "/signin/reset", {"email": "Intake@eastsidefoodpantry.example.org"}
    )
    # The same answer either way; only the person's address gets a message.
    assert unknown.status_code == known.status_code == 200
    assert re.sub(r'value="[^"]+"', "", unknown.text) == re.sub(r'value="[^"]+"', "", known.text)
    [link] = smtp.links()
    path = link.removeprefix("http://sharegraph.test")
    await portal.browser.submit(path, path, {"password": PASSWORD, "confirm": PASSWORD})
    assert (
        await portal.browser.sign_in("eastside-portal", "the old password here")
    ).status_code == 401
    assert (await portal.browser.sign_in("eastside-portal")).status_code == 303


async def test_pages_run_as_the_person_and_are_audited(portal: Portal) -> None:
    principal_id = await set_password(portal.db, "eastside-portal")
    await portal.browser.sign_in("eastside-portal")

    async def reads() -> int:
        async with portal.db.read_session() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.principal_id == principal_id, AuditEvent.action == "read")
            )
        return int(count or 0)

    before = await reads()
    assert (await portal.browser.http.get("/portal")).status_code == 200
    assert await reads() > before


async def test_the_session_cookie_is_secure_over_tls(portal: Portal) -> None:
    await set_password(portal.db, "eastside-portal")
    token = await portal.browser.token("/signin")
    response = await portal.browser.http.post(
        "/signin",
        data={"login": "eastside-portal", "password": PASSWORD, "csrf_token": token},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 303
    assert "secure" in response.headers["set-cookie"].lower()


@pytest.mark.sqlite_only
def test_an_operator_sets_a_password_from_the_command_line(tmp_path: Any) -> None:
    import asyncio

    from typer.testing import CliRunner

    from sharegraph.authz.passwords import verify_password
    from sharegraph.cli.main import app

    runner = CliRunner()
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert runner.invoke(app, ["demo", "seed", "--database", url]).exit_code == 0
    typed = f"{PASSWORD}\n{PASSWORD}\n"
    done = runner.invoke(
        app, ["user", "password", "eastside-portal", "--database", url], input=typed
    )
    assert done.exit_code == 0, done.output
    program = runner.invoke(
        app, ["user", "password", "prairie-api", "--database", url], input=typed
    )
    assert program.exit_code == 1 and "NOT_A_USER" not in program.output
    assert "programs use API keys" in program.output

    async def stored() -> str | None:
        db = Database(url)
        try:
            async with db.read_session() as session:
                return await session.scalar(
                    select(Password.hash)
                    .join(Principal, Principal.id == Password.principal_id)
                    .where(Principal.name == "eastside-portal")
                )
        finally:
            await db.dispose()

    hashed = asyncio.run(stored())
    assert hashed is not None and asyncio.run(verify_password(hashed, PASSWORD))


async def test_a_resent_invitation_voids_the_earlier_link(
    portal: Portal, smtp: Smtp, keys: dict[str, str]
) -> None:
    body = await _gql(
        portal,
        keys["prairie-admin"],
        INVITE,
        {
            "input": {
                "name": "eastside-volunteer",
                "email": "volunteer@eastsidefoodpantry.example.org",
                "partnerOrganizationId": await _eastside(portal.db),
            }
        },
    )
    assert body["data"]["inviteUser"]["sent"] is True
    async with portal.db.read_session() as session:
        person = await session.scalar(
            select(Principal.id).where(Principal.name == "eastside-volunteer")
        )
    assert person is not None
    resent = await _gql(
        portal,
        keys["prairie-admin"],
        "mutation($id: ID!) { resendInvitation(principalId: $id) { sent principal { name } } }",
        {"id": to_global_id("Principal", person)},
    )
    assert resent["data"]["resendInvitation"] == {
        "sent": True,
        "principal": {"name": "eastside-volunteer"},
    }
    first, second = (link.removeprefix("http://sharegraph.test") for link in smtp.links())
    assert (await portal.browser.http.get(first)).status_code == 404
    assert (await portal.browser.http.get(second)).status_code == 200
    # Programs are not invited.
    async with portal.db.read_session() as session:
        program = await session.scalar(select(Principal.id).where(Principal.name == "prairie-api"))
    assert program is not None
    refused = await _gql(
        portal,
        keys["prairie-admin"],
        "mutation($id: ID!) { resendInvitation(principalId: $id) { sent } }",
        {"id": to_global_id("Principal", program)},
    )
    assert refused["errors"][0]["extensions"]["reason"] == "NOT_A_USER"
