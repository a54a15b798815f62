"""A real SFTP server on loopback for delivery tests (asyncssh's own server).

It serves one folder (chrooted) to one user, who may sign in with a password or with a key,
and remembers what clients did: the paths opened for writing and the renames, so a test can
tell that files appeared whole (written under a temporary name, then renamed into place).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

USERNAME = "partner"
PASSWORD = "correct horse battery staple"


@dataclass
class SftpServer:
    root: Path
    host_key: asyncssh.SSHKey = field(
        default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519")
    )
    client_key: asyncssh.SSHKey = field(
        default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519")
    )
    written: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0
    _acceptor: Any = None

    @property
    def host_key_line(self) -> str:
        return str(self.host_key.export_public_key().decode().strip())

    @property
    def client_private_key(self) -> str:
        return str(self.client_key.export_private_key().decode())

    async def start(self) -> None:
        outer = self

        class Server(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username == USERNAME and password == PASSWORD

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                wanted = outer.client_key.export_public_key()
                return username == USERNAME and key.export_public_key() == wanted

        class Files(asyncssh.SFTPServer):
            def __init__(self, chan: Any) -> None:
                super().__init__(chan, chroot=str(outer.root).encode())

            def open(self, path: bytes, pflags: int, attrs: Any) -> Any:
                if pflags & asyncssh.FXF_WRITE:
                    outer.written.append(path.decode())
                return super().open(path, pflags, attrs)

            def posix_rename(self, oldpath: bytes, newpath: bytes) -> Any:
                outer.renamed.append((oldpath.decode(), newpath.decode()))
                return super().posix_rename(oldpath, newpath)

        self._acceptor = await asyncssh.listen(
            "127.0.0.1",
            self.port,
            server_host_keys=[self.host_key],
            server_factory=Server,
            sftp_factory=Files,
            allow_scp=False,
        )
        self.port = self._acceptor.get_port()

    async def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None


def free_port() -> int:
    """A loopback port nothing listens on (a server that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
