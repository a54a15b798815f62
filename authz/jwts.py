"""JWT verification: the configured algorithms, each checked against the key's type before any
signature is, and the JWKS file parsed once per change of the file.

PyJWT's guidance is to let the key, not the token, decide the algorithm: a token's ``alg`` is
accepted only when it is configured (``SHAREGRAPH_JWT_ALGORITHMS``), is never ``none``, and
fits the key: ``HS*`` the shared secret (or an ``oct`` JWK), ``RS*``/``PS*`` an RSA JWK, ``ES*``
an EC JWK of its curve, ``EdDSA`` an OKP JWK; a JWK that names its ``alg`` fits that one only.
Verification then runs with PyJWT's algorithm object for that ``alg`` and the key built by it
(``PyJWK``), so an EC algorithm never meets an RSA key (a ``TypeError`` inside PyJWT) and an
HMAC never gets a public key as its secret.

Refusals are 401 ``UNAUTHENTICATED`` with messages of our own: PyJWT's may embed the key or a
Python repr. A JWKS file that is missing or unreadable is 503 ``SERVICE_UNAVAILABLE``: the
caller's credentials may be fine, the operator's configuration is not.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from sharegraph.errors import ErrorCode, SharegraphError, Unauthenticated, quote
from sharegraph.settings import Settings

log = logging.getLogger("sharegraph.authz.jwt")

# What PyJWT implements, less `none` (RFC 7518's unsecured JWS is never a credential here) and
# PyJWT's own alias ES521 (the registry's name is ES512).
SUPPORTED = frozenset(get_default_algorithms()) - {"none", "ES521"}
HMAC = frozenset({"HS256", "HS384", "HS512"})
RSA = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_CURVES = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}
OKP_CURVES = frozenset({"Ed25519", "Ed448"})


def check_algorithms(names: Iterable[str]) -> None:
    """Refuse a configuration naming an algorithm we cannot verify (or ``none``)."""
    unknown = sorted(set(names) - SUPPORTED)
    if unknown:
        raise ValueError(
            f"SHAREGRAPH_JWT_ALGORITHMS: {', '.join(map(quote, unknown))} cannot be accepted; "
            f"choose from {', '.join(sorted(SUPPORTED))}"
        )


def key_algorithms(jwk: Mapping[str, Any]) -> frozenset[str]:
    """The algorithms a JWK can verify, from its ``kty``/``crv`` and, if it names one, ``alg``."""
    if jwk.get("use", "sig") != "sig":
        return frozenset()
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "RSA":
        family = RSA
    elif kty == "EC" and isinstance(crv, str) and crv in EC_CURVES:
        family = frozenset({EC_CURVES[crv]})
    elif kty == "OKP" and crv in OKP_CURVES:
        family = frozenset({"EdDSA"})
    elif kty == "oct":
        family = HMAC
    else:
        family = frozenset()
    named = jwk.get("alg")
    return family & {named} if isinstance(named, str) else family


@dataclass(frozen=True)
class JwksKey:
    kid: str | None
    verifiers: Mapping[str, jwt.PyJWK]  # algorithm -> the key as PyJWT built it for it


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int, int]
    keys: tuple[JwksKey, ...] | None  # None: the file at this stamp is unusable


_LOADED: dict[str, _Loaded] = {}


def _unavailable() -> SharegraphError:
    return SharegraphError(
        "the keys that verify JWTs cannot be read; try again later, or use an API key",
        code=ErrorCode.SERVICE_UNAVAILABLE,
        reason="JWKS_UNAVAILABLE",
    )


def _parse(path: str) -> tuple[JwksKey, ...] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as exc:
        log.error("JWKS file %s cannot be read: %s", path, exc)
        return None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        log.error("JWKS file %s has no `keys` list", path)
        return None
    keys: list[JwksKey] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        verifiers: dict[str, jwt.PyJWK] = {}
        for algorithm in sorted(key_algorithms(entry) & SUPPORTED):
            try:
                verifiers[algorithm] = jwt.PyJWK(entry, algorithm=algorithm)
            except jwt.PyJWTError as exc:
                log.warning("JWKS %s key %d is unusable for %s: %s", path, index, algorithm, exc)
        kid = entry.get("kid")
        if verifiers:
            keys.append(JwksKey(kid if isinstance(kid, str) else None, verifiers))
    if not keys:
        log.error("JWKS file %s holds no usable signing key", path)
        return None
    return tuple(keys)


def jwks_keys(path: str) -> tuple[JwksKey, ...]:
    """The file's keys, parsed again only when its modification time, size or inode change."""
    try:
        status = os.stat(path)
    except OSError as exc:
        log.error("JWKS file %s cannot be read: %s", path, exc)
        raise _unavailable() from exc
    stamp = (status.st_mtime_ns, status.st_size, status.st_ino)
    loaded = _LOADED.get(path)
    if loaded is None or loaded.stamp != stamp:
        loaded = _Loaded(stamp, _parse(path))
        _LOADED[path] = loaded
    if loaded.keys is None:
        raise _unavailable()
    return loaded.keys


def _bad(message: str, reason: str = "BAD_CREDENTIALS") -> Unauthenticated:
    return Unauthenticated(message, reason=reason)


def _not_accepted(algorithm: str) -> Unauthenticated:
    return _bad(f"JWTs signed with {quote(algorithm)} are not accepted here")


# PyJWT's refusals, most specific first, as our messages (theirs may quote keys or reprs).
_REFUSALS: tuple[tuple[type[jwt.PyJWTError], str, str], ...] = (
    (jwt.ExpiredSignatureError, "the JWT has expired", "EXPIRED_CREDENTIALS"),
    (jwt.ImmatureSignatureError, "the JWT is not valid yet (`nbf` or `iat`)", "BAD_CREDENTIALS"),
    (jwt.InvalidAudienceError, "the JWT's audience (`aud`) is not this service", "BAD_CREDENTIALS"),
    (jwt.InvalidIssuerError, "the JWT's issuer (`iss`) is not accepted", "BAD_CREDENTIALS"),
    (jwt.InvalidSignatureError, "the JWT's signature does not verify", "BAD_CREDENTIALS"),
    (jwt.DecodeError, "the JWT is not well formed", "BAD_CREDENTIALS"),
)


def _refusal(exc: jwt.PyJWTError) -> Unauthenticated:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return _bad(f"the JWT has no `{exc.claim}` claim")
    for kind, message, reason in _REFUSALS:
        if isinstance(exc, kind):
            return _bad(message, reason)
    return _bad("the JWT is not valid")


def _decode(token: str, key: jwt.PyJWK | str, algorithm: str, settings: Settings) -> dict[str, Any]:
    return jwt.decode(
        token,
        key,
        algorithms=[algorithm],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        options={"require": ["sub", "exp"], "verify_aud": settings.jwt_audience is not None},
    )


def _jwks_claims(
    token: str, algorithm: str, kid: object, path: str, settings: Settings
) -> dict[str, Any]:
    keys = jwks_keys(path)
    if kid is not None:
        keys = tuple(k for k in keys if k.kid == kid)
        if not keys:
            raise _bad("no key of this service has the JWT's `kid`")
    fitting = [k.verifiers[algorithm] for k in keys if algorithm in k.verifiers]
    if not fitting:
        raise _bad(f"the JWT's algorithm {quote(algorithm)} does not fit the key")
    # Without a `kid` each fitting key is tried (a rotation may list two).
    for verifier in fitting[:-1]:
        try:
            return _decode(token, verifier, algorithm, settings)
        except jwt.InvalidSignatureError:
            continue
    return _decode(token, fitting[-1], algorithm, settings)


def jwt_claims(token: str, settings: Settings) -> dict[str, Any]:
    """The verified claims of ``token``; 401 ``UNAUTHENTICATED`` if it is not acceptable."""
    try:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or not algorithm:
            raise _bad("the JWT's header names no algorithm (`alg`)")
        if algorithm not in SUPPORTED or algorithm not in settings.jwt_algorithms:
            raise _not_accepted(algorithm)
        if algorithm in HMAC and settings.jwt_hs256_secret:
            return _decode(token, settings.jwt_hs256_secret, algorithm, settings)
        if settings.jwt_jwks_file:
            kid = header.get("kid")
            return _jwks_claims(token, algorithm, kid, settings.jwt_jwks_file, settings)
        raise _not_accepted(algorithm)
    except jwt.PyJWTError as exc:
        raise _refusal(exc) from exc
