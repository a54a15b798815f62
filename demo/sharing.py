"""The demo network's sharing agreements (the scenario the README and the tests use).

- Prairie 211 shares its whole resource directory (read, export) with every tenant, every
  partner and the public.
- Prairie 211 and Lakeside Crisis Line share the "After-hours intake" form both ways, and
  each sees the follow-ups the other assigns to it.
- Eastside Food Pantry reads, on Prairie 211 records with a referral to it, only what it needs
  to serve the client, and writes status and outcomes on its own referrals.
- Harbor Housing likewise, for queue entries assigned to it.
- Riverbend 211 reads Prairie 211's directory and nothing else of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sharegraph.authz.catalogue import REVISION
from sharegraph.datastore.enums import GranteeKind, Sensitivity
from sharegraph.datastore.models import SharingAgreement

DIRECTORY = [
    f"{t}.*"
    for t in (
        "Organization", "Service", "Location", "ServiceAtLocation", "Program", "TaxonomyTerm",
        "Taxonomy", "Address", "Phone", "Schedule", "Language", "ServiceArea", "ServiceCapacity",
        "Unit",
    )
]  # fmt: skip
CASE_FILE = [
    "ContactRecord.*", "Client.*", "Referral.*", "Outcome.*", "ReferralStatusChange.*",
    "FollowUp.*", "ContactFormVersion.*",
]  # fmt: skip
PARTNER_READ = [
    "ContactRecord.id", "ContactRecord.startedAt", "ContactRecord.needs", "ContactRecord.referrals",
    "ContactRecord.client", "Client.id", "Client.firstName", "Client.phone",
    "Client.preferredLanguage", "Referral.*", "Outcome.*", "ReferralStatusChange.*",
]  # fmt: skip
PARTNER_NEVER = [
    "Client.lastName", "Client.dateOfBirth", "ContactRecord.narrative", "ContactRecord.riskLevel",
    "ContactRecord.answers", "ContactRecord.answers.*",
]  # fmt: skip
PARTNER_WRITE = ["Referral.status", "Referral.statusReason", "Referral.externalId", "Outcome.*"]
FOLLOW_UP_HANDOFF = [
    "FollowUp.*", "ContactRecord.id", "ContactRecord.startedAt", "ContactRecord.needs",
    "ContactRecord.followUps", "ContactRecord.client", "Client.id", "Client.firstName",
    "Client.phone", "Client.preferredLanguage",
]  # fmt: skip


def agreements(
    tenant_ids: dict[str, uuid.UUID],
    partner_ids: dict[str, uuid.UUID],
    form_ids: dict[str, uuid.UUID],
    make_id: Callable[[str, object], uuid.UUID],
) -> list[SharingAgreement]:
    prairie, lakeside = tenant_ids["prairie"], tenant_ids["lakeside"]
    after_hours = form_ids["prairie-after-hours"]
    rows: list[dict[str, Any]] = []
    for slug in ("lakeside", "riverbend"):
        rows.append(
            dict(
                tenant_id=prairie,
                name=f"Directory for {slug}",
                purpose="information and referral",
                grantee_kind=GranteeKind.TENANT,
                grantee_tenant_id=tenant_ids[slug],
                actions=["read", "export"],
                fields=DIRECTORY,
            )
        )
    for slug in ("eastside", "harbor"):
        rows.append(
            dict(
                tenant_id=prairie,
                name=f"Directory for {slug}",
                purpose="information and referral",
                grantee_kind=GranteeKind.PARTNER,
                grantee_partner_id=partner_ids[slug],
                actions=["read", "export"],
                fields=DIRECTORY,
            )
        )
    rows.append(
        dict(
            tenant_id=prairie,
            name="Public directory",
            purpose="information and referral",
            grantee_kind=GranteeKind.PUBLIC,
            actions=["read", "export"],
            fields=DIRECTORY,
        )
    )
    for owner, grantee, other in (
        ("prairie", "lakeside", lakeside),
        ("lakeside", "prairie", prairie),
    ):
        rows.append(
            dict(
                tenant_id=tenant_ids[owner],
                name="After-hours intake",
                purpose="after-hours coverage",
                grantee_kind=GranteeKind.TENANT,
                grantee_tenant_id=other,
                actions=["read", "write"],
                fields=CASE_FILE,
                answer_sensitivity=Sensitivity.PART2,
                row_scope=f"shared_form:{after_hours}",
            )
        )
        rows.append(
            dict(
                tenant_id=tenant_ids[owner],
                name=f"Follow-ups handed to {grantee}",
                purpose="follow-up",
                grantee_kind=GranteeKind.TENANT,
                grantee_tenant_id=other,
                actions=["read", "write"],
                fields=FOLLOW_UP_HANDOFF,
                row_scope="follow_up_assigned_to_grantee",
            )
        )
    for slug, scope in (("eastside", "referred_to_grantee"), ("harbor", "assigned_to_grantee")):
        rows.append(
            dict(
                tenant_id=prairie,
                name=f"Referrals to {slug}",
                purpose="care coordination",
                grantee_kind=GranteeKind.PARTNER,
                grantee_partner_id=partner_ids[slug],
                actions=["read"],
                fields=PARTNER_READ,
                denied_fields=PARTNER_NEVER,
                row_scope=scope,
            )
        )
        rows.append(
            dict(
                tenant_id=prairie,
                name=f"Write-back by {slug}",
                purpose="care coordination",
                grantee_kind=GranteeKind.PARTNER,
                grantee_partner_id=partner_ids[slug],
                actions=["write"],
                fields=PARTNER_WRITE,
                row_scope=scope,
            )
        )
    return [
        SharingAgreement(
            id=make_id("sharing-agreement", row["name"] + str(row["tenant_id"])),
            catalogue_revision=REVISION,
            **row,
        )
        for row in rows
    ]
