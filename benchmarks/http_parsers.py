"""Server CPU per request of uvicorn's HTTP/1.1 protocols: h11, h11 with our request head limits
(``cli/request_heads.py``, what ``sharegraph serve`` runs) and httptools.

``python -m sharegraph.benchmarks.http_parsers [--requests N] [--rounds R] [--connections C]
[--database URL]`` starts a uvicorn process per protocol in turn (uvloop, as ``serve``) and
sends it N keep-alive ``POST /graphql`` requests of the by-id benchmark's document (with an API
key and httpx's headers) over C connections. Without ``--database`` the app only reads the body
and answers a fixed 1.5 KB JSON (no GraphQL, no database: what is left is the protocol's work
and uvicorn's); with it, the whole gateway answers, as ``prairie-admin``, on the demo network
(seeded at scale 1 when empty), so the protocol's share of a real request shows. Printed per
protocol and round: the server process's CPU time (user + system, from /proc; aiosqlite's
thread included, the database server's CPU not) per request, and requests per second. Rounds
interleave the protocols, so a change in the machine's load touches all of them; the client
runs in this process and shares the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from sharegraph import demo
from sharegraph.benchmarks.overhead import principal_and_record
from sharegraph.benchmarks.run import CONTACT_RECORD, DEFAULT_PRINCIPAL
from sharegraph.datastore.engine import Database
from sharegraph.graph.relay import to_global_id
from sharegraph.settings import FairnessSettings, Settings

PROTOCOLS = ("h11", "h11+heads", "httptools")
ANSWER = json.dumps({"data": {"contactRecord": {"notes": "x" * 1_450}}}).encode()


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


def _serve(protocol: str, port: int, database: str | None) -> None:
    import uvicorn

    from sharegraph.cli.request_heads import BoundedHeadProtocol

    http: Any = {
        "h11": "h11",
        "h11+heads": functools.partial(BoundedHeadProtocol, head_timeout=10.0),
        "httptools": "httptools",
    }[protocol]
    app: Any = _app
    if database:
        from sharegraph.web.app import create_app

        app = create_app(
            Settings.from_env(
                database_url=database, fairness=FairnessSettings.unlimited(), scheduler=False
            )
        )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        http=http,
        h11_max_incomplete_event_size=16 * 1024,
        lifespan="on" if database else "off",
        log_level="warning",
        access_log=False,
    )


def _request(port: int, key: str, record: str) -> bytes:
    body = json.dumps({"query": CONTACT_RECORD, "variables": {"id": record}}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\n"
        "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
        f"User-Agent: python-httpx/0.28.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _by_id(database: str) -> tuple[str, str]:
    """The API key and busiest contact record of ``prairie-admin`` (as the overhead benchmark)."""
    settings = Settings(database_url=database)
    db = Database(database)
    try:
        await demo.seed(db, scale=1, demo_secret=settings.demo_secret)
        keys, record = await principal_and_record(db, settings)
    finally:
        await db.dispose()
    return keys[DEFAULT_PRINCIPAL], to_global_id("ContactRecord", record)


async def _client(port: int, request: bytes, count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            answer = await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200") or b'"errors"' in answer:
                raise RuntimeError(f"not answered: {head!r} {answer[:300]!r}")
    finally:
        writer.close()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


def measure(
    protocol: str, requests: int, connections: int, database: str | None, key: str, record: str
) -> tuple[float, float]:
    """(server CPU microseconds per request, requests per second) for one protocol."""
    port = _free_port()
    command = [sys.executable, "-m", "sharegraph.benchmarks.http_parsers", "--serve", protocol]
    command += ["--port", str(port), *(["--database", database] if database else [])]
    process = subprocess.Popen(command)
    try:
        _wait_until_listening(port, process)
        request = _request(port, key, record)
        per_connection = requests // connections

        async def load(count: int) -> None:
            await asyncio.gather(*(_client(port, request, count) for _ in range(connections)))

        asyncio.run(load(max(1, per_connection // 10)))  # warm-up
        cpu, started = _cpu_seconds(process.pid), time.perf_counter()
        asyncio.run(load(per_connection))
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(process.pid) - cpu
        done = per_connection * connections
        return cpu / done * 1e6, done / elapsed
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sharegraph.benchmarks.http_parsers")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--database", help="serve the gateway on this database (see above)")
    parser.add_argument("--serve", choices=PROTOCOLS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.port, args.database)
        return
    key, record = "k" * 64, to_global_id("ContactRecord", "0" * 32)
    if args.database:
        key, record = asyncio.run(_by_id(args.database))
    with open("/proc/loadavg") as loadavg:
        load = loadavg.read().split()[0]
    print(f"{args.database or 'fixed answer'}: {args.requests} requests per run, load {load}")
    for round_ in range(args.rounds):
        turn = round_ % len(PROTOCOLS)
        for protocol in PROTOCOLS[turn:] + PROTOCOLS[:turn]:
            cpu_us, per_second = measure(
                protocol, args.requests, args.connections, args.database, key, record
            )
            print(
                f"  round {round_ + 1} {protocol:10} server CPU {cpu_us:6.0f} us/request"
                f"  {per_second:7.0f} requests/s"
            )


if __name__ == "__main__":
    main()
