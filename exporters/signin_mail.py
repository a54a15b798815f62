"""The e-mails that carry a one-use sign-in link: an invitation or a password reset."""

from __future__ import annotations

from sharegraph.exporters.email import Delivery, Email, send
from sharegraph.settings import Settings

LINK_PATH = "/signin/link/"


def link_url(settings: Settings, token: str) -> str:
    return f"{settings.signin.public_url.rstrip('/')}{LINK_PATH}{token}"


def _hours(seconds: float) -> str:
    hours = round(seconds / 3600)
    return f"{hours} hour" + ("" if hours == 1 else "s")


async def send_link(
    settings: Settings, recipient: str, person: str, token: str, *, invitation: bool
) -> Delivery:
    url = link_url(settings, token)
    if invitation:
        subject = "You are invited to the provider portal"
        ttl = _hours(settings.signin.invitation_ttl_seconds)
        body = (
            f"Hello {person},\n\nYou have been invited to the provider portal, where your "
            "organization receives referrals and reports its capacity.\n\n"
            f"Choose your password here (the link works once, for {ttl}):\n\n{url}\n\n"
            "If you did not expect this invitation, ignore this e-mail.\n"
        )
    else:
        subject = "Reset your provider portal password"
        ttl = _hours(settings.signin.reset_ttl_seconds)
        body = (
            f"Hello {person},\n\nSomeone (hopefully you) asked to reset your password.\n\n"
            f"Choose a new password here (the link works once, for {ttl}):\n\n{url}\n\n"
            "If you did not ask for this, ignore this e-mail: your password stays as it is.\n"
        )
    return await send(settings.smtp, Email(recipients=[recipient], subject=subject, body=body))
