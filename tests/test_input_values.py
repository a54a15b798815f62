"""Input values every backend can store: instants and dates from years 1000 through 9998 (in UTC),
and text without U+0000 or lone surrogates. Whatever comes in (a GraphQL literal or variable, an
HSDS query parameter, an import file), the rest is refused with the field and the reason, the
same way on SQLite and PostgreSQL, and the gateway stays healthy.
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import (
    ContactRecord,
    Event,
    Organization,
    Schedule,
    Service,
    Tenant,
)
from sharegraph.demo import demo_id
from sharegraph.exporters.cells import SafeCsvWriter
from sharegraph.graph.relay import to_global_id
from sharegraph.importers import import_path

from .conftest import Api
from .test_contact_records import CREATE, _form_version, _valid_answers

EXTREMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
RANGE = "1000-01-01T00:00:00Z to 9998-12-31T23:59:59Z"
RECORDS = """query($f: ContactRecordFilterInput) {
  contactRecords(first: 1, filter: $f) { totalCount }
}"""
SERVICES = """query($f: DirectoryFilterInput) { services(first: 1, filter: $f) { totalCount } }"""
FOOD_BOXES = demo_id("service", "eastside-food-boxes")


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    assert body["data"] is None or all(v is None for v in body["data"].values()), body
    assert len(body.get("errors", [])) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error


async def assert_healthy(api: Api) -> None:
    started = time.perf_counter()
    response = await api.http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert time.perf_counter() - started < 1.0


async def count(api: Api, model: Any) -> int:
    async with api.database.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# -- dates and times --------------------------------------------------------------------------


async def test_the_hsds_api_refuses_dates_beyond_what_it_can_store(api: Api) -> None:
    for value in EXTREMES:
        response = await api.http.get("/hsds/services", params={"modified_after": value})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "BAD_USER_INPUT" and error["reason"] == "BAD_PARAMETER"
        assert error["parameter"] == "modified_after"
        assert value in error["message"] and RANGE in error["message"]
        await assert_healthy(api)

    # An ordinary date still filters; a naive one is read as UTC, as HSDS clients expect.
    everything = (await api.http.get("/hsds/services")).json()["total_items"]
    for value in ("2000-01-01T00:00:00Z", "2000-01-01T00:00:00", "1000-01-01T00:00:00Z"):
        response = await api.http.get("/hsds/services", params={"modified_after": value})
        assert response.status_code == 200 and response.json()["total_items"] == everything
    future = await api.http.get("/hsds/services", params={"modified_after": "9998-12-31T00:00Z"})
    assert future.status_code == 200 and future.json()["total_items"] == 0


async def test_a_filter_date_beyond_the_range_is_bad_input_as_literal_and_as_variable(
    api: Api,
) -> None:
    for value in EXTREMES:
        as_variable = await api.gql("prairie-admin", RECORDS, {"f": {"startedAfter": value}})
        error = refusal(as_variable)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "DATE_OUT_OF_RANGE"}
        assert error["message"].startswith("Variable '$f' has invalid value at .startedAfter")
        assert value in error["message"] and RANGE in error["message"]

        literal = f'{{ contactRecords(filter: {{startedAfter: "{value}"}}) {{ totalCount }} }}'
        error = refusal(await api.gql("prairie-admin", literal))
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "DATE_OUT_OF_RANGE"}
        assert value in error["message"] and RANGE in error["message"]
        assert error["locations"], "a literal is pointed at"

        directory = await api.gql("prairie-admin", SERVICES, {"f": {"modifiedAfter": value}})
        error = refusal(directory)
        assert error["extensions"]["reason"] == "DATE_OUT_OF_RANGE"
        assert ".modifiedAfter" in error["message"]
        literal = f'{{ services(filter: {{modifiedAfter: "{value}"}}) {{ totalCount }} }}'
        error = refusal(await api.gql("riverbend-api", literal))
        assert error["extensions"]["reason"] == "DATE_OUT_OF_RANGE"
        await assert_healthy(api)


async def test_dates_in_range_still_filter_and_others_are_refused_clearly(api: Api) -> None:
    everything = (await api.data("prairie-admin", RECORDS))["contactRecords"]["totalCount"]
    assert everything > 0
    for value in ("1000-01-01T00:00:00Z", "2000-01-01T00:00:00+14:00", "1999-12-31T10:00:00-14:00"):
        data = await api.data("prairie-admin", RECORDS, {"f": {"startedAfter": value}})
        assert data["contactRecords"]["totalCount"] == everything
    data = await api.data("prairie-admin", RECORDS, {"f": {"startedBefore": "9998-12-31T23:59Z"}})
    assert data["contactRecords"]["totalCount"] == everything

    refused = {
        "0999-12-31T23:59:59Z": "DATE_OUT_OF_RANGE",
        "1000-01-01T00:00:00+00:01": "DATE_OUT_OF_RANGE",
        "2026-01-01T00:00:00": "BAD_DATE_TIME",  # no UTC offset: ambiguous
        "yesterday": "BAD_DATE_TIME",
        "2026-01-01T00:00:00Z" + "9" * 500: "BAD_DATE_TIME",
    }
    for value, reason in refused.items():
        error = refusal(await api.gql("prairie-admin", RECORDS, {"f": {"updatedAfter": value}}))
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": reason}, value
        assert value[:100] in error["message"] and len(error["message"]) < 300

    # Dates (no time of day) have the same range.
    client = "query($d: Date) { clients(filter: {dateOfBirth: $d}) { totalCount } }"
    error = refusal(await api.gql("riverbend-admin", client, {"d": "0001-01-01"}))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "DATE_OUT_OF_RANGE"}
    assert "1000-01-01 to 9998-12-31" in error["message"]
    assert "errors" not in await api.gql("riverbend-admin", client, {"d": "1980-02-29"})
    await assert_healthy(api)


# -- characters no database can store ---------------------------------------------------------


async def test_a_contact_record_with_a_nul_is_refused_and_nothing_is_written(
    write_api: Api,
) -> None:
    api = write_api
    form_version, fields = await _form_version(api, "prairie-call-taker")
    answers = _valid_answers(fields)
    text_key = next(f["key"] for f in fields if f["type"] in ("TEXT", "TEXTAREA"))
    base = {
        "formVersionId": form_version,
        "channel": "CALL",
        "startedAt": "2026-11-20T14:00:00-06:00",
        "answers": answers,
    }
    records, events = await count(api, ContactRecord), await count(api, Event)

    refused = {
        "$input.narrative": {**base, "narrative": "Caller\x00 needs food"},
        "$input.client.firstName": {**base, "client": {"firstName": "Da\x00na"}},
        f"$input.answers.{text_key}": {**base, "answers": {**answers, text_key: "a\x00b"}},
        "$input.answers.x\ufffdy": {**base, "answers": {**answers, "x\x00y": "b"}},
    }
    for field, bad in refused.items():
        error = refusal(await api.gql("prairie-call-taker", CREATE, {"input": bad}))
        assert error["extensions"] == {
            "code": "BAD_USER_INPUT",
            "reason": "BAD_CHARACTER",
            "field": field,
        }
        assert "U+0000" in error["message"]

    # A lone surrogate: JSON can spell one, UTF-8 cannot encode it.
    body = json.dumps({"query": CREATE, "variables": {"input": {**base, "narrative": "\ud800"}}})
    response = await api.http.post(
        "/graphql",
        content=body.encode("ascii"),
        headers={
            "Authorization": f"Bearer {api.keys['prairie-call-taker']}",
            "Content-Type": "application/json",
        },
    )
    error = refusal(response.json())
    assert error["extensions"]["reason"] == "BAD_CHARACTER" and "U+D800" in error["message"]

    # The same in a literal, spelled with a GraphQL escape.
    fields_literal = (
        f'formVersionId: "{form_version}", channel: CALL, startedAt: "2026-11-20T14:00:00Z", '
        f'narrative: "a\\u0000b", answers: {_graphql_literal(answers)}'
    )
    literal = f"mutation {{ createContactRecord(input: {{{fields_literal}}}) {{ __typename }} }}"
    error = refusal(await api.gql("prairie-call-taker", literal))
    assert error["extensions"]["field"] == "createContactRecord.input.narrative"
    # Sent again (its literals' check is remembered per document text): refused again.
    error = refusal(await api.gql("prairie-call-taker", literal))
    assert error["extensions"]["field"] == "createContactRecord.input.narrative"

    # A DATE answer has the range of every date.
    date_key = next(f["key"] for f in fields if f["type"] == "DATE")
    far = {**base, "answers": {**answers, date_key: "0001-01-01"}}
    error = refusal(await api.gql("prairie-call-taker", CREATE, {"input": far}))
    assert error["extensions"]["reason"] == "INVALID_ANSWER"
    assert "1000-01-01 to 9998-12-31" in error["message"]

    assert await count(api, ContactRecord) == records
    assert await count(api, Event) == events
    created = await api.gql("prairie-call-taker", CREATE, {"input": {**base, "narrative": "ok"}})
    assert "errors" not in created, created
    await assert_healthy(api)


def _graphql_literal(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_graphql_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_graphql_literal(v) for v in value) + "]"
    return json.dumps(value)


async def test_directory_edits_with_a_nul_are_refused_on_every_backend(write_api: Api) -> None:
    api = write_api
    organizations, events = await count(api, Organization), await count(api, Event)
    create = """mutation($input: CreateOrganizationInput!) {
      createOrganization(input: $input) { organization { id } }
    }"""
    body = await api.gql(
        "prairie-admin", create, {"input": {"name": "North\x00side", "description": "x"}}
    )
    assert refusal(body)["extensions"]["field"] == "$input.name"

    update = """mutation($input: UpdateServiceInput!) {
      updateService(input: $input) { service { alert } }
    }"""
    service = to_global_id("Service", FOOD_BOXES)
    body = await api.gql("prairie-admin", update, {"input": {"id": service, "alert": "\x00"}})
    assert refusal(body)["extensions"]["reason"] == "BAD_CHARACTER"

    assert await count(api, Organization) == organizations
    assert await count(api, Event) == events
    async with api.database.read_session() as session:
        boxes = await session.get(Service, FOOD_BOXES)
    assert boxes is not None and boxes.alert is None
    await assert_healthy(api)


async def test_a_nul_in_an_hsds_query_parameter_is_a_bad_parameter(api: Api) -> None:
    response = await api.http.get("/hsds/services", params={"search": "food\x00"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["reason"], error["parameter"]) == ("BAD_PARAMETER", "search")
    await assert_healthy(api)


def test_csv_exports_never_carry_a_raw_nul() -> None:
    """Rows stored before NULs were refused (SQLite kept them) still export cleanly."""
    out = io.StringIO()
    SafeCsvWriter(out).row(["a\x00b", ["x\x00", "y"], None])
    assert "\x00" not in out.getvalue()
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["a\ufffdb", "x\ufffd; y", ""]


# -- imports ----------------------------------------------------------------------------------


@pytest.fixture
async def db(migrated_db: Database) -> Database:
    async with migrated_db.write_session() as session:
        session.add(Tenant(id=uuid.uuid4(), name="Prairie 211"))
    return migrated_db


def _service(key: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": key,
        "name": name,
        "status": "active",
        "organization": {"id": f"org-{key}", "name": f"{name} Inc.", "email": "a@b.example"},
        **extra,
    }


async def _import(db: Database, path: Path) -> Any:
    return await import_path(db, path, tenant="Prairie 211", source="generated")


async def _names(db: Database, model: Any) -> set[str]:
    async with db.read_session() as session:
        return set(await session.scalars(select(model.name)))


async def test_an_import_rejects_the_record_with_a_nul_and_keeps_the_rest(
    db: Database, tmp_path: Path
) -> None:
    listing = tmp_path / "services.json"
    listing.write_text(
        json.dumps(
            [
                _service("s1", "Food Boxes"),
                _service("s2", "Night\u0000 Shelter"),
                _service("s3", "Rent Help", phones=[{"number": "555-0100\u0000"}]),
                _service("s4", "Diapers"),
            ]
        ),
        encoding="utf-8",
    )
    report = await _import(db, listing)

    assert report.committed and report.rejected == 3
    assert await _names(db, Service) == {"Food Boxes", "Diapers"}
    issues = {e.origin.path: e.reason for e in report.errors}
    assert "service s2: `name` holds the character U+0000" in issues["[1]"]
    assert "organization org-s2: `name` holds the character U+0000" in issues["[1].organization"]
    assert "`phones[0].number` holds the character U+0000" in issues["[2]"]

    folder = tmp_path / "tabular"
    folder.mkdir()
    (folder / "organizations.csv").write_text(
        "id,name,description\no1,Eastside Pantry,x\no2,West\x00side,x\no3,Harbor,x\n",
        encoding="utf-8",
    )
    tabular = await import_path(db, folder, tenant="Prairie 211", source="csv", partial=True)
    assert tabular.committed and tabular.rejected == 1
    assert [(e.origin.file, e.origin.line) for e in tabular.errors] == [
        (str(folder / "organizations.csv"), 3)
    ]
    assert {"Eastside Pantry", "Harbor"} <= await _names(db, Organization)


async def test_an_out_of_range_date_in_an_import_is_reported_on_its_row(
    db: Database, tmp_path: Path
) -> None:
    listing = tmp_path / "services.json"
    listing.write_text(
        json.dumps(
            [
                _service("s1", "Food Boxes", assured_date="2026-01-15"),
                _service("s2", "Night Shelter", assured_date="0001-01-01"),
                _service(
                    "s3",
                    "Rent Help",
                    schedules=[{"valid_from": "2026-01-01", "valid_to": "9999-12-31"}],
                ),
            ]
        ),
        encoding="utf-8",
    )
    report = await _import(db, listing)

    assert report.committed and report.rejected == 0
    warnings = {w.origin.path: w.reason for w in report.warnings}
    assert "0001-01-01" in warnings["[1]"] and "1000-01-01 to 9998-12-31" in warnings["[1]"]
    assert "9999-12-31" in warnings["[2].schedules[0]"]
    async with db.read_session() as session:
        assured = dict((await session.execute(select(Service.name, Service.assured_date))).all())
        schedule = await session.scalar(select(Schedule))
    assert str(assured["Food Boxes"]) == "2026-01-15"
    assert assured["Night Shelter"] is None, "the unstorable date is left out, the record kept"
    assert schedule is not None and schedule.valid_to is None
