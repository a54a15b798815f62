"""Row scopes: the fixed vocabulary agreements choose from, implemented in code.

Each scope has a SQL form (a predicate on one model, used in every query) and a plain Python
reference predicate over :class:`Facts` (used by tests to check that the SQL says what we
mean). Policies only name scopes; they never contain SQL or code.

- ``all``: every row of the owner tenant.
- ``referred_to_grantee``: contact records (and their clients) with a referral, in any status
  but draft or entered-in-error, to a service or program of an organization the grantee
  operates; of referrals, only those.
- ``assigned_to_grantee``: contact records (and clients, referrals) with a live queue entry
  assigned to one of the grantee's programs; of their referrals, only the grantee's own.
- ``follow_up_assigned_to_grantee``: follow-ups assigned to the grantee tenant, and the
  contact records (clients, referrals) they are on.
- ``shared_form:<form id>``: contact records on any version of that form, and what hangs
  off them.
- ``region:<county or postal prefix>``: records whose caller or client county equals it or
  whose postal code starts with it; directory records at a location whose address has that
  region or postal prefix.
- ``inventory:<inventory id>``: directory records listed in that inventory (a service is in
  it when it or its organization is).

Rows of types without a scope of their own (a phone, a schedule, a capacity and its history,
an outcome, a queue's statuses, a directory change) fall under the scope of the record they hang
off: a phone of a service is in an inventory scope when that service is. They are reachable by
id (``node``, ``_entities``), so "every row of the owner" would say too much.

Referral queues and their entries answer only to ``all`` and to the two partner scopes: under
``assigned_to_grantee`` or ``referred_to_grantee`` a grantee sees the live entries assigned to
one of its programs and the queues one of its programs serves; any other scope selects none.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true

from sharegraph.datastore.enums import ReferralStatus
from sharegraph.datastore.models import (
    Address,
    CapacityChange,
    Client,
    ContactFormVersion,
    ContactRecord,
    DirectoryChange,
    FollowUp,
    InventoryItem,
    Language,
    Location,
    Organization,
    Outcome,
    Phone,
    Program,
    QueueEntry,
    QueueProgram,
    QueueStatus,
    Referral,
    ReferralNote,
    ReferralQueue,
    ReferralStatusChange,
    Schedule,
    ScheduledCapacityChange,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    Taxonomy,
    TaxonomyTerm,
)
from sharegraph.errors import BadUserInput, quote

CLOSED_FOR_PARTNERS = (ReferralStatus.DRAFT, ReferralStatus.ENTERED_IN_ERROR)
SCOPE_NAMES = (
    "all",
    "referred_to_grantee",
    "assigned_to_grantee",
    "follow_up_assigned_to_grantee",
    "shared_form",
    "region",
    "inventory",
)


@dataclass(frozen=True)
class Grantee:
    """Who the scope is evaluated for: the calling principal's home."""

    tenant_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Scope:
    name: str
    argument: str | None = None

    def __str__(self) -> str:
        return self.name if self.argument is None else f"{self.name}:{self.argument}"


def parse(text: str) -> Scope:
    """A scope from its policy spelling; ``BAD_USER_INPUT`` if it is not in the vocabulary."""
    name, sep, argument = text.strip().partition(":")
    if name not in SCOPE_NAMES:
        raise BadUserInput(
            f"unknown row scope {quote(text)}; use one of: all, referred_to_grantee, "
            "assigned_to_grantee, follow_up_assigned_to_grantee, shared_form:<form id>, "
            "region:<county or postal prefix>, inventory:<inventory id>",
            reason="BAD_SCOPE",
        )
    needs_argument = name in {"shared_form", "region", "inventory"}
    if needs_argument != bool(sep and argument):
        raise BadUserInput(
            f"row scope {quote(name)} {'needs' if needs_argument else 'takes no'} argument",
            reason="BAD_SCOPE",
        )
    if name in {"shared_form", "inventory"}:
        try:
            argument = str(uuid.UUID(argument))
        except ValueError as exc:
            raise BadUserInput(
                f"row scope {name}: needs a UUID, got {quote(argument)}", reason="BAD_SCOPE"
            ) from exc
    return Scope(name, argument or None)


# -- SQL forms ---------------------------------------------------------------------------------


def _starts(column: Any, prefix: str) -> ColumnElement[bool]:
    """Case-sensitive prefix match on both backends (SQLite's LIKE ignores ASCII case)."""
    return func.substr(column, 1, len(prefix)) == prefix


def _grantee_organizations(grantee: Grantee) -> Any:
    """Directory organizations the grantee operates (a partner's, or a tenant's own)."""
    if grantee.partner_id is not None:
        return select(Organization.id).where(
            Organization.partner_organization_id == grantee.partner_id
        )
    if grantee.tenant_id is not None:
        return select(Organization.id).where(Organization.tenant_id == grantee.tenant_id)
    return None


def referrals_to_organizations(orgs: Any) -> ColumnElement[bool]:
    """Referrals whose service at location or program belongs to one of ``orgs`` (a select of
    organization ids)."""
    sals = (
        select(ServiceAtLocation.id)
        .join(Service, Service.id == ServiceAtLocation.service_id)
        .where(Service.organization_id.in_(orgs))
    )
    programs = select(Program.id).where(Program.organization_id.in_(orgs))
    return or_(Referral.service_at_location_id.in_(sals), Referral.program_id.in_(programs))


def received_by(grantee: Grantee) -> ColumnElement[bool]:
    """Referrals to an organization the grantee operates, in any status (the inbox filter; the
    row scopes still decide which of them the grantee sees)."""
    orgs = _grantee_organizations(grantee)
    return false() if orgs is None else referrals_to_organizations(orgs)


def _referral_to_grantee(grantee: Grantee) -> ColumnElement[bool]:
    return and_(Referral.status.not_in(CLOSED_FOR_PARTNERS), received_by(grantee))


PARTNER_QUEUE_SCOPES = frozenset({"assigned_to_grantee", "referred_to_grantee"})


def _grantee_programs(grantee: Grantee) -> Any:
    orgs = _grantee_organizations(grantee)
    if orgs is None:
        return None
    return select(Program.id).where(Program.organization_id.in_(orgs))


def _queue_condition(model: Any, scope: Scope, grantee: Grantee) -> ColumnElement[bool]:
    """Queues and entries: never more than ``all`` grants, and the partner scopes' own rows."""
    programs = _grantee_programs(grantee) if scope.name in PARTNER_QUEUE_SCOPES else None
    if programs is None:
        return false()
    if model is QueueEntry:
        return and_(QueueEntry.removed_at.is_(None), QueueEntry.assigned_program_id.in_(programs))
    return ReferralQueue.id.in_(
        select(QueueProgram.queue_id).where(QueueProgram.program_id.in_(programs))
    )


def _probed(found: Select[Any], probed: bool) -> ColumnElement[bool]:
    """EXISTS of ``found``; ``probed``: kept a subplan probed per row. PostgreSQL would hash
    every row the subquery can find when the EXISTS sits in an OR (it cannot become a
    semi-join), priced for every row of the table although a page's LIMIT stops after a few
    hundred: 89 ms against 3 ms for the admin's page at scale 1,000. ``OFFSET 0`` (which
    returns every row, on both backends) is the documented fence that keeps it from being
    turned into that hash."""
    return exists(found.offset(0) if probed else found)


def _record_condition(
    scope: Scope, grantee: Grantee, *, probed: bool = False
) -> ColumnElement[bool]:
    """The scope as a predicate on ContactRecord (correlated to the outer contact_records);
    ``probed``: see :func:`_probed`."""
    if scope.name == "all":
        return true()
    if scope.name == "referred_to_grantee":
        return _probed(
            select(Referral.id).where(
                Referral.contact_record_id == ContactRecord.id, _referral_to_grantee(grantee)
            ),
            probed,
        )
    if scope.name == "assigned_to_grantee":
        orgs = _grantee_organizations(grantee)
        if orgs is None:
            return false()
        return _probed(
            select(QueueEntry.id).where(
                QueueEntry.contact_record_id == ContactRecord.id,
                QueueEntry.tenant_id == ContactRecord.tenant_id,
                QueueEntry.removed_at.is_(None),
                QueueEntry.assigned_program_id.in_(
                    select(Program.id).where(Program.organization_id.in_(orgs))
                ),
            ),
            probed,
        )
    if scope.name == "follow_up_assigned_to_grantee":
        if grantee.tenant_id is None:
            return false()
        return _probed(
            select(FollowUp.id).where(
                FollowUp.contact_record_id == ContactRecord.id,
                FollowUp.assigned_tenant_id == grantee.tenant_id,
            ),
            probed,
        )
    if scope.name == "shared_form":
        versions = select(ContactFormVersion.id).where(
            ContactFormVersion.form_id == uuid.UUID(str(scope.argument))
        )
        return ContactRecord.form_version_id.in_(versions)
    if scope.name == "region":
        prefix = str(scope.argument)
        return or_(
            ContactRecord.caller_county == prefix,
            _starts(ContactRecord.caller_postal_code, prefix),
        )
    return false()  # inventory: directory only


def _on_a_record_in_scope(link: Any, scope: Scope, grantee: Grantee) -> ColumnElement[bool]:
    """Whether a contact record in scope is linked to the row (``link`` names both).

    Written as a correlated EXISTS, not ``IN (records in scope)``: inside an OR or a CASE,
    PostgreSQL can then probe the index of ``link`` for each row asked about instead of
    hashing every record in scope first. The subquery reads its own records even inside a
    statement on contact records (``correlate_except``), and selects ``ContactRecord.id`` so
    that it names its table (the compiled reads' ``Builder.on`` leaves such subqueries alone).
    """
    found = select(ContactRecord.id).where(link, _record_condition(scope, grantee))
    return exists(found.correlate_except(ContactRecord))


def _located_in_region(prefix: str) -> Any:
    return select(Address.location_id).where(
        or_(Address.region == prefix, _starts(Address.postal_code, prefix))
    )


def _inventory(inventory_id: str, record_type: str) -> Any:
    return select(InventoryItem.record_id).where(
        InventoryItem.inventory_id == uuid.UUID(inventory_id),
        InventoryItem.record_type == record_type,
    )


def _directory_condition(model: Any, scope: Scope) -> ColumnElement[bool]:
    if scope.name == "all":
        return true()
    if model in (TaxonomyTerm, Taxonomy):
        # The vocabulary itself: shared with whatever directory records it describes.
        return true() if scope.name in {"inventory", "region"} else false()
    if scope.name == "inventory":
        inv = str(scope.argument)
        if model is Organization:
            return Organization.id.in_(_inventory(inv, "organization"))
        if model is Service:
            return or_(
                Service.id.in_(_inventory(inv, "service")),
                Service.organization_id.in_(_inventory(inv, "organization")),
            )
        if model is Location:
            return or_(
                Location.id.in_(_inventory(inv, "location")),
                Location.organization_id.in_(_inventory(inv, "organization")),
            )
        if model is ServiceAtLocation:
            return or_(
                ServiceAtLocation.id.in_(_inventory(inv, "service_at_location")),
                ServiceAtLocation.service_id.in_(_inventory(inv, "service")),
                ServiceAtLocation.service_id.in_(
                    select(Service.id).where(
                        Service.organization_id.in_(_inventory(inv, "organization"))
                    )
                ),
            )
        if model is Program:
            return Program.organization_id.in_(_inventory(inv, "organization"))
        return false()
    if scope.name == "region":
        located = _located_in_region(str(scope.argument))
        if model is Location:
            return Location.id.in_(located)
        if model is ServiceAtLocation:
            return ServiceAtLocation.location_id.in_(located)
        if model is Service:
            return Service.id.in_(
                select(ServiceAtLocation.service_id).where(
                    ServiceAtLocation.location_id.in_(located)
                )
            )
        if model is Organization:
            return Organization.id.in_(
                select(Location.organization_id).where(Location.id.in_(located))
            )
        if model is Program:
            return Program.organization_id.in_(
                select(Location.organization_id).where(Location.id.in_(located))
            )
    return false()


# Child model -> (foreign key, parent model) pairs; a row is in a scope when a parent it names is.
CHILD_PARENTS: dict[Any, tuple[tuple[Any, Any], ...]] = {
    Phone: (
        (Phone.organization_id, Organization),
        (Phone.service_id, Service),
        (Phone.location_id, Location),
        (Phone.service_at_location_id, ServiceAtLocation),
    ),
    Schedule: (
        (Schedule.service_id, Service),
        (Schedule.location_id, Location),
        (Schedule.service_at_location_id, ServiceAtLocation),
    ),
    Address: ((Address.location_id, Location),),
    Language: (
        (Language.service_id, Service),
        (Language.location_id, Location),
        (Language.phone_id, Phone),
    ),
    ServiceArea: (
        (ServiceArea.service_id, Service),
        (ServiceArea.service_at_location_id, ServiceAtLocation),
    ),
    ServiceCapacity: ((ServiceCapacity.service_id, Service), (ServiceCapacity.program_id, Program)),
    CapacityChange: ((CapacityChange.capacity_id, ServiceCapacity),),
    ScheduledCapacityChange: ((ScheduledCapacityChange.capacity_id, ServiceCapacity),),
    DirectoryChange: tuple(
        (DirectoryChange.resource_id, parent)
        for parent in (
            Organization, Service, Location, ServiceAtLocation, Program, Phone, Schedule,
        )
    ),
    Outcome: ((Outcome.referral_id, Referral),),
    ReferralNote: ((ReferralNote.referral_id, Referral),),
    ReferralStatusChange: ((ReferralStatusChange.referral_id, Referral),),
    QueueStatus: ((QueueStatus.queue_id, ReferralQueue),),
}  # fmt: skip


def _child_condition(model: Any, scope: Scope, grantee: Grantee) -> ColumnElement[bool]:
    return or_(
        *(
            exists(
                select(parent.id)
                .where(parent.id == foreign_key, sql(parent, scope, grantee))
                .correlate_except(parent)
            )
            for foreign_key, parent in CHILD_PARENTS[model]
        )
    )


def _form_version_condition(scope: Scope, grantee: Grantee) -> ColumnElement[bool]:
    """Form versions: those of a shared form, else those the records in scope were taken on."""
    if scope.name == "shared_form":
        return ContactFormVersion.form_id == uuid.UUID(str(scope.argument))
    return ContactFormVersion.id.in_(
        select(ContactRecord.form_version_id).where(_record_condition(scope, grantee))
    )


def sql(model: Any, scope: Scope, grantee: Grantee) -> ColumnElement[bool]:
    """The scope as a predicate on rows of ``model``."""
    if scope.name == "all":
        return true()
    if model in CHILD_PARENTS:
        return _child_condition(model, scope, grantee)
    if model is ContactFormVersion:
        return _form_version_condition(scope, grantee)
    if model is ContactRecord:
        return _record_condition(scope, grantee)
    if model is Client:
        if scope.name == "region":
            prefix = str(scope.argument)
            by_client = or_(Client.county == prefix, _starts(Client.postal_code, prefix))
        else:
            by_client = false()
        return or_(
            by_client, _on_a_record_in_scope(ContactRecord.client_id == Client.id, scope, grantee)
        )
    if model is Referral:
        via_record = _on_a_record_in_scope(
            ContactRecord.id == Referral.contact_record_id, scope, grantee
        )
        if scope.name == "referred_to_grantee":
            return _referral_to_grantee(grantee)  # only the grantee's own referrals
        if scope.name == "assigned_to_grantee":
            return and_(via_record, _referral_to_grantee(grantee))
        return via_record
    if model is FollowUp:
        if scope.name == "follow_up_assigned_to_grantee":
            return (
                FollowUp.assigned_tenant_id == grantee.tenant_id if grantee.tenant_id else false()
            )
        return _on_a_record_in_scope(ContactRecord.id == FollowUp.contact_record_id, scope, grantee)
    if model in (ReferralQueue, QueueEntry):
        return _queue_condition(model, scope, grantee)
    return _directory_condition(model, scope)


def implied_by_parent(
    model: Any, scope: Scope, grantee: Grantee, link: Any
) -> ColumnElement[bool] | None:
    """A predicate on one parent row that puts a ``model`` row linked to it through ``link`` (a
    foreign key column, on either side) in ``scope``; ``None`` when the parent tells nothing.

    A row reached through its parent (a record's client, a service's phones) is decided by
    this predicate first, evaluated on that one parent row, before :func:`sql`, which asks
    whether *any* row in scope names it and so reads every row in scope. Each case below is
    implied by :func:`sql`'s own definition with the parent in place of "some row".
    """
    if scope.name == "all":
        return None
    parents = [
        parent for foreign_key, parent in CHILD_PARENTS.get(model, ()) if foreign_key is link
    ]
    if len(parents) > 1:
        # A key naming rows of several models (DirectoryChange.resource_id): the link does not
        # say which the parent row is, and another model's test would name a table the
        # statement does not read (evaluated on any row of it, not on the parent).
        return None
    if parents:
        return sql(parents[0], scope, grantee)
    if model is Client and link is ContactRecord.client_id:
        return _record_condition(scope, grantee)
    if model is Referral and link is Referral.contact_record_id:
        if scope.name == "referred_to_grantee":
            return None  # the grantee's own referrals only, whatever the record
        if scope.name == "assigned_to_grantee":
            return and_(_record_condition(scope, grantee), _referral_to_grantee(grantee))
        return _record_condition(scope, grantee)
    if model is FollowUp and link is FollowUp.contact_record_id:
        if scope.name == "follow_up_assigned_to_grantee":
            return None
        return _record_condition(scope, grantee)
    return None


def sql_via(
    model: Any, scope_set: Sequence[Scope], grantee: Grantee, link: Any | None
) -> ColumnElement[bool]:
    """Whether a ``model`` row is in any of ``scope_set``: :func:`sql`, or, for a row reached
    through ``link`` from a parent row whose columns the predicate may name, every scope's
    test on that parent first (one row, cheap), and the full tests only where they all fail."""
    if model is ContactRecord and link is None and len(scope_set) > 1:
        # An OR of scopes on the records themselves: what a page of records is read with.
        return or_(*(_record_condition(s, grantee, probed=True) for s in scope_set))
    full = [sql(model, scope, grantee) for scope in scope_set]
    if link is None:
        return or_(*full)
    implied = [implied_by_parent(model, scope, grantee, link) for scope in scope_set]
    return or_(*(i for i in implied if i is not None), *full)


# -- Python reference predicates ----------------------------------------------------------------


@dataclass
class Facts:
    """What the reference predicates need, loaded plainly (tests build it from the database)."""

    referrals: list[Any] = field(default_factory=list)
    queue_entries: list[Any] = field(default_factory=list)
    queue_programs: list[Any] = field(default_factory=list)
    follow_ups: list[Any] = field(default_factory=list)
    records: dict[uuid.UUID, Any] = field(default_factory=dict)
    form_of_version: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    organizations: dict[uuid.UUID, Any] = field(default_factory=dict)
    services: dict[uuid.UUID, Any] = field(default_factory=dict)
    programs: dict[uuid.UUID, Any] = field(default_factory=dict)
    sals: dict[uuid.UUID, Any] = field(default_factory=dict)
    locations: dict[uuid.UUID, Any] = field(default_factory=dict)
    addresses: list[Any] = field(default_factory=list)
    inventory: set[tuple[uuid.UUID, str, uuid.UUID]] = field(default_factory=set)


def _grantee_org_ids(facts: Facts, grantee: Grantee) -> set[uuid.UUID]:
    if grantee.partner_id is not None:
        return {
            o.id
            for o in facts.organizations.values()
            if o.partner_organization_id == grantee.partner_id
        }
    if grantee.tenant_id is not None:
        return {o.id for o in facts.organizations.values() if o.tenant_id == grantee.tenant_id}
    return set()


def _referral_targets_grantee(facts: Facts, referral: Any, grantee: Grantee) -> bool:
    if referral.status in CLOSED_FOR_PARTNERS:
        return False
    orgs = _grantee_org_ids(facts, grantee)
    if referral.service_at_location_id is not None:
        sal = facts.sals[referral.service_at_location_id]
        if facts.services[sal.service_id].organization_id in orgs:
            return True
    return (
        referral.program_id is not None
        and facts.programs[referral.program_id].organization_id in orgs
    )


def _region_match(prefix: str, county: str | None, postal: str | None) -> bool:
    return county == prefix or (postal or "").startswith(prefix)


def record_in_scope(facts: Facts, record: Any, scope: Scope, grantee: Grantee) -> bool:
    name = scope.name
    if name == "all":
        return True
    if name == "referred_to_grantee":
        return any(
            r.contact_record_id == record.id and _referral_targets_grantee(facts, r, grantee)
            for r in facts.referrals
        )
    if name == "assigned_to_grantee":
        orgs = _grantee_org_ids(facts, grantee)
        return any(
            q.contact_record_id == record.id
            and q.tenant_id == record.tenant_id
            and q.removed_at is None
            and q.assigned_program_id is not None
            and facts.programs[q.assigned_program_id].organization_id in orgs
            for q in facts.queue_entries
        )
    if name == "follow_up_assigned_to_grantee":
        return grantee.tenant_id is not None and any(
            f.contact_record_id == record.id and f.assigned_tenant_id == grantee.tenant_id
            for f in facts.follow_ups
        )
    if name == "shared_form":
        form = facts.form_of_version.get(record.form_version_id) if record.form_version_id else None
        return form is not None and str(form) == scope.argument
    if name == "region":
        return _region_match(str(scope.argument), record.caller_county, record.caller_postal_code)
    return False


def _location_in_region(facts: Facts, location_id: uuid.UUID, prefix: str) -> bool:
    return any(
        a.location_id == location_id and _region_match(prefix, a.region, a.postal_code)
        for a in facts.addresses
    )


def _in_inventory(
    facts: Facts, inventory: str, record_type: str, record_id: uuid.UUID | None
) -> bool:
    return (
        record_id is not None and (uuid.UUID(inventory), record_type, record_id) in facts.inventory
    )


def queue_row_in_scope(
    facts: Facts, type_name: str, row: Any, scope: Scope, grantee: Grantee
) -> bool:
    if scope.name == "all":
        return True
    if scope.name not in PARTNER_QUEUE_SCOPES:
        return False
    orgs = _grantee_org_ids(facts, grantee)
    programs = {p.id for p in facts.programs.values() if p.organization_id in orgs}
    if type_name == "QueueEntry":
        return row.removed_at is None and row.assigned_program_id in programs
    return any(qp.queue_id == row.id and qp.program_id in programs for qp in facts.queue_programs)


def directory_in_scope(facts: Facts, type_name: str, row: Any, scope: Scope) -> bool:
    name, arg = scope.name, str(scope.argument)
    if name == "all":
        return True
    if type_name in {"TaxonomyTerm", "Taxonomy"}:
        return name in {"inventory", "region"}
    if name == "inventory":
        inv = arg
        if type_name == "Organization":
            return _in_inventory(facts, inv, "organization", row.id)
        if type_name == "Service":
            return _in_inventory(facts, inv, "service", row.id) or _in_inventory(
                facts, inv, "organization", row.organization_id
            )
        if type_name == "Location":
            return _in_inventory(facts, inv, "location", row.id) or _in_inventory(
                facts, inv, "organization", row.organization_id
            )
        if type_name == "ServiceAtLocation":
            service = facts.services[row.service_id]
            return (
                _in_inventory(facts, inv, "service_at_location", row.id)
                or _in_inventory(facts, inv, "service", row.service_id)
                or _in_inventory(facts, inv, "organization", service.organization_id)
            )
        if type_name == "Program":
            return _in_inventory(facts, inv, "organization", row.organization_id)
        return False
    if name == "region":
        if type_name == "Location":
            return _location_in_region(facts, row.id, arg)
        if type_name == "ServiceAtLocation":
            return _location_in_region(facts, row.location_id, arg)
        if type_name == "Service":
            return any(
                s.service_id == row.id and _location_in_region(facts, s.location_id, arg)
                for s in facts.sals.values()
            )
        if type_name in {"Organization", "Program"}:
            org = row.id if type_name == "Organization" else row.organization_id
            return any(
                loc.organization_id == org and _location_in_region(facts, loc.id, arg)
                for loc in facts.locations.values()
            )
    return False


def reference(type_name: str) -> Callable[[Facts, Any, Scope, Grantee], bool]:
    """The Python reference predicate for rows of one type."""

    def for_records(facts: Facts, row: Any, scope: Scope, grantee: Grantee) -> bool:
        if scope.name == "all":
            return True
        if type_name == "ContactRecord":
            return record_in_scope(facts, row, scope, grantee)
        if type_name == "Client":
            by_client = scope.name == "region" and _region_match(
                str(scope.argument), row.county, row.postal_code
            )
            return by_client or any(
                r.client_id == row.id and record_in_scope(facts, r, scope, grantee)
                for r in facts.records.values()
            )
        if type_name == "Referral":
            if scope.name == "all":
                return True
            if scope.name == "referred_to_grantee":
                return _referral_targets_grantee(facts, row, grantee)
            on_record = record_in_scope(facts, facts.records[row.contact_record_id], scope, grantee)
            if scope.name == "assigned_to_grantee":
                return on_record and _referral_targets_grantee(facts, row, grantee)
            return on_record
        if type_name == "FollowUp":
            if scope.name == "follow_up_assigned_to_grantee":
                return grantee.tenant_id is not None and row.assigned_tenant_id == grantee.tenant_id
            return record_in_scope(facts, facts.records[row.contact_record_id], scope, grantee)
        if type_name in {"ReferralQueue", "QueueEntry"}:
            return queue_row_in_scope(facts, type_name, row, scope, grantee)
        return directory_in_scope(facts, type_name, row, scope)

    return for_records
