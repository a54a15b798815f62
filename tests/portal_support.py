"""Shared by the sign-in and portal tests: the app with its pages, a real SMTP server on
loopback, and a browser-like client that keeps cookies and reads CSRF tokens off the pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from sharegraph.authz.passwords import hash_password
from sharegraph.console.site import create_app
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import Password, Principal
from sharegraph.settings import Settings, SignInSettings, SmtpSettings

from .test_email_pdf import Mailbox, free_port

SENDER = "portal@prairie211.example.org"
PASSWORD = "correct horse battery staple"
LINK = re.compile(r"https?://\S+/signin/link/[A-Za-z0-9_-]+")
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Smtp:
    mailbox: Mailbox
    settings: SmtpSettings

    def links(self) -> list[str]:
        found = [m for r in self.mailbox.received for t in r.texts() for m in LINK.findall(t)]
        return list(dict.fromkeys(found))  # the raw message and its decoded part hold it twice


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Smtp(
            mailbox, SmtpSettings(host="127.0.0.1", port=port, starttls=False, from_address=SENDER)
        )
    finally:
        controller.stop()


def portal_settings(db: Database, smtp: Smtp | None, **signin: Any) -> Settings:
    return Settings(
        database_url=db.url,
        smtp=smtp.settings if smtp else SmtpSettings(),
        signin=replace(SignInSettings(public_url="http://sharegraph.test"), **signin),
    )


@dataclass
class Browser:
    """An httpx client on the app that behaves like a browser on forms."""

    http: httpx.AsyncClient

    async def token(self, path: str = "/signin") -> str:
        page = await self.http.get(path)
        found = TOKEN.search(page.text)
        assert found, page.text
        return found.group(1)

    async def submit(
        self, page_path: str, action: str, fields: dict[str, str], *, csrf: bool = True
    ) -> httpx.Response:
        data = dict(fields)
        if csrf:
            data["csrf_token"] = await self.token(page_path)
        return await self.http.post(action, data=data)

    async def sign_in(self, login: str, password: str = PASSWORD) -> httpx.Response:
        return await self.submit("/signin", "/signin", {"login": login, "password": password})


async def client_for(app: Any) -> AsyncIterator[Browser]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sharegraph.test") as http:
        yield Browser(http)


@dataclass
class Portal:
    app: Any
    db: Database
    browser: Browser

    async def another_browser(self) -> AsyncIterator[Browser]:
        async for b in client_for(self.app):
            yield b


async def open_portal(db: Database, settings: Settings) -> AsyncIterator[Portal]:
    app = create_app(settings, database=db)
    async with app.router.lifespan_context(app):
        async for browser in client_for(app):
            yield Portal(app, db, browser)


async def set_password(db: Database, name: str, password: str = PASSWORD) -> uuid.UUID:
    async with db.write_session() as session:
        principal_id = await session.scalar(select(Principal.id).where(Principal.name == name))
        assert principal_id is not None
        row = await session.get(Password, principal_id)
        if row is None:
            session.add(Password(principal_id=principal_id, hash=await hash_password(password)))
        else:
            row.hash = await hash_password(password)
    return principal_id
