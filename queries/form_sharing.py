"""Sharing a contact form with another tenant: iCarol's flags as sharing agreements.

Each flag is one agreement of the form's owner with the grantee tenant, on the row scope
``shared_form:<form id>`` (records on any version of the form, and what hangs off them):

| flag | action | coordinates |
|---|---|---|
| search | read | ContactRecord.*, ContactFormVersion.* (+ answers up to a sensitivity) |
| edit | write | ContactRecord.* (+ the same answers) |
| followUps | read | FollowUp.* |
| assignFollowUps | write | FollowUp.* (schedule follow-ups on them for the owner's users) |
| statistics | statistics | ContactRecord.channel, .callerCounty, .needs, .startedAt |
| export | export | as search |

The agreements are ordinary ones (validated, audited and previewed by ``queries.sharing``),
named ``shared_form:<form id> -> <grantee id>: <flag>`` (with ``#2``... when shared again
after a revocation, as names stay unique) so that sharing again updates them and unsharing
revokes them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.catalogue import CATALOGUE
from sharegraph.authz.plan import AccessPlan
from sharegraph.authz.policy import AgreementRow, Snapshot
from sharegraph.authz.principal import Principal
from sharegraph.datastore.enums import GranteeKind, Sensitivity
from sharegraph.datastore.models import ContactForm, SharingAgreement
from sharegraph.errors import BadUserInput, NotFound
from sharegraph.queries import sharing

RECORD_FIELDS = ("ContactRecord.*", "ContactFormVersion.*")
# What a statistics flag shares: the fields networkStatistics may group records by.
STATISTICS_FIELDS = tuple(f.coordinate for f in CATALOGUE["ContactRecord"].fields if f.statistics)


@dataclass(frozen=True)
class FlagGrant:
    actions: tuple[str, ...]
    fields: tuple[str, ...]
    answers: bool  # carries the answer sensitivity ceiling


FLAGS: dict[str, FlagGrant] = {
    "search": FlagGrant(("read",), RECORD_FIELDS, True),
    "edit": FlagGrant(("write",), ("ContactRecord.*",), True),
    "followUps": FlagGrant(("read",), ("FollowUp.*",), False),
    "assignFollowUps": FlagGrant(("write",), ("FollowUp.*",), False),
    "statistics": FlagGrant(("statistics",), STATISTICS_FIELDS, False),
    "export": FlagGrant(("export",), RECORD_FIELDS, True),
}
# A flag that is meaningless without another one.
NEEDS = {"edit": "search", "assignFollowUps": "followUps"}


@dataclass(frozen=True)
class FormShare:
    form_id: uuid.UUID
    grantee_tenant_id: uuid.UUID
    flags: frozenset[str]
    purpose: str
    valid_until: datetime | None = None
    answer_sensitivity: Sensitivity | None = None


@dataclass(frozen=True)
class Change:
    """One agreement to create (``before`` None), replace, or revoke (``after`` None)."""

    flag: str
    before: SharingAgreement | None
    after: sharing.AgreementInput | None


@dataclass(frozen=True)
class ShareChanges:
    owner: uuid.UUID
    changes: list[Change]
    kept: list[SharingAgreement]  # live agreements the share leaves as they are


def agreement_name(form_id: uuid.UUID, grantee: uuid.UUID, flag: str) -> str:
    return f"shared_form:{form_id} -> {grantee}: {flag}"


def _flag_of(name: str, form_id: uuid.UUID, grantee: uuid.UUID) -> str | None:
    """The flag an agreement stands for, from its name (``... : search`` or, for a share made
    again after a revocation, ``... : search #2``)."""
    prefix = agreement_name(form_id, grantee, "")
    if not name.startswith(prefix):
        return None
    flag = name[len(prefix) :].split(" #", 1)[0]
    return flag if flag in FLAGS else None


def _free_name(base: str, taken: set[str]) -> str:
    """Names stay unique per owner, revoked agreements included."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base} #{n}"
    return name


def _input(share: FormShare, flag: str, name: str) -> sharing.AgreementInput:
    grant = FLAGS[flag]
    return sharing.AgreementInput(
        name=name,
        purpose=share.purpose,
        grantee_kind=GranteeKind.TENANT,
        grantee_tenant_id=share.grantee_tenant_id,
        grantee_partner_id=None,
        grantee_role=None,
        actions=grant.actions,
        fields=grant.fields,
        answer_sensitivity=share.answer_sensitivity if grant.answers else None,
        row_scope=f"shared_form:{share.form_id}",
        valid_until=share.valid_until,
    )


def _same(row: SharingAgreement, given: sharing.AgreementInput) -> bool:
    return (
        row.purpose == given.purpose.strip()
        and set(row.actions) == set(given.actions)
        and set(row.fields) == set(given.fields)
        and row.answer_sensitivity == given.answer_sensitivity
        and row.valid_until == given.valid_until
        and row.valid_from is None
        and not row.denied_fields
    )


async def owned_form(session: AsyncSession, plan: AccessPlan, form_id: uuid.UUID) -> ContactForm:
    """The form, which only its owner's admins may share (``FORBIDDEN`` for others who can see
    it, ``NOT_FOUND`` for those who cannot)."""
    form = await session.scalar(
        select(ContactForm).where(ContactForm.id == form_id, plan.row_filter(ContactForm))
    )
    if form is None:
        raise NotFound("no such contact form")
    sharing.require_admin(plan.principal, form.tenant_id)
    return form


async def _agreements(
    session: AsyncSession, owner: uuid.UUID, form_id: uuid.UUID, grantee: uuid.UUID
) -> tuple[dict[str, SharingAgreement], set[str]]:
    """The live agreements a share of this form with this grantee consists of, by flag, and
    the names its agreements have used (revoked ones included)."""
    rows = (
        await session.scalars(
            select(SharingAgreement).where(
                SharingAgreement.tenant_id == owner,
                SharingAgreement.grantee_tenant_id == grantee,
                SharingAgreement.row_scope == f"shared_form:{form_id}",
            )
        )
    ).all()
    live: dict[str, SharingAgreement] = {}
    for row in rows:
        flag = _flag_of(row.name, form_id, grantee)
        if flag is not None and row.revoked_at is None:
            live[flag] = row
    return live, {row.name for row in rows}


async def plan_share(session: AsyncSession, plan: AccessPlan, share: FormShare) -> ShareChanges:
    """What sharing the form with these flags changes, validated, before anything is written."""
    missing = sorted(
        f"{flag} needs {need}"
        for flag, need in NEEDS.items()
        if flag in share.flags and need not in share.flags
    )
    if missing:
        raise BadUserInput("; ".join(missing), reason="INVALID_FORM_SHARE")
    if not share.flags:
        raise BadUserInput(
            "choose at least one flag; use unshareContactForm to stop sharing",
            reason="INVALID_FORM_SHARE",
        )
    form = await owned_form(session, plan, share.form_id)
    existing, taken = await _agreements(session, form.tenant_id, form.id, share.grantee_tenant_id)
    changes: list[Change] = []
    kept: list[SharingAgreement] = []
    for flag in FLAGS:
        row = existing.get(flag)
        if flag not in share.flags:
            if row is not None:
                changes.append(Change(flag, row, None))
            continue
        base = agreement_name(form.id, share.grantee_tenant_id, flag)
        given = _input(share, flag, row.name if row is not None else _free_name(base, taken))
        await sharing.validate(session, form.tenant_id, given, ignore=row.id if row else None)
        if row is not None and _same(row, given):
            kept.append(row)
        else:
            changes.append(Change(flag, row, given))
    return ShareChanges(form.tenant_id, changes, kept)


async def plan_unshare(
    session: AsyncSession, plan: AccessPlan, form_id: uuid.UUID, grantee: uuid.UUID
) -> ShareChanges:
    form = await owned_form(session, plan, form_id)
    existing, _ = await _agreements(session, form.tenant_id, form.id, grantee)
    return ShareChanges(form.tenant_id, [Change(f, row, None) for f, row in existing.items()], [])


def preview(snapshot: Snapshot, planned: ShareChanges) -> list[sharing.Change]:
    """The access the changes grant and revoke, per coordinate (``queries.sharing.preview``)."""
    out: list[sharing.Change] = []
    for change in planned.changes:
        before = AgreementRow.of(change.before) if change.before is not None else None
        after = (
            sharing.as_row(before.id if before else uuid.uuid4(), planned.owner, change.after)
            if change.after is not None
            else None
        )
        out += sharing.preview(snapshot, before, after)
    return out


async def apply(
    session: AsyncSession, actor: Principal, planned: ShareChanges
) -> list[SharingAgreement]:
    """Write the changes; the live agreements of the share afterwards."""
    live = list(planned.kept)
    for change in planned.changes:
        if change.after is None:
            assert change.before is not None
            await sharing.revoke(session, actor, change.before.id)
        elif change.before is None:
            live.append(await sharing.create(session, actor, planned.owner, change.after))
        else:
            live.append(
                await sharing.update(
                    session, actor, change.before.id, change.before.version, change.after
                )
            )
    return sorted(live, key=lambda row: row.name)
