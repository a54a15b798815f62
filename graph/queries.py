"""The Query root: directory lists, contact records, node lookups, the viewer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry
from sqlalchemy import select

from ..datastore import models as m
from ..datastore.queries import contacts, directory
from ..errors import BadUserInput, NotFound
from .context import Info
from .inputs import (
    ContactRecordFilterInput,
    ContactRecordSort,
    DirectoryFilterInput,
    DirectorySort,
    contact_record_sort_keys,
    directory_sort_keys,
)
from .pagination import connection
from .relay import Connection, Node, from_global_id
from .types.base import NODE_TYPES, maybe
from .types.contacts import Client, ContactRecord, FollowUp, Referral
from .types.resources import Location, Organization, Service, ServiceAtLocation, TaxonomyTerm
from .types.tenants import PartnerOrganization, RoleGrant, Tenant, Viewer

T = TypeVar("T")


async def _directory(
    info: Info,
    cls: Any,
    model: Any,
    build: Callable[..., Any],
    filter: DirectoryFilterInput | None,
    sort: DirectorySort,
    first: int | None,
    after: str | None,
) -> Connection[Any]:
    flt = (filter or DirectoryFilterInput()).to_filter()
    statement = build(info.context.plan, flt, info.context.dialect)
    keys = directory_sort_keys(model, sort)
    return await connection(info, cls, model, statement, sort.name, keys, first=first, after=after)


async def _typed(info: Info, cls: type[T], id: strawberry.ID) -> T:
    model, _ = NODE_TYPES[cls.__name__]
    _, row_id = from_global_id(id, expected=cls.__name__)
    found = maybe(cls, await info.context.loaders.one(model, row_id))
    if found is None:
        raise NotFound(f"no {cls.__name__} with id {id}")
    return found


@strawberry.type
class Query:
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
        from .relay import to_global_id

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
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_name, row_id = from_global_id(id)
        if type_name not in NODE_TYPES:
            raise BadUserInput(
                f"{id!r} is not the id of an object this API serves", reason="BAD_ID"
            )
        model, cls = NODE_TYPES[type_name]
        return maybe(cls, await info.context.loaders.one(model, row_id))

    @strawberry.field
    async def organizations(
        self,
        info: Info,
        filter: DirectoryFilterInput | None = None,
        sort: DirectorySort = DirectorySort.NAME_ASC,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Organization]:
        return await _directory(
            info, Organization, m.Organization, directory.organizations, filter, sort, first, after
        )

    @strawberry.field
    async def services(
        self,
        info: Info,
        filter: DirectoryFilterInput | None = None,
        sort: DirectorySort = DirectorySort.NAME_ASC,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Service]:
        return await _directory(
            info, Service, m.Service, directory.services, filter, sort, first, after
        )

    @strawberry.field
    async def locations(
        self,
        info: Info,
        filter: DirectoryFilterInput | None = None,
        sort: DirectorySort = DirectorySort.NAME_ASC,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Location]:
        return await _directory(
            info, Location, m.Location, directory.locations, filter, sort, first, after
        )

    @strawberry.field(name="serviceAtLocations")
    async def service_at_locations(
        self,
        info: Info,
        filter: DirectoryFilterInput | None = None,
        sort: DirectorySort = DirectorySort.NAME_ASC,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ServiceAtLocation]:
        return await _directory(
            info,
            ServiceAtLocation,
            m.ServiceAtLocation,
            directory.service_at_locations,
            filter,
            sort,
            first,
            after,
        )

    @strawberry.field(name="taxonomyTerms")
    async def taxonomy_terms(
        self,
        info: Info,
        filter: DirectoryFilterInput | None = None,
        sort: DirectorySort = DirectorySort.NAME_ASC,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[TaxonomyTerm]:
        return await _directory(
            info, TaxonomyTerm, m.TaxonomyTerm, directory.taxonomy_terms, filter, sort, first, after
        )

    @strawberry.field(name="contactRecords")
    async def contact_records(
        self,
        info: Info,
        filter: ContactRecordFilterInput | None = None,
        sort: ContactRecordSort = ContactRecordSort.STARTED_AT_DESC,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ContactRecord]:
        flt = (filter or ContactRecordFilterInput()).to_filter()
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

    @strawberry.field(name="contactRecord")
    async def contact_record(self, info: Info, id: strawberry.ID) -> ContactRecord | None:
        return await _typed(info, ContactRecord, id)

    @strawberry.field
    async def referral(self, info: Info, id: strawberry.ID) -> Referral | None:
        return await _typed(info, Referral, id)

    @strawberry.field
    async def client(self, info: Info, id: strawberry.ID) -> Client | None:
        return await _typed(info, Client, id)

    @strawberry.field(name="followUp")
    async def follow_up(self, info: Info, id: strawberry.ID) -> FollowUp | None:
        return await _typed(info, FollowUp, id)

    @strawberry.field
    async def organization(self, info: Info, id: strawberry.ID) -> Organization | None:
        return await _typed(info, Organization, id)

    @strawberry.field
    async def service(self, info: Info, id: strawberry.ID) -> Service | None:
        return await _typed(info, Service, id)

    @strawberry.field
    async def location(self, info: Info, id: strawberry.ID) -> Location | None:
        return await _typed(info, Location, id)
