"""A contact record by email as a password-protected PDF, against a real SMTP server on loopback.

The stories: an admin saves a template and sends a record; the recipients get a PDF that opens
only with the password (AES-256), which is nowhere in the email; a tenant reading Prairie 211's
records under an agreement sends only what it may read and export; whoever cannot see the
record, or may not export it, sends nothing; every send is a disclosure in the owner's trail;
an SMTP failure is recorded and answered with a clear code.
"""

from __future__ import annotations

import email
import io
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from email.message import Message
from typing import Any

import pypdf
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from pypdf.errors import FileNotDecryptedError
from sqlalchemy import func, select, update

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import (
    AuditEvent,
    Client,
    ContactForm,
    ContactFormVersion,
    ContactRecord,
    EmailSend,
)
from sharegraph.demo import demo_id
from sharegraph.exporters import email as mail
from sharegraph.exporters.pdf import Document, Entry, Section, WeakPassword, render_protected
from sharegraph.graph.relay import to_global_id
from sharegraph.settings import Settings, SmtpSettings

from .conftest import Api, make_api

PRAIRIE = demo_id("tenant", "prairie")
FIRST_NAME = "Zoë"
LAST_NAME = "Ærøskøbing-Nguyễn"
NARRATIVE_END = "Caller will phone back on Friday about the deposit."
NARRATIVE = ("Caller explained the situation at length. " * 120) + NARRATIVE_END
SUBSTANCE = "Opioids"
SENDER = "records@prairie211.example"

CREATE_TEMPLATE = """
mutation($input: EmailTemplateInput!) {
  createEmailTemplate(input: $input) { emailTemplate { id name version active recipients fields } }
}
"""
UPDATE_TEMPLATE = """
mutation($id: ID!, $version: Int!, $input: EmailTemplateInput!) {
  updateEmailTemplate(id: $id, version: $version, input: $input) { emailTemplate { id version name active } }
}
"""
DEACTIVATE_TEMPLATE = """
mutation($id: ID!, $version: Int!) {
  deactivateEmailTemplate(id: $id, version: $version) { emailTemplate { id version active } }
}
"""
TEMPLATES = "query($all: Boolean!) { emailTemplates(includeInactive: $all) { name active } }"
SEND = """
mutation($input: SendContactRecordByEmailInput!) {
  sendContactRecordByEmail(input: $input) {
    password withheldFields
    emailSend { id status recipients fields error templateId contactRecordId }
  }
}
"""


# ---------------------------------------------------------------------------------------------
# A real SMTP server on loopback


@dataclass
class Received:
    mail_from: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.raw)

    def pdf(self) -> bytes:
        for part in self.message.walk():
            if part.get_content_type() == "application/pdf":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return payload
        raise AssertionError("no PDF attached")

    def texts(self) -> list[str]:
        """Every part as the recipient's mail program decodes it."""
        out = [self.raw.decode("utf-8", "replace")]
        for part in self.message.walk():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                out.append(payload.decode("utf-8", "replace"))
        return out


@dataclass
class Mailbox:
    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # addresses, or {"*"} for every one

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse or "*" in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.received.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), envelope.content)
        )
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpServer:
    mailbox: Mailbox
    settings: SmtpSettings


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(
            mailbox,
            SmtpSettings(host="127.0.0.1", port=port, starttls=False, from_address=SENDER),
        )
    finally:
        controller.stop()


@pytest.fixture
async def mail_api(
    seeded_db: Database, keys: dict[str, str], smtp_server: SmtpServer
) -> AsyncIterator[Api]:
    settings = Settings(database_url=seeded_db.url, smtp=smtp_server.settings)
    async for client in make_api(seeded_db, keys, settings):
        yield client


# ---------------------------------------------------------------------------------------------
# Helpers


def codes(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [
        (e["extensions"]["code"], e["extensions"].get("reason")) for e in body.get("errors", [])
    ]


async def _record_on_form(db: Database, form_name: str) -> ContactRecord:
    async with db.read_session() as session:
        record = await session.scalar(
            select(ContactRecord)
            .join(ContactFormVersion, ContactFormVersion.id == ContactRecord.form_version_id)
            .join(ContactForm, ContactForm.id == ContactFormVersion.form_id)
            .where(
                ContactRecord.tenant_id == PRAIRIE,
                ContactForm.name == form_name,
                ContactRecord.client_id.is_not(None),
            )
            .order_by(ContactRecord.id)
            .limit(1)
        )
    assert record is not None
    return record


async def prepared_record(db: Database) -> str:
    """A Prairie 211 record with an accented client name, a long narrative and a Part 2
    answer; its global id."""
    record = await _record_on_form(db, "Standard call report")
    answers = dict(record.answers or {})
    answers.update(
        contact_reason=answers.get("contact_reason", "Food"),
        substance_use=SUBSTANCE,
        caller_name=f"{FIRST_NAME} {LAST_NAME}",
    )
    async with db.write_session() as session:
        await session.execute(
            update(ContactRecord)
            .where(ContactRecord.id == record.id)
            .values(narrative=NARRATIVE, answers=answers)
        )
        await session.execute(
            update(Client)
            .where(Client.id == record.client_id)
            .values(first_name=FIRST_NAME, last_name=LAST_NAME)
        )
    return to_global_id("ContactRecord", record.id)


def template_input(**overrides: Any) -> dict[str, Any]:
    value = {
        "name": "Send to the housing navigator",
        "subject": "Contact record for follow-up",
        "body": "Please find the contact record attached. The password follows separately.",
        "recipients": ["navigator@harbor.example", "Supervisor@Harbor.example"],
        "fields": [
            "ContactRecord.startedAt",
            "ContactRecord.channel",
            "ContactRecord.narrative",
            "Client.firstName",
            "Client.lastName",
            "ContactRecord.answers",
            "ContactRecord.answers.substance_use",
        ],
        "purpose": "care coordination",
    }
    value.update(overrides)
    return value


async def create_template(api: Api, principal: str, **overrides: Any) -> dict[str, Any]:
    data = await api.data(principal, CREATE_TEMPLATE, {"input": template_input(**overrides)})
    template: dict[str, Any] = data["createEmailTemplate"]["emailTemplate"]
    return template


def pdf_text(pdf: bytes, password: str) -> tuple[str, int]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert reader.decrypt(password) != pypdf.PasswordType.NOT_DECRYPTED
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


async def email_disclosures(db: Database) -> list[AuditEvent]:
    async with db.read_session() as session:
        rows = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "disclosure")
                .order_by(AuditEvent.position)
            )
        ).all()
    return [r for r in rows if (r.detail or {}).get("channel") == "email"]


async def sends(db: Database) -> list[EmailSend]:
    async with db.read_session() as session:
        return list((await session.scalars(select(EmailSend))).all())


# ---------------------------------------------------------------------------------------------
# Stories


async def test_an_admin_emails_a_record_as_a_pdf_that_opens_only_with_its_password(
    mail_api: Api, smtp_server: SmtpServer
) -> None:
    api = mail_api
    record_id = await prepared_record(api.database)
    template = await create_template(api, "prairie-admin")
    assert template["recipients"] == ["navigator@harbor.example", "Supervisor@Harbor.example"]

    body = await api.gql(
        "prairie-admin",
        SEND,
        {"input": {"contactRecordId": record_id, "templateId": template["id"]}},
    )
    assert "errors" not in body, body
    sent = body["data"]["sendContactRecordByEmail"]
    password = sent["password"]
    assert isinstance(password, str) and len(password) >= 12
    assert sent["emailSend"]["status"] == "sent"
    assert sent["withheldFields"] == []

    [received] = smtp_server.mailbox.received
    assert received.mail_from == SENDER
    assert sorted(received.recipients) == ["Supervisor@Harbor.example", "navigator@harbor.example"]
    assert received.message["Subject"] == "Contact record for follow-up"
    # The password travels some other way: it is nowhere in the email, encoded or not.
    assert all(password not in text for text in received.texts())

    pdf = received.pdf()
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert reader.is_encrypted
    encrypt = reader.trailer["/Encrypt"].get_object()
    assert (encrypt["/V"], encrypt["/R"]) == (5, 6)  # AES-256, PDF 2.0
    assert encrypt["/CF"]["/StdCF"]["/CFM"] == "/AESV3"
    with pytest.raises(FileNotDecryptedError):
        reader.pages[0].extract_text()
    wrong = pypdf.PdfReader(io.BytesIO(pdf))
    assert wrong.decrypt("not the password") == pypdf.PasswordType.NOT_DECRYPTED

    text, pages = pdf_text(pdf, password)
    assert FIRST_NAME in text and LAST_NAME in text  # Unicode renders and extracts
    assert NARRATIVE_END in text.replace("\n", " ")  # the long narrative wraps, all of it
    assert pages >= 2
    assert SUBSTANCE in text  # named explicitly, within the owner organization
    assert "42 CFR part 2" in text  # so the redisclosure notice goes with it

    [disclosure] = await email_disclosures(api.database)
    [send_row] = await sends(api.database)
    assert disclosure.tenant_id == PRAIRIE
    assert disclosure.principal_id == demo_id("principal", "prairie-admin")
    assert disclosure.purpose == "care coordination"
    assert disclosure.record_type == "ContactRecord"
    assert disclosure.record_ids == [str(send_row.contact_record_id)]
    assert disclosure.detail is not None
    assert disclosure.detail["recipients"] == [
        "navigator@harbor.example",
        "Supervisor@Harbor.example",
    ]
    assert disclosure.detail["emailSend"] == str(send_row.id)
    assert disclosure.coordinates == send_row.fields == sent["emailSend"]["fields"]
    assert "ContactRecord.narrative" in send_row.fields
    assert "ContactRecord.answers.substance_use" in send_row.fields
    assert send_row.status == "sent" and send_row.error is None


async def test_a_retry_with_the_same_key_sends_once_and_shows_no_password(
    mail_api: Api, smtp_server: SmtpServer
) -> None:
    api = mail_api
    record_id = await prepared_record(api.database)
    template = await create_template(api, "prairie-admin")
    given = {
        "contactRecordId": record_id,
        "templateId": template["id"],
        "password": "correct horse battery staple",
        "idempotencyKey": "send-1",
    }
    first = await api.data("prairie-admin", SEND, {"input": given})
    again = await api.data("prairie-admin", SEND, {"input": given})
    assert first["sendContactRecordByEmail"]["password"] is None  # the caller chose it
    assert (
        again["sendContactRecordByEmail"]["emailSend"]
        == first["sendContactRecordByEmail"]["emailSend"]
    )
    assert len(smtp_server.mailbox.received) == 1
    assert len(await email_disclosures(api.database)) == 1
    text, _ = pdf_text(smtp_server.mailbox.received[0].pdf(), "correct horse battery staple")
    assert FIRST_NAME in text


async def test_another_tenant_sends_only_what_it_may_read_and_export(
    mail_api: Api, smtp_server: SmtpServer
) -> None:
    api = mail_api
    record_id = await prepared_record(api.database)
    await api.data(
        "prairie-admin",
        "mutation($input: SharingAgreementInput!) { createSharingAgreement(input: $input) { agreement { id } } }",
        {
            "input": {
                "name": "Case summaries for Riverbend",
                "purpose": "care coordination",
                "granteeKind": "TENANT",
                "granteeTenantId": to_global_id("Tenant", demo_id("tenant", "riverbend")),
                "actions": ["read", "export"],
                "fields": [
                    "ContactRecord.id",
                    "ContactRecord.startedAt",
                    "ContactRecord.client",
                    "ContactRecord.answers",
                    "ContactRecord.answers.contact_reason",
                    "ContactRecord.answers.substance_use",
                    "Client.id",
                    "Client.firstName",
                ],
                "rowScope": "all",
            }
        },
    )
    template = await create_template(
        api,
        "riverbend-admin",
        fields=[
            "ContactRecord.startedAt",
            "ContactRecord.narrative",
            "Client.firstName",
            "Client.lastName",
            "ContactRecord.answers.contact_reason",
            "ContactRecord.answers.substance_use",
            "ContactRecord.answers.caller_name",
        ],
    )
    sent = await api.data(
        "riverbend-admin",
        SEND,
        {
            "input": {
                "contactRecordId": record_id,
                "templateId": template["id"],
                "password": "a long shared secret",
            }
        },
    )
    payload = sent["sendContactRecordByEmail"]
    assert payload["password"] is None
    assert payload["emailSend"]["fields"] == [
        "ContactRecord.startedAt",
        "Client.firstName",
        "ContactRecord.answers.contact_reason",
    ]
    # Left out: what the agreement does not share, and Part 2 answers without the client's
    # consent naming Riverbend 211.
    assert payload["withheldFields"] == [
        "ContactRecord.narrative",
        "Client.lastName",
        "ContactRecord.answers.substance_use",
        "ContactRecord.answers.caller_name",
    ]
    text, _ = pdf_text(smtp_server.mailbox.received[0].pdf(), "a long shared secret")
    assert FIRST_NAME in text
    for secret in (LAST_NAME, NARRATIVE_END, "Caller explained", SUBSTANCE, "42 CFR part 2"):
        assert secret not in text

    [disclosure] = await email_disclosures(api.database)
    assert disclosure.tenant_id == PRAIRIE  # the owner's accounting of disclosures
    assert disclosure.principal_id == demo_id("principal", "riverbend-admin")
    assert disclosure.coordinates == payload["emailSend"]["fields"]


async def test_who_cannot_see_or_export_the_record_sends_nothing(
    mail_api: Api, smtp_server: SmtpServer
) -> None:
    api = mail_api
    record_id = await prepared_record(api.database)
    prairie_template = await create_template(api, "prairie-admin")
    riverbend_template = await create_template(api, "riverbend-admin")
    after_hours = await _record_on_form(api.database, "After-hours intake")
    lakeside_template = await create_template(api, "lakeside-admin")

    def send(record: str, template: dict[str, Any]) -> dict[str, Any]:
        return {"input": {"contactRecordId": record, "templateId": template["id"]}}

    # Riverbend 211 has no agreement on Prairie's records: the record does not exist for it.
    body = await api.gql("riverbend-admin", SEND, send(record_id, riverbend_template))
    assert codes(body) == [("NOT_FOUND", None)]
    assert body["data"] is None or body["data"]["sendContactRecordByEmail"] is None
    # A portal user's role sends nothing by email, whatever it may see.
    body = await api.gql("eastside-portal", SEND, send(record_id, prairie_template))
    assert codes(body) == [("FORBIDDEN", "OPERATION_DENIED")]
    # Another tenant's template is not yours to use.
    riverbend_record = (
        await api.data("riverbend-admin", "{ contactRecords(first: 1) { edges { node { id } } } }")
    )["contactRecords"]["edges"][0]["node"]["id"]
    body = await api.gql("riverbend-admin", SEND, send(riverbend_record, prairie_template))
    assert codes(body) == [("NOT_FOUND", None)]
    # A call taker reads the record, but its role exports nothing.
    body = await api.gql("prairie-call-taker", SEND, send(record_id, prairie_template))
    assert codes(body) == [("FORBIDDEN", "OPERATION_DENIED")]
    # Lakeside reads and writes Prairie's after-hours records, but may not export them.
    after_hours_id = to_global_id("ContactRecord", after_hours.id)
    body = await api.gql("lakeside-admin", SEND, send(after_hours_id, lakeside_template))
    assert codes(body) == [("FORBIDDEN", "EXPORT_DENIED")]

    assert smtp_server.mailbox.received == []
    assert await sends(api.database) == []
    assert await email_disclosures(api.database) == []


async def test_templates_are_validated_and_kept_by_admins(mail_api: Api) -> None:
    api = mail_api
    bad = await api.gql(
        "prairie-admin",
        CREATE_TEMPLATE,
        {
            "input": template_input(
                subject="Line one\r\nBcc: eve@evil.example",
                recipients=[
                    "not-an-email",
                    "Eve <eve@evil.example>",
                    "ok@harbor.example",
                    "x@y\r\nBcc: eve@evil.example",
                ],
                fields=[
                    "Client.firstName",
                    "Client.shoeSize",
                    "Referral.status",
                    "ContactRecord.answers.no_such_field",
                    "ContactRecord.answers.bad key!",
                ],
                purpose=" ",
            )
        },
    )
    assert codes(bad) == [("BAD_USER_INPUT", "INVALID_EMAIL_TEMPLATE")]
    problems = bad["errors"][0]["extensions"]["problems"]
    assert problems == [
        "subject must be one line",
        "purpose must not be empty (it is recorded with every send)",
        "recipients: 'not-an-email' is not an email address (name@example.org)",
        "recipients: 'Eve <eve@evil.example>' is not an email address (name@example.org)",
        "recipients: 'x@y\\r\\nBcc: eve@evil.example' is not an email address (name@example.org)",
        "fields: 'Client.shoeSize' is not a known field (ContactRecord.narrative, Client.firstName, ...)",
        "fields: 'Referral.status' cannot go into a PDF; use fields of ContactRecord and Client",
        "fields: 'ContactRecord.answers.no_such_field': no form you can read has the field 'no_such_field'",
        "fields: 'ContactRecord.answers.bad key!': not a form field key",
    ]
    empty = await api.gql(
        "prairie-admin", CREATE_TEMPLATE, {"input": template_input(recipients=[], fields=[])}
    )
    assert empty["errors"][0]["extensions"]["problems"] == [
        "recipients must name at least one email address",
        "fields must name at least one field to put in the PDF",
    ]

    refused = await api.gql("prairie-call-taker", CREATE_TEMPLATE, {"input": template_input()})
    assert codes(refused) == [("FORBIDDEN", "NOT_ADMIN")]

    template = await create_template(api, "prairie-admin")
    taken = await api.gql("prairie-admin", CREATE_TEMPLATE, {"input": template_input()})
    assert codes(taken) == [("CONFLICT", "NAME_TAKEN")]

    renamed = await api.data(
        "prairie-admin",
        UPDATE_TEMPLATE,
        {"id": template["id"], "version": 1, "input": template_input(name="Renamed")},
    )
    assert renamed["updateEmailTemplate"]["emailTemplate"]["version"] == 2
    stale = await api.gql(
        "prairie-admin",
        UPDATE_TEMPLATE,
        {"id": template["id"], "version": 1, "input": template_input(name="Again")},
    )
    assert codes(stale) == [("CONFLICT", "VERSION_MISMATCH")]
    # Another tenant's admin cannot touch it.
    foreign = await api.gql(
        "riverbend-admin", DEACTIVATE_TEMPLATE, {"id": template["id"], "version": 2}
    )
    assert codes(foreign) == [("NOT_FOUND", None)]

    listed = await api.data("prairie-call-taker", TEMPLATES, {"all": False})
    assert listed["emailTemplates"] == [{"name": "Renamed", "active": True}]
    await api.data("prairie-admin", DEACTIVATE_TEMPLATE, {"id": template["id"], "version": 2})
    assert (await api.data("prairie-call-taker", TEMPLATES, {"all": False}))["emailTemplates"] == []
    assert (await api.data("prairie-admin", TEMPLATES, {"all": True}))["emailTemplates"] == [
        {"name": "Renamed", "active": False}
    ]
    only_admins = await api.gql("prairie-call-taker", TEMPLATES, {"all": True})
    assert codes(only_admins) == [("FORBIDDEN", "NOT_ADMIN")]

    record_id = await prepared_record(api.database)
    inactive = await api.gql(
        "prairie-admin",
        SEND,
        {"input": {"contactRecordId": record_id, "templateId": template["id"]}},
    )
    assert codes(inactive) == [("BAD_USER_INPUT", "TEMPLATE_INACTIVE")]

    async with api.database.read_session() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("email.template.%"))
                .order_by(AuditEvent.position)
            )
        ).all()
    assert actions == [
        "email.template.create",
        "email.template.update",
        "email.template.deactivate",
    ]


async def test_a_weak_password_is_refused_before_anything_is_sent(
    mail_api: Api, smtp_server: SmtpServer
) -> None:
    api = mail_api
    record_id = await prepared_record(api.database)
    template = await create_template(api, "prairie-admin")
    body = await api.gql(
        "prairie-admin",
        SEND,
        {"input": {"contactRecordId": record_id, "templateId": template["id"], "password": "1234"}},
    )
    assert codes(body) == [("BAD_USER_INPUT", "WEAK_PASSWORD")]
    assert smtp_server.mailbox.received == []
    assert await sends(api.database) == []


async def test_an_smtp_failure_is_recorded_and_answered_clearly(
    mail_api: Api, smtp_server: SmtpServer
) -> None:
    api = mail_api
    record_id = await prepared_record(api.database)
    template = await create_template(api, "prairie-admin")
    smtp_server.mailbox.refuse = {"*"}

    body = await api.gql(
        "prairie-admin",
        SEND,
        {"input": {"contactRecordId": record_id, "templateId": template["id"]}},
    )
    assert codes(body) == [("SERVICE_UNAVAILABLE", "SMTP_FAILED")]
    error = body["errors"][0]
    assert "550" in error["message"] and "Traceback" not in error["message"]
    [send_row] = await sends(api.database)
    assert error["extensions"]["emailSendId"] == to_global_id("EmailSend", send_row.id)
    assert send_row.status == "failed"
    assert send_row.error is not None and "mailbox unavailable" in send_row.error
    assert smtp_server.mailbox.received == []
    # The disclosure was recorded before the attempt; the failure is recorded next to it.
    [disclosure] = await email_disclosures(api.database)
    async with api.database.read_session() as session:
        failed = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "email.send.failed")
            )
        ).all()
    assert [f.detail["emailSend"] for f in failed if f.detail] == [str(send_row.id)]
    assert disclosure.detail is not None and disclosure.detail["emailSend"] == str(send_row.id)

    # Refused for one recipient only: it went to the other, and the send says who missed it.
    smtp_server.mailbox.refuse = {"Supervisor@Harbor.example"}
    sent = await api.data(
        "prairie-admin",
        SEND,
        {"input": {"contactRecordId": record_id, "templateId": template["id"]}},
    )
    partial = sent["sendContactRecordByEmail"]["emailSend"]
    assert partial["status"] == "sent"
    assert partial["error"].startswith("refused: Supervisor@Harbor.example (550")
    assert [r.recipients for r in smtp_server.mailbox.received] == [["navigator@harbor.example"]]


async def test_no_server_answering_and_no_server_configured(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    nobody = SmtpSettings(
        host="127.0.0.1", port=free_port(), starttls=False, from_address=SENDER, timeout_seconds=5
    )
    for smtp, reason in ((nobody, "SMTP_FAILED"), (SmtpSettings(), "SMTP_NOT_CONFIGURED")):
        settings = Settings(database_url=seeded_db.url, smtp=smtp)
        async for api in make_api(seeded_db, keys, settings):
            record_id = await prepared_record(api.database)
            template = await create_template(api, "prairie-admin", name=f"Template {reason}")
            body = await api.gql(
                "prairie-admin",
                SEND,
                {"input": {"contactRecordId": record_id, "templateId": template["id"]}},
            )
            assert codes(body) == [("SERVICE_UNAVAILABLE", reason)]
            assert "Traceback" not in body["errors"][0]["message"]
    async with seeded_db.read_session() as session:
        statuses = (await session.scalars(select(EmailSend.status))).all()
        count = await session.scalar(select(func.count()).select_from(EmailSend))
    assert list(statuses) == ["failed"] and count == 1  # not configured: nothing written


# ---------------------------------------------------------------------------------------------
# The exporters on their own


def test_unicode_and_long_text_render_and_wrap() -> None:
    long_word = "x" * 3000
    document = Document(
        title="Dossier de Zoë",
        header=("Ελληνικά, кириллица, Łódź",),
        sections=(
            Section("Contact", [Entry("Narrative", "word " * 3000), Entry("Unbroken", long_word)]),
            Section("Empty", []),
        ),
        notice="Notice\x00 with a control character",
    )
    pdf = render_protected(document, "a password of length")
    text, pages = pdf_text(pdf, "a password of length")
    assert "Dossier de Zoë" in text and "Łódź" in text and "кириллица" in text
    assert pages >= 3
    assert text.replace("\n", "").count("x") >= 3000  # an unbroken word is split, not cut
    with pytest.raises(WeakPassword):
        render_protected(document, "short")


# aiosmtpd warns that AUTH without TLS is unsafe: on loopback, in a test, it is what we want.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_the_smtp_client_logs_in_when_configured() -> None:
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        seen.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    try:
        base = SmtpSettings(host="127.0.0.1", port=port, starttls=False, from_address=SENDER)
        message = mail.Email(["to@example.org"], "Hello", "Body", [])
        bad = replace(base, user="app", password="wrong")
        with pytest.raises(mail.DeliveryFailed) as failure:
            await mail.send(bad, message)
        assert "535" in str(failure.value) and "wrong" not in str(failure.value)
        good = replace(base, user="app", password="s3cret")
        delivery = await mail.send(good, message)
        assert delivery.refused == {}
    finally:
        controller.stop()
    # smtplib tries each mechanism the server offers before giving up.
    assert set(seen) == {(b"app", b"wrong"), (b"app", b"s3cret")} and seen[-1][1] == b"s3cret"
    assert [r.recipients for r in mailbox.received] == [["to@example.org"]]
