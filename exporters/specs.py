"""What an export job or schedule asks for (what, format, filters, purpose, feed), as stored in
their ``filters`` JSON, and the checks made before one is accepted and again when it runs.

Accepted only when the plan lets the caller export that kind of record at all (``FORBIDDEN`` /
``EXPORT_DENIED``), and when every field a filter selects on may leave on every row it selects
from (``FORBIDDEN`` / ``FORBIDDEN_FILTER``): a filter on a withheld field would reveal its values
through which records come out, as it would in a query.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.errors import BadUserInput, Forbidden
from sharegraph.exporters.contact_records import ExportFilter
from sharegraph.exporters.run import ROOT_TYPES, Format, What, check_format


class Feed(StrEnum):
    """A schedule whose runs each cover a window computed from their due time (``feeds``)."""

    DAILY_COUNTS = "daily-counts"


SUFFIXES = {
    Format.CSV: "csv",
    Format.NDJSON: "ndjson",
    Format.HSDS_JSON: "json",
    Format.HSDS_CSV: "zip",
    Format.AIRS_XML: "xml",
    Format.HSDS11_JSON: "json",
    Format.HSDS11_CSV: "zip",
}
MEDIA_TYPES = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.NDJSON: "application/x-ndjson",
    Format.HSDS_JSON: "application/json",
    Format.HSDS_CSV: "application/zip",
    Format.AIRS_XML: "application/xml",
    Format.HSDS11_JSON: "application/json",
    Format.HSDS11_CSV: "application/zip",
}
MAX_PURPOSE = 255


@dataclass(frozen=True)
class ExportSpec:
    what: What
    format: Format
    filter: ExportFilter = field(default_factory=ExportFilter)
    purpose: str | None = None
    feed: Feed | None = None

    @property
    def suffix(self) -> str:
        return SUFFIXES[self.format]

    def filters_json(self) -> dict[str, Any]:
        flt = self.filter
        stored: dict[str, Any] = {
            "tenantIds": [str(t) for t in flt.tenant_ids],
            "formIds": [str(f) for f in flt.form_ids],
            "startedAfter": _iso(flt.started_after),
            "startedBefore": _iso(flt.started_before),
            "updatedAfter": _iso(flt.updated_after),
            "purpose": self.purpose,
            "feed": self.feed.value if self.feed else None,
        }
        return {k: v for k, v in stored.items() if v not in (None, [])}

    @classmethod
    def stored(cls, what: str, format: str, filters: dict[str, Any] | None) -> ExportSpec:
        data = filters or {}
        return cls(
            what=What(what),
            format=Format(format),
            filter=ExportFilter(
                tenant_ids=tuple(uuid.UUID(t) for t in data.get("tenantIds", [])),
                started_after=_parse(data.get("startedAfter")),
                started_before=_parse(data.get("startedBefore")),
                updated_after=_parse(data.get("updatedAfter")),
                form_ids=tuple(uuid.UUID(f) for f in data.get("formIds", [])),
            ),
            purpose=data.get("purpose"),
            feed=Feed(data["feed"]) if data.get("feed") else None,
        )

    def within(self, started_after: datetime, started_before: datetime) -> ExportSpec:
        """This export limited to records started in [after, before)."""
        flt = replace(self.filter, started_after=started_after, started_before=started_before)
        return replace(self, filter=flt)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def checked(spec: ExportSpec) -> ExportSpec:
    """The spec tidied, or ``BAD_USER_INPUT`` saying what does not fit together."""
    check_format(spec.what, spec.format)
    flt = spec.filter
    for name, value in (
        ("startedAfter", flt.started_after),
        ("startedBefore", flt.started_before),
        ("updatedAfter", flt.updated_after),
    ):
        if value is not None and value.tzinfo is None:
            raise BadUserInput(
                f"{name} needs a UTC offset (e.g. 2026-03-02T00:00:00Z)", reason="BAD_FILTER"
            )
    if flt.started_after and flt.started_before and flt.started_after >= flt.started_before:
        raise BadUserInput("startedAfter must be before startedBefore", reason="BAD_FILTER")
    if spec.what is What.RESOURCES and (flt.started_after or flt.started_before or flt.form_ids):
        raise BadUserInput(
            "startedAfter, startedBefore and formIds filter contact records, not resources",
            reason="BAD_FILTER",
        )
    purpose = (spec.purpose or "").strip() or None
    if purpose is not None and len(purpose) > MAX_PURPOSE:
        raise BadUserInput(
            f"purpose must have at most {MAX_PURPOSE} characters", reason="BAD_PURPOSE"
        )
    if spec.feed is Feed.DAILY_COUNTS:
        if spec.what is not What.CONTACT_RECORDS:
            raise BadUserInput("the daily-counts feed exports contact records", reason="BAD_FEED")
        if not flt.form_ids:
            raise BadUserInput(
                "the daily-counts feed needs formIds: the forms whose records it sends",
                reason="BAD_FEED",
            )
        if flt.started_after or flt.started_before:
            raise BadUserInput(
                "the daily-counts feed chooses the days itself; leave out startedAfter and "
                "startedBefore",
                reason="BAD_FEED",
            )
    return replace(
        spec,
        purpose=purpose,
        filter=replace(
            flt,
            tenant_ids=tuple(dict.fromkeys(flt.tenant_ids)),
            form_ids=tuple(dict.fromkeys(flt.form_ids)),
        ),
    )


# The field each filter selects on, per kind of record.
_FILTER_FIELDS: dict[What, tuple[tuple[str, Callable[[ExportFilter], bool]], ...]] = {
    What.CONTACT_RECORDS: (
        ("startedAt", lambda f: f.started_after is not None or f.started_before is not None),
        ("updatedAt", lambda f: f.updated_after is not None),
        ("formVersion", lambda f: bool(f.form_ids)),
    ),
    What.RESOURCES: (("updatedAt", lambda f: f.updated_after is not None),),
}


def require_allowed(plan: AccessPlan, spec: ExportSpec) -> None:
    """``FORBIDDEN`` unless the plan lets ``spec`` out (see the module's docstring)."""
    type_name = ROOT_TYPES[spec.what]
    owners = plan.owners(type_name, Action.EXPORT)
    wanted = set(spec.filter.tenant_ids)
    if wanted:
        owners = owners & wanted
    if not owners:
        raise Forbidden(
            f"{plan.principal.name} may not export {spec.what.value}"
            + (" of these tenants" if wanted else ""),
            reason="EXPORT_DENIED",
        )
    by_owner = plan.grants(type_name, Action.EXPORT)
    for field_name, used in _FILTER_FIELDS[spec.what]:
        if not used(spec.filter):
            continue
        everywhere = all(field_name in g.fields for o in owners for g in by_owner.get(o, ()))
        if not everywhere:
            coordinate = f"{type_name}.{field_name}"
            raise Forbidden(
                f"you may not filter on {coordinate}: it may not leave on every record you "
                "may export",
                reason="FORBIDDEN_FILTER",
                coordinate=coordinate,
            )
