"""Small hand-built networks for tests that need exact data (the demo is for user stories)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sharegraph.authz.credentials import generate_key
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import PrincipalKind, Role
from sharegraph.datastore.models import (
    ApiKey,
    Attribute,
    Location,
    Organization,
    Principal,
    RoleAssignment,
    Service,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
    Tenant,
)


@dataclass
class Network:
    tenant_id: uuid.UUID
    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, uuid.UUID] = field(default_factory=dict)


async def add_tenant_with_admin(db: Database, name: str, principal: str) -> tuple[uuid.UUID, str]:
    key = generate_key()
    tenant_id, principal_id = uuid.uuid4(), uuid.uuid4()
    async with db.write_session() as session:
        session.add(Tenant(id=tenant_id, name=name, time_zone="America/Chicago"))
        await session.flush()
        session.add(
            Principal(id=principal_id, name=principal, kind=PrincipalKind.USER, tenant_id=tenant_id)
        )
        await session.flush()
        session.add(
            RoleAssignment(principal_id=principal_id, role=Role.TENANT_ADMIN, tenant_id=tenant_id)
        )
        session.add(ApiKey(principal_id=principal_id, prefix=key.prefix, key_hash=key.key_hash))
    return tenant_id, key.plaintext


SERVICES: list[tuple[str, str, float, float]] = [
    # name, description, latitude, longitude
    ("Emergency Food Pantry", "Groceries every week for families", 41.60, -93.60),
    ("Pantry Plus Delivery", "Home delivered meals", 41.62, -93.58),
    ("Rapid Re-Housing", "Rental assistance and case management", 41.90, -93.10),
    ("Legal Aid Clinic", "Free advice on eviction", 42.50, -96.40),
    ("Crisis Counseling", "24/7 CRISIS line and mobile team", 41.61, -93.61),
    ("Café Médico", "Clinique communautaire", 41.59, -93.62),
]


async def directory_network(db: Database) -> Network:
    """One tenant with six services at known places, tagged with two taxonomy terms."""
    tenant_id, key = await add_tenant_with_admin(db, "Test 211", "test-admin")
    net = Network(tenant_id=tenant_id, keys={"test-admin": key})
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.write_session() as session:
        taxonomy = Taxonomy(id=uuid.uuid4(), tenant_id=tenant_id, name="AIRS")
        session.add(taxonomy)
        await session.flush()
        food = TaxonomyTerm(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            taxonomy_id=taxonomy.id,
            code="BD-1800",
            name="Food Pantries",
        )
        housing = TaxonomyTerm(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            taxonomy_id=taxonomy.id,
            code="BH-1800",
            name="Housing",
        )
        session.add_all([food, housing])
        org = Organization(id=uuid.uuid4(), tenant_id=tenant_id, name="Community Services Network")
        session.add(org)
        await session.flush()
        net.ids.update(food=food.id, housing=housing.id, org=org.id)
        for i, (name, description, lat, lon) in enumerate(SERVICES):
            stamp = base + timedelta(days=i)
            service = Service(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                organization_id=org.id,
                name=name,
                description=description,
                created_at=stamp,
                updated_at=stamp,
            )
            location = Location(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                organization_id=org.id,
                name=f"{name} site",
                latitude=lat,
                longitude=lon,
                created_at=stamp,
                updated_at=stamp,
            )
            session.add_all([service, location])
            await session.flush()
            session.add(
                ServiceAtLocation(
                    tenant_id=tenant_id, service_id=service.id, location_id=location.id
                )
            )
            term = food.id if "Pantry" in name else housing.id if "Housing" in name else None
            if term is not None:
                session.add(
                    Attribute(
                        tenant_id=tenant_id,
                        link_id=service.id,
                        link_type="taxonomy_term",
                        link_entity="service",
                        taxonomy_term_id=term,
                    )
                )
            net.ids[name] = service.id
    return net


def names(data: dict[str, Any], field_name: str = "services") -> list[str]:
    return [edge["node"]["name"] for edge in data[field_name]["edges"]]
