"""Where scheduled deliveries go: a directory on this machine, or a partner's SFTP server.

Either way a file appears whole or not at all: it is written under a hidden temporary name next
to its final one and renamed into place, so a partner polling the folder never reads half a file.

Directories: only inside the tenant's own folder under the delivery root
(``SHAREGRAPH_DELIVERY_ROOT/<tenant id>/``), so one tenant can never write into another's
deliveries; a path that leaves it (``..``, a symlink) is refused, when saved and again when used.

SFTP: the server's host key is pinned (``hostKey``, its OpenSSH public key line), so credentials
and records go to that server and no other; authentication by password or by private key (stored
encrypted, ``datastore.secrets``); nothing is read from the worker's own ``~/.ssh``. Servers on
loopback or private addresses are refused unless ``allow_private_hosts`` is set, checked on the
address actually connected to.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import posixpath
import re
import shutil
import socket
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

import asyncssh

from sharegraph.addresses import is_public
from sharegraph.errors import BadUserInput, quote
from sharegraph.settings import ExchangeSettings

MAX_PATH = 1024
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class DestinationKind(StrEnum):
    DIRECTORY = "directory"
    SFTP = "sftp"


class SftpAuth(StrEnum):
    PASSWORD = "password"
    PRIVATE_KEY = "private-key"


def _bad(message: str, reason: str = "BAD_DESTINATION") -> BadUserInput:
    return BadUserInput(message, reason=reason)


# -- directories ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryTarget:
    path: str  # relative to the tenant's folder under the delivery root

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path}

    def describe(self) -> str:
        """Where the data goes, for the accounting of disclosures."""
        return f"directory:{self.path or '.'}"


def tenant_folder(settings: ExchangeSettings, tenant_id: uuid.UUID) -> Path:
    if settings.delivery_root is None:
        raise _bad(
            "directory deliveries are not configured on this server (SHAREGRAPH_DELIVERY_ROOT)",
            reason="DELIVERY_ROOT_NOT_CONFIGURED",
        )
    return settings.delivery_root.resolve() / str(tenant_id)


def _resolved(settings: ExchangeSettings, tenant_id: uuid.UUID, path: str) -> Path:
    folder = tenant_folder(settings, tenant_id)
    target = (folder / path).resolve()
    if not target.is_relative_to(folder):
        raise _bad(f"{quote(path)} leaves your delivery folder", reason="PATH_OUTSIDE_ROOT")
    return target


def directory_target(
    settings: ExchangeSettings, tenant_id: uuid.UUID, path: str
) -> DirectoryTarget:
    """``path`` checked: relative, inside the tenant's delivery folder."""
    text = path.strip().replace("\\", "/")
    if "\x00" in text or len(text) > MAX_PATH:
        raise _bad("the directory path is not a usable path")
    pure = PurePosixPath(text or ".")
    if pure.is_absolute() or ".." in pure.parts:
        raise _bad(
            f"{quote(path)}: give a path relative to your delivery folder, without `..`",
            reason="PATH_OUTSIDE_ROOT",
        )
    clean = "" if str(pure) == "." else str(pure)
    _resolved(settings, tenant_id, clean)
    return DirectoryTarget(clean)


def _put_local(source: Path, folder: Path, name: str) -> None:
    temporary = folder / f".{name}.{uuid.uuid4().hex[:8]}.partial"
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, folder / name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


async def _deliver_to_directory(
    target: DirectoryTarget,
    files: list[tuple[Path, str]],
    settings: ExchangeSettings,
    tenant_id: uuid.UUID,
) -> None:
    folder = _resolved(settings, tenant_id, target.path)
    folder.mkdir(parents=True, exist_ok=True)
    if _resolved(settings, tenant_id, target.path) != folder:  # a symlink appeared meanwhile
        raise _bad(f"{quote(target.path)} leaves your delivery folder", reason="PATH_OUTSIDE_ROOT")
    for source, name in files:
        await asyncio.to_thread(_put_local, source, folder, name)


# -- SFTP -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SftpTarget:
    host: str
    port: int
    username: str
    remote_dir: str
    host_key: str
    auth: SftpAuth

    def describe(self) -> str:
        """Where the data goes, for the accounting of disclosures (no secrets in it)."""
        return f"sftp://{self.username}@{self.host}:{self.port}/{self.remote_dir.lstrip('/')}"

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "remoteDir": self.remote_dir,
            "hostKey": self.host_key,
            "auth": self.auth.value,
        }


def sftp_target(
    settings: ExchangeSettings,
    *,
    host: str,
    port: int,
    username: str,
    remote_dir: str,
    host_key: str,
    auth: SftpAuth,
) -> SftpTarget:
    host = host.strip()
    literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    with contextlib.suppress(ValueError):
        literal = ipaddress.ip_address(host.strip("[]"))
    if literal is None and not _HOSTNAME.match(host):
        raise _bad(f"{quote(host)} is not a host name or IP address")
    if literal is not None and not settings.allow_private_hosts and not is_public(literal):
        raise _bad(f"{host} is not a public address", reason="PRIVATE_HOST")
    if not 1 <= port <= 65535:
        raise _bad("port must be between 1 and 65535")
    username = username.strip()
    if not username or len(username) > 255 or any(ord(c) < 32 for c in username):
        raise _bad("username must be 1 to 255 printable characters")
    remote = remote_dir.strip() or "."
    if len(remote) > MAX_PATH or any(ord(c) < 32 for c in remote):
        raise _bad("remoteDir is not a usable path")
    try:
        key = asyncssh.import_public_key(host_key.strip())
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise _bad(
            "hostKey must be the server's public host key as one OpenSSH line "
            "(`ssh-ed25519 AAAA...`, as in known_hosts or `ssh-keyscan`)",
            reason="BAD_HOST_KEY",
        ) from exc
    return SftpTarget(
        host=str(literal) if literal is not None else host.lower(),
        port=port,
        username=username,
        remote_dir=remote,
        host_key=key.export_public_key().decode("ascii").strip(),
        auth=auth,
    )


def sftp_secret(
    auth: SftpAuth,
    *,
    password: str | None,
    private_key: str | None,
    passphrase: str | None,
) -> dict[str, Any]:
    """The secret to store for ``auth``, checked (a private key must load)."""
    if auth is SftpAuth.PASSWORD:
        if not password or private_key:
            raise _bad("password authentication takes a password (and no privateKey)", "BAD_SECRET")
        return {"password": password}
    if not private_key or password:
        raise _bad("private-key authentication takes a privateKey (and no password)", "BAD_SECRET")
    try:
        asyncssh.import_private_key(private_key, passphrase or None)
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError) as exc:
        raise _bad(
            "privateKey must be a private key in OpenSSH or PEM format "
            "(with privateKeyPassphrase if it is encrypted)",
            "BAD_SECRET",
        ) from exc
    secret = {"privateKey": private_key}
    if passphrase:
        secret["passphrase"] = passphrase
    return secret


async def _address(target: SftpTarget, settings: ExchangeSettings) -> str:
    found = await asyncio.get_running_loop().getaddrinfo(
        target.host, target.port, type=socket.SOCK_STREAM
    )
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0])
        if settings.allow_private_hosts or is_public(address):
            return str(address)
    raise _bad(f"{target.host} does not resolve to a public address", reason="PRIVATE_HOST")


async def _deliver_by_sftp(
    target: SftpTarget,
    files: list[tuple[Path, str]],
    secret: dict[str, Any],
    settings: ExchangeSettings,
) -> None:
    address = await _address(target, settings)
    keys: list[asyncssh.SSHKey] = []
    if target.auth is SftpAuth.PRIVATE_KEY:
        keys = [asyncssh.import_private_key(secret["privateKey"], secret.get("passphrase"))]
    async with (
        asyncssh.connect(
            address,
            target.port,
            username=target.username,
            password=secret.get("password"),
            client_keys=keys,
            known_hosts=([asyncssh.import_public_key(target.host_key)], [], []),
            preferred_auth="publickey" if keys else "password",
            agent_path=None,
            config=[],
            x509_trusted_certs=None,
            connect_timeout=settings.sftp_timeout_seconds,
            login_timeout=settings.sftp_timeout_seconds,
        ) as connection,
        connection.start_sftp_client() as sftp,
    ):
        for source, name in files:
            final = posixpath.join(target.remote_dir, name)
            temporary = posixpath.join(target.remote_dir, f".{name}.partial")
            await sftp.put(str(source), temporary)
            try:
                await sftp.posix_rename(temporary, final)
            except asyncssh.SFTPOpUnsupported:
                if await sftp.exists(final):
                    await sftp.remove(final)
                await sftp.rename(temporary, final)


# -- stored form ----------------------------------------------------------------------------------

Target = DirectoryTarget | SftpTarget


def stored_target(kind: str, data: dict[str, Any]) -> Target:
    if kind == DestinationKind.DIRECTORY:
        return DirectoryTarget(data.get("path", ""))
    return SftpTarget(
        host=data["host"],
        port=int(data["port"]),
        username=data["username"],
        remote_dir=data["remoteDir"],
        host_key=data["hostKey"],
        auth=SftpAuth(data["auth"]),
    )


def kind_of(target: Target) -> DestinationKind:
    return (
        DestinationKind.DIRECTORY if isinstance(target, DirectoryTarget) else DestinationKind.SFTP
    )


async def deliver(
    target: Target,
    files: list[tuple[Path, str]],
    *,
    secret: dict[str, Any] | None,
    settings: ExchangeSettings,
    tenant_id: uuid.UUID,
) -> None:
    """Put each (local file, name) at the destination, whole or not at all."""
    if isinstance(target, DirectoryTarget):
        await _deliver_to_directory(target, files, settings, tenant_id)
        return
    if secret is None:
        raise _bad("the SFTP credentials are missing; set them again", reason="BAD_SECRET")
    await _deliver_by_sftp(target, files, secret, settings)
