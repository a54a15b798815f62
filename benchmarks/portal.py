"""Time to first byte of each portal page, at demo scale 10, through a real HTTP server.

    .venv/bin/python -m sharegraph.benchmarks.portal [--scale 10] [--requests 20]
        [--database URL]

Seeds the demo network (a throwaway SQLite file unless --database is given), sets a password
for the pantry's portal user, serves the app (uvicorn, loopback) and, signed in, requests each
page in turn, timing from the request to the response's first byte. Target: under 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import select

from sharegraph import demo
from sharegraph.authz.passwords import hash_password
from sharegraph.console.site import create_app
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import Password, Principal
from sharegraph.settings import Settings

PERSON = "eastside-portal"
PASSWORD = "benchmark password 1"
TARGET_MS = 300.0


async def _prepare(url: str, scale: int) -> None:
    db = Database(url)
    try:
        await demo.seed(db, scale=scale, demo_secret=Settings().demo_secret)
        async with db.write_session() as session:
            person = await session.scalar(select(Principal.id).where(Principal.name == PERSON))
            assert person is not None
            row = await session.get(Password, person)
            if row is None:
                session.add(Password(principal_id=person, hash=await hash_password(PASSWORD)))
            else:
                row.hash, row.failed_attempts, row.locked_until = (
                    await hash_password(PASSWORD),
                    0,
                    None,
                )
    finally:
        await db.dispose()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ttfb(http: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    with http.stream("GET", path) as response:
        next(response.iter_raw(), b"")
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (path, response.status_code)
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--database")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    url = args.database or f"sqlite+aiosqlite:///{Path(folder.name) / 'portal.db'}"
    print(f"seeding scale {args.scale} ...", flush=True)
    asyncio.run(_prepare(url, args.scale))

    port = _port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(Settings(database_url=url)), host="127.0.0.1", port=port,
            log_level="warning",
        )
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            page = http.get("/signin")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            signed = http.post(
                "/signin",
                data={"login": PERSON, "password": PASSWORD, "csrf_token": token.group(1)},
            )
            assert signed.status_code == 303, signed.text
            inbox = http.get("/portal").text
            referral = re.search(r'href="(/portal/referrals/[^"]+)"', inbox)
            assert referral is not None
            pages = [
                "/signin",
                "/portal",
                "/portal?status=REQUESTED",
                referral.group(1),
                "/portal/capacity",
                "/portal/queue",
                "/portal/follow-ups",
            ]
            print(f"{'page':<40} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
            worst = 0.0
            for path in pages:
                _ttfb(http, path)  # warm
                times = sorted(_ttfb(http, path) for _ in range(args.requests))
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                worst = max(worst, p95)
                shown = path if len(path) < 40 else path[:37] + "..."
                print(
                    f"{shown:<40} {statistics.median(times):>10.1f} {p95:>8.1f} {times[-1]:>8.1f}"
                )
            verdict = "within" if worst < TARGET_MS else "OVER"
            print(f"worst p95 {worst:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        folder.cleanup()


if __name__ == "__main__":
    main()
