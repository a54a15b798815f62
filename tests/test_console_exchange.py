"""The console's data exchange area over httpx, on both backends: imports (upload, report, the
good rows really in the directory), exports and their schedules, e-mail templates, webhook
endpoints with their delivery log and replays, replication status; refusals and bad input."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.importers.jobs import import_jobs_work
from sharegraph.settings import ExchangeSettings, Settings, WebhookSettings
from sharegraph.worker import Scheduler

from .conftest import Api
from .portal_support import Browser, open_portal, portal_settings, set_password

SAMPLES = Path(__file__).parent / "data" / "samples"
INVALID = SAMPLES / "icarol-airs-xml-bc211" / "BC211_data_with_invalid_agencies.xml"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
ADMIN = "prairie-admin"
KEY = Fernet.generate_key().decode()
IMPORT_LIMIT = 64 * 1024


@dataclass
class Console:
    app: Any
    db: Database
    browser: Browser
    api: Api
    settings: Settings
    imports: Scheduler

    async def get(self, path: str) -> httpx.Response:
        return await self.browser.http.get(path)

    async def upload(
        self, content: bytes, name: str, fields: dict[str, str] | None = None
    ) -> httpx.Response:
        token = await self.browser.token("/console/exchange/imports")
        return await self.browser.http.post(
            "/console/exchange/imports",
            data={"csrf_token": token, **(fields or {})},
            files={"file": (name, content, "application/octet-stream")},
        )

    async def run_imports(self) -> None:
        report = await self.imports.run_once(utcnow())
        for kind in report.kinds:
            assert kind.error is None and not kind.failures, kind


def exchange_settings(db: Database, tmp_path: Path) -> Settings:
    base = portal_settings(db, None)
    return replace(
        base,
        exchange=replace(
            ExchangeSettings(),
            secret_key=KEY,
            export_dir=tmp_path / "exports",
            import_dir=tmp_path / "imports",
            import_max_bytes=IMPORT_LIMIT,
            delivery_root=tmp_path / "deliveries",
        ),
        webhooks=WebhookSettings(
            allow_private_addresses=True, connect_timeout_seconds=1, read_timeout_seconds=1
        ),
    )


@pytest.fixture
async def console(
    seeded_db: Database, keys: dict[str, str], tmp_path: Path
) -> AsyncIterator[Console]:
    await set_password(seeded_db, ADMIN)
    settings = exchange_settings(seeded_db, tmp_path)
    async for p in open_portal(seeded_db, settings):
        signed = await p.browser.sign_in(ADMIN)
        assert signed.status_code == 303, signed.text
        api = Api(http=p.browser.http, keys=keys, database=seeded_db)
        imports = Scheduler(seeded_db, [import_jobs_work(settings.exchange)])
        yield Console(p.app, seeded_db, p.browser, api, settings, imports)


def problem_codes(page: str) -> list[str]:
    return re.findall(r"<small>([A-Z_]+)", page)


# -- imports -------------------------------------------------------------------------------------


async def test_an_uploaded_file_becomes_an_import_whose_report_lists_its_bad_rows(
    console: Console,
) -> None:
    empty = await console.get("/console/exchange/imports")
    assert empty.status_code == 200 and 'class="problem"' not in empty.text
    assert 'enctype="multipart/form-data"' in empty.text

    posted = await console.upload(INVALID.read_bytes(), "bc211.xml")
    assert posted.status_code == 303, posted.text
    location = posted.headers["location"]
    assert location.startswith("/console/exchange/imports/") and location.endswith("?done=uploaded")

    waiting = await console.get(location)
    assert waiting.status_code == 200, waiting.text
    assert "bc211.xml" in waiting.text and "pending" in waiting.text
    assert 'hx-trigger="every 2s"' in waiting.text  # the page follows the job

    await console.run_imports()
    report = await console.get(location.split("?")[0])
    assert report.status_code == 200 and 'class="problem"' not in report.text
    assert "done" in report.text and 'hx-trigger="every 2s"' not in report.text
    # The two agencies without a name, with the rows they start on.
    assert "Agency INVALID_AGENCY has no Name" in report.text
    assert "Agency ANOTHER_INVALID_AGENCY has no Name" in report.text
    rows = re.findall(r"<tr class=\"error\">\s*<td>(\d+)</td>", report.text)
    assert rows == ["3", "901"]
    assert "<code>REJECTED</code>" in report.text

    # Through the API: the job's report, and the good rows really in the directory.
    job_id = location.split("/")[-1].split("?")[0]
    data = await console.api.data(
        ADMIN,
        "query($id: ID!) { importJob(id: $id) { status committed fileName "
        "counts { created rejected } problems { severity code row message } } }",
        {"id": job_id},
    )
    job = data["importJob"]
    assert job["status"] == "DONE" and job["committed"] and job["fileName"] == "bc211.xml"
    assert job["counts"]["rejected"] == 2 and job["counts"]["created"] > 0
    assert [(p["code"], p["row"]) for p in job["problems"] if p["severity"] == "ERROR"] == [
        ("REJECTED", 3),
        ("REJECTED", 901),
    ]
    found = await console.api.data(
        ADMIN,
        '{ organizations(filter: {search: "Stepping Stone"}) { edges { node { name } } } }',
    )
    names = [e["node"]["name"] for e in found["organizations"]["edges"]]
    assert "Stepping Stone Community Services Society" in names

    listing = await console.get("/console/exchange/imports")
    assert "bc211.xml" in listing.text and f"/console/exchange/imports/{job_id}" in listing.text


async def _import_count(console: Console) -> int:
    data = await console.api.data(ADMIN, "{ importJobs { edges { node { id } } } }")
    return len(data["importJobs"]["edges"])


@pytest.mark.parametrize(
    ("content", "name", "code"),
    [
        (b"name,phone\nA,1\n", "directory.csv", "UNSUPPORTED_FILE_TYPE"),
        (b"\x89PNG\r\n\x1a\n" + b"0" * 100, "logo.png", "UNSUPPORTED_FILE_TYPE"),
        (b"<Source>" + b" " * IMPORT_LIMIT + b"</Source>", "huge.xml", "FILE_TOO_LARGE"),
    ],
)
async def test_a_file_of_the_wrong_type_or_too_big_is_refused_and_nothing_is_kept(
    console: Console, content: bytes, name: str, code: str
) -> None:
    refused = await console.upload(content, name)
    assert refused.status_code == 400, refused.text
    assert code in refused.text and 'role="alert"' in refused.text
    assert await _import_count(console) == 0
    assert not any((console.settings.exchange.import_dir).glob("*"))


async def test_the_upload_route_refuses_a_session_without_its_csrf_token(console: Console) -> None:
    posted = await console.browser.http.post(
        "/imports", files={"file": ("a.xml", INVALID.read_bytes(), "text/xml")}
    )
    assert posted.status_code == 403 and posted.json()["errors"][0]["extensions"]["code"]
    assert await _import_count(console) == 0


async def test_the_upload_route_takes_an_api_key_and_refuses_non_admins(console: Console) -> None:
    def post(principal: str) -> Any:
        return console.browser.http.post(
            "/imports",
            files={"file": ("a.xml", INVALID.read_bytes(), "text/xml")},
            data={"format": "airs-xml"},
            headers={"Authorization": f"Bearer {console.api.keys[principal]}"},
        )

    refused = await post("prairie-call-taker")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["reason"] == "NOT_ADMIN"
    accepted = await post(ADMIN)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["data"]["importJob"]["status"] == "PENDING"
    # Another tenant's admin does not see it.
    other = await console.api.gql("lakeside-admin", "{ importJobs { edges { node { id } } } }")
    assert other["data"]["importJobs"]["edges"] == []
