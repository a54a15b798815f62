"""Contact records, clients, follow-ups, referrals and outcomes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from sharegraph.datastore import models as m
from sharegraph.graph.context import Info
from sharegraph.graph.enums import (
    FieldType,
    Sensitivity,
)
from sharegraph.graph.relay import Node
from sharegraph.graph.types.answers import readable_answers
from sharegraph.graph.types.base import many, maybe
from sharegraph.graph.types.catalogued import shared_type
from sharegraph.graph.types.resources import Program, Service, ServiceAtLocation, TaxonomyTerm
from sharegraph.graph.types.tenants import PartnerOrganization, Tenant


@shared_type("Client", m.Client)
class Client(Node):
    row: strawberry.Private[Any]


@strawberry.type(
    description=(
        "One field of a contact form version: what `ContactRecord.answers` holds under its key."
    )
)
class FormField:
    row: strawberry.Private[Any]
    key: str = strawberry.field(
        description=("The answer's key in `answers` (stable across versions).")
    )
    label: str = strawberry.field(description="What the call-taker sees.")
    type: FieldType = strawberry.field(description="The kind of answer it takes.")
    options: list[str] | None = strawberry.field(
        description="The choices, for SINGLE_SELECT and MULTI_SELECT."
    )
    required: bool = strawberry.field(
        description="Whether a record on this version must answer it."
    )
    sensitivity: Sensitivity = strawberry.field(
        description=("How sensitive its answers are; agreements share answers up to a class.")
    )
    position: int = strawberry.field(description="Its place on the form (ascending).")


@shared_type("ContactFormVersion", m.ContactFormVersion, entity=False)
class ContactFormVersion(Node):
    row: strawberry.Private[Any]

    @strawberry.field(
        name="formId", description="The form this is a version of (for shareContactForm)."
    )
    def form_id(self) -> UUID:
        form_id: UUID = self.row.form_id
        return form_id

    @strawberry.field(name="formName")
    async def form_name(self, info: Info) -> str | None:
        form = await info.context.loaders.one(m.ContactForm, self.row.form_id)
        return None if form is None else str(form.name)

    @strawberry.field
    async def fields(self, info: Info) -> list[FormField] | None:
        rows = await info.context.loaders.children(
            m.FormField, "form_version_id", (m.FormField.position,)
        ).load(self.row.id)
        return many(FormField, rows)


@shared_type("Outcome")
class Outcome:
    row: strawberry.Private[Any]


@shared_type("ReferralNote")
class ReferralNote:
    row: strawberry.Private[Any]

    @strawberry.field(name="authorTenant")
    async def author_tenant(self, info: Info) -> Tenant | None:
        return maybe(Tenant, await info.context.loaders.one(m.Tenant, self.row.author_tenant_id))

    @strawberry.field(name="authorPartnerOrganization")
    async def author_partner_organization(self, info: Info) -> PartnerOrganization | None:
        row = await info.context.loaders.one(m.PartnerOrganization, self.row.author_partner_id)
        return maybe(PartnerOrganization, row)


@shared_type("ReferralStatusChange")
class ReferralStatusChange:
    row: strawberry.Private[Any]


@shared_type("Referral", m.Referral)
class Referral(Node):
    row: strawberry.Private[Any]

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        return maybe(Tenant, await info.context.loaders.one(m.Tenant, self.row.tenant_id))

    @strawberry.field(name="contactRecord")
    async def contact_record(self, info: Info) -> ContactRecord | None:
        row = await info.context.loaders.one(m.ContactRecord, self.row.contact_record_id)
        return maybe(ContactRecord, row)

    @strawberry.field(name="serviceAtLocation")
    async def service_at_location(self, info: Info) -> ServiceAtLocation | None:
        row = await info.context.loaders.one(m.ServiceAtLocation, self.row.service_at_location_id)
        return maybe(ServiceAtLocation, row)

    @strawberry.field
    async def service(self, info: Info) -> Service | None:
        loaders = info.context.loaders
        link = await loaders.one(m.ServiceAtLocation, self.row.service_at_location_id)
        if link is None:
            return None
        return maybe(Service, await loaders.one(m.Service, link.service_id))

    @strawberry.field
    async def program(self, info: Info) -> Program | None:
        return maybe(Program, await info.context.loaders.one(m.Program, self.row.program_id))

    @strawberry.field
    async def outcomes(self, info: Info) -> list[Outcome] | None:
        rows = await info.context.loaders.children(
            m.Outcome, "referral_id", (m.Outcome.created_at,)
        ).load(self.row.id)
        return many(Outcome, rows)

    @strawberry.field
    async def history(self, info: Info) -> list[ReferralStatusChange] | None:
        rows = await info.context.loaders.children(
            m.ReferralStatusChange, "referral_id", (m.ReferralStatusChange.changed_at,)
        ).load(self.row.id)
        return many(ReferralStatusChange, rows)

    @strawberry.field
    async def notes(self, info: Info) -> list[ReferralNote] | None:
        rows = await info.context.loaders.children(
            m.ReferralNote, "referral_id", (m.ReferralNote.created_at, m.ReferralNote.id)
        ).load(self.row.id)
        return many(ReferralNote, rows)


@shared_type("FollowUp", m.FollowUp)
class FollowUp(Node):
    row: strawberry.Private[Any]

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        return maybe(Tenant, await info.context.loaders.one(m.Tenant, self.row.tenant_id))

    @strawberry.field(name="assignedTenant")
    async def assigned_tenant(self, info: Info) -> Tenant | None:
        return maybe(Tenant, await info.context.loaders.one(m.Tenant, self.row.assigned_tenant_id))

    @strawberry.field(name="contactRecord")
    async def contact_record(self, info: Info) -> ContactRecord | None:
        row = await info.context.loaders.one(m.ContactRecord, self.row.contact_record_id)
        return maybe(ContactRecord, row)


@shared_type("ContactRecord", m.ContactRecord)
class ContactRecord(Node):
    row: strawberry.Private[Any]

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        return maybe(Tenant, await info.context.loaders.one(m.Tenant, self.row.tenant_id))

    @strawberry.field(
        description="Form answers keyed by field key; keys you may not read are left out."
    )
    async def answers(self, info: Info) -> JSON | None:
        return await readable_answers(info, self.row)  # type: ignore[return-value]

    @strawberry.field
    async def client(self, info: Info) -> Client | None:
        return maybe(Client, await info.context.loaders.one(m.Client, self.row.client_id))

    @strawberry.field(name="formVersion")
    async def form_version(self, info: Info) -> ContactFormVersion | None:
        row = await info.context.loaders.one(m.ContactFormVersion, self.row.form_version_id)
        return maybe(ContactFormVersion, row)

    @strawberry.field(description="Needs coded with taxonomy terms, in the order recorded.")
    async def needs(self, info: Info) -> list[TaxonomyTerm] | None:
        loaders = info.context.loaders
        links = await loaders.children(
            m.ContactRecordNeed, "contact_record_id", (m.ContactRecordNeed.position,)
        ).load(self.row.id)
        return many(
            TaxonomyTerm, await loaders.many(m.TaxonomyTerm, [n.taxonomy_term_id for n in links])
        )

    @strawberry.field
    async def referrals(self, info: Info) -> list[Referral] | None:
        rows = await info.context.loaders.children(
            m.Referral, "contact_record_id", (m.Referral.created_at,)
        ).load(self.row.id)
        return many(Referral, rows)

    @strawberry.field(name="followUps")
    async def follow_ups(self, info: Info) -> list[FollowUp] | None:
        rows = await info.context.loaders.children(
            m.FollowUp, "contact_record_id", (m.FollowUp.due_at,)
        ).load(self.row.id)
        return many(FollowUp, rows)
