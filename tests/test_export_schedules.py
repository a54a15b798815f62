"""Scheduled deliveries: tenant admins schedule exports (cron on their wall clock) to a folder or
a partner's SFTP server; the scheduler delivers each due time once, as the schedule's principal
may export then, retries with growing delays, and keeps a history with a clear failure record.
The "211 Counts" feed sends yesterday's records on chosen forms, and on the 1st the month before.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from sharegraph.datastore import cron
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import Channel
from sharegraph.datastore.models import (
    AuditEvent,
    ContactFormVersion,
    ContactRecord,
    ExportRun,
    ExportSchedule,
    SharingAgreement,
)
from sharegraph.datastore.policy_version import bump
from sharegraph.datastore.secrets import SecretBox
from sharegraph.demo import demo_id
from sharegraph.errors import BadUserInput
from sharegraph.exporters.deliveries import export_deliveries_work
from sharegraph.exporters.destinations import directory_target
from sharegraph.exporters.feeds import parts
from sharegraph.exporters.run import Format, What
from sharegraph.exporters.specs import ExportSpec, Feed
from sharegraph.graph.relay import to_global_id
from sharegraph.settings import ExchangeSettings, Settings
from sharegraph.worker import Scheduler

from .conftest import Api, make_api
from .sftp_server import PASSWORD, USERNAME, SftpServer, free_port
from .test_export_jobs import REPORTING, _add_reporter

PRAIRIE = demo_id("tenant", "prairie")
LAKESIDE = demo_id("tenant", "lakeside")
PRAIRIE_ID = to_global_id("Tenant", PRAIRIE)
STANDARD_FORM = demo_id("contact-form", "prairie-standard")
AFTER_HOURS_FORM = demo_id("contact-form", "prairie-after-hours")
CHICAGO = "America/Chicago"
PRAIRIE_API = to_global_id("Principal", demo_id("principal", "prairie-api"))

SCHEDULE_FIELDS = """
  id uuid name version cron active nextRunAt feed purpose maxAttempts runAsId
  filters { tenantIds formIds }
  destination { kind path host port username remoteDir hostKey auth hasSecret }
"""
CREATE = f"""
mutation($input: ExportScheduleInput!) {{
  createExportSchedule(input: $input) {{ exportSchedule {{ {SCHEDULE_FIELDS} }} }}
}}"""
UPDATE = f"""
mutation($id: ID!, $version: Int!, $input: ExportScheduleInput!) {{
  updateExportSchedule(id: $id, version: $version, input: $input) {{
    exportSchedule {{ {SCHEDULE_FIELDS} }}
  }}
}}"""
DEACTIVATE = """
mutation($id: ID!, $version: Int!) {
  deactivateExportSchedule(id: $id, version: $version) { exportSchedule { active nextRunAt } }
}"""
RUN_NOW = """
mutation($id: ID!) { runExportScheduleNow(id: $id) { run { id status scheduledFor } } }"""
RUNS = """
query($id: ID!) {
  exportSchedule(id: $id) {
    runs {
      totalCount
      edges { node { status attempts rowCount fileNames error scheduledFor nextAttemptAt } }
    }
  }
}"""


@dataclass
class World:
    api: Api
    db: Database
    settings: ExchangeSettings
    scheduler: Scheduler
    reporter_key: str

    @property
    def tenant_folder(self) -> Path:
        assert self.settings.delivery_root is not None
        return self.settings.delivery_root / str(PRAIRIE)

    async def create(self, principal: str = "prairie-admin", **input: Any) -> dict[str, Any]:
        body: dict[str, Any] = await self.api.gql(principal, CREATE, {"input": input})
        return body

    async def created(self, principal: str = "prairie-admin", **input: Any) -> dict[str, Any]:
        body = await self.create(principal, **input)
        assert "errors" not in body, body["errors"]
        schedule: dict[str, Any] = body["data"]["createExportSchedule"]["exportSchedule"]
        return schedule

    async def runs(self, schedule: dict[str, Any], principal: str = "prairie-admin") -> list[Any]:
        data = await self.api.data(principal, RUNS, {"id": schedule["id"]})
        return [e["node"] for e in data["exportSchedule"]["runs"]["edges"]]

    async def due_at(self, schedule: dict[str, Any], when: datetime) -> None:
        async with self.db.write_session() as session:
            row = await session.get(ExportSchedule, uuid.UUID(schedule["uuid"]))
            assert row is not None
            row.next_run_at = when

    async def run(self, now: datetime, scheduler: Scheduler | None = None) -> Any:
        report = await (scheduler or self.scheduler).run_once(now)
        return report.kind("export-deliveries")


def exchange_settings(tmp_path: Path, **overrides: Any) -> ExchangeSettings:
    settings = ExchangeSettings(
        export_dir=tmp_path / "exports",
        delivery_root=tmp_path / "deliveries",
        allow_private_hosts=True,
        secret_key=Fernet.generate_key().decode(),
        sftp_timeout_seconds=5.0,
    )
    return replace(settings, **overrides)


@pytest.fixture
async def world(seeded_db: Database, keys: dict[str, str], tmp_path: Path) -> AsyncIterator[World]:
    reporter_key = await _add_reporter(seeded_db)
    exchange = exchange_settings(tmp_path)
    settings = Settings(database_url=seeded_db.url, exchange=exchange)
    scheduler = Scheduler(seeded_db, [export_deliveries_work(exchange)])
    async for api in make_api(seeded_db, {**keys, "reporter": reporter_key}, settings):
        yield World(api, seeded_db, exchange, scheduler, reporter_key)


@pytest.fixture
async def sftp(tmp_path: Path) -> AsyncIterator[SftpServer]:
    root = tmp_path / "sftp-root"
    (root / "incoming").mkdir(parents=True)
    server = SftpServer(root)
    await server.start()
    yield server
    await server.stop()


def directory(path: str = "partner/daily") -> dict[str, Any]:
    return {"kind": "DIRECTORY", "path": path}


def sftp_destination(server: SftpServer, port: int | None = None, **auth: Any) -> dict[str, Any]:
    return {
        "kind": "SFTP",
        "host": "127.0.0.1",
        "port": port or server.port,
        "username": USERNAME,
        "remoteDir": "incoming",
        "hostKey": server.host_key_line,
        **(auth or {"auth": "PASSWORD", "password": PASSWORD}),
    }


def schedule_input(destination: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Nightly contact records",
        "what": "CONTACT_RECORDS",
        "format": "CSV",
        "cron": "0 6 * * *",
        "runAsId": PRAIRIE_API,
        "filters": {"tenantIds": [PRAIRIE_ID]},
        "purpose": "partner reporting",
        "destination": destination,
        **overrides,
    }


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


async def _prairie_record_ids(db: Database) -> set[str]:
    async with db.read_session() as session:
        found = await session.scalars(
            select(ContactRecord.id).where(ContactRecord.tenant_id == PRAIRIE)
        )
        return {str(i) for i in found.all()}


def _error(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" in body, body
    extensions: dict[str, Any] = body["errors"][0]["extensions"]
    return extensions


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# -- cron on the tenant's wall clock --------------------------------------------------------------


def test_cron_times_are_the_tenants_wall_clock_through_daylight_saving() -> None:
    # 06:00 in Chicago is 12:00 UTC in winter and 11:00 UTC in summer.
    assert cron.following("0 6 * * *", CHICAGO, _t("2030-03-09T13:00Z")) == _t("2030-03-10T11:00Z")
    assert cron.following("0 6 * * *", CHICAGO, _t("2030-03-08T13:00Z")) == _t("2030-03-09T12:00Z")
    # 02:30 does not exist on 10 March 2030: that day's run comes when 02:30 would have, 03:30.
    spring = cron.following("30 2 * * *", CHICAGO, _t("2030-03-10T00:00Z"))
    assert spring == _t("2030-03-10T03:30-05:00")
    # 01:30 happens twice on 3 November 2030: one run, the first time.
    fall = cron.following("30 1 * * *", CHICAGO, _t("2030-11-03T00:00Z"))
    assert fall == _t("2030-11-03T01:30-05:00")
    assert cron.following("30 1 * * *", CHICAGO, fall) == _t("2030-11-04T01:30-06:00")
    assert cron.latest("0 6 * * *", CHICAGO, _t("2030-03-12T11:00Z")) == _t("2030-03-12T11:00Z")
    assert cron.latest("0 6 * * *", CHICAGO, _t("2030-03-12T10:59Z")) == _t("2030-03-11T11:00Z")
    assert cron.check(" 0  6 * * MON-FRI ") == "0 6 * * MON-FRI"
    assert cron.check("@Daily") == "@daily"


async def test_a_bad_cron_expression_is_refused_saying_why(world: World) -> None:
    for bad in ("61 * * * *", "0 6 * *", "0 0 30 2 *", "every day", "0 6 * * * 2030"):
        refused = await world.create(**schedule_input(directory(), cron=bad))
        assert _error(refused) == {"code": "BAD_USER_INPUT", "reason": "BAD_CRON"}, bad
    async with world.db.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(ExportSchedule)) == 0


# -- who may schedule what ------------------------------------------------------------------------


async def test_only_the_tenants_admins_schedule_and_only_as_their_own_principals(
    world: World,
) -> None:
    denied = await world.create("prairie-api", **schedule_input(directory()))
    assert _error(denied)["reason"] == "NOT_ADMIN"
    lakeside = to_global_id("Principal", demo_id("principal", "lakeside-api"))
    foreign = await world.create(**schedule_input(directory(), runAsId=lakeside))
    assert _error(foreign)["reason"] == "BAD_RUN_AS"
    call_taker = to_global_id("Principal", demo_id("principal", "prairie-call-taker"))
    powerless = await world.create(**schedule_input(directory(), runAsId=call_taker))
    assert _error(powerless) == {"code": "FORBIDDEN", "reason": "EXPORT_DENIED"}
    created = await world.created(**schedule_input(directory()))
    assert created["runAsId"] == PRAIRIE_API and created["active"] is True
    assert created["destination"] == {
        "kind": "DIRECTORY", "path": "partner/daily", "host": None, "port": None,
        "username": None, "remoteDir": None, "hostKey": None, "auth": None, "hasSecret": False,
    }  # fmt: skip
    taken = await world.create(**schedule_input(directory()))
    assert _error(taken)["reason"] == "NAME_TAKEN"
    other_tenant = await world.api.gql(
        "lakeside-admin", RUNS, {"id": created["id"]}
    )  # not theirs: nothing there
    assert other_tenant["data"]["exportSchedule"] is None


async def test_directories_stay_inside_the_tenants_delivery_folder(
    world: World, tmp_path: Path
) -> None:
    for bad in ("../" + str(LAKESIDE), "/etc", "partner/../../x"):
        refused = await world.create(**schedule_input(directory(bad)))
        assert _error(refused)["reason"] == "PATH_OUTSIDE_ROOT", bad
    world.tenant_folder.mkdir(parents=True)
    (world.tenant_folder / "escape").symlink_to(tmp_path)
    with pytest.raises(BadUserInput) as refused_link:
        directory_target(world.settings, PRAIRIE, "escape/x")
    assert refused_link.value.reason == "PATH_OUTSIDE_ROOT"
    unconfigured = replace(world.settings, delivery_root=None)
    with pytest.raises(BadUserInput) as off:
        directory_target(unconfigured, PRAIRIE, "partner")
    assert off.value.reason == "DELIVERY_ROOT_NOT_CONFIGURED"


async def test_sftp_destinations_are_checked_before_they_are_saved(
    world: World, sftp: SftpServer
) -> None:
    cases = [
        ({"hostKey": "not a key"}, "BAD_HOST_KEY"),
        ({"host": "bad host!"}, "BAD_DESTINATION"),
        ({"port": 70000}, "BAD_DESTINATION"),
        ({"auth": "PRIVATE_KEY", "password": None, "privateKey": "-----BEGIN nonsense"}, "BAD_SECRET"),
        ({"auth": "PASSWORD", "password": PASSWORD, "privateKey": sftp.client_private_key}, "BAD_SECRET"),
        ({"auth": None}, "BAD_DESTINATION"),
    ]  # fmt: skip
    for change, reason in cases:
        destination = {**sftp_destination(sftp), **change}
        refused = await world.create(**schedule_input(destination))
        assert _error(refused)["reason"] == reason, change
    missing_secret = {**sftp_destination(sftp), "password": None}
    assert _error(await world.create(**schedule_input(missing_secret)))["reason"] == "BAD_SECRET"


async def test_sftp_to_private_addresses_is_refused_unless_allowed(world: World) -> None:
    from sharegraph.exporters.destinations import SftpAuth, sftp_target

    strict = replace(world.settings, allow_private_hosts=False)
    hosts = ("127.0.0.1", "10.1.2.3", "192.168.0.9", "169.254.169.254", "::1")
    for host in (*hosts, "::ffff:127.0.0.1", "::ffff:169.254.169.254", "fe80::1", "0.0.0.0"):
        with pytest.raises(BadUserInput) as refused:
            sftp_target(
                strict, host=host, port=22, username="u", remote_dir=".",
                host_key=SftpServer(Path(".")).host_key_line, auth=SftpAuth.PASSWORD,
            )  # fmt: skip
        assert refused.value.reason == "PRIVATE_HOST", host


# -- secrets --------------------------------------------------------------------------------------


async def test_credentials_are_encrypted_at_rest_and_never_returned(
    world: World, sftp: SftpServer
) -> None:
    body = await world.create(**schedule_input(sftp_destination(sftp)))
    assert PASSWORD not in json.dumps(body)
    schedule = body["data"]["createExportSchedule"]["exportSchedule"]
    assert schedule["destination"]["hasSecret"] is True
    assert schedule["destination"]["auth"] == "PASSWORD"
    assert schedule["destination"]["hostKey"] == sftp.host_key_line

    async with world.db.read_session() as session:
        row = await session.get(ExportSchedule, uuid.UUID(schedule["uuid"]))
        audit = (await session.scalars(select(AuditEvent))).all()
    assert row is not None and row.secret_encrypted is not None
    assert PASSWORD not in row.secret_encrypted and PASSWORD not in json.dumps(row.destination)
    box = SecretBox(world.settings.secret_key)
    assert box.open(row.id, row.secret_encrypted) == {"password": PASSWORD}
    assert not any(PASSWORD in json.dumps(a.detail or {}) for a in audit)
    created = [a for a in audit if a.action == "export.schedule.create"]
    assert len(created) == 1 and created[0].principal_id == demo_id("principal", "prairie-admin")
    # the ciphertext belongs to this schedule: copied onto another, it is refused
    with pytest.raises(Exception, match="belong to another record"):
        box.open(uuid.uuid4(), row.secret_encrypted)

    # Left out on update, the stored credentials stay; another way of signing in needs its own.
    keep = {**sftp_destination(sftp), "password": None}
    updated = await world.api.data(
        "prairie-admin",
        UPDATE,
        {"id": schedule["id"], "version": 1, "input": schedule_input(keep, cron="0 7 * * *")},
    )
    assert updated["updateExportSchedule"]["exportSchedule"]["destination"]["hasSecret"] is True
    async with world.db.read_session() as session:
        again = await session.get(ExportSchedule, row.id)
    assert again is not None and again.secret_encrypted == row.secret_encrypted
    switched = {**keep, "auth": "PRIVATE_KEY"}
    refused = await world.api.gql(
        "prairie-admin",
        UPDATE,
        {"id": schedule["id"], "version": 2, "input": schedule_input(switched)},
    )
    assert _error(refused)["reason"] == "BAD_SECRET"
    stale = await world.api.gql(
        "prairie-admin", UPDATE, {"id": schedule["id"], "version": 1, "input": schedule_input(keep)}
    )
    assert _error(stale)["reason"] == "VERSION_MISMATCH"


async def test_without_a_secret_key_credentials_are_not_stored(
    seeded_db: Database, keys: dict[str, str], tmp_path: Path, sftp: SftpServer
) -> None:
    exchange = exchange_settings(tmp_path, secret_key=None)
    settings = Settings(database_url=seeded_db.url, exchange=exchange)
    async for api in make_api(seeded_db, keys, settings):
        refused = await api.gql(
            "prairie-admin", CREATE, {"input": schedule_input(sftp_destination(sftp))}
        )
        assert _error(refused) == {
            "code": "SERVICE_UNAVAILABLE",
            "reason": "SECRET_KEY_NOT_CONFIGURED",
        }
        assert "SHAREGRAPH_SECRET_KEY" in refused["errors"][0]["message"]
        fine = await api.gql("prairie-admin", CREATE, {"input": schedule_input(directory())})
        assert "errors" not in fine


# -- delivering -----------------------------------------------------------------------------------


async def test_a_partners_sftp_server_receives_the_file_whole_by_password(
    world: World, sftp: SftpServer
) -> None:
    schedule = await world.created(**schedule_input(sftp_destination(sftp)))
    due = _t("2030-05-06T11:00Z")  # 06:00 in Chicago
    await world.due_at(schedule, due)
    kind = await world.run(due)
    assert kind.done == 1 and not kind.failures, kind

    name = "nightly-contact-records-2030-05-06T0600.csv"
    rows = _csv((sftp.root / "incoming" / name).read_text(encoding="utf-8"))
    expected = await _prairie_record_ids(world.db)
    assert {r["Record ID"] for r in rows} == expected
    assert [p.name for p in (sftp.root / "incoming").iterdir()] == [name]
    # written under a temporary name, then renamed into place: never readable half-written
    assert sftp.written == [f"incoming/.{name}.partial"]
    assert sftp.renamed == [(f"incoming/.{name}.partial", f"incoming/{name}")]

    [run] = await world.runs(schedule)
    assert run["status"] == "DONE" and run["attempts"] == 1 and run["error"] is None
    assert run["rowCount"] == len(expected) and run["fileNames"] == [name]
    assert _t(run["scheduledFor"]) == due
    async with world.db.read_session() as session:
        row = await session.get(ExportSchedule, uuid.UUID(schedule["uuid"]))
        disclosed = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "disclosure"))
        ).all()
    assert row is not None and row.next_run_at == _t("2030-05-07T11:00Z")
    assert {i for d in disclosed for i in d.record_ids or []} == expected
    assert all(d.detail["channel"] == "schedule" for d in disclosed)
    assert all(d.principal_id == demo_id("principal", "prairie-api") for d in disclosed)
    # The accounting of disclosures names where the records went, never the password.
    where = f"sftp://{USERNAME}@127.0.0.1:{sftp.port}/incoming"
    assert {d.detail["destination"] for d in disclosed} == {where}
    assert all(PASSWORD not in str(d.detail) for d in disclosed)


async def test_a_partners_sftp_server_receives_the_file_by_private_key(
    world: World, sftp: SftpServer
) -> None:
    by_key = sftp_destination(sftp, auth="PRIVATE_KEY", privateKey=sftp.client_private_key)
    schedule = await world.created(
        **schedule_input(by_key, what="RESOURCES", format="NDJSON", name="Directory feed")
    )
    assert schedule["destination"]["auth"] == "PRIVATE_KEY"
    due = _t("2030-05-06T11:00Z")
    await world.due_at(schedule, due)
    assert (await world.run(due)).done == 1
    [run] = await world.runs(schedule)
    lines = (sftp.root / "incoming" / run["fileNames"][0]).read_text().splitlines()
    assert run["rowCount"] == len(lines) > 0
    assert all(json.loads(line)["id"] for line in lines)


async def test_a_server_that_is_down_is_retried_with_growing_delays_then_the_run_fails(
    world: World, sftp: SftpServer
) -> None:
    down = sftp_destination(sftp, port=free_port())
    schedule = await world.created(**schedule_input(down, maxAttempts=3))
    due = _t("2030-05-06T11:00Z")
    await world.due_at(schedule, due)

    first = await world.run(due)
    assert len(first.failures) == 1 and first.done == 0
    [run] = await world.runs(schedule)
    assert run["status"] == "PENDING" and run["attempts"] == 1 and run["error"]
    assert _t(run["nextAttemptAt"]) == due + timedelta(seconds=5)

    assert not (await world.run(due + timedelta(seconds=4))).failures  # backing off
    await world.run(due + timedelta(seconds=5))
    [run] = await world.runs(schedule)
    assert run["attempts"] == 2 and _t(run["nextAttemptAt"]) == due + timedelta(seconds=15)

    await world.run(due + timedelta(seconds=15))
    [run] = await world.runs(schedule)
    assert run["status"] == "FAILED" and run["attempts"] == 3 and run["nextAttemptAt"] is None
    assert "connect" in run["error"].lower() or "refused" in run["error"].lower(), run["error"]
    assert not (await world.run(due + timedelta(hours=2))).failures  # not tried again
    async with world.db.read_session() as session:
        failed = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "export.schedule.failed")
            )
        ).all()
    assert len(failed) == 1 and failed[0].detail["error"] == run["error"]
    assert list((sftp.root / "incoming").iterdir()) == []


async def test_a_server_with_another_host_key_gets_nothing(world: World, sftp: SftpServer) -> None:
    impostor = SftpServer(sftp.root).host_key_line  # not the key this server presents
    destination = {**sftp_destination(sftp), "hostKey": impostor}
    schedule = await world.created(**schedule_input(destination, maxAttempts=1))
    due = _t("2030-05-06T11:00Z")
    await world.due_at(schedule, due)
    assert len((await world.run(due)).failures) == 1
    [run] = await world.runs(schedule)
    assert run["status"] == "FAILED" and "host key" in run["error"].lower(), run["error"]
    assert sftp.written == [] and list((sftp.root / "incoming").iterdir()) == []


async def test_two_workers_deliver_each_due_time_exactly_once(
    world: World, sftp: SftpServer
) -> None:
    schedule = await world.created(**schedule_input(sftp_destination(sftp)))
    second_db = Database(world.db.url)  # another process's engine and pool
    try:
        other = Scheduler(second_db, [export_deliveries_work(world.settings)])
        due = _t("2030-05-06T11:00Z")
        await world.due_at(schedule, due)
        for _ in range(3):
            kinds = await asyncio.gather(world.run(due), world.run(due, other))
            assert sum(k.done for k in kinds) == 1 and not any(k.failures for k in kinds)
            due = cron.following("0 6 * * *", CHICAGO, due)
    finally:
        await second_db.dispose()
    runs = await world.runs(schedule)
    assert len(runs) == 3 and {r["status"] for r in runs} == {"DONE"}
    assert len(sftp.renamed) == 3 == len({new for _old, new in sftp.renamed})
    assert len(sftp.written) == 3


async def test_a_worker_that_died_mid_delivery_is_taken_over_after_its_lease(
    world: World,
) -> None:
    schedule = await world.created(**schedule_input(directory()))
    due = _t("2030-05-06T11:00Z")
    await world.due_at(schedule, due)
    async with world.db.write_session() as session:  # as if a worker claimed it and died
        session.add(
            ExportRun(
                tenant_id=PRAIRIE, schedule_id=uuid.UUID(schedule["uuid"]), scheduled_for=due,
                status="running", attempts=1, lease_until=due + timedelta(minutes=30),
            )
        )  # fmt: skip
    assert (await world.run(due + timedelta(minutes=29))).done == 0
    assert (await world.run(due + timedelta(minutes=30))).done == 1
    [run] = await world.runs(schedule)
    assert run["status"] == "DONE" and run["attempts"] == 2


# -- plans at run time ----------------------------------------------------------------------------


async def test_a_run_exports_exactly_what_its_principal_may_then(world: World) -> None:
    reporter = await world.api.data("reporter", "{ viewer { id } }")
    schedule = await world.created(
        "reporter",
        **schedule_input(directory("prairie"), runAsId=reporter["viewer"]["id"]),
    )
    due = _t("2030-05-06T11:00Z")
    await world.due_at(schedule, due)
    assert (await world.run(due)).done == 1
    [run] = await world.runs(schedule, "reporter")
    assert world.settings.delivery_root is not None
    folders = list(world.settings.delivery_root.iterdir())
    assert len(folders) == 1 and folders[0].name != str(PRAIRIE)  # the reporter's own folder
    rows = _csv((folders[0] / "prairie" / run["fileNames"][0]).read_text(encoding="utf-8"))
    assert 0 < len(rows) == run["rowCount"] < len(await _prairie_record_ids(world.db))
    assert {"Narrative", "Caller county", "Needs", "Risk level"}.isdisjoint(rows[0])

    async with world.db.write_session() as session:
        agreement = await session.scalar(
            select(SharingAgreement).where(SharingAgreement.name == REPORTING)
        )
        assert agreement is not None
        agreement.revoked_at = datetime.now(UTC)
        await bump(session)
    await world.due_at(schedule, due + timedelta(days=1))
    refused = await world.run(due + timedelta(days=1))
    assert len(refused.failures) == 1
    latest = (await world.runs(schedule, "reporter"))[0]
    assert latest["status"] == "FAILED" and latest["attempts"] == 1  # not retried: refused
    assert "may not export contact-records of these tenants" in latest["error"]


# -- the "211 Counts" feed ------------------------------------------------------------------------


def test_the_daily_feed_covers_yesterday_and_the_1st_also_the_month_before() -> None:
    spec = ExportSpec(What.CONTACT_RECORDS, Format.CSV, feed=Feed.DAILY_COUNTS)
    [day] = parts(spec, _t("2030-03-11T11:00Z"), CHICAGO)  # 11 March, 06:00 CDT
    # 10 March 2030 has 23 hours in Chicago (clocks spring forward at 02:00)
    assert day.label == "2030-03-10"
    assert day.spec.filter.started_after == _t("2030-03-10T06:00Z")
    assert day.spec.filter.started_before == _t("2030-03-11T05:00Z")
    # a run a few minutes after local midnight still covers the day before
    [late] = parts(spec, _t("2030-03-12T05:10Z"), CHICAGO)
    assert late.label == "2030-03-11"

    yesterday, month = parts(spec, _t("2030-04-01T11:00Z"), CHICAGO)
    assert yesterday.label == "2030-03-31" and month.label == "2030-03"
    assert month.spec.filter.started_after == _t("2030-03-01T06:00Z")  # CST
    assert month.spec.filter.started_before == _t("2030-04-01T05:00Z")  # CDT
    [january] = parts(spec, _t("2031-01-01T12:00Z"), CHICAGO)[1:]
    assert january.label == "2030-12"


async def _records(db: Database, form_id: uuid.UUID, *instants: str) -> list[str]:
    async with db.write_session() as session:
        version = await session.scalar(
            select(ContactFormVersion.id).where(ContactFormVersion.form_id == form_id).limit(1)
        )
        rows = [
            ContactRecord(
                id=uuid.uuid4(), tenant_id=PRAIRIE, form_version_id=version,
                channel=Channel.CALL, started_at=_t(at), answers={},
            )
            for at in instants
        ]  # fmt: skip
        session.add_all(rows)
    return [str(r.id) for r in rows]


async def test_daily_counts_sends_yesterdays_records_on_the_chosen_forms(world: World) -> None:
    before, first, last, after = await _records(
        world.db,
        STANDARD_FORM,
        "2030-03-09T23:59-06:00",
        "2030-03-10T00:00-06:00",
        "2030-03-10T23:59-05:00",
        "2030-03-11T00:00-05:00",
    )
    [other_form] = await _records(world.db, AFTER_HOURS_FORM, "2030-03-10T12:00-05:00")
    schedule = await world.created(
        **schedule_input(
            directory("counts"),
            name="211 Counts",
            feed="DAILY_COUNTS",
            filters={"formIds": [str(STANDARD_FORM)], "tenantIds": [PRAIRIE_ID]},
        )
    )
    assert schedule["feed"] == "DAILY_COUNTS"
    due = _t("2030-03-11T06:00-05:00")
    await world.due_at(schedule, due)
    assert (await world.run(due)).done == 1

    [run] = await world.runs(schedule)
    assert run["fileNames"] == ["211-counts-2030-03-10.csv"] and run["rowCount"] == 2
    rows = _csv((world.tenant_folder / "counts" / run["fileNames"][0]).read_text("utf-8"))
    assert {r["Record ID"] for r in rows} == {first, last}
    assert {before, after, other_form}.isdisjoint(r["Record ID"] for r in rows)

    refused = await world.create(
        **schedule_input(directory(), name="No forms", feed="DAILY_COUNTS", filters={})
    )
    assert _error(refused)["reason"] == "BAD_FEED"


async def test_on_the_1st_daily_counts_also_resends_the_whole_previous_month(
    world: World,
) -> None:
    ids = await _records(
        world.db,
        STANDARD_FORM,
        "2030-02-28T23:30-06:00",  # February
        "2030-03-01T00:30-06:00",  # first hour of March
        "2030-03-15T12:00-05:00",
        "2030-03-31T12:00-05:00",  # yesterday
        "2030-04-01T00:30-05:00",  # today
    )
    schedule = await world.created(
        **schedule_input(
            directory("counts"),
            name="211 Counts",
            feed="DAILY_COUNTS",
            filters={"formIds": [str(STANDARD_FORM)], "tenantIds": [PRAIRIE_ID]},
        )
    )
    due = _t("2030-04-01T06:00-05:00")
    await world.due_at(schedule, due)
    assert (await world.run(due)).done == 1
    [run] = await world.runs(schedule)
    assert run["fileNames"] == ["211-counts-2030-03-31.csv", "211-counts-2030-03.csv"]
    folder = world.tenant_folder / "counts"
    day = {r["Record ID"] for r in _csv((folder / run["fileNames"][0]).read_text("utf-8"))}
    month = {r["Record ID"] for r in _csv((folder / run["fileNames"][1]).read_text("utf-8"))}
    assert day == {ids[3]} and month == set(ids[1:4])
    assert run["rowCount"] == 4


async def test_missed_days_are_each_sent_and_a_missed_snapshot_only_once(world: World) -> None:
    feed = await world.created(
        **schedule_input(
            directory("counts"),
            name="211 Counts",
            feed="DAILY_COUNTS",
            filters={"formIds": [str(STANDARD_FORM)]},
        )
    )
    snapshot = await world.created(**schedule_input(directory("snapshots")))
    first = _t("2030-05-06T06:00-05:00")
    for schedule in (feed, snapshot):
        await world.due_at(schedule, first)
    # the workers were down for three days
    await world.run(first + timedelta(days=2, hours=1))
    feed_runs = await world.runs(feed)
    assert [_t(r["scheduledFor"]) for r in feed_runs] == [
        first + timedelta(days=2),
        first + timedelta(days=1),
        first,
    ]
    assert [r["fileNames"] for r in feed_runs] == [
        ["211-counts-2030-05-07.csv"], ["211-counts-2030-05-06.csv"], ["211-counts-2030-05-05.csv"]
    ]  # fmt: skip
    [latest] = await world.runs(snapshot)
    assert _t(latest["scheduledFor"]) == first + timedelta(days=2)


# -- run now, history, stopping -------------------------------------------------------------------


async def test_run_now_then_deactivate_cancels_what_was_not_delivered(world: World) -> None:
    schedule = await world.created(**schedule_input(directory()))
    ran = await world.api.data("prairie-admin", RUN_NOW, {"id": schedule["id"]})
    assert ran["runExportScheduleNow"]["run"]["status"] == "PENDING"
    [pending] = await world.runs(schedule)
    assert pending["status"] == "PENDING"

    stopped = await world.api.data(
        "prairie-admin", DEACTIVATE, {"id": schedule["id"], "version": 1}
    )
    assert stopped["deactivateExportSchedule"]["exportSchedule"] == {
        "active": False,
        "nextRunAt": None,
    }
    [cancelled] = await world.runs(schedule)
    assert cancelled["status"] == "CANCELLED" and "deactivated" in cancelled["error"]
    again = await world.api.gql("prairie-admin", RUN_NOW, {"id": schedule["id"]})
    assert _error(again)["reason"] == "SCHEDULE_INACTIVE"
    assert not (await world.run(datetime.now(UTC) + timedelta(days=2))).done
    listed = await world.api.data("prairie-admin", "{ exportSchedules { name active } }")
    assert listed["exportSchedules"] == [{"name": "Nightly contact records", "active": False}]
    assert (await world.api.data("lakeside-admin", "{ exportSchedules { name } }")) == {
        "exportSchedules": []
    }
