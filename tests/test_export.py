"""Exports: contact records and the resource directory leave only as the access plan allows,
as valid HSDS, as AIRS XML shaped like iCarol's, without CSV formulas, and on the record.

The network: the demo, plus "Export Partner 211", whose admin Prairie 211 lets export the
records on its standard call report (a few fields, answers up to `internal`) and, under another
agreement, the caller's county on records from Osage County; and Lakeside Crisis
Line a slice of its directory (no service descriptions, no phones). Prairie's directory is
public, so slices of it would change nothing.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import or_, select
from typer.testing import CliRunner

from sharegraph import demo
from sharegraph.authz.authenticate import load_principal
from sharegraph.authz.disclosure import Disclosure
from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.authz.principal import Principal
from sharegraph.authz.store import PolicyStore
from sharegraph.cli.main import app
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import Channel, GranteeKind, Sensitivity
from sharegraph.datastore.models import (
    AuditEvent,
    Client,
    ContactFormVersion,
    ContactRecord,
    Organization,
    Service,
    SharingAgreement,
)
from sharegraph.datastore.policy_version import bump
from sharegraph.demo import demo_id
from sharegraph.exporters.cells import neutralize
from sharegraph.exporters.contact_records import ContactRecordStream, ExportFilter
from sharegraph.exporters.run import (
    ExportRequest,
    ExportResult,
    Format,
    What,
    owner_principal,
    run_export,
)
from sharegraph.settings import Settings

from .builders import add_tenant_with_admin
from .conftest import SAMPLE_DATA, DatabaseFactory
from .hsds_schema import assert_full_service_valid, assert_valid, tabular_rows

PRAIRIE = demo_id("tenant", "prairie")
LAKESIDE = demo_id("tenant", "lakeside")
STANDARD_FORM = demo_id("contact-form", "prairie-standard")
OSAGE = "Osage County"
PARTNER = "export-partner-admin"
FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+SUM(1,2)", "-2+3", "@cmd", "\tTAB"]
SAME_MOMENT = datetime(2020, 2, 2, 2, 2, 2, tzinfo=UTC)
runner = CliRunner()


@dataclass
class Network:
    db: Database
    partner_tenant: uuid.UUID
    partner_admin: uuid.UUID
    formula_record: uuid.UUID
    tied_records: list[uuid.UUID]


_NETWORKS: dict[str, Network] = {}


async def _share(db: Database, owner: uuid.UUID, grantee: uuid.UUID, **fields: Any) -> None:
    async with db.write_session() as session:
        session.add(
            SharingAgreement(
                tenant_id=owner,
                purpose="regional reporting",
                grantee_kind=GranteeKind.TENANT,
                grantee_tenant_id=grantee,
                actions=["export"],
                **fields,
            )
        )
        await bump(session)


async def _network(databases: DatabaseFactory, backend: str) -> Network:
    if backend in _NETWORKS:
        return _NETWORKS[backend]
    db = await databases.create(backend)
    await demo.seed(db, scale=1, demo_secret=Settings().demo_secret)
    partner_tenant, _key = await add_tenant_with_admin(db, "Export Partner 211", PARTNER)
    await _share(
        db,
        PRAIRIE,
        partner_tenant,
        name="Standard call reports for regional reporting",
        fields=["ContactRecord.id", "ContactRecord.startedAt", "ContactRecord.channel",
                "ContactRecord.answers"],
        answer_sensitivity=Sensitivity.INTERNAL,
        row_scope=f"shared_form:{STANDARD_FORM}",
    )  # fmt: skip
    await _share(
        db,
        PRAIRIE,
        partner_tenant,
        name="Osage County records",
        fields=["ContactRecord.id", "ContactRecord.startedAt", "ContactRecord.callerCounty"],
        row_scope=f"region:{OSAGE}",
    )
    await _share(
        db,
        LAKESIDE,
        partner_tenant,
        name="Directory slice",
        fields=["Organization.name", "Organization.description", "Service.name",
                "Service.status", "Service.organization", "Service.serviceAtLocations",
                "ServiceAtLocation.location", "ServiceAtLocation.service", "Location.name",
                "Location.locationType", "Location.addresses", "Address.*"],
    )  # fmt: skip
    async with db.write_session() as session:
        version = await session.scalar(
            select(ContactFormVersion.id).where(ContactFormVersion.form_id == STANDARD_FORM)
        )
        formula = ContactRecord(
            id=uuid.uuid4(),
            tenant_id=PRAIRIE,
            form_version_id=version,
            channel=Channel.CALL,
            started_at=datetime(2021, 1, 1, tzinfo=UTC),
            answers={"caller_name": FORMULAS[0], "referral_source": "211 website",
                     "contact_reason": ["Housing", "Food"], "callback_ok": True},
            narrative=FORMULAS[1],
            caller_county=FORMULAS[3],
        )  # fmt: skip
        tied = [
            ContactRecord(
                id=uuid.uuid4(),
                tenant_id=PRAIRIE,
                form_version_id=version,
                channel=Channel.TEXT,
                started_at=SAME_MOMENT,
                answers={},
            )
            for _ in range(5)
        ]
        session.add_all([formula, *tied])
        organization = Organization(
            id=uuid.uuid4(), tenant_id=PRAIRIE, name=FORMULAS[2], description=FORMULAS[4]
        )
        session.add(organization)
        await session.flush()
        session.add(
            Service(
                id=uuid.uuid4(),
                tenant_id=PRAIRIE,
                organization_id=organization.id,
                name=FORMULAS[3],
                description=FORMULAS[0],
            )
        )
    async with db.read_session() as session:
        from sharegraph.datastore.models import Principal as PrincipalRow

        admin = await session.scalar(select(PrincipalRow.id).where(PrincipalRow.name == PARTNER))
    assert admin is not None
    network = Network(db, partner_tenant, admin, formula.id, [r.id for r in tied])
    _NETWORKS[backend] = network
    return network


@pytest.fixture
async def net(databases: DatabaseFactory, backend: str) -> Network:
    return await _network(databases, backend)


async def _plan(db: Database, principal: Principal) -> AccessPlan:
    store = PolicyStore(db)
    await store.reload()
    return store.plan_for(principal)


async def _principal(db: Database, principal_id: uuid.UUID) -> Principal:
    async with db.read_session() as session:
        found = await load_principal(session, principal_id)
    assert found is not None
    return found


async def export(
    net: Network,
    tmp_path: Path,
    what: What,
    fmt: Format,
    *,
    as_partner: bool = False,
    name: str | None = None,
    tenant: uuid.UUID = PRAIRIE,
) -> ExportResult:
    principal = (
        await _principal(net.db, net.partner_admin)
        if as_partner
        else owner_principal(tenant, "Prairie 211" if tenant == PRAIRIE else "Lakeside")
    )
    request = ExportRequest(
        what=what,
        format=fmt,
        output=tmp_path / (name or f"{what.value}.{fmt.value}"),
        filter=ExportFilter(tenant_ids=(tenant,)),
        purpose="testing",
        principal_id=principal.id if as_partner else None,
    )
    return await run_export(net.db, await _plan(net.db, principal), request)


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


async def _prairie_record_ids(net: Network, *where: Any) -> set[str]:
    async with net.db.read_session() as session:
        ids = await session.scalars(
            select(ContactRecord.id).where(ContactRecord.tenant_id == PRAIRIE, *where)
        )
        return {str(i) for i in ids.all()}


# -- contact records ----------------------------------------------------------------------------


async def test_owner_exports_every_own_record_with_one_column_per_form_field(
    net: Network, tmp_path: Path
) -> None:
    result = await export(net, tmp_path, What.CONTACT_RECORDS, Format.CSV)
    rows = _csv(result.output)
    assert {r["Record ID"] for r in rows} == await _prairie_record_ids(net)
    assert result.records == len(rows)
    header = list(rows[0])
    assert header[:4] == ["Record ID", "Tenant", "Form", "Form version"]
    # form fields by label, as iCarol users know them; clinical and Part 2 ones too (owner)
    for label in ("Caller name", "Reason for contact", "Risk assessment notes",
                  "Substance use disclosed", "OK to call back?"):  # fmt: skip
        assert label in header
    formula = next(r for r in rows if r["Record ID"] == str(net.formula_record))
    assert formula["Reason for contact"] == "Housing; Food"  # multi-select, iCarol style
    assert formula["OK to call back?"] == "Yes"
    assert formula["Tenant"] == "Prairie 211" and formula["Form"] == "Standard call report"
    assert formula["Started at"] == "2021-01-01T00:00:00.000+00:00"


async def test_ndjson_carries_the_same_records_with_structured_answers(
    net: Network, tmp_path: Path
) -> None:
    result = await export(net, tmp_path, What.CONTACT_RECORDS, Format.NDJSON)
    lines = [json.loads(line) for line in result.output.read_text().splitlines()]
    assert {d["id"] for d in lines} == await _prairie_record_ids(net)
    formula = next(d for d in lines if d["id"] == str(net.formula_record))
    assert formula["answers"]["contact_reason"] == ["Housing", "Food"]
    assert formula["answers"]["callback_ok"] is True
    assert formula["narrative"] == FORMULAS[1]  # NDJSON is data, not a spreadsheet
    assert all(v not in (None, "", []) for d in lines for v in d.values())


async def test_a_partner_exports_only_its_rows_and_on_each_only_its_fields(
    net: Network, tmp_path: Path
) -> None:
    result = await export(net, tmp_path, What.CONTACT_RECORDS, Format.CSV, as_partner=True)
    rows = {r["Record ID"]: r for r in _csv(result.output)}
    on_form = ContactRecord.form_version_id.in_(
        select(ContactFormVersion.id).where(ContactFormVersion.form_id == STANDARD_FORM)
    )
    in_osage = or_(
        ContactRecord.caller_county == OSAGE,
        ContactRecord.client_id.in_(select(Client.id).where(Client.county == OSAGE)),
    )
    standard = await _prairie_record_ids(net, on_form)
    osage = await _prairie_record_ids(net, in_osage)
    assert set(rows) == standard | osage
    assert await _prairie_record_ids(net, ~on_form, ~in_osage)  # there were others to leave out
    assert osage - standard and standard - osage
    header = set(next(iter(rows.values())))
    assert {"Record ID", "Started at", "Channel", "Caller county"} <= header
    # not granted for export: fixed fields and answers above `internal`
    for withheld in ("Narrative", "Risk level", "Tenant", "Needs", "Caller name",
                     "Callback number", "Date of birth", "Substance use disclosed",
                     "Risk assessment notes"):  # fmt: skip
        assert withheld not in header
    assert {"Caller age range", "Reason for contact", "Health insurance"} <= header
    async with net.db.read_session() as session:
        counties = dict(
            (await session.execute(select(ContactRecord.id, ContactRecord.caller_county))).all()
        )
    # Each row carries what the agreements covering it grant, and nothing more.
    for record_id, row in rows.items():
        county = counties[uuid.UUID(record_id)]
        assert row["Caller county"] == (county or "" if record_id in osage else ""), record_id
        if record_id not in standard:
            assert row["Channel"] == "" and row["Caller age range"] == ""
        else:
            assert row["Channel"] != ""
    text = result.output.read_text(encoding="utf-8-sig")
    assert "HYPERLINK" not in text  # the caller's name stayed home


async def test_a_principal_without_export_rights_is_refused(net: Network, tmp_path: Path) -> None:
    from sharegraph.errors import Forbidden

    pantry = await _principal(net.db, demo_id("principal", "eastside-portal"))
    request = ExportRequest(
        What.CONTACT_RECORDS, Format.CSV, tmp_path / "x.csv", ExportFilter(tenant_ids=(PRAIRIE,))
    )
    with pytest.raises(Forbidden) as refused:
        await run_export(net.db, await _plan(net.db, pantry), request)
    assert refused.value.reason == "EXPORT_DENIED"
    assert not (tmp_path / "x.csv").exists()


async def test_the_export_is_a_disclosure_in_the_audit_trail(net: Network, tmp_path: Path) -> None:
    result = await export(net, tmp_path, What.CONTACT_RECORDS, Format.NDJSON, as_partner=True)
    exported = {json.loads(line)["id"] for line in result.output.read_text().splitlines()}
    async with net.db.read_session() as session:
        rows = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "disclosure"))
        ).all()
    mine = [r for r in rows if (r.detail or {}).get("exportId") == str(result.export_id)]
    assert mine and result.audit_rows == len(mine)
    assert {i for r in mine for i in r.record_ids or []} == exported
    for row in mine:
        assert row.tenant_id == PRAIRIE and row.record_type == "ContactRecord"
        assert row.principal_id == net.partner_admin and row.purpose == "testing"
        assert row.detail["recipient"] == f"tenant:{net.partner_tenant}"
        assert row.detail["format"] == "ndjson" and row.detail["count"] == len(exported)
        assert "ContactRecord.narrative" not in (row.coordinates or [])
        assert "ContactRecord.answers.caller_age_range" in (row.coordinates or [])


async def test_batches_resume_exactly_after_rows_with_the_same_start(net: Network) -> None:
    principal = owner_principal(PRAIRIE, "Prairie 211")
    access = Disclosure(await _plan(net.db, principal), Action.EXPORT)
    async with net.db.read_session() as session:
        stream = ContactRecordStream(
            session, access, ExportFilter(tenant_ids=(PRAIRIE,)), batch_size=2
        )
        layout = await stream.layout()
        seen = [r.id async for batch in stream.batches(layout) for r in batch]
    assert len(seen) == len(set(seen)) == len(await _prairie_record_ids(net))
    assert set(net.tied_records) <= set(seen)


# -- CSV formulas ---------------------------------------------------------------------------------


def test_cells_a_spreadsheet_would_run_are_neutralized() -> None:
    for formula in [*FORMULAS, "\rCR"]:
        assert neutralize(formula) == "'" + formula
    for plain in ("-93.61", "+1", "42", "Food; Housing", "a=b", ""):
        assert neutralize(plain) == plain


async def test_no_csv_carries_a_formula(net: Network, tmp_path: Path) -> None:
    contact = await export(net, tmp_path, What.CONTACT_RECORDS, Format.CSV)
    resources = await export(net, tmp_path, What.RESOURCES, Format.CSV)
    package = await export(net, tmp_path, What.RESOURCES, Format.HSDS_CSV, name="package")
    files = [contact.output, resources.output, *package.output.glob("*.csv")]
    found = 0
    for path in files:
        for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (path.name, cell)
                if cell.startswith("-"):
                    float(cell)  # only plain numbers (longitudes) may start with a minus
                found += cell.startswith("'") and cell[1:] in FORMULAS
    assert found >= 6


# -- resources: HSDS ------------------------------------------------------------------------------


async def test_every_hsds_json_service_validates(net: Network, tmp_path: Path) -> None:
    result = await export(net, tmp_path, What.RESOURCES, Format.HSDS_JSON)
    services = json.loads(result.output.read_text())
    assert len(services) == result.records > 20
    for service in services:
        assert_full_service_valid(service)
        uuid.UUID(service["id"])
    nested = [s for s in services if s.get("service_at_locations") and s.get("phones")]
    assert nested and any(s.get("capacities") for s in services)
    assert any(a.get("taxonomy_term") for s in services for a in s.get("attributes", []))
    assert all(s["last_modified"].endswith("+00:00") for s in services if "last_modified" in s)


async def test_resources_ndjson_is_one_valid_service_a_line(net: Network, tmp_path: Path) -> None:
    result = await export(net, tmp_path, What.RESOURCES, Format.NDJSON)
    lines = result.output.read_text().splitlines()
    assert len(lines) == result.records
    for line in lines:
        assert_full_service_valid(json.loads(line))


async def test_a_partner_gets_valid_hsds_without_the_fields_it_may_not_export(
    net: Network, tmp_path: Path
) -> None:
    owner = json.loads(
        (
            await export(
                net, tmp_path, What.RESOURCES, Format.HSDS_JSON, name="o.json", tenant=LAKESIDE
            )
        ).output.read_text()
    )
    assert any("description" in s and "phones" in s for s in owner)
    result = await export(
        net, tmp_path, What.RESOURCES, Format.HSDS_JSON, as_partner=True, tenant=LAKESIDE
    )
    services = json.loads(result.output.read_text())
    assert {s["id"] for s in services} == {s["id"] for s in owner}
    for service in services:
        assert_full_service_valid(service)
        assert "description" not in service and "phones" not in service
        assert "schedules" not in service and "attributes" not in service
        assert set(service["organization"]) <= {"id", "name", "description",
                                                "organization_identifiers"}  # fmt: skip
        for at_location in service.get("service_at_locations", []):
            location = at_location.get("location", {})
            assert "phones" not in location and "latitude" not in location
    assert any(s.get("service_at_locations") for s in services)
    assert any(a for s in services for a in s.get("service_at_locations", [])
               if a.get("location", {}).get("addresses"))  # fmt: skip


def _assert_rows_valid(
    name: str, rows: list[dict[str, Any]], tables: dict[str, list[dict[str, Any]]]
) -> None:
    """Each row against its HSDS object schema (3.1 for capacities and units, whose JSON form
    nests the unit the row links to)."""
    units = {u["id"]: u for u in tables.get("unit", [])}
    for row in rows:
        if name == "service_capacity":
            assert_valid({**row, "unit": units[row["unit_id"]]}, "service_capacity.json", "3.1")
        else:
            assert_valid(row, f"{name}.json", "3.1" if name == "unit" else "3.0")


async def test_the_tabular_package_validates_table_by_table(net: Network, tmp_path: Path) -> None:
    result = await export(net, tmp_path, What.RESOURCES, Format.HSDS_CSV, name="pkg")
    tables = tabular_rows(result.output)
    package = json.loads((result.output / "datapackage.json").read_text())
    assert package["profile"] == "tabular-data-package"
    assert {"organization", "service", "location", "service_at_location", "phone", "address",
            "schedule", "taxonomy_term", "attribute", "service_capacity"} <= set(tables)  # fmt: skip
    ids = {name: {r["id"] for r in rows} for name, rows in tables.items()}
    for name, rows in tables.items():
        assert rows or name in {"organization_identifier"}, name
        _assert_rows_valid(name, rows, tables)
    targets = {"organization_id": "organization", "service_id": "service",
               "location_id": "location", "program_id": "program",
               "taxonomy_term_id": "taxonomy_term", "taxonomy_id": "taxonomy",
               "service_at_location_id": "service_at_location", "unit_id": "unit"}  # fmt: skip
    for name, rows in tables.items():
        for row in rows:
            for key, target in targets.items():
                if key in row and name != target:
                    assert row[key] in ids[target], (name, key, row[key])
    for name in ("service", "service_at_location"):
        for row in tables[name]:
            assert "organization_id" in row or name != "service"
    zipped = await export(net, tmp_path, What.RESOURCES, Format.HSDS_CSV, name="pkg.zip")
    with zipfile.ZipFile(zipped.output) as archive:
        assert set(archive.namelist()) == {p.name for p in result.output.iterdir()}


async def test_the_partner_package_leaves_out_rows_hanging_off_nothing_it_may_see(
    net: Network, tmp_path: Path
) -> None:
    result = await export(
        net, tmp_path, What.RESOURCES, Format.HSDS_CSV, as_partner=True, name="partner",
        tenant=LAKESIDE,
    )  # fmt: skip
    tables = tabular_rows(result.output)
    assert tables["service"] and tables["address"] and tables["location"]
    assert not tables["phone"] and not tables["schedule"] and not tables["attribute"]
    assert all("description" not in r for r in tables["service"])
    for name, rows in tables.items():
        _assert_rows_valid(name, rows, tables)


# -- resources: AIRS ------------------------------------------------------------------------------


def _child_tags(element: ET.Element) -> list[str]:
    return list(dict.fromkeys(child.tag for child in element))


def _in_sample_order(ours: list[str], sample: list[str]) -> bool:
    positions = [sample.index(tag) for tag in ours if tag in sample]
    return positions == sorted(positions)


async def test_airs_xml_follows_the_icarol_layout(net: Network, tmp_path: Path) -> None:
    result = await export(net, tmp_path, What.RESOURCES, Format.AIRS_XML)
    root = ET.parse(result.output).getroot()
    sample = ET.parse(
        SAMPLE_DATA / "samples" / "icarol-airs-xml-bc211" / "BC211_data_excerpt.xml"
    ).getroot()
    assert root.tag == "Source" and root.get("SchemaVersion") == "3.0"
    assert root.get("SourceEntity") == "sharegraph Prairie 211"
    agencies = root.findall("Agency")
    assert len(agencies) == result.counts["Organization"]
    for path in ("Agency", "Agency/Site", "Agency/Site/SiteService"):
        sample_tags = [t for e in sample.findall(path) for t in _child_tags(e)]
        for element in root.findall(path):
            assert _in_sample_order(_child_tags(element), list(dict.fromkeys(sample_tags))), path
    services = root.findall("Agency/Site/SiteService")
    assert {s.findtext("Key") for s in services} >= {str(i) for i in await _service_ids(net)} - {
        str(i) for i in await _service_ids(net, located=False)
    }
    described = [s.findtext("Description") for s in services if s.findtext("Description")]
    assert any("&quot;" in d for d in described)  # HTML escaped once, as iCarol writes it
    assert root.find("Agency/Site/SpatialLocation/Latitude") is not None
    assert root.find("Agency/Site/SiteService/Taxonomy/Code") is not None


async def _service_ids(net: Network, located: bool = True) -> list[uuid.UUID]:
    from sharegraph.datastore.models import ServiceAtLocation

    async with net.db.read_session() as session:
        has_location = Service.id.in_(select(ServiceAtLocation.service_id))
        ids = await session.scalars(
            select(Service.id).where(
                Service.tenant_id == PRAIRIE, has_location if located else ~has_location
            )
        )
        return list(ids.all())


# -- the command ----------------------------------------------------------------------------------


def _cli(net: Network, *args: str) -> Any:
    return runner.invoke(app, ["export", "--database", net.db.url, *args])


def test_cli_exit_codes(net: Network, tmp_path: Path) -> None:
    target = tmp_path / "records.csv"
    base = ["--tenant", "Prairie 211", "--output", str(target)]
    wrong = _cli(net, "--what", "contact-records", "--format", "hsds-json", *base)
    assert wrong.exit_code == 2 and "cannot be exported as hsds-json" in wrong.output
    assert _cli(net, "--what", "everything", "--format", "csv", *base).exit_code == 2
    unknown = _cli(net, "--what", "resources", "--format", "csv", "--tenant", "Nowhere 211",
                   "--output", str(target))  # fmt: skip
    assert unknown.exit_code == 2 and "no tenant" in unknown.output
    nobody = _cli(net, "--what", "resources", "--format", "csv", *base, "--as", "nobody")
    assert nobody.exit_code == 2 and "no active principal" in nobody.output
    refused = _cli(net, "--what", "contact-records", "--format", "csv", *base,
                   "--as", "eastside-portal")  # fmt: skip
    assert refused.exit_code == 1 and "EXPORT_DENIED" not in refused.output
    assert "may not export" in refused.output and not target.exists()

    done = _cli(net, "--what", "contact-records", "--format", "csv", *base, "--json")
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["records"] > 100 and summary["auditRows"] == 1 and target.exists()
    again = _cli(net, "--what", "contact-records", "--format", "csv", *base)
    assert again.exit_code == 2 and "already exists" in again.output
    forced = _cli(net, "--what", "contact-records", "--format", "ndjson", *base, "--force",
                  "--as", PARTNER)  # fmt: skip
    assert forced.exit_code == 0, forced.output
    assert target.read_text().startswith("{")

    folder = tmp_path / "directory"
    package = _cli(net, "--what", "resources", "--format", "hsds-csv", "--tenant", "Prairie 211",
                   "--output", str(folder))  # fmt: skip
    assert package.exit_code == 0, package.output
    assert (folder / "datapackage.json").exists() and (folder / "services.csv").exists()


async def test_airs_round_trip_through_our_importer_changes_nothing(
    net: Network, tmp_path: Path
) -> None:
    imports = pytest.importorskip("sharegraph.importers")
    sample = SAMPLE_DATA / "samples" / "icarol-airs-xml-bc211" / "BC211_data_excerpt.xml"
    name = f"Round Trip {uuid.uuid4().hex[:6]}"
    tenant, _ = await add_tenant_with_admin(net.db, name, f"admin-{name}")
    first = await imports.import_path(net.db, sample, tenant=name, fmt="airs-xml")
    assert first.committed and first.total("created") > 0, first.summary()
    principal = owner_principal(tenant, name)
    plan = await _plan(net.db, principal)

    hsds = tmp_path / "round-trip.json"
    await run_export(
        net.db, plan, ExportRequest(What.RESOURCES, Format.HSDS_JSON, hsds, ExportFilter((tenant,)))
    )
    services = json.loads(hsds.read_text())
    assert len(services) == len({s.findtext("Key") for s in ET.parse(sample).iter("SiteService")})
    for service in services:
        assert_full_service_valid(service)

    airs = tmp_path / "round-trip.xml"
    result = await run_export(
        net.db, plan, ExportRequest(What.RESOURCES, Format.AIRS_XML, airs, ExportFilter((tenant,)))
    )
    root = ET.parse(airs).getroot()
    assert root.get("SourceEntity") == ET.parse(sample).getroot().get("SourceEntity")
    assert result.counts["Organization"] == len(ET.parse(sample).getroot().findall("Agency"))
    again = await imports.import_path(net.db, airs, tenant=name, fmt="airs-xml")
    assert again.committed, again.summary()
    changed = {w: again.total(w) for w in ("created", "updated", "deactivated")}
    assert changed == {"created": 0, "updated": 0, "deactivated": 0}, json.dumps(
        again.to_json(), indent=1
    )
