"""Naming a contact form in arguments: forms have no object of their own in the API."""

from __future__ import annotations

import uuid

import strawberry
from sqlalchemy import select

from sharegraph.datastore import models as m
from sharegraph.errors import BadUserInput, NotFound
from sharegraph.graph.context import Info
from sharegraph.graph.relay import from_global_id
from sharegraph.graph.types.base import many
from sharegraph.graph.types.contacts import ContactFormVersion

# A tenant has a handful of forms with a few versions each: a list, bounded all the same.
MAX_VERSIONS = 500


async def form_id_from(info: Info, value: str) -> uuid.UUID:
    """A form's UUID from the UUID itself (as in the row scope ``shared_form:<form id>``), or
    from the global id of one of its versions (``ContactRecord.formVersion.id``)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    try:
        _, version_id = from_global_id(value, expected="ContactFormVersion")
    except BadUserInput as exc:
        raise BadUserInput(
            "formId must be a form's UUID or the id of one of its versions", reason="BAD_ID"
        ) from exc
    version = await info.context.loaders.one(m.ContactFormVersion, version_id)
    if version is None:
        raise NotFound("no such contact form")
    return version.form_id  # type: ignore[no-any-return]


@strawberry.type
class ContactFormQuery:
    @strawberry.field(
        name="contactFormVersions",
        description="Every version of the contact forms you may see (your tenant's, and those "
        "shared with you), by form name, then newest version first. `formId` is what "
        "`shareContactForm` and `networkStatistics` take.",
    )
    async def contact_form_versions(self, info: Info) -> list[ContactFormVersion]:
        plan = info.context.plan
        async with info.context.db() as session:
            rows = (
                await session.scalars(
                    select(m.ContactFormVersion)
                    .join(m.ContactForm, m.ContactForm.id == m.ContactFormVersion.form_id)
                    .where(plan.row_filter(m.ContactFormVersion))
                    .order_by(
                        m.ContactForm.name, m.ContactForm.id, m.ContactFormVersion.version.desc()
                    )
                    .limit(MAX_VERSIONS)
                )
            ).all()
        return many(ContactFormVersion, list(rows))
