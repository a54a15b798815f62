"""The console's data exchange area over httpx, on both backends: imports (upload, report, the
good rows really in the directory), exports and their schedules, e-mail templates, webhook
endpoints with their delivery log and replays, replication status; refusals and bad input."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from sharegraph.datastore.base import utcnow
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import ReplicationStatus
from sharegraph.demo import demo_id
from sharegraph.exporters.jobs import export_jobs_work
from sharegraph.graph.webhook_payloads import WebhookRenderer
from sharegraph.importers.jobs import import_jobs_work
from sharegraph.settings import ExchangeSettings, Settings, WebhookSettings
from sharegraph.webhooks import webhook_kinds
from sharegraph.worker import Scheduler

from .conftest import Api
from .portal_support import Browser, open_portal, portal_settings, set_password
from .webhook_receiver import Answer, receiver

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

    async def deliver(self) -> None:
        """One pass of the webhook kinds (fan-out and sending), as the scheduler runs them."""
        scheduler = Scheduler(
            self.db, webhook_kinds(self.settings, WebhookRenderer(self.app.state.live))
        )
        report = await scheduler.run_once(utcnow())
        for kind in report.kinds:
            assert kind.error is None, kind

    async def post(self, page: str, action: str, fields: dict[str, str]) -> httpx.Response:
        return await self.browser.submit(page, action, fields)


def exchange_settings(db: Database, tmp_path: Path, *, allow_private: bool = True) -> Settings:
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
            allow_private_addresses=allow_private, connect_timeout_seconds=1, read_timeout_seconds=1
        ),
    )


async def open_console(
    db: Database, keys: dict[str, str], tmp_path: Path, who: str = ADMIN, **options: Any
) -> AsyncIterator[Console]:
    await set_password(db, who)
    settings = exchange_settings(db, tmp_path, **options)
    async for p in open_portal(db, settings):
        signed = await p.browser.sign_in(who)
        assert signed.status_code == 303, signed.text
        api = Api(http=p.browser.http, keys=keys, database=db)
        imports = Scheduler(db, [import_jobs_work(settings.exchange)])
        yield Console(p.app, db, p.browser, api, settings, imports)


@pytest.fixture
async def console(
    seeded_db: Database, keys: dict[str, str], tmp_path: Path
) -> AsyncIterator[Console]:
    async for c in open_console(seeded_db, keys, tmp_path):
        yield c


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


# -- every page, real data -----------------------------------------------------------------------


async def test_every_page_of_the_area_answers_with_its_navigation(console: Console) -> None:
    for path in (
        "/console/exchange",
        "/console/exchange/imports",
        "/console/exchange/exports",
        "/console/exchange/templates",
        "/console/exchange/webhooks",
    ):
        page = await console.get(path)
        assert page.status_code == 200, (path, page.text)
        assert 'class="problem"' not in page.text, (path, page.text)
        assert f'<a href="{path}" aria-current="page">' in page.text
    overview = await console.get("/console/exchange")
    assert "No replication target has reported a pass yet." in overview.text

    # A pass of `sharegraph replicate` as Prairie's API client: the overview shows its lag.
    async with console.db.write_session() as session:
        session.add(
            ReplicationStatus(
                principal_id=demo_id("principal", "prairie-api"),
                what="resources",
                target="postgresql://warehouse.prairie211.example.org/directory",
                mode="incremental",
                cursor_position=1,
                policy_version=1,
                rows_written=120,
                rows_deleted=3,
                events=7,
                rows_per_second=850.0,
                lag_seconds=0.0,
                passed_at=utcnow(),
            )
        )
    overview = await console.get("/console/exchange")
    assert "warehouse.prairie211.example.org/directory" in overview.text
    assert "120 / 3" in overview.text and "prairie-api" in overview.text


@pytest.mark.parametrize(
    "path",
    [
        "/console/exchange/imports",
        "/console/exchange/exports",
        "/console/exchange/templates",
        "/console/exchange/webhooks",
    ],
)
async def test_non_admins_are_refused(
    seeded_db: Database, keys: dict[str, str], tmp_path: Path, path: str
) -> None:
    async for c in open_console(seeded_db, keys, tmp_path, who="prairie-call-taker"):
        page = await c.get(path)
        assert page.status_code == 403, page.text
        assert "FORBIDDEN" in problem_codes(page.text)
        if path.endswith("/imports"):
            refused = await c.upload(INVALID.read_bytes(), "bc211.xml")
            assert refused.status_code == 403 and "FORBIDDEN" in problem_codes(refused.text)


# -- exports, schedules, templates ---------------------------------------------------------------


async def test_an_export_started_from_the_page_is_a_job(console: Console) -> None:
    started = await console.post(
        "/console/exchange/exports",
        "/console/exchange/exports",
        {"what": "RESOURCES", "format": "HSDS_JSON", "purpose": "directory refresh"},
    )
    assert started.status_code == 303, started.text
    assert started.headers["location"] == "/console/exchange/exports?done=export"
    data = await console.api.data(
        ADMIN, "{ exportJobs { edges { node { format purpose status } } } }"
    )
    jobs = [e["node"] for e in data["exportJobs"]["edges"]]
    assert jobs == [{"format": "HSDS_JSON", "purpose": "directory refresh", "status": "PENDING"}]
    page = await console.get("/console/exchange/exports?done=export")
    assert "The export was started." in page.text and "HSDS_JSON" in page.text
    assert "Download" not in page.text

    # Once the scheduler has run it, the page links the file, which downloads as this person.
    ran = await Scheduler(console.db, [export_jobs_work(console.settings.exchange)]).run_once()
    assert ran.ok, ran.to_json()
    page = await console.get("/console/exchange/exports")
    link = re.search(r'<a href="(/exports/[0-9a-f-]+)" download>Download</a>', page.text)
    assert link, page.text
    file = await console.get(link.group(1))
    assert file.status_code == 200 and file.json()  # HSDS 3.0 JSON: a list of services


async def test_a_bad_export_shows_its_code_and_starts_nothing(console: Console) -> None:
    refused = await console.post(
        "/console/exchange/exports",
        "/console/exchange/exports",
        {"what": "CONTACT_RECORDS", "format": "AIRS_XML"},
    )
    assert refused.status_code == 400, refused.text
    assert problem_codes(refused.text) == ["BAD_USER_INPUT"]
    data = await console.api.data(ADMIN, "{ exportJobs { edges { node { id } } } }")
    assert data["exportJobs"]["edges"] == []


async def test_a_schedule_is_created_run_now_and_deactivated(console: Console) -> None:
    created = await console.post(
        "/console/exchange/exports",
        "/console/exchange/exports/schedules",
        {
            "name": "Nightly directory",
            "what": "RESOURCES",
            "format": "CSV",
            "cron": "0 2 * * *",
            "path": "nightly",
        },
    )
    assert created.status_code == 303, created.text
    query = "{ exportSchedules { id name active version runs { edges { node { status } } } } }"
    schedule = (await console.api.data(ADMIN, query))["exportSchedules"][0]
    assert schedule["name"] == "Nightly directory" and schedule["active"]

    ran = await console.post(
        "/console/exchange/exports", f"/console/exchange/exports/schedules/{schedule['id']}/run", {}
    )
    assert ran.status_code == 303, ran.text
    schedule = (await console.api.data(ADMIN, query))["exportSchedules"][0]
    assert [e["node"]["status"] for e in schedule["runs"]["edges"]] == ["PENDING"]
    page = await console.get("/console/exchange/exports")
    assert "Nightly directory" in page.text and "pending" in page.text

    off = await console.post(
        "/console/exchange/exports",
        f"/console/exchange/exports/schedules/{schedule['id']}/deactivate",
        {"version": str(schedule["version"])},
    )
    assert off.status_code == 303, off.text
    schedule = (await console.api.data(ADMIN, query))["exportSchedules"][0]
    assert not schedule["active"]
    on = await console.post(
        "/console/exchange/exports",
        f"/console/exchange/exports/schedules/{schedule['id']}/activate",
        {"version": str(schedule["version"])},
    )
    assert on.status_code == 303, on.text
    assert (await console.api.data(ADMIN, query))["exportSchedules"][0]["active"]


async def test_a_template_is_created_and_deactivated(console: Console) -> None:
    created = await console.post(
        "/console/exchange/templates",
        "/console/exchange/templates",
        {
            "name": "Mobile crisis hand-off",
            "subject": "Contact for follow-up",
            "body": "Attached.",
            "recipients": "team@mobile-crisis.example.org",
            "fields": "ContactRecord.narrative, Client.firstName",
            "purpose": "mobile crisis dispatch",
        },
    )
    assert created.status_code == 303, created.text
    query = "{ emailTemplates(includeInactive: true) { id name active version fields } }"
    template = (await console.api.data(ADMIN, query))["emailTemplates"][0]
    assert template["fields"] == ["ContactRecord.narrative", "Client.firstName"]
    page = await console.get("/console/exchange/templates")
    assert "Mobile crisis hand-off" in page.text and "team@mobile-crisis.example.org" in page.text

    off = await console.post(
        "/console/exchange/templates",
        f"/console/exchange/templates/{template['id']}/deactivate",
        {"version": str(template["version"])},
    )
    assert off.status_code == 303, off.text
    template = (await console.api.data(ADMIN, query))["emailTemplates"][0]
    assert not template["active"]

    # Editing it saves the new wording and makes it active again.
    edited = await console.post(
        "/console/exchange/templates",
        f"/console/exchange/templates/{template['id']}",
        {
            "version": str(template["version"]),
            "active": "true",
            "name": "Mobile crisis hand-off",
            "subject": "Please follow up today",
            "recipients": "team@mobile-crisis.example.org",
            "fields": "ContactRecord.narrative",
            "purpose": "mobile crisis dispatch",
        },
    )
    assert edited.status_code == 303, edited.text
    template = (await console.api.data(ADMIN, query))["emailTemplates"][0]
    assert template["active"] and template["fields"] == ["ContactRecord.narrative"]


# -- webhooks ------------------------------------------------------------------------------------


async def _endpoints(console: Console) -> list[dict[str, Any]]:
    data = await console.api.data(ADMIN, "{ webhookEndpoints { id url } }")
    endpoints: list[dict[str, Any]] = data["webhookEndpoints"]
    return endpoints


async def test_an_endpoint_shows_its_secret_once_and_replay_queues_deliveries_again(
    console: Console,
) -> None:
    async with receiver() as hook:
        hook.default = Answer(500)
        created = await console.post(
            "/console/exchange/webhooks",
            "/console/exchange/webhooks",
            {"url": hook.url, "event_types": "referral.*", "payload_mode": "FULL"},
        )
        assert created.status_code == 200, created.text
        secret = re.search(r'value="(whsec_[^"]+)"', created.text)
        assert secret, created.text
        again = await console.get("/console/exchange/webhooks")
        assert hook.url in again.text and "whsec_" not in again.text  # shown once
        (endpoint,) = await _endpoints(console)
        log = f"/console/exchange/webhooks/{endpoint['id']}"

        sent = await console.post(log, f"{log}/test", {})
        assert sent.status_code == 303 and sent.headers["location"] == f"{log}?done=test"
        await console.deliver()
        assert len(hook.received) == 1
        first_id = hook.received[0].headers["webhook-id"]
        page = await console.get(log)
        assert first_id in page.text and "HTTP 500" in page.text and " ms" in page.text

        query = "query($id: ID!) { webhookDeliveries(endpointId: $id) { id status attemptCount } }"
        (delivery,) = (await console.api.data(ADMIN, query, {"id": endpoint["id"]}))[
            "webhookDeliveries"
        ]
        hook.default = Answer(200)
        replayed = await console.post(log, f"{log}/replay", {"delivery_id": delivery["id"]})
        assert replayed.status_code == 303, replayed.text
        assert replayed.headers["location"] == f"{log}?done=replayed&count=1"
        await console.deliver()
        assert [r.headers["webhook-id"] for r in hook.received] == [first_id, first_id]
        (delivery,) = (await console.api.data(ADMIN, query, {"id": endpoint["id"]}))[
            "webhookDeliveries"
        ]
        assert delivery["status"] == "DELIVERED"
        shown = await console.get(f"{log}?done=replayed&count=1")
        assert "1 delivery was queued again." in shown.text and "delivered" in shown.text

        # A time range (the page's datetime-local fields, in UTC) queues what it covers.
        start = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        end = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        ranged = await console.post(log, f"{log}/replay", {"from": start, "to": end})
        assert ranged.status_code == 303, ranged.text
        assert ranged.headers["location"] == f"{log}?done=replayed&count=1"
        await console.deliver()
        assert [r.headers["webhook-id"] for r in hook.received] == [first_id] * 3

        # A time range without its end is refused with its code; nothing is queued.
        bad = await console.post(log, f"{log}/replay", {"from": "2026-01-02T00:00", "to": ""})
        assert bad.status_code == 400 and "BAD_USER_INPUT" in problem_codes(bad.text)

        rotated = await console.post("/console/exchange/webhooks", f"{log}/rotate", {})
        assert rotated.status_code == 200
        new_secret = re.search(r'value="(whsec_[^"]+)"', rotated.text)
        assert new_secret and new_secret.group(1) != secret.group(1)

        state = "{ webhookEndpoints { enabled version eventTypes } }"
        before = (await console.api.data(ADMIN, state))["webhookEndpoints"][0]
        off = await console.post(
            "/console/exchange/webhooks",
            f"{log}/enabled",
            {"enabled": "false", "version": str(before["version"])},
        )
        assert off.status_code == 303, off.text
        after = (await console.api.data(ADMIN, state))["webhookEndpoints"][0]
        assert not after["enabled"] and after["eventTypes"] == before["eventTypes"]
        stale = await console.post(
            "/console/exchange/webhooks",
            f"{log}/enabled",
            {"enabled": "true", "version": str(before["version"])},
        )
        assert stale.status_code == 409 and "CONFLICT" in problem_codes(stale.text)

        deleted = await console.post("/console/exchange/webhooks", f"{log}/delete", {})
        assert deleted.status_code == 303 and await _endpoints(console) == []


@pytest.mark.parametrize("url", ["not a url", "ftp://example.org/hook"])
async def test_a_bad_url_shows_its_code_and_registers_nothing(console: Console, url: str) -> None:
    refused = await console.post(
        "/console/exchange/webhooks",
        "/console/exchange/webhooks",
        {"url": url, "event_types": "referral.*"},
    )
    assert refused.status_code == 400, refused.text
    assert "BAD_USER_INPUT" in problem_codes(refused.text) and "whsec_" not in refused.text
    assert await _endpoints(console) == []


async def test_a_private_address_is_refused_when_not_allowed(
    seeded_db: Database, keys: dict[str, str], tmp_path: Path
) -> None:
    async for c in open_console(seeded_db, keys, tmp_path, allow_private=False):
        refused = await c.post(
            "/console/exchange/webhooks",
            "/console/exchange/webhooks",
            {"url": "http://127.0.0.1:9/hook", "event_types": "referral.*"},
        )
        assert refused.status_code == 400, refused.text
        assert "BAD_USER_INPUT" in problem_codes(refused.text)
        assert await _endpoints(c) == []


def _zipped(folder: Path, *, under: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for child in sorted(folder.iterdir()):
            zipped.write(child, f"{under}{child.name}")
    return buffer.getvalue()


async def test_a_zip_of_csv_files_is_imported_as_the_folder_it_holds(console: Console) -> None:
    posted = await console.upload(
        _zipped(SAMPLES / "ohana-sample-csv", under="ohana/"),
        "ohana.zip",
        {"source": "ohana-san-mateo"},
    )
    assert posted.status_code == 303, posted.text
    job_id = posted.headers["location"].split("/")[-1].split("?")[0]
    await console.run_imports()
    query = (
        "query($id: ID!) { importJob(id: $id) { status source committed detectedFormat error "
        "counts { created } problems { file code message } } }"
    )
    job = (await console.api.data(ADMIN, query, {"id": job_id}))["importJob"]
    assert job["status"] == "DONE" and job["committed"], job
    assert job["detectedFormat"] == "ohana-csv" and job["counts"]["created"] > 0
    # Problems name the CSV file inside the ZIP, never the server's copy.
    assert all(p["file"].endswith(".csv") for p in job["problems"]), job["problems"]


async def test_a_zip_without_csv_files_fails_with_its_reason_and_writes_nothing(
    console: Console,
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("readme.txt", "no data here")
    posted = await console.upload(buffer.getvalue(), "empty.zip")
    assert posted.status_code == 303, posted.text
    location = posted.headers["location"].split("?")[0]
    await console.run_imports()
    report = await console.get(location)
    assert (
        "the ZIP holds no CSV files" in report.text
        and "<code>UNREADABLE_FILE</code>" in report.text
    )
    job_id = location.split("/")[-1]
    job = (
        await console.api.data(
            ADMIN,
            "query($id: ID!) { importJob(id: $id) { status committed error } }",
            {"id": job_id},
        )
    )["importJob"]
    assert job["status"] == "FAILED" and not job["committed"]
    assert job["error"] == "the ZIP holds no CSV files; nothing was written"
    assert not any(console.settings.exchange.import_dir.glob("*"))  # the upload is gone
