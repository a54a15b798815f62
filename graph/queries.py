"""The Query root: directory lists, contact records, node lookups, the viewer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, TypeVar

import strawberry
from sqlalchemy import select

from sharegraph.authz.disclosure import Disclosure
from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.datastore import models as m
from sharegraph.errors import BadUserInput, Forbidden, NotFound, quote
from sharegraph.graph.arguments import FILTER, SORT, After, First
from sharegraph.graph.context import Info, RequestContext
from sharegraph.graph.inputs import (
    ClientFilterInput,
    ContactRecordFilterInput,
    ContactRecordSort,
    DirectoryFilterInput,
    DirectorySort,
    contact_record_sort_field,
    contact_record_sort_keys,
    directory_sort_field,
    directory_sort_keys,
)
from sharegraph.graph.inventories import InventoryArgument, visible_inventory
from sharegraph.graph.pagination import connection
from sharegraph.graph.relay import Connection, Node, from_global_id, to_global_id
from sharegraph.graph.types.base import NODE_TYPES, maybe
from sharegraph.graph.types.contacts import Client, ContactRecord, FollowUp, Referral
from sharegraph.graph.types.resources import (
    Location,
    Organization,
    Service,
    ServiceAtLocation,
    TaxonomyTerm,
)
from sharegraph.graph.types.tenants import PartnerOrganization, RoleGrant, Tenant, Viewer
from sharegraph.queries import contacts, directory
from sharegraph.queries.directory import DirectoryFilter
from sharegraph.queries.pagination import SortKey

T = TypeVar("T")


SEARCH_COLUMNS = {
    "name": "name",
    "alternateName": "alternate_name",
    "description": "description",
    "code": "code",
}


def _search_columns(plan: AccessPlan, type_name: str, owners: Any) -> tuple[str, ...]:
    """The indexed text columns of ``type_name`` the caller may search (never unreadable text)."""
    candidates = (
        ("name", "code", "description")
        if type_name == "TaxonomyTerm"
        else ("name", "alternateName", "description")
    )
    readable = Disclosure(plan).filterable(type_name, candidates, owners)
    if not readable:
        raise Forbidden(
            f"you may not search {type_name}: none of its text is readable to you",
            reason="FORBIDDEN_SEARCH",
        )
    return tuple(SEARCH_COLUMNS[f] for f in readable)


async def _directory(
    info: Info,
    operation: str,
    cls: Any,
    build: Callable[..., Any],
    filter: DirectoryFilterInput | None,
    sort: DirectorySort,
    first: int | None,
    after: str | None,
    inventory: strawberry.ID | None = None,
) -> Connection[Any]:
    model, _ = NODE_TYPES[cls.__name__]
    flt = directory_filter(info.context, operation, cls.__name__, filter, sort)
    if inventory is not None:
        flt = replace(flt, inventory_id=await visible_inventory(info, inventory))
    statement = build(info.context.plan, flt, info.context.dialect)
    keys = directory_sort_keys(model, sort)
    return await connection(info, cls, model, statement, sort.name, keys, first=first, after=after)


def contact_records_filter(
    ctx: RequestContext, filter: ContactRecordFilterInput | None, sort: ContactRecordSort
) -> contacts.ContactRecordFilter:
    """``contactRecords``' filter, after the checks every reader of it runs (the operation
    grant, filterable and sortable fields); the resolver and compiled reads both call it."""
    ctx.plan.require_operation("contactRecords", Action.READ)
    given = filter or ContactRecordFilterInput()
    flt = given.to_filter()
    owners = flt.tenant_ids or None
    ctx.disclosure.require_filterable("ContactRecord", given.used_fields(), owners, use="filter")
    ctx.disclosure.require_filterable(
        "ContactRecord", [contact_record_sort_field(sort)], owners, use="sort"
    )
    return flt


def clients_filter(ctx: RequestContext, filter: ClientFilterInput | None) -> contacts.ClientFilter:
    """``clients``' filter, after the checks every reader of it runs (the operation grant,
    filterable fields); the resolver and compiled reads both call it."""
    ctx.plan.require_operation("clients", Action.READ)
    given = filter or ClientFilterInput()
    flt = given.to_filter()
    ctx.disclosure.require_filterable(
        "Client", given.used_fields(), flt.tenant_ids or None, use="filter"
    )
    return flt


def directory_filter(
    ctx: RequestContext,
    operation: str,
    type_name: str,
    filter: DirectoryFilterInput | None,
    sort: DirectorySort,
) -> DirectoryFilter:
    """A directory list's filter, after the checks every reader of it runs (the operation
    grant, filterable and sortable fields, searchable text); the resolvers and compiled reads
    (graph/compiled/) both call it."""
    plan = ctx.plan
    plan.require_operation(operation, Action.READ)
    model, _ = NODE_TYPES[type_name]
    given = filter or DirectoryFilterInput()
    flt = given.to_filter()
    owners = flt.tenant_ids or None
    ctx.disclosure.require_filterable(type_name, given.used_fields(type_name), owners, use="filter")
    ctx.disclosure.require_filterable(
        type_name, [directory_sort_field(model, sort)], owners, use="sort"
    )
    if given.near is not None and type_name != "Location":
        ctx.disclosure.require_filterable(
            "Location", ["latitude", "longitude"], owners, use="filter"
        )
    if flt.search:
        searched_type = "Service" if type_name == "ServiceAtLocation" else type_name
        flt = replace(flt, search_columns=_search_columns(plan, searched_type, owners))
    return flt


async def _typed(info: Info, cls: type[T], id: strawberry.ID) -> T:
    model, _ = NODE_TYPES[cls.__name__]
    _, row_id = from_global_id(id, expected=cls.__name__)
    found = maybe(cls, await info.context.loaders.one(model, row_id))
    if found is None:
        raise NotFound(f"no {cls.__name__} with id {quote(id)}")
    return found


@strawberry.type
class DataQuery:
    @strawberry.field(description="The calling principal.")
    async def viewer(self, info: Info) -> Viewer:
        principal = info.context.principal
        loaders = info.context.loaders
        tenant = maybe(Tenant, await loaders.one(m.Tenant, principal.tenant_id))
        partner = maybe(
            PartnerOrganization,
            await loaders.one(m.PartnerOrganization, principal.partner_organization_id),
        )
        roles = [
            RoleGrant(
                role=grant.role,
                tenant=maybe(Tenant, await loaders.one(m.Tenant, grant.tenant_id)),
                partner_organization=maybe(
                    PartnerOrganization,
                    await loaders.one(m.PartnerOrganization, grant.partner_organization_id),
                ),
            )
            for grant in sorted(principal.roles, key=lambda g: g.role.value)
        ]
        return Viewer(
            id=strawberry.ID(to_global_id("Principal", principal.id)),
            uuid=principal.id,
            name=principal.name,
            kind=principal.kind,
            tenant=tenant,
            partner_organization=partner,
            roles=roles,
        )

    @strawberry.field(description="Tenants of this network.")
    async def tenants(self, info: Info) -> list[Tenant]:
        async with info.context.db() as session:
            rows = (await session.scalars(select(m.Tenant).order_by(m.Tenant.name))).all()
        return [maybe(Tenant, row) for row in rows]  # type: ignore[misc]

    @strawberry.field(description="Any object by its global id; null if it does not exist for you.")
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Any object's global id.")],
    ) -> Node | None:
        type_name, row_id = from_global_id(id)
        if type_name not in NODE_TYPES:
            raise BadUserInput(
                f"{quote(id)} is not the id of an object this API serves", reason="BAD_ID"
            )
        model, cls = NODE_TYPES[type_name]
        return maybe(cls, await info.context.loaders.one(model, row_id))

    @strawberry.field(
        description=(
            "Organizations in the resource directories you may read (your"
            " tenant's, those shared with you, public ones), matching the"
            " filter."
        )
    )
    async def organizations(
        self,
        info: Info,
        filter: Annotated[DirectoryFilterInput | None, FILTER] = None,
        sort: Annotated[DirectorySort, SORT] = DirectorySort.NAME_ASC,
        first: First = None,
        after: After = None,
        inventory: InventoryArgument = None,
    ) -> Connection[Organization]:
        return await _directory(
            info,
            "organizations",
            Organization,
            directory.organizations,
            filter,
            sort,
            first,
            after,
            inventory,
        )

    @strawberry.field(
        description=(
            "Services in the resource directories you may read (your "
            "tenant's, those shared with you, public ones), matching the "
            "filter."
        )
    )
    async def services(
        self,
        info: Info,
        filter: Annotated[DirectoryFilterInput | None, FILTER] = None,
        sort: Annotated[DirectorySort, SORT] = DirectorySort.NAME_ASC,
        first: First = None,
        after: After = None,
        inventory: InventoryArgument = None,
    ) -> Connection[Service]:
        return await _directory(
            info, "services", Service, directory.services, filter, sort, first, after, inventory
        )

    @strawberry.field(
        description=(
            "Locations in the resource directories you may read (your "
            "tenant's, those shared with you, public ones), matching the "
            "filter."
        )
    )
    async def locations(
        self,
        info: Info,
        filter: Annotated[DirectoryFilterInput | None, FILTER] = None,
        sort: Annotated[DirectorySort, SORT] = DirectorySort.NAME_ASC,
        first: First = None,
        after: After = None,
        inventory: InventoryArgument = None,
    ) -> Connection[Location]:
        return await _directory(
            info, "locations", Location, directory.locations, filter, sort, first, after, inventory
        )

    @strawberry.field(
        name="serviceAtLocations",
        description=(
            "Services at locations in the resource directories you may "
            "read (your tenant's, those shared with you, public ones), "
            "matching the filter."
        ),
    )
    async def service_at_locations(
        self,
        info: Info,
        filter: Annotated[DirectoryFilterInput | None, FILTER] = None,
        sort: Annotated[DirectorySort, SORT] = DirectorySort.NAME_ASC,
        first: First = None,
        after: After = None,
        inventory: InventoryArgument = None,
    ) -> Connection[ServiceAtLocation]:
        return await _directory(
            info,
            "serviceAtLocations",
            ServiceAtLocation,
            directory.service_at_locations,
            filter,
            sort,
            first,
            after,
            inventory,
        )

    @strawberry.field(
        name="taxonomyTerms",
        description=(
            "Taxonomy terms (needs and services vocabularies, e.g. 211 LA"
            " / AIRS), matching the filter."
        ),
    )
    async def taxonomy_terms(
        self,
        info: Info,
        filter: Annotated[DirectoryFilterInput | None, FILTER] = None,
        sort: Annotated[DirectorySort, SORT] = DirectorySort.NAME_ASC,
        first: First = None,
        after: After = None,
        inventory: InventoryArgument = None,
    ) -> Connection[TaxonomyTerm]:
        return await _directory(
            info,
            "taxonomyTerms",
            TaxonomyTerm,
            directory.taxonomy_terms,
            filter,
            sort,
            first,
            after,
            inventory,
        )

    @strawberry.field(
        name="contactRecords",
        description=(
            "Contact records you may read: your tenant's, and other "
            "tenants' within the row scopes of their agreements with you."
            " Every read is audited."
        ),
    )
    async def contact_records(
        self,
        info: Info,
        filter: Annotated[ContactRecordFilterInput | None, FILTER] = None,
        sort: Annotated[ContactRecordSort, SORT] = ContactRecordSort.STARTED_AT_DESC,
        first: First = None,
        after: After = None,
    ) -> Connection[ContactRecord]:
        flt = contact_records_filter(info.context, filter, sort)
        statement = contacts.contact_records(info.context.plan, flt)
        keys = contact_record_sort_keys(sort)
        return await connection(
            info,
            ContactRecord,
            m.ContactRecord,
            statement,
            sort.name,
            keys,
            first=first,
            after=after,
        )

    @strawberry.field(
        description=(
            "Clients you may read (your tenant's, and others' within "
            "their agreements' row scopes); every read is audited."
        )
    )
    async def clients(
        self,
        info: Info,
        filter: Annotated[ClientFilterInput | None, FILTER] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Client]:
        plan = info.context.plan
        flt = clients_filter(info.context, filter)
        statement = contacts.clients(plan, flt)
        keys = [SortKey(m.Client.id)]
        return await connection(
            info, Client, m.Client, statement, "ID", keys, first=first, after=after
        )

    @strawberry.field(
        name="contactRecord",
        description=(
            "One contact record; null when it does not exist or is "
            "outside your sharing agreements' row scopes. Fields you may "
            "not read are null with a `FORBIDDEN_FIELD` error."
        ),
    )
    async def contact_record(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID, strawberry.argument(description="The contact record's global id.")
        ],
    ) -> ContactRecord | None:
        return await _typed(info, ContactRecord, id)

    @strawberry.field(
        description=(
            "One referral; null when it does not exist or is outside your"
            " sharing agreements' row scopes. Fields you may not read are"
            " null with a `FORBIDDEN_FIELD` error."
        )
    )
    async def referral(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The referral's global id.")],
    ) -> Referral | None:
        return await _typed(info, Referral, id)

    @strawberry.field(
        description=(
            "One client; null when it does not exist or is outside your "
            "sharing agreements' row scopes. Fields you may not read are "
            "null with a `FORBIDDEN_FIELD` error."
        )
    )
    async def client(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The client's global id.")],
    ) -> Client | None:
        return await _typed(info, Client, id)

    @strawberry.field(
        name="followUp",
        description=(
            "One follow-up; null when it does not exist or is outside "
            "your sharing agreements' row scopes. Fields you may not read"
            " are null with a `FORBIDDEN_FIELD` error."
        ),
    )
    async def follow_up(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The follow-up's global id.")],
    ) -> FollowUp | None:
        return await _typed(info, FollowUp, id)

    @strawberry.field(
        description=("One organization; null when it does not exist or you may not see it.")
    )
    async def organization(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID, strawberry.argument(description="The organization's global id.")
        ],
    ) -> Organization | None:
        return await _typed(info, Organization, id)

    @strawberry.field(
        description=("One service; null when it does not exist or you may not see it.")
    )
    async def service(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The service's global id.")],
    ) -> Service | None:
        return await _typed(info, Service, id)

    @strawberry.field(
        description=("One location; null when it does not exist or you may not see it.")
    )
    async def location(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The location's global id.")],
    ) -> Location | None:
        return await _typed(info, Location, id)
