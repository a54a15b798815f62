"""One record, every way out: GraphQL, the contact-record files, the e-mailed PDF and, for the
directory, the HSDS API and the HSDS export disclose the same fields of the same records.

The story: Prairie 211's records reach its own staff, Lakeside Crisis Line (the shared
after-hours form, follow-ups handed over), the food pantry (records referred to it) and Harbor
Housing (clients queued for it), by several roads. Whatever the road, one access plan decides:
each demo principal gets, of a sample of records, what its plan's READ decisions allow through
GraphQL and what its EXPORT decisions allow in files and PDFs (both, for a PDF); where the plan
grants a field for both, it leaves with the same value. 42 CFR Part 2 answers leave another
organization's records only under the client's consent, and then with the redisclosure notice.
Each road writes its audit rows (a `read` for GraphQL, a `disclosure` for files and PDFs)
naming the same owner, records and coordinates.

Beyond the demo: some clients consent (the demo seeds no consents); Prairie 211 also lets
Lakeside export its after-hours records but for the narrative and the caller's address, so files
and PDFs have a cross-organization case with less to export than to read; and
Lakeside shares a few fields of its directory with Prairie 211, so the directory roads have
fields to withhold.

One network per backend, read by every test here; audit rows are told apart by position.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, or_, select
from typer.testing import CliRunner

from sharegraph import demo
from sharegraph.authz.authenticate import load_principal
from sharegraph.authz.catalogue import CATALOGUE, Format, Storage
from sharegraph.authz.disclosure import Disclosure, RowFacts
from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.authz.store import PolicyStore
from sharegraph.cli.main import app as cli_app
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import GranteeKind, Sensitivity
from sharegraph.datastore.models import (
    AuditEvent,
    Client,
    ClientConsent,
    ContactFormVersion,
    ContactRecord,
    FollowUp,
    FormField,
    Organization,
    Program,
    QueueEntry,
    Referral,
    Service,
    ServiceAtLocation,
    ServiceCapacity,
)
from sharegraph.demo import demo_id
from sharegraph.exporters.cells import neutralize, text
from sharegraph.exporters.contact_records import FIXED_COLUMNS
from sharegraph.exporters.hsds_spec import (
    ADDRESS,
    LANGUAGE,
    LOCATION,
    ORGANIZATION,
    PHONE,
    PROGRAM,
    SCHEDULE,
    SERVICE,
    SERVICE_AREA,
    SERVICE_AT_LOCATION,
    SERVICE_CAPACITY,
    TAXONOMY,
    TAXONOMY_TERM,
    UNIT,
)
from sharegraph.graph.relay import from_global_id, to_global_id
from sharegraph.queries.consents import consents_of
from sharegraph.settings import Settings, SmtpSettings

from .conftest import Api, DatabaseFactory, make_api
from .test_email_pdf import Mailbox, SmtpServer, free_port, pdf_text

PRAIRIE = demo_id("tenant", "prairie")
LAKESIDE = demo_id("tenant", "lakeside")
RIVERBEND = demo_id("tenant", "riverbend")
TENANT_NAMES = {
    PRAIRIE: "Prairie 211",
    LAKESIDE: "Lakeside Crisis Line",
    RIVERBEND: "Riverbend 211",
}
EASTSIDE = demo_id("partner-organization", "eastside")
HARBOR = demo_id("partner-organization", "harbor")
AFTER_HOURS_FORM = demo_id("contact-form", "prairie-after-hours")
AFTER_HOURS_PURPOSE = "after-hours coverage"
PRINCIPALS = [p.name for p in demo.DEMO_PRINCIPALS]
RECORD = "ContactRecord"
ALL_ANSWERS = f"{RECORD}.answers"
PART2_NOTICE = "42 CFR part 2"
runner = CliRunner()


# -- what a query selects: every field of ContactRecord and Client --------------------------------


def _graphql_fields(type_name: str) -> list[str]:
    return [f.name for f in CATALOGUE[type_name].fields if f.graphql and f.name != "id"]


def _coordinates(type_name: str, names: Iterable[str]) -> frozenset[str]:
    return frozenset(f"{type_name}.{n}" for n in names)


RECORD_FIELDS = _graphql_fields(RECORD)
CLIENT_FIELDS = _graphql_fields("Client")


def _record_selection() -> str:
    parts = []
    for spec in CATALOGUE[RECORD].fields:
        if spec.name == "client":
            parts.append("client { id " + " ".join(CLIENT_FIELDS) + " }")
        elif spec.storage is Storage.RELATION:
            parts.append(f"{spec.name} {{ id }}")
        elif spec.graphql:
            parts.append(spec.name)
    return " ".join(parts)


RECORD_QUERY = "query($id: ID!) { contactRecord(id: $id) { " + _record_selection() + " } }"
RECORDS_QUERY = (
    "query($ids: [ID!]) { contactRecords(filter: {ids: $ids}, first: 50) { edges { node { "
    + _record_selection()
    + " } } } }"
)
# Contact-record file columns (the catalogue's `export.columns`) -> the field governing each.
FILE_COLUMNS = {c.key: c.field for c in FIXED_COLUMNS}
FILE_HEADERS = {c.header: c for c in FIXED_COLUMNS}
FILE_FIELDS = _coordinates(
    RECORD,
    (f.name for f in CATALOGUE[RECORD].fields if Format.CONTACT_RECORDS in f.export.formats),
) - {f"{RECORD}.id"}


# -- the network ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    label: str
    id: uuid.UUID
    owner: uuid.UUID
    client_id: uuid.UUID | None


@dataclass
class Net:
    api: Api
    db: Database
    samples: list[Sample]
    part2_keys: dict[uuid.UUID, frozenset[str]]  # owner -> its forms' Part 2 answer keys
    tmp: Path
    store: PolicyStore
    smtp: SmtpServer
    templates: dict[str, str] = field(default_factory=dict)  # sender -> its template's id

    async def plan(self, name: str) -> AccessPlan:
        """The principal's plan, as the CLI's `--as` and every request compile it."""
        await self.store.reload()
        async with self.db.read_session() as session:
            principal = await load_principal(session, demo_id("principal", name))
        assert principal is not None, name
        return self.store.plan_for(principal)

    def sample(self, label: str) -> Sample:
        return next(s for s in self.samples if s.label == label)


def home_of(name: str) -> uuid.UUID | None:
    """The demo principal's tenant (None for partner users)."""
    principal = next(p for p in demo.DEMO_PRINCIPALS if p.name == name)
    slugs = {tenant_name: slug for slug, tenant_name, _, _ in demo.TENANTS}
    return demo_id("tenant", slugs[principal.tenant]) if principal.tenant else None


async def _first(session: Any, statement: Any) -> Any:
    found = (await session.execute(statement.limit(1))).first()
    assert found is not None, str(statement)
    return found


async def _samples(db: Database) -> list[Sample]:
    """A record of each way the demo shares contact records, and a few it does not share; no
    two of them about the same client."""
    record = select(ContactRecord.id, ContactRecord.tenant_id, ContactRecord.client_id)
    on_form = ContactRecord.form_version_id.in_(
        select(ContactFormVersion.id).where(ContactFormVersion.form_id == AFTER_HOURS_FORM)
    )
    with_client = ContactRecord.client_id.is_not(None)
    pantry_sals = (
        select(ServiceAtLocation.id)
        .join(Service, Service.id == ServiceAtLocation.service_id)
        .join(Organization, Organization.id == Service.organization_id)
        .where(Organization.partner_organization_id == EASTSIDE)
    )
    harbor_programs = (
        select(Program.id)
        .join(Organization, Organization.id == Program.organization_id)
        .where(Organization.partner_organization_id == HARBOR)
    )

    def handed_to(tenant: uuid.UUID) -> Any:
        return ContactRecord.id.in_(
            select(FollowUp.contact_record_id).where(FollowUp.assigned_tenant_id == tenant)
        )

    prairie = ContactRecord.tenant_id == PRAIRIE
    picks: list[tuple[str, Any]] = [
        (
            "referred to the pantry",
            record.where(
                prairie,
                with_client,
                ContactRecord.id.in_(
                    select(Referral.contact_record_id).where(
                        Referral.service_at_location_id.in_(pantry_sals),
                        Referral.status.in_(["requested", "accepted", "completed"]),
                    )
                ),
            ),
        ),
        (
            "queued for Harbor Housing",
            record.where(
                prairie,
                with_client,
                ContactRecord.id.in_(
                    select(QueueEntry.contact_record_id).where(
                        QueueEntry.removed_at.is_(None),
                        QueueEntry.assigned_program_id.in_(harbor_programs),
                    )
                ),
            ),
        ),
        ("after-hours, consented to Lakeside", record.where(prairie, on_form, with_client)),
        ("after-hours, consented to Riverbend only", record.where(prairie, on_form, with_client)),
        ("after-hours, no client", record.where(prairie, on_form, ~with_client)),
        (
            "after-hours, taken by Lakeside and handed to Prairie, consented to Prairie",
            record.where(
                ContactRecord.tenant_id == LAKESIDE, on_form, with_client, handed_to(PRAIRIE)
            ),
        ),
        (
            "follow-up handed to Lakeside",
            record.where(prairie, ~on_form, with_client, handed_to(LAKESIDE)),
        ),
        (
            "Prairie's own",
            record.where(
                prairie,
                ~on_form,
                with_client,
                ~handed_to(LAKESIDE),
                ~ContactRecord.id.in_(select(Referral.contact_record_id)),
                ~ContactRecord.id.in_(select(QueueEntry.contact_record_id)),
            ),
        ),
        (
            "Lakeside's own",
            record.where(ContactRecord.tenant_id == LAKESIDE, ~on_form, with_client),
        ),
        ("Riverbend's own", record.where(ContactRecord.tenant_id == RIVERBEND, with_client)),
    ]
    found: list[Sample] = []
    async with db.read_session() as session:
        for label, statement in picks:
            clients = [s.client_id for s in found if s.client_id is not None]
            if clients:
                statement = statement.where(
                    or_(~with_client, ContactRecord.client_id.not_in(clients))
                )
            row = await _first(session, statement.order_by(ContactRecord.id))
            found.append(Sample(label, row.id, row.tenant_id, row.client_id))
    return found


async def _consent(db: Database, sample: Sample, recipient: uuid.UUID) -> None:
    """The client's consent to disclose to ``recipient`` for after-hours coverage."""
    now = datetime.now(UTC)
    async with db.write_session() as session:
        session.add(
            ClientConsent(
                id=uuid.uuid4(),
                tenant_id=sample.owner,
                client_id=sample.client_id,
                recipient_kind=GranteeKind.TENANT,
                recipient_tenant_id=recipient,
                purpose=AFTER_HOURS_PURPOSE,
                granted_at=now - timedelta(days=1),
                expires_at=now + timedelta(days=90),
                revoked_at=None,
            )
        )


CREATE_AGREEMENT = """
mutation($input: SharingAgreementInput!) { createSharingAgreement(input: $input) { agreement { id } } }
"""


async def _prairie_lets_lakeside_export_after_hours_records(api: Api) -> None:
    await api.data(
        "prairie-admin",
        CREATE_AGREEMENT,
        {
            "input": {
                "name": "After-hours files for Lakeside",
                "purpose": AFTER_HOURS_PURPOSE,
                "granteeKind": "TENANT",
                "granteeTenantId": to_global_id("Tenant", LAKESIDE),
                "actions": ["export"],
                "fields": ["ContactRecord.*", "Client.*", "ContactFormVersion.*"],
                # Lakeside reads these, but they do not leave in its files.
                "deniedFields": ["ContactRecord.narrative", "ContactRecord.answers.address"],
                "answerSensitivity": "PART2",
                "rowScope": f"shared_form:{AFTER_HOURS_FORM}",
            }
        },
    )


async def _lakeside_shares_some_directory_fields(api: Api) -> None:
    await api.data(
        "lakeside-admin",
        CREATE_AGREEMENT,
        {
            "input": {
                "name": "Crisis services for Prairie 211",
                "purpose": "information and referral",
                "granteeKind": "TENANT",
                "granteeTenantId": to_global_id("Tenant", PRAIRIE),
                "actions": ["read", "export"],
                "fields": [
                    "Service.name", "Service.status", "Service.description", "Service.phones",
                    "Service.serviceAtLocations", "ServiceAtLocation.location",
                    "ServiceAtLocation.service", "Location.name", "Location.locationType",
                    "Location.addresses", "Address.city", "Address.postalCode", "Phone.number",
                ],
            }
        },
    )  # fmt: skip


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = SmtpSettings(
            host="127.0.0.1", port=port, starttls=False, from_address="records@example.org"
        )
        yield SmtpServer(mailbox, settings)
    finally:
        controller.stop()


@pytest.fixture(scope="module")
async def net(
    databases: DatabaseFactory,
    backend: str,
    keys: dict[str, str],
    smtp: SmtpServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Net]:
    db = await databases.create(backend)
    await demo.seed(db, scale=1, demo_secret=Settings().demo_secret)
    samples = await _samples(db)
    by_label = {s.label: s for s in samples}
    await _consent(db, by_label["after-hours, consented to Lakeside"], LAKESIDE)
    await _consent(db, by_label["after-hours, consented to Riverbend only"], RIVERBEND)
    await _consent(
        db,
        by_label["after-hours, taken by Lakeside and handed to Prairie, consented to Prairie"],
        PRAIRIE,
    )
    async with db.read_session() as session:
        part2 = (
            await session.execute(
                select(ContactFormVersion.tenant_id, FormField.key)
                .join(FormField, FormField.form_version_id == ContactFormVersion.id)
                .where(FormField.sensitivity == Sensitivity.PART2)
            )
        ).all()
    part2_keys: dict[uuid.UUID, frozenset[str]] = {}
    for owner, key in part2:
        part2_keys[owner] = part2_keys.get(owner, frozenset()) | {key}
    async for api in make_api(db, keys, Settings(database_url=db.url, smtp=smtp.settings)):
        await _prairie_lets_lakeside_export_after_hours_records(api)
        await _lakeside_shares_some_directory_fields(api)
        tmp = tmp_path_factory.mktemp(f"files-{backend}")
        yield Net(api, db, samples, part2_keys, tmp, PolicyStore(db), smtp)
    await db.dispose()


# -- what the plan decides ------------------------------------------------------------------------


@dataclass(frozen=True)
class Decided:
    """What the plan lets out of one record for one action."""

    fields: frozenset[str]  # ContactRecord coordinates
    answers: frozenset[str]  # answer keys
    part2: frozenset[str]  # of them, 42 CFR Part 2 answers
    notice: bool
    client: frozenset[str] | None  # Client coordinates; None: no client row comes with it


async def decide(net: Net, name: str, action: Action) -> dict[uuid.UUID, Decided]:
    """The plan's decisions on the samples the principal may touch with ``action``, asked of
    the disclosure seam with the row scopes and consents of each record."""
    seam = Disclosure(await net.plan(name), action)
    async with net.db.read_session() as session:
        rows = list(
            (
                await session.scalars(
                    select(ContactRecord).where(
                        ContactRecord.id.in_([s.id for s in net.samples]),
                        seam.where(ContactRecord),
                    )
                )
            ).all()
        )
        scopes = await seam.scopes(session, ContactRecord, rows)
        consents = await consents_of(session, [r.client_id for r in rows])
        clients = list(
            (
                await session.scalars(
                    select(Client).where(
                        Client.id.in_([r.client_id for r in rows if r.client_id]),
                        seam.where(Client),
                    )
                )
            ).all()
        )
        client_scopes = await seam.scopes(session, Client, clients)
    visible_clients = {c.id for c in clients}
    found = {}
    for row in rows:
        facts = RowFacts.of(row, scopes.get(row.id))
        of_client = consents.get(row.client_id, []) if row.client_id else []
        decided = seam.row(RECORD, facts, RECORD_FIELDS, consents=of_client)
        client = None
        if "client" in decided.fields and row.client_id in visible_clients:
            allowed = seam.fields("Client", row.tenant_id, client_scopes.get(row.client_id))
            client = _coordinates("Client", allowed & set(CLIENT_FIELDS))
        found[row.id] = Decided(
            _coordinates(RECORD, decided.fields),
            decided.answers,
            decided.part2.keys if decided.part2 else frozenset(),
            decided.notice,
            client,
        )
    return found


# -- the audit trail ------------------------------------------------------------------------------

AuditRow = tuple[str, uuid.UUID | None, str | None, tuple[str, ...], tuple[str, ...]]


async def last_position(db: Database) -> int:
    async with db.read_session() as session:
        found = await session.scalar(select(func.max(AuditEvent.position)))
    return int(found or 0)


async def audit_since(db: Database, position: int) -> list[AuditEvent]:
    async with db.read_session() as session:
        statement = (
            select(AuditEvent).where(AuditEvent.position > position).order_by(AuditEvent.position)
        )
        return list((await session.scalars(statement)).all())


def audit_rows(rows: Iterable[AuditEvent]) -> set[AuditRow]:
    return {
        (
            r.action,
            r.tenant_id,
            r.record_type,
            tuple(r.record_ids or ()),
            tuple(r.coordinates or ()),
        )
        for r in rows
    }


# -- GraphQL --------------------------------------------------------------------------------------


@dataclass
class Seen:
    """What one road let out of one record, as catalogue coordinates."""

    fields: frozenset[str]  # ContactRecord coordinates let out (granted, with a value or not)
    values: dict[str, Any]  # of them, those with a value: coordinate -> value
    answers: dict[str, Any]
    client: frozenset[str] | None = None
    client_values: dict[str, Any] = field(default_factory=dict)
    notice: bool = False


def _has_value(value: Any) -> bool:
    return value is not None and value != "" and value != []


def forbidden(body: dict[str, Any]) -> set[str]:
    """The coordinates a GraphQL response refused (FORBIDDEN_FIELD, once per coordinate)."""
    return {
        e["extensions"]["coordinate"]
        for e in body.get("errors", [])
        if e["extensions"]["code"] == "FORBIDDEN_FIELD"
    }


def node_view(node: dict[str, Any], denied: set[str]) -> Seen:
    """What one ContactRecord node carries; ``denied``: the coordinates refused on it."""
    for coordinate in denied:
        type_name, _, name = coordinate.partition(".")
        if type_name == RECORD and "." not in name:
            assert node[name] is None, coordinate
    values = {
        f"{RECORD}.{k}": v for k, v in node.items() if _has_value(v) and k not in ("id", "answers")
    }
    seen = Seen(_coordinates(RECORD, RECORD_FIELDS) - denied, values, node["answers"] or {})
    client = node["client"]
    if client is not None:
        seen.client = _coordinates("Client", CLIENT_FIELDS) - denied
        seen.client_values = {
            f"Client.{k}": v for k, v in client.items() if _has_value(v) and k != "id"
        }
    return seen


async def graphql_record(net: Net, name: str, record: uuid.UUID) -> tuple[Seen | None, set[str]]:
    """``contactRecord(id:)`` selecting every field: what it shows, and what it refused."""
    body = await net.api.gql(name, RECORD_QUERY, {"id": to_global_id(RECORD, record)})
    denied = forbidden(body)
    errors = body.get("errors", [])
    others = [e["extensions"] for e in errors if e["extensions"]["code"] != "FORBIDDEN_FIELD"]
    node = (body.get("data") or {}).get("contactRecord")
    if node is None:
        # A record outside the plan's rows does not exist for the caller.
        assert others == [{"code": "NOT_FOUND"}] and not denied, body
        return None, denied
    assert not others, others
    seen = node_view(node, denied)
    seen.notice = "redisclosureNotice" in body.get("extensions", {})
    return seen, denied


def graphql_audit(name: str, shown: Iterable[tuple[Sample, Seen, set[str]]]) -> set[AuditRow]:
    """The rows a GraphQL request showing these records (refusing ``denied`` of each) writes:
    per owner a `read` of the records and one of their clients, the same as a `disclosure`
    when the owner is another organization, and a `denied` of what was refused."""
    reads: dict[tuple[uuid.UUID, str], tuple[set[str], set[str]]] = {}
    refused: dict[uuid.UUID, set[str]] = {}
    for sample, seen, denied in shown:
        ids, coordinates = reads.setdefault((sample.owner, RECORD), (set(), set()))
        ids.add(str(sample.id))
        coordinates |= seen.fields | {f"{ALL_ANSWERS}.{k}" for k in seen.answers}
        if seen.client:
            ids, coordinates = reads.setdefault((sample.owner, "Client"), (set(), set()))
            ids.add(str(sample.client_id))
            coordinates |= seen.client
        if denied:
            refused.setdefault(sample.owner, set()).update(denied)
    found: set[AuditRow] = set()
    for (owner, type_name), (ids, coordinates) in reads.items():
        named = (tuple(sorted(ids)), tuple(sorted(coordinates)))
        found.add(("read", owner, type_name, *named))
        if owner != home_of(name):
            found.add(("disclosure", owner, type_name, *named))
    for owner, coordinates in refused.items():
        found.add(("denied", owner, None, (), tuple(sorted(coordinates))))
    return found


def check_graphql_audit(
    rows: list[AuditEvent], name: str, shown: list[tuple[Sample, Seen, set[str]]]
) -> None:
    assert audit_rows(rows) == graphql_audit(name, shown), (name, [s.label for s, _, _ in shown])
    assert all(r.principal_id == demo_id("principal", name) for r in rows)
    disclosed = [r for r in rows if r.action == "disclosure"]
    assert all((r.detail or {}).get("channel") == "graphql" for r in disclosed)


# -- files ----------------------------------------------------------------------------------------


@dataclass
class ExportRun:
    exit_code: int
    output: str
    summary: dict[str, Any]
    rows: dict[uuid.UUID, dict[str, Any]]  # record id -> NDJSON object or CSV row


async def cli_export(net: Net, name: str, what: str, fmt: str, tenant: uuid.UUID) -> Any:
    """``sharegraph export --what W --format F --tenant T --as NAME --json``: (result, file)."""
    target = net.tmp / f"{name}-{tenant}-{uuid.uuid4().hex[:6]}.{fmt}"
    args = [
        "export", "--database", net.db.url, "--what", what, "--format", fmt,
        "--tenant", TENANT_NAMES[tenant], "--output", str(target), "--as", name, "--json",
    ]  # fmt: skip
    # The command runs its own event loop: keep it off the test's.
    result = await asyncio.to_thread(runner.invoke, cli_app, args)
    if result.exit_code != 0:
        assert not target.exists()
    return result, target


async def export_records(net: Net, name: str, tenant: uuid.UUID, fmt: str) -> ExportRun:
    result, target = await cli_export(net, name, "contact-records", fmt, tenant)
    if result.exit_code != 0:
        return ExportRun(result.exit_code, result.output, {}, {})
    content = target.read_text(encoding="utf-8-sig" if fmt == "csv" else "utf-8")
    if fmt == "ndjson":
        rows = [json.loads(line) for line in content.splitlines()]
        by_id = {uuid.UUID(row["id"]): row for row in rows}
    else:
        by_id = {uuid.UUID(row["Record ID"]): row for row in csv.DictReader(io.StringIO(content))}
    return ExportRun(0, result.output, json.loads(result.stdout), by_id)


def ndjson_view(row: dict[str, Any]) -> Seen:
    """The coordinates an NDJSON object carries; values: coordinate -> {column key: value}."""
    values: dict[str, Any] = {}
    for key, value in row.items():
        if key != "answers" and FILE_COLUMNS[key] is not None and _has_value(value):
            values.setdefault(f"{RECORD}.{FILE_COLUMNS[key]}", {})[key] = value
    return Seen(frozenset(values), values, row.get("answers", {}))


def csv_view(row: dict[str, str], answer_keys: dict[str, str]) -> Seen:
    """The coordinates a CSV row carries (``answer_keys``: answer column header -> key)."""
    values: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    for header, cell in row.items():
        column = FILE_HEADERS.get(header)
        if cell == "":
            continue
        if column is None:
            answers[answer_keys[header]] = cell
        elif column.field is not None:
            values.setdefault(f"{RECORD}.{column.field}", {})[column.key] = cell
    return Seen(frozenset(values), values, answers)


async def answer_headers(db: Database) -> dict[str, str]:
    """CSV answer column headers (a form field's label, or ``label [key]``) -> answer key."""
    async with db.read_session() as session:
        pairs = (await session.execute(select(FormField.label, FormField.key).distinct())).all()
    found: dict[str, str] = {}
    for label, key in pairs:
        found[label] = key
        found[f"{label} [{key}]"] = key
    return found


def same_value(coordinate: str, shown: Any, carried: dict[str, Any]) -> bool:
    """Whether a GraphQL value and the file columns of one field say the same."""
    name = coordinate.partition(".")[2]
    if name in ("tenant", "formVersion"):
        return True  # a related row's id in GraphQL, its name (and version) in files
    if name == "client":
        return str(from_global_id(shown["id"])[1]) == str(carried["clientId"])
    if name == "needs":
        return len(shown) == len(carried["needs"])
    [value] = carried.values()
    try:
        return datetime.fromisoformat(shown) == datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(shown).lower() == str(value).lower()  # enums: `CALL` and `call`


def check_export_audit(
    rows: list[AuditEvent], name: str, tenant: uuid.UUID, files: dict[uuid.UUID, Seen]
) -> None:
    """One disclosure in the owner's trail, naming every record and coordinate the file
    carries (the records' ids among them)."""
    carried = {f"{RECORD}.id"}
    for seen in files.values():
        carried |= seen.fields | {f"{ALL_ANSWERS}.{k}" for k in seen.answers}
    ids = tuple(sorted(str(i) for i in files))
    expected = {("disclosure", tenant, RECORD, ids, tuple(sorted(carried)))} if files else set()
    assert {(a, t, r, tuple(sorted(i)), c) for a, t, r, i, c in audit_rows(rows)} == expected
    assert all(r.principal_id == demo_id("principal", name) for r in rows)
    assert all((r.detail or {}).get("channel") == "cli" for r in rows)


# -- contact records: the decisions the roads are held to -----------------------------------------


async def test_the_plan_decides_what_the_demo_agreements_say(net: Net) -> None:
    """The decisions every road is checked against say what the agreements say."""
    pantry = net.sample("referred to the pantry")
    consented = net.sample("after-hours, consented to Lakeside")
    not_to_lakeside = net.sample("after-hours, consented to Riverbend only")
    no_client = net.sample("after-hours, no client")
    handed = net.sample("follow-up handed to Lakeside")
    from_lakeside = net.sample(
        "after-hours, taken by Lakeside and handed to Prairie, consented to Prairie"
    )

    # The pantry reads what it needs to serve the client, of the records referred to it, and
    # exports nothing.
    eastside = await decide(net, "eastside-portal", Action.READ)
    assert eastside.keys() == {pantry.id}
    needed = _coordinates(RECORD, ["startedAt", "needs", "referrals", "client"])
    assert eastside[pantry.id].fields == needed
    assert eastside[pantry.id].client == _coordinates(
        "Client", ["firstName", "phone", "preferredLanguage"]
    )
    assert eastside[pantry.id].answers == frozenset()
    assert await decide(net, "eastside-portal", Action.EXPORT) == {}

    # Lakeside reads the shared form's Part 2 answers only under the client's consent, and the
    # follow-ups handed to it with a few fields.
    lakeside = await decide(net, "lakeside-admin", Action.READ)
    assert lakeside[consented.id].part2 == {"substance_use"} and lakeside[consented.id].notice
    for sample in (not_to_lakeside, no_client):
        assert "substance_use" not in lakeside[sample.id].answers
        assert not lakeside[sample.id].notice
    assert f"{RECORD}.narrative" in lakeside[consented.id].fields
    assert lakeside[handed.id].fields == _coordinates(
        RECORD, ["startedAt", "needs", "followUps", "client"]
    )
    # It exports the shared form's records, but not their narratives or callers' addresses.
    exports = await decide(net, "lakeside-admin", Action.EXPORT)
    assert handed.id not in exports
    assert exports[consented.id].part2 == {"substance_use"}
    assert f"{RECORD}.narrative" not in exports[consented.id].fields
    assert "address" in lakeside[consented.id].answers - exports[consented.id].answers

    # Prairie 211 reads Lakeside's records on its form, Part 2 answers under consent.
    prairie = await decide(net, "prairie-admin", Action.READ)
    assert prairie[from_lakeside.id].part2 == {"substance_use"}
    assert prairie[from_lakeside.id].notice
    assert {s.label for s in net.samples if s.id in prairie} == {
        s.label for s in net.samples if s.owner == PRAIRIE
    } | {from_lakeside.label}
    riverbend = await decide(net, "riverbend-admin", Action.READ)
    assert riverbend.keys() == {net.sample("Riverbend's own").id}


# -- contact records: GraphQL ---------------------------------------------------------------------


@pytest.mark.parametrize("name", PRINCIPALS)
async def test_graphql_shows_each_record_as_the_plan_decides_for_read(net: Net, name: str) -> None:
    reading = await decide(net, name, Action.READ)
    shown: list[tuple[Sample, Seen, set[str]]] = []
    for sample in net.samples:
        label = f"{name} reading {sample.label}"
        before = await last_position(net.db)
        seen, denied = await graphql_record(net, name, sample.id)
        rows = await audit_since(net.db, before)
        decided = reading.get(sample.id)
        if decided is None:
            assert seen is None, label
            assert [r for r in rows if r.action in ("read", "disclosure")] == [], label
            continue
        assert seen is not None, label
        assert seen.fields == decided.fields, label
        assert seen.client == decided.client, label
        assert set(seen.answers) == decided.answers, label
        # Part 2 answers leave another organization only with the redisclosure notice.
        assert seen.notice == decided.notice, label
        assert not decided.part2 or sample.owner == home_of(name) or seen.notice, label
        check_graphql_audit(rows, name, [(sample, seen, denied)])
        shown.append((sample, seen, denied))

    # Listed together, they show as their lookups do, and the request names all of them.
    before = await last_position(net.db)
    body = await net.api.gql(
        name, RECORDS_QUERY, {"ids": [to_global_id(RECORD, s.id) for s in net.samples]}
    )
    listed = {
        from_global_id(edge["node"]["id"])[1]: edge["node"]
        for edge in body["data"]["contactRecords"]["edges"]
    }
    assert listed.keys() == {s.id for s, _, _ in shown}, name
    assert forbidden(body) == set().union(*(d for _, _, d in shown)), name
    for sample, seen, denied in shown:
        again = node_view(listed[sample.id], denied)
        assert (again.values, again.answers, again.client_values) == (
            seen.values,
            seen.answers,
            seen.client_values,
        ), (name, sample.label)
    notice = "redisclosureNotice" in body.get("extensions", {})
    assert notice == any(seen.notice for _, seen, _ in shown), name
    check_graphql_audit(await audit_since(net.db, before), name, shown)


# -- contact records: the CSV and NDJSON files ----------------------------------------------------


@pytest.mark.parametrize("name", PRINCIPALS)
async def test_the_files_carry_what_the_plan_decides_for_export_as_graphql_shows_it(
    net: Net, name: str
) -> None:
    reading = await decide(net, name, Action.READ)
    exporting = await decide(net, name, Action.EXPORT)
    seam = Disclosure(await net.plan(name), Action.EXPORT)
    answer_keys = await answer_headers(net.db)
    for tenant in TENANT_NAMES:
        label = f"{name} exporting {TENANT_NAMES[tenant]}"
        before = await last_position(net.db)
        ndjson = await export_records(net, name, tenant, "ndjson")
        rows = await audit_since(net.db, before)
        if tenant not in seam.owners(RECORD):
            assert ndjson.exit_code == 1 and "may not export" in ndjson.output, label
            assert rows == [], label
            continue
        assert ndjson.exit_code == 0, (label, ndjson.output)
        files = {i: ndjson_view(row) for i, row in ndjson.rows.items()}
        check_export_audit(rows, name, tenant, files)

        # The CSV says the same as the NDJSON, cell for cell.
        in_csv = await export_records(net, name, tenant, "csv")
        assert in_csv.rows.keys() == ndjson.rows.keys(), label
        for record_id, row in in_csv.rows.items():
            cells, carried = csv_view(row, answer_keys), files[record_id]
            assert cells.fields == carried.fields, label
            for coordinate, columns in carried.values.items():
                rendered = {k: neutralize(text(v)) for k, v in columns.items()}
                assert rendered == cells.values[coordinate], (label, coordinate)
            rendered = {k: neutralize(text(v)) for k, v in carried.answers.items()}
            assert rendered == cells.answers, label

        # The records the plan lets out for export, no more...
        async with net.db.read_session() as session:
            exportable = await session.scalar(
                select(func.count())
                .select_from(ContactRecord)
                .where(seam.where(ContactRecord), ContactRecord.tenant_id == tenant)
            )
        assert len(files) == exportable == ndjson.summary["records"], label
        for sample in (s for s in net.samples if s.owner == tenant):
            decided = exporting.get(sample.id)
            assert (sample.id in files) == (decided is not None), (label, sample.label)
            if decided is None:
                continue
            carried = files[sample.id]
            # ...with the fields its EXPORT decisions allow...
            assert carried.fields <= decided.fields, (label, sample.label)
            assert set(carried.answers) == decided.answers, (label, sample.label)
            # ...and, where it grants them for read too, as GraphQL shows them.
            read = reading[sample.id]
            seen, _ = await graphql_record(net, name, sample.id)
            assert seen is not None
            for coordinate in decided.fields & read.fields & FILE_FIELDS:
                where = (label, sample.label, coordinate)
                assert (coordinate in carried.values) == (coordinate in seen.values), where
                if coordinate in carried.values:
                    shown = seen.values[coordinate]
                    assert same_value(coordinate, shown, carried.values[coordinate]), where
            both = decided.answers & read.answers
            assert {k: carried.answers[k] for k in both} == {k: seen.answers[k] for k in both}
        # Part 2 answers of another organization's records go with the redisclosure notice.
        part2_left = tenant != home_of(name) and any(
            net.part2_keys.get(tenant, frozenset()) & set(f.answers) for f in files.values()
        )
        assert part2_left >= any(d.notice for i, d in exporting.items() if i in files), label
        assert (ndjson.summary["redisclosureNotice"] is not None) == part2_left, label


# -- contact records: the e-mailed PDF ------------------------------------------------------------

PDF_RECORD_FIELDS = {
    f.coordinate: f.label
    for f in CATALOGUE[RECORD].fields
    if Format.PDF in f.export.formats and f.name != "answers"
}
PDF_CLIENT_FIELDS = {
    f.coordinate: f.label for f in CATALOGUE["Client"].fields if Format.PDF in f.export.formats
}
CREATE_TEMPLATE = """
mutation($input: EmailTemplateInput!) { createEmailTemplate(input: $input) { emailTemplate { id } } }
"""
SEND = """
mutation($input: SendContactRecordByEmailInput!) {
  sendContactRecordByEmail(input: $input) { withheldFields emailSend { status fields } }
}
"""
PASSWORD = "a long shared secret"


async def template_naming_everything(net: Net, sender: str) -> str:
    """A template of the sender's tenant naming every record and client field, all answers,
    and every 42 CFR Part 2 answer by its key."""
    if sender not in net.templates:
        part2 = sorted(frozenset().union(*net.part2_keys.values()))
        fields = [*PDF_RECORD_FIELDS, *PDF_CLIENT_FIELDS, ALL_ANSWERS]
        template = {
            "name": f"Everything ({sender})",
            "subject": "Contact record",
            "body": "Attached.",
            "recipients": ["care@example.org"],
            "fields": fields + [f"{ALL_ANSWERS}.{k}" for k in part2],
            "purpose": "care coordination",
        }
        data = await net.api.data(sender, CREATE_TEMPLATE, {"input": template})
        net.templates[sender] = data["createEmailTemplate"]["emailTemplate"]["id"]
    return net.templates[sender]


def pdf_expected(
    net: Net, sample: Sample, answers: dict[str, Any], read: Decided, export: Decided
) -> tuple[set[str], set[str]]:
    """(coordinates the PDF holds, those it withholds) for a template naming everything: what
    the sender may both read and export; Part 2 answers only by their key."""
    record = read.fields & export.fields
    held = {c for c in PDF_RECORD_FIELDS if c in record}
    withheld = set(PDF_RECORD_FIELDS) - held
    if sample.client_id is not None:
        client = (read.client or frozenset()) & (export.client or frozenset())
        if f"{RECORD}.client" not in record:
            client = frozenset()
        held |= {c for c in PDF_CLIENT_FIELDS if c in client}
        withheld |= {c for c in PDF_CLIENT_FIELDS if c not in client}
    sendable = read.answers & export.answers if ALL_ANSWERS in record else frozenset()
    for key in answers:
        (held if key in sendable else withheld).add(f"{ALL_ANSWERS}.{key}")
    for key in frozenset().union(*net.part2_keys.values()) - set(answers):
        withheld.add(f"{ALL_ANSWERS}.{key}")  # named, but this record has no such answer
    return held, withheld


def _words(value: str) -> str:
    return " ".join(value.split())


def _pdf_text(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(_pdf_text(v) for v in value)
    return str(value)


@pytest.mark.parametrize(
    ("sender", "label"),
    [
        ("prairie-admin", "after-hours, consented to Lakeside"),
        ("lakeside-admin", "after-hours, consented to Lakeside"),
        ("lakeside-admin", "after-hours, consented to Riverbend only"),
        ("lakeside-admin", "follow-up handed to Lakeside"),
    ],
)
async def test_the_emailed_pdf_holds_what_graphql_and_the_files_let_out(
    net: Net, sender: str, label: str
) -> None:
    sample = net.sample(label)
    read = (await decide(net, sender, Action.READ))[sample.id]
    export = (await decide(net, sender, Action.EXPORT)).get(sample.id)
    template = await template_naming_everything(net, sender)
    mailbox = net.smtp.mailbox
    received = len(mailbox.received)
    before = await last_position(net.db)
    given = {
        "contactRecordId": to_global_id(RECORD, sample.id),
        "templateId": template,
        "password": PASSWORD,
    }
    body = await net.api.gql(sender, SEND, {"input": given})
    trail = await audit_since(net.db, before)
    if export is None:
        # Read, but outside the sender's export grants: nothing is sent or disclosed, and the
        # refusal is on record.
        assert [e["extensions"] for e in body["errors"]] == [
            {
                "code": "FORBIDDEN",
                "reason": "EXPORT_DENIED",
                "operation": "sendContactRecordByEmail",
            }
        ]
        assert len(mailbox.received) == received
        assert [(r.action, r.coordinates) for r in trail] == [
            ("denied", ["sendContactRecordByEmail"])
        ]
        return
    assert "errors" not in body, body
    sent = body["data"]["sendContactRecordByEmail"]
    async with net.db.read_session() as session:
        record = await session.get(ContactRecord, sample.id)
        assert record is not None
        client = await session.get(Client, sample.client_id) if sample.client_id else None
        labels = dict(
            (
                await session.execute(
                    select(FormField.key, FormField.label).where(
                        FormField.form_version_id == record.form_version_id
                    )
                )
            ).all()
        )
    answers: dict[str, Any] = record.answers or {}
    held, withheld = pdf_expected(net, sample, answers, read, export)
    assert set(sent["emailSend"]["fields"]) == held
    assert set(sent["withheldFields"]) == withheld
    # What the PDF holds, GraphQL shows the sender too.
    seen, _ = await graphql_record(net, sender, sample.id)
    assert seen is not None
    answered = {f"{ALL_ANSWERS}.{k}" for k in seen.answers}
    assert held <= seen.fields | (seen.client or frozenset()) | answered

    # The recipients read exactly that, and the redisclosure notice with Part 2 answers.
    [mail] = mailbox.received[received:]
    flat = _words(pdf_text(mail.pdf(), PASSWORD)[0])
    part2 = net.part2_keys[sample.owner]
    part2_held = {k for k in part2 if f"{ALL_ANSWERS}.{k}" in held}
    assert (PART2_NOTICE in flat) == bool(part2_held)
    if sample.owner != home_of(sender):
        assert bool(part2_held) == read.notice == export.notice
    for key, value in answers.items():
        if f"{ALL_ANSWERS}.{key}" in held:
            assert labels[key] in flat and _words(_pdf_text(value)) in flat, key
        elif key in part2:
            assert f"{labels[key]} " not in flat, key
    for row, coordinate in ((record, "ContactRecord.narrative"), (client, "Client.lastName")):
        type_name, _, name = coordinate.partition(".")
        attribute = CATALOGUE[type_name].by_name[name].column_attribute
        value = getattr(row, attribute, None)
        if isinstance(value, str) and value:
            assert (_words(value) in flat) == (coordinate in held), coordinate

    # One disclosure in the owner's trail, naming the record and what the PDF holds.
    assert audit_rows(trail) == {
        ("disclosure", sample.owner, RECORD, (str(sample.id),), tuple(sent["emailSend"]["fields"]))
    }
    assert set(trail[0].coordinates or []) == held
    assert trail[0].principal_id == demo_id("principal", sender)
    assert (trail[0].detail or {}).get("channel") == "email"


# -- the directory: GraphQL, the HSDS API and the HSDS export ------------------------------------

# The HSDS objects, by the catalogue type of their rows; each plain key names the field that
# governs it (exporters/hsds_spec.py), each nested key the relation it leaves under.
HSDS_TABLES = {t.type_name: t for t in (SERVICE, ORGANIZATION, PROGRAM, LOCATION, SERVICE_AT_LOCATION, ADDRESS, PHONE, SCHEDULE, LANGUAGE, SERVICE_AREA, TAXONOMY, TAXONOMY_TERM, UNIT, SERVICE_CAPACITY)}  # fmt: skip
LINK = None  # the key holds a related row's id
TERMS = "attributes"  # taxonomy attributes: the record's `taxonomyTerms`
SKIP = "skip"  # not a field: the parent's id, identifiers and source ids
HSDS_NESTED: dict[str, dict[str, tuple[str, str | None]]] = {
    "Service": {
        "organization_id": ("organization", LINK),
        "organization": ("organization", "Organization"),
        "program_id": ("program", LINK),
        "program": ("program", "Program"),
        "phones": ("phones", "Phone"),
        "schedules": ("schedules", "Schedule"),
        "service_areas": ("serviceAreas", "ServiceArea"),
        "languages": ("languages", "Language"),
        "service_at_locations": ("serviceAtLocations", "ServiceAtLocation"),
        "attributes": ("taxonomyTerms", TERMS),
        "capacities": ("capacities", "ServiceCapacity"),
    },
    "ServiceAtLocation": {
        "service_id": ("service", LINK),
        "location_id": ("location", LINK),
        "location": ("location", "Location"),
        "phones": ("phones", "Phone"),
        "schedules": ("schedules", "Schedule"),
        "attributes": ("taxonomyTerms", TERMS),
    },
    "Location": {
        "organization_id": ("organization", LINK),
        "addresses": ("addresses", "Address"),
        "phones": ("phones", "Phone"),
        "schedules": ("schedules", "Schedule"),
        "languages": ("languages", "Language"),
    },
    "TaxonomyTerm": {
        "parent_id": ("parent", LINK),
        "taxonomy": ("taxonomy", LINK),  # the taxonomy's name
        "taxonomy_id": ("taxonomy", LINK),
        "taxonomy_detail": ("taxonomy", "Taxonomy"),
    },
    "ServiceCapacity": {
        "service_id": ("", SKIP),
        "unit_id": ("unit", LINK),
        "unit": ("unit", "Unit"),
    },
    "Organization": {"organization_identifiers": ("", SKIP)},
    "Program": {"attributes": ("", SKIP)},
}
# (type, row, coordinate); rows of types with no global id in GraphQL (an address, a
# language...) are named together by the row and relation they hang off.
Triple = tuple[str, str, str]


def _hsds_columns(type_name: str) -> dict[str, str | None]:
    return {c.key: c.coordinate for c in HSDS_TABLES[type_name].columns}


def _has_identity(type_name: str) -> bool:
    return any(f.storage is Storage.IDENTITY for f in CATALOGUE[type_name].fields)


def hsds_triples(
    type_name: str, obj: dict[str, Any], out: set[Triple], parent: str = ""
) -> set[Triple]:
    """The coordinates an HSDS object, and what it nests, lets out."""
    row = obj["id"] if _has_identity(type_name) else parent
    columns = _hsds_columns(type_name)
    nested = HSDS_NESTED.get(type_name, {})
    for key, value in obj.items():
        if key == "id":
            continue
        if key in columns:
            if columns[key] is not None and _has_value(value):
                out.add((type_name, row, f"{type_name}.{columns[key]}"))
            continue
        assert key in nested, f"the HSDS key {type_name}.{key} maps to no field"
        relation, target = nested[key]
        coordinate = f"{type_name}.{relation}"
        if target == SKIP:
            continue
        if target is LINK:
            out.add((type_name, row, coordinate))
        elif target == TERMS:
            for attribute in value:
                if "taxonomy_term" in attribute:  # not a source-id attribute
                    out.add((type_name, row, coordinate))
                    hsds_triples("TaxonomyTerm", attribute["taxonomy_term"], out)
        else:
            out.add((type_name, row, coordinate))
            for item in value if isinstance(value, list) else [value]:
                hsds_triples(target, item, out, f"{row}:{relation}")
    return out


def graphql_selection(type_name: str) -> str:
    """The fields of ``type_name`` that HSDS carries, and what it nests, as GraphQL."""
    fields = sorted({c for c in _hsds_columns(type_name).values() if c is not None})
    relations: dict[str, str] = {}
    for relation, target in HSDS_NESTED.get(type_name, {}).values():
        if target is LINK:
            relations.setdefault(relation, "id")
        elif target != SKIP:
            relations[relation] = graphql_selection("TaxonomyTerm" if target == TERMS else target)
    identity = ["id"] if _has_identity(type_name) else []
    nested = [f"{r} {{ {s} }}" for r, s in sorted(relations.items())]
    return " ".join([*identity, *fields, *nested])


SERVICE_QUERY = "query($id: ID!) { service(id: $id) { " + graphql_selection("Service") + " } }"


def graphql_triples(
    type_name: str, obj: dict[str, Any], out: set[Triple], parent: str = ""
) -> set[Triple]:
    """The coordinates a GraphQL object, and what it nests, shows."""
    row = str(from_global_id(obj["id"])[1]) if "id" in obj else parent
    spec = CATALOGUE[type_name]
    for key, value in obj.items():
        if key == "id" or not _has_value(value):
            continue
        out.add((type_name, row, f"{type_name}.{key}"))
        target = spec.by_name[key].target
        if target is not None:
            for item in value if isinstance(value, list) else [value]:
                graphql_triples(target, item, out, f"{row}:{key}")
    return out


@dataclass(frozen=True)
class DirectorySample:
    label: str
    id: uuid.UUID
    owner: uuid.UUID


async def directory_samples(db: Database) -> list[DirectorySample]:
    """The food pantry's service, one with a capacity, Prairie 211's most nested one, and one
    of each other tenant."""
    service = select(Service.id, Service.tenant_id)
    locations = (
        select(func.count())
        .select_from(ServiceAtLocation)
        .where(ServiceAtLocation.service_id == Service.id)
        .scalar_subquery()
    )
    picks = [
        (
            "the pantry's",
            service.join(Organization, Organization.id == Service.organization_id).where(
                Organization.partner_organization_id == EASTSIDE
            ),
        ),
        ("one with a capacity", service.where(Service.id.in_(select(ServiceCapacity.service_id)))),
        (
            "Prairie 211's most nested",
            service.where(Service.tenant_id == PRAIRIE).order_by(locations.desc()),
        ),
        ("Lakeside's", service.where(Service.tenant_id == LAKESIDE)),
        ("Riverbend's", service.where(Service.tenant_id == RIVERBEND)),
    ]
    async with db.read_session() as session:
        found = []
        for label, statement in picks:
            row = await _first(session, statement.order_by(Service.id))
            found.append(DirectorySample(label, row.id, row.tenant_id))
    return found


@pytest.mark.parametrize("name", PRINCIPALS)
async def test_directory_records_leave_alike_in_graphql_the_hsds_api_and_the_hsds_export(
    net: Net, name: str
) -> None:
    plan = await net.plan(name)
    reading, exporting = Disclosure(plan, Action.READ), Disclosure(plan, Action.EXPORT)
    samples = await directory_samples(net.db)
    ids = [s.id for s in samples]
    async with net.db.read_session() as session:
        statement = select(Service.id).where(Service.id.in_(ids), reading.where(Service))
        readable = set((await session.scalars(statement)).all())
    headers = {"Authorization": f"Bearer {net.api.keys[name]}"}
    served: dict[uuid.UUID, dict[str, Any]] = {}
    for sample in samples:
        label = f"{name} reading {sample.label}"
        before = await last_position(net.db)
        body = await net.api.gql(name, SERVICE_QUERY, {"id": to_global_id("Service", sample.id)})
        asked = await last_position(net.db)
        response = await net.api.http.get(f"/hsds/services/{sample.id}?full=true", headers=headers)
        # Directory reads are not contact data: neither road writes read rows; GraphQL, where
        # fields are asked for by name, records those it refused.
        assert await audit_since(net.db, asked) == [], label
        refused = forbidden(body)
        trail = await audit_since(net.db, before)
        assert [r.action for r in trail] == (["denied"] if refused else []), label
        assert {c for r in trail for c in r.coordinates or []} == refused, label
        node = (body.get("data") or {}).get("service")
        if sample.id not in readable:
            assert node is None and response.status_code == 404, label
            continue
        assert node is not None, label
        errors = [e for e in body.get("errors", []) if e["extensions"]["code"] != "FORBIDDEN_FIELD"]
        assert not errors and response.status_code == 200, (label, errors)
        served[sample.id] = response.json()
        in_hsds = hsds_triples("Service", served[sample.id], set())
        assert graphql_triples("Service", node, set()) == in_hsds, label

    for tenant in sorted({s.owner for s in samples}):
        label = f"{name} exporting {TENANT_NAMES[tenant]}'s directory"
        before = await last_position(net.db)
        result, target = await cli_export(net, name, "resources", "hsds-json", tenant)
        rows = await audit_since(net.db, before)
        if tenant not in exporting.owners("Service"):
            assert result.exit_code == 1 and "may not export" in result.output, label
            assert rows == [], label
            continue
        assert result.exit_code == 0, (label, result.output)
        objects = json.loads(target.read_text(encoding="utf-8"))
        by_id = {uuid.UUID(o["id"]): o for o in objects}
        async with net.db.read_session() as session:
            statement = select(Service.id).where(
                Service.tenant_id == tenant, exporting.where(Service)
            )
            assert set(by_id) == set((await session.scalars(statement)).all()), label
        # One disclosure in the owner's trail, counting the services and naming their fields.
        [row] = rows
        assert (row.action, row.tenant_id, row.record_type) == ("disclosure", tenant, "Service")
        assert (row.detail or {})["count"] == len(objects), label
        carried = {
            c for o in objects for t, _, c in hsds_triples("Service", o, set()) if t == "Service"
        }
        assert carried <= set(row.coordinates or []), label
        for sample in (s for s in samples if s.owner == tenant and s.id in served):
            # The directory is granted alike for read and export: the same object leaves.
            for type_name in HSDS_TABLES:
                assert reading.fields(type_name, tenant) == exporting.fields(type_name, tenant)
            assert by_id[sample.id] == served[sample.id], (label, sample.label)
