"""Partners contribute: case notes on a referral (append-only, attributed, read only where the
referring tenant's agreements allow) and a client's contact details where an agreement grants
them, through the same write checks, idempotency keys and versions as every write-back; both
evented and audited. On both backends."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from sharegraph.datastore.enums import ReferralStatus
from sharegraph.datastore.models import (
    AuditEvent,
    Client,
    Event,
    Organization,
    Referral,
    ReferralNote,
    Service,
    ServiceAtLocation,
)
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .conftest import Api

PRAIRIE = demo_id("tenant", "prairie")
EASTSIDE = demo_id("partner-organization", "eastside")

SHARE = """
mutation($input: SharingAgreementInput!) { createSharingAgreement(input: $input) { agreement { id } } }
"""
ADD_NOTE = """
mutation($input: AddReferralNoteInput!) {
  addReferralNote(input: $input) {
    note { uuid body createdAt authorTenant { name } authorPartnerOrganization { name } }
    referral { id }
  }
}
"""
NOTES = "query($id: ID!) { referral(id: $id) { notes { uuid body authorPartnerOrganization { name } } } }"
UPDATE_CONTACT = """
mutation($input: UpdateClientContactInput!) {
  updateClientContact(input: $input) { client { phone preferredLanguage version } }
}
"""


def _to_pantry(**values: Any) -> dict[str, Any]:
    return {
        "purpose": "closing the loop",
        "granteeKind": "PARTNER",
        "granteePartnerId": to_global_id("PartnerOrganization", EASTSIDE),
        "rowScope": "referred_to_grantee",
        **values,
    }


async def _pantry_referral(api: Api) -> Referral:
    """A Prairie referral to the pantry, open to it, with a client."""
    sals = (
        select(ServiceAtLocation.id)
        .join(Service, Service.id == ServiceAtLocation.service_id)
        .join(Organization, Organization.id == Service.organization_id)
        .where(Organization.partner_organization_id == EASTSIDE)
    )
    async with api.database.read_session() as session:
        found = await session.scalar(
            select(Referral)
            .where(
                Referral.tenant_id == PRAIRIE,
                Referral.service_at_location_id.in_(sals),
                Referral.client_id.is_not(None),
                Referral.status == ReferralStatus.ACCEPTED,
            )
            .order_by(Referral.id)
            .limit(1)
        )
    assert found is not None
    return found


async def _error(api: Api, principal: str, query: str, variables: dict[str, Any]) -> Any:
    body = await api.gql(principal, query, variables)
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]


async def test_notes_are_appended_attributed_and_read_per_agreement(write_api: Api) -> None:
    api = write_api
    referral = await _pantry_referral(api)
    referral_id = to_global_id("Referral", referral.id)
    note = {"input": {"referralId": referral_id, "body": "Client picked up on Tuesday."}}
    # No agreement lets the pantry write notes on Prairie's referrals yet.
    refused = await _error(api, "eastside-portal", ADD_NOTE, note)
    assert refused["code"] == "FORBIDDEN" and refused["reason"] == "FORBIDDEN_INPUT"
    assert refused["coordinates"] == ["ReferralNote.body"]

    # Write only: the pantry adds a note it cannot read back.
    await api.data(
        "prairie-admin",
        SHARE,
        {"input": _to_pantry(name="Pantry notes", actions=["write"], fields=["ReferralNote.*"])},
    )
    keyed = {"input": {**note["input"], "idempotencyKey": "note-1"}}
    written = await api.data("eastside-portal", ADD_NOTE, keyed)
    assert written["addReferralNote"]["note"] is None
    assert (await api.data("eastside-portal", NOTES, {"id": referral_id}))["referral"][
        "notes"
    ] == []
    # A retry with the same key adds nothing.
    await api.data("eastside-portal", ADD_NOTE, keyed)
    async with api.database.read_session() as session:
        stored = (
            await session.scalars(
                select(ReferralNote).where(ReferralNote.referral_id == referral.id)
            )
        ).all()
    assert len(stored) == 1
    assert stored[0].author_partner_id == EASTSIDE and stored[0].author_tenant_id is None
    assert stored[0].tenant_id == PRAIRIE  # owned by the referring tenant

    # The owner reads it, attributed to the pantry.
    own = await api.data("prairie-call-taker", NOTES, {"id": referral_id})
    assert own["referral"]["notes"] == [
        {
            "uuid": str(stored[0].id),
            "body": "Client picked up on Tuesday.",
            "authorPartnerOrganization": {"name": "Eastside Food Pantry"},
        }
    ]
    # Once Prairie's agreement shares notes with the pantry, it reads them too.
    await api.data(
        "prairie-admin",
        SHARE,
        {
            "input": _to_pantry(
                name="Pantry reads notes", actions=["read"], fields=["ReferralNote.*"]
            )
        },
    )
    second = await api.data(
        "prairie-call-taker",
        ADD_NOTE,
        {"input": {"referralId": referral_id, "body": "Called back, all good."}},
    )
    assert second["addReferralNote"]["note"]["authorTenant"] == {"name": "Prairie 211"}
    pantry = await api.data("eastside-portal", NOTES, {"id": referral_id})
    assert [n["body"] for n in pantry["referral"]["notes"]] == [
        "Client picked up on Tuesday.",
        "Called back, all good.",
    ]
    # Nobody else: Harbor's agreements do not reach this referral or its notes.
    harbor = await api.gql("harbor-portal", NOTES, {"id": referral_id})
    assert harbor.get("data", {}).get("referral") is None

    # Evented and audited, one each per note.
    async with api.database.read_session() as session:
        events = (
            await session.scalars(
                select(Event.record_type).where(Event.record_type == "ReferralNote")
            )
        ).all()
        audited = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action == "record.referral_note.create")
            )
        ).all()
    assert len(events) == 2 and len(audited) == 2


async def test_notes_are_append_only(write_api: Api) -> None:
    api = write_api
    mutations = await api.data("prairie-admin", "{ __schema { mutationType { fields { name } } } }")
    names = [f["name"] for f in mutations["__schema"]["mutationType"]["fields"]]
    assert [n for n in names if "Note" in n] == ["addReferralNote"]
    referral_id = to_global_id("Referral", (await _pantry_referral(api)).id)
    empty = await _error(
        api, "prairie-call-taker", ADD_NOTE, {"input": {"referralId": referral_id, "body": " "}}
    )
    assert empty["code"] == "BAD_USER_INPUT"
    too_long = await _error(
        api,
        "prairie-call-taker",
        ADD_NOTE,
        {"input": {"referralId": referral_id, "body": "x" * 10_001}},
    )
    assert too_long["reason"] == "TOO_LONG"


async def _client_version(api: Api, client_id: uuid.UUID) -> tuple[str | None, int]:
    async with api.database.read_session() as session:
        client = await session.get(Client, client_id)
        assert client is not None
        return client.phone, client.version


async def test_client_contact_update_only_where_granted_and_versioned(write_api: Api) -> None:
    api = write_api
    referral = await _pantry_referral(api)
    assert referral.client_id is not None
    client_id = to_global_id("Client", referral.client_id)
    change = {"clientId": client_id, "version": 1, "phone": "402-555-0199"}
    # The pantry reads the client's phone but no agreement lets it write it.
    refused = await _error(api, "eastside-portal", UPDATE_CONTACT, {"input": change})
    assert refused["code"] == "FORBIDDEN" and refused["coordinates"] == ["Client.phone"]
    assert (await _client_version(api, referral.client_id))[1] == 1  # nothing written
    # (The pantry already reads phone and language; it also needs the version to write.)
    for name, actions, fields in (
        ("Pantry updates contact details", ["write"], ["Client.phone", "Client.preferredLanguage"]),
        ("Pantry reads client versions", ["read"], ["Client.version"]),
    ):
        await api.data(
            "prairie-admin",
            SHARE,
            {"input": _to_pantry(name=name, actions=actions, fields=fields)},
        )
    # Allowed now, and versioned: the first write wins, a stale version is a conflict.
    keyed = {**change, "preferredLanguage": "es", "idempotencyKey": "contact-1"}
    done = await api.data("eastside-portal", UPDATE_CONTACT, {"input": keyed})
    assert done["updateClientContact"]["client"] == {
        "phone": "402-555-0199",
        "preferredLanguage": "es",
        "version": 2,
    }
    replay = await api.data("eastside-portal", UPDATE_CONTACT, {"input": keyed})
    assert replay["updateClientContact"]["client"]["version"] == 2
    stale = await _error(
        api, "eastside-portal", UPDATE_CONTACT, {"input": {**change, "phone": "402-555-0100"}}
    )
    assert stale["code"] == "CONFLICT" and stale["reason"] == "VERSION_MISMATCH"
    assert await _client_version(api, referral.client_id) == ("402-555-0199", 2)
    # Only those two fields: the agreement and the mutation grant nothing else.
    body = await api.gql(
        "eastside-portal",
        UPDATE_CONTACT,
        {"input": {"clientId": client_id, "version": 2, "lastName": "X"}},
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"  # no such input field

    # A client not referred to the pantry does not exist for it.
    async with api.database.read_session() as session:
        other = await session.scalar(
            select(Client.id)
            .where(Client.tenant_id == PRAIRIE, Client.id != referral.client_id)
            .where(
                Client.id.not_in(select(Referral.client_id).where(Referral.client_id.is_not(None)))
            )
            .limit(1)
        )
    assert other is not None
    hidden = await _error(
        api,
        "eastside-portal",
        UPDATE_CONTACT,
        {"input": {"clientId": to_global_id("Client", other), "version": 1, "phone": "1"}},
    )
    assert hidden["code"] == "NOT_FOUND"

    async with api.database.read_session() as session:
        events = (
            await session.execute(
                select(Event.event_type, Event.record_version).where(
                    Event.record_id == referral.client_id
                )
            )
        ).all()
        audited = (
            await session.scalars(
                select(AuditEvent.coordinates).where(
                    AuditEvent.action == "record.client.update_contact"
                )
            )
        ).all()
    assert [(str(t), v) for t, v in events][-1:] == [("updated", 2)]
    assert len(audited) == 1 and sorted(audited[0]) == ["Client.phone", "Client.preferredLanguage"]
