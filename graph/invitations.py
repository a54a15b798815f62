"""Invitations: a tenant admin asks a person (a partner organization's staff, or their own) to
sign in to the portal; the invitation is an e-mail with a one-use link to choose a password."""

from __future__ import annotations

from typing import Annotated

import strawberry

from sharegraph.authz import signin
from sharegraph.datastore import audit
from sharegraph.datastore.enums import PrincipalKind as PrincipalKindValue
from sharegraph.errors import BadUserInput
from sharegraph.exporters.email import DeliveryFailed, NotConfigured
from sharegraph.exporters.signin_mail import send_link
from sharegraph.graph.admin_principals import Principal, _principal
from sharegraph.graph.context import Info
from sharegraph.graph.enums import Role
from sharegraph.graph.inputs import decode_id, require_id
from sharegraph.queries import principals as q

INVITATION_SENT = "credentials.invitation.send"


@strawberry.input(description="A person to invite to sign in to the portal.")
class InviteUserInput:
    name: str = strawberry.field(
        description="Unique sign-in name (letters, digits, `._@+-`); people may also sign in "
        "with their e-mail address."
    )
    email: str = strawberry.field(description="Where the invitation (and later resets) go.")
    display_name: str | None = strawberry.field(
        default=None, description="How the person is greeted and shown to others."
    )
    partner_organization_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The partner organization the person works for (one your tenant's "
        "directory lists). Leave out, with `tenantId`, for your own tenant.",
    )
    tenant_id: strawberry.ID | None = strawberry.field(
        default=None, description="A tenant you administer; defaults to your own."
    )
    roles: list[Role] | None = strawberry.field(
        default=None,
        description="Roles to grant in the person's home; defaults to `PORTAL_USER` for a "
        "partner organization's staff and none for a tenant's.",
    )


@strawberry.type(description="An invitation: the person, and whether the e-mail left.")
class InvitationPayload:
    principal: Principal = strawberry.field(description="The invited person.")
    sent: bool = strawberry.field(
        description="Whether the mail server accepted the invitation e-mail. When false, "
        "`deliveryError` says why and `resendInvitation` tries again."
    )
    delivery_error: str | None = strawberry.field(
        description="Why the e-mail did not leave (the mail server's answer), when `sent` is false."
    )


def _require_mail(info: Info) -> None:
    smtp = info.context.settings.smtp
    if not smtp.host or not smtp.from_address:
        raise BadUserInput(
            "this server cannot send e-mail (set SHAREGRAPH_SMTP_HOST and SHAREGRAPH_SMTP_FROM)",
            reason="EMAIL_NOT_CONFIGURED",
        )


async def _send(info: Info, address: str, person: str, token: str) -> str | None:
    try:
        await send_link(info.context.settings, address, person, token, invitation=True)
    except (NotConfigured, DeliveryFailed) as error:
        return str(error)
    return None


@strawberry.type
class InvitationMutation:
    @strawberry.mutation(
        name="inviteUser",
        description="Create a person (a principal of kind USER) and e-mail them an invitation "
        "to choose a password and sign in to the portal. Tenant admins; for a partner "
        "organization, admins of a tenant whose directory lists it. Refused with "
        "`BAD_USER_INPUT` (`EMAIL_NOT_CONFIGURED`) before anything is written when this server "
        "has no mail server set.",
    )
    async def invite_user(
        self,
        info: Info,
        input: Annotated[
            InviteUserInput, strawberry.argument(description="Who to invite, and where.")
        ],
    ) -> InvitationPayload:
        ctx = info.context
        _require_mail(info)
        if not input.email:
            raise BadUserInput("an invitation needs an e-mail address", reason="NO_EMAIL")
        tenant_id = decode_id(input.tenant_id, "Tenant")
        partner_id = decode_id(input.partner_organization_id, "PartnerOrganization")
        if tenant_id is None and partner_id is None:
            tenant_id = ctx.principal.tenant_id
        roles = (
            input.roles
            if input.roles is not None
            else ([Role.PORTAL_USER] if partner_id is not None else [])
        )
        new = q.NewPrincipal(
            kind=PrincipalKindValue.USER,
            name=input.name,
            home=q.Domain(tenant_id, partner_id),
            display_name=input.display_name,
            email=input.email,
            roles=tuple(roles),
        )
        async with ctx.write_session() as session:
            row = await q.create_principal(session, ctx.principal, new)
            token = await signin.issue_link(
                session, row, signin.INVITATION, ctx.settings.signin, ctx.principal.id
            )
            await audit.record(
                session,
                tenant_id=ctx.principal.tenant_id,
                principal_id=ctx.principal.id,
                action=INVITATION_SENT,
                record_type="Principal",
                record_ids=[row.id],
                detail={"name": row.name},
            )
        await ctx.see_own_writes()
        error = await _send(info, input.email, input.display_name or input.name, token)
        return InvitationPayload(
            principal=_principal(info, row), sent=error is None, delivery_error=error
        )

    @strawberry.mutation(
        name="resendInvitation",
        description="E-mail a person you administer a new invitation link (earlier unused "
        "links stop working). Also how a person who never chose a password gets in.",
    )
    async def resend_invitation(
        self,
        info: Info,
        principal_id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description="The person (a principal of kind USER with an e-mail address)."
            ),
        ],
    ) -> InvitationPayload:
        ctx = info.context
        _require_mail(info)
        target = require_id(principal_id, "Principal")
        async with ctx.write_session() as session:
            row = await q.get_principal(session, ctx.principal, target)
            if row.kind is not PrincipalKindValue.USER:
                raise BadUserInput(
                    "only people (principals of kind USER) are invited", reason="NOT_A_USER"
                )
            token = await signin.issue_link(
                session, row, signin.INVITATION, ctx.settings.signin, ctx.principal.id
            )
            await audit.record(
                session,
                tenant_id=ctx.principal.tenant_id,
                principal_id=ctx.principal.id,
                action=INVITATION_SENT,
                record_type="Principal",
                record_ids=[row.id],
                detail={"name": row.name, "resent": True},
            )
        await ctx.see_own_writes()
        assert row.email is not None
        error = await _send(info, row.email, row.display_name or row.name, token)
        return InvitationPayload(
            principal=_principal(info, row), sent=error is None, delivery_error=error
        )


__all__ = ["InvitationMutation", "InvitationPayload", "InviteUserInput"]
