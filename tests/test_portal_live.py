"""The portal's live inbox: a WebSocket signed in by the session cookie is accepted only from
the server's own origin (cross-site WebSocket hijacking), and then streams the referrals
received like an API key's would."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from sharegraph.console.site import create_app
from sharegraph.datastore.engine import Database
from sharegraph.web import subscriptions

from .live_client import PROTOCOL, Served, served
from .portal_support import Browser, portal_settings, set_password
from .test_subscriptions import EASTSIDE, _refer

INBOX = "subscription { referralChanged(filter: {direction: RECEIVED}) { referral { id } } }"


@contextlib.asynccontextmanager
async def signed_in(db: Database, keys: dict[str, str]) -> AsyncIterator[tuple[Served, str]]:
    await set_password(db, "eastside-portal")
    async with served(db, keys, portal_settings(db, None), app_factory=create_app) as live:
        browser = Browser(live.api.http)
        answer = await browser.sign_in("eastside-portal")
        assert answer.status_code == 303, answer.text
        cookie = "; ".join(f"{k}={v}" for k, v in live.api.http.cookies.items())
        yield live, cookie


async def _open(live: Served, cookie: str, origin: str | None) -> ClientConnection:
    return await connect(
        live.url,
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        additional_headers={"Cookie": cookie},
        origin=origin,  # type: ignore[arg-type]
    )


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message.get("type") != "ping":
            return message


async def test_a_cookie_websocket_from_another_origin_is_refused(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with signed_in(seeded_db, keys) as (live, cookie):
        # Another host: refused at the handshake (strawberry's own check), before any cookie
        # is looked at.
        with pytest.raises(InvalidStatus) as refused:
            await _open(live, cookie, "http://evil.example")
        assert refused.value.response.status_code == 403
        # The same host and port on another scheme, or no Origin at all: the handshake
        # passes, the one authentication step does not take the cookie (close 4403).
        own = str(live.api.http.base_url).rstrip("/")
        for origin in (own.replace("http://", "https://"), None):
            ws = await _open(live, cookie, origin)
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            with contextlib.suppress(Exception):
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 4403, (origin, ws.close_code)
        # An API key in connection_init still works from anywhere that passes the handshake.
        ws = await _open(live, cookie, None)
        try:
            init = {"authorization": f"Bearer {keys['eastside-portal']}"}
            await ws.send(json.dumps({"type": "connection_init", "payload": init}))
            assert (await _receive(ws))["type"] == "connection_ack"
        finally:
            await ws.close()


async def test_a_cookie_websocket_from_the_own_origin_streams_the_inbox(
    seeded_db: Database, keys: dict[str, str]
) -> None:
    async with signed_in(seeded_db, keys) as (live, cookie):
        own = str(live.api.http.base_url).rstrip("/")
        ws = await _open(live, cookie, own)
        try:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert (await _receive(ws))["type"] == "connection_ack"
            subscribe = {"id": "1", "type": "subscribe", "payload": {"query": INBOX}}
            await ws.send(json.dumps(subscribe))
            await asyncio.sleep(0.3)
            referral_id = await _refer(live.api, seeded_db, EASTSIDE)
            message = await _receive(ws)
            assert message["type"] == "next", message
            assert message["payload"]["data"]["referralChanged"]["referral"]["id"] == referral_id
        finally:
            await ws.close()


async def test_signing_out_closes_the_cookie_websocket(
    seeded_db: Database, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subscriptions, "SESSION_CHECK_SECONDS", 0.5)
    async with signed_in(seeded_db, keys) as (live, cookie):
        own = str(live.api.http.base_url).rstrip("/")
        ws = await _open(live, cookie, own)
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert (await _receive(ws))["type"] == "connection_ack"
        signed_out = await Browser(live.api.http).submit("/portal", "/signout", {})
        assert signed_out.status_code == 303
        with contextlib.suppress(Exception):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 4403
