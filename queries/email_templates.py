"""Email templates (saved emails for sending a contact record as a protected PDF) and the
sends made from them.

A template belongs to a tenant; only that tenant's admins change it, and every change writes
an audit row in the same transaction. A send is recorded in two steps: before the message
leaves, its ``email_sends`` row (status ``sending``) and the disclosure in the record owner's
audit trail commit together; afterwards the row says ``sent`` or ``failed``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.catalogue import CATALOGUE, Format
from sharegraph.authz.coordinates import ANSWERS_PREFIX, TYPE_FIELDS
from sharegraph.authz.principal import Principal
from sharegraph.datastore import audit
from sharegraph.datastore.models import EmailSend, EmailTemplate
from sharegraph.datastore.versioning import bump
from sharegraph.errors import BadUserInput, Conflict, Forbidden, NotFound, quote

# What a template may put in the PDF: coordinates of the contact record and its client, with
# the label the PDF shows (from the field catalogue: the fields it lets into a PDF).
# ``ContactRecord.answers`` is every form answer the sender may read;
# ``ContactRecord.answers.<key>`` one of them.
RECORD_FIELDS: dict[str, str] = {
    f.coordinate: f.label
    for f in CATALOGUE["ContactRecord"].fields
    if Format.PDF in f.export.formats
}
CLIENT_FIELDS: dict[str, str] = {
    f.coordinate: f.label for f in CATALOGUE["Client"].fields if Format.PDF in f.export.formats
}
PDF_FIELDS: dict[str, str] = {**RECORD_FIELDS, **CLIENT_FIELDS}
ALL_ANSWERS = "ContactRecord.answers"

MAX_RECIPIENTS = 50
MAX_FIELDS = 200
MAX_BODY = 20_000
MAX_SUBJECT = 998  # RFC 5322 line limit; the column is as long
MAX_ADDRESS = 254
_ANSWER_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# addr-spec, deliberately narrow: what real mailboxes use; no quoting, comments or display
# names (which would let a template smuggle extra headers or recipients).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+$")

SENDING, SENT, FAILED = "sending", "sent", "failed"


@dataclass(frozen=True)
class TemplateInput:
    name: str
    subject: str
    body: str
    recipients: tuple[str, ...]
    fields: tuple[str, ...]
    purpose: str
    active: bool = True


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a plain email address; None when it is one."""
    if len(address) > MAX_ADDRESS:
        return f"{quote(address, 40)} is longer than {MAX_ADDRESS} characters"
    if not _ADDRESS.match(address) or len(address.split("@", 1)[0]) > 64:
        return f"{quote(address)} is not an email address (name@example.org)"
    return None


def field_problem(coordinate: str, known_answer_keys: frozenset[str]) -> str | None:
    """Why a template cannot name ``coordinate``; None when it can."""
    if coordinate in PDF_FIELDS:
        return None
    if coordinate.startswith(ANSWERS_PREFIX):
        key = coordinate[len(ANSWERS_PREFIX) :]
        if not _ANSWER_KEY.match(key):
            return f"{quote(coordinate)}: not a form field key"
        if key not in known_answer_keys:
            return f"{quote(coordinate)}: no form you can read has the field {quote(key)}"
        return None
    type_name, _, field_name = coordinate.partition(".")
    if field_name in TYPE_FIELDS.get(type_name, ()):
        return f"{quote(coordinate)} cannot go into a PDF; use fields of ContactRecord and Client"
    return (
        f"{quote(coordinate)} is not a known field (ContactRecord.narrative, Client.firstName, ...)"
    )


def normalized(given: TemplateInput, known_answer_keys: frozenset[str]) -> TemplateInput:
    """``given`` trimmed and de-duplicated; BAD_USER_INPUT (``INVALID_EMAIL_TEMPLATE``) listing
    everything wrong with it, before anything is written."""
    problems: list[str] = []
    name, subject, purpose = given.name.strip(), given.subject.strip(), given.purpose.strip()
    if not name:
        problems.append("name must not be empty")
    elif len(name) > 255:
        problems.append("name must have at most 255 characters")
    if not subject:
        problems.append("subject must not be empty")
    elif "\r" in subject or "\n" in subject:
        problems.append("subject must be one line")
    elif len(subject) > MAX_SUBJECT:
        problems.append(f"subject must have at most {MAX_SUBJECT} characters")
    if len(given.body) > MAX_BODY:
        problems.append(f"body must have at most {MAX_BODY} characters")
    if not purpose:
        problems.append("purpose must not be empty (it is recorded with every send)")
    elif len(purpose) > 255:
        problems.append("purpose must have at most 255 characters")
    recipients = _unique((r.strip() for r in given.recipients), fold_case=True)
    if not recipients:
        problems.append("recipients must name at least one email address")
    elif len(recipients) > MAX_RECIPIENTS:
        problems.append(f"at most {MAX_RECIPIENTS} recipients")
    problems += [f"recipients: {p}" for r in recipients if (p := address_problem(r))]
    fields = _unique(f.strip() for f in given.fields)
    if not fields:
        problems.append("fields must name at least one field to put in the PDF")
    elif len(fields) > MAX_FIELDS:
        problems.append(f"at most {MAX_FIELDS} fields")
    problems += [f"fields: {p}" for f in fields if (p := field_problem(f, known_answer_keys))]
    if problems:
        raise BadUserInput("; ".join(problems), reason="INVALID_EMAIL_TEMPLATE", problems=problems)
    return TemplateInput(
        name=name,
        subject=subject,
        body=given.body,
        recipients=recipients,
        fields=fields,
        purpose=purpose,
        active=given.active,
    )


def _unique(values: Iterable[str], *, fold_case: bool = False) -> tuple[str, ...]:
    """In order, without repeats or empty strings (``fold_case``: compared case-insensitively,
    as the domain part of addresses is)."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        key = value.lower() if fold_case else value
        if value and key not in seen:
            seen.add(key)
            out.append(value)
    return tuple(out)


def admin_tenant(actor: Principal) -> uuid.UUID:
    """The tenant whose templates ``actor`` administers (its home tenant)."""
    if actor.tenant_id is None or not actor.administers(actor.tenant_id):
        raise Forbidden("only tenant admins manage email templates", reason="NOT_ADMIN")
    return actor.tenant_id


async def templates_of(
    session: AsyncSession, tenant_id: uuid.UUID, *, include_inactive: bool
) -> Sequence[EmailTemplate]:
    statement = select(EmailTemplate).where(EmailTemplate.tenant_id == tenant_id)
    if not include_inactive:
        statement = statement.where(EmailTemplate.active.is_(True))
    return (await session.scalars(statement.order_by(EmailTemplate.name))).all()


async def template_of(
    session: AsyncSession, tenant_id: uuid.UUID | None, template_id: uuid.UUID
) -> EmailTemplate | None:
    """A template of ``tenant_id`` (None for callers without a tenant, who have none)."""
    if tenant_id is None:
        return None
    found: EmailTemplate | None = await session.scalar(
        select(EmailTemplate).where(
            EmailTemplate.id == template_id, EmailTemplate.tenant_id == tenant_id
        )
    )
    return found


async def _audit(session: AsyncSession, actor: Principal, row: EmailTemplate, what: str) -> None:
    await audit.record(
        session,
        tenant_id=row.tenant_id,
        principal_id=actor.id,
        action=f"email.template.{what}",
        record_type="EmailTemplate",
        record_ids=[row.id],
        purpose=row.purpose,
        detail={
            "name": row.name,
            "version": row.version,
            "recipients": list(row.recipients),
            "fields": list(row.fields),
            "active": row.active,
        },
    )


async def _refuse_taken_name(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, ignore: uuid.UUID | None
) -> None:
    taken = await session.scalar(
        select(EmailTemplate.id).where(
            EmailTemplate.tenant_id == tenant_id, EmailTemplate.name == name
        )
    )
    if taken is not None and taken != ignore:
        raise Conflict(f"an email template named {quote(name)} exists already", reason="NAME_TAKEN")


def _apply(row: EmailTemplate, given: TemplateInput) -> None:
    row.name = given.name
    row.subject = given.subject
    row.body = given.body
    row.recipients = list(given.recipients)
    row.fields = list(given.fields)
    row.purpose = given.purpose
    row.active = given.active


async def create(
    session: AsyncSession,
    actor: Principal,
    given: TemplateInput,
    known_answer_keys: frozenset[str],
) -> EmailTemplate:
    tenant_id = admin_tenant(actor)
    clean = normalized(given, known_answer_keys)
    await _refuse_taken_name(session, tenant_id, clean.name, None)
    row = EmailTemplate(id=uuid.uuid4(), tenant_id=tenant_id, created_by_id=actor.id, version=1)
    _apply(row, clean)
    session.add(row)
    await session.flush()
    await _audit(session, actor, row, "create")
    return row


async def _owned(session: AsyncSession, actor: Principal, template_id: uuid.UUID) -> EmailTemplate:
    tenant_id = admin_tenant(actor)
    row: EmailTemplate | None = await session.scalar(
        select(EmailTemplate)
        .where(EmailTemplate.id == template_id, EmailTemplate.tenant_id == tenant_id)
        .with_for_update()
    )
    if row is None:
        raise NotFound("no such email template")
    return row


async def update(
    session: AsyncSession,
    actor: Principal,
    template_id: uuid.UUID,
    expected_version: int,
    given: TemplateInput,
    known_answer_keys: frozenset[str],
) -> EmailTemplate:
    row = await _owned(session, actor, template_id)
    clean = normalized(given, known_answer_keys)
    bump(row, expected_version, "email template")
    await _refuse_taken_name(session, row.tenant_id, clean.name, row.id)
    _apply(row, clean)
    await session.flush()
    await _audit(session, actor, row, "update")
    return row


async def deactivate(
    session: AsyncSession, actor: Principal, template_id: uuid.UUID, expected_version: int
) -> EmailTemplate:
    """Templates are deactivated, never deleted: the sends made from them refer to them."""
    row = await _owned(session, actor, template_id)
    bump(row, expected_version, "email template")
    row.active = False
    await session.flush()
    await _audit(session, actor, row, "deactivate")
    return row


# ---------------------------------------------------------------------------------------------
# Sends


async def start_send(
    session: AsyncSession,
    *,
    sender: Principal,
    template: EmailTemplate,
    record: Any,
    fields: Sequence[str],
    sender_home: str,
) -> EmailSend:
    """The send's row (``sending``) and its disclosure in the record owner's trail, written in
    the caller's transaction before anything leaves."""
    row = EmailSend(
        id=uuid.uuid4(),
        tenant_id=template.tenant_id,
        template_id=template.id,
        contact_record_id=record.id,
        recipients=list(template.recipients),
        fields=list(fields),
        sent_by_id=sender.id,
        status=SENDING,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        tenant_id=record.tenant_id,
        principal_id=sender.id,
        action=audit.DISCLOSURE,
        purpose=template.purpose,
        record_type="ContactRecord",
        record_ids=[record.id],
        coordinates=list(fields),
        detail={
            "channel": "email",
            "recipient": ", ".join(template.recipients),
            "recipients": list(template.recipients),
            "sender": sender_home,
            "emailSend": str(row.id),
            "emailTemplate": str(template.id),
        },
    )
    return row


async def finish_send(
    session: AsyncSession,
    send_id: uuid.UUID,
    *,
    delivered: bool,
    error: str | None,
    owner_tenant_id: uuid.UUID,
    principal_id: uuid.UUID,
) -> EmailSend:
    """Mark a send ``sent`` (``error`` may still name refused recipients) or ``failed``; a
    failure is also recorded next to the disclosure in the record owner's trail."""
    row = await _send_for_update(session, send_id)
    row.status = SENT if delivered else FAILED
    row.error = error
    await session.flush()
    if not delivered:
        await audit.record(
            session,
            tenant_id=owner_tenant_id,
            principal_id=principal_id,
            action="email.send.failed",
            record_type="ContactRecord",
            record_ids=[row.contact_record_id],
            detail={"emailSend": str(row.id), "error": error},
        )
    return row


async def _send_for_update(session: AsyncSession, send_id: uuid.UUID) -> EmailSend:
    row: EmailSend | None = await session.scalar(
        select(EmailSend).where(EmailSend.id == send_id).with_for_update()
    )
    assert row is not None, "the send row is written before the message leaves"
    return row


async def send_of(session: AsyncSession, send_id: uuid.UUID) -> EmailSend | None:
    found: EmailSend | None = await session.get(EmailSend, send_id)
    return found
