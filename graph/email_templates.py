"""Admin API for email templates: saved emails (subject, body, recipients, which fields) that
send a contact record as a password-protected PDF (see ``email_pdf.py``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry

from sharegraph.authz.plan import AccessPlan
from sharegraph.errors import Forbidden
from sharegraph.graph.arguments import ID, INPUT, VERSION
from sharegraph.graph.context import Info
from sharegraph.graph.relay import from_global_id, to_global_id
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.queries import email_templates as templates

TYPE_NAME = "EmailTemplate"


@strawberry.type(
    description=(
        "How contact records are e-mailed as password-protected PDFs:"
        " recipients, wording and fields (tenant admins manage them; "
        "call-takers send with them)."
    ),
    name="EmailTemplate",
)
class EmailTemplate:
    id: strawberry.ID = strawberry.field(description="The template's global id.")
    uuid: UUID = strawberry.field(description="The template's UUID.")
    name: str = strawberry.field(description="Its name, unique in the tenant.")
    subject: str = strawberry.field(description="The e-mail's subject line.")
    body: str = strawberry.field(description="The e-mail's plain-text body.")
    recipients: list[str] = strawberry.field(
        description=("The addresses it sends to (fixed: senders cannot add any).")
    )
    fields: list[str] = strawberry.field(
        description="Coordinates put in the PDF (`ContactRecord.narrative`, `Client.firstName`, "
        "`ContactRecord.answers` for every readable answer, `ContactRecord.answers.<key>`); "
        "a sender's PDF holds only those the sender may read and export on that record."
    )
    purpose: str = strawberry.field(description="Recorded with every send in the audit trail.")
    active: bool = strawberry.field(description="Inactive templates cannot be sent with.")
    version: int = strawberry.field(
        description=("Increases with every change; pass it back to update or deactivate.")
    )
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")

    @classmethod
    def of(cls, row: Any) -> EmailTemplate:
        return cls(
            id=strawberry.ID(to_global_id(TYPE_NAME, row.id)),
            uuid=row.id,
            name=row.name,
            subject=row.subject,
            body=row.body,
            recipients=list(row.recipients),
            fields=list(row.fields),
            purpose=row.purpose,
            active=row.active,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.input(description=("An e-mail template to create or replace (tenant admins)."))
@catalogued_input("EmailTemplate")
class EmailTemplateInput:
    name: str = strawberry.field(description="A name, unique in your tenant.")
    subject: str = strawberry.field(description="One line.")
    body: str = strawberry.field(description="Plain text. Never put the PDF's password here.")
    recipients: list[str] = strawberry.field(description="Plain addresses: name@example.org.")
    fields: list[str] = strawberry.field(
        description=(
            "Coordinates to put in the PDF (`ContactRecord.narrative`, "
            "`Client.firstName`, `ContactRecord.answers` or "
            "`ContactRecord.answers.<key>`)."
        )
    )
    purpose: str = strawberry.field(description="Why records are sent (recorded with every send).")
    active: bool = strawberry.field(default=True, description="False: it cannot be sent with.")

    def to_input(self) -> templates.TemplateInput:
        return templates.TemplateInput(
            name=self.name,
            subject=self.subject,
            body=self.body,
            recipients=tuple(self.recipients),
            fields=tuple(self.fields),
            purpose=self.purpose,
            active=self.active,
        )


@strawberry.type(description="An e-mail template as written.")
class EmailTemplatePayload:
    email_template: EmailTemplate = strawberry.field(description="The template as it is now.")


def known_answer_keys(plan: AccessPlan) -> frozenset[str]:
    """Form field keys of the tenants whose contact records the caller can read (its own
    included): what a template may name as ``ContactRecord.answers.<key>``."""
    owners = set(plan.owners("ContactRecord"))
    if plan.home_tenant is not None:
        owners.add(plan.home_tenant)
    known = plan.core.known_answer_keys
    return frozenset().union(*(known.get(o, frozenset()) for o in owners))


def template_id(global_id: strawberry.ID) -> uuid.UUID:
    return from_global_id(global_id, expected=TYPE_NAME)[1]


@strawberry.type
class EmailTemplateQuery:
    @strawberry.field(
        name="emailTemplates",
        description="Your tenant's email templates, by name. Admins may include inactive ones; "
        "everyone else in the tenant sees the active ones, to send with.",
    )
    async def email_templates(
        self,
        info: Info,
        include_inactive: Annotated[
            bool, strawberry.argument(description="True: inactive templates too.")
        ] = False,
    ) -> list[EmailTemplate]:
        principal = info.context.principal
        tenant_id = principal.tenant_id
        if tenant_id is None:
            raise Forbidden("email templates belong to tenants", reason="NO_TENANT")
        if include_inactive:
            templates.admin_tenant(principal)
        async with info.context.db() as session:
            rows = await templates.templates_of(
                session, tenant_id, include_inactive=include_inactive
            )
        return [EmailTemplate.of(r) for r in rows]


@strawberry.type
class EmailTemplateMutation:
    @strawberry.mutation(
        name="createEmailTemplate",
        description=("Creates an e-mail template for your tenant (tenant admins)."),
    )
    async def create_email_template(
        self, info: Info, input: Annotated[EmailTemplateInput, INPUT]
    ) -> EmailTemplatePayload:
        ctx = info.context
        templates.admin_tenant(ctx.principal)
        async with ctx.write_session() as session:
            row = await templates.create(
                session, ctx.principal, input.to_input(), known_answer_keys(ctx.plan)
            )
        return EmailTemplatePayload(email_template=EmailTemplate.of(row))

    @strawberry.mutation(
        name="updateEmailTemplate",
        description="Replace a template; `version` is the one you read (a newer one: CONFLICT).",
    )
    async def update_email_template(
        self,
        info: Info,
        id: Annotated[strawberry.ID, ID],
        version: Annotated[int, VERSION],
        input: Annotated[
            EmailTemplateInput,
            INPUT,
        ],
    ) -> EmailTemplatePayload:
        ctx = info.context
        templates.admin_tenant(ctx.principal)
        raw = template_id(id)
        async with ctx.write_session() as session:
            row = await templates.update(
                session, ctx.principal, raw, version, input.to_input(), known_answer_keys(ctx.plan)
            )
        return EmailTemplatePayload(email_template=EmailTemplate.of(row))

    @strawberry.mutation(
        name="deactivateEmailTemplate",
        description="Stop a template from being used. Templates are never deleted: the sends "
        "made from them refer to them. `updateEmailTemplate` with `active: true` restores one.",
    )
    async def deactivate_email_template(
        self, info: Info, id: Annotated[strawberry.ID, ID], version: Annotated[int, VERSION]
    ) -> EmailTemplatePayload:
        ctx = info.context
        templates.admin_tenant(ctx.principal)
        raw = template_id(id)
        async with ctx.write_session() as session:
            row = await templates.deactivate(session, ctx.principal, raw, version)
        return EmailTemplatePayload(email_template=EmailTemplate.of(row))
