"""Exports through the API: `startExport` queues a job, the scheduler runs it with the plan of
whoever asked (compiled when it runs), and the file downloads from `downloadUrl` with the same
credentials, for that principal only.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import GranteeKind, Sensitivity
from sharegraph.datastore.models import (
    AuditEvent,
    ContactFormVersion,
    ContactRecord,
    ExportJob,
    RoleAssignment,
    SharingAgreement,
)
from sharegraph.datastore.policy_version import bump
from sharegraph.demo import demo_id
from sharegraph.exporters.jobs import export_jobs_work
from sharegraph.graph.relay import to_global_id
from sharegraph.settings import ExchangeSettings, Settings
from sharegraph.worker import Scheduler

from .builders import add_tenant_with_admin
from .conftest import Api, make_api

PRAIRIE = demo_id("tenant", "prairie")
STANDARD_FORM = demo_id("contact-form", "prairie-standard")
PRAIRIE_ID = to_global_id("Tenant", PRAIRIE)
REPORTING = "Standard call reports for regional reporting"

START = """
mutation($input: StartExportInput!) {
  startExport(input: $input) {
    exportJob { id uuid status what format purpose downloadUrl filters { tenantIds formIds } }
  }
}"""
JOB = """
query($id: ID!) {
  exportJob(id: $id) { id uuid status attempts rowCount error downloadUrl expiresAt finishedAt }
}"""
JOBS = "{ exportJobs { totalCount edges { node { id status } } } }"


@dataclass
class World:
    api: Api
    db: Database
    settings: Settings
    scheduler: Scheduler

    async def start(self, principal: str, **input: Any) -> dict[str, Any]:
        body = await self.api.gql(principal, START, {"input": input})
        return body

    async def started(self, principal: str, **input: Any) -> dict[str, Any]:
        body = await self.start(principal, **input)
        assert "errors" not in body, body["errors"]
        job: dict[str, Any] = body["data"]["startExport"]["exportJob"]
        return job

    async def job(self, principal: str, job_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = (await self.api.data(principal, JOB, {"id": job_id}))[
            "exportJob"
        ]
        return found

    async def run(self, now: datetime | None = None) -> Any:
        report = await self.scheduler.run_once(now or utcnow())
        return report.kind("export-jobs")

    async def download(self, principal: str | None, url: str) -> Any:
        headers = {"Authorization": f"Bearer {self.api.keys.get(principal, principal)}"}
        return await self.api.http.get(url, headers=headers if principal else {})


@pytest.fixture
async def world(seeded_db: Database, keys: dict[str, str], tmp_path: Path) -> AsyncIterator[World]:
    reporter_key = await _add_reporter(seeded_db)
    settings = Settings(
        database_url=seeded_db.url, exchange=ExchangeSettings(export_dir=tmp_path / "exports")
    )
    scheduler = Scheduler(seeded_db, [export_jobs_work(settings.exchange)])
    async for api in make_api(seeded_db, {**keys, "reporter": reporter_key}, settings):
        yield World(api, seeded_db, settings, scheduler)


async def _add_reporter(db: Database) -> str:
    """ "Regional Reporting 211", whose admin (``reporter``) Prairie lets export the records on
    its standard form, with a few fields only."""
    tenant_id, key = await add_tenant_with_admin(db, "Regional Reporting 211", "reporter")
    async with db.write_session() as session:
        session.add(
            SharingAgreement(
                tenant_id=PRAIRIE,
                name=REPORTING,
                purpose="regional reporting",
                grantee_kind=GranteeKind.TENANT,
                grantee_tenant_id=tenant_id,
                actions=["export"],
                fields=["ContactRecord.id", "ContactRecord.startedAt", "ContactRecord.channel"],
                answer_sensitivity=Sensitivity.PUBLIC,
                row_scope=f"shared_form:{STANDARD_FORM}",
            )
        )
        await bump(session)
    return key


async def _prairie_record_ids(db: Database, *where: Any) -> set[str]:
    async with db.read_session() as session:
        found = await session.scalars(
            select(ContactRecord.id).where(ContactRecord.tenant_id == PRAIRIE, *where)
        )
        return {str(i) for i in found.all()}


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


# -- the owner's story ----------------------------------------------------------------------------


async def test_an_admin_starts_an_export_follows_it_and_downloads_the_file(world: World) -> None:
    job = await world.started(
        "prairie-admin",
        what="CONTACT_RECORDS",
        format="CSV",
        filters={"tenantIds": [PRAIRIE_ID]},
        purpose="quarterly report",
    )
    assert job["status"] == "PENDING" and job["downloadUrl"] is None
    assert job["purpose"] == "quarterly report" and job["filters"]["tenantIds"] == [PRAIRIE_ID]

    kind = await world.run()
    assert kind.done == 1 and not kind.failures

    done = await world.job("prairie-admin", job["id"])
    assert done is not None and done["status"] == "DONE" and done["error"] is None
    assert done["downloadUrl"] == f"/exports/{job['uuid']}"
    expected = await _prairie_record_ids(world.db)
    assert done["rowCount"] == len(expected)
    expires = datetime.fromisoformat(done["expiresAt"])
    assert (
        timedelta(hours=23)
        < expires - datetime.fromisoformat(done["finishedAt"])
        <= timedelta(hours=24)
    )

    response = await world.download("prairie-admin", done["downloadUrl"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="sharegraph-contact-records-' in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    rows = _csv(response.content.decode("utf-8"))
    assert {r["Record ID"] for r in rows} == expected

    async with world.db.read_session() as session:
        audit = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action.in_(["disclosure", "export.download"]))
            )
        ).all()
    download = [a for a in audit if a.action == "export.download"]
    assert len(download) == 1 and download[0].record_ids == [job["uuid"]]
    assert download[0].principal_id == demo_id("principal", "prairie-admin")
    assert download[0].purpose == "quarterly report"
    disclosed = [a for a in audit if a.action == "disclosure" and a.detail["channel"] == "api"]
    assert {i for a in disclosed for i in a.record_ids or []} == expected


async def test_the_file_is_the_requesters_alone(world: World) -> None:
    job = await world.started("prairie-admin", what="RESOURCES", format="NDJSON")
    await world.run()
    url = (await world.job("prairie-admin", job["id"]) or {})["downloadUrl"]
    assert url

    for other in ("prairie-api", "lakeside-admin", "eastside-portal"):  # same tenant too
        response = await world.download(other, url)
        assert response.status_code == 404, other
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert await world.job(other, job["id"]) is None
        listed = (await world.api.data(other, JOBS))["exportJobs"]
        assert listed["totalCount"] == 0
    assert (await world.download(None, url)).status_code == 401
    assert (await world.download("prairie-admin", f"/exports/{uuid.uuid4()}")).status_code == 404
    assert (await world.download("prairie-admin", "/exports/not-a-uuid")).status_code == 404
    mine = (await world.api.data("prairie-admin", JOBS))["exportJobs"]
    assert [e["node"]["id"] for e in mine["edges"]] == [job["id"]]


async def test_resources_as_an_hsds_data_package_download_as_a_zip(world: World) -> None:
    job = await world.started(
        "prairie-admin", what="RESOURCES", format="HSDS_CSV", filters={"tenantIds": [PRAIRIE_ID]}
    )
    await world.run()
    done = await world.job("prairie-admin", job["id"])
    assert done is not None and done["status"] == "DONE" and done["rowCount"] > 0
    response = await world.download("prairie-admin", done["downloadUrl"])
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert "datapackage.json" in archive.namelist()


@pytest.mark.parametrize(
    ("format", "media_type"),
    [("HSDS11_CSV", "application/zip"), ("HSDS11_JSON", "application/json")],
)
async def test_resources_as_hsds_11_download_in_either_form(
    world: World, format: str, media_type: str
) -> None:
    job = await world.started(
        "prairie-admin", what="RESOURCES", format=format, filters={"tenantIds": [PRAIRIE_ID]}
    )
    await world.run()
    done = await world.job("prairie-admin", job["id"])
    assert done is not None and done["status"] == "DONE" and done["rowCount"] > 0
    response = await world.download("prairie-admin", done["downloadUrl"])
    assert response.headers["content-type"].startswith(media_type)
    if format == "HSDS11_CSV":
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            assert {"datapackage.json", "services_at_location.csv"} <= set(archive.namelist())
    else:
        assert response.json()["version"] == "1.1"


async def test_a_retry_with_the_same_idempotency_key_gets_the_same_job(world: World) -> None:
    first = await world.started(
        "prairie-api", what="RESOURCES", format="CSV", idempotencyKey="nightly-1"
    )
    again = await world.started(
        "prairie-api", what="RESOURCES", format="CSV", idempotencyKey="nightly-1"
    )
    assert again["id"] == first["id"]
    other = await world.start(
        "prairie-api", what="RESOURCES", format="NDJSON", idempotencyKey="nightly-1"
    )
    assert other["errors"][0]["extensions"]["reason"] == "IDEMPOTENCY_KEY_REUSED"
    async with world.db.read_session() as session:
        assert len((await session.scalars(select(ExportJob.id))).all()) == 1


async def test_a_download_is_refused_once_the_right_to_export_is_gone(world: World) -> None:
    job = await world.started("prairie-api", what="RESOURCES", format="CSV")
    await world.run()
    url = (await world.job("prairie-api", job["id"]) or {})["downloadUrl"]
    assert (await world.download("prairie-api", url)).status_code == 200
    async with world.db.write_session() as session:
        await session.execute(
            delete(RoleAssignment).where(
                RoleAssignment.principal_id == demo_id("principal", "prairie-api")
            )
        )
    world.api.forget_credentials()
    refused = await world.download("prairie-api", url)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["reason"] == "EXPORT_DENIED"


# -- refusals -------------------------------------------------------------------------------------


async def test_who_may_not_export_is_refused_before_anything_is_queued(world: World) -> None:
    refused = await world.start("prairie-call-taker", what="CONTACT_RECORDS", format="CSV")
    assert refused["errors"][0]["extensions"]["reason"] == "OPERATION_DENIED"
    portal = await world.start("eastside-portal", what="CONTACT_RECORDS", format="CSV")
    assert portal["errors"][0]["extensions"]["reason"] == "OPERATION_DENIED"
    wrong = await world.start("prairie-admin", what="CONTACT_RECORDS", format="AIRS_XML")
    assert wrong["errors"][0]["extensions"]["reason"] == "FORMAT_NOT_SUPPORTED"
    resources = await world.start(
        "prairie-admin", what="RESOURCES", format="CSV", filters={"formIds": [str(STANDARD_FORM)]}
    )
    assert resources["errors"][0]["extensions"]["reason"] == "BAD_FILTER"
    async with world.db.read_session() as session:
        assert (await session.scalars(select(ExportJob.id))).all() == []


async def test_a_role_revoked_before_the_job_runs_is_honoured(world: World) -> None:
    job = await world.started("prairie-api", what="CONTACT_RECORDS", format="NDJSON")
    async with world.db.write_session() as session:
        await session.execute(
            delete(RoleAssignment).where(
                RoleAssignment.principal_id == demo_id("principal", "prairie-api")
            )
        )
    kind = await world.run()
    assert not kind.failures  # a refusal is the job's answer, not the worker's failure
    async with world.db.read_session() as session:
        row = await session.get(ExportJob, uuid.UUID(job["uuid"]))
    assert row is not None and row.status == "failed" and row.file_path is None
    assert row.error is not None and "may not export contact-records" in row.error
    assert not list(world.settings.exchange.export_dir.glob("*"))


async def test_a_partner_exports_only_what_its_plan_lets_out(world: World) -> None:
    job = await world.started(
        "reporter",
        what="CONTACT_RECORDS",
        format="CSV",
        filters={"tenantIds": [PRAIRIE_ID], "startedAfter": "2000-01-01T00:00:00Z"},
    )
    await world.run()
    done = await world.job("reporter", job["id"])
    assert done is not None and done["status"] == "DONE", done
    rows = _csv((await world.download("reporter", done["downloadUrl"])).content.decode())
    on_form = ContactRecord.form_version_id.in_(
        select(ContactFormVersion.id).where(ContactFormVersion.form_id == STANDARD_FORM)
    )
    assert {r["Record ID"] for r in rows} == await _prairie_record_ids(world.db, on_form)
    assert len(rows) < len(await _prairie_record_ids(world.db))
    assert {"Narrative", "Caller county", "Needs"}.isdisjoint(rows[0])

    # A filter on a field that may not leave would tell its values by which records come out.
    hidden = await world.start(
        "reporter",
        what="CONTACT_RECORDS",
        format="CSV",
        filters={"updatedAfter": "2000-01-01T00:00:00Z"},
    )
    assert hidden["errors"][0]["extensions"]["reason"] == "FORBIDDEN_FILTER"
    assert hidden["errors"][0]["extensions"]["coordinate"] == "ContactRecord.updatedAt"


async def test_an_agreement_ended_before_the_job_runs_lets_nothing_out(world: World) -> None:
    prairie_only = await world.started(
        "reporter", what="CONTACT_RECORDS", format="NDJSON", filters={"tenantIds": [PRAIRIE_ID]}
    )
    everything = await world.started("reporter", what="CONTACT_RECORDS", format="NDJSON")
    async with world.db.write_session() as session:
        agreement = await session.scalar(
            select(SharingAgreement).where(SharingAgreement.name == REPORTING)
        )
        assert agreement is not None
        agreement.revoked_at = utcnow() - timedelta(seconds=1)
        await bump(session)
    await world.run()
    refused = await world.job("reporter", prairie_only["id"])
    assert refused is not None and refused["status"] == "FAILED"
    assert refused["downloadUrl"] is None
    assert "may not export contact-records of these tenants" in refused["error"]
    own = await world.job("reporter", everything["id"])  # its own (empty) tenant, and no more
    assert own is not None and own["status"] == "DONE" and own["rowCount"] == 0


# -- retries and expiry ---------------------------------------------------------------------------


async def test_a_failing_job_is_retried_after_a_backoff(world: World) -> None:
    blocked = world.settings.exchange.export_dir
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the export folder should be")
    job = await world.started("prairie-admin", what="RESOURCES", format="CSV")
    now = utcnow()
    kind = await world.run(now)
    assert len(kind.failures) == 1
    async with world.db.read_session() as session:
        row = await session.get(ExportJob, uuid.UUID(job["uuid"]))
    assert row is not None and row.status == "pending" and row.attempts == 1
    assert row.error is not None and row.lease_until == now + timedelta(seconds=5)

    blocked.unlink()
    assert (await world.run(now + timedelta(seconds=4))).done == 0  # still backing off
    assert (await world.run(now + timedelta(seconds=5))).done == 1
    done = await world.job("prairie-admin", job["id"])
    assert done is not None and done["status"] == "DONE" and done["attempts"] == 2
    assert done["error"] is None


async def test_files_are_deleted_when_they_expire(world: World) -> None:
    job = await world.started("prairie-admin", what="RESOURCES", format="CSV")
    now = utcnow()
    await world.run(now)
    url = (await world.job("prairie-admin", job["id"]) or {})["downloadUrl"]
    assert (await world.download("prairie-admin", url)).status_code == 200
    assert len(list(world.settings.exchange.export_dir.iterdir())) == 1

    await world.run(now + timedelta(hours=24, seconds=1))
    expired = await world.job("prairie-admin", job["id"])
    assert expired is not None and expired["status"] == "EXPIRED"
    assert expired["downloadUrl"] is None
    assert list(world.settings.exchange.export_dir.iterdir()) == []
    assert (await world.download("prairie-admin", url)).status_code == 404


async def test_a_worker_that_died_mid_export_is_taken_over_after_its_lease(world: World) -> None:
    job = await world.started("prairie-admin", what="RESOURCES", format="CSV")
    now = utcnow()
    async with world.db.write_session() as session:  # as a worker that claimed it, then died
        row = await session.get(ExportJob, uuid.UUID(job["uuid"]))
        assert row is not None
        row.status, row.attempts, row.lease_until = "running", 1, now + timedelta(minutes=30)
    assert (await world.run(now + timedelta(minutes=29))).done == 0
    assert (await world.run(now + timedelta(minutes=30))).done == 1
    done = await world.job("prairie-admin", job["id"])
    assert done is not None and done["status"] == "DONE" and done["attempts"] == 2
