"""`sendContactRecordByEmail`: a contact record as a password-protected PDF, emailed to the
recipients of one of the sender's tenant's templates.

Order of work, so that nothing leaves unrecorded and a refusal sends nothing:
1. decide: the record must be readable through the plan (else ``NOT_FOUND``), the template
   one of the sender's tenant's active ones, the record inside the sender's ``export`` grants
   (else ``FORBIDDEN`` / ``EXPORT_DENIED``), mail configured, the password acceptable;
2. render the PDF with only what the sender may send (``email_content.py``), encrypted;
3. one transaction: the idempotency key, the ``email_sends`` row (``sending``) and the
   disclosure in the record owner's audit trail;
4. hand the message to the SMTP server (no database transaction is open meanwhile);
5. mark the send ``sent`` or ``failed``; a failure answers ``SERVICE_UNAVAILABLE`` /
   ``SMTP_FAILED``.

The password is never in the email, never stored and never logged. Left out of the input, one
is generated and returned once, in this payload only; a replay with the same idempotency key
answers the first send without it (the password is not part of what the key compares). A send
that failed stays failed under its key: retry with a new key.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry

from sharegraph.authz.plan import Action
from sharegraph.datastore import models as m
from sharegraph.errors import BadUserInput, ErrorCode, Forbidden, NotFound, SharegraphError
from sharegraph.exporters import email as mail
from sharegraph.exporters.pdf import (
    WeakPassword,
    check_password,
    generate_password,
    render_protected,
)
from sharegraph.graph.arguments import INPUT
from sharegraph.graph.context import Info
from sharegraph.graph.email_content import attachment_name, export_scopes, record_content
from sharegraph.graph.email_templates import template_id
from sharegraph.graph.inputs import decode_id
from sharegraph.graph.relay import to_global_id
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.graph.writes import transaction
from sharegraph.queries import email_templates as templates
from sharegraph.settings import SmtpSettings

OPERATION = "sendContactRecordByEmail"


@strawberry.input(
    description=(
        "A contact record to e-mail as a PDF with a template (needs "
        "`export` on the fields it holds)."
    )
)
@catalogued_input()
class SendContactRecordByEmailInput:
    contact_record_id: strawberry.ID = strawberry.field(
        description="The contact record's global id."
    )
    template_id: strawberry.ID = strawberry.field(
        description="The global id of an active e-mail template (see `emailTemplates`)."
    )
    password: str | None = strawberry.field(
        default=None,
        description="The PDF's password, at least 12 characters. Left out: one is generated "
        "and returned once in the payload. Share it with the recipients another way; it is "
        "never in the email.",
    )
    idempotency_key: str | None = None


@strawberry.type(
    description=(
        "One e-mail of a contact record as a PDF, as the audit trail "
        "keeps it (never the PDF or its password)."
    ),
    name="EmailSend",
)
class EmailSend:
    id: strawberry.ID = strawberry.field(description="The send's global id.")
    uuid: UUID = strawberry.field(description="The send's UUID.")
    status: str = strawberry.field(description="`sending`, `sent` or `failed`.")
    recipients: list[str] = strawberry.field(description="The addresses it went to.")
    fields: list[str] = strawberry.field(description="Coordinates the PDF holds.")
    sent_at: datetime = strawberry.field(description="When it was sent (UTC).")
    error: str | None = strawberry.field(description="Why sending failed, when it did.")
    template_id: strawberry.ID = strawberry.field(
        description="The global id of the e-mail template used."
    )
    contact_record_id: strawberry.ID = strawberry.field(
        description="The global id of the contact record sent."
    )

    @classmethod
    def of(cls, row: Any) -> EmailSend:
        return cls(
            id=strawberry.ID(to_global_id("EmailSend", row.id)),
            uuid=row.id,
            status=row.status,
            recipients=list(row.recipients),
            fields=list(row.fields),
            sent_at=row.sent_at,
            error=row.error,
            template_id=strawberry.ID(to_global_id("EmailTemplate", row.template_id)),
            contact_record_id=strawberry.ID(to_global_id("ContactRecord", row.contact_record_id)),
        )


@strawberry.type(description="The send, and the password when one was generated.")
class SendContactRecordByEmailPayload:
    email_send: EmailSend = strawberry.field(description="The send as recorded.")
    password: str | None = strawberry.field(
        description="The generated password, shown this once (null when you chose one, and on "
        "a replay)."
    )
    withheld_fields: list[str] = strawberry.field(
        description="Fields the template names that you may not send on this record: left out "
        "of the PDF."
    )


def _smtp_failed(send: Any) -> SharegraphError:
    return SharegraphError(
        f"the email could not be sent: {send.error}",
        code=ErrorCode.SERVICE_UNAVAILABLE,
        reason="SMTP_FAILED",
        emailSendId=to_global_id("EmailSend", send.id),
    )


def _not_configured(why: str) -> SharegraphError:
    return SharegraphError(
        f"email is not configured on this server: {why}",
        code=ErrorCode.SERVICE_UNAVAILABLE,
        reason="SMTP_NOT_CONFIGURED",
    )


async def _replayed(
    info: Info, result: dict[str, Any], template: Any
) -> SendContactRecordByEmailPayload:
    async with info.context.db() as session:
        send = await templates.send_of(session, uuid.UUID(result["emailSend"]))
    if send is None:
        raise NotFound("no such email send")
    if send.status == templates.FAILED:
        raise _smtp_failed(send)
    return SendContactRecordByEmailPayload(
        email_send=EmailSend.of(send),
        password=None,
        withheld_fields=[f for f in template.fields if f not in send.fields],
    )


async def _decide(info: Info, given: SendContactRecordByEmailInput) -> tuple[Any, Any, Any]:
    """(record, template, the sender's export scopes on the record), or the refusal."""
    ctx = info.context
    ctx.plan.require_operation("sendContactRecordByEmail", Action.EXPORT)
    record_id = decode_id(given.contact_record_id, "ContactRecord")
    wanted_template = template_id(given.template_id)
    record = await ctx.loaders.one(m.ContactRecord, record_id)
    if record is None:
        raise NotFound("no such contact record")
    async with ctx.db() as session:
        template = await templates.template_of(session, ctx.principal.tenant_id, wanted_template)
    if template is None:
        raise NotFound("no such email template in your tenant")
    if not template.active:
        raise BadUserInput("this email template is deactivated", reason="TEMPLATE_INACTIVE")
    scopes = await export_scopes(info, m.ContactRecord, record)
    if not scopes:
        # Named by the operation, like the role's refusal: the audit trail's `denied` row
        # lists coordinates and operations, never a sentence.
        raise Forbidden(
            "you may read this contact record but not export it",
            reason="EXPORT_DENIED",
            operation=OPERATION,
        )
    smtp = ctx.settings.smtp
    if not smtp.host or not smtp.from_address:
        raise _not_configured("set SHAREGRAPH_SMTP_HOST and SHAREGRAPH_SMTP_FROM")
    return record, template, scopes


def _password(given: str | None) -> str:
    password = generate_password() if given is None else given
    try:
        check_password(password)
    except WeakPassword as weak:
        raise BadUserInput(str(weak), reason="WEAK_PASSWORD") from None
    return password


async def _deliver(smtp: SmtpSettings, email: mail.Email) -> tuple[bool, str | None]:
    """(whether any recipient got it, what went wrong)."""
    try:
        delivery = await mail.send(smtp, email)
    except (mail.DeliveryFailed, mail.NotConfigured) as failure:
        return False, str(failure)
    if delivery.refused:
        return True, "refused: " + "; ".join(f"{a} ({r})" for a, r in delivery.refused.items())
    return True, None


@strawberry.type
class EmailPdfMutation:
    @strawberry.mutation(
        name="sendContactRecordByEmail",
        description="Email a contact record as a password-protected PDF (AES-256) to the "
        "recipients of one of your tenant's templates, with only the template's fields you "
        "may read and export on that record. Recorded as a disclosure in the audit trail.",
    )
    async def send_contact_record_by_email(
        self, info: Info, input: Annotated[SendContactRecordByEmailInput, INPUT]
    ) -> SendContactRecordByEmailPayload:
        ctx = info.context
        record, template, scopes = await _decide(info, input)
        password = _password(input.password)
        content = await record_content(info, record, template, scopes)
        pdf = await asyncio.to_thread(render_protected, content.document, password)
        # What the idempotency key compares: never the password.
        fingerprint = {"contactRecordId": str(record.id), "templateId": str(template.id)}
        async with transaction(info, OPERATION, fingerprint, input.idempotency_key) as w:
            if w.replayed is None:
                send = await templates.start_send(
                    w.session,
                    sender=ctx.principal,
                    template=template,
                    record=record,
                    fields=content.fields,
                    sender_home=ctx.plan.core.home,
                )
                w.result = {"emailSend": str(send.id)}
        if w.replayed is not None:
            return await _replayed(info, w.replayed, template)
        email = mail.Email(
            recipients=list(template.recipients),
            subject=template.subject,
            body=template.body,
            attachments=[mail.Attachment(attachment_name(record.id), pdf)],
        )
        delivered, error = await _deliver(ctx.settings.smtp, email)
        async with ctx.write_session() as session:
            send = await templates.finish_send(
                session,
                send.id,
                delivered=delivered,
                error=error,
                owner_tenant_id=record.tenant_id,
                principal_id=ctx.principal.id,
            )
        if not delivered:
            raise _smtp_failed(send)
        return SendContactRecordByEmailPayload(
            email_send=EmailSend.of(send),
            password=password if input.password is None else None,
            withheld_fields=content.withheld,
        )
