"""The audit trail: durable per-request rows, per-tenant seals, tamper detection, the CLI and
the admins' `auditEvents` list. Tests taking `db` run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import strawberry
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from sharegraph.authz.principal import Principal as AuthPrincipal
from sharegraph.authz.principal import RoleGrant
from sharegraph.cli.audit import audit_app
from sharegraph.datastore import audit, audit_chain
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import PrincipalKind, Role
from sharegraph.datastore.models import AuditEvent, PartnerOrganization, Principal, Tenant
from sharegraph.datastore.models.audit import AuditSeal
from sharegraph.errors import ErrorCode, SharegraphError
from sharegraph.settings import Settings
from tests.builders import add_tenant_with_admin
from tests.conftest import DatabaseFactory

runner = CliRunner()


# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture
async def db(migrated_db: Database) -> AsyncIterator[Database]:
    """A migrated database whose pooled connections are closed after the test (the suite runs
    many databases on one PostgreSQL server)."""
    yield migrated_db
    await migrated_db.engine.dispose()


@dataclass
class Net:
    a: uuid.UUID
    b: uuid.UUID
    admin_a: uuid.UUID
    admin_b: uuid.UUID
    partner: uuid.UUID


async def _principal_id(db: Database, name: str) -> uuid.UUID:
    async with db.read_session() as session:
        found = await session.scalar(select(Principal.id).where(Principal.name == name))
    assert found is not None
    return found


async def network(db: Database) -> Net:
    suffix = uuid.uuid4().hex[:6]
    a, _ = await add_tenant_with_admin(db, f"Alpha 211 {suffix}", f"alpha-admin-{suffix}")
    b, _ = await add_tenant_with_admin(db, f"Beta Crisis {suffix}", f"beta-admin-{suffix}")
    partner = uuid.uuid4()
    async with db.write_session() as session:
        session.add(PartnerOrganization(id=partner, name=f"Pantry {suffix}"))
    return Net(
        a=a,
        b=b,
        admin_a=await _principal_id(db, f"alpha-admin-{suffix}"),
        admin_b=await _principal_id(db, f"beta-admin-{suffix}"),
        partner=partner,
    )


def collector_for(
    net: Net, home: str = "a", purpose: str | None = "treatment"
) -> audit.AuditCollector:
    if home == "a":
        return audit.AuditCollector(net.admin_a, f"tenant:{net.a}", net.a, purpose)
    if home == "b":
        return audit.AuditCollector(net.admin_b, f"tenant:{net.b}", net.b, purpose)
    return audit.AuditCollector(None, f"partner:{net.partner}", None, purpose)


async def write_reads(
    db: Database, net: Net, tenant: uuid.UUID, n: int, home: str = "a"
) -> list[uuid.UUID]:
    """``n`` committed audit rows in ``tenant``'s trail (one request each)."""
    ids = []
    for _ in range(n):
        record_id = uuid.uuid4()
        collector = collector_for(net, home)
        collector.read("ContactRecord", tenant, record_id, "ContactRecord.narrative")
        await audit.flush(db, collector)
        ids.append(record_id)
    return ids


async def rows_of(db: Database, tenant: uuid.UUID | None) -> list[AuditEvent]:
    async with db.read_session() as session:
        where = AuditEvent.tenant_id.is_(None) if tenant is None else AuditEvent.tenant_id == tenant
        return list(
            (
                await session.scalars(select(AuditEvent).where(where).order_by(AuditEvent.position))
            ).all()
        )


async def seals_of(db: Database, tenant: uuid.UUID | None) -> list[AuditSeal]:
    async with db.read_session() as session:
        where = AuditSeal.tenant_id.is_(None) if tenant is None else AuditSeal.tenant_id == tenant
        return list(
            (
                await session.scalars(select(AuditSeal).where(where).order_by(AuditSeal.sequence))
            ).all()
        )


_SQLITE_GUARDS = {
    "audit_events": [
        f"CREATE TRIGGER audit_events_no_{op.lower()} BEFORE {op} ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        for op in ("UPDATE", "DELETE")
    ],
    "audit_seals": [
        f"CREATE TRIGGER audit_seals_no_{op.lower()} BEFORE {op} ON audit_seals "
        "BEGIN SELECT RAISE(ABORT, 'audit_seals is append-only'); END"
        for op in ("UPDATE", "DELETE")
    ],
}


async def tamper(db: Database, table: str, statement: Any) -> None:
    """What someone with the database owner's rights could do: lift the append-only triggers,
    change rows, put the triggers back."""
    async with db.engine.begin() as conn:
        if db.is_sqlite:
            for op in ("update", "delete"):
                await conn.exec_driver_sql(f"DROP TRIGGER {table}_no_{op}")
            await conn.execute(statement)
            for ddl in _SQLITE_GUARDS[table]:
                await conn.exec_driver_sql(ddl)
        else:
            await conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            await conn.execute(statement)
            await conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


async def cli(*args: str) -> Any:
    # The command runs its own event loop: keep it off the test's.
    return await asyncio.to_thread(runner.invoke, audit_app, list(args))


# -- collecting and flushing ------------------------------------------------------------------


def test_the_collector_aggregates_per_owner_and_record_type() -> None:
    home, other, partner = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    principal = uuid.uuid4()
    r1, r2, r3 = sorted([uuid.uuid4(), uuid.uuid4(), uuid.uuid4()], key=str)
    c = audit.AuditCollector(principal, f"tenant:{home}", home, "care-coordination")
    assert not c and c.entries() == []
    for record_id in (r1, r2, r1):
        c.read("ContactRecord", home, record_id, "ContactRecord.narrative")
        c.read("ContactRecord", home, record_id, "ContactRecord.riskLevel")
    c.read_fields("Client", home, r3, ["Client.firstName", "Client.phone"])
    c.read("ContactRecord", other, r3, "ContactRecord.narrative")
    c.denied(other, "Client.phone", "FORBIDDEN_FIELD")
    c.denied(other, "Client.phone", "SOMETHING_ELSE")  # deduplicated: the first reason stays
    c.denied(None, "Query.auditEvents", "FORBIDDEN")
    c.disclosure(
        home, f"partner:{partner}", None, "Referral", [r2], ["Referral.status"], {"via": "webhook"}
    )

    entries = c.entries()
    by = {(e.tenant_id, e.action, e.record_type): e for e in entries}
    assert len(entries) == len(by) == 7
    own = by[(home, "read", "ContactRecord")]
    assert own.record_ids == sorted([str(r1), str(r2)])
    assert own.coordinates == ["ContactRecord.narrative", "ContactRecord.riskLevel"]
    assert own.principal_id == principal and own.purpose == "care-coordination"
    assert by[(home, "read", "Client")].coordinates == ["Client.firstName", "Client.phone"]
    # Reading another tenant's records: a read and a disclosure in that tenant's trail.
    assert by[(other, "read", "ContactRecord")].record_ids == [str(r3)]
    disclosed = by[(other, "disclosure", "ContactRecord")]
    assert disclosed.detail is not None and disclosed.detail["recipient"] == f"tenant:{home}"
    assert (home, "disclosure", "ContactRecord") not in by
    refused = by[(other, "denied", None)]
    assert refused.coordinates == ["Client.phone"]
    assert refused.detail is not None and refused.detail["reasons"] == {
        "Client.phone": "FORBIDDEN_FIELD"
    }
    # A refusal with no known owner lands in the caller's home trail.
    assert by[(home, "denied", None)].coordinates == ["Query.auditEvents"]
    explicit = by[(home, "disclosure", "Referral")]
    assert explicit.detail == {"via": "webhook", "recipient": f"partner:{partner}"}
    assert explicit.purpose == "care-coordination"  # the request's purpose when none is given
    # Overrides for the principal and purpose.
    other_principal = uuid.uuid4()
    assert {e.principal_id for e in c.entries(other_principal, "audit")} == {other_principal}


async def test_flushed_rows_are_durable_and_describe_the_request(db: Database) -> None:
    net = await network(db)
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    c = collector_for(net, "a")
    c.read("ContactRecord", net.a, mine, "ContactRecord.narrative")
    c.read("ContactRecord", net.b, theirs, "ContactRecord.narrative")
    c.read("ContactRecord", net.b, theirs, "ContactRecord.riskLevel")
    c.denied(net.b, "Client.phone", "FORBIDDEN_FIELD")
    await audit.flush(db, c)
    assert not c  # flushed once: a second flush writes nothing
    await audit.flush(db, c)

    # Read back through a new engine: the rows are committed, not merely in a session.
    fresh = Database(db.url)
    try:
        a_rows, b_rows = await rows_of(fresh, net.a), await rows_of(fresh, net.b)
    finally:
        await fresh.dispose()
    assert [(r.action, r.record_ids) for r in a_rows] == [("read", [str(mine)])]
    assert {r.action for r in b_rows} == {"read", "disclosure", "denied"}
    for row in b_rows:
        assert row.principal_id == net.admin_a
        assert row.purpose == "treatment"
        assert row.occurred_at.tzinfo is not None
    read = next(r for r in b_rows if r.action == "read")
    assert read.record_type == "ContactRecord" and read.record_ids == [str(theirs)]
    assert read.coordinates == ["ContactRecord.narrative", "ContactRecord.riskLevel"]
    disclosure = next(r for r in b_rows if r.action == "disclosure")
    assert disclosure.detail is not None and disclosure.detail["recipient"] == f"tenant:{net.a}"
    assert disclosure.record_ids == [str(theirs)]
    # Absent JSON values are SQL NULL, not JSON null.
    async with db.read_session() as session:
        nulls = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.tenant_id == net.b, AuditEvent.record_ids.is_(None))
        )
    assert nulls == 1  # the denied row


async def test_concurrent_flushes_share_transactions_and_each_returns_durable(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: 40 flushes at once are written in fewer transactions than flushes, every
    row is there when its flush returns, and a flush whose rows cannot be written fails alone."""
    net = await network(db)
    transactions: list[int] = []
    real_insert = audit._insert

    async def counting_insert(database: Database, entries: list[audit.AuditEntry]) -> None:
        if any(e.coordinates == ["ContactRecord.poison"] for e in entries):
            raise RuntimeError("this flush cannot be written")
        transactions.append(len(entries))
        await real_insert(database, entries)

    monkeypatch.setattr(audit, "_insert", counting_insert)
    records = [uuid.uuid4() for _ in range(40)]

    async def one(record_id: uuid.UUID, poison: bool) -> None:
        c = collector_for(net, "a")
        c.read("ContactRecord", net.a, record_id, "ContactRecord.poison" if poison else "x")
        await audit.flush(db, c)
        async with db.read_session() as session:  # durable when flush returns
            found = (
                await session.scalars(
                    select(AuditEvent.record_ids).where(
                        AuditEvent.tenant_id == net.a, AuditEvent.action == "read"
                    )
                )
            ).all()
        assert [str(record_id)] in found

    await asyncio.gather(*(one(r, poison=False) for r in records[:20]))
    assert sum(transactions) == 20 and len(transactions) < 20  # shared transactions
    transactions.clear()
    outcomes = await asyncio.gather(
        *(one(r, poison=(i == 7)) for i, r in enumerate(records[20:])), return_exceptions=True
    )
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failed) == 1 and "cannot be written" in str(failed[0])
    assert sum(transactions) == 19  # every other flush written once, each alone after the failure


async def test_a_write_that_fails_on_one_row_writes_none_of_them(db: Database) -> None:
    """All or none: the third row refers to no tenant, so none of the three is written (on
    PostgreSQL one autocommit INSERT: the statement is its transaction), and the next write on
    the same connection goes through."""
    net = await network(db)
    entries = [
        audit.AuditEntry(net.a, net.admin_a, "read", "treatment", "ContactRecord", ["1"], ["x"]),
        audit.AuditEntry(net.b, net.admin_a, "read", "treatment", "ContactRecord", ["2"], ["x"]),
        audit.AuditEntry(uuid.uuid4(), net.admin_a, "read", detail={"n": 2**70}),
    ]
    with pytest.raises(IntegrityError):
        await audit._insert(db, entries)
    assert await rows_of(db, net.a) == [] and await rows_of(db, net.b) == []
    await audit._insert(db, entries[:2])
    assert [r.record_ids for r in await rows_of(db, net.a)] == [["1"]]
    assert [r.record_ids for r in await rows_of(db, net.b)] == [["2"]]


async def test_a_partner_reading_a_tenants_records_is_a_disclosure(db: Database) -> None:
    net = await network(db)
    record_id = uuid.uuid4()
    c = collector_for(net, "partner", purpose="referral-follow-up")
    c.read("Referral", net.a, record_id, "Referral.status")
    await audit.flush(db, c)
    rows = await rows_of(db, net.a)
    assert [r.action for r in rows] == ["read", "disclosure"]
    assert rows[1].detail is not None and rows[1].detail["recipient"] == f"partner:{net.partner}"
    assert rows[1].purpose == "referral-follow-up"


async def test_policy_changes_are_recorded_in_their_own_transaction(db: Database) -> None:
    net = await network(db)
    agreement = uuid.uuid4()
    async with db.write_session() as session:
        await audit.record(
            session,
            tenant_id=net.a,
            principal_id=net.admin_a,
            action="policy.agreement.create",
            detail={
                "agreement": agreement,
                "grantee": f"tenant:{net.b}",
                "at": datetime(2026, 1, 1, tzinfo=UTC),
            },
            record_type="SharingAgreement",
            record_ids=[agreement],
        )
        await audit.record(
            session,
            tenant_id=net.a,
            principal_id=net.admin_a,
            action="policy.role.assign",
            detail=None,
        )
    with pytest.raises(RuntimeError):
        async with db.write_session() as session:
            await audit.record(
                session,
                tenant_id=net.a,
                principal_id=None,
                action="credentials.key.create",
                detail={},
            )
            raise RuntimeError("the change failed")  # its audit row goes with it
    rows = await rows_of(db, net.a)
    assert [r.action for r in rows] == ["policy.agreement.create", "policy.role.assign"]
    assert rows[0].record_ids == [str(agreement)]
    assert rows[0].detail == {
        "agreement": str(agreement),
        "grantee": f"tenant:{net.b}",
        "at": "2026-01-01T00:00:00+00:00",
    }
    assert rows[1].detail is None


# -- sealing and verifying --------------------------------------------------------------------


async def test_sealed_chains_verify_and_link_up(db: Database) -> None:
    net = await network(db)
    await write_reads(db, net, net.a, 3)
    await write_reads(db, net, net.b, 2, home="b")
    async with db.write_session() as session:
        await audit.record(
            session,
            tenant_id=None,
            principal_id=None,
            action="system.start",
            detail={"version": "1"},
        )

    assert await audit_chain.seal(db, settle_seconds=0) == 3 + 2 + 1
    assert await audit_chain.seal(db, settle_seconds=0) == 0  # nothing new
    for tenant, rows in ((net.a, 3), (net.b, 2), (None, 1)):
        report = await audit_chain.verify(db, tenant)
        assert report.ok, report.problems
        assert (report.seals_checked, report.rows_sealed, report.rows_unsealed) == (1, rows, 0)

    await write_reads(db, net, net.a, 2)
    report = await audit_chain.verify(db, net.a)
    assert report.ok and report.rows_unsealed == 2
    assert await audit_chain.seal(db, settle_seconds=0) == 2
    report = await audit_chain.verify(db, net.a)
    assert report.ok and (report.seals_checked, report.rows_sealed, report.rows_unsealed) == (
        2,
        5,
        0,
    )

    first, second = await seals_of(db, net.a)
    assert first.previous_seal_hash == audit_chain.GENESIS_HASH
    assert second.previous_seal_hash == first.seal_hash
    assert second.first_position == first.last_position + 1
    assert report.head_seal_hash == second.seal_hash and report.head_sequence == 2


async def test_only_settled_rows_are_sealed(db: Database) -> None:
    net = await network(db)
    await write_reads(db, net, net.a, 2)
    assert await audit_chain.seal(db, settle_seconds=60) == 0
    assert (await audit_chain.verify(db, net.a)).rows_unsealed == 2
    assert await audit_chain.seal(db, settle_seconds=0) == 2


async def test_seals_are_append_only(db: Database) -> None:
    net = await network(db)
    await write_reads(db, net, net.a, 1)
    await audit_chain.seal(db, settle_seconds=0)
    for statement in (update(AuditSeal).values(row_count=0), delete(AuditSeal)):
        with pytest.raises((DBAPIError, IntegrityError), match="append-only"):
            async with db.write_session() as session:
                await session.execute(statement)


async def test_the_app_role_may_only_read_and_append_seals(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL roles")
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT privilege_type FROM information_schema.role_table_grants"
                " WHERE grantee = 'sharegraph_app' AND table_name = 'audit_seals'"
            )
        )
        assert {r[0] for r in rows} == {"SELECT", "INSERT"}


async def _three_seals(db: Database, net: Net) -> list[AuditSeal]:
    for n in (2, 3, 2):
        await write_reads(db, net, net.a, n)
        await write_reads(db, net, net.b, 1, home="b")  # interleaved positions of another tenant
        await audit_chain.seal(db, settle_seconds=0)
    seals = await seals_of(db, net.a)
    assert [s.row_count for s in seals] == [2, 3, 2]
    return seals


async def test_a_changed_row_is_reported_at_its_seal(db: Database) -> None:
    net = await network(db)
    seals = await _three_seals(db, net)
    victim = [
        r
        for r in await rows_of(db, net.a)
        if seals[1].first_position <= r.position <= seals[1].last_position
    ][1]
    await tamper(
        db,
        "audit_events",
        update(AuditEvent)
        .where(AuditEvent.position == victim.position)
        .values(record_ids=[str(uuid.uuid4())]),
    )
    report = await audit_chain.verify(db, net.a)
    assert not report.ok
    assert report.first_broken is not None
    assert (report.first_broken.sequence, report.first_broken.kind) == (2, audit_chain.ROW_CHANGED)
    assert report.first_broken.seal_id == seals[1].id
    assert len(report.problems) == 1  # seals 1 and 3 still verify
    for page_size in (1, 2):  # walking the chain a page of seals at a time finds the same
        assert (await audit_chain.verify(db, net.a, page_size=page_size)) == report
    assert (await audit_chain.verify(db, net.b)).ok  # another tenant's chain is untouched

    result = await cli("verify", "--tenant", str(net.a), "--database", db.url)
    assert result.exit_code == 1, result.output
    assert "BROKEN at seal #2" in result.output and str(seals[1].id) in result.output
    assert "row-changed" in result.output


async def test_a_removed_row_is_reported(db: Database) -> None:
    net = await network(db)
    seals = await _three_seals(db, net)
    victim = (await rows_of(db, net.a))[0]
    await tamper(
        db,
        "audit_events",
        delete(AuditEvent).where(AuditEvent.position == victim.position),
    )
    report = await audit_chain.verify(db, net.a)
    assert report.first_broken is not None
    assert (report.first_broken.sequence, report.first_broken.kind) == (1, audit_chain.ROW_MISSING)
    assert report.first_broken.seal_id == seals[0].id


async def test_a_row_inserted_below_a_seal_is_reported(db: Database) -> None:
    net = await network(db)
    await write_reads(db, net, net.a, 2)
    # Leave three positions unused, as rolled-back transactions do on PostgreSQL.
    async with db.write_session() as session:
        top = int(await session.scalar(select(func.max(AuditEvent.position))) or 0)
        if db.is_sqlite:
            session.add(AuditEvent(position=top + 4, tenant_id=net.a, action="read"))
        else:
            await session.execute(
                text("SELECT setval(pg_get_serial_sequence('audit_events', 'position'), :v)"),
                {"v": top + 3},
            )
            session.add(AuditEvent(tenant_id=net.a, action="read"))
    await write_reads(db, net, net.a, 1)
    assert await audit_chain.seal(db, settle_seconds=0) == 4
    assert (await audit_chain.verify(db, net.a)).ok

    # INSERT is allowed (append-only): a row slipped into the sealed range with a chosen position.
    async with db.write_session() as session:
        session.add(
            AuditEvent(position=top + 2, tenant_id=net.a, action="read", record_ids=["forged"])
        )
    report = await audit_chain.verify(db, net.a)
    assert report.first_broken is not None
    assert (report.first_broken.sequence, report.first_broken.kind) == (1, audit_chain.ROW_INSERTED)
    assert top + 2 in report.first_broken.suspect_positions

    result = await cli("verify", "--tenant", str(net.a), "--database", db.url, "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["ok"] is False and body["firstBroken"]["kind"] == "row-inserted"


async def test_an_altered_seal_breaks_the_chain(db: Database) -> None:
    net = await network(db)
    seals = await _three_seals(db, net)
    # Re-sealing a changed row would need the seal's digest changed too: the chain catches it.
    await tamper(
        db,
        "audit_seals",
        update(AuditSeal).where(AuditSeal.id == seals[1].id).values(rows_digest="0" * 64),
    )
    report = await audit_chain.verify(db, net.a)
    assert report.first_broken is not None
    assert (report.first_broken.sequence, report.first_broken.kind) == (2, audit_chain.CHAIN_BROKEN)
    # A removed seal leaves a hole in the numbering.
    await tamper(db, "audit_seals", delete(AuditSeal).where(AuditSeal.id == seals[0].id))
    report = await audit_chain.verify(db, net.a)
    assert report.first_broken is not None and report.first_broken.kind == audit_chain.CHAIN_BROKEN
    assert report.first_broken.sequence == 2


async def test_concurrent_sealers_never_overlap(db: Database) -> None:
    net = await network(db)
    for i in range(12):
        tenant = net.a if i % 3 else net.b
        c = collector_for(net, "a")
        for _ in range(5):
            c.read("ContactRecord", tenant, uuid.uuid4(), "ContactRecord.narrative")
        c.read("Client", tenant, uuid.uuid4(), "Client.firstName")
        await audit.flush(db, c)
    a_rows, b_rows = len(await rows_of(db, net.a)), len(await rows_of(db, net.b))

    # Two "processes": two engines on the same database, small batches to interleave them.
    other = Database(db.url)
    try:
        sealed = await asyncio.gather(
            audit_chain.seal(db, settle_seconds=0, batch_size=3),
            audit_chain.seal(other, settle_seconds=0, batch_size=3),
        )
    finally:
        await other.dispose()
    assert sum(sealed) == a_rows + b_rows
    for tenant in (net.a, net.b):
        seals = await seals_of(db, tenant)
        assert [s.sequence for s in seals] == list(range(1, len(seals) + 1))
        for before, after in itertools.pairwise(seals):
            assert after.first_position == before.last_position + 1
            assert after.previous_seal_hash == before.seal_hash
        report = await audit_chain.verify(db, tenant)
        assert report.ok and report.rows_unsealed == 0
        assert await audit_chain.verify(db, tenant, page_size=4) == report
    assert (await audit_chain.verify(db, net.a)).rows_sealed == a_rows


async def test_rows_of_a_transaction_still_open_are_not_sealed_past(db: Database) -> None:
    """PostgreSQL hands out positions at INSERT: a slow transaction commits below newer rows."""
    if db.is_sqlite:
        pytest.skip("SQLite writers are exclusive: no row can commit below another")
    net = await network(db)
    await write_reads(db, net, net.a, 1)
    async with db.write_session() as slow:
        await audit.record(
            slow,
            tenant_id=net.a,
            principal_id=net.admin_a,
            action="policy.agreement.create",
            detail={},
        )
        # Its position is taken, the row not committed.
        await write_reads(db, net, net.a, 1)  # a newer row, committed first
        assert await audit_chain.seal(db, settle_seconds=0) == 1  # only the first row
    assert await audit_chain.seal(db, settle_seconds=0) == 2
    report = await audit_chain.verify(db, net.a)
    assert report.ok, report.problems
    assert report.rows_sealed == 3


# -- the command ------------------------------------------------------------------------------


async def test_the_command_seals_and_verifies(db: Database) -> None:
    net = await network(db)
    await write_reads(db, net, net.a, 2)
    async with db.read_session() as session:
        name = await session.scalar(select(Tenant.name).where(Tenant.id == net.a))
    assert name is not None

    result = await cli("seal", "--database", db.url, "--settle", "0")
    assert result.exit_code == 0, result.output
    assert "sealed 2 audit row(s)" in result.output

    result = await cli("verify", "--tenant", name, "--database", db.url)
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "2 row(s) sealed" in result.output

    result = await cli("verify", "--tenant", str(net.a), "--database", db.url, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["ok"] is True and body["rowsSealed"] == 2 and body["firstBroken"] is None
    assert body["headSealHash"] == (await seals_of(db, net.a))[0].seal_hash

    result = await cli("verify", "--tenant", "system", "--database", db.url)
    assert result.exit_code == 0, result.output


async def test_the_command_refuses_bad_usage_with_status_2(
    db: Database, databases: DatabaseFactory, backend: str
) -> None:
    result = await cli("verify", "--database", db.url)  # no --tenant
    assert result.exit_code == 2
    result = await cli("verify", "--tenant", "No Such Tenant", "--database", db.url)
    assert result.exit_code == 2 and "no tenant 'No Such Tenant'" in result.output
    result = await cli("verify", "--tenant", "system", "--database", "mysql://nope")
    assert result.exit_code == 2 and "unsupported database" in result.output
    unmigrated = await databases.create(backend)
    result = await cli("verify", "--tenant", "system", "--database", unmigrated.url)
    assert result.exit_code == 2 and "db upgrade" in result.output
    result = await cli("seal", "--settle", "-1")
    assert result.exit_code == 2


def test_the_commands_have_help() -> None:
    for args in ([], ["verify"], ["seal"]):
        result = runner.invoke(audit_app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output


def test_the_serialization_covers_every_column() -> None:
    """A new audit_events column needs a new serialization version (and old seals keep theirs)."""
    assert set(audit_chain.SEALED_COLUMNS) == {c.name for c in AuditEvent.__table__.columns}


# -- auditEvents ------------------------------------------------------------------------------


@dataclass
class _Context:
    """What `auditEvents` reads from the request context."""

    principal: AuthPrincipal
    session: AsyncSession
    settings: Settings = field(default_factory=Settings)
    cursors: Any = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        async with self.lock:
            yield self.session


def _auth(
    principal_id: uuid.UUID, tenant: uuid.UUID | None, *grants: tuple[Role, uuid.UUID]
) -> AuthPrincipal:
    return AuthPrincipal(
        id=principal_id,
        name="someone",
        kind=PrincipalKind.USER,
        tenant_id=tenant,
        partner_organization_id=None,
        roles=frozenset(
            RoleGrant(role=r, tenant_id=t, partner_organization_id=None) for r, t in grants
        ),
    )


AUDIT_EVENTS = """
query($filter: AuditEventFilterInput, $first: Int, $after: String) {
  auditEvents(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id uuid position occurredAt action purpose recordType recordIds coordinates detail principalId principalName tenant { name } } }
  }
}
"""


async def test_tenant_admins_list_their_tenants_audit_events(db: Database) -> None:
    from sharegraph.graph.audit import AuditQuery
    from sharegraph.graph.relay import CursorCodec, to_global_id

    schema = strawberry.Schema(query=AuditQuery)
    net = await network(db)
    await write_reads(db, net, net.a, 3)
    await write_reads(db, net, net.b, 1, home="b")
    async with db.write_session() as session:
        await audit.record(
            session,
            tenant_id=net.a,
            principal_id=net.admin_b,
            action="policy.agreement.create",
            detail={"x": 1},
        )

    async def run(who: AuthPrincipal, variables: dict[str, Any]) -> Any:
        async with db.read_session() as session:
            ctx = _Context(principal=who, session=session, cursors=CursorCodec("test-secret"))
            return await schema.execute(AUDIT_EVENTS, variables, ctx)

    admin_a = _auth(net.admin_a, net.a, (Role.TENANT_ADMIN, net.a))
    result = await run(admin_a, {"first": 2})
    assert result.errors is None, result.errors
    page = result.data["auditEvents"]
    assert page["totalCount"] == 4 and page["pageInfo"]["hasNextPage"] is True
    nodes = [e["node"] for e in page["edges"]]
    assert [n["action"] for n in nodes] == ["policy.agreement.create", "read"]  # newest first
    assert int(nodes[0]["position"]) > int(nodes[1]["position"])
    assert nodes[0]["principalName"].startswith("beta-admin-")
    assert nodes[0]["principalId"] == to_global_id("Principal", net.admin_b)
    assert nodes[0]["detail"] == {"x": 1}
    assert nodes[1]["tenant"]["name"].startswith("Alpha 211")
    assert (
        nodes[1]["coordinates"] == ["ContactRecord.narrative"]
        and nodes[1]["purpose"] == "treatment"
    )
    assert nodes[1]["id"] == to_global_id("AuditEvent", uuid.UUID(nodes[1]["uuid"]))

    rest = await run(admin_a, {"first": 10, "after": page["pageInfo"]["endCursor"]})
    assert rest.errors is None, rest.errors
    assert [e["node"]["action"] for e in rest.data["auditEvents"]["edges"]] == ["read", "read"]

    reads = await run(
        admin_a,
        {"filter": {"action": "read", "principalId": to_global_id("Principal", net.admin_a)}},
    )
    assert reads.data["auditEvents"]["totalCount"] == 3
    later = await run(
        admin_a, {"filter": {"occurredAfter": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}}
    )
    assert later.data["auditEvents"]["totalCount"] == 0

    def refusal(result: Any) -> str | None:
        assert result.errors, result
        error = result.errors[0].original_error
        assert isinstance(error, SharegraphError)
        return error.code

    call_taker = _auth(uuid.uuid4(), net.a, (Role.CALL_TAKER, net.a))
    assert refusal(await run(call_taker, {})) == ErrorCode.FORBIDDEN
    other_tenant = {"filter": {"tenantId": to_global_id("Tenant", net.b)}}
    assert refusal(await run(admin_a, other_tenant)) == ErrorCode.FORBIDDEN
    admin_b = _auth(net.admin_b, net.b, (Role.TENANT_ADMIN, net.b))
    mine = await run(admin_b, other_tenant)
    assert mine.errors is None and mine.data["auditEvents"]["totalCount"] == 1


def _audit_query_merged() -> bool:
    from sharegraph.graph.schema import build_schema

    return "auditEvents(" in build_schema(Settings()).as_str()


@pytest.mark.skipif(
    not _audit_query_merged(), reason="AuditQuery is not merged into graph/schema.py yet"
)
async def test_audit_events_through_the_app(write_api: Any) -> None:
    # A read of contact records is in the trail before the response arrives.
    await write_api.data(
        "prairie-admin", "{ contactRecords(first: 2) { edges { node { id narrative } } } }"
    )
    data = await write_api.data(
        "prairie-admin",
        '{ auditEvents(filter: {action: "read"}, first: 5) { edges { node { action recordType coordinates principalName } } } }',
    )
    reads = [e["node"] for e in data["auditEvents"]["edges"]]
    assert reads and reads[0]["principalName"] == "prairie-admin"
    assert "ContactRecord.narrative" in reads[0]["coordinates"]
    body = await write_api.gql("prairie-call-taker", "{ auditEvents { totalCount } }")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
