"""Referral write-back: create, move through the FHIR Task lifecycle, outcomes, external ids.

Every mutation takes an optional ``idempotencyKey`` (partners retry on timeouts) and, where it
changes a referral, the ``version`` the caller read.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

import strawberry

from sharegraph.authz.plan import Action
from sharegraph.datastore import models as m
from sharegraph.errors import BadUserInput, NotFound
from sharegraph.graph.arguments import INPUT
from sharegraph.graph.context import Info
from sharegraph.graph.enums import OutcomeCode, ReferralStatus
from sharegraph.graph.inputs import decode_id, require_id
from sharegraph.graph.types.base import maybe
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.graph.types.contacts import Client, Outcome, Referral, ReferralNote
from sharegraph.graph.writes import forget_cached, require_fields, transaction, write_target
from sharegraph.queries import contacts
from sharegraph.queries import referrals as q


@strawberry.input(
    description=("A referral of a contact record's client to a service at a location or a program.")
)
@catalogued_input("Referral")
class CreateReferralInput:
    contact_record_id: strawberry.ID = strawberry.field(
        description=(
            "The global id of the contact record the need came in on (you"
            " must be able to write its referrals)."
        )
    )
    service_at_location_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "Where the client is referred (a service at a location's "
            "global id); give this or `programId`."
        ),
    )
    program_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "The program the client is referred to (global id); give this or `serviceAtLocationId`."
        ),
    )
    status: ReferralStatus = strawberry.field(
        default=ReferralStatus.REQUESTED,
        description=("DRAFT to prepare it, REQUESTED (the default) to send it."),
    )
    idempotency_key: str | None = None


@strawberry.input(description="A referral's next status in the lifecycle.")
@catalogued_input("Referral")
class UpdateReferralStatusInput:
    id: strawberry.ID
    version: int
    status: ReferralStatus = strawberry.field(
        description=("The new status (see ReferralStatus for who may set which).")
    )
    reason: str | None = strawberry.field(
        default=None,
        description=(
            "Why; required for REJECTED, CANCELLED, ON_HOLD and FAILED. Kept in `history`."
        ),
    )
    idempotency_key: str | None = None


@strawberry.input(
    description=("What came of a referral, reported by the receiving organization or the referrer.")
)
@catalogued_input("Outcome")
class AddOutcomeInput:
    referral_id: strawberry.ID = strawberry.field(description="The referral's global id.")
    code: OutcomeCode = strawberry.field(description="What came of it.")
    outcome_date: date = strawberry.field(description="When it happened (`YYYY-MM-DD`).")
    note: str | None = strawberry.field(
        default=None,
        description=(
            "Details (up to 10,000 characters); who else reads it is decided by sharing agreements."
        ),
    )
    idempotency_key: str | None = None


@strawberry.input(description=("The receiving organization's own id for a referral."))
@catalogued_input("Referral")
class SetReferralExternalIdInput:
    id: strawberry.ID
    version: int
    external_id: str | None = strawberry.field(
        description=("The id in your system (up to 255 characters); `null` clears it.")
    )
    idempotency_key: str | None = None


@strawberry.type(description="A referral as written.")
class ReferralPayload:
    referral: Referral | None = strawberry.field(
        description=("The referral as it is now (its `version` for the next change).")
    )


@strawberry.type(description="The outcome added, and its referral.")
class OutcomePayload:
    outcome: Outcome | None = strawberry.field(description="The new outcome.")
    referral: Referral | None = strawberry.field(description="The referral as it is now.")


@strawberry.input(description="A case note to append to a referral.")
class AddReferralNoteInput:
    referral_id: strawberry.ID = strawberry.field(description="The referral (global id).")
    body: str = strawberry.field(description="The note's text (at most 10,000 characters).")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Send the same key when retrying: the note is added once, and the retry "
        "answers with it.",
    )


@strawberry.type(description="What `addReferralNote` wrote.")
class ReferralNotePayload:
    note: ReferralNote | None = strawberry.field(
        description="The note, as far as you may read it (the owner's agreements decide)."
    )
    referral: Referral | None = strawberry.field(description="The referral it is on.")


@strawberry.input(
    description="New contact details for a client; fields left out stay as they are, null "
    "clears one."
)
class UpdateClientContactInput:
    client_id: strawberry.ID = strawberry.field(description="The client (global id).")
    version: int = strawberry.field(description="The `Client.version` you read.")
    phone: str | None = strawberry.field(
        default=strawberry.UNSET, description="Phone number to reach the client, as given."
    )
    preferred_language: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The language the client prefers to be spoken to in.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Send the same key when retrying: the change is made once.",
    )


@strawberry.type(description="What `updateClientContact` wrote.")
class ClientPayload:
    client: Client | None = strawberry.field(description="The client, as far as you may read it.")


async def _referral(info: Info, referral_id: uuid.UUID) -> Referral | None:
    forget_cached(info, m.Referral, referral_id)
    return maybe(Referral, await info.context.loaders.one(m.Referral, referral_id))


@strawberry.type
class ReferralMutation:
    @strawberry.mutation(
        name="createReferral",
        description=(
            "Refers a contact record's client to a service (the referrer:"
            " call-takers and admins of the record's tenant, or where an "
            "agreement grants writing its referrals). Evented and "
            "audited."
        ),
    )
    async def create_referral(
        self, info: Info, input: Annotated[CreateReferralInput, INPUT]
    ) -> ReferralPayload:
        ctx = info.context
        ctx.plan.require_operation("createReferral", Action.WRITE)
        record_id = require_id(input.contact_record_id, "ContactRecord")
        async with transaction(info, "createReferral", input, input.idempotency_key) as w:
            if w.replayed is None:
                referral = await q.create_referral(
                    w.session,
                    ctx.plan,
                    record_id,
                    decode_id(input.service_at_location_id, "ServiceAtLocation"),
                    decode_id(input.program_id, "Program"),
                    input.status,
                )
                w.result = {"referral": str(referral.id)}
            referral_id = uuid.UUID((w.replayed or w.result)["referral"])
        return ReferralPayload(referral=await _referral(info, referral_id))

    @strawberry.mutation(
        name="updateReferralStatus",
        description=(
            "Moves a referral through the FHIR Task lifecycle: the "
            "referrer requests, cancels and marks entered-in-error; the "
            "receiving organization accepts, rejects, starts, holds, "
            "fails and completes. An illegal move is `BAD_USER_INPUT` / "
            "`ILLEGAL_TRANSITION`, the wrong side `FORBIDDEN` / "
            "`STATUS_NOT_YOURS`."
        ),
    )
    async def update_referral_status(
        self, info: Info, input: Annotated[UpdateReferralStatusInput, INPUT]
    ) -> ReferralPayload:
        ctx = info.context
        ctx.plan.require_operation("updateReferralStatus", Action.WRITE)
        referral_id = require_id(input.id, "Referral")
        target, scopes = await write_target(info, m.Referral, referral_id, "referral")
        written = ["status"] + (["statusReason"] if input.reason is not None else [])
        require_fields(info, "Referral", target.tenant_id, written, scopes)
        async with transaction(info, "updateReferralStatus", input, input.idempotency_key) as w:
            if w.replayed is None:
                await q.update_status(
                    w.session, ctx.plan, referral_id, input.version, input.status, input.reason
                )
                w.result = {"referral": str(referral_id)}
        return ReferralPayload(referral=await _referral(info, referral_id))

    @strawberry.mutation(
        name="setReferralExternalId",
        description=(
            "Records the referral's id in the receiving organization's "
            "own system (its portal users and keys)."
        ),
    )
    async def set_referral_external_id(
        self, info: Info, input: Annotated[SetReferralExternalIdInput, INPUT]
    ) -> ReferralPayload:
        ctx = info.context
        ctx.plan.require_operation("setReferralExternalId", Action.WRITE)
        referral_id = require_id(input.id, "Referral")
        target, scopes = await write_target(info, m.Referral, referral_id, "referral")
        require_fields(info, "Referral", target.tenant_id, ["externalId"], scopes)
        async with transaction(info, "setReferralExternalId", input, input.idempotency_key) as w:
            if w.replayed is None:
                await q.set_external_id(
                    w.session, ctx.plan, referral_id, input.version, input.external_id
                )
                w.result = {"referral": str(referral_id)}
        return ReferralPayload(referral=await _referral(info, referral_id))

    @strawberry.mutation(
        name="addOutcome",
        description=(
            "Adds an outcome to a referral you may write outcomes on (the"
            " receiving organization, or the referrer)."
        ),
    )
    async def add_outcome(
        self, info: Info, input: Annotated[AddOutcomeInput, INPUT]
    ) -> OutcomePayload:
        ctx = info.context
        ctx.plan.require_operation("addOutcome", Action.WRITE)
        referral_id = require_id(input.referral_id, "Referral")
        target, scopes = await write_target(info, m.Referral, referral_id, "referral")
        written = ["code", "outcomeDate"] + (["note"] if input.note is not None else [])
        require_fields(info, "Outcome", target.tenant_id, written, scopes)
        async with transaction(info, "addOutcome", input, input.idempotency_key) as w:
            if w.replayed is None:
                outcome = await q.add_outcome(
                    w.session,
                    ctx.plan,
                    referral_id,
                    input.code,
                    input.note,
                    input.outcome_date,
                    datetime.now(UTC).date(),
                )
                w.result = {"outcome": str(outcome.id), "referral": str(referral_id)}
            outcome_id = uuid.UUID((w.replayed or w.result)["outcome"])
        referral = await _referral(info, referral_id)
        outcome_row = await info.context.loaders.one(m.Outcome, outcome_id)
        return OutcomePayload(outcome=maybe(Outcome, outcome_row), referral=referral)

    @strawberry.mutation(
        name="addReferralNote",
        description="Append a case note to a referral you may write (either side). Notes "
        "cannot be changed or deleted; each names the tenant or partner organization that "
        "wrote it and belongs to the referring tenant, whose agreements decide who else reads "
        "it. Needs write on `ReferralNote.body` (`FORBIDDEN` / `FORBIDDEN_INPUT` otherwise).",
    )
    async def add_referral_note(
        self, info: Info, input: Annotated[AddReferralNoteInput, INPUT]
    ) -> ReferralNotePayload:
        ctx = info.context
        ctx.plan.require_operation("addReferralNote", Action.WRITE)
        referral_id = require_id(input.referral_id, "Referral")
        target, scopes = await write_target(info, m.Referral, referral_id, "referral")
        require_fields(info, "ReferralNote", target.tenant_id, ["body"], scopes)
        async with transaction(info, "addReferralNote", input, input.idempotency_key) as w:
            if w.replayed is None:
                note = await q.add_note(w.session, ctx.plan, referral_id, input.body)
                w.result = {"note": str(note.id), "referral": str(referral_id)}
            note_id = uuid.UUID((w.replayed or w.result)["note"])
        referral = await _referral(info, referral_id)
        note_row = await info.context.loaders.one(m.ReferralNote, note_id)
        return ReferralNotePayload(note=maybe(ReferralNote, note_row), referral=referral)

    @strawberry.mutation(
        name="updateClientContact",
        description="Correct a client's phone or preferred language, where the owner tenant's "
        "agreement lets you write those fields on that client (for a partner, typically the "
        "clients referred to it): else `FORBIDDEN` / `FORBIDDEN_INPUT`, or `NOT_FOUND` for a "
        "client you may not change at all. Takes the `version` you read (`CONFLICT` / "
        "`VERSION_MISMATCH`).",
    )
    async def update_client_contact(
        self, info: Info, input: Annotated[UpdateClientContactInput, INPUT]
    ) -> ClientPayload:
        ctx = info.context
        ctx.plan.require_operation("updateClientContact", Action.WRITE)
        client_id = require_id(input.client_id, "Client")
        changes = {
            column: getattr(input, column)
            for column in contacts.CONTACT_FIELDS
            if getattr(input, column) is not strawberry.UNSET
        }
        if not changes:
            raise BadUserInput(
                "give phone or preferredLanguage (null clears one)", reason="MISSING_FIELD"
            )
        written = [contacts.CONTACT_FIELDS[c] for c in changes]
        try:
            target, scopes = await write_target(info, m.Client, client_id, "client")
        except NotFound:
            # A client you may read but not write under any agreement: say what is refused.
            target = await ctx.loaders.one(m.Client, client_id)
            if target is None:
                raise
            scopes = frozenset()
        require_fields(info, "Client", target.tenant_id, written, scopes)
        async with transaction(info, "updateClientContact", input, input.idempotency_key) as w:
            if w.replayed is None:
                await contacts.update_client_contact(
                    w.session, ctx.plan, client_id, input.version, changes
                )
                w.result = {"client": str(client_id)}
        forget_cached(info, m.Client, client_id)
        return ClientPayload(client=maybe(Client, await ctx.loaders.one(m.Client, client_id)))
