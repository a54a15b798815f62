"""The Mutation root. Each mutation is one write transaction: all of it commits or none."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from sharegraph.authz.catalogue import CATALOGUE
from sharegraph.authz.plan import Action
from sharegraph.datastore import models as m
from sharegraph.errors import BadUserInput, Forbidden
from sharegraph.graph.arguments import INPUT
from sharegraph.graph.context import Info
from sharegraph.graph.enums import Channel, RiskLevel
from sharegraph.graph.guard import camel
from sharegraph.graph.inputs import decode_id, decode_ids, require_id
from sharegraph.graph.types.answers import part2_write_consented
from sharegraph.graph.types.base import maybe
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.graph.types.contacts import ContactRecord
from sharegraph.graph.writes import forget_cached, transaction, write_target
from sharegraph.queries.contacts import (
    UNSET,
    ContactRecordChanges,
    create_contact_record,
    update_contact_record,
)
from sharegraph.queries.contacts import (
    ClientInput as ClientData,
)


@strawberry.input(
    description=(
        "A new client, or changes to a record's client (fields left out stay as they are)."
    )
)
@catalogued_input("Client")
class ClientInput:
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    date_of_birth: date | None = None
    postal_code: str | None = None
    county: str | None = None
    preferred_language: str | None = None


@strawberry.input(
    description=(
        "A new contact record: a call, chat, text, e-mail or visit to"
        " the helpline (call-takers and admins of the owner tenant)."
    )
)
@catalogued_input("ContactRecord")
class CreateContactRecordInput:
    tenant_id: strawberry.ID | None = strawberry.field(
        default=None, description="Owner tenant; defaults to yours."
    )
    form_version_id: strawberry.ID | None = None
    channel: Channel
    started_at: datetime
    ended_at: datetime | None = None
    client_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "The global id of an existing client the contact was about; "
            "or give `client` to create one."
        ),
    )
    client: ClientInput | None = strawberry.field(default=None, description="Creates a new client.")
    need_term_ids: list[strawberry.ID] | None = None
    narrative: str | None = None
    risk_level: RiskLevel | None = None
    answers: JSON | None = strawberry.field(
        default=None,
        description=(
            "The form's answers as a JSON object keyed by field key (see "
            "`ContactRecord.formVersion.fields`), each value of its "
            "field's type; checked against the form. Answers of Part 2 "
            "fields move to another organization only with the client's "
            "consent."
        ),
    )
    caller_postal_code: str | None = None
    caller_county: str | None = None
    idempotency_key: str | None = None


@strawberry.input(description="Fields left out stay as they are; `null` clears a field.")
@catalogued_input("ContactRecord")
class UpdateContactRecordInput:
    id: strawberry.ID
    version: int = strawberry.field(description="The version you read; a newer one -> CONFLICT.")
    channel: Channel | None = strawberry.UNSET
    started_at: datetime | None = strawberry.UNSET
    ended_at: datetime | None = strawberry.UNSET
    client_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description=("The global id of an existing client to link the record to."),
    )
    client: ClientInput | None = strawberry.field(
        default=strawberry.UNSET,
        description=("Changes to the record's client (fields left out stay as they are)."),
    )
    need_term_ids: list[strawberry.ID] | None = strawberry.UNSET
    narrative: str | None = strawberry.UNSET
    risk_level: RiskLevel | None = strawberry.UNSET
    answers: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "The form's answers as a JSON object keyed by field key (see "
            "`ContactRecord.formVersion.fields`), each value of its "
            "field's type; checked against the form. Answers of Part 2 "
            "fields move to another organization only with the client's "
            "consent. Given answers replace the stored ones key by key; a"
            " key set to `null` removes its answer."
        ),
    )
    caller_postal_code: str | None = strawberry.UNSET
    caller_county: str | None = strawberry.UNSET
    idempotency_key: str | None = None


@strawberry.type(description="A contact record as written.")
class ContactRecordPayload:
    contact_record: ContactRecord | None = strawberry.field(
        description=("The record as it is now (its `version` for the next change).")
    )


def _value(value: Any) -> Any:
    return UNSET if value is strawberry.UNSET else value


def _client_data(client: ClientInput | None) -> ClientData | None:
    if client is None or client is strawberry.UNSET:
        return None
    return ClientData(**{name: getattr(client, name) for name in ClientData.__dataclass_fields__})


# input field -> the ContactRecord field it writes (the catalogue's `inputs`)
INPUT_COORDINATES = {name: f.name for f in CATALOGUE["ContactRecord"].fields for name in f.inputs}


def _given(given: Any, name: str) -> bool:
    """Whether an input field is set: on updates an explicit null clears, so it counts."""
    value = getattr(given, name, strawberry.UNSET)
    if value is strawberry.UNSET:
        return False
    return value is not None or isinstance(given, UpdateContactRecordInput)


async def _require_writable(
    info: Info, owner: uuid.UUID, given: Any, row_scopes: frozenset[str] | None, client_id: Any
) -> None:
    """Refuse, before anything is written, input fields the caller may not write on this row.

    ``row_scopes`` are the write scopes the row falls under (``None`` for a new row)."""
    plan = info.context.plan
    denied = [
        f"ContactRecord.{coordinate}"
        for name, coordinate in INPUT_COORDINATES.items()
        if _given(given, name)
        and not plan.can_write("ContactRecord", owner, coordinate, row_scopes)
    ]
    client = getattr(given, "client", None)
    if client not in (None, strawberry.UNSET):
        denied += [
            f"Client.{camel(name)}"
            for name in ClientData.__dataclass_fields__
            if getattr(client, name) is not None
            and not plan.can_write("Client", owner, camel(name), row_scopes)
        ]
    answers = getattr(given, "answers", None)
    if isinstance(answers, dict) and answers:
        grants = plan.write_grants("ContactRecord", owner, row_scopes)
        writable = frozenset().union(*(g.answer_keys for g in grants))
        agreements = frozenset().union(*(g.agreements for g in grants if g.answer_keys))
        part2 = plan.core.part2_keys.get(owner, frozenset()) & answers.keys()
        if part2 and not await part2_write_consented(info, owner, client_id, agreements):
            writable -= part2  # Part 2 answers only move across organizations with consent
        known = plan.core.known_answer_keys.get(owner, frozenset())
        # Unknown keys are bad input, reported by the form validation.
        denied += [
            f"ContactRecord.answers.{k}" for k in answers if k in known and k not in writable
        ]
    if denied:
        raise Forbidden(
            f"you may not write {', '.join(sorted(denied))}",
            reason="FORBIDDEN_INPUT",
            coordinates=sorted(denied),
        )


async def _reloaded(info: Info, record_id: uuid.UUID) -> ContactRecord | None:
    """The record as the caller now sees it (row scopes re-evaluated after the write)."""
    forget_cached(info, m.ContactRecord, record_id)
    return maybe(ContactRecord, await info.context.loaders.one(m.ContactRecord, record_id))


@strawberry.type
class DataMutation:
    @strawberry.mutation(
        name="createContactRecord",
        description=(
            "Records a contact (call-takers and admins of the owner tenant); evented and audited."
        ),
    )
    async def create_contact_record(
        self, info: Info, input: Annotated[CreateContactRecordInput, INPUT]
    ) -> ContactRecordPayload:
        ctx = info.context
        ctx.plan.require_operation("createContactRecord", Action.WRITE)
        tenant_id = decode_id(input.tenant_id, "Tenant") or ctx.principal.tenant_id
        if tenant_id is None:
            raise Forbidden("partner organizations cannot create contact records")
        ctx.plan.require_owner_write(m.ContactRecord, tenant_id)
        await _require_writable(info, tenant_id, input, None, None)
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
        async with transaction(info, "createContactRecord", input, input.idempotency_key) as w:
            if w.replayed is None:
                record = await create_contact_record(w.session, ctx.plan, tenant_id, changes)
                w.result = {"contactRecord": str(record.id)}
            record_id = uuid.UUID((w.replayed or w.result)["contactRecord"])
        return ContactRecordPayload(contact_record=await _reloaded(info, record_id))

    @strawberry.mutation(
        name="updateContactRecord",
        description=(
            "Changes a contact record you may write (the owner's users, "
            "or a tenant whose agreement grants `write` on its fields); "
            "fields left out stay as they are, `null` clears one."
        ),
    )
    async def update_contact_record(
        self, info: Info, input: Annotated[UpdateContactRecordInput, INPUT]
    ) -> ContactRecordPayload:
        ctx = info.context
        ctx.plan.require_operation("updateContactRecord", Action.WRITE)
        record_id = require_id(input.id, "ContactRecord")
        target, scopes = await write_target(info, m.ContactRecord, record_id, "contact record")
        await _require_writable(info, target.tenant_id, input, scopes, target.client_id)
        client_id = _value(input.client_id)
        needs = _value(input.need_term_ids)
        changes = ContactRecordChanges(
            channel=_value(input.channel),
            started_at=_value(input.started_at),
            ended_at=_value(input.ended_at),
            client_id=decode_id(client_id, "Client")
            if client_id not in (UNSET, None)
            else client_id,
            new_client=_client_data(input.client),
            need_term_ids=list(decode_ids(needs, "TaxonomyTerm"))
            if needs not in (UNSET, None)
            else needs,
            narrative=_value(input.narrative),
            risk_level=_value(input.risk_level),
            answers=_value(input.answers),
            caller_postal_code=_value(input.caller_postal_code),
            caller_county=_value(input.caller_county),
        )
        for required in ("channel", "started_at"):
            if getattr(changes, required) is None:
                raise BadUserInput(f"{required} cannot be cleared", reason="REQUIRED_FIELD")
        async with transaction(info, "updateContactRecord", input, input.idempotency_key) as w:
            if w.replayed is None:
                await update_contact_record(w.session, ctx.plan, record_id, input.version, changes)
                w.result = {"contactRecord": str(record_id)}
        return ContactRecordPayload(contact_record=await _reloaded(info, record_id))
