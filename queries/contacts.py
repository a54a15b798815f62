"""Contact records: listing within the plan, and validated, evented writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.datastore import audit
from sharegraph.datastore.enums import Channel, EventType, RiskLevel
from sharegraph.datastore.forms import validate_answers
from sharegraph.datastore.models import (
    Client,
    ContactFormVersion,
    ContactRecord,
    ContactRecordNeed,
    FormField,
    TaxonomyTerm,
)
from sharegraph.datastore.outbox import record_event
from sharegraph.datastore.versioning import bump, check_version
from sharegraph.errors import BadUserInput, NotFound

UNSET: Any = object()


@dataclass(frozen=True)
class ContactRecordFilter:
    ids: tuple[uuid.UUID, ...] | None = None  # None: any record; (): none
    tenant_ids: tuple[uuid.UUID, ...] = ()
    started_after: datetime | None = None
    started_before: datetime | None = None
    updated_after: datetime | None = None
    channels: tuple[Channel, ...] = ()
    risk_levels: tuple[RiskLevel, ...] = ()
    client_id: uuid.UUID | None = None
    need_term_ids: tuple[uuid.UUID, ...] = ()
    caller_county: str | None = None


def contact_records(
    plan: AccessPlan, flt: ContactRecordFilter, rows: ColumnElement[bool] | None = None
) -> Select[Any]:
    """The records ``flt`` asks for among those ``plan`` lets through (or among ``rows``, a
    part of the plan's row filter: ``AccessPlan.row_filter_per_owner``)."""
    rows = plan.row_filter(ContactRecord) if rows is None else rows
    statement = select(ContactRecord).where(rows)
    if flt.ids is not None:
        statement = statement.where(ContactRecord.id.in_(flt.ids))
    if flt.tenant_ids:
        statement = statement.where(ContactRecord.tenant_id.in_(flt.tenant_ids))
    if flt.started_after:
        statement = statement.where(ContactRecord.started_at >= flt.started_after)
    if flt.started_before:
        statement = statement.where(ContactRecord.started_at < flt.started_before)
    if flt.updated_after:
        statement = statement.where(ContactRecord.updated_at > flt.updated_after)
    if flt.channels:
        statement = statement.where(ContactRecord.channel.in_(flt.channels))
    if flt.risk_levels:
        statement = statement.where(ContactRecord.risk_level.in_(flt.risk_levels))
    if flt.client_id:
        statement = statement.where(ContactRecord.client_id == flt.client_id)
    if flt.caller_county:
        statement = statement.where(ContactRecord.caller_county == flt.caller_county)
    if flt.need_term_ids:
        statement = statement.where(
            exists(
                select(ContactRecordNeed.id).where(
                    ContactRecordNeed.contact_record_id == ContactRecord.id,
                    ContactRecordNeed.taxonomy_term_id.in_(flt.need_term_ids),
                    plan.row_filter(ContactRecordNeed),
                )
            )
        )
    return statement


@dataclass(frozen=True)
class ClientFilter:
    tenant_ids: tuple[uuid.UUID, ...] = ()
    last_name: str | None = None
    date_of_birth: date | None = None
    phone: str | None = None
    county: str | None = None
    postal_code: str | None = None


def clients(plan: AccessPlan, flt: ClientFilter) -> Select[Any]:
    statement = select(Client).where(plan.row_filter(Client))
    if flt.tenant_ids:
        statement = statement.where(Client.tenant_id.in_(flt.tenant_ids))
    for column, value in (
        (Client.last_name, flt.last_name),
        (Client.date_of_birth, flt.date_of_birth),
        (Client.phone, flt.phone),
        (Client.county, flt.county),
        (Client.postal_code, flt.postal_code),
    ):
        if value is not None:
            statement = statement.where(column == value)
    return statement


@dataclass
class ClientInput:
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    date_of_birth: date | None = None
    postal_code: str | None = None
    county: str | None = None
    preferred_language: str | None = None


@dataclass
class ContactRecordChanges:
    """Fields to write; ``UNSET`` leaves a field as it is (updates only)."""

    channel: Any = UNSET
    started_at: Any = UNSET
    ended_at: Any = UNSET
    client_id: Any = UNSET
    new_client: ClientInput | None = None
    need_term_ids: Any = UNSET
    narrative: Any = UNSET
    risk_level: Any = UNSET
    answers: Any = UNSET
    caller_postal_code: Any = UNSET
    caller_county: Any = UNSET
    form_version_id: Any = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


async def _form_fields(
    session: AsyncSession, plan: AccessPlan, form_version_id: uuid.UUID | None
) -> list[FormField]:
    if form_version_id is None:
        return []
    version = await session.scalar(
        select(ContactFormVersion).where(
            ContactFormVersion.id == form_version_id, plan.row_filter(ContactFormVersion)
        )
    )
    if version is None:
        raise BadUserInput(
            "formVersionId does not name a form version you can use", reason="UNKNOWN_FORM"
        )
    return list(
        (
            await session.scalars(select(FormField).where(FormField.form_version_id == version.id))
        ).all()
    )


async def _check_client(
    session: AsyncSession, plan: AccessPlan, client_id: uuid.UUID, tenant_id: uuid.UUID
) -> None:
    found = await session.scalar(
        select(Client.id).where(
            Client.id == client_id, Client.tenant_id == tenant_id, plan.row_filter(Client)
        )
    )
    if found is None:
        raise BadUserInput(
            "clientId does not name a client of this tenant", reason="UNKNOWN_CLIENT"
        )


async def _set_needs(
    session: AsyncSession, plan: AccessPlan, record: ContactRecord, term_ids: list[uuid.UUID]
) -> None:
    unique_ids = list(dict.fromkeys(term_ids))
    if unique_ids:
        known = set(
            (
                await session.scalars(
                    select(TaxonomyTerm.id).where(
                        TaxonomyTerm.id.in_(unique_ids), plan.row_filter(TaxonomyTerm)
                    )
                )
            ).all()
        )
        missing = [str(t) for t in unique_ids if t not in known]
        if missing:
            raise BadUserInput(
                f"unknown taxonomy terms in needs: {', '.join(missing)}", reason="UNKNOWN_TERM"
            )
    existing = (
        await session.scalars(
            select(ContactRecordNeed).where(ContactRecordNeed.contact_record_id == record.id)
        )
    ).all()
    for need in existing:
        await session.delete(need)
    await session.flush()
    for position, term_id in enumerate(unique_ids):
        session.add(
            ContactRecordNeed(
                tenant_id=record.tenant_id,
                contact_record_id=record.id,
                taxonomy_term_id=term_id,
                position=position,
            )
        )


def _check_times(started_at: datetime, ended_at: datetime | None) -> None:
    if ended_at is not None and ended_at < started_at:
        raise BadUserInput("endedAt must not be before startedAt", reason="BAD_TIME_RANGE")


async def create_contact_record(
    session: AsyncSession, plan: AccessPlan, tenant_id: uuid.UUID, changes: ContactRecordChanges
) -> ContactRecord:
    plan.require_owner_write(ContactRecord, tenant_id)
    if changes.channel is UNSET or changes.started_at is UNSET:
        raise BadUserInput("channel and startedAt are required", reason="MISSING_FIELD")
    form_version_id = None if changes.form_version_id is UNSET else changes.form_version_id
    fields = await _form_fields(session, plan, form_version_id)
    answers = {} if changes.answers is UNSET or changes.answers is None else changes.answers
    cleaned = validate_answers(fields, answers) if form_version_id else _no_form_answers(answers)
    ended_at = None if changes.ended_at is UNSET else changes.ended_at
    _check_times(changes.started_at, ended_at)
    client_id = await _resolve_client(session, plan, tenant_id, changes)
    record = ContactRecord(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        form_version_id=form_version_id,
        channel=changes.channel,
        started_at=changes.started_at,
        ended_at=ended_at,
        worker_id=plan.principal.id,
        client_id=client_id,
        answers=cleaned,
        narrative=None if changes.narrative is UNSET else changes.narrative,
        risk_level=None if changes.risk_level is UNSET else changes.risk_level,
        caller_postal_code=None
        if changes.caller_postal_code is UNSET
        else changes.caller_postal_code,
        caller_county=None if changes.caller_county is UNSET else changes.caller_county,
        version=1,
    )
    session.add(record)
    await session.flush()
    if changes.need_term_ids is not UNSET and changes.need_term_ids:
        await _set_needs(session, plan, record, changes.need_term_ids)
    record_event(session, record, EventType.CREATED, plan.principal.id)
    await session.flush()
    return record


def _no_form_answers(answers: dict[str, Any]) -> dict[str, Any]:
    if answers:
        raise BadUserInput(
            "answers need a formVersionId to be validated against", reason="UNKNOWN_FORM"
        )
    return {}


async def _resolve_client(
    session: AsyncSession, plan: AccessPlan, tenant_id: uuid.UUID, changes: ContactRecordChanges
) -> uuid.UUID | None:
    if changes.new_client is not None and changes.client_id not in (UNSET, None):
        raise BadUserInput("give either clientId or client, not both", reason="AMBIGUOUS_CLIENT")
    if changes.new_client is not None:
        client = Client(id=uuid.uuid4(), tenant_id=tenant_id, **vars(changes.new_client))
        session.add(client)
        await session.flush()
        return client.id
    if changes.client_id is UNSET or changes.client_id is None:
        return None
    await _check_client(session, plan, changes.client_id, tenant_id)
    return changes.client_id  # type: ignore[no-any-return]


async def update_contact_record(
    session: AsyncSession,
    plan: AccessPlan,
    record_id: uuid.UUID,
    expected_version: int,
    changes: ContactRecordChanges,
) -> ContactRecord:
    record = await session.scalar(
        select(ContactRecord)
        .where(ContactRecord.id == record_id, plan.row_filter(ContactRecord, Action.WRITE))
        # The row lock makes the version check below authoritative on PostgreSQL; SQLite write
        # transactions are already exclusive (BEGIN IMMEDIATE).
        .with_for_update()
    )
    if record is None:
        raise NotFound("no such contact record")
    check_version(record, expected_version, "contact record")
    if changes.form_version_id is not UNSET and changes.form_version_id != record.form_version_id:
        raise BadUserInput("a contact record's form version cannot change", reason="FORM_IMMUTABLE")
    if changes.answers is not UNSET:
        fields = await _form_fields(session, plan, record.form_version_id)
        patch = (
            validate_answers(fields, changes.answers or {}, partial=True)
            if fields
            else _no_form_answers(changes.answers or {})
        )
        merged = {**(record.answers or {}), **patch}
        record.answers = {k: v for k, v in merged.items() if v is not None}
    if changes.client_id is not UNSET or changes.new_client is not None:
        record.client_id = await _resolve_client(session, plan, record.tenant_id, changes)
    for name in (
        "channel",
        "started_at",
        "ended_at",
        "narrative",
        "risk_level",
        "caller_postal_code",
        "caller_county",
    ):
        value = getattr(changes, name)
        if value is not UNSET:
            setattr(record, name, value)
    _check_times(record.started_at, record.ended_at)
    if changes.need_term_ids is not UNSET:
        await _set_needs(session, plan, record, changes.need_term_ids or [])
    record.version = expected_version + 1
    await session.flush()
    record_event(session, record, EventType.UPDATED, plan.principal.id)
    await session.flush()
    return record


# The client's contact details a receiving organization may correct: column -> catalogue field.
CONTACT_FIELDS = {"phone": "phone", "preferred_language": "preferredLanguage"}
_CONTACT_LIMITS = {"phone": 64, "preferred_language": 64}


async def update_client_contact(
    session: AsyncSession,
    plan: AccessPlan,
    client_id: uuid.UUID,
    expected_version: int,
    changes: dict[str, str | None],
) -> Client:
    """Set a client's phone and preferred language (``changes``: column -> value, None clears),
    on a client the plan lets the caller write."""
    client = await session.scalar(
        select(Client)
        .where(Client.id == client_id, plan.row_filter(Client, Action.WRITE))
        .with_for_update()
    )
    if client is None:
        raise NotFound("no such client you may change")
    cleaned: dict[str, str | None] = {}
    for column, value in changes.items():
        text = value.strip() if value is not None else None
        if text is not None and len(text) > _CONTACT_LIMITS[column]:
            raise BadUserInput(
                f"{CONTACT_FIELDS[column]} is longer than {_CONTACT_LIMITS[column]} characters",
                reason="TOO_LONG",
                field=CONTACT_FIELDS[column],
            )
        cleaned[column] = text or None
    bump(client, expected_version, "client")
    for column, value in cleaned.items():
        setattr(client, column, value)
    await session.flush()
    record_event(session, client, EventType.UPDATED, plan.principal.id)
    await audit.record(
        session,
        tenant_id=client.tenant_id,
        principal_id=plan.principal.id,
        action="record.client.update_contact",
        detail={"version": client.version},
        record_type="Client",
        record_ids=[client.id],
        coordinates=[f"Client.{CONTACT_FIELDS[c]}" for c in sorted(cleaned)],
    )
    return client
