"""The Mutation root. Each mutation is one write transaction: all of it commits or none."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from ..datastore import models as m
from ..datastore.queries.contacts import (
    UNSET,
    ContactRecordChanges,
    create_contact_record,
    update_contact_record,
)
from ..datastore.queries.contacts import (
    ClientInput as ClientData,
)
from ..errors import Forbidden
from .context import Info
from .enums import Channel, RiskLevel
from .inputs import decode_id, decode_ids
from .types.base import from_row
from .types.contacts import ContactRecord


@strawberry.input
class ClientInput:
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    date_of_birth: date | None = None
    postal_code: str | None = None
    county: str | None = None
    preferred_language: str | None = None


@strawberry.input
class CreateContactRecordInput:
    tenant_id: strawberry.ID | None = strawberry.field(
        default=None, description="Owner tenant; defaults to yours."
    )
    form_version_id: strawberry.ID | None = None
    channel: Channel
    started_at: datetime
    ended_at: datetime | None = None
    client_id: strawberry.ID | None = None
    client: ClientInput | None = strawberry.field(default=None, description="Creates a new client.")
    need_term_ids: list[strawberry.ID] | None = None
    narrative: str | None = None
    risk_level: RiskLevel | None = None
    answers: JSON | None = None
    caller_postal_code: str | None = None
    caller_county: str | None = None


@strawberry.input(description="Fields left out stay as they are; `null` clears a field.")
class UpdateContactRecordInput:
    id: strawberry.ID
    version: int = strawberry.field(description="The version you read; a newer one -> CONFLICT.")
    channel: Channel | None = strawberry.UNSET
    started_at: datetime | None = strawberry.UNSET
    ended_at: datetime | None = strawberry.UNSET
    client_id: strawberry.ID | None = strawberry.UNSET
    client: ClientInput | None = strawberry.UNSET
    need_term_ids: list[strawberry.ID] | None = strawberry.UNSET
    narrative: str | None = strawberry.UNSET
    risk_level: RiskLevel | None = strawberry.UNSET
    answers: JSON | None = strawberry.UNSET
    caller_postal_code: str | None = strawberry.UNSET
    caller_county: str | None = strawberry.UNSET


@strawberry.type
class ContactRecordPayload:
    contact_record: ContactRecord | None


def _given(value: Any) -> Any:
    return UNSET if value is strawberry.UNSET else value


def _client_data(client: ClientInput | None) -> ClientData | None:
    if client is None or client is strawberry.UNSET:
        return None
    return ClientData(**{name: getattr(client, name) for name in ClientData.__dataclass_fields__})


async def _refresh_read_snapshot(info: Info) -> None:
    # The request's read transaction may predate our commit (SQLite WAL keeps its snapshot);
    # end it so the payload's fields read what was just written.
    async with info.context.db() as session:
        await session.rollback()


@strawberry.type
class Mutation:
    @strawberry.mutation(name="createContactRecord")
    async def create_contact_record(
        self, info: Info, input: CreateContactRecordInput
    ) -> ContactRecordPayload:
        ctx = info.context
        tenant_id = decode_id(input.tenant_id, "Tenant") or ctx.principal.tenant_id
        if tenant_id is None:
            raise Forbidden("partner organizations cannot create contact records")
        changes = ContactRecordChanges(
            channel=input.channel,
            started_at=input.started_at,
            ended_at=input.ended_at,
            client_id=decode_id(input.client_id, "Client"),
            new_client=_client_data(input.client),
            need_term_ids=list(decode_ids(input.need_term_ids, "TaxonomyTerm")),
            narrative=input.narrative,
            risk_level=input.risk_level,
            answers=input.answers,
            caller_postal_code=input.caller_postal_code,
            caller_county=input.caller_county,
            form_version_id=decode_id(input.form_version_id, "ContactFormVersion"),
        )
        async with ctx.database.write_session() as session:
            record = await create_contact_record(session, ctx.plan, tenant_id, changes)
        await _refresh_read_snapshot(info)
        return ContactRecordPayload(contact_record=from_row(ContactRecord, record))

    @strawberry.mutation(name="updateContactRecord")
    async def update_contact_record(
        self, info: Info, input: UpdateContactRecordInput
    ) -> ContactRecordPayload:
        ctx = info.context
        record_id = decode_id(input.id, "ContactRecord")
        assert record_id is not None
        client_id = _given(input.client_id)
        needs = _given(input.need_term_ids)
        changes = ContactRecordChanges(
            channel=_given(input.channel),
            started_at=_given(input.started_at),
            ended_at=_given(input.ended_at),
            client_id=decode_id(client_id, "Client")
            if client_id not in (UNSET, None)
            else client_id,
            new_client=_client_data(input.client),
            need_term_ids=list(decode_ids(needs, "TaxonomyTerm"))
            if needs not in (UNSET, None)
            else needs,
            narrative=_given(input.narrative),
            risk_level=_given(input.risk_level),
            answers=_given(input.answers),
            caller_postal_code=_given(input.caller_postal_code),
            caller_county=_given(input.caller_county),
        )
        for required in ("channel", "started_at"):
            if getattr(changes, required) is None:
                from ..errors import BadUserInput

                raise BadUserInput(f"{required} cannot be cleared", reason="REQUIRED_FIELD")
        async with ctx.database.write_session() as session:
            record = await update_contact_record(
                session, ctx.plan, record_id, input.version, changes
            )
        await _refresh_read_snapshot(info)
        return ContactRecordPayload(contact_record=from_row(ContactRecord, record))


_ = m  # models are referenced through the datastore functions
