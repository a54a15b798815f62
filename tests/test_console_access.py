"""`/console/access`: the admin picks a principal, reads its effective-permission matrix and asks
from a cell why it may (or may not) read a field, also on one record; non-admins are refused."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import PrincipalKind
from sharegraph.datastore.models import Client, Principal
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .conftest import make_api
from .console_support import console as console  # the fixture
from .portal_support import Portal, open_portal, portal_settings, set_password

PRAIRIE = demo_id("tenant", "prairie")
PANTRY = to_global_id("Principal", demo_id("principal", "eastside-portal"))
CALL_TAKER = to_global_id("Principal", demo_id("principal", "prairie-call-taker"))
LAKESIDE_ADMIN = to_global_id("Principal", demo_id("principal", "lakeside-admin"))
PERMISSIONS = """
query($p: ID!) { effectivePermissions(principalId: $p) {
  typeName field action rowScopes agreements { name } } }
"""


async def api_permissions(db: Database, keys: dict[str, str], who: str) -> list[dict[str, Any]]:
    async for api in make_api(db, keys):
        found: list[dict[str, Any]] = (await api.data("prairie-admin", PERMISSIONS, {"p": who}))[
            "effectivePermissions"
        ]
        return found
    raise AssertionError("no api")


def cell(page: str, type_name: str, field: str, action_index: int) -> str:
    """The matrix cell of a field (row) and an action (column, in catalogue order)."""
    table = page.split(f'id="matrix-{type_name}"', 1)[1].split("</table>", 1)[0]
    row = table.split(f"<code>{field}</code>", 1)[1].split("</tr>", 1)[0]
    return row.split("<td ", action_index + 2)[action_index + 1]


def link_of(fragment: str) -> str:
    found = re.search(r'<a href="(/console/access/explain\?[^"]+)"', fragment)
    assert found, fragment
    return html.unescape(found.group(1))


async def test_the_picker_lists_the_principals_the_admin_administers(console: Portal) -> None:
    page = await console.browser.http.get("/console/access")
    assert page.status_code == 200 and 'class="problem"' not in page.text, page.text
    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<·]+)', page.text)
    names = {label.split(" ")[0] for _v, label in options}
    assert {"prairie-admin", "prairie-call-taker", "eastside-portal"} <= names
    assert "lakeside-admin" not in names  # another tenant's staff
    assert dict((v, label.split(" ")[0]) for v, label in options)[PANTRY] == "eastside-portal"


async def test_the_picker_lists_more_than_one_page_of_principals(console: Portal) -> None:
    async with console.db.write_session() as session:
        session.add_all(
            Principal(
                id=uuid.uuid4(),
                name=f"zz-volunteer-{i:03d}",
                kind=PrincipalKind.USER,
                tenant_id=PRAIRIE,
            )
            for i in range(120)
        )
    page = await console.browser.http.get("/console/access")
    assert page.status_code == 200 and 'class="problem"' not in page.text
    assert ">zz-volunteer-000 " in page.text and ">zz-volunteer-119 " in page.text
    assert page.text.count(">zz-volunteer-") == 120


async def test_the_matrix_is_the_principals_effective_permissions(
    console: Portal, keys: dict[str, str]
) -> None:
    summary = await console.browser.http.get(f"/console/access?principal={PANTRY}")
    assert summary.status_code == 200 and 'class="problem"' not in summary.text, summary.text
    assert "eastside-portal" in summary.text.split("<h2>", 1)[1]
    truth = await api_permissions(console.db, keys, PANTRY)
    reads = {
        (e["typeName"], e["field"])
        for e in truth
        if e["action"] == "read" and e["typeName"] != "Operation"
    }
    assert ("Client", "phone") in reads and ("Client", "dateOfBirth") not in reads
    # types x actions: each type's count of readable fields is the API's
    counted = {
        t: int(n)
        for t, n in re.findall(
            r'<tr id="type-([A-Za-z]+)".*?<td data-label="read" class="[a-z]+">(\d+) of',
            summary.text,
            re.S,
        )
    }
    assert len(counted) > 20
    assert counted == {t: sum(1 for rt, _f in reads if rt == t) for t in counted}
    assert set(counted) >= {t for t, _f in reads}
    # fields x actions of one type: the cells say yes exactly where the API does
    page = await console.browser.http.get(f"/console/access?principal={PANTRY}&type=Client")
    text = page.text
    phone = cell(text, "Client", "phone", 0)  # read
    assert phone.startswith('data-label="read" class="yes"')
    assert "referred_to_grantee" in phone and ">Referrals to eastside</a>" in phone
    birth = cell(text, "Client", "dateOfBirth", 0)
    assert 'class="no"' in birth and "why not" in birth
    body = text.split('id="matrix-Client"', 1)[1].split("</tbody>", 1)[0]
    yes = {
        ("Client", field)
        for field, first in re.findall(
            r'<code>([A-Za-z0-9_.]+)</code>.*?<td data-label="read" class="(yes|no)"', body, re.S
        )
        if first == "yes"
    }
    assert yes == {r for r in reads if r[0] == "Client"}
    ops = {e["field"] for e in truth if e["typeName"] == "Operation"}
    assert ops and all(f"<code>{o}</code>" in text for o in ops)


async def test_explain_from_a_cell_names_the_deciding_rule(console: Portal) -> None:
    page = (await console.browser.http.get(f"/console/access?principal={PANTRY}&type=Client")).text
    why = await console.browser.http.get(link_of(cell(page, "Client", "phone", 0)))
    assert why.status_code == 200 and 'class="problem"' not in why.text, why.text
    assert "Why can eastside-portal" in why.text or "Why can " in why.text
    assert "Allowed." in why.text and "<code>AGREEMENT</code>" in why.text
    assert ">Referrals to eastside</a>" in why.text

    why_not = await console.browser.http.get(link_of(cell(page, "Client", "dateOfBirth", 0)))
    assert why_not.status_code == 200
    assert "Why can&#39;t" in why_not.text and "Not allowed." in why_not.text
    assert "<code>DENY_RULE</code>" in why_not.text
    assert ">Referrals to eastside</a>" in why_not.text  # the agreement whose deny rule decided


async def test_own_staff_read_everything_of_the_tenant_and_operations_are_explained(
    console: Portal,
) -> None:
    page = await console.browser.http.get(f"/console/access?principal={CALL_TAKER}&type=Client")
    assert page.status_code == 200 and 'class="problem"' not in page.text, page.text
    birth = cell(page.text, "Client", "dateOfBirth", 0)
    assert birth.startswith('data-label="read" class="yes"') and "all" in birth
    assert "<code>createReferral</code>" in page.text
    why = await console.browser.http.get(
        "/console/access/explain", params={"principal": CALL_TAKER, "coordinate": "createReferral"}
    )
    assert why.status_code == 200 and "run createReferral?" in why.text
    assert "Allowed." in why.text and "<code>OPERATION_ALLOWED</code>" in why.text
    denied = await console.browser.http.get(
        "/console/access/explain",
        params={"principal": CALL_TAKER, "coordinate": "updateOrganization"},
    )
    assert denied.status_code == 200 and "Why can&#39;t" in denied.text, denied.text
    assert "Not allowed." in denied.text and "<code>OPERATION_DENIED</code>" in denied.text


async def test_explain_on_a_record(console: Portal) -> None:
    async with console.db.read_session() as session:
        clients = [
            to_global_id("Client", i)
            for i in await session.scalars(select(Client.id).where(Client.tenant_id == PRAIRIE))
        ]
    page = (await console.browser.http.get(f"/console/access?principal={PANTRY}&type=Client")).text
    link = link_of(cell(page, "Client", "firstName", 0))
    asked = parse_qs(urlparse(link).query)
    verdicts = set()
    for client in clients[:40]:
        on = await console.browser.http.get(
            "/console/access/explain",
            params={
                "principal": asked["principal"][0],
                "coordinate": "Client.firstName",
                "action": "read",
                "record": client,
            },
        )
        assert on.status_code == 200, on.text
        assert "on this record?" in on.text
        decided = re.search(r"<dt>Decided by</dt><dd><code>([A-Z_]+)</code>", on.text)
        assert decided
        verdicts.add(decided.group(1))
        if decided.group(1) == "OUTSIDE_ROW_SCOPE":
            assert "Not allowed." in on.text and "none of them" in on.text
        if len(verdicts) == 2:
            break
    assert verdicts == {"AGREEMENT", "OUTSIDE_ROW_SCOPE"}


async def test_bad_questions_are_clear_problems(console: Portal) -> None:
    unknown = await console.browser.http.get(
        "/console/access/explain",
        params={"principal": PANTRY, "coordinate": "Client.shoeSize", "action": "read"},
    )
    assert unknown.status_code == 400
    assert "UNKNOWN_COORDINATE" in unknown.text and "BAD_USER_INPUT" in unknown.text
    wrong_type = await console.browser.http.get(
        "/console/access/explain",
        params={
            "principal": PANTRY,
            "coordinate": "ContactRecord.startedAt",
            "record": to_global_id("Client", demo_id("client", "nobody")),
        },
    )
    assert wrong_type.status_code == 400 and "BAD_ID" in wrong_type.text
    # another tenant's principal does not exist for Prairie's admin
    other = await console.browser.http.get(f"/console/access?principal={LAKESIDE_ADMIN}")
    assert other.status_code == 404 and "NOT_FOUND" in other.text
    assert "lakeside-admin" not in other.text.split("<main", 1)[1]
    assert 'id="principal"' in other.text  # the picker stays, to choose another
    garbage = await console.browser.http.get("/console/access?principal=not-an-id")
    assert garbage.status_code == 400 and "BAD_USER_INPUT" in garbage.text
    assert 'id="principal"' in garbage.text


@pytest.mark.parametrize("who", ["eastside-portal", "prairie-call-taker"])
async def test_non_admins_are_refused(seeded_db: Database, who: str) -> None:
    await set_password(seeded_db, who)
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        await p.browser.sign_in(who)
        for path, params in (
            ("/console/access", {}),
            ("/console/access", {"principal": PANTRY}),
            (
                "/console/access/explain",
                {"principal": PANTRY, "coordinate": "Client.phone"},
            ),
        ):
            page = await p.browser.http.get(path, params=params)
            assert page.status_code in (403, 404), (path, page.text)
            main = page.text.split("<main", 1)[1]
            assert 'class="problem"' in main
            assert "eastside-portal" not in main.split("</div>", 1)[1] or who == "eastside-portal"
            assert 'class="yes"' not in main and "Allowed." not in main
