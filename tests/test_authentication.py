"""Credentials: API keys (hashed, revocable, expiring) and JWTs (HS256 secret or JWKS file)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from sqlalchemy import select, update

from sharegraph.authz.credentials import demo_key, hash_key
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import PrincipalKind, Role
from sharegraph.datastore.models import ApiKey, Principal, RoleAssignment
from sharegraph.settings import Settings

from .builders import add_tenant_with_admin
from .conftest import Api, StatementCounter, make_api

HS_SECRET = "test-hs256-secret-that-is-long-enough-for-hmac"


@pytest.fixture
async def tenant(migrated_db: Database) -> tuple[uuid.UUID, str]:
    return await add_tenant_with_admin(migrated_db, "Auth 211", "auth-admin")


@pytest.fixture
async def auth_api(
    migrated_db: Database, tenant: tuple[uuid.UUID, str], tmp_path: Path
) -> AsyncIterator[Api]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid="test-key", use="sig", alg="RS256")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    settings = Settings(
        database_url=migrated_db.url, jwt_hs256_secret=HS_SECRET, jwt_jwks_file=str(jwks)
    )
    async for api in make_api(migrated_db, {"auth-admin": tenant[1]}, settings):
        api.rsa_key = private  # type: ignore[attr-defined]
        yield api


async def _principal_id(db: Database, name: str) -> uuid.UUID:
    async with db.read_session() as session:
        found = await session.scalar(select(Principal.id).where(Principal.name == name))
    assert found is not None
    return found


async def viewer(api: Api, token: str) -> dict[str, object]:
    response = await api.http.post(
        "/graphql",
        json={"query": "{ viewer { name tenant { name } } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    body: dict[str, object] = response.json()
    body["status"] = response.status_code
    return body


async def test_api_keys_are_stored_hashed_and_work(auth_api: Api, migrated_db: Database) -> None:
    key = auth_api.keys["auth-admin"]
    async with migrated_db.read_session() as session:
        stored = (await session.scalars(select(ApiKey))).all()
    assert all(key not in (row.key_hash, row.prefix) for row in stored)
    assert any(row.key_hash == hash_key(key) for row in stored)
    body = await viewer(auth_api, key)
    assert body["data"] == {"viewer": {"name": "auth-admin", "tenant": {"name": "Auth 211"}}}


async def test_revoked_and_expired_keys_are_refused(auth_api: Api, migrated_db: Database) -> None:
    key = auth_api.keys["auth-admin"]
    past = datetime.now(UTC) - timedelta(minutes=1)
    for column, reason in (
        (ApiKey.expires_at, "EXPIRED_CREDENTIALS"),
        (ApiKey.revoked_at, "REVOKED_CREDENTIALS"),
    ):
        async with migrated_db.write_session() as session:
            await session.execute(update(ApiKey).values({column: past}))
        body = await viewer(auth_api, key)
        assert body["status"] == 401
        assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": reason}  # type: ignore[index]
        async with migrated_db.write_session() as session:
            await session.execute(update(ApiKey).values({column: None}))


async def test_demo_keys_work_only_on_a_demo_database(auth_api: Api, migrated_db: Database) -> None:
    principal_id = await _principal_id(migrated_db, "auth-admin")
    key = demo_key(Settings().demo_secret, "auth-admin")
    async with migrated_db.write_session() as session:
        session.add(
            ApiKey(principal_id=principal_id, prefix=key.prefix, key_hash=key.key_hash, demo=True)
        )
    body = await viewer(auth_api, key.plaintext)
    assert body["status"] == 401


async def test_hs256_jwts(auth_api: Api, migrated_db: Database) -> None:
    principal_id = await _principal_id(migrated_db, "auth-admin")
    exp = datetime.now(UTC) + timedelta(minutes=5)
    good = jwt.encode({"sub": str(principal_id), "exp": exp}, HS_SECRET, algorithm="HS256")
    body = await viewer(auth_api, good)
    assert body["data"] == {"viewer": {"name": "auth-admin", "tenant": {"name": "Auth 211"}}}

    wrong_secret = jwt.encode({"sub": str(principal_id), "exp": exp}, "x" * 40, algorithm="HS256")
    expired = jwt.encode(
        {"sub": str(principal_id), "exp": datetime.now(UTC) - timedelta(minutes=5)},
        HS_SECRET,
        algorithm="HS256",
    )
    unknown = jwt.encode({"sub": str(uuid.uuid4()), "exp": exp}, HS_SECRET, algorithm="HS256")
    no_exp = jwt.encode({"sub": str(principal_id)}, HS_SECRET, algorithm="HS256")
    unsigned = jwt.encode({"sub": str(principal_id), "exp": exp}, None, algorithm="none")
    for token in (wrong_secret, expired, unknown, no_exp, unsigned):
        body = await viewer(auth_api, token)
        assert body["status"] == 401, token
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"  # type: ignore[index]


async def test_jwks_jwts(auth_api: Api, migrated_db: Database) -> None:
    principal_id = await _principal_id(migrated_db, "auth-admin")
    exp = datetime.now(UTC) + timedelta(minutes=5)
    private = auth_api.rsa_key  # type: ignore[attr-defined]
    good = jwt.encode(
        {"sub": str(principal_id), "exp": exp},
        private,
        algorithm="RS256",
        headers={"kid": "test-key"},
    )
    assert (await viewer(auth_api, good))["data"] == {
        "viewer": {"name": "auth-admin", "tenant": {"name": "Auth 211"}}
    }
    other_kid = jwt.encode(
        {"sub": str(principal_id), "exp": exp}, private, algorithm="RS256", headers={"kid": "other"}
    )
    assert (await viewer(auth_api, other_kid))["status"] == 401


async def test_disabled_principals_are_refused(auth_api: Api, migrated_db: Database) -> None:
    async with migrated_db.write_session() as session:
        await session.execute(update(Principal).values(disabled=True))
    assert (await viewer(auth_api, auth_api.keys["auth-admin"]))["status"] == 401


async def test_a_principal_belongs_to_exactly_one_tenant_or_partner(migrated_db: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        async with migrated_db.write_session() as session:
            session.add(Principal(name="homeless", kind=PrincipalKind.USER))
    with pytest.raises(IntegrityError):
        async with migrated_db.write_session() as session:
            session.add(RoleAssignment(principal_id=uuid.uuid4(), role=Role.CALL_TAKER))


async def test_an_api_key_is_resolved_in_one_statement(
    demo_db: Database, keys: dict[str, str], count_statements: StatementCounter
) -> None:
    """Every request pays for authentication: the key, the demo flag and the principal with its
    roles in one statement."""
    from sharegraph.authz.authenticate import authenticate

    async with demo_db.read_session() as session:
        principal = await authenticate(session, f"Bearer {keys['prairie-admin']}", Settings())
    assert principal.name == "prairie-admin"
    assert {grant.role for grant in principal.roles} == {Role.TENANT_ADMIN}
    assert count_statements.count == 1, count_statements.statements


def test_a_keys_use_is_written_at_most_once_a_minute_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sharegraph.authz import authenticate as module

    clock = [1_000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    uses = module.KeyUse()
    key = "Bearer sg_abcdefghijkl_" + "x" * 40
    assert module.parse_key(key.split()[1]) == "abcdefghijkl"
    assert uses.due(key) == "abcdefghijkl"
    assert uses.due(key) is None  # the same minute
    clock[0] += 59
    assert uses.due(key) is None
    clock[0] += 2
    assert uses.due(key) == "abcdefghijkl"
    assert uses.due("Bearer a.jwt.token") is None and uses.due(None) is None
