"""42 CFR Part 2: whether a client's consent lets answers reach one recipient for one purpose.

One rule for every path that discloses answers (responses, exports, emailed PDFs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..datastore.enums import GranteeKind


def consent_covers(
    consent: Any, home_tenant: Any, home_partner: Any, purposes: set[str], now: datetime
) -> bool:
    """Whether a consent names this recipient and one of these purposes, unexpired, unrevoked."""
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return False
    if consent.expires_at is not None and consent.expires_at <= now:
        return False
    if consent.purpose not in purposes:
        return False
    if consent.recipient_kind is GranteeKind.TENANT:
        return home_tenant is not None and consent.recipient_tenant_id == home_tenant
    return home_partner is not None and consent.recipient_partner_id == home_partner
