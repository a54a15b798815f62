"""The demo seed: idempotent, deterministic, consistent with the models' contracts."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sharegraph.authz.credentials import demo_key, key_matches
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import (
    STATUSES_NEEDING_REASON,
    FieldType,
    PrincipalKind,
    ReferralStatus,
    Role,
)
from sharegraph.datastore.models import (
    ApiKey,
    ContactRecord,
    Event,
    FormField,
    Instance,
    Organization,
    Principal,
    QueueEntry,
    QueueStatus,
    Referral,
    ReferralStatusChange,
    RoleAssignment,
    Service,
    ServiceAtLocation,
    ServiceCapacity,
)
from sharegraph.demo.network import (
    DEMO_PRINCIPALS,
    DIRECTORY,
    RESULT_MODELS,
    TERMS,
    SeedResult,
    demo_principal_keys,
    is_demo,
    seed,
)
from sharegraph.demo.statewide import SERVICES_PER_STEP, _towns, statewide, town_count

SECRET = "test-demo-secret"


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory}/demo.db"


@pytest.fixture(scope="module")
async def seeded(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Database, SeedResult]]:
    db = Database(sqlite_url(tmp_path_factory.mktemp("demo")))
    result = await seed(db, demo_secret=SECRET)
    yield db, result
    await db.dispose()


async def test_first_seed_creates_and_second_leaves_data_alone(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, first = seeded
    assert first.created is True
    assert first.contact_records == 300
    again = await seed(db, demo_secret=SECRET)
    assert again.created is False
    # The second call only counts what is there.
    assert {k: v for k, v in asdict(again).items() if k not in ("created", "seconds")} == {
        k: v for k, v in asdict(first).items() if k not in ("created", "seconds")
    }


async def test_counts_match_the_result(seeded: tuple[Database, SeedResult]) -> None:
    db, result = seeded
    async with db.read_session() as session:
        for name, model in RESULT_MODELS.items():
            count = await session.scalar(select(func.count()).select_from(model))
            assert count == getattr(result, name), name
    assert result.tenants == 3
    assert result.partner_organizations == 2
    assert result.principals == len(DEMO_PRINCIPALS) == 11


async def test_instance_is_marked_demo(seeded: tuple[Database, SeedResult]) -> None:
    db, _ = seeded
    assert await is_demo(db) is True
    async with db.read_session() as session:
        instance = await session.get(Instance, 1)
    assert instance is not None and instance.demo is True and len(instance.secret) == 64


def test_demo_principals_table() -> None:
    names = [p.name for p in DEMO_PRINCIPALS]
    assert len(names) == len(set(names))
    for slug in ("prairie", "lakeside", "riverbend"):
        assert {f"{slug}-admin", f"{slug}-call-taker", f"{slug}-api"} <= set(names)
    partners = [p for p in DEMO_PRINCIPALS if p.role is Role.PORTAL_USER]
    assert [(p.name, p.tenant, p.organization) for p in partners] == [
        ("eastside-portal", None, "Eastside Food Pantry"),
        ("harbor-portal", None, "Harbor Housing"),
    ]
    assert {p.name for p in DEMO_PRINCIPALS if p.kind is PrincipalKind.API_CLIENT} == {
        "prairie-api",
        "lakeside-api",
        "riverbend-api",
    }


async def test_partner_principals_have_an_organization_and_no_tenant(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    async with db.read_session() as session:
        rows = (
            await session.execute(
                select(Principal, RoleAssignment)
                .join(RoleAssignment, RoleAssignment.principal_id == Principal.id)
                .where(RoleAssignment.role == Role.PORTAL_USER)
            )
        ).all()
    assert len(rows) == 2
    for principal, assignment in rows:
        assert principal.tenant_id is None and principal.partner_organization_id is not None
        assert assignment.tenant_id is None
        assert assignment.partner_organization_id == principal.partner_organization_id


async def test_demo_api_keys_verify(seeded: tuple[Database, SeedResult]) -> None:
    db, _ = seeded
    async with db.read_session() as session:
        keys = {
            name: key
            for name, key in (
                await session.execute(
                    select(Principal.name, ApiKey).join(ApiKey, ApiKey.principal_id == Principal.id)
                )
            ).all()
        }
    assert set(keys) == {p.name for p in DEMO_PRINCIPALS}
    for listed in demo_principal_keys(SECRET):
        name = listed["name"]
        assert name is not None and listed["apiKey"] is not None
        stored = keys[name]
        issued = demo_key(SECRET, name)
        assert stored.demo is True
        assert stored.prefix == issued.prefix
        assert stored.key_hash == issued.key_hash
        assert key_matches(listed["apiKey"], stored.key_hash)


async def test_every_contact_record_has_exactly_one_event(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, result = seeded
    async with db.read_session() as session:
        per_record = (
            await session.execute(
                select(ContactRecord.id, func.count(Event.position))
                .outerjoin(
                    Event,
                    (Event.record_id == ContactRecord.id) & (Event.record_type == "ContactRecord"),
                )
                .group_by(ContactRecord.id)
            )
        ).all()
        by_type = dict(
            (
                await session.execute(
                    select(Event.record_type, func.count()).group_by(Event.record_type)
                )
            ).all()
        )
    assert len(per_record) == result.contact_records
    assert all(count == 1 for _, count in per_record)
    assert by_type == {
        "ContactRecord": result.contact_records,
        "Referral": result.referrals,
        "Outcome": result.outcomes,
        "QueueEntry": result.queue_entries,
        "ServiceCapacity": result.service_capacities,
    }


async def test_records_are_consistent(seeded: tuple[Database, SeedResult]) -> None:
    db, _ = seeded
    now = datetime.now(UTC)
    async with db.read_session() as session:
        records = (await session.scalars(select(ContactRecord))).all()
        fields: dict[tuple[object, str], FormField] = {
            (f.form_version_id, f.key): f for f in (await session.scalars(select(FormField))).all()
        }
        referrals = (await session.scalars(select(Referral))).all()
        history = (
            await session.scalars(
                select(ReferralStatusChange).order_by(ReferralStatusChange.changed_at)
            )
        ).all()
        capacities = (await session.scalars(select(ServiceCapacity))).all()
    for record in records:
        assert record.started_at.tzinfo is not None and record.started_at < now
        assert record.ended_at is not None and record.started_at < record.ended_at < now
        for key, value in record.answers.items():
            field = fields[(record.form_version_id, key)]
            if field.type is FieldType.MULTI_SELECT:
                assert isinstance(value, list) and set(value) <= set(field.options or [])
            elif field.type is FieldType.SINGLE_SELECT:
                assert value in (field.options or [])
            elif field.type is FieldType.NUMBER:
                assert isinstance(value, int)
            elif field.type is FieldType.BOOLEAN:
                assert isinstance(value, bool)
            elif field.type is FieldType.DATE:
                date.fromisoformat(value)
            else:
                assert isinstance(value, str)
    last_change: dict[object, ReferralStatusChange] = {}
    for change in history:
        assert change.changed_at <= now
        last_change[change.referral_id] = change
    for referral in referrals:
        assert last_change[referral.id].to_status is referral.status
        assert (referral.status_reason is not None) == (referral.status in STATUSES_NEEDING_REASON)
    assert {r.status for r in referrals} == set(ReferralStatus)
    for capacity in capacities:
        assert 0 <= capacity.reserved <= capacity.available <= (capacity.maximum or 0)


async def test_two_seeds_produce_the_same_ids(
    seeded: tuple[Database, SeedResult], tmp_path: Path
) -> None:
    first_db, _ = seeded
    other = Database(sqlite_url(tmp_path))
    try:
        assert (await seed(other, demo_secret=SECRET)).created is True
        ids = []
        for db in (first_db, other):
            async with db.read_session() as session:
                ids.append(
                    (
                        (
                            await session.scalars(
                                select(ContactRecord.id).order_by(ContactRecord.id)
                            )
                        ).all(),
                        (await session.scalars(select(Referral.id).order_by(Referral.id))).all(),
                        (
                            await session.scalars(
                                select(ContactRecord.answers).order_by(ContactRecord.id)
                            )
                        ).all(),
                    )
                )
    finally:
        await other.dispose()
    assert ids[0] == ids[1]
    assert len(ids[0][0]) == 300


async def test_scale_grows_the_directory_and_the_activity(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path))
    try:
        result = await seed(db, scale=2, demo_secret=SECRET)
        async with db.read_session() as session:
            services = await session.scalar(select(func.count()).select_from(Service))
            statewide_referrals = await session.scalar(
                select(func.count())
                .select_from(Referral)
                .join(ServiceAtLocation, ServiceAtLocation.id == Referral.service_at_location_id)
                .join(Service, Service.id == ServiceAtLocation.service_id)
                .join(Organization, Organization.id == Service.organization_id)
                .where(Organization.name.not_in([org.name for org in DIRECTORY]))
            )
    finally:
        await db.dispose()
    assert result.created is True
    # One statewide step: 150 generated services on top of the 33 hand-written ones, and
    # 1 + 3.5 times scale 1's activity.
    assert result.services == 33 + SERVICES_PER_STEP == services
    assert result.organizations > 18 and result.locations > 23
    assert result.contact_records == 1350
    assert result.clients == 900
    assert statewide_referrals and statewide_referrals > result.referrals // 5


def test_the_statewide_directory_is_deterministic_and_complete() -> None:
    first, again = statewide(4), statewide(4)
    assert first == again
    assert statewide(1).organizations == []
    services = [svc for org in first.organizations for svc in org.services]
    assert len(services) == 3 * SERVICES_PER_STEP
    names = [org.name for org in first.organizations]
    assert len(set(names)) == len(names)  # realistic names, never the same one twice
    known_terms = {code for code, _, _ in TERMS}
    for org in first.organizations:
        assert org.locations and org.services
        assert all(loc.city in first.cities for loc in org.locations)
        assert all(svc.terms and set(svc.terms) <= known_terms for svc in org.services)


async def test_assigned_queue_entries_link_to_their_referrals(
    seeded: tuple[Database, SeedResult],
) -> None:
    db, _ = seeded
    async with db.read_session() as session:
        rows = (
            await session.execute(
                select(QueueEntry, Referral, QueueStatus.canonical_status)
                .outerjoin(Referral, Referral.id == QueueEntry.referral_id)
                .join(
                    QueueStatus,
                    (QueueStatus.queue_id == QueueEntry.queue_id)
                    & (QueueStatus.key == QueueEntry.status_key),
                )
            )
        ).all()
    linked = [(entry, referral, status) for entry, referral, status in rows if referral]
    assert linked
    for entry, referral, status in rows:
        # An entry is linked exactly when it was assigned to a program, as assignQueueEntry does.
        assert (referral is not None) == (entry.assigned_program_id is not None)
        if referral is None:
            continue
        assert referral.contact_record_id == entry.contact_record_id
        assert referral.program_id == entry.assigned_program_id
        assert referral.tenant_id == entry.tenant_id
        assert referral.status is status


async def test_scale_must_be_positive(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path))
    try:
        with pytest.raises(ValueError):
            await seed(db, scale=0, demo_secret=SECRET)
    finally:
        await db.dispose()


def test_the_largest_scale_gets_its_towns() -> None:
    """`--scale 1000` (the CLI's maximum) asked for more distinct town names than the generator
    can make, and seeding looped for ever before writing a row."""
    count = town_count(1000)
    towns = _towns(random.Random(0), count)
    assert len(towns) == count == len({city[0] for _, city in towns})
