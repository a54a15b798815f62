"""Hostile and malformed input on every merged console page (people, audit, network, queues),
as the tenant admin, on both backends: each answer is a page with a clear problem or the page
itself, never a 500 or a stack trace (NUL bytes, huge numbers, odd text reach PostgreSQL
differently than SQLite)."""

from __future__ import annotations

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
