"""A field added to the catalogue is not shared through existing globs until an admin approves.

An agreement granting `ContactRecord.*` was written against the fields that existed then; a
sensitive column added next month must not reach every grantee on the day it ships.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.engine import Connection

from sharegraph import demo
from sharegraph.authz import catalogue, coordinates, policy
from sharegraph.authz.catalogue import CATALOGUE, REVISION, TypeSpec
from sharegraph.authz.catalogue.spec import column
from sharegraph.authz.compiler import PlanCore, compile_core
from sharegraph.authz.policy import Snapshot
from sharegraph.datastore import migrate, policy_version
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import GranteeKind, Sensitivity
from sharegraph.datastore.models import Principal, RoleAssignment, SharingAgreement
from sharegraph.graph.relay import to_global_id
from sharegraph.queries import sharing
from sharegraph.settings import Settings

from .conftest import DatabaseFactory, make_api

NEW_FIELD = "ContactRecord.callerGender"


def matrix(core: PlanCore) -> dict[Any, Any]:
    """Everything a plan decides: per (action, type, owner) the scopes with their fields and
    answer keys, and the operations."""
    return {
        "grants": {
            (action, type_name, owner): sorted(
                (str(g.scope), sorted(g.fields), sorted(g.answer_keys)) for g in grants
            )
            for (action, type_name), by_owner in core.grants.items()
            for owner, grants in by_owner.items()
        },
        "operations": {a: sorted(o) for a, o in core.operations.items()},
    }


# The catalogue's revision when migration 0007 gave agreements one (its column default).
MIGRATED_AT = 1


def unreviewed(snapshot: Snapshot) -> Snapshot:
    """The same policies with every agreement's globs covering every field there was, as before
    agreements carried a catalogue revision (fields added since wait for review)."""
    rows = [replace(a, catalogue_revision=MIGRATED_AT) for a in snapshot.agreements.values()]
    grants = [
        (uuid.UUID(sub.split(":", 1)[1]), role, domain, home)
        for sub, role, domain in snapshot.enforcer.get_named_grouping_policy("g")
        for home in {h for s, h in snapshot.enforcer.get_named_grouping_policy("g2") if s == sub}
        if "/role:" not in home and home != policy.PUBLIC
    ]
    return policy.build(
        snapshot.version, sorted(snapshot.tenants), rows, snapshot.answer_keys, grants
    )


async def demo_homes(
    db: Database,
) -> list[tuple[uuid.UUID | None, uuid.UUID | None, frozenset[str]]]:
    async with db.read_session() as session:
        rows = (
            await session.execute(
                select(
                    Principal.tenant_id, Principal.partner_organization_id, RoleAssignment.role
                ).join(RoleAssignment, RoleAssignment.principal_id == Principal.id)
            )
        ).all()
    return sorted(
        {(t, p, frozenset({r.value})) for t, p, r in rows}, key=lambda h: (str(h[0]), str(h[1]))
    )


async def _downgrade(db: Database, revision: str) -> None:
    def run(connection: Connection) -> None:
        config = migrate.alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with db.engine.begin() as connection:
        await connection.run_sync(run)


async def test_existing_grants_are_kept_exactly_through_the_migration(
    databases: DatabaseFactory, backend: str
) -> None:
    db = await databases.create(backend)
    await demo.seed(db, scale=1, demo_secret=Settings().demo_secret)
    await _downgrade(db, "0006")  # agreements as they were before review existed
    await migrate.upgrade(db)
    async with db.read_session() as session:
        snapshot = await policy.load(session)
    before = unreviewed(snapshot)
    now = datetime.now(UTC)
    homes = await demo_homes(db)
    assert len(homes) >= 6
    for tenant, partner, roles in homes:
        after_core = compile_core(
            snapshot, home_tenant=tenant, home_partner=partner, roles=roles, now=now
        )
        before_core = compile_core(
            before, home_tenant=tenant, home_partner=partner, roles=roles, now=now
        )
        assert matrix(after_core) == matrix(before_core), (tenant, partner, roles)
    assert {a.catalogue_revision for a in snapshot.agreements.values()} == {MIGRATED_AT}
    await db.dispose()


@pytest.fixture
def new_field(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The catalogue as it would be after a release that adds a sensitive ContactRecord field."""
    added = column(
        "callerGender",
        str,
        "The caller's gender, as given.",
        Sensitivity.PII,
        export=catalogue.Export.none("test field"),
        added=REVISION + 1,
    )
    spec = CATALOGUE["ContactRecord"]
    grown = TypeSpec(spec.name, spec.description, spec.kind, (*spec.fields, added), spec.scoped)
    monkeypatch.setitem(CATALOGUE, "ContactRecord", grown)
    for module in (catalogue, sharing):
        monkeypatch.setattr(module, "REVISION", REVISION + 1)
    monkeypatch.setitem(
        coordinates.TYPE_FIELDS,
        "ContactRecord",
        (*coordinates.TYPE_FIELDS["ContactRecord"], "callerGender"),
    )
    yield NEW_FIELD


def _grantees_of(snapshot: Snapshot, coordinate: str) -> set[str]:
    """Agreements whose allow globs reach ``coordinate``, ignoring the review."""
    return {
        str(a.id)
        for a in snapshot.agreements.values()
        if any(coordinates.coordinate_matches(coordinate, p) for p in a.fields)
        and not any(coordinates.coordinate_matches(coordinate, d) for d in a.denied_fields)
    }


async def _grant_whole_records_to_the_pantry(db: Database) -> None:
    """An agreement written before the release: the pantry reads whole referred records."""
    async with db.write_session() as session:
        session.add(
            SharingAgreement(
                id=uuid.uuid4(),
                tenant_id=demo.demo_id("tenant", "prairie"),
                name="Whole referred records",
                purpose="care coordination",
                grantee_kind=GranteeKind.PARTNER,
                grantee_partner_id=demo.demo_id("partner-organization", "eastside"),
                actions=["read"],
                fields=["ContactRecord.*"],
                row_scope="referred_to_grantee",
                catalogue_revision=REVISION,
            )
        )
        await policy_version.bump(session)


async def test_a_new_field_waits_for_review_and_is_shared_once_approved(
    seeded_db: Database, keys: dict[str, str], new_field: str
) -> None:
    await _grant_whole_records_to_the_pantry(seeded_db)
    async with seeded_db.read_session() as session:
        snapshot = await policy.load(session)
    reaching = _grantees_of(snapshot, new_field)
    now = datetime.now(UTC)
    prairie = demo.demo_id("tenant", "prairie")
    pantry = demo.demo_id("partner-organization", "eastside")
    core = compile_core(
        snapshot, home_tenant=None, home_partner=pantry, roles=frozenset({"portal-user"}), now=now
    )
    shared = core.grants[("read", "ContactRecord")][prairie]
    assert any("channel" in g.fields for g in shared)
    assert not any("callerGender" in g.fields for g in shared)
    # The owner's own staff read it at once: their data needs no agreement.
    own = compile_core(
        snapshot, home_tenant=prairie, home_partner=None, roles=frozenset({"call-taker"}), now=now
    )
    assert any("callerGender" in g.fields for g in own.grants[("read", "ContactRecord")][prairie])
    # Casbin, the oracle, agrees.
    pantry_user = demo.demo_id("principal", "eastside-portal")
    for scope in {str(g.scope) for g in shared}:
        allowed, _ = policy.enforce_sharing(
            snapshot, pantry_user, prairie, new_field, "read", scope, now
        )
        assert not allowed

    async for api in make_api(seeded_db, keys):
        listed = await api.data(
            "prairie-admin", "{ sharingAgreements { id name version pendingReview fields } }"
        )
        pending = {a["id"]: a for a in listed["sharingAgreements"] if a["pendingReview"]}
        assert "Whole referred records" in {a["name"] for a in pending.values()}
        assert all(a["pendingReview"] == [new_field] for a in pending.values())
        prairies = {a for a in reaching if snapshot.agreements[a].owner == prairie}
        assert {to_global_id("SharingAgreement", uuid.UUID(a)) for a in prairies} == set(pending)
        explained = await api.data(
            "prairie-admin",
            """query($p: ID!, $c: String!) {
                 explainAccess(principalId: $p, coordinate: $c) { allowed reason }
               }""",
            {"p": to_global_id("Principal", pantry_user), "c": new_field},
        )
        assert explained["explainAccess"]["allowed"] is False
        assert "pending review" in explained["explainAccess"]["reason"]
        assert "Whole referred records" in explained["explainAccess"]["reason"]

        for agreement in pending.values():
            approved = await api.data(
                "prairie-admin",
                """mutation($id: ID!, $v: Int!) {
                     approveSharingAgreement(id: $id, version: $v) {
                       agreement { pendingReview catalogueRevision version }
                     }
                   }""",
                {"id": agreement["id"], "v": agreement["version"]},
            )
            payload = approved["approveSharingAgreement"]["agreement"]
            assert payload == {
                "pendingReview": [],
                "catalogueRevision": REVISION + 1,
                "version": agreement["version"] + 1,
            }
    async with seeded_db.read_session() as session:
        snapshot = await policy.load(session)
    core = compile_core(
        snapshot, home_tenant=None, home_partner=pantry, roles=frozenset({"portal-user"}), now=now
    )
    assert any("callerGender" in g.fields for g in core.grants[("read", "ContactRecord")][prairie])
