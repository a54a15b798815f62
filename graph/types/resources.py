"""Resource directory types (HSDS 3.0 shaped, camelCase)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import strawberry

from sharegraph.datastore import models as m
from sharegraph.graph.context import Info
from sharegraph.graph.relay import Node
from sharegraph.graph.types.base import many, maybe
from sharegraph.graph.types.capacity_schedule import ScheduledCapacityChange
from sharegraph.graph.types.catalogued import shared_type
from sharegraph.graph.types.directory_history import DirectoryChange, history_of
from sharegraph.graph.types.tenants import Tenant


async def _tenant(info: Info, tenant_id: uuid.UUID) -> Tenant | None:
    return maybe(Tenant, await info.context.loaders.one(m.Tenant, tenant_id))


@shared_type("Address")
class Address:
    row: strawberry.Private[Any]


@shared_type("Phone", m.Phone)
class Phone(Node):
    row: strawberry.Private[Any]


@shared_type("Schedule", m.Schedule)
class Schedule(Node):
    row: strawberry.Private[Any]


@shared_type("Language")
class Language:
    row: strawberry.Private[Any]


@shared_type("ServiceArea")
class ServiceArea:
    row: strawberry.Private[Any]


@shared_type("Unit")
class Unit:
    row: strawberry.Private[Any]


@shared_type("CapacityChange")
class CapacityChange:
    row: strawberry.Private[Any]


@shared_type("ServiceCapacity", m.ServiceCapacity)
class ServiceCapacity(Node):
    row: strawberry.Private[Any]

    @strawberry.field(description="Every change, newest first: reports, reservations, releases.")
    async def history(self, info: Info) -> list[CapacityChange] | None:
        rows = await info.context.loaders.children(
            m.CapacityChange, "capacity_id", (m.CapacityChange.changed_at.desc(),)
        ).load(self.row.id)
        return many(CapacityChange, rows)

    @strawberry.field(description="Slots free now: available minus what assignments reserved.")
    def free(self) -> int | None:
        return max(0, int(self.row.available) - int(self.row.reserved))

    @strawberry.field
    async def unit(self, info: Info) -> Unit | None:
        return maybe(Unit, await info.context.loaders.one(m.Unit, self.row.unit_id))

    @strawberry.field(description="Changes announced ahead, not yet applied nor cancelled.")
    async def scheduled(self, info: Info) -> list[ScheduledCapacityChange] | None:
        rows = await info.context.loaders.children(
            m.ScheduledCapacityChange, "capacity_id", (m.ScheduledCapacityChange.apply_at,)
        ).load(self.row.id)
        pending = [r for r in rows if r.applied_at is None and r.cancelled_at is None]
        return many(ScheduledCapacityChange, pending)


@shared_type("Taxonomy", m.Taxonomy)
class Taxonomy(Node):
    row: strawberry.Private[Any]


@shared_type("TaxonomyTerm", m.TaxonomyTerm)
class TaxonomyTerm(Node):
    row: strawberry.Private[Any]

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        return await _tenant(info, self.row.tenant_id)

    @strawberry.field
    async def taxonomy(self, info: Info) -> Taxonomy | None:
        return maybe(Taxonomy, await info.context.loaders.one(m.Taxonomy, self.row.taxonomy_id))

    @strawberry.field
    async def parent(self, info: Info) -> TaxonomyTerm | None:
        return maybe(
            TaxonomyTerm, await info.context.loaders.one(m.TaxonomyTerm, self.row.parent_id)
        )


async def _terms_of(info: Info, entity: str, record_id: uuid.UUID) -> list[TaxonomyTerm]:
    loaders = info.context.loaders
    links = await loaders.children(m.Attribute, "link_id").load(record_id)
    term_ids = [a.taxonomy_term_id for a in links if a.link_entity == entity]
    return many(TaxonomyTerm, await loaders.many(m.TaxonomyTerm, term_ids))


@shared_type("Organization", m.Organization)
class Organization(Node):
    row: strawberry.Private[Any]

    @strawberry.field(description="Changed fields, newest first, with who and when.")
    async def history(self, info: Info) -> list[DirectoryChange] | None:
        return await history_of(info, "Organization", self.row)

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        return await _tenant(info, self.row.tenant_id)

    @strawberry.field
    async def services(
        self, info: Info
    ) -> list[Annotated[Service, strawberry.lazy(".resources")]] | None:
        rows = await info.context.loaders.children(
            m.Service, "organization_id", (m.Service.name,)
        ).load(self.row.id)
        return many(Service, rows)

    @strawberry.field
    async def locations(self, info: Info) -> list[Location] | None:
        rows = await info.context.loaders.children(
            m.Location, "organization_id", (m.Location.name,)
        ).load(self.row.id)
        return many(Location, rows)

    @strawberry.field
    async def programs(self, info: Info) -> list[Program] | None:
        rows = await info.context.loaders.children(
            m.Program, "organization_id", (m.Program.name,)
        ).load(self.row.id)
        return many(Program, rows)

    @strawberry.field
    async def phones(self, info: Info) -> list[Phone] | None:
        return many(
            Phone, await info.context.loaders.children(m.Phone, "organization_id").load(self.row.id)
        )

    @strawberry.field(name="taxonomyTerms")
    async def taxonomy_terms(self, info: Info) -> list[TaxonomyTerm] | None:
        return await _terms_of(info, "organization", self.row.id)


@shared_type("Program", m.Program)
class Program(Node):
    row: strawberry.Private[Any]

    @strawberry.field(description="Changed fields, newest first, with who and when.")
    async def history(self, info: Info) -> list[DirectoryChange] | None:
        return await history_of(info, "Program", self.row)

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        return await _tenant(info, self.row.tenant_id)

    @strawberry.field
    async def organization(self, info: Info) -> Organization | None:
        return maybe(
            Organization, await info.context.loaders.one(m.Organization, self.row.organization_id)
        )

    @strawberry.field
    async def capacities(self, info: Info) -> list[ServiceCapacity] | None:
        rows = await info.context.loaders.children(m.ServiceCapacity, "program_id").load(
            self.row.id
        )
        return many(ServiceCapacity, rows)


@shared_type("Location", m.Location)
class Location(Node):
    row: strawberry.Private[Any]

    @strawberry.field(description="Changed fields, newest first, with who and when.")
    async def history(self, info: Info) -> list[DirectoryChange] | None:
        return await history_of(info, "Location", self.row)

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        return await _tenant(info, self.row.tenant_id)

    @strawberry.field
    async def organization(self, info: Info) -> Organization | None:
        return maybe(
            Organization, await info.context.loaders.one(m.Organization, self.row.organization_id)
        )

    @strawberry.field
    async def addresses(self, info: Info) -> list[Address] | None:
        return many(
            Address, await info.context.loaders.children(m.Address, "location_id").load(self.row.id)
        )

    @strawberry.field
    async def phones(self, info: Info) -> list[Phone] | None:
        return many(
            Phone, await info.context.loaders.children(m.Phone, "location_id").load(self.row.id)
        )

    @strawberry.field
    async def schedules(self, info: Info) -> list[Schedule] | None:
        return many(
            Schedule,
            await info.context.loaders.children(m.Schedule, "location_id").load(self.row.id),
        )

    @strawberry.field
    async def languages(self, info: Info) -> list[Language] | None:
        return many(
            Language,
            await info.context.loaders.children(m.Language, "location_id").load(self.row.id),
        )

    @strawberry.field(name="taxonomyTerms")
    async def taxonomy_terms(self, info: Info) -> list[TaxonomyTerm] | None:
        return await _terms_of(info, "location", self.row.id)


@shared_type("Service", m.Service)
class Service(Node):
    row: strawberry.Private[Any]

    @strawberry.field(description="Changed fields, newest first, with who and when.")
    async def history(self, info: Info) -> list[DirectoryChange] | None:
        return await history_of(info, "Service", self.row)

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        return await _tenant(info, self.row.tenant_id)

    @strawberry.field
    async def organization(self, info: Info) -> Organization | None:
        return maybe(
            Organization, await info.context.loaders.one(m.Organization, self.row.organization_id)
        )

    @strawberry.field
    async def program(self, info: Info) -> Program | None:
        return maybe(Program, await info.context.loaders.one(m.Program, self.row.program_id))

    @strawberry.field(name="serviceAtLocations")
    async def service_at_locations(self, info: Info) -> list[ServiceAtLocation] | None:
        rows = await info.context.loaders.children(m.ServiceAtLocation, "service_id").load(
            self.row.id
        )
        return many(ServiceAtLocation, rows)

    @strawberry.field
    async def locations(self, info: Info) -> list[Location] | None:
        loaders = info.context.loaders
        links = await loaders.children(m.ServiceAtLocation, "service_id").load(self.row.id)
        return many(Location, await loaders.many(m.Location, [s.location_id for s in links]))

    @strawberry.field
    async def phones(self, info: Info) -> list[Phone] | None:
        return many(
            Phone, await info.context.loaders.children(m.Phone, "service_id").load(self.row.id)
        )

    @strawberry.field
    async def schedules(self, info: Info) -> list[Schedule] | None:
        return many(
            Schedule,
            await info.context.loaders.children(m.Schedule, "service_id").load(self.row.id),
        )

    @strawberry.field
    async def languages(self, info: Info) -> list[Language] | None:
        return many(
            Language,
            await info.context.loaders.children(m.Language, "service_id").load(self.row.id),
        )

    @strawberry.field(name="serviceAreas")
    async def service_areas(self, info: Info) -> list[ServiceArea] | None:
        rows = await info.context.loaders.children(m.ServiceArea, "service_id").load(self.row.id)
        return many(ServiceArea, rows)

    @strawberry.field(name="taxonomyTerms")
    async def taxonomy_terms(self, info: Info) -> list[TaxonomyTerm] | None:
        return await _terms_of(info, "service", self.row.id)

    @strawberry.field
    async def capacities(self, info: Info) -> list[ServiceCapacity] | None:
        rows = await info.context.loaders.children(m.ServiceCapacity, "service_id").load(
            self.row.id
        )
        return many(ServiceCapacity, rows)


@shared_type("ServiceAtLocation", m.ServiceAtLocation)
class ServiceAtLocation(Node):
    row: strawberry.Private[Any]

    @strawberry.field(description="Changed fields, newest first, with who and when.")
    async def history(self, info: Info) -> list[DirectoryChange] | None:
        return await history_of(info, "ServiceAtLocation", self.row)

    @strawberry.field(name="taxonomyTerms")
    async def taxonomy_terms(self, info: Info) -> list[TaxonomyTerm] | None:
        return await _terms_of(info, "service_at_location", self.row.id)

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        return await _tenant(info, self.row.tenant_id)

    @strawberry.field
    async def service(self, info: Info) -> Service | None:
        return maybe(Service, await info.context.loaders.one(m.Service, self.row.service_id))

    @strawberry.field
    async def location(self, info: Info) -> Location | None:
        return maybe(Location, await info.context.loaders.one(m.Location, self.row.location_id))

    @strawberry.field
    async def phones(self, info: Info) -> list[Phone] | None:
        rows = await info.context.loaders.children(m.Phone, "service_at_location_id").load(
            self.row.id
        )
        return many(Phone, rows)

    @strawberry.field
    async def schedules(self, info: Info) -> list[Schedule] | None:
        rows = await info.context.loaders.children(m.Schedule, "service_at_location_id").load(
            self.row.id
        )
        return many(Schedule, rows)
