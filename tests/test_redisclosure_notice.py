"""42 CFR Part 2 answers leave another organization only with the redisclosure notice, on every
path: an export job (its GraphQL record and the download), and a scheduled delivery (a notice
file beside the file, which cannot carry it inside). A job that fails on our side tells its
requester an incident id, never the text of our error."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sharegraph.authz.disclosure import REDISCLOSURE_NOTICE
from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import GranteeKind, Sensitivity
from sharegraph.datastore.models import ClientConsent, ContactRecord, SharingAgreement
from sharegraph.datastore.policy_version import bump
from sharegraph.demo import demo_id
from sharegraph.exporters import jobs as export_jobs
from sharegraph.exporters.jobs import export_jobs_work
from sharegraph.graph.relay import to_global_id
from sharegraph.settings import ExchangeSettings, Settings
from sharegraph.worker import Scheduler

from .builders import add_tenant_with_admin
from .conftest import Api, make_api

PRAIRIE = demo_id("tenant", "prairie")
STANDARD_FORM = demo_id("contact-form", "prairie-standard")
PURPOSE = "substance use treatment coordination"
START = """mutation($input: StartExportInput!) {
  startExport(input: $input) { exportJob { id } } }"""
JOB = """query($id: ID!) {
  exportJob(id: $id) { status error downloadUrl redisclosureNotice } }"""


@dataclass
class World:
    api: Api
    scheduler: Scheduler
    consented_record: uuid.UUID


async def _treatment_partner(db: Database) -> tuple[uuid.UUID, str]:
    """A treatment program Prairie lets export its standard-form records, Part 2 answers
    included, for care coordination; one client consented to that."""
    tenant_id, key = await add_tenant_with_admin(db, "Harbor Recovery Center", "recovery")
    async with db.write_session() as session:
        session.add(
            SharingAgreement(
                tenant_id=PRAIRIE,
                name="Recovery coordination",
                purpose=PURPOSE,
                grantee_kind=GranteeKind.TENANT,
                grantee_tenant_id=tenant_id,
                actions=["export"],
                fields=["ContactRecord.id", "ContactRecord.startedAt", "ContactRecord.answers"],
                answer_sensitivity=Sensitivity.PART2,
                row_scope=f"shared_form:{STANDARD_FORM}",
            )
        )
        await bump(session)
    return tenant_id, key


async def _consent_for_one_record(db: Database, recipient: uuid.UUID) -> uuid.UUID:
    async with db.write_session() as session:
        records = (
            await session.scalars(
                select(ContactRecord).where(
                    ContactRecord.tenant_id == PRAIRIE, ContactRecord.client_id.is_not(None)
                )
            )
        ).all()
        record = next(r for r in records if (r.answers or {}).get("substance_use"))
        session.add(
            ClientConsent(
                tenant_id=PRAIRIE,
                client_id=record.client_id,
                recipient_kind=GranteeKind.TENANT,
                recipient_tenant_id=recipient,
                purpose=PURPOSE,
                granted_at=datetime.now(UTC),
            )
        )
        return record.id


@pytest.fixture
async def world(seeded_db: Database, keys: dict[str, str], tmp_path: Path) -> AsyncIterator[World]:
    tenant_id, key = await _treatment_partner(seeded_db)
    record = await _consent_for_one_record(seeded_db, tenant_id)
    settings = Settings(
        database_url=seeded_db.url, exchange=ExchangeSettings(export_dir=tmp_path / "exports")
    )
    scheduler = Scheduler(seeded_db, [export_jobs_work(settings.exchange)])
    async for api in make_api(seeded_db, {**keys, "recovery": key}, settings):
        yield World(api, scheduler, record)


async def _export(world: World, principal: str) -> dict[str, Any]:
    started = await world.api.data(
        principal,
        START,
        {
            "input": {
                "what": "CONTACT_RECORDS",
                "format": "NDJSON",
                "filters": {"tenantIds": [to_global_id("Tenant", PRAIRIE)]},
                "purpose": PURPOSE,
            }
        },
    )
    job_id = started["startExport"]["exportJob"]["id"]
    await world.scheduler.run_once(utcnow())
    job: dict[str, Any] = (await world.api.data(principal, JOB, {"id": job_id}))["exportJob"]
    return job


async def test_part2_answers_of_another_organization_download_with_the_notice(
    world: World,
) -> None:
    job = await _export(world, "recovery")
    assert job["status"] == "DONE", job
    assert job["redisclosureNotice"] == REDISCLOSURE_NOTICE
    download = await world.api.http.get(
        job["downloadUrl"], headers={"Authorization": f"Bearer {world.api.keys['recovery']}"}
    )
    assert download.status_code == 200
    assert download.headers["sharegraph-redisclosure-notice"] == REDISCLOSURE_NOTICE
    assert str(world.consented_record) in download.text
    assert "substance_use" in download.text


async def test_the_owner_exporting_its_own_records_needs_no_notice(world: World) -> None:
    job = await _export(world, "prairie-admin")
    assert job["status"] == "DONE", job
    assert job["redisclosureNotice"] is None
    download = await world.api.http.get(
        job["downloadUrl"], headers={"Authorization": f"Bearer {world.api.keys['prairie-admin']}"}
    )
    assert "sharegraph-redisclosure-notice" not in download.headers


async def test_a_failure_on_our_side_shows_an_incident_not_our_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("SELECT secret_column FROM internal_table")

    monkeypatch.setattr(export_jobs, "run_export", broken)
    job = await _export(world, "prairie-admin")
    assert "incident" in job["error"]
    assert "SELECT" not in job["error"] and "RuntimeError" not in job["error"]


async def test_a_delivered_file_with_part2_answers_travels_with_a_notice_file(
    tmp_path: Path,
) -> None:
    from sharegraph.exporters.deliveries import notice_beside

    output = tmp_path / "records.csv"
    output.write_text("id\n")
    path, name = await notice_beside(output, "records-2026-12-07.csv")
    assert name == "records-2026-12-07.csv.REDISCLOSURE-NOTICE.txt"
    assert path.read_text(encoding="utf-8").strip() == REDISCLOSURE_NOTICE


def test_a_delivery_failure_shows_the_destinations_answer_but_never_ours() -> None:
    from sharegraph.exporters.deliveries import failure_text

    refused = failure_text(ConnectionRefusedError(111, "Connection refused"), "abc")
    assert "Connection refused" in refused
    ours = failure_text(KeyError("sg_scope_3"), "abc123")
    assert "abc123" in ours and "sg_scope" not in ours
