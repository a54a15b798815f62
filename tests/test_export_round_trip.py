"""Every export format that has a matching import format reads back: Prairie's directory,
exported by its owner, imports into a new tenant whole, and exported again from there gives the
same objects (ids, source keys and capacities aside: capacity is live state that no import
format carries); importing the same file again changes nothing.

Contact-record exports have no importer, so they have no round trip.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from sharegraph.authz.store import PolicyStore
from sharegraph.datastore.engine import Database
from sharegraph.demo import demo_id
from sharegraph.exporters.contact_records import ExportFilter
from sharegraph.exporters.run import (
    FORMATS,
    ExportRequest,
    Format,
    What,
    owner_principal,
    run_export,
)
from sharegraph.importers import ImportReport, import_path

from .builders import add_tenant_with_admin
from .conftest import Api
from .hsds_schema import tabular_rows

PRAIRIE = demo_id("tenant", "prairie")
# export format -> the import format that reads it back (resources; CSV is a flat report).
ROUND_TRIPS: dict[Format, str] = {
    Format.NDJSON: "hsds-json",
    Format.HSDS_JSON: "hsds-json",
    Format.HSDS_CSV: "hsds-csv",
    Format.AIRS_XML: "airs-xml",
    Format.HSDS11_CSV: "hsds-csv",
}
# The flat CSV is a report; the HSDS 1.1 JSON package has no importer (its CSV form has).
NOT_READ_BACK = {Format.CSV, Format.HSDS11_JSON}


def test_every_resource_format_with_an_importer_has_a_round_trip() -> None:
    assert set(FORMATS[What.RESOURCES]) == set(ROUND_TRIPS) | NOT_READ_BACK


async def _export(db: Database, tenant: uuid.UUID, name: str, fmt: Format, out: Path) -> Path:
    store = PolicyStore(db)
    await store.reload()
    plan = store.plan_for(owner_principal(tenant, name))
    request = ExportRequest(What.RESOURCES, fmt, out, ExportFilter((tenant,)))
    await run_export(db, plan, request)
    return out


def _services(path: Path, fmt: Format) -> list[dict[str, Any]]:
    """The services of an HSDS export, as comparable JSON."""
    text = path.read_text(encoding="utf-8")
    if fmt is Format.NDJSON:
        found: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines()]
        return found
    loaded: list[dict[str, Any]] = json.loads(text)
    return loaded


_IDENTITY = {"id", "organization_id", "service_id", "location_id", "program_id", "link_id",
             "taxonomy_term_id", "taxonomy_id", "parent_id", "service_at_location_id",
             "address_id", "contact_id", "phone_id", "schedule_id", "last_modified", "unit_id",
             # what the import adds: the exported records become the new tenant's source
             "organization_identifiers", "external_identifier", "external_identifier_type",
             # live state, not directory data: no import format carries it
             "capacities"}  # fmt: skip


def _without_identity(value: Any) -> Any:
    """``value`` without ids, modification times and source-key attributes, lists sorted."""
    if isinstance(value, dict):
        if value.get("link_type") in ("source_system", "source_key"):
            return None
        kept = {k: _without_identity(v) for k, v in value.items() if k not in _IDENTITY}
        return {k: v for k, v in kept.items() if v not in (None, [])}
    if isinstance(value, list):
        items = [_without_identity(v) for v in value]
        return sorted(
            (i for i in items if i is not None), key=lambda i: json.dumps(i, sort_keys=True)
        )
    return value


def _changes(report: ImportReport) -> dict[str, int]:
    return {w: report.total(w) for w in ("created", "updated", "deactivated", "rejected")}


@pytest.mark.parametrize("fmt", list(ROUND_TRIPS), ids=lambda f: f.value)
async def test_an_export_imports_back_into_the_same_directory(
    seeded_db: Database, tmp_path: Path, fmt: Format
) -> None:
    db = seeded_db
    suffix = {Format.HSDS_CSV: "", Format.HSDS11_CSV: "", Format.AIRS_XML: ".xml",
              Format.HSDS_JSON: ".json"}  # fmt: skip
    exported = await _export(
        db, PRAIRIE, "Prairie 211", fmt, tmp_path / f"prairie{suffix.get(fmt, '.ndjson')}"
    )
    name = f"Round Trip {fmt.value}"
    tenant, _ = await add_tenant_with_admin(db, name, f"admin-{fmt.value}")

    # HSDS JSON does not name its source system (AIRS XML and data packages do).
    source = "prairie-export" if ROUND_TRIPS[fmt] == "hsds-json" else None
    first = await import_path(db, exported, tenant=name, fmt=ROUND_TRIPS[fmt], source=source)

    assert first.committed and first.errors == [], first.summary()
    assert first.total("created") > 10 and first.total("rejected") == 0, first.summary()
    again = await _export(db, tenant, name, fmt, tmp_path / f"again{suffix.get(fmt, '.ndjson')}")
    if fmt in (Format.NDJSON, Format.HSDS_JSON):
        before, after = _services(exported, fmt), _services(again, fmt)
        assert len(after) == len(before)
        assert _without_identity(after) == _without_identity(before)
    elif fmt in (Format.HSDS_CSV, Format.HSDS11_CSV):
        before_rows, after_rows = tabular_rows(exported), tabular_rows(again)
        for table, rows in before_rows.items():
            if table in ("metadata", "organization_identifier", "unit", "service_capacity"):
                continue
            assert _without_identity(after_rows.get(table, [])) == _without_identity(rows), table
    else:
        assert again.read_bytes().count(b"<SiteService") == exported.read_bytes().count(
            b"<SiteService"
        )

    repeated = await import_path(db, exported, tenant=name, fmt=ROUND_TRIPS[fmt], source=source)
    assert repeated.committed, repeated.summary()
    assert _changes(repeated) == {"created": 0, "updated": 0, "deactivated": 0, "rejected": 0}


async def test_the_hsds_apis_ndjson_answer_imports_too(write_api: Api, tmp_path: Path) -> None:
    response = await write_api.http.get("/hsds/services?format=ndjson&full=true")
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert len(lines) > 1
    path = tmp_path / "services.ndjson"
    path.write_text(response.text, encoding="utf-8")
    db = write_api.database
    await add_tenant_with_admin(db, "From The API", "from-api-admin")

    report = await import_path(db, path, tenant="From The API", source="prairie-hsds-api")

    assert report.committed and report.errors == [], report.summary()
    assert report.format == "hsds-json"
    assert report.to_json()["byType"]["service"]["created"] == len(lines)
