"""What a sender may put into an emailed PDF of one contact record, and how it reads.

A template names fields; the PDF holds those the sender may both read and export on that very
record (the plan's field grants for the row scopes the record and its client fall under),
and form answers the same way, per key. 42 CFR Part 2 answers go in only when the template
names their key explicitly (never through ``ContactRecord.answers``) and, as on reads, only
within the owner organization or under the client's consent; the PDF then carries the
redisclosure notice. Everything else the template names is withheld and reported to the
sender, never shown to the recipients.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sharegraph.authz.coordinates import answer_coordinate
from sharegraph.authz.disclosure import REDISCLOSURE_NOTICE, Disclosure, RowDisclosure, RowFacts
from sharegraph.authz.plan import Action
from sharegraph.datastore import models as m
from sharegraph.exporters.pdf import Document, Entry, Section
from sharegraph.graph.context import Info
from sharegraph.graph.guard import readable_fields, row_scopes, row_scopes_of
from sharegraph.graph.types.answers import answers_disclosure, client_consents
from sharegraph.queries.email_templates import ALL_ANSWERS, CLIENT_FIELDS, RECORD_FIELDS

EMPTY = "—"


@dataclass(frozen=True)
class Content:
    """The PDF's document, the coordinates it holds and those the template named but the
    sender may not send."""

    document: Document
    fields: list[str]
    withheld: list[str]


async def export_scopes(info: Info, model: Any, row: Any) -> frozenset[str]:
    """The row scopes of the caller's ``export`` grants that ``row`` falls under."""
    async with info.context.db() as session:
        return await row_scopes(session, info.context.plan, model, row, Action.EXPORT)


def _sendable_fields(
    info: Info, exporting: Disclosure, type_name: str, row: Any, scopes: frozenset[str]
) -> frozenset[str]:
    """Fields of ``row`` the sender may both read and export."""
    readable = readable_fields(info.context.disclosure, type_name, row)
    return readable & exporting.fields(type_name, row.tenant_id, scopes)


async def _sendable_answers(
    info: Info,
    exporting: Disclosure,
    record: Any,
    scopes: frozenset[str],
    named_keys: frozenset[str],
    all_answers: bool,
) -> RowDisclosure:
    """The answers the sender may put in the PDF: read and export both allow them, a Part 2
    answer only when the template names its key (never through ``ContactRecord.answers``)."""
    part2 = exporting.part2_keys(record.tenant_id)
    present = frozenset(record.answers or {})
    asked = (present - part2 if all_answers else frozenset()) | (named_keys & present)
    reading = await answers_disclosure(info, info.context.disclosure, record, row_scopes_of(record))
    facts = RowFacts.of(record, scopes)
    consents = await client_consents(info, exporting, facts, asked)
    sending = exporting.row(
        "ContactRecord", facts, ("answers",), requested_answers=asked, consents=consents
    )
    return sending.narrowed(reading)


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _text(value: Any, zone: ZoneInfo | None) -> str:
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        local = moment.astimezone(zone or UTC)
        return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "UTC")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list):
        return ", ".join(_text(v, zone) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _attribute(field_name: str) -> str:
    if field_name == "uuid":
        return "id"
    return "".join("_" + c.lower() if c.isupper() else c for c in field_name)


async def _needs(info: Info, record: Any) -> list[str]:
    loaders = info.context.loaders
    links = await loaders.children(
        m.ContactRecordNeed, "contact_record_id", (m.ContactRecordNeed.position,)
    ).load(record.id)
    terms = await loaders.many(m.TaxonomyTerm, [n.taxonomy_term_id for n in links])
    disclosure = info.context.disclosure
    return [t.name for t in terms if "name" in readable_fields(disclosure, "TaxonomyTerm", t)]


async def _answer_labels(info: Info, record: Any) -> dict[str, tuple[int, str]]:
    if record.form_version_id is None:
        return {}
    rows = await info.context.loaders.children(
        m.FormField, "form_version_id", (m.FormField.position,)
    ).load(record.form_version_id)
    return {r.key: (i, r.label) for i, r in enumerate(rows)}


def _answer_keys_named(fields: Iterable[str]) -> frozenset[str]:
    prefix = ALL_ANSWERS + "."
    return frozenset(f[len(prefix) :] for f in fields if f.startswith(prefix))


async def record_content(
    info: Info, record: Any, template: Any, record_scopes: frozenset[str]
) -> Content:
    """The PDF of ``record`` for ``template``, as the caller may send it (``record_scopes``:
    the caller's export scopes the record falls under, already known to be some)."""
    loaders = info.context.loaders
    owner_tenant = await loaders.one(m.Tenant, record.tenant_id)
    zone = _zone(getattr(owner_tenant, "time_zone", None))
    exporting = Disclosure(info.context.plan, Action.EXPORT)
    record_ok = _sendable_fields(info, exporting, "ContactRecord", record, record_scopes)
    client = await loaders.one(m.Client, record.client_id) if "client" in record_ok else None
    client_ok = (
        _sendable_fields(
            info, exporting, "Client", client, await export_scopes(info, m.Client, client)
        )
        if client is not None
        else None
    )
    named_keys = _answer_keys_named(template.fields)
    answers: dict[str, Any] = dict(record.answers or {})
    if "answers" in record_ok:
        sendable = await _sendable_answers(
            info, exporting, record, record_scopes, named_keys, ALL_ANSWERS in template.fields
        )
        answer_ok, part2 = sendable.answers, sendable.part2.keys if sendable.part2 else frozenset()
    else:
        answer_ok, part2 = frozenset(), frozenset()
    fields: list[str] = []
    withheld: list[str] = []
    record_entries: list[Entry] = []
    client_entries: list[Entry] = []
    chosen_answers: dict[str, None] = {}  # an ordered set
    for coordinate in template.fields:
        name = coordinate.partition(".")[2]
        if coordinate == ALL_ANSWERS:
            for key in answers:
                if key in part2:
                    continue  # Part 2 keys go in by name only
                if key in answer_ok:
                    chosen_answers.setdefault(key)
                else:
                    withheld.append(answer_coordinate(key))
        elif name.startswith("answers."):
            if name[len("answers.") :] in answer_ok:
                chosen_answers.setdefault(name[len("answers.") :])
            else:
                withheld.append(coordinate)
        elif coordinate in RECORD_FIELDS:
            if name not in record_ok:
                withheld.append(coordinate)
                continue
            if name == "needs":
                value: Any = await _needs(info, record)
            else:
                value = getattr(record, _attribute(name))
            record_entries.append(Entry(RECORD_FIELDS[coordinate], _text(value, zone)))
            fields.append(coordinate)
        elif coordinate in CLIENT_FIELDS and record.client_id is not None:
            if client is None or client_ok is None or name not in client_ok:
                withheld.append(coordinate)
                continue
            value = getattr(client, _attribute(name))
            client_entries.append(Entry(CLIENT_FIELDS[coordinate], _text(value, zone)))
            fields.append(coordinate)
    answer_entries: list[Entry] = []
    if chosen_answers:
        labels = await _answer_labels(info, record)
        for key in sorted(chosen_answers, key=lambda k: (labels.get(k, (10_000, k))[0], k)):
            label = labels.get(key, (0, key))[1]
            answer_entries.append(Entry(label, _text(answers.get(key), zone)))
            fields.append(answer_coordinate(key))
    owner_name = getattr(owner_tenant, "name", "")
    document = Document(
        title="Contact record",
        header=(
            f"Record {record.id}",
            f"{owner_name} · {template.purpose} · {_text(datetime.now(UTC), zone)}",
        ),
        sections=(
            Section("Contact", record_entries),
            Section("Client", client_entries),
            Section("Form answers", answer_entries),
        ),
        notice=REDISCLOSURE_NOTICE if part2 & chosen_answers.keys() & answers.keys() else None,
        footer=f"Confidential · {owner_name}",
    )
    return Content(document, fields, list(dict.fromkeys(withheld)))


def attachment_name(record_id: uuid.UUID) -> str:
    return f"contact-record-{str(record_id)[:8]}.pdf"
