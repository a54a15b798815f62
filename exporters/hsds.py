"""HSDS 3.0 objects from directory rows, in batches: the one place both the exporters and the
HSDS REST API build them.

:class:`HsdsBuilder` takes a page (or an export batch) of rows and loads everything nested in
them with one statement per table and level, through the plan's row filter for its action, so
the number of statements does not grow with the number of rows. What each object carries is
decided by :mod:`.hsds_spec` and the plan: a nested list or object appears only when the
relation coordinate that governs it is granted (``Service.phones``), and only the rows the
plan lets through are in it.

HSDS 3.1's ``capacities`` (``service_capacity`` with its ``unit``) is added to services; the
3.0 schemas allow extra properties.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.disclosure import Disclosure
from sharegraph.datastore import models as m
from sharegraph.exporters.hsds_spec import (
    ADDRESS,
    LANGUAGE,
    LOCATION,
    ORGANIZATION,
    PHONE,
    PROGRAM,
    SCHEDULE,
    SERVICE,
    SERVICE_AREA,
    SERVICE_AT_LOCATION,
    SERVICE_CAPACITY,
    TAXONOMY,
    TAXONOMY_TERM,
    UNIT,
    Table,
    convert,
    organization_identifiers,
    source_attributes,
)

Row = Any
Obj = dict[str, Any]


def _put(target: Obj, key: str, value: Any) -> None:
    """Set ``key`` unless ``value`` is empty (HSDS leaves empty values out)."""
    if value is not None and value != [] and value != {}:
        target[key] = value


class HsdsBuilder:
    """Builds HSDS objects for one session and one action of a plan."""

    def __init__(self, session: AsyncSession, access: Disclosure, *, raw: bool = False) -> None:
        self.session = session
        self.access = access
        # Text as stored (for AIRS XML): see hsds_spec.RAW_KINDS. The objects may then not
        # validate as HSDS; never serve them as HSDS.
        self.raw = raw
        self._scopes: dict[uuid.UUID, frozenset[str]] = {}

    # -- loading --------------------------------------------------------------------------------
    async def _select(self, model: Any, *where: Any, order: Sequence[Any] = ()) -> list[Row]:
        statement = select(model).where(self.access.where(model), *where).order_by(*order, model.id)
        rows = list((await self.session.scalars(statement)).all())
        self._scopes.update(await self.access.scopes(self.session, model, rows))
        return rows

    async def _by_ids(self, model: Any, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, Row]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        return {row.id: row for row in await self._select(model, model.id.in_(wanted))}

    async def _attached(
        self, model: Any, parents: dict[str, set[uuid.UUID]], order: Sequence[Any] = ()
    ) -> dict[str, dict[uuid.UUID, list[Row]]]:
        """Rows of ``model`` attached to any of ``parents`` (column -> parent ids), grouped by
        column and parent; one statement whatever the number of columns."""
        grouped: dict[str, dict[uuid.UUID, list[Row]]] = {c: defaultdict(list) for c in parents}
        clauses = [getattr(model, c).in_(ids) for c, ids in parents.items() if ids]
        if not clauses:
            return grouped
        for row in await self._select(model, or_(*clauses), order=order):
            for column, ids in parents.items():
                parent = getattr(row, column)
                if parent in ids:
                    grouped[column][parent].append(row)
        return grouped

    def fields(self, table: Table, row: Row) -> frozenset[str]:
        return self.access.fields(table.type_name, row.tenant_id, self._scopes.get(row.id))

    def plain(self, table: Table, row: Row) -> Obj | None:
        """The object's own values (no links, nothing nested)."""
        return convert(table, row, self.fields(table, row), raw=self.raw)

    def _program(self, row: Row) -> Obj | None:
        obj = self.plain(PROGRAM, row)
        if obj is not None:
            _put(obj, "attributes", source_attributes(row, "program"))
        return obj

    def _with(self, table: Table, rows: Iterable[Row], relation: str) -> set[uuid.UUID]:
        return {row.id for row in rows if relation in self.fields(table, row)}

    # -- taxonomy ---------------------------------------------------------------------------------
    async def _terms(self, term_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Obj]:
        rows = await self._by_ids(m.TaxonomyTerm, term_ids)
        return await self.taxonomy_term_objects(list(rows.values()))

    async def taxonomy_term_objects(self, rows: Sequence[Row]) -> dict[uuid.UUID, Obj]:
        parents = await self._by_ids(
            m.TaxonomyTerm,
            {r.parent_id for r in rows if "parent" in self.fields(TAXONOMY_TERM, r)},
        )
        taxonomies = await self._by_ids(
            m.Taxonomy,
            {r.taxonomy_id for r in rows if "taxonomy" in self.fields(TAXONOMY_TERM, r)},
        )
        found: dict[uuid.UUID, Obj] = {}
        for row in rows:
            obj = self.plain(TAXONOMY_TERM, row)
            if obj is None:
                continue
            fields = self.fields(TAXONOMY_TERM, row)
            if "parent" in fields and row.parent_id in parents:
                obj["parent_id"] = str(row.parent_id)
            taxonomy = taxonomies.get(row.taxonomy_id) if "taxonomy" in fields else None
            detail = self.plain(TAXONOMY, taxonomy) if taxonomy is not None else None
            if detail is not None:
                _put(obj, "taxonomy", detail.get("name") or None)
                obj["taxonomy_id"] = detail["id"]
                obj["taxonomy_detail"] = detail
            found[row.id] = obj
        return found

    async def _attributes(self, links: dict[str, set[uuid.UUID]]) -> dict[uuid.UUID, list[Obj]]:
        """Taxonomy attributes of records (entity -> ids whose `taxonomyTerms` may leave)."""
        clauses = [
            and_(m.Attribute.link_entity == entity, m.Attribute.link_id.in_(ids))
            for entity, ids in links.items()
            if ids
        ]
        grouped: dict[uuid.UUID, list[Obj]] = defaultdict(list)
        if not clauses:
            return grouped
        rows = await self._select(m.Attribute, or_(*clauses), order=(m.Attribute.link_id,))
        terms = await self._terms({r.taxonomy_term_id for r in rows})
        for row in rows:
            term = terms.get(row.taxonomy_term_id)
            if term is None:
                continue  # the term itself may not leave: neither does the link
            obj: Obj = {
                "id": str(row.id),
                "link_id": str(row.link_id),
                "taxonomy_term_id": str(row.taxonomy_term_id),
                "link_entity": row.link_entity,
            }
            _put(obj, "link_type", row.link_type or None)
            _put(obj, "value", row.value or None)
            obj["taxonomy_term"] = term
            grouped[row.link_id].append(obj)
        return grouped

    async def _visible(self, model: Any, ids: Iterable[uuid.UUID | None]) -> set[uuid.UUID]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return set()
        statement = select(model.id).where(model.id.in_(wanted), self.access.where(model))
        return set((await self.session.scalars(statement)).all())

    # -- pieces -------------------------------------------------------------------------------
    def _objects(self, table: Table, rows: Iterable[Row]) -> list[Obj]:
        return [obj for obj in (self.plain(table, r) for r in rows) if obj is not None]

    def _organization(self, row: Row) -> Obj | None:
        obj = self.plain(ORGANIZATION, row)
        if obj is not None:
            _put(obj, "organization_identifiers", organization_identifiers(row))
        return obj

    async def _capacities(self, service_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[Obj]]:
        grouped: dict[uuid.UUID, list[Obj]] = defaultdict(list)
        if not service_ids:
            return grouped
        rows = await self._select(m.ServiceCapacity, m.ServiceCapacity.service_id.in_(service_ids))
        units = await self._by_ids(
            m.Unit, {r.unit_id for r in rows if "unit" in self.fields(SERVICE_CAPACITY, r)}
        )
        for row in rows:
            unit = units.get(row.unit_id)
            unit_obj = self.plain(UNIT, unit) if unit is not None else None
            obj = self.plain(SERVICE_CAPACITY, row)
            if obj is None or unit_obj is None:
                continue  # HSDS 3.1 requires the unit
            obj = {
                "id": obj["id"],
                "service_id": str(row.service_id),
                "unit_id": unit_obj["id"],
                "unit": unit_obj,
                **{k: v for k, v in obj.items() if k != "id"},
            }
            grouped[row.service_id].append(obj)
        return grouped

    async def _locations(self, rows: Sequence[Row], *, full: bool) -> dict[uuid.UUID, Obj]:
        """Location objects; ``full`` nests addresses, phones, schedules and languages."""
        organizations = await self._visible(
            m.Organization,
            {r.organization_id for r in rows if "organization" in self.fields(LOCATION, r)},
        )
        found: dict[uuid.UUID, Obj] = {}
        for row in rows:
            obj = self.plain(LOCATION, row)
            if obj is None:
                continue
            if row.organization_id in organizations and "organization" in self.fields(
                LOCATION, row
            ):
                obj["organization_id"] = str(row.organization_id)
            found[row.id] = obj
        if not full or not found:
            return found
        kept = [r for r in rows if r.id in found]
        addresses = await self._attached(
            m.Address, {"location_id": self._with(LOCATION, kept, "addresses")}
        )
        phones = await self._attached(
            m.Phone, {"location_id": self._with(LOCATION, kept, "phones")}
        )
        schedules = await self._attached(
            m.Schedule, {"location_id": self._with(LOCATION, kept, "schedules")}
        )
        languages = await self._attached(
            m.Language, {"location_id": self._with(LOCATION, kept, "languages")}
        )
        for row in kept:
            obj = found[row.id]
            _put(obj, "languages", self._objects(LANGUAGE, languages["location_id"][row.id]))
            _put(obj, "addresses", self._objects(ADDRESS, addresses["location_id"][row.id]))
            _put(obj, "phones", self._objects(PHONE, phones["location_id"][row.id]))
            _put(obj, "schedules", self._objects(SCHEDULE, schedules["location_id"][row.id]))
        return found

    async def service_at_location_objects(
        self,
        rows: Sequence[Row],
        *,
        full: bool,
        with_service: bool = False,
    ) -> list[Obj]:
        """Service-at-location objects: ``full`` nests phones, schedules, attributes and the full
        location; otherwise the location's and (``with_service``) the service's own values."""
        locations_rows = await self._by_ids(
            m.Location,
            {r.location_id for r in rows if "location" in self.fields(SERVICE_AT_LOCATION, r)},
        )
        locations = await self._locations(list(locations_rows.values()), full=full)
        linked = {r.service_id for r in rows if "service" in self.fields(SERVICE_AT_LOCATION, r)}
        services: dict[uuid.UUID, Row] = {}
        if with_service:
            services = await self._by_ids(m.Service, linked)
            visible_services = set(services)
        else:
            visible_services = await self._visible(m.Service, linked)
        phones: dict[str, dict[uuid.UUID, list[Row]]] = {}
        schedules: dict[str, dict[uuid.UUID, list[Row]]] = {}
        attributes: dict[uuid.UUID, list[Obj]] = {}
        if full:
            column = "service_at_location_id"
            phones = await self._attached(
                m.Phone, {column: self._with(SERVICE_AT_LOCATION, rows, "phones")}
            )
            schedules = await self._attached(
                m.Schedule, {column: self._with(SERVICE_AT_LOCATION, rows, "schedules")}
            )
            attributes = await self._attributes(
                {"service_at_location": self._with(SERVICE_AT_LOCATION, rows, "taxonomyTerms")}
            )
        found = []
        for row in rows:
            obj = self.plain(SERVICE_AT_LOCATION, row)
            if obj is None:
                continue
            fields = self.fields(SERVICE_AT_LOCATION, row)
            head: Obj = {"id": obj.pop("id")}
            if "service" in fields and row.service_id in visible_services:
                head["service_id"] = str(row.service_id)
            location = locations.get(row.location_id) if "location" in fields else None
            if location is not None:
                head["location_id"] = str(row.location_id)
            obj = {**head, **obj}
            if full:
                _put(obj, "phones", self._objects(PHONE, phones[column][row.id]))
                _put(obj, "schedules", self._objects(SCHEDULE, schedules[column][row.id]))
            _put(obj, "location", location)
            service = services.get(row.service_id)
            if service is not None:
                _put(obj, "service", self.plain(SERVICE, service))
            attached = [*attributes.get(row.id, []), *source_attributes(row, "service_at_location")]
            if full:
                _put(obj, "attributes", attached)
            found.append(obj)
        return found

    # -- services -------------------------------------------------------------------------------
    async def service_objects(self, rows: Sequence[Row], *, full: bool) -> list[Obj]:
        """Service objects for a page or batch of services (rows the plan let through).

        ``full=False``: the one-to-one values with the organization and program (the HSDS
        ``service_list`` shape); ``full=True``: everything nested, as ``/services/{id}``.
        """
        self._scopes.update(await self.access.scopes(self.session, m.Service, rows))
        organizations = await self._by_ids(
            m.Organization,
            {r.organization_id for r in rows if self._has(SERVICE, r, "organization")},
        )
        programs = await self._by_ids(
            m.Program, {r.program_id for r in rows if self._has(SERVICE, r, "program")}
        )
        nested: dict[str, Any] = {}
        if full:
            nested = await self._service_children(rows)
        found = []
        for row in rows:
            obj = self.plain(SERVICE, row)
            if obj is None:
                continue
            head: Obj = {"id": obj.pop("id")}
            organization = organizations.get(row.organization_id)
            if organization is not None and self._has(SERVICE, row, "organization"):
                head["organization_id"] = str(row.organization_id)
            program = programs.get(row.program_id) if row.program_id else None
            if program is not None and self._has(SERVICE, row, "program"):
                head["program_id"] = str(row.program_id)
            obj = {**head, **obj}
            if full:
                self._nest_service(obj, row, nested)
            _put(obj, "organization", self._organization(organization) if organization else None)
            _put(obj, "program", self._program(program) if program is not None else None)
            if full:
                _put(
                    obj,
                    "attributes",
                    nested["attributes"].get(row.id, []) + source_attributes(row, "service"),
                )
                _put(obj, "capacities", nested["capacities"].get(row.id))
            found.append(obj)
        return found

    def _has(self, table: Table, row: Row, relation: str) -> bool:
        return relation in self.fields(table, row)

    async def _service_children(self, rows: Sequence[Row]) -> dict[str, Any]:
        sals = await self._attached(
            m.ServiceAtLocation,
            {"service_id": self._with(SERVICE, rows, "serviceAtLocations")},
        )
        every_sal = [s for group in sals["service_id"].values() for s in group]
        return {
            "sals": sals["service_id"],
            "sal_objects": {
                o["id"]: o for o in await self.service_at_location_objects(every_sal, full=True)
            },
            "phones": await self._attached(
                m.Phone, {"service_id": self._with(SERVICE, rows, "phones")}
            ),
            "schedules": await self._attached(
                m.Schedule, {"service_id": self._with(SERVICE, rows, "schedules")}
            ),
            "languages": await self._attached(
                m.Language, {"service_id": self._with(SERVICE, rows, "languages")}
            ),
            "areas": await self._attached(
                m.ServiceArea, {"service_id": self._with(SERVICE, rows, "serviceAreas")}
            ),
            "attributes": await self._attributes(
                {"service": self._with(SERVICE, rows, "taxonomyTerms")}
            ),
            "capacities": await self._capacities(self._with(SERVICE, rows, "capacities")),
        }

    def _nest_service(self, obj: Obj, row: Row, nested: dict[str, Any]) -> None:
        _put(obj, "phones", self._objects(PHONE, nested["phones"]["service_id"][row.id]))
        _put(obj, "schedules", self._objects(SCHEDULE, nested["schedules"]["service_id"][row.id]))
        _put(
            obj, "service_areas", self._objects(SERVICE_AREA, nested["areas"]["service_id"][row.id])
        )
        sal_objects = nested["sal_objects"]
        _put(
            obj,
            "service_at_locations",
            [sal_objects[str(s.id)] for s in nested["sals"][row.id] if str(s.id) in sal_objects],
        )
        _put(obj, "languages", self._objects(LANGUAGE, nested["languages"]["service_id"][row.id]))

    # -- organizations --------------------------------------------------------------------------
    async def organization_objects(
        self, rows: Sequence[Row], *, full: bool, full_services: bool = False
    ) -> list[Obj]:
        """Organization objects: the one-to-one values (``organization_list``), or with ``full``
        their phones, programs, locations, services, identifiers and attributes."""
        self._scopes.update(await self.access.scopes(self.session, m.Organization, rows))
        found = []
        nested: dict[str, Any] = {}
        if full:
            nested = await self._organization_children(rows, full_services=full_services)
        for row in rows:
            obj = self.plain(ORGANIZATION, row)
            if obj is None:
                continue
            if full:
                _put(
                    obj, "phones", self._objects(PHONE, nested["phones"]["organization_id"][row.id])
                )
                _put(obj, "locations", nested["locations"].get(row.id))
                programs = [self._program(p) for p in nested["programs"]["organization_id"][row.id]]
                _put(obj, "programs", [p for p in programs if p is not None])
                _put(obj, "services", nested["services"].get(row.id))
                _put(obj, "organization_identifiers", organization_identifiers(row))
                _put(obj, "attributes", nested["attributes"].get(row.id))
            found.append(obj)
        return found

    async def _organization_children(
        self, rows: Sequence[Row], *, full_services: bool
    ) -> dict[str, Any]:
        services = await self._attached(
            m.Service,
            {"organization_id": self._with(ORGANIZATION, rows, "services")},
            order=(m.Service.name,),
        )
        every_service = [s for group in services["organization_id"].values() for s in group]
        service_objects = {
            o["id"]: o for o in await self.service_objects(every_service, full=full_services)
        }
        locations = await self._attached(
            m.Location,
            {"organization_id": self._with(ORGANIZATION, rows, "locations")},
            order=(m.Location.name,),
        )
        every_location = [loc for group in locations["organization_id"].values() for loc in group]
        location_objects = await self._locations(every_location, full=True)
        return {
            "services": {
                parent: [service_objects[str(s.id)] for s in group if str(s.id) in service_objects]
                for parent, group in services["organization_id"].items()
            },
            "locations": {
                parent: [location_objects[loc.id] for loc in group if loc.id in location_objects]
                for parent, group in locations["organization_id"].items()
            },
            "phones": await self._attached(
                m.Phone, {"organization_id": self._with(ORGANIZATION, rows, "phones")}
            ),
            "programs": await self._attached(
                m.Program,
                {"organization_id": self._with(ORGANIZATION, rows, "programs")},
                order=(m.Program.name,),
            ),
            "attributes": await self._attributes(
                {"organization": self._with(ORGANIZATION, rows, "taxonomyTerms")}
            ),
        }

    # -- taxonomies -----------------------------------------------------------------------------
    async def taxonomy_objects(self, rows: Sequence[Row]) -> list[Obj]:
        self._scopes.update(await self.access.scopes(self.session, m.Taxonomy, rows))
        return self._objects(TAXONOMY, rows)

    async def taxonomy_term_list(self, rows: Sequence[Row]) -> list[Obj]:
        self._scopes.update(await self.access.scopes(self.session, m.TaxonomyTerm, rows))
        objects = await self.taxonomy_term_objects(rows)
        return [objects[r.id] for r in rows if r.id in objects]
