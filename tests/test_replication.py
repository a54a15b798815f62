"""Replication into an external SQL database (README, "Replication"): the target holds exactly
what the principal may read, survives a crash mid-run, and loses records leaving the scope."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sharegraph.datastore.engine import Database
from sharegraph.demo import demo_id
from sharegraph.exporters.replication.run import Replicator
from sharegraph.exporters.replication.target import Target
from sharegraph.graph.relay import from_global_id

from .conftest import Api, DatabaseFactory, make_api

PANTRY = demo_id("principal", "eastside-portal")
ADMIN = demo_id("principal", "prairie-admin")

RECORDS = """
query($after: String) {
  contactRecords(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id narrative callerCounty
      client { uuid lastName }
      referrals { uuid status outcomes { uuid code } } } }
  }
}
"""
PANTRY_RECORDS = "{ referrals(first: 100) { edges { node { contactRecord { id startedAt } } } } }"


async def _target_url(databases: DatabaseFactory, backend: str, tmp_path: Path) -> str:
    """A second database of the same backend: a SQLite file (sync driver) or PostgreSQL."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'target.db'}"
    db = await databases.create("postgresql")
    await db.dispose()
    return db.url


async def _target_rows(url: str) -> dict[str, dict[str, Any]]:
    target = Target(url)
    try:
        rows = await target.run(
            lambda c: c.execute(text("SELECT * FROM contact_record")).mappings().all()
        )
    finally:
        await target.dispose()
    return {row["id"]: dict(row) for row in rows}


async def _readable(api: Api, principal: str) -> dict[str, dict[str, Any]]:
    """The contact records a GraphQL query gives ``principal``, by UUID text."""
    found: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        body = await api.gql(principal, RECORDS, {"after": after})
        if "errors" in body and body.get("data") is None:
            break
        page = body["data"]["contactRecords"]
        for edge in page["edges"]:
            found[str(from_global_id(edge["node"]["id"])[1])] = edge["node"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    return found


async def _replicate(db: Database, url: str, principal: uuid.UUID, **options: Any) -> Any:
    target = Target(url)
    try:
        return await Replicator(db, target, principal, **options).contact_records()
    finally:
        await target.dispose()


async def _assert_target_is_what_a_query_gives(api: Api, url: str, principal: str) -> int:
    readable = await _readable(api, principal)
    rows = await _target_rows(url)
    assert set(rows) == set(readable)
    for record_id, node in readable.items():
        row = rows[record_id]
        assert uuid.UUID(record_id) and len(record_id) == 36 and "-" in record_id
        assert row["narrative"] == node["narrative"], record_id
        assert row["caller_county"] == node["callerCounty"], record_id
    # the related rows: exactly the referrals, outcomes and clients the query reaches
    referrals = await _target_table(url, "referral")
    outcomes = await _target_table(url, "outcome")
    clients = await _target_table(url, "client")
    seen_referrals = {
        r["uuid"]: r for n in readable.values() for r in (n.get("referrals") or []) if r
    }
    seen_outcomes = {
        o["uuid"]: o for r in seen_referrals.values() for o in (r.get("outcomes") or []) if o
    }
    seen_clients = {
        n["client"]["uuid"]: n["client"]
        for n in readable.values()
        if (n.get("client") or {}).get("uuid")
    }
    assert set(referrals) == set(seen_referrals)
    for referral_id, found in seen_referrals.items():
        assert (referrals[referral_id]["status"] or "").upper().replace("-", "_") == (
            found["status"] or ""
        )
    assert set(outcomes) == set(seen_outcomes)
    assert set(clients) >= set(seen_clients)
    for client_id, found in seen_clients.items():
        assert clients[client_id]["last_name"] == found["lastName"]
    return len(rows)


@pytest.mark.parametrize("principal", ["eastside-portal", "prairie-admin"])
async def test_the_target_holds_exactly_what_the_principal_may_read(
    seeded_db: Database,
    keys: dict[str, str],
    databases: DatabaseFactory,
    backend: str,
    tmp_path: Path,
    principal: str,
) -> None:
    url = await _target_url(databases, backend, tmp_path)
    first = await _replicate(seeded_db, url, demo_id("principal", principal), page_size=50)
    assert first.full and first.rows_written > 0
    async for api in make_api(seeded_db, keys):
        count = await _assert_target_is_what_a_query_gives(api, url, principal)
    assert count < first.rows_written  # with the clients, referrals and outcomes
    rows = await _target_rows(url)
    if principal == "eastside-portal":
        # the pantry reads no narrative: NULL in every row, never the text
        assert all(r["narrative"] is None for r in rows.values())
        assert count < 200
    else:
        assert any(r["narrative"] for r in rows.values())
    # A rerun with nothing new is an incremental pass that changes nothing.
    again = await _replicate(seeded_db, url, demo_id("principal", principal))
    assert not again.full and again.rows_written == 0 and again.events == 0
    assert await _target_rows(url) == rows


class Crash(Exception):
    pass


async def test_a_crash_mid_run_then_a_rerun_gives_the_same_result(
    seeded_db: Database,
    keys: dict[str, str],
    databases: DatabaseFactory,
    backend: str,
    tmp_path: Path,
) -> None:
    url = await _target_url(databases, backend, tmp_path)

    def crash_after_three(pages: int) -> None:
        if pages == 3:
            raise Crash

    with pytest.raises(Crash):
        await _replicate(seeded_db, url, ADMIN, page_size=20, after_page=crash_after_three)
    assert len(await _target_rows(url)) == 60  # half-written: three pages of 20
    rerun = await _replicate(seeded_db, url, ADMIN, page_size=20)
    # no checkpoint yet: the first copy goes on after its third page, not from the start
    assert rerun.full and rerun.complete and rerun.resumed_rows == 60
    async for api in make_api(seeded_db, keys):
        await _assert_target_is_what_a_query_gives(api, url, "prairie-admin")
    (tmp_path / "b").mkdir()
    whole = await _replicate(seeded_db, await _target_url(databases, backend, tmp_path / "b"),
                             ADMIN, page_size=20)  # fmt: skip
    assert rerun.resumed_rows + rerun.rows_written == whole.rows_written
    assert rerun.pages == whole.pages - 3
    # the next pass is incremental: the resumed copy left its checkpoint, no progress row
    again = await _replicate(seeded_db, url, ADMIN)
    assert not again.full and again.rows_written == 0


PRAIRIE = demo_id("tenant", "prairie")
EASTSIDE = demo_id("partner-organization", "eastside")
CREATE_REFERRAL = """
mutation($input: CreateReferralInput!) { createReferral(input: $input) { referral { id } } }
"""
STATUS = """
mutation($input: UpdateReferralStatusInput!) {
  updateReferralStatus(input: $input) { referral { status } }
}
"""


async def _eastside_sal(db: Database) -> uuid.UUID:
    from sqlalchemy import select

    from sharegraph.datastore.models import Organization, Service, ServiceAtLocation

    async with db.read_session() as session:
        found = await session.scalar(
            select(ServiceAtLocation.id)
            .join(Service, Service.id == ServiceAtLocation.service_id)
            .join(Organization, Organization.id == Service.organization_id)
            .where(Organization.partner_organization_id == EASTSIDE)
            .where(Organization.tenant_id == PRAIRIE)
            .order_by(ServiceAtLocation.id)
            .limit(1)
        )
    assert found is not None
    return found


async def test_a_referral_entered_in_error_takes_the_record_out_of_the_pantrys_target(
    seeded_db: Database,
    keys: dict[str, str],
    databases: DatabaseFactory,
    backend: str,
    tmp_path: Path,
) -> None:
    from sqlalchemy import select

    from sharegraph.datastore.models import ContactRecord
    from sharegraph.graph.relay import to_global_id

    url = await _target_url(databases, backend, tmp_path)
    await _replicate(seeded_db, url, PANTRY)
    before = await _target_rows(url)
    async with seeded_db.read_session() as session:
        ids = (
            await session.scalars(
                select(ContactRecord.id).where(ContactRecord.tenant_id == PRAIRIE)
            )
        ).all()
    record = next(i for i in ids if str(i) not in before)  # not the pantry's yet
    async for api in make_api(seeded_db, keys):
        variables = {
            "input": {
                "contactRecordId": to_global_id("ContactRecord", record),
                "serviceAtLocationId": to_global_id(
                    "ServiceAtLocation", await _eastside_sal(seeded_db)
                ),
            }
        }
        created = await api.data("prairie-call-taker", CREATE_REFERRAL, variables)
        referral = created["createReferral"]["referral"]["id"]
        added = await _replicate(seeded_db, url, PANTRY)
        assert not added.full and added.events >= 1
        assert str(record) in await _target_rows(url)
        await _assert_target_is_what_a_query_gives(api, url, "eastside-portal")
        status = {"id": referral, "version": 1, "status": "ENTERED_IN_ERROR"}
        await api.data("prairie-call-taker", STATUS, {"input": status})
        removed = await _replicate(seeded_db, url, PANTRY)
        assert not removed.full and removed.rows_deleted >= 1
        assert str(record) not in await _target_rows(url)
        await _assert_target_is_what_a_query_gives(api, url, "eastside-portal")


REVOKE = "mutation($id: ID!) { revokeSharingAgreement(id: $id) { agreement { revokedAt } } }"


async def test_a_revoked_agreement_removes_the_rows_after_a_pass(
    seeded_db: Database,
    keys: dict[str, str],
    databases: DatabaseFactory,
    backend: str,
    tmp_path: Path,
) -> None:
    url = await _target_url(databases, backend, tmp_path)
    await _replicate(seeded_db, url, PANTRY)
    before = await _target_rows(url)
    assert before
    async for api in make_api(seeded_db, keys):
        agreements = (await api.data("prairie-admin", "{ sharingAgreements { id name } }"))[
            "sharingAgreements"
        ]
        revoked = next(a["id"] for a in agreements if a["name"] == "Referrals to eastside")
        await api.data("prairie-admin", REVOKE, {"id": revoked})
        after = await _replicate(seeded_db, url, PANTRY)
        assert after.full  # the sharing rules changed: everything is checked again
        rows = await _target_rows(url)
        assert len(rows) < len(before) and after.rows_deleted >= len(before) - len(rows)
        await _assert_target_is_what_a_query_gives(api, url, "eastside-portal")


async def test_another_principal_may_not_reuse_a_target(
    seeded_db: Database, databases: DatabaseFactory, backend: str, tmp_path: Path
) -> None:
    from sharegraph.errors import BadUserInput

    url = await _target_url(databases, backend, tmp_path)
    await _replicate(seeded_db, url, ADMIN)
    with pytest.raises(BadUserInput) as refused:
        await _replicate(seeded_db, url, PANTRY)
    assert refused.value.reason == "TARGET_OF_ANOTHER_PRINCIPAL"


async def test_another_principal_may_not_join_a_first_copy_under_way(
    seeded_db: Database, databases: DatabaseFactory, backend: str, tmp_path: Path
) -> None:
    """A first copy that stopped mid-way has rows and progress but no checkpoint yet: another
    principal's pass into the same target would mix its rows with the first's (and sweep
    them), so it is refused like a target with another principal's checkpoint."""
    from sharegraph.errors import BadUserInput

    url = await _target_url(databases, backend, tmp_path)

    def crash(pages: int) -> None:
        if pages == 1:
            raise Crash

    with pytest.raises(Crash):
        await _replicate(seeded_db, url, ADMIN, page_size=20, after_page=crash)
    before = await _target_rows(url)
    assert len(before) == 20
    with pytest.raises(BadUserInput) as refused:
        await _replicate(seeded_db, url, PANTRY, page_size=20)
    assert refused.value.reason == "TARGET_OF_ANOTHER_PRINCIPAL"
    assert await _target_rows(url) == before
    resumed = await _replicate(seeded_db, url, ADMIN, page_size=20)
    assert resumed.complete and resumed.resumed_rows == 20


@pytest.mark.sqlite_only
def test_cli_one_pass_with_json_and_a_clear_error_for_a_bad_target(
    seeded_db: Database, tmp_path: Path, backend: str
) -> None:
    from typer.testing import CliRunner

    from sharegraph.cli.main import app

    if backend != "sqlite":
        pytest.skip("the CLI is the same on both backends")
    runner = CliRunner()
    base = ["replicate", "--database", seeded_db.url, "--as", "eastside-portal"]
    to = ["--to", f"sqlite:///{tmp_path / 't.db'}"]
    ok = runner.invoke(app, [*base, *to, "--what", "all", "--json"])
    assert ok.exit_code == 0, ok.output
    reports = [json.loads(line) for line in ok.stdout.strip().splitlines()]
    assert [r["what"] for r in reports] == ["contact-records", "resources"]
    report = reports[0]
    assert report["mode"] == "full" and report["rowsWritten"] > 0
    assert {"lagSeconds", "rowsPerSecond", "cursor"} <= set(report)
    for bad in ("nonsense://x", "not a url", "postgresql+asyncpg://nobody@127.0.0.1:1/none",
                f"sqlite:///{tmp_path / 'missing-folder' / 't.db'}"):  # fmt: skip
        failed = runner.invoke(app, [*base, "--to", bad])
        assert failed.exit_code == 1, (bad, failed.output)
        assert "error" in failed.output and "Traceback" not in failed.output, failed.output


STATUS_QUERY = """
{ replicationStatus { principalName what target mode rowsWritten rowsPerSecond lagSeconds
  lagSecondsAtPass events policyVersion } }
"""


async def test_replication_status_shows_lag_and_rate_to_whom_it_concerns(
    seeded_db: Database,
    keys: dict[str, str],
    databases: DatabaseFactory,
    backend: str,
    tmp_path: Path,
) -> None:
    url = await _target_url(databases, backend, tmp_path)
    first = await _replicate(seeded_db, url, ADMIN)
    async for api in make_api(seeded_db, keys):
        mine = (await api.data("prairie-admin", STATUS_QUERY))["replicationStatus"]
        assert len(mine) == 1
        assert mine[0]["mode"] == "full" and mine[0]["rowsWritten"] == first.rows_written
        assert mine[0]["rowsPerSecond"] > 0 and mine[0]["lagSeconds"] == 0
        assert "password" not in mine[0]["target"]
        # another tenant's admin and a partner see nothing of Prairie's target
        assert (await api.data("lakeside-admin", STATUS_QUERY))["replicationStatus"] == []
        assert (await api.data("eastside-portal", STATUS_QUERY))["replicationStatus"] == []
        # a write makes the target lag until the next pass
        records = await api.data(
            "prairie-admin", "{ contactRecords(first: 1) { edges { node { id version } } } }"
        )
        node = records["contactRecords"]["edges"][0]["node"]
        update = "mutation($input: UpdateContactRecordInput!) { updateContactRecord(input: $input) { contactRecord { id } } }"
        await api.data(
            "prairie-admin",
            update,
            {"input": {"id": node["id"], "version": node["version"], "narrative": "called back"}},
        )
        behind = (await api.data("prairie-admin", STATUS_QUERY))["replicationStatus"][0]
        assert behind["lagSeconds"] > 0
        await _replicate(seeded_db, url, ADMIN)
        now = (await api.data("prairie-admin", STATUS_QUERY))["replicationStatus"][0]
        assert now["mode"] == "incremental" and now["events"] == 1 and now["lagSeconds"] == 0
        assert now["rowsWritten"] == 1
    rows = await _target_rows(url)
    assert rows[str(from_global_id(node["id"])[1])]["narrative"] == "called back"


SALS = """
query($after: String) {
  serviceAtLocations(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id service { id name } location { id name } } }
  }
}
"""


async def _target_table(url: str, table: str) -> dict[str, dict[str, Any]]:
    target = Target(url)
    try:
        rows = await target.run(
            lambda c: c.execute(text(f"SELECT * FROM {table}")).mappings().all()
        )
    finally:
        await target.dispose()
    return {row["id"]: dict(row) for row in rows}


@pytest.mark.parametrize("principal", ["eastside-portal", "prairie-admin"])
async def test_resources_land_in_hsds_tables_as_the_principal_reads_them(
    seeded_db: Database,
    keys: dict[str, str],
    databases: DatabaseFactory,
    backend: str,
    tmp_path: Path,
    principal: str,
) -> None:
    url = await _target_url(databases, backend, tmp_path)
    target = Target(url)
    try:
        replicator = Replicator(seeded_db, target, demo_id("principal", principal), page_size=7)
        first = await replicator.resources()
        again = await replicator.resources()
    finally:
        await target.dispose()
    assert first.full and first.rows_written > 0
    assert not again.full and again.rows_written == 0
    sals = await _target_table(url, "service_at_location")
    services = await _target_table(url, "service")
    locations = await _target_table(url, "location")
    async for api in make_api(seeded_db, keys):
        readable: dict[str, dict[str, Any]] = {}
        after = None
        while True:
            page = (await api.data(principal, SALS, {"after": after}))["serviceAtLocations"]
            for edge in page["edges"]:
                readable[str(from_global_id(edge["node"]["id"])[1])] = edge["node"]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    assert readable and set(sals) == set(readable)
    for sal_id, node in readable.items():
        service_id = str(from_global_id(node["service"]["id"])[1])
        location_id = str(from_global_id(node["location"]["id"])[1])
        assert sals[sal_id]["service_id"] == service_id
        assert sals[sal_id]["location_id"] == location_id
        assert services[service_id]["name"] == node["service"]["name"]
        assert locations[location_id]["name"] == node["location"]["name"]
    assert await _target_table(url, "organization")
    assert await _target_table(url, "address")


async def test_kill_9_mid_first_copy_then_a_rerun_continues_where_it_stopped(
    seeded_db: Database,
    keys: dict[str, str],
    databases: DatabaseFactory,
    tmp_path: Path,
    backend: str,
) -> None:
    import asyncio
    import signal
    import sys
    import time

    url = await _target_url(databases, backend, tmp_path)
    command = [
        "-m", "sharegraph.cli", "replicate", "--database", seeded_db.url,
        "--to", url, "--as", "prairie-admin",
    ]  # fmt: skip
    child = await asyncio.create_subprocess_exec(
        sys.executable, *command, "--page-size", "2",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    killed = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and child.returncode is None:
            try:
                count = len(await _target_rows(url))
            except Exception:  # not created yet, or locked by the writer
                count = 0
            if count >= 20:
                child.send_signal(signal.SIGKILL)
                killed = True
                break
            await asyncio.sleep(0.02)
    finally:
        if child.returncode is None and not killed:
            child.kill()
        await child.wait()
    assert killed, "the pass ended before it could be killed"
    assert child.returncode == -signal.SIGKILL
    copied = len(await _target_rows(url))
    assert 20 <= copied < 200  # half-written
    rerun = await asyncio.create_subprocess_exec(
        sys.executable, *command, "--json", "--page-size", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await rerun.communicate()
    assert rerun.returncode == 0, err
    report = json.loads(out)
    assert report["mode"] == "full" and report["complete"]  # no checkpoint yet: a first copy
    async for api in make_api(seeded_db, keys):
        await _assert_target_is_what_a_query_gives(api, url, "prairie-admin")
    # ... that went on after the last page the killed process committed: the pages it had
    # written were not copied again (a whole first copy writes the sum of the two runs)
    assert report["resumedRows"] >= copied
    whole = await _replicate(seeded_db, f"sqlite:///{tmp_path / 'whole.db'}", ADMIN, page_size=2)
    assert report["resumedRows"] + report["rowsWritten"] == whole.rows_written
    assert 0 < report["pages"] < whole.pages


async def test_a_crash_in_an_incremental_pass_then_a_rerun_gives_the_same_result(
    seeded_db: Database,
    keys: dict[str, str],
    databases: DatabaseFactory,
    backend: str,
    tmp_path: Path,
) -> None:
    url = await _target_url(databases, backend, tmp_path)
    await _replicate(seeded_db, url, ADMIN)
    update = "mutation($input: UpdateContactRecordInput!) { updateContactRecord(input: $input) { contactRecord { id } } }"
    async for api in make_api(seeded_db, keys):
        listed = await api.data(
            "prairie-admin", "{ contactRecords(first: 3) { edges { node { id version } } } }"
        )
        for i, edge in enumerate(listed["contactRecords"]["edges"]):
            node = edge["node"]
            change = {"id": node["id"], "version": node["version"], "narrative": f"changed {i}"}
            await api.data("prairie-admin", update, {"input": change})

        def crash(pages: int) -> None:
            raise Crash

        with pytest.raises(Crash):  # the page is written with its checkpoint, then it dies
            await _replicate(seeded_db, url, ADMIN, after_page=crash)
        rerun = await _replicate(seeded_db, url, ADMIN)
        assert not rerun.full
        await _assert_target_is_what_a_query_gives(api, url, "prairie-admin")
        rows = await _target_rows(url)
        assert sorted(
            r["narrative"] for r in rows.values() if (r["narrative"] or "").startswith("changed")
        ) == ["changed 0", "changed 1", "changed 2"]


async def test_follow_keeps_the_target_in_sync(
    seeded_db: Database, keys: dict[str, str], tmp_path: Path, backend: str
) -> None:
    import asyncio
    import signal
    import sys
    import time

    url = f"sqlite:///{tmp_path / 'followed.db'}"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sharegraph.cli", "replicate", "--database", seeded_db.url,
        "--to", url, "--as", "prairie-admin", "--follow", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        first = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))
        assert first["mode"] == "full"
        update = "mutation($input: UpdateContactRecordInput!) { updateContactRecord(input: $input) { contactRecord { id } } }"
        async for api in make_api(seeded_db, keys):
            listed = await api.data(
                "prairie-admin", "{ contactRecords(first: 1) { edges { node { id version } } } }"
            )
            node = listed["contactRecords"]["edges"][0]["node"]
            change = {"id": node["id"], "version": node["version"], "narrative": "followed"}
            await api.data("prairie-admin", update, {"input": change})
        record = str(from_global_id(node["id"])[1])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (await _target_rows(url))[record]["narrative"] == "followed":
                break
            await asyncio.sleep(0.1)
        assert (await _target_rows(url))[record]["narrative"] == "followed"
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.kill()
            await child.wait()


async def test_a_deleted_directory_record_leaves_the_target(
    seeded_db: Database,
    keys: dict[str, str],
    databases: DatabaseFactory,
    backend: str,
    tmp_path: Path,
) -> None:
    from sqlalchemy import select

    from sharegraph.datastore.models import Phone
    from sharegraph.graph.relay import to_global_id

    url = await _target_url(databases, backend, tmp_path)
    target = Target(url)
    try:
        replicator = Replicator(seeded_db, target, ADMIN)
        await replicator.resources()
        phones = await _target_table(url, "phone")
        async with seeded_db.read_session() as session:
            phone = (
                await session.execute(
                    select(Phone.id, Phone.version)
                    .where(Phone.id.in_([uuid.UUID(p) for p in phones]))
                    .order_by(Phone.id)
                    .limit(1)
                )
            ).one()
        async for api in make_api(seeded_db, keys):
            await api.data(
                "prairie-admin",
                "mutation($input: DeletePhoneInput!) { deletePhone(input: $input) { deletedId } }",
                {"input": {"id": to_global_id("Phone", phone.id), "version": phone.version}},
            )
        after = await replicator.resources()
        assert after.full and after.events >= 1 and after.rows_deleted >= 1
        assert str(phone.id) not in await _target_table(url, "phone")
        assert set(await _target_table(url, "phone")) == set(phones) - {str(phone.id)}
    finally:
        await target.dispose()


async def test_an_error_of_the_target_never_carries_the_rows_it_was_writing(
    seeded_db: Database, databases: DatabaseFactory, backend: str, tmp_path: Path
) -> None:
    """A target whose table has another shape: the error (logged, reported by the scheduler,
    printed by ``sharegraph replicate``) names the statement, never the rows' values."""
    url = await _target_url(databases, backend, tmp_path)
    target = Target(url)
    try:
        await target.run(
            lambda c: c.execute(text("CREATE TABLE contact_record (id VARCHAR(36) PRIMARY KEY)"))
        )
    finally:
        await target.dispose()
    with pytest.raises(Exception) as failed:  # whichever the driver raises
        await _replicate(seeded_db, url, ADMIN, page_size=20)
    shown = str(failed.value)
    assert "contact_record" in shown and "Prairie 211" not in shown
    assert "parameters hidden" in shown or "[parameters" not in shown
