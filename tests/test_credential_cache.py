"""Remembered bearer credentials (authz/credential_cache.py): a repeated API key or JWT subject
costs no round trip, and nothing that revokes access waits for an entry to age out."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import select, update

from sharegraph.authz import authenticate as authenticate_module
from sharegraph.authz.credential_cache import Authenticated, CredentialCache
from sharegraph.authz.principal import Principal as RuntimePrincipal
from sharegraph.datastore import policy_version
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import PrincipalKind
from sharegraph.datastore.models import ApiKey, Principal
from sharegraph.settings import Settings

from .conftest import Api, StatementCounter, make_api
from .test_admin_principals import (
    CREATE_KEY,
    REVOKE_KEY,
    REVOKE_ROLE,
    VIEWER,
    _create_api_client,
    codes,
    reasons,
)

HS_SECRET = "test-hs256-secret-that-is-long-enough-for-hmac"


def _principal(name: str = "someone") -> RuntimePrincipal:
    return RuntimePrincipal(uuid.uuid4(), name, PrincipalKind.USER, uuid.uuid4(), None, frozenset())


def test_an_entry_lives_under_one_policy_version_for_at_most_max_age(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    version = [7]
    cache = CredentialCache(lambda: version[0], max_age=30)
    found = Authenticated(_principal())
    cache.put(b"k", found, 7)
    assert cache.get(b"k") is found
    clock[0] += 29.9
    assert cache.get(b"k") is found
    clock[0] += 0.1
    assert cache.get(b"k") is None  # aged out

    cache.put(b"k", found, 7)
    version[0] = 8
    assert cache.get(b"k") is None  # the policy moved
    cache.put(b"k", found, 7)  # looked up before the move: may predate it
    assert cache.get(b"k") is None
    cache.put(b"k", found, 8)
    assert cache.get(b"k") is found


def test_the_cache_is_bounded_and_can_be_turned_off() -> None:
    cache = CredentialCache(lambda: 1, max_age=30, max_entries=3)
    for n in range(5):
        cache.put(bytes([n]), Authenticated(_principal(str(n))), 1)
    assert [cache.get(bytes([n])) is not None for n in range(5)] == [False, False, True, True, True]
    off = CredentialCache(lambda: 1, max_age=0)
    off.put(b"k", Authenticated(_principal()), 1)
    assert off.get(b"k") is None


def _auth_lookups(counter: StatementCounter) -> list[str]:
    return [s for s in counter.statements if "FROM api_keys" in s or "FROM principals LEFT" in s]


async def test_a_repeated_key_or_jwt_costs_no_authentication_statement(
    demo_db: Database, keys: dict[str, str], count_statements: StatementCounter
) -> None:
    settings = Settings(database_url=demo_db.url, jwt_hs256_secret=HS_SECRET)
    async for api in make_api(demo_db, keys, settings):
        async with demo_db.read_session() as session:
            principal_id = await session.scalar(
                select(Principal.id).where(Principal.name == "prairie-admin")
            )
        exp = datetime.now(UTC) + timedelta(minutes=5)
        tokens = [
            jwt.encode({"sub": str(principal_id), "exp": exp, "n": n}, HS_SECRET, "HS256")
            for n in range(2)
        ]
        count_statements.statements.clear()
        for credential in ("prairie-admin", tokens[0]):
            assert (await api.data(credential, VIEWER))["viewer"]["name"] == "prairie-admin"
        assert len(_auth_lookups(count_statements)) == 2, count_statements.statements
        count_statements.statements.clear()
        for credential in ("prairie-admin", "prairie-admin", tokens[0], tokens[1]):
            assert (await api.data(credential, VIEWER))["viewer"]["name"] == "prairie-admin"
        # Another JWT of the same subject is verified, then answered from the cache too.
        assert _auth_lookups(count_statements) == []


async def test_a_wrong_secret_after_a_remembered_key_is_refused(api: Api) -> None:
    key = api.keys["prairie-admin"]
    assert (await api.data(key, VIEWER))["viewer"]["name"] == "prairie-admin"
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    body = await api.gql(wrong, VIEWER)
    assert codes(body) == ["UNAUTHENTICATED"] and reasons(body) == ["BAD_CREDENTIALS"]
    assert (await api.data(key, VIEWER))["viewer"]["name"] == "prairie-admin"


async def _new_key(api: Api, expires_at: datetime | None = None) -> tuple[str, str, str]:
    """A new API client's (principal id, key id, plaintext key), used once (remembered)."""
    principal = await _create_api_client(api)
    extra = {"expiresAt": expires_at.isoformat()} if expires_at else {}
    created = (
        await api.data(
            "prairie-admin",
            CREATE_KEY,
            {"input": {"principalId": principal["id"], "label": "cached", **extra}},
        )
    )["createApiKey"]
    plaintext = created["plaintextKey"]
    assert (await api.data(plaintext, VIEWER))["viewer"]["name"] == "prairie-dashboard"
    return principal["id"], created["apiKey"]["id"], plaintext


async def test_a_remembered_key_stops_at_its_expiry(
    write_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = write_api
    expires = datetime.now(UTC) + timedelta(hours=1)
    _, _, key = await _new_key(api, expires)
    assert (await api.data(key, VIEWER))["viewer"]["name"] == "prairie-dashboard"

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz) + timedelta(hours=1, seconds=1)

    monkeypatch.setattr(authenticate_module, "datetime", Later)
    body = await api.gql(key, VIEWER)
    assert codes(body) == ["UNAUTHENTICATED"] and reasons(body) == ["EXPIRED_CREDENTIALS"]


async def test_revoking_a_remembered_key_stops_it_at_the_next_request(write_api: Api) -> None:
    api = write_api
    _, key_id, key = await _new_key(api)
    await api.data("prairie-admin", REVOKE_KEY, {"input": {"id": key_id}})
    body = await api.gql(key, VIEWER)
    assert codes(body) == ["UNAUTHENTICATED"] and reasons(body) == ["REVOKED_CREDENTIALS"]


async def test_a_role_taken_away_counts_from_the_next_request(write_api: Api) -> None:
    api = write_api
    principal_id, _, key = await _new_key(api)
    await api.data(
        "prairie-admin", REVOKE_ROLE, {"input": {"principalId": principal_id, "role": "API_CLIENT"}}
    )
    assert (await api.data(key, VIEWER))["viewer"]["roles"] == []


async def _disable(db: Database, name: str) -> None:
    """Disable a principal as a write path would (no API does yet): with a policy version bump
    in the same transaction."""
    async with db.write_session() as session:
        await session.execute(update(Principal).where(Principal.name == name).values(disabled=True))
        await policy_version.bump(session)


async def test_a_disabled_principal_is_refused_at_the_next_request(write_api: Api) -> None:
    api = write_api
    _, _, key = await _new_key(api)
    assert (await api.data("prairie-admin", VIEWER))["viewer"]["name"] == "prairie-admin"
    await _disable(api.database, "prairie-dashboard")
    await api.app.state.sharegraph["policies"].reload()  # what a write path does after commit
    body = await api.gql(key, VIEWER)
    assert codes(body) == ["UNAUTHENTICATED"] and reasons(body) == ["BAD_CREDENTIALS"]
    assert (await api.data("prairie-admin", VIEWER))["viewer"]["name"] == "prairie-admin"


# -- across app instances on one database -----------------------------------------------------


@pytest.fixture
async def two_apps(seeded_db: Database, keys: dict[str, str]) -> AsyncIterator[tuple[Api, Api]]:
    """Two app instances on one database, as two gateway processes (on SQLite they share the
    file: the periodic version check propagates; on PostgreSQL NOTIFY does first)."""
    second_db = Database(seeded_db.url)
    first = make_api(seeded_db, keys)
    second = make_api(second_db, keys)
    one = await first.__anext__()
    two = await second.__anext__()
    yield one, two
    for generator in (first, second):
        with pytest.raises(StopAsyncIteration):
            await generator.__anext__()
    await second_db.dispose()


async def _within(seconds: float, refused: Callable[[], Awaitable[bool]]) -> None:
    started = time.monotonic()
    while not await refused():
        assert time.monotonic() - started < seconds, f"still accepted after {seconds} s"
        await asyncio.sleep(0.05)


async def _unauthenticated(api: Api, key: str) -> bool:
    return codes(await api.gql(key, VIEWER)) == ["UNAUTHENTICATED"]


async def test_a_revoked_key_reaches_another_instance(two_apps: tuple[Api, Api]) -> None:
    one, two = two_apps
    _, key_id, key = await _new_key(one)
    assert (await two.data(key, VIEWER))["viewer"]["name"] == "prairie-dashboard"
    await one.data("prairie-admin", REVOKE_KEY, {"input": {"id": key_id}})
    assert await _unauthenticated(one, key)
    await _within(3.0, lambda: _unauthenticated(two, key))


async def test_a_role_change_reaches_another_instance(two_apps: tuple[Api, Api]) -> None:
    one, two = two_apps
    principal_id, _, key = await _new_key(one)
    assert (await two.data(key, VIEWER))["viewer"]["roles"] == [{"role": "API_CLIENT"}]
    await one.data(
        "prairie-admin", REVOKE_ROLE, {"input": {"principalId": principal_id, "role": "API_CLIENT"}}
    )

    async def roleless() -> bool:
        roles: list[Any] = (await two.data(key, VIEWER))["viewer"]["roles"]
        return roles == []

    await _within(3.0, roleless)


async def test_a_disabled_principal_reaches_another_instance(two_apps: tuple[Api, Api]) -> None:
    one, two = two_apps
    _, _, key = await _new_key(one)
    assert (await two.data(key, VIEWER))["viewer"]["name"] == "prairie-dashboard"
    await _disable(one.database, "prairie-dashboard")
    await _within(3.0, lambda: _unauthenticated(two, key))
    assert (await two.data("prairie-admin", VIEWER))["viewer"]["name"] == "prairie-admin"


async def test_the_setting_turns_remembering_off(
    demo_db: Database, keys: dict[str, str], count_statements: StatementCounter
) -> None:
    settings = Settings(database_url=demo_db.url, credential_cache_seconds=0)
    async for api in make_api(demo_db, keys, settings):
        await api.data("prairie-admin", VIEWER)
        count_statements.statements.clear()
        await api.data("prairie-admin", VIEWER)
        assert len(_auth_lookups(count_statements)) == 1


async def test_a_remembered_keys_use_is_still_written(
    write_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = write_api
    _, _, key = await _new_key(api)  # its first use is written
    async with api.database.write_session() as session:
        await session.execute(update(ApiKey).values(last_used_at=None))
    assert api.app.state.auth.credentials.get(hashlib.sha256(key.encode()).digest())
    monkeypatch.setattr(authenticate_module, "KEY_USE_RESOLUTION_SECONDS", 0.0)  # a minute on
    assert (await api.data(key, VIEWER))["viewer"]["name"] == "prairie-dashboard"
    async with api.database.read_session() as session:
        used = (await session.scalars(select(ApiKey.last_used_at))).all()
    assert any(at is not None for at in used)


# -- attacks on the remembered credentials ----------------------------------------------------


async def test_a_lookup_that_read_a_key_before_its_revocation_is_not_remembered(
    write_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request whose lookup read the key just before a revocation committed may still be
    answered (it was in flight), but what it read must not outlive the revocation."""
    api = write_api
    _, key_id, key = await _new_key(api)
    api.forget_credentials()
    looked, go = asyncio.Event(), asyncio.Event()
    lookup = authenticate_module._principal_from_api_key

    async def slow(session: Any, token: str, prefix: str) -> Authenticated:
        found = await lookup(session, token, prefix)
        if token == key:
            looked.set()
            await go.wait()
        return found

    monkeypatch.setattr(authenticate_module, "_principal_from_api_key", slow)
    in_flight = asyncio.create_task(api.data(key, VIEWER))
    await looked.wait()
    await api.data("prairie-admin", REVOKE_KEY, {"input": {"id": key_id}})
    go.set()
    assert (await in_flight)["viewer"]["name"] == "prairie-dashboard"
    body = await api.gql(key, VIEWER)
    assert codes(body) == ["UNAUTHENTICATED"] and reasons(body) == ["REVOKED_CREDENTIALS"]


async def test_a_remembered_subject_lets_no_bad_jwt_through(
    demo_db: Database, keys: dict[str, str]
) -> None:
    """A JWT is verified at every use: a subject remembered from a good token carries no forged,
    expired, not-yet-valid or foreign-audience token of the same subject."""
    settings = Settings(
        database_url=demo_db.url, jwt_hs256_secret=HS_SECRET, jwt_audience="sharegraph"
    )
    async for api in make_api(demo_db, keys, settings):
        async with demo_db.read_session() as session:
            subject = str(
                await session.scalar(select(Principal.id).where(Principal.name == "prairie-admin"))
            )
        now = datetime.now(UTC)
        good = {"sub": subject, "aud": "sharegraph", "exp": now + timedelta(minutes=5)}
        token = jwt.encode(good, HS_SECRET, "HS256")
        assert (await api.data(token, VIEWER))["viewer"]["name"] == "prairie-admin"
        bad = {
            "forged": jwt.encode(good, HS_SECRET + "-not", "HS256"),
            "expired": jwt.encode({**good, "exp": now - timedelta(seconds=5)}, HS_SECRET, "HS256"),
            "early": jwt.encode({**good, "nbf": now + timedelta(minutes=1)}, HS_SECRET, "HS256"),
            "audience": jwt.encode({**good, "aud": "elsewhere"}, HS_SECRET, "HS256"),
            "unsigned": jwt.encode(good, None, "none"),
        }
        for what, forged in bad.items():
            assert codes(await api.gql(forged, VIEWER)) == ["UNAUTHENTICATED"], what
        assert (await api.data(token, VIEWER))["viewer"]["name"] == "prairie-admin"


async def test_refused_credentials_are_never_remembered(
    demo_db: Database, keys: dict[str, str]
) -> None:
    settings = Settings(database_url=demo_db.url, jwt_hs256_secret=HS_SECRET)
    async for api in make_api(demo_db, keys, settings):
        cache: CredentialCache = api.app.state.auth.credentials
        key = keys["prairie-admin"]
        prefix = key.split("_")[1]
        exp = datetime.now(UTC) + timedelta(minutes=5)
        nobody = jwt.encode({"sub": str(uuid.uuid4()), "exp": exp}, HS_SECRET, "HS256")
        refused = [f"sg_{prefix}_guess{n}" for n in range(20)]
        refused += [f"sg_{'b' * 12}_guess{n}" for n in range(20)]
        refused += [nobody, jwt.encode({"sub": "x", "exp": exp}, HS_SECRET, "HS256")]
        for token in refused:
            assert codes(await api.gql(token, VIEWER)) == ["UNAUTHENTICATED"], token
        assert len(cache) == 0
        await api.data(key, VIEWER)
        assert len(cache) == 1


async def test_a_remembered_keys_websocket_closes_when_the_key_is_revoked(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    from .live_client import served
    from .test_subscriptions import RECORDS

    async with served(seeded_db, keys) as live:
        _, key_id, key = await _new_key(live.api)
        async with live.client() as client:
            await client.init(key)  # answered from the remembered key
            await client.subscribe("1", RECORDS)
            await live.api.data("prairie-admin", REVOKE_KEY, {"input": {"id": key_id}})
            assert (await client.closed(5.0))[0] == 4403
        async with live.client() as client:
            await client.send({"type": "connection_init", "payload": {"authorization": key}})
            assert (await client.closed(5.0))[0] == 4403


@pytest.mark.parametrize(
    "token",
    ["sg_aaaaaaaaaaaa_\ud800", "a.\ud800.c", "sg_aaaaaaaaaaaa_caf\u00e9"],
    ids=["key-surrogate", "jwt-surrogate", "key-latin1"],
)
async def test_a_token_that_cannot_be_a_credential_is_refused_over_a_websocket(
    seeded_db: Database, keys: dict[str, str], token: str
) -> None:
    """connection_init is JSON: its token may hold what no header can (a lone surrogate), which
    must be refused as bad credentials (4403), never end the connection in a traceback."""
    from .live_client import served

    async with served(seeded_db, keys) as live:
        async with live.client() as client:
            await client.send(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            )
            assert (await client.closed(5.0))[0] == 4403
        header = f"Bearer {token}".encode("utf-8", "surrogatepass")
        response = await live.api.http.post(
            "/graphql", json={"query": VIEWER}, headers={"authorization": header}
        )
        assert response.status_code == 401 and reasons(response.json()) == ["BAD_CREDENTIALS"]


def test_a_cache_age_that_is_not_a_number_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """NaN compares false with everything: entries would never age out."""
    monkeypatch.setenv("SHAREGRAPH_CREDENTIAL_CACHE_SECONDS", "nan")
    with pytest.raises(SystemExit, match="SHAREGRAPH_CREDENTIAL_CACHE_SECONDS"):
        Settings.from_env()
