"""Hostile and malformed input on every merged console page (people, audit, network, queues),
as the tenant admin, on both backends: each answer is a page with a clear problem or the page
itself, never a 500 or a stack trace (NUL bytes, huge numbers, odd text reach PostgreSQL
differently than SQLite)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from .console_support import console as console  # the fixture
from .portal_support import Portal

NASTY = [
    "\x00",
    "x\x00y",
    "%ff",
    "\ufffd",
    "'; drop table principals; --",
    "9" * 40,
    "-1",
    "A" * 4000,
]
PAGES = {
    "/console/people": ["after"],
    "/console/people/{nasty}": [],
    "/console/audit": ["principal", "action", "record", "from", "to", "after"],
    "/console/audit/chain": [],
    "/console/audit/disclosures": ["from", "to"],
    "/console/audit/export.csv": ["principal", "action", "record", "from", "to"],
    "/console/network": [],
    "/console/network/inventories": ["after"],
    "/console/network/statistics": ["form", "groupBy", "from", "to", "threshold"],
    "/console/queues": ["days", "buckets"],
    "/console/queues/live": ["days", "buckets"],
}


@pytest.mark.parametrize("path", sorted(PAGES))
async def test_malformed_parameters_get_a_page_never_a_500(console: Portal, path: str) -> None:
    http = console.browser.http
    for nasty in NASTY:
        in_path = quote(nasty, safe="")
        asked = [({}, path.format(nasty=in_path))] if "{nasty}" in path else []
        asked += [({name: nasty}, path) for name in PAGES[path]]
        for params, where in asked:
            answer = await http.get(where, params=params)
            assert answer.status_code < 500, (where, params, answer.text[:300])
            assert "Traceback" not in answer.text
            if answer.status_code >= 400:
                assert answer.headers["content-type"].startswith("text/html"), (where, params)
                assert 'class="problem"' in answer.text, (where, params)


async def test_malformed_form_fields_get_a_page_never_a_500(console: Portal) -> None:
    browser = console.browser
    people = await browser.http.get("/console/people")
    me = re.search(r'href="/console/people/([^"?/]+)"', people.text)
    home = re.search(r'value="(tenant:[^"]+)"', people.text)
    assert me and home
    person = f"/console/people/{me.group(1)}"
    posts = [
        (
            "/console/people",
            "/console/people",
            {"kind": "API_CLIENT", "name": "ok-{n}", "display_name": "{v}", "home": home.group(1)},
        ),
        ("/console/people", "/console/people", {"kind": "USER", "name": "{v}", "home": "{v}"}),
        (person, person + "/keys", {"label": "{v}", "expires_at": "{v}"}),
        (person, person + "/roles", {"role": "{v}", "tenant_id": "{v}"}),
        (
            "/console/network/inventories",
            "/console/network/inventories",
            {"name": "inv-{n}", "description": "{v}"},
        ),
        ("/console/network/inventories", "/console/network/inventories", {"name": "{v}"}),
        (person, person + "/keys/{k}/rotate", {"overlap_seconds": "{v}", "label": "{v}"}),
        (person, person + "/keys/{k}/revoke", {}),
        ("/console/people", "/console/people/invitations", {"name": "{v}", "email": "{v}"}),
        (
            "/console/network/inventories",
            "/console/network/inventories/update",
            {"id": "{v}", "name": "{v}"},
        ),
        (
            "/console/network/inventories",
            "/console/network/inventories/add",
            {"id": "{v}", "serviceId": "{v}"},
        ),
        (
            "/console/network",
            "/console/network/unshare",
            {"formId": "{v}", "granteeTenantId": "{v}"},
        ),
        (
            "/console/network",
            "/console/network/share",
            {"formId": "{v}", "granteeTenantId": "{v}", "validUntil": "{v}"},
        ),
    ]
    for n, nasty in enumerate(NASTY):
        for page, action, fields in posts:
            action = action.replace("{k}", quote(nasty, safe=""))
            filled = {k: v.replace("{v}", nasty).replace("{n}", str(n)) for k, v in fields.items()}
            answer = await browser.submit(page, action, filled)
            assert answer.status_code < 500, (action, filled, answer.text[:300])
            assert "Traceback" not in answer.text
