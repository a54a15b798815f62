"""Row scopes: the SQL form of each scope (``scopes.sql``) selects exactly the rows its plain
Python reference predicate (``scopes.reference``) accepts, on the demo network, on both backends.

For every scope of the vocabulary, every scoped model and four grantees (two partners, two
tenants), ``SELECT id FROM model WHERE sql(model, scope, grantee)`` must equal
``{row | reference(type)(facts, row, scope, grantee)}``, where ``facts`` is loaded plainly from
the tables.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy import text as sql_text

from sharegraph.authz import scopes
from sharegraph.authz.scopes import Facts, Grantee, Scope
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import Channel
from sharegraph.datastore.models import (
    Address,
    Client,
    ContactFormVersion,
    ContactRecord,
    DirectoryChange,
    FollowUp,
    Inventory,
    InventoryItem,
    Location,
    Organization,
    Program,
    QueueEntry,
    QueueProgram,
    Referral,
    ReferralQueue,
    Service,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
)
from sharegraph.demo import demo_id

MODELS: dict[type[Any], str] = {
    ContactRecord: "ContactRecord",
    Client: "Client",
    Referral: "Referral",
    FollowUp: "FollowUp",
    Organization: "Organization",
    Service: "Service",
    Location: "Location",
    ServiceAtLocation: "ServiceAtLocation",
    Program: "Program",
    TaxonomyTerm: "TaxonomyTerm",
    Taxonomy: "Taxonomy",
    ReferralQueue: "ReferralQueue",
    QueueEntry: "QueueEntry",
}
PRAIRIE = demo_id("tenant", "prairie")
GRANTEES = {
    "Eastside (partner)": Grantee(partner_id=demo_id("partner-organization", "eastside")),
    "Harbor (partner)": Grantee(partner_id=demo_id("partner-organization", "harbor")),
    "Lakeside (tenant)": Grantee(tenant_id=demo_id("tenant", "lakeside")),
    "Prairie (tenant)": Grantee(tenant_id=PRAIRIE),
}
AFTER_HOURS_FORM = demo_id("contact-form", "prairie-after-hours")


@dataclass
class World:
    facts: Facts
    rows: dict[type[Any], list[Any]]
    scopes: list[Scope]
    probes: list[Scope]  # scopes expected to select nothing (LIKE wildcards are escaped)


async def _add_inventories(db: Database) -> uuid.UUID:
    """An inventory of a whole organization, a service, a location and a service at a location
    of other organizations; and a decoy inventory whose items must not count."""
    async with db.write_session() as session:
        orgs = list(
            (
                await session.scalars(
                    select(Organization)
                    .where(Organization.tenant_id == PRAIRIE)
                    .order_by(Organization.name)
                )
            ).all()
        )
        services = list((await session.scalars(select(Service).order_by(Service.name))).all())
        locations = list((await session.scalars(select(Location).order_by(Location.name))).all())
        sals = list((await session.scalars(select(ServiceAtLocation))).all())
        with_programs = set((await session.scalars(select(Program.organization_id))).all())
        whole = next(o for o in orgs if o.id in with_programs)  # its programs are listed too
        service = next(s for s in services if s.organization_id != whole.id)
        location = next(
            loc
            for loc in locations
            if loc.organization_id not in {whole.id, service.organization_id}
        )
        sal = next(
            s
            for s in sals
            if s.service_id != service.id
            and s.location_id != location.id
            and s.service_id not in {x.id for x in services if x.organization_id == whole.id}
        )
        inventory, decoy = uuid.uuid4(), uuid.uuid4()
        session.add_all(
            [
                Inventory(id=inventory, tenant_id=PRAIRIE, name="Row scope test"),
                Inventory(id=decoy, tenant_id=PRAIRIE, name="Row scope decoy"),
            ]
        )
        await session.flush()
        items = [
            (inventory, "organization", whole.id),
            (inventory, "service", service.id),
            (inventory, "location", location.id),
            (inventory, "service_at_location", sal.id),
            (inventory, "organization", uuid.uuid4()),  # a dangling item lists nothing
            (decoy, "organization", orgs[-1].id if orgs[-1].id != whole.id else orgs[0].id),
            (decoy, "service", services[-1].id),
            (decoy, "location", locations[-1].id),
        ]
        session.add_all(
            InventoryItem(tenant_id=PRAIRIE, inventory_id=i, record_type=t, record_id=r)
            for i, t, r in items
        )
    return inventory


async def _load(db: Database) -> World:
    inventory = await _add_inventories(db)
    async with db.read_session() as session:

        async def rows(model: type[Any]) -> list[Any]:
            return list((await session.scalars(select(model))).all())

        loaded = {model: await rows(model) for model in MODELS}
        facts = Facts(
            referrals=loaded[Referral],
            queue_entries=loaded[QueueEntry],
            queue_programs=await rows(QueueProgram),
            follow_ups=loaded[FollowUp],
            records={r.id: r for r in loaded[ContactRecord]},
            form_of_version={v.id: v.form_id for v in await rows(ContactFormVersion)},
            organizations={o.id: o for o in loaded[Organization]},
            services={s.id: s for s in loaded[Service]},
            programs={p.id: p for p in loaded[Program]},
            sals={s.id: s for s in loaded[ServiceAtLocation]},
            locations={loc.id: loc for loc in loaded[Location]},
            addresses=await rows(Address),
            inventory={
                (i.inventory_id, i.record_type, i.record_id) for i in await rows(InventoryItem)
            },
        )
    # A county and a postal prefix the demo's callers and directory addresses both have.
    record_counties = {r.caller_county for r in loaded[ContactRecord]}
    county = next(
        c
        for c, _ in Counter(a.region for a in facts.addresses).most_common()
        if c in record_counties
    )
    prefix = next(  # a prefix of another county's postal codes
        p
        for p, _ in Counter(
            (a.postal_code or "")[:3] for a in facts.addresses if a.region != county
        ).most_common()
        if any((r.caller_postal_code or "").startswith(p) for r in loaded[ContactRecord])
    )
    return World(
        facts=facts,
        rows=loaded,
        scopes=[
            scopes.parse(text)
            for text in (
                "all",
                "referred_to_grantee",
                "assigned_to_grantee",
                "follow_up_assigned_to_grantee",
                f"shared_form:{AFTER_HOURS_FORM}",
                f"region:{county}",
                f"region:{prefix}",
                f"inventory:{inventory}",
            )
        ],
        probes=[scopes.parse(f"region:{prefix[:2]}%"), scopes.parse(f"region:{prefix[0]}_")],
    )


async def test_sql_scopes_select_what_the_reference_predicates_accept(
    seeded_db: Database,
) -> None:
    world = await _load(seeded_db)
    mismatches: list[str] = []
    selected: Counter[str] = Counter()  # rows selected per scope, taxonomies aside
    async with seeded_db.read_session() as session:
        for scope in [*world.scopes, *world.probes]:
            for model, type_name in MODELS.items():
                predicate = scopes.reference(type_name)
                for name, grantee in GRANTEES.items():
                    by_sql = set(
                        (
                            await session.scalars(
                                select(model.id).where(scopes.sql(model, scope, grantee))
                            )
                        ).all()
                    )
                    by_reference = {
                        row.id
                        for row in world.rows[model]
                        if predicate(world.facts, row, scope, grantee)
                    }
                    if model not in (Taxonomy, TaxonomyTerm):  # shared with region/inventory
                        selected[str(scope)] += len(by_sql)
                    if by_sql != by_reference:
                        mismatches.append(
                            f"{scope} on {type_name} for {name}: SQL only "
                            f"{sorted(map(str, by_sql - by_reference))[:5]} "
                            f"({len(by_sql - by_reference)}), reference only "
                            f"{sorted(map(str, by_reference - by_sql))[:5]} "
                            f"({len(by_reference - by_sql)})"
                        )
    assert not mismatches, "\n".join(mismatches)
    # Not vacuous: every scope selects rows somewhere, and none selects everything everywhere.
    total = len(GRANTEES) * sum(
        len(rows) for model, rows in world.rows.items() if model not in (Taxonomy, TaxonomyTerm)
    )
    assert selected["all"] == total
    for scope in world.scopes[1:]:
        assert 0 < selected[str(scope)] < total, (str(scope), selected)
    for probe in world.probes:
        assert selected[str(probe)] == 0, (str(probe), selected)


async def test_region_postal_prefixes_are_case_sensitive(
    seeded_db: Database, backend: str, request: pytest.FixtureRequest
) -> None:
    """A postal code with letters (Canada, the UK...): ``region:k1a`` does not match ``K1A``."""
    async with seeded_db.write_session() as session:
        client = Client(tenant_id=PRAIRIE, first_name="Case", postal_code="K1A 0B1")
        session.add(client)
        await session.flush()
        record = ContactRecord(
            tenant_id=PRAIRIE,
            channel=Channel.CALL,
            started_at=datetime.now(UTC),
            client_id=client.id,
            caller_postal_code="K1A 0B1",
        )
        session.add(record)
        await session.flush()
        ids: dict[type[Any], uuid.UUID] = {Client: client.id, ContactRecord: record.id}
    facts = Facts(records={record.id: record})
    grantee = GRANTEES["Lakeside (tenant)"]
    disagreements = []
    async with seeded_db.read_session() as session:
        for text in ("region:K1A", "region:k1a"):
            scope = scopes.parse(text)
            for model, row_id in ids.items():
                by_sql = row_id in set(
                    (
                        await session.scalars(
                            select(model.id).where(
                                model.id == row_id, scopes.sql(model, scope, grantee)
                            )
                        )
                    ).all()
                )
                row = client if model is Client else record
                by_reference = scopes.reference(MODELS[model])(facts, row, scope, grantee)
                if by_sql != by_reference:
                    disagreements.append(
                        f"{text} on {MODELS[model]} with postal code K1A 0B1: "
                        f"SQL {by_sql}, reference {by_reference}"
                    )
    assert not disagreements, "\n".join(disagreements)


# A child row reached from its parent row through a foreign key (a record's client, a
# service's phones): the scope may decide it by the parent row first (``scopes.sql_via``).
LINKS: list[tuple[type[Any], Any, type[Any], Any]] = [
    (Client, ContactRecord.client_id, ContactRecord, ContactRecord.client_id == Client.id),
    (
        Referral,
        Referral.contact_record_id,
        ContactRecord,
        Referral.contact_record_id == ContactRecord.id,
    ),
    (
        FollowUp,
        FollowUp.contact_record_id,
        ContactRecord,
        FollowUp.contact_record_id == ContactRecord.id,
    ),
    *(
        (child, foreign_key, parent, foreign_key == parent.id)
        for child, pairs in scopes.CHILD_PARENTS.items()
        for foreign_key, parent in pairs
    ),
]


async def test_scopes_decided_through_a_parent_row_select_the_same_rows(
    seeded_db: Database,
) -> None:
    """For every (child, parent) link, scope and grantee: the parent's test implies the
    child's (it may only come first, never admit more), and with it the child rows selected
    through their parent rows are exactly those the plain scope selects."""
    world = await _load(seeded_db)
    problems: list[str] = []
    decided_by_parent = 0
    async with seeded_db.read_session() as session:
        for child, link, parent, join in LINKS:
            pairs = select(parent.id, child.id).select_from(parent).join(child, join)

            async def selected(predicate: Any, pairs: Any = pairs) -> set[tuple[Any, ...]]:
                return {tuple(row) for row in await session.execute(pairs.where(predicate))}

            for scope in world.scopes:
                for name, grantee in GRANTEES.items():
                    where = f"{scope} on {child.__name__} via {link} for {name}"
                    plain = await selected(scopes.sql(child, scope, grantee))
                    through = await selected(scopes.sql_via(child, (scope,), grantee, link))
                    if through != plain:
                        problems.append(
                            f"{where}: {len(through - plain)} more, {len(plain - through)} fewer"
                        )
                    implied = scopes.implied_by_parent(child, scope, grantee, link)
                    if implied is None:
                        continue
                    by_parent = await selected(implied)
                    if not by_parent <= plain:
                        problems.append(f"{where}: the parent admits {len(by_parent - plain)} more")
                    decided_by_parent += len(by_parent)
    assert not problems, "\n".join(problems)
    assert decided_by_parent > 0  # not vacuous: parents do decide rows


def test_a_link_naming_several_parent_models_is_not_decided_by_one_of_them() -> None:
    """DirectoryChange.resource_id names an organization, a service, a location, ...: a change
    reached through it from a service must not be decided by the organizations' test (which
    would read the organizations table whole, not the service row)."""
    link = DirectoryChange.resource_id
    assert sum(fk is link for fk, _ in scopes.CHILD_PARENTS[DirectoryChange]) > 1
    for text in (f"inventory:{uuid.uuid4()}", "region:K1A", "referred_to_grantee"):
        for grantee in GRANTEES.values():
            scope = scopes.parse(text)
            assert scopes.implied_by_parent(DirectoryChange, scope, grantee, link) is None


async def test_an_or_of_record_scopes_selects_the_same_rows_and_is_probed_per_row(
    seeded_db: Database,
) -> None:
    """Several scopes on one owner's records (a page of an admin's network) are an OR whose
    EXISTS tests carry the ``OFFSET 0`` fence: the same rows as the plain OR, and on
    PostgreSQL a page probes them per row instead of hashing every row they can find."""
    world = await _load(seeded_db)
    record_scopes = [s for s in world.scopes if s.name != "all"]
    pairs = [(a, b) for i, a in enumerate(record_scopes) for b in record_scopes[i + 1 :]]
    problems: list[str] = []
    hashed: list[str] = []
    async with seeded_db.read_session() as session:
        for first, second in pairs:
            for name, grantee in GRANTEES.items():
                fenced = scopes.sql_via(ContactRecord, (first, second), grantee, None)
                plain = scopes.sql(ContactRecord, first, grantee) | scopes.sql(
                    ContactRecord, second, grantee
                )
                ids = select(ContactRecord.id)
                got = set((await session.scalars(ids.where(fenced))).all())
                want = set((await session.scalars(ids.where(plain))).all())
                if got != want:
                    problems.append(f"{first} or {second} for {name}")
                if seeded_db.url.startswith("postgresql"):
                    page = (
                        ids.where(fenced)
                        .order_by(ContactRecord.started_at.desc(), ContactRecord.id.desc())
                        .limit(100)
                    )
                    compiled = page.compile(
                        dialect=session.bind.dialect, compile_kwargs={"literal_binds": True}
                    )
                    plan = "\n".join(
                        (await session.execute(sql_text(f"EXPLAIN {compiled}"))).scalars()
                    )
                    if _hashes_a_record_family_table(plan):
                        hashed.append(f"{first} or {second} for {name}:\n{plan}")
    assert not problems, problems
    assert not hashed, hashed[0]


def _hashes_a_record_family_table(plan: str) -> bool:
    """Whether an EXPLAIN text hashes a subplan over the tables record scopes probe."""
    lines = plan.splitlines()
    hashed = set(re.findall(r"hashed SubPlan (\d+)", plan))
    for at, line in enumerate(lines[:-1]):
        found = re.match(r"\s*SubPlan (\d+)$", line)
        if found and found.group(1) in hashed:
            child = lines[at + 1]
            if re.search(r" on (follow_ups|referrals|queue_entries)\b", child):
                return True
    return False
