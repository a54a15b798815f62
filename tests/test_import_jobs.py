"""Imports through the API, on both backends: `POST /imports` queues a job for the scheduler,
`importJob` / `importJobs` report it; who may upload and read, and every refusal with its code
(nothing kept)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.importers.jobs import import_jobs_work
from sharegraph.worker import Scheduler

from .conftest import Api, make_api
from .test_console_exchange import IMPORT_LIMIT, INVALID, exchange_settings

REPORT = """query($id: ID!) { importJob(id: $id) {
  status committed fileName format detectedFormat sizeBytes bytesRead bytesTotal
  counts { created updated unchanged deactivated rejected placeholders }
  problems { severity code file row path message } omittedProblems error } }"""


@pytest.fixture
async def api(seeded_db: Database, keys: dict[str, str], tmp_path: Path) -> AsyncIterator[Api]:
    async for client in make_api(seeded_db, keys, exchange_settings(seeded_db, tmp_path)):
        yield client


def _upload(
    api: Api, principal: str, content: bytes, name: str = "bc211.xml", **fields: str
) -> Any:
    return api.http.post(
        "/imports",
        files={"file": (name, content, "application/octet-stream")},
        data=fields,
        headers={"Authorization": f"Bearer {api.keys[principal]}"},
    )


async def _run(db: Database, tmp_path: Path) -> None:
    settings = exchange_settings(db, tmp_path)
    report = await Scheduler(db, [import_jobs_work(settings.exchange)]).run_once(utcnow())
    assert report.ok, report.to_json()


async def test_an_upload_is_imported_and_reported_by_row(
    api: Api, seeded_db: Database, tmp_path: Path
) -> None:
    posted = await _upload(api, "prairie-admin", INVALID.read_bytes(), format="airs-xml")
    assert posted.status_code == 202, posted.text
    job_id = posted.json()["data"]["importJob"]["id"]
    pending = (await api.data("prairie-admin", REPORT, {"id": job_id}))["importJob"]
    assert pending["status"] == "PENDING" and pending["counts"] is None
    assert pending["sizeBytes"] == INVALID.stat().st_size
    assert pending["bytesRead"] is None and pending["bytesTotal"] is None

    await _run(seeded_db, tmp_path)
    job = (await api.data("prairie-admin", REPORT, {"id": job_id}))["importJob"]
    assert job["status"] == "DONE" and job["committed"] and job["detectedFormat"] == "airs-xml"
    assert job["counts"]["rejected"] == 2
    assert job["bytesRead"] == job["bytesTotal"] == INVALID.stat().st_size
    assert [p for p in job["problems"] if p["severity"] == "ERROR"] == [
        {
            "severity": "ERROR",
            "code": "REJECTED",
            "file": "bc211.xml",
            "row": 3,
            "path": "/Source/Agency[1]",
            "message": "Agency INVALID_AGENCY has no Name",
        },
        {
            "severity": "ERROR",
            "code": "REJECTED",
            "file": "bc211.xml",
            "row": 901,
            "path": "/Source/Agency[4]",
            "message": "Agency ANOTHER_INVALID_AGENCY has no Name",
        },
    ]
    listed = await api.data("prairie-admin", "{ importJobs(status: DONE) { totalCount } }")
    assert listed["importJobs"]["totalCount"] == 1


async def test_strict_writes_nothing_when_a_row_is_bad(
    api: Api, seeded_db: Database, tmp_path: Path
) -> None:
    posted = await _upload(api, "prairie-admin", INVALID.read_bytes(), strict="true")
    job_id = posted.json()["data"]["importJob"]["id"]
    await _run(seeded_db, tmp_path)
    job = (await api.data("prairie-admin", REPORT, {"id": job_id}))["importJob"]
    assert job["status"] == "FAILED" and not job["committed"]
    assert job["error"] == "strict: 2 bad record(s); nothing was written"
    found = await api.data(
        "prairie-admin",
        '{ organizations(filter: {search: "Stepping Stone"}) { edges { node { name } } } }',
    )
    assert found["organizations"]["edges"] == []


@pytest.mark.parametrize("who", ["prairie-call-taker", "eastside-portal", "prairie-api"])
async def test_only_tenant_admins_upload_or_read(api: Api, who: str) -> None:
    refused = await _upload(api, who, INVALID.read_bytes())
    assert refused.status_code == 403, refused.text
    assert refused.json()["errors"][0]["extensions"]["reason"] == "NOT_ADMIN"
    read = await api.gql(who, "{ importJobs { totalCount } }")
    assert read["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_another_tenants_admin_sees_none_of_it(api: Api) -> None:
    posted = await _upload(api, "prairie-admin", INVALID.read_bytes())
    job_id = posted.json()["data"]["importJob"]["id"]
    other = await api.data("lakeside-admin", REPORT, {"id": job_id})
    assert other["importJob"] is None
    listed = await api.data("lakeside-admin", "{ importJobs { totalCount } }")
    assert listed["importJobs"]["totalCount"] == 0


def _code(response: httpx.Response) -> tuple[int, str, str]:
    extensions = response.json()["errors"][0]["extensions"]
    return response.status_code, extensions["code"], extensions.get("reason")


async def test_bad_uploads_are_refused_with_their_codes_and_nothing_is_kept(
    api: Api, tmp_path: Path
) -> None:
    key = {"Authorization": f"Bearer {api.keys['prairie-admin']}"}
    assert _code(await _upload(api, "prairie-admin", b"%PDF-1.7 ...", "a.pdf")) == (
        400,
        "BAD_USER_INPUT",
        "UNSUPPORTED_FILE_TYPE",
    )
    too_big = b"<Source>" + b" " * (IMPORT_LIMIT * 2) + b"</Source>"
    refused = await _upload(api, "prairie-admin", too_big)
    assert _code(refused) == (400, "BAD_USER_INPUT", "FILE_TOO_LARGE")
    assert refused.headers["connection"] == "close"
    assert _code(await _upload(api, "prairie-admin", b"", "empty.xml")) == (
        400,
        "BAD_USER_INPUT",
        "EMPTY_FILE",
    )
    assert _code(await _upload(api, "prairie-admin", b"<x/>", format="csv")) == (
        400,
        "BAD_USER_INPUT",
        "BAD_FORMAT",
    )
    assert _code(await _upload(api, "prairie-admin", b"<x/>", partial="maybe")) == (
        400,
        "BAD_USER_INPUT",
        "BAD_REQUEST",
    )
    as_json = await api.http.post("/imports", json={"file": "<x/>"}, headers=key)
    assert _code(as_json) == (400, "BAD_USER_INPUT", "BAD_REQUEST")
    no_file = await api.http.post("/imports", data={"format": "auto"}, files={}, headers=key)
    assert no_file.status_code == 400
    assert _code(await api.http.post("/imports", files={"x": ("a", b"1")}))[0] == 401
    listed = await api.data("prairie-admin", "{ importJobs { totalCount } }")
    assert listed["importJobs"]["totalCount"] == 0
    assert not any((tmp_path / "imports").glob("*"))


async def test_a_running_import_reports_how_far_it_has_read(
    api: Api, seeded_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress as a running job shows it: from the importing process (and on PostgreSQL
    from the row, written about every second)."""
    from sharegraph.importers import jobs as import_jobs

    seen: list[tuple[str, int | None, int | None]] = []
    real = import_jobs.import_path

    async def watched(*args: Any, **kwargs: Any) -> Any:
        progress = kwargs["progress"]
        progress(1000)  # as the reader reports its first bytes
        job = (await api.data("prairie-admin", REPORT, {"id": job_id}))["importJob"]
        seen.append((job["status"], job["bytesRead"], job["bytesTotal"]))
        return await real(*args, **kwargs)

    monkeypatch.setattr(import_jobs, "import_path", watched)
    posted = await _upload(api, "prairie-admin", INVALID.read_bytes())
    job_id = posted.json()["data"]["importJob"]["id"]
    await _run(seeded_db, tmp_path)
    assert seen == [("RUNNING", 1000, INVALID.stat().st_size)]


async def test_progress_written_to_the_row_is_what_other_processes_read(
    api: Api, seeded_db: Database
) -> None:
    from datetime import timedelta

    from sharegraph.queries import import_jobs as jobs

    posted = await _upload(api, "prairie-admin", INVALID.read_bytes())
    job_id = posted.json()["data"]["importJob"]["id"]
    claimed = await jobs.claim(seeded_db, utcnow(), timedelta(minutes=5))
    assert isinstance(claimed, jobs.Claimed)
    await jobs.record_progress(seeded_db, claimed, 4096, 45220)
    job = (await api.data("prairie-admin", REPORT, {"id": job_id}))["importJob"]
    assert (job["status"], job["bytesRead"], job["bytesTotal"]) == ("RUNNING", 4096, 45220)
