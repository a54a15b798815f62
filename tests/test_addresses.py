"""One rule for every outbound connection a tenant can point somewhere: webhook receivers and
SFTP destinations accept and refuse the same addresses."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from sharegraph.addresses import is_public
from sharegraph.errors import BadUserInput
from sharegraph.exporters.destinations import SftpAuth, sftp_target
from sharegraph.settings import ExchangeSettings
from sharegraph.webhooks.ssrf import forbidden

from .sftp_server import SftpServer

PUBLIC = ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "93.184.216.34"]
NOT_PUBLIC = [
    "127.0.0.1", "::1", "::ffff:127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1",
    "169.254.169.254", "::ffff:169.254.169.254", "fe80::1%eth0", "fc00::1", "0.0.0.0", "::",
    "224.0.0.1", "ff02::1", "100.64.0.1", "198.18.0.1", "240.0.0.1",
    "2002:7f00:1::1", "2002:a9fe:a9fe::1",
]  # fmt: skip


@pytest.mark.parametrize("address", PUBLIC + NOT_PUBLIC)
def test_webhooks_and_sftp_decide_alike(address: str) -> None:
    public = address in PUBLIC
    assert is_public(address) is public
    assert forbidden(address) is not public
    host = address.split("%", 1)[0]
    strict = ExchangeSettings(allow_private_hosts=False)
    key = SftpServer(Path(".")).host_key_line
    build = dict(port=22, username="u", remote_dir=".", host_key=key, auth=SftpAuth.PASSWORD)
    if public:
        target = sftp_target(strict, host=host, **build)  # type: ignore[arg-type]
        assert ipaddress.ip_address(target.host) == ipaddress.ip_address(host)
    else:
        with pytest.raises(BadUserInput) as refused:
            sftp_target(strict, host=host, **build)  # type: ignore[arg-type]
        assert refused.value.reason == "PRIVATE_HOST"
