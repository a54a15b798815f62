"""The console's people and keys (/console/people): principals with their roles, API keys
created, rotated with an overlap and revoked (the secret shown once), invitations."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from sharegraph.datastore.base import Base
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import SignInLink

from .console_support import console as console  # the fixture
from .portal_support import PASSWORD, Portal, Smtp, open_portal, portal_settings, set_password
from .portal_support import smtp as smtp  # the fixture

SECRET = re.compile(r'id="secret-value"[^>]*value="([^"]+)"')
KEY_ROW = re.compile(r"/console/people/([A-Za-z0-9_-]+)/keys/([A-Za-z0-9_-]+)/rotate")

PRINCIPAL = """
query($id: ID!) {
  principal(id: $id) {
    name kind roles { role }
    apiKeys { id prefix label active revokedAt expiresAt }
    invitation { status }
  }
}
"""
PRINCIPALS = """
{ principals(first: 100, includePartnerOrganizations: true) { edges { node { id name } } } }
"""
VIEWER = "{ viewer { name } }"


async def gql(http: httpx.AsyncClient, key: str, query: str, variables: Any = None) -> Any:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {key}"},
    )
    return response.json()


async def ids_by_name(console: Portal, keys: dict[str, str]) -> dict[str, str]:
    body = await gql(console.browser.http, keys["prairie-admin"], PRINCIPALS)
    return {e["node"]["name"]: e["node"]["id"] for e in body["data"]["principals"]["edges"]}


async def principal(console: Portal, keys: dict[str, str], principal_id: str) -> Any:
    body = await gql(console.browser.http, keys["prairie-admin"], PRINCIPAL, {"id": principal_id})
    assert "errors" not in body, body
    return body["data"]["principal"]


async def test_the_list_shows_the_tenants_principals_and_partner_staff(
    console: Portal, keys: dict[str, str]
) -> None:
    page = await console.browser.http.get("/console/people")
    assert page.status_code == 200 and 'class="problem"' not in page.text, page.text
    for name in ("prairie-admin", "prairie-call-taker", "prairie-api", "eastside-portal"):
        assert f">{name}</a>" in page.text
    assert "lakeside-admin" not in page.text  # another tenant's principal
    assert "Eastside Food Pantry" in page.text and "Portal user" in page.text
    ids = await ids_by_name(console, keys)
    assert f'href="/console/people/{ids["prairie-api"]}"' in page.text


async def test_creating_a_principal_and_changing_its_roles_changes_it_in_the_api(
    console: Portal, keys: dict[str, str]
) -> None:
    b = console.browser
    listing = await b.http.get("/console/people")
    home = re.search(r'<option value="(tenant:[^"]+)"', listing.text)
    assert home
    created = await b.submit(
        "/console/people",
        "/console/people",
        {"kind": "API_CLIENT", "name": "county-dashboard", "home": home.group(1), "role": ""},
    )
    assert created.status_code == 303, created.text
    where = created.headers["location"]
    assert where.endswith("?done=created")
    person_id = where.split("/console/people/")[1].split("?")[0]
    shown = await b.http.get(where)
    assert "The principal was created." in shown.text and "county-dashboard" in shown.text
    assert (await principal(console, keys, person_id))["roles"] == []

    granted = await b.submit(where, f"/console/people/{person_id}/roles", {"role": "API_CLIENT"})
    assert granted.status_code == 303 and granted.headers["location"].endswith("role-assigned")
    assert (await principal(console, keys, person_id))["roles"] == [{"role": "API_CLIENT"}]
    page = await b.http.get(f"/console/people/{person_id}")
    assert "<strong>API client</strong>" in page.text

    taken = await b.submit(
        where, f"/console/people/{person_id}/roles/revoke", {"role": "API_CLIENT"}
    )
    assert taken.status_code == 303 and taken.headers["location"].endswith("role-revoked")
    assert (await principal(console, keys, person_id))["roles"] == []


async def test_a_new_keys_secret_is_shown_once_and_works(
    console: Portal, keys: dict[str, str]
) -> None:
    b = console.browser
    person_id = (await ids_by_name(console, keys))["prairie-api"]
    path = f"/console/people/{person_id}"
    answer = await b.submit(path, f"{path}/keys", {"label": "county dashboard"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    found = SECRET.search(answer.text)
    assert found, answer.text
    secret = found.group(1)
    assert "only time it is shown" in answer.text
    assert secret not in str(answer.url)
    # the key works, as the API client
    body = await gql(b.http, secret, VIEWER)
    assert body["data"]["viewer"]["name"] == "prairie-api"
    # and no later page holds it
    for later in (path, "/console/people", f"{path}?done=created", "/console/audit"):
        again = await b.http.get(later)
        assert secret not in again.text, later
    assert "county dashboard" in (await b.http.get(path)).text


async def test_after_a_rotation_both_keys_work_until_the_overlap_ends(
    console: Portal, keys: dict[str, str]
) -> None:
    b = console.browser
    person_id = (await ids_by_name(console, keys))["prairie-api"]
    path = f"/console/people/{person_id}"
    first = SECRET.search((await b.submit(path, f"{path}/keys", {"label": "old"})).text)
    assert first
    old = first.group(1)
    person = await principal(console, keys, person_id)
    old_id = next(k["id"] for k in person["apiKeys"] if k["label"] == "old")
    rotated = await b.submit(path, f"{path}/keys/{old_id}/rotate", {"overlap_seconds": "2"})
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    second = SECRET.search(rotated.text)
    assert second and second.group(1) != old
    new = second.group(1)
    assert "keeps working until" in rotated.text
    for key in (old, new):
        assert (await gql(b.http, key, VIEWER))["data"]["viewer"]["name"] == "prairie-api"
    await asyncio.sleep(2.5)
    refused = await gql(b.http, old, VIEWER)
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await gql(b.http, new, VIEWER))["data"]["viewer"]["name"] == "prairie-api"
    assert new not in (await b.http.get(path)).text


async def test_a_key_rotated_through_another_principals_address_is_not_shown_as_theirs(
    console: Portal, keys: dict[str, str]
) -> None:
    b = console.browser
    ids = await ids_by_name(console, keys)
    api_path = f"/console/people/{ids['prairie-api']}"
    assert SECRET.search((await b.submit(api_path, f"{api_path}/keys", {"label": "k"})).text)
    person = await principal(console, keys, ids["prairie-api"])
    key_id = next(k["id"] for k in person["apiKeys"] if k["label"] == "k")
    other = f"/console/people/{ids['prairie-call-taker']}"
    rotated = await b.submit(other, f"{other}/keys/{key_id}/rotate", {"overlap_seconds": "60"})
    assert rotated.status_code == 200 and SECRET.search(rotated.text)
    assert "Key for its principal" in rotated.text
    assert "Key for prairie-call-taker" not in rotated.text
    mine = await b.submit(api_path, f"{api_path}/keys", {"label": "mine"})
    assert "Key for prairie-api (mine)" in mine.text


async def test_revoking_a_key_stops_it(console: Portal, keys: dict[str, str]) -> None:
    b = console.browser
    person_id = (await ids_by_name(console, keys))["prairie-api"]
    path = f"/console/people/{person_id}"
    found = SECRET.search((await b.submit(path, f"{path}/keys", {"label": "short-lived"})).text)
    assert found
    secret = found.group(1)
    assert "data" in await gql(b.http, secret, VIEWER)
    person = await principal(console, keys, person_id)
    key_id = next(k["id"] for k in person["apiKeys"] if k["label"] == "short-lived")
    revoked = await b.submit(path, f"{path}/keys/{key_id}/revoke", {})
    assert revoked.status_code == 303 and revoked.headers["location"].endswith("key-revoked")
    refused = await gql(b.http, secret, VIEWER)
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    after = await principal(console, keys, person_id)
    assert next(k for k in after["apiKeys"] if k["id"] == key_id)["active"] is False
    assert "Revoked" in (await b.http.get(path)).text


async def test_bad_input_is_a_clear_problem_with_its_code(
    console: Portal, keys: dict[str, str]
) -> None:
    b = console.browser
    person_id = (await ids_by_name(console, keys))["prairie-api"]
    path = f"/console/people/{person_id}"
    person = await principal(console, keys, person_id)
    key_id = person["apiKeys"][0]["id"]
    too_long = await b.submit(
        path, f"{path}/keys/{key_id}/rotate", {"overlap_seconds": str(40 * 86400)}
    )
    assert too_long.status_code == 400
    assert "BAD_USER_INPUT" in too_long.text and "BAD_OVERLAP" in too_long.text
    assert not SECRET.search(too_long.text)
    not_a_number = await b.submit(path, f"{path}/keys/{key_id}/rotate", {"overlap_seconds": "x"})
    assert not_a_number.status_code == 400 and "BAD_USER_INPUT" in not_a_number.text
    listing = await b.http.get("/console/people")
    home = re.search(r'<option value="(tenant:[^"]+)"', listing.text)
    assert home
    taken = await b.submit(
        "/console/people",
        "/console/people",
        {"kind": "USER", "name": "prairie-admin", "home": home.group(1)},
    )
    assert taken.status_code == 409 and "CONFLICT" in taken.text and "NAME_TAKEN" in taken.text
    # said as what it is: reloading (the CONFLICT words' advice) would not help
    assert "That name is in use already" in taken.text and "Reload the page" not in taken.text
    bad_role = await b.submit(path, f"{path}/roles", {"role": "OVERLORD"})
    assert bad_role.status_code == 400 and "BAD_ROLE" in bad_role.text
    no_such = await b.http.get(
        "/console/people/UHJpbmNpcGFsOjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMQ"
    )
    assert no_such.status_code == 404 and "NOT_FOUND" in no_such.text
    # without the CSRF token nothing is written
    forged = await b.submit(path, f"{path}/keys", {"label": "forged"}, csrf=False)
    assert forged.status_code == 403 and not SECRET.search(forged.text)


async def test_invitations_are_sent_and_their_state_shown(
    seeded_db: Database, smtp: Smtp, keys: dict[str, str]
) -> None:
    await set_password(seeded_db, "prairie-admin")
    async for p in open_portal(seeded_db, portal_settings(seeded_db, smtp)):
        b = p.browser
        await b.sign_in("prairie-admin")
        listing = await b.http.get("/console/people")
        partner = re.search(
            r'<option value="(partner:[^"]+)"[^>]*>Eastside Food Pantry', listing.text
        )
        assert partner, listing.text
        invited = await b.submit(
            "/console/people",
            "/console/people/invitations",
            {"name": "dana", "email": "dana@eastside.example.org", "home": partner.group(1)},
        )
        assert invited.status_code == 303, invited.text
        where = invited.headers["location"]
        assert where.endswith("?done=invited")
        assert len(smtp.links()) == 1
        page = await b.http.get(where)
        assert "Invitation sent, not yet accepted" in page.text
        person_id = where.split("/console/people/")[1].split("?")[0]
        body = await gql(b.http, keys["prairie-admin"], PRINCIPAL, {"id": person_id})
        person = body["data"]["principal"]
        assert person["invitation"] == {"status": "PENDING"}
        assert person["roles"] == [{"role": "PORTAL_USER"}]
        # a link that lapsed unused is an expired invitation, with a way to send a new one
        async with seeded_db.write_session() as session:
            await session.execute(
                update(SignInLink).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        body = await gql(b.http, keys["prairie-admin"], PRINCIPAL, {"id": person_id})
        assert body["data"]["principal"]["invitation"] == {"status": "EXPIRED"}
        lapsed = await b.http.get(f"/console/people/{person_id}")
        assert "Invitation expired" in lapsed.text and "Send a new invitation" in lapsed.text
        resent = await b.submit(where, f"/console/people/{person_id}/invitation", {})
        assert resent.status_code == 303 and resent.headers["location"].endswith("done=resent")
        assert len(smtp.links()) == 2
        body = await gql(b.http, keys["prairie-admin"], PRINCIPAL, {"id": person_id})
        assert body["data"]["principal"]["invitation"] == {"status": "PENDING"}
        # the person accepts through the newest link
        async for person_browser in p.another_browser():
            link = smtp.links()[-1].removeprefix("http://sharegraph.test")
            fields = {"password": PASSWORD, "confirm": PASSWORD}
            chosen = await person_browser.submit(link, link, fields)
            assert chosen.status_code == 303, chosen.text
        accepted = await b.http.get(f"/console/people/{person_id}")
        assert "Invitation accepted" in accepted.text
        listing = await b.http.get("/console/people")
        assert "Invitation accepted" in listing.text


async def test_invitations_without_mail_are_a_clear_problem(console: Portal) -> None:
    listing = await console.browser.http.get("/console/people")
    home = re.search(r'<option value="(partner:[^"]+)"', listing.text)
    assert home
    refused = await console.browser.submit(
        "/console/people",
        "/console/people/invitations",
        {"name": "nobody", "email": "nobody@example.org", "home": home.group(1)},
    )
    assert refused.status_code == 400 and "EMAIL_NOT_CONFIGURED" in refused.text


async def test_non_admins_are_refused(seeded_db: Database, keys: dict[str, str]) -> None:
    await set_password(seeded_db, "prairie-call-taker")
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        await p.browser.sign_in("prairie-call-taker")
        listing = await p.browser.http.get("/console/people")
        assert listing.status_code == 403 and "FORBIDDEN" in listing.text
        assert "prairie-api" not in listing.text
        body = await gql(p.browser.http, keys["prairie-admin"], PRINCIPALS)
        api_id = next(
            e["node"]["id"]
            for e in body["data"]["principals"]["edges"]
            if e["node"]["name"] == "prairie-api"
        )
        page = await p.browser.http.get(f"/console/people/{api_id}")
        assert page.status_code == 403 and "keys-heading" not in page.text
        made = await p.browser.submit(
            "/console", f"/console/people/{api_id}/keys", {"label": "sneaky"}
        )
        assert made.status_code == 403 and not SECRET.search(made.text)
        after = await gql(p.browser.http, keys["prairie-admin"], PRINCIPAL, {"id": api_id})
        assert all(k["label"] != "sneaky" for k in after["data"]["principal"]["apiKeys"])


async def test_a_keys_secret_is_stored_logged_audited_and_sent_nowhere(
    console: Portal, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The secret (the part after ``sg_<prefix>_``) of a key made and of one rotated in the
    console is in no log line, no table row (audit trail, outbox for webhooks, key hashes), and
    no CSV download of the trail."""
    caplog.set_level(logging.DEBUG)
    b = console.browser
    person_id = (await ids_by_name(console, keys))["prairie-api"]
    path = f"/console/people/{person_id}"
    made = SECRET.search((await b.submit(path, f"{path}/keys", {"label": "leak check"})).text)
    assert made
    key_id = next(
        k["id"]
        for k in (await principal(console, keys, person_id))["apiKeys"]
        if k["label"] == "leak check"
    )
    rotated = SECRET.search(
        (await b.submit(path, f"{path}/keys/{key_id}/rotate", {"overlap_seconds": "60"})).text
    )
    assert rotated
    secrets = [found.group(1).split("_", 2)[2] for found in (made, rotated)]
    assert all(len(s) >= 20 for s in secrets)
    download = await b.http.get("/console/audit/export.csv")
    assert download.status_code == 200 and "key.rotate" in download.text
    async with console.db.read_session() as session:
        stored = [
            repr(row)
            for table in Base.metadata.sorted_tables
            for row in (await session.execute(select(table))).all()
        ]
    everything = "\n".join([caplog.text, download.text, *stored])
    # the net is cast: the key's public prefix is in the trail's rows and the download
    prefix = made.group(1).split("_", 2)[1]
    assert prefix in download.text and any(prefix in row for row in stored)
    for secret in secrets:
        assert secret not in everything
