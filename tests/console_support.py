"""The admin console's test fixtures: Prairie 211's admin signed in over the app's pages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sharegraph.datastore.engine import Database

from .portal_support import Portal, open_portal, portal_settings, set_password

ADMIN = "prairie-admin"


@pytest.fixture
async def console(seeded_db: Database) -> AsyncIterator[Portal]:
    """The app with Prairie 211's admin (`prairie-admin`) signed in."""
    await set_password(seeded_db, ADMIN)
    async for p in open_portal(seeded_db, portal_settings(seeded_db, None)):
        signed = await p.browser.sign_in(ADMIN)
        assert signed.status_code == 303, signed.text
        yield p
