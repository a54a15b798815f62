"""HSDS 1.1 exports (``hsds11-csv``, ``hsds11-json``): the tables, files and columns of the HSDS
1.1 example data package in tests/data (Open Referral's "Example City"), rows whose links all
resolve, the same rows in both forms, what the plan lets out and nothing more, and a CSV
package the HSDS 1.1 importer reads (the round trip itself is in test_export_round_trip.py)."""

from __future__ import annotations

import csv
import json
import re
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from sharegraph.authz.authenticate import load_principal
from sharegraph.authz.principal import Principal
from sharegraph.authz.store import PolicyStore
from sharegraph.cli.main import app
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import GranteeKind
from sharegraph.datastore.models import Principal as PrincipalRow
from sharegraph.datastore.models import Service, SharingAgreement
from sharegraph.datastore.policy_version import bump
from sharegraph.demo import demo_id
from sharegraph.exporters.contact_records import ExportFilter
from sharegraph.exporters.run import (
    ExportRequest,
    ExportResult,
    Format,
    What,
    owner_principal,
    run_export,
)

from .builders import add_tenant_with_admin
from .conftest import SAMPLE_DATA

PRAIRIE = demo_id("tenant", "prairie")
LAKESIDE = demo_id("tenant", "lakeside")
EXAMPLE = SAMPLE_DATA / "samples" / "hsds-1.1-example-city"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")


def example() -> dict[str, Any]:
    found: dict[str, Any] = json.loads((EXAMPLE / "datapackage.json").read_text())
    return found


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


async def _export(
    db: Database, principal: Principal, fmt: Format, output: Path, tenant: uuid.UUID
) -> ExportResult:
    store = PolicyStore(db)
    await store.reload()
    request = ExportRequest(What.RESOURCES, fmt, output, ExportFilter((tenant,)), purpose="test")
    return await run_export(db, store.plan_for(principal), request)


def assert_example_structure(descriptor: dict[str, Any]) -> None:
    """Our descriptor has the example's resources, in its order, each with its path and its
    fields (name, type, required), in their order."""
    theirs = example()["resources"]
    ours = descriptor["resources"]
    assert [r["name"] for r in ours] == [r["name"] for r in theirs]
    for mine, sample in zip(ours, theirs, strict=True):
        if "path" in mine:
            assert mine["path"] == sample["path"]
        fields = [
            (f["name"], f["type"], f.get("constraints", {}).get("required", False))
            for f in sample["schema"]["fields"]
        ]
        assert [
            (f["name"], f["type"], f["constraints"]["required"]) for f in mine["schema"]["fields"]
        ] == fields, mine["name"]


def assert_rows_valid(descriptor: dict[str, Any], tables: dict[str, list[dict[str, Any]]]) -> None:
    """Every row: its table's columns only, required ids and links present, ids unique,
    every link resolving to an exported row, typed values readable."""
    ids = {name: {str(r["id"]) for r in rows} for name, rows in tables.items()}
    for resource in descriptor["resources"]:
        fields = {f["name"]: f for f in resource["schema"]["fields"]}
        rows = tables[resource["name"]]
        assert len(ids[resource["name"]]) == len(rows), resource["name"]
        for row in rows:
            assert set(row) <= set(fields), (resource["name"], row)
            assert _UUID.match(str(row["id"])), row
            for name, field in fields.items():
                value = row.get(name)
                if field["constraints"]["required"] and field["type"] != "string":
                    assert value not in (None, ""), (resource["name"], name, row)
                if name.endswith("_id") and name != "id" and field["constraints"]["required"]:
                    assert value, (resource["name"], name, row)
                if value in (None, ""):
                    continue
                if field["type"] == "number":
                    float(value)
                elif field["type"] == "integer":
                    assert str(value).isdigit()
                elif field["type"] == "time":
                    assert _TIME.match(str(value)), value
                elif field.get("format") == "email":
                    assert "@" in str(value)
        for key in resource["schema"].get("foreignKeys", []):
            target = key["reference"]["resource"]
            for row in rows:
                if row.get(key["fields"]):
                    assert str(row[key["fields"]]) in ids[target], (resource["name"], key, row)


def _leftovers(folder: Path) -> list[Path]:
    return list(folder.glob(".sharegraph-export-*"))


def _read_package(folder: Path) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    descriptor = json.loads((folder / "datapackage.json").read_text())
    tables = {}
    for resource in descriptor["resources"]:
        path = folder / resource["path"]
        with path.open(encoding="utf-8", newline="") as stream:
            header = next(csv.reader(stream))
        sample = EXAMPLE / resource["path"]
        with sample.open(encoding="utf-8-sig", newline="") as stream:
            assert header == next(csv.reader(stream)), resource["path"]
        tables[resource["name"]] = [{k: v for k, v in row.items() if v != ""} for row in _csv(path)]
    return descriptor, tables


async def test_the_csv_package_has_the_shape_of_the_hsds_11_example(
    seeded_db: Database, tmp_path: Path
) -> None:
    owner = owner_principal(PRAIRIE, "Prairie 211")
    result = await _export(seeded_db, owner, Format.HSDS11_CSV, tmp_path / "hsds11", PRAIRIE)

    descriptor, tables = _read_package(tmp_path / "hsds11")
    assert descriptor["version"] == "1.1" and descriptor["name"]
    assert_example_structure(descriptor)
    assert_rows_valid(descriptor, tables)
    async with seeded_db.read_session() as session:
        services = await session.scalar(
            select(func.count()).select_from(Service).where(Service.tenant_id == PRAIRIE)
        )
    assert len(tables["service"]) == result.counts["Service"] == services
    for table in ("organization", "location", "service_at_location", "phone",
                  "physical_address", "regular_schedule", "language", "service_area",
                  "service_taxonomy", "taxonomy"):  # fmt: skip
        assert tables[table], table
    assert {int(r["weekday"]) for r in tables["regular_schedule"]} <= set(range(1, 8))
    assert result.audit_rows >= 1


async def test_the_json_package_holds_the_same_rows_inline(
    seeded_db: Database, tmp_path: Path
) -> None:
    owner = owner_principal(PRAIRIE, "Prairie 211")
    await _export(seeded_db, owner, Format.HSDS11_CSV, tmp_path / "hsds11", PRAIRIE)
    await _export(seeded_db, owner, Format.HSDS11_JSON, tmp_path / "hsds11.json", PRAIRIE)

    package = json.loads((tmp_path / "hsds11.json").read_text(encoding="utf-8"))
    assert_example_structure(package)
    assert all(r["format"] == "json" and isinstance(r["data"], list) for r in package["resources"])
    tables = {r["name"]: r["data"] for r in package["resources"]}
    assert_rows_valid(package, tables)
    _, from_csv = _read_package(tmp_path / "hsds11")
    for name, rows in tables.items():
        as_text = sorted(
            json.dumps({k: str(v) for k, v in r.items()}, sort_keys=True) for r in rows
        )
        assert as_text == sorted(json.dumps(r, sort_keys=True) for r in from_csv[name]), name
    assert not _leftovers(tmp_path), "the temporary folder is left behind"


async def test_a_partner_gets_only_what_its_agreement_lets_out(
    seeded_db: Database, tmp_path: Path
) -> None:
    tenant, _ = await add_tenant_with_admin(seeded_db, "Slice 211", "slice-admin")
    async with seeded_db.write_session() as session:
        session.add(
            SharingAgreement(
                tenant_id=LAKESIDE,
                name="Directory slice",
                purpose="information and referral",
                grantee_kind=GranteeKind.TENANT,
                grantee_tenant_id=tenant,
                actions=["export"],
                fields=[
                    "Service.name",
                    "Service.status",
                    "Service.organization",
                    "Organization.name",
                ],
            )
        )
        await bump(session)
        admin = await session.scalar(
            select(PrincipalRow.id).where(PrincipalRow.name == "slice-admin")
        )
        services = await session.scalar(
            select(func.count()).select_from(Service).where(Service.tenant_id == LAKESIDE)
        )
    async with seeded_db.read_session() as session:
        principal = await load_principal(session, admin)
    assert principal is not None

    result = await _export(seeded_db, principal, Format.HSDS11_CSV, tmp_path / "p", LAKESIDE)

    descriptor, tables = _read_package(tmp_path / "p")
    assert_rows_valid(descriptor, tables)
    assert len(tables["service"]) == result.counts["Service"] == services
    for service in tables["service"]:
        assert set(service) == {"id", "organization_id", "name", "status"}, service
    for organization in tables["organization"]:
        assert set(organization) == {"id", "name"}, organization  # description: "" left out
    withheld = ("location", "service_at_location", "phone", "physical_address",
                "regular_schedule", "language", "service_area", "service_taxonomy", "taxonomy",
                "eligibility", "program")  # fmt: skip
    assert {t: len(tables[t]) for t in withheld} == dict.fromkeys(withheld, 0)


def test_the_cli_writes_either_form(seeded_db: Database, tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["export", "--database", seeded_db.url, "--what", "resources", "--tenant",
              "Prairie 211"]  # fmt: skip
    zipped = runner.invoke(app, [*common, "--format", "hsds11-csv", "--output",
                                 str(tmp_path / "p.zip")])  # fmt: skip
    assert zipped.exit_code == 0, zipped.output
    with zipfile.ZipFile(tmp_path / "p.zip") as archive:
        names = set(archive.namelist())
    assert names == {r["path"] for r in example()["resources"]} | {"datapackage.json"}
    as_json = runner.invoke(app, [*common, "--format", "hsds11-json", "--output",
                                  str(tmp_path / "p.json")])  # fmt: skip
    assert as_json.exit_code == 0, as_json.output
    assert json.loads((tmp_path / "p.json").read_text())["version"] == "1.1"
    contact_records = runner.invoke(
        app, [*common[:4], "contact-records", *common[5:], "--format", "hsds11-csv",
              "--output", str(tmp_path / "c")],
    )  # fmt: skip
    assert contact_records.exit_code != 0
    assert "cannot be exported as hsds11-csv" in contact_records.output


@pytest.mark.parametrize("weekdays", [("MO", 1), ("SU", 7)])
def test_weekdays_are_numbered_as_the_importer_reads_them(weekdays: tuple[str, int]) -> None:
    from sharegraph.exporters.hsds11 import Rows11
    from sharegraph.importers.tabular import weekday

    day, number = weekdays
    schedule = {"id": str(uuid.uuid4()), "freq": "WEEKLY", "byday": day, "opens_at": "09:00:00"}
    service = {"id": str(uuid.uuid4()), "organization_id": str(uuid.uuid4()), "name": "x",
               "status": "active", "schedules": [schedule]}  # fmt: skip
    rows = [row for table, row in Rows11().service(service) if table == "regular_schedule"]
    assert [r["weekday"] for r in rows] == [number]
    assert weekday(str(number)) == day


async def test_the_11_importer_reads_eligibility_as_the_services_eligibility_description(
    seeded_db: Database,
) -> None:
    from sharegraph.importers import import_path

    tenant, _ = await add_tenant_with_admin(seeded_db, "Example City 211", "example-admin")
    report = await import_path(seeded_db, EXAMPLE, tenant="Example City 211")
    assert report.committed, report.summary()
    assert not any("eligibility" in w.reason for w in report.warnings)
    async with seeded_db.read_session() as session:
        found = dict(
            (
                await session.execute(
                    select(Service.source_key, Service.eligibility_description).where(
                        Service.tenant_id == tenant
                    )
                )
            ).all()
        )
    assert found["c89eb05c-62dd-4b64-b494-0cc347b6ea7f"] == "adult"
    assert sum(1 for v in found.values() if v) == 1
