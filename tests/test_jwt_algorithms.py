"""JWTs: whatever `alg` a token claims, the key decides.

Every algorithm of the JOSE registry (and garbage, and none at all) against a service whose
keys are RSA, EC, OKP (Ed25519) or an HS secret: the token that fits the key and is signed by it
gets in; every other one is a 401 UNAUTHENTICATED whose message is ours (never a 500, never a
Python repr of a key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from sqlalchemy import select

from sharegraph.authz import jwts
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import Principal
from sharegraph.settings import DEFAULT_JWT_ALGORITHMS, Settings
from sharegraph.web.app import create_app

from .builders import add_tenant_with_admin
from .conftest import Api, make_api

HS_SECRET = "jwt-algorithms-test-secret-long-enough-for-hs512-hmac-keys-0123456789abcdef"
KID = "service-key"
# The JOSE registry's JWS algorithms (RFC 7518, 8037, 8812, 9864).
REGISTRY = (
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "ES256K",
    "PS256", "PS384", "PS512", "EdDSA", "Ed25519", "Ed448", "none",
)  # fmt: skip
GARBAGE: tuple[Any, ...] = (
    "", "RS256 ", "rs256", "None", "NONE", "HS256\x00", "x" * 60_000, 42, None, ["RS256"],
    {"alg": "RS256"}, True,
)  # fmt: skip
MISSING = object()  # a header without `alg`

KEYS: dict[str, Any] = {}


def private_key(kind: str) -> Any:
    """One private key per kind for the module (RSA generation is slow)."""
    if kind not in KEYS:
        KEYS[kind] = {
            "RSA": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "P-256": lambda: ec.generate_private_key(ec.SECP256R1()),
            "P-384": lambda: ec.generate_private_key(ec.SECP384R1()),
            "P-521": lambda: ec.generate_private_key(ec.SECP521R1()),
            "secp256k1": lambda: ec.generate_private_key(ec.SECP256K1()),
            "Ed25519": ed25519.Ed25519PrivateKey.generate,
            "Ed448": ed448.Ed448PrivateKey.generate,
        }[kind]()
    return KEYS[kind]


# Which key PyJWT signs an algorithm with (an HS algorithm signs with a secret).
SIGNING_KIND = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), "RSA"),
    "ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1",
    "EdDSA": "Ed25519", "Ed25519": "Ed25519", "Ed448": "Ed448",
}  # fmt: skip


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def forged(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"junk" * 16) -> str:
    """A token PyJWT would refuse to make: any header, any signature."""
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(payload).encode())
    return f"{head}.{body}.{b64(signature)}"


@dataclass
class Setup:
    """How the service verifies JWTs, the key it trusts and the algorithms that must work."""

    name: str
    accepts: frozenset[str]
    key_kind: str | None  # None: the HS secret


def _to_jwk(public: Any) -> dict[str, Any]:
    if isinstance(public, rsa.RSAPublicKey):
        return json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))  # type: ignore[no-any-return]
    if isinstance(public, ec.EllipticCurvePublicKey):
        return json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))  # type: ignore[no-any-return]
    return json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(public))  # type: ignore[no-any-return]


def jwks_for(kind: str, kid: str = KID, **extra: Any) -> dict[str, Any]:
    jwk = _to_jwk(private_key(kind).public_key())
    jwk.update(kid=kid, use="sig", **extra)
    return {"keys": [jwk]}


SETUPS = {
    "RSA": Setup("RSA", frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}), "RSA"),
    "EC P-256": Setup("EC P-256", frozenset({"ES256"}), "P-256"),
    "EC P-384": Setup("EC P-384", frozenset({"ES384"}), "P-384"),
    "OKP Ed25519": Setup("OKP Ed25519", frozenset({"EdDSA"}), "Ed25519"),
    "HS secret": Setup("HS secret", frozenset({"HS256"}), None),
}


@pytest.fixture
async def principal(migrated_db: Database) -> uuid.UUID:
    await add_tenant_with_admin(migrated_db, "JWT 211", "jwt-admin")
    async with migrated_db.read_session() as session:
        found = await session.scalar(select(Principal.id).where(Principal.name == "jwt-admin"))
    assert found is not None
    return found


def claims(principal: uuid.UUID) -> dict[str, Any]:
    return {
        "sub": str(principal),
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
    }


def settings_for(setup: Setup, db: Database, path: Path) -> Settings:
    if setup.key_kind is None:
        return Settings(database_url=db.url, jwt_hs256_secret=HS_SECRET)
    path.write_text(json.dumps(jwks_for(setup.key_kind)))
    return Settings(database_url=db.url, jwt_jwks_file=str(path))


@pytest.fixture
async def app_for(
    migrated_db: Database, tmp_path: Path
) -> AsyncIterator[Callable[[Settings], Any]]:
    """Opens an API on `migrated_db` with the given settings; closed at the end of the test."""
    opened: list[Any] = []

    async def open_api(settings: Settings) -> Api:
        generator = make_api(migrated_db, {}, settings)
        opened.append(generator)
        return await generator.__anext__()

    yield open_api
    for generator in opened:
        await generator.aclose()


async def viewer(api: Api, token: str, path: str = "/graphql") -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    if path == "/graphql":
        response = await api.http.post(
            "/graphql", json={"query": "{ viewer { name } }"}, headers=headers
        )
    else:
        response = await api.http.get(path, headers=headers)
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    return response.status_code, response.json()


def assert_refused_cleanly(status: int, body: dict[str, Any], what: str) -> None:
    assert status == 401, (what, status, body)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED", (what, error)
    message = error["message"]
    assert "object at" not in message and "<" not in message and ">" not in message, message
    assert len(message) <= 200, (what, message[:300])


def signed(alg: str, principal: uuid.UUID, setup: Setup) -> str:
    """A genuine token for `alg`: with the service's own key when the algorithm fits it,
    otherwise with a key of the algorithm's own kind (or forged where PyJWT cannot sign)."""
    payload = claims(principal)
    if alg.startswith("HS"):
        return jwt.encode(payload, HS_SECRET, algorithm=alg, headers={"kid": KID})
    if alg == "none":
        return jwt.encode(payload, None, algorithm="none")
    kind = SIGNING_KIND[alg]
    if setup.key_kind is not None and alg in setup.accepts:
        kind = setup.key_kind
    key = private_key(kind)
    if alg in ("Ed25519", "Ed448"):  # RFC 9864 names PyJWT cannot sign with: sign by hand
        unsigned = forged({"alg": alg, "kid": KID}, payload).rsplit(".", 1)[0]
        return f"{unsigned}.{b64(key.sign(unsigned.encode()))}"
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": KID})


@pytest.mark.parametrize("setup_name", list(SETUPS))
async def test_every_registered_algorithm_gets_in_only_with_the_key_it_fits(
    setup_name: str, principal: uuid.UUID, app_for: Any, migrated_db: Database, tmp_path: Path
) -> None:
    setup = SETUPS[setup_name]
    api = await app_for(settings_for(setup, migrated_db, tmp_path / "jwks.json"))
    for alg in REGISTRY:
        status, body = await viewer(api, signed(alg, principal, setup))
        if alg in setup.accepts:
            assert status == 200, (alg, body)
            assert body["data"] == {"viewer": {"name": "jwt-admin"}}
        else:
            assert_refused_cleanly(status, body, f"{alg} signed")
        # The same header with a signature nobody made.
        junk = forged({"alg": alg, "kid": KID, "typ": "JWT"}, claims(principal))
        assert_refused_cleanly(*await viewer(api, junk), f"{alg} junk")


@pytest.mark.parametrize("setup_name", list(SETUPS))
async def test_garbage_or_missing_algorithms_are_refused_cleanly(
    setup_name: str, principal: uuid.UUID, app_for: Any, migrated_db: Database, tmp_path: Path
) -> None:
    api = await app_for(settings_for(SETUPS[setup_name], migrated_db, tmp_path / "jwks.json"))
    for alg in (*GARBAGE, MISSING):
        header: dict[str, Any] = {"kid": KID} if alg is MISSING else {"alg": alg, "kid": KID}
        status, body = await viewer(api, forged(header, claims(principal)))
        assert_refused_cleanly(status, body, repr(alg)[:40])
    for token in ("a.b.c", "e30.e30.e30", "!!!.???.###", forged({"alg": "HS256"}, [1, 2])):  # type: ignore[arg-type]
        assert_refused_cleanly(*await viewer(api, token), token)


async def test_an_ec_algorithm_against_an_rsa_key_is_refused_over_hsds_too(
    principal: uuid.UUID, app_for: Any, migrated_db: Database, tmp_path: Path
) -> None:
    """The reported 500: `alg: ES256` while the JWKS holds an RSA key."""
    api = await app_for(settings_for(SETUPS["RSA"], migrated_db, tmp_path / "jwks.json"))
    token = jwt.encode(
        claims(principal), private_key("P-256"), algorithm="ES256", headers={"kid": KID}
    )
    status, body = await viewer(api, token, "/hsds/services")
    assert status == 401
    assert body["error"]["code"] == "UNAUTHENTICATED"
    assert body["error"]["message"] == "the JWT's algorithm 'ES256' does not fit the key"
    status, body = await viewer(api, token)
    assert_refused_cleanly(status, body, "ES256 on RSA")


async def test_the_rsa_public_key_is_not_an_hmac_secret(
    principal: uuid.UUID, app_for: Any, migrated_db: Database, tmp_path: Path
) -> None:
    """Algorithm confusion: HS256 'signed' with the PEM of the service's public RSA key."""
    settings = settings_for(SETUPS["RSA"], migrated_db, tmp_path / "jwks.json")
    api = await app_for(settings)
    pem = (
        private_key("RSA")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    unsigned = forged({"alg": "HS256", "kid": KID}, claims(principal), b"").rsplit(".", 1)[0]
    mac = hmac.new(pem, unsigned.encode(), hashlib.sha256).digest()
    assert_refused_cleanly(*await viewer(api, f"{unsigned}.{b64(mac)}"), "HS256 with the PEM")


async def test_a_jwk_that_names_its_algorithm_fits_that_one_only(
    principal: uuid.UUID, app_for: Any, migrated_db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks_for("RSA", alg="RS256")))
    api = await app_for(Settings(database_url=migrated_db.url, jwt_jwks_file=str(path)))
    key = private_key("RSA")
    ok = jwt.encode(claims(principal), key, algorithm="RS256", headers={"kid": KID})
    assert (await viewer(api, ok))[0] == 200
    pss = jwt.encode(claims(principal), key, algorithm="PS256", headers={"kid": KID})
    status, body = await viewer(api, pss)
    assert_refused_cleanly(status, body, "PS256 on an RS256 key")
    assert body["errors"][0]["message"] == "the JWT's algorithm 'PS256' does not fit the key"


async def test_the_accepted_algorithms_are_configured(
    principal: uuid.UUID, app_for: Any, migrated_db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks_for("RSA")))
    only_rs256 = Settings(
        database_url=migrated_db.url, jwt_jwks_file=str(path), jwt_algorithms=("RS256",)
    )
    api = await app_for(only_rs256)
    key = private_key("RSA")
    assert (await viewer(api, jwt.encode(claims(principal), key, algorithm="RS256")))[0] == 200
    status, body = await viewer(api, jwt.encode(claims(principal), key, algorithm="PS256"))
    assert_refused_cleanly(status, body, "PS256 not configured")
    assert body["errors"][0]["message"] == "JWTs signed with 'PS256' are not accepted here"


def test_the_algorithms_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHAREGRAPH_JWT_ALGORITHMS", " RS256, ES256 ,")
    assert Settings.from_env().jwt_algorithms == ("RS256", "ES256")
    monkeypatch.delenv("SHAREGRAPH_JWT_ALGORITHMS")
    assert Settings.from_env().jwt_algorithms == DEFAULT_JWT_ALGORITHMS
    assert "none" not in DEFAULT_JWT_ALGORITHMS


@pytest.mark.parametrize("names", [("none",), ("RS256", "RS265"), ("HS256", "Ed448")])
def test_an_algorithm_we_cannot_verify_stops_the_service_from_starting(
    names: tuple[str, ...],
) -> None:
    with pytest.raises(ValueError, match="SHAREGRAPH_JWT_ALGORITHMS"):
        create_app(Settings(database_url="sqlite+aiosqlite://", jwt_algorithms=names))


async def test_the_jwks_file_is_parsed_once_and_again_when_it_changes(
    principal: uuid.UUID, app_for: Any, migrated_db: Database, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks_for("RSA")))
    parses: list[str] = []
    parse = jwts._parse
    monkeypatch.setattr(jwts, "_parse", lambda p: parses.append(p) or parse(p))
    api = await app_for(Settings(database_url=migrated_db.url, jwt_jwks_file=str(path)))
    old = jwt.encode(claims(principal), private_key("RSA"), "RS256", headers={"kid": KID})
    for _ in range(3):
        assert (await viewer(api, old))[0] == 200
    assert len(parses) == 1

    # Rotation: the service now trusts an EC key under a new kid.
    path.write_text(json.dumps(jwks_for("P-256", kid="rotated")))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    new = jwt.encode(claims(principal), private_key("P-256"), "ES256", headers={"kid": "rotated"})
    assert (await viewer(api, new))[0] == 200
    assert_refused_cleanly(*await viewer(api, old), "a token of the retired key")
    assert len(parses) == 2


@pytest.mark.parametrize(
    "content",
    [None, "", "{not json", "[]", '{"keys": "none"}', '{"keys": [{"kty": "XYZ"}, 7]}'],
    ids=["missing", "empty", "not-json", "a-list", "keys-not-a-list", "no-usable-key"],
)
async def test_a_missing_or_garbled_jwks_file_is_a_clean_503(
    content: str | None, principal: uuid.UUID, app_for: Any, migrated_db: Database,
    tmp_path: Path,
) -> None:  # fmt: skip
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_text(content)
    settings = Settings(
        database_url=migrated_db.url, jwt_jwks_file=str(path), jwt_hs256_secret=HS_SECRET
    )
    api = await app_for(settings)
    token = jwt.encode(claims(principal), private_key("RSA"), "RS256", headers={"kid": KID})
    for route in ("/graphql", "/hsds/services"):
        status, body = await viewer(api, token, route)
        assert status == 503, (route, body)
        error = body["errors"][0] if route == "/graphql" else body["error"]
        code = error["extensions"]["code"] if route == "/graphql" else error["code"]
        assert code == "SERVICE_UNAVAILABLE"
        assert str(path) not in json.dumps(body)  # the operator's file stays in the log
    # The HS secret does not depend on the file.
    hs = jwt.encode(claims(principal), HS_SECRET, algorithm="HS256")
    assert (await viewer(api, hs))[0] == 200
