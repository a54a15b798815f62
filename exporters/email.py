"""Sending one email with attachments over SMTP.

The standard library's ``smtplib`` runs in a worker thread (``asyncio.to_thread``): one message
per request needs no extra dependency, and smtplib's STARTTLS, implicit TLS and AUTH are
mature. Every failure (connection, TLS, authentication, refusal, timeout) comes out as
:class:`DeliveryFailed` with a message fit to store and show; it never carries credentials.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sharegraph.settings import SmtpSettings

MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"


@dataclass(frozen=True)
class Email:
    recipients: Sequence[str]
    subject: str
    body: str
    attachments: Sequence[Attachment] = field(default_factory=tuple)


class NotConfigured(RuntimeError):
    pass


class DeliveryFailed(RuntimeError):
    def __init__(self, message: str) -> None:
        super().__init__(message[:MAX_ERROR_LENGTH])


@dataclass(frozen=True)
class Delivery:
    message_id: str
    # Recipients the server refused while accepting the others: ``{address: "code reply"}``.
    refused: dict[str, str]


def build_message(settings: SmtpSettings, email: Email) -> EmailMessage:
    if not settings.from_address:
        raise NotConfigured("set SHAREGRAPH_SMTP_FROM to the address mail is sent from")
    message = EmailMessage()
    message["From"] = settings.from_address
    message["To"] = ", ".join(email.recipients)
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.from_address.rsplit("@", 1)[-1])
    message.set_content(email.body)
    for attachment in email.attachments:
        message.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )
    return message


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(
            f"{address} ({code} {_text(reply)})"
            for address, (code, reply) in error.recipients.items()
        )
        return f"every recipient was refused: {refused}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"the SMTP server answered {error.smtp_code} {_text(error.smtp_error)}"
    if isinstance(error, TimeoutError):
        return "the SMTP server did not answer in time"
    if isinstance(error, ssl.SSLError):
        return f"TLS with the SMTP server failed: {error.reason or error}"
    if isinstance(error, ConnectionRefusedError):
        return "the SMTP server refused the connection"
    return f"sending failed: {type(error).__name__}: {error}"


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _send_sync(settings: SmtpSettings, message: EmailMessage, recipients: list[str]) -> Delivery:
    assert settings.host is not None
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if settings.ssl:
        client = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_seconds, context=context
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
    with client:
        if settings.starttls and not settings.ssl:
            client.starttls(context=context)
        if settings.user:
            client.login(settings.user, settings.password or "")
        refused = client.send_message(message, to_addrs=recipients)
    return Delivery(
        message_id=str(message["Message-ID"]),
        refused={address: f"{code} {_text(reply)}" for address, (code, reply) in refused.items()},
    )


async def send(settings: SmtpSettings, email: Email) -> Delivery:
    """Send ``email``; :class:`DeliveryFailed` when no recipient got it."""
    if not settings.host:
        raise NotConfigured("set SHAREGRAPH_SMTP_HOST to send email")
    message = build_message(settings, email)
    try:
        return await asyncio.to_thread(_send_sync, settings, message, list(email.recipients))
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(_describe(error)) from None
