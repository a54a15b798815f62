"""Oversized requests are refused early, cheaply and in the GraphQL error shape.

A partner's gateway that sends a whole table as `_entities` representations, a script that
filters by every id it knows, a body without end or JSON nested a thousand deep: each gets a
`BAD_USER_INPUT` it can act on (`LIST_TOO_LONG`, `BODY_TOO_LARGE`, `JSON_TOO_DEEP`) before
the gateway reads, parses or queries more than it must, and the gateway keeps answering.
Lists that are legal but longer than one SQL statement can bind are read in chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import resource
import select as socket_select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.client import HTTPConnection
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from sharegraph.authz.authenticate import load_principal
from sharegraph.authz.plan import AccessPlan
from sharegraph.authz.store import PolicyStore
from sharegraph.cli.request_heads import BoundedHeadProtocol
from sharegraph.cli.serving import uvicorn_options
from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import ContactRecord, Phone, Principal
from sharegraph.graph.relay import to_global_id
from sharegraph.queries import rows
from sharegraph.settings import Limits, Settings
from sharegraph.web.app import create_app
from sharegraph.web.body_limit import BodyLimit

from .conftest import Api

PROBE = Path(__file__).with_name("entities_probe.py")
LIMITS = Limits()
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on ContactRecord { id } } }"
BY_IDS = "query($ids: [ID!]) { contactRecords(filter: {ids: $ids}, first: 100) { totalCount edges { node { id } } } }"
VISIBLE = "{ contactRecords(first: 100) { edges { node { id } } } }"
MB = 1024 * 1024


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    assert body["data"] is None, body
    (error,) = body["errors"]
    extensions: dict[str, Any] = error["extensions"]
    return extensions


def representations(ids: list[str]) -> list[dict[str, str]]:
    return [{"__typename": "ContactRecord", "id": i} for i in ids]


def unknown_ids(count: int) -> list[str]:
    return [to_global_id("ContactRecord", uuid.uuid4()) for _ in range(count)]


async def visible_ids(api: Api, principal: str) -> list[str]:
    data = await api.data(principal, VISIBLE)
    ids = [edge["node"]["id"] for edge in data["contactRecords"]["edges"]]
    assert ids, f"{principal} sees no contact records in the demo network"
    return ids


async def assert_still_answering(http: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await asyncio.wait_for(http.get("/healthz"), timeout=1.0)
    assert response.json() == {"status": "ok"}
    assert time.monotonic() - started < 1.0


# -- the list cap ----------------------------------------------------------------------------


def probe(db: Database, principal: str, count: int, **env: str) -> dict[str, Any]:
    """One `_entities` request of ``count`` representations, measured in a process of its own
    (so the peak is that request's alone) whose address space is capped at 2 GiB, so a
    regression fails there instead of exhausting the machine."""

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 * MB, 2 * 1024 * MB))

    completed = subprocess.run(
        [sys.executable, str(PROBE), db.url, principal, str(count)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        # The defaults, whatever this shell sets, plus what the test asks for.
        env={**{k: v for k, v in os.environ.items() if not k.startswith("SHAREGRAPH_")}, **env},
        preexec_fn=cap_memory,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.multiprocess
def test_a_partner_sending_40000_entities_is_refused_without_the_memory_it_used_to_take(
    demo_db: Database,
) -> None:
    # About 4.4 MB: under the body limit, so it is the list cap that answers.
    result = probe(demo_db, "eastside-portal", 40_000)
    assert result["body_bytes"] < LIMITS.max_body_bytes
    assert result["status"] == 200
    assert result["extensions"] == {
        "code": "BAD_USER_INPUT",
        "reason": "LIST_TOO_LONG",
        "argument": "representations",
        "limit": LIMITS.max_list_items,
    }
    assert result["peak_growth_mb"] < 100, result


async def test_100000_entities_meet_a_limit_and_never_an_internal_error(api: Api) -> None:
    body = {"query": ENTITIES, "variables": {"r": representations(unknown_ids(100_000))}}
    response = await api.post("eastside-portal", body)
    assert response.status_code in (200, 413)
    assert refusal(response.json())["reason"] in {"BODY_TOO_LARGE", "LIST_TOO_LONG"}
    await assert_still_answering(api.http)


async def test_filtering_by_more_ids_than_the_cap_is_refused_with_the_argument_named(
    api: Api,
) -> None:
    ids = unknown_ids(LIMITS.max_list_items + 1)
    by_variable = await api.gql("prairie-admin", BY_IDS, {"ids": ids})
    as_literal = await api.gql(
        "prairie-admin", "{ contactRecords(filter: {ids: " + json.dumps(ids) + "}) { totalCount } }"
    )
    whole_filter = await api.gql(
        "prairie-admin",
        "query($f: ContactRecordFilterInput) { contactRecords(filter: $f) { totalCount } }",
        {"f": {"ids": ids}},
    )
    for body in (by_variable, as_literal, whole_filter):
        extensions = refusal(body)
        assert extensions["code"] == "BAD_USER_INPUT"
        assert extensions["reason"] == "LIST_TOO_LONG"
        assert extensions["argument"] == "filter.ids"
        assert f"{LIMITS.max_list_items:,}" in body["errors"][0]["message"]
    await assert_still_answering(api.http)


async def test_every_list_input_is_capped_not_only_ids(api: Api) -> None:
    tenants = [to_global_id("Tenant", uuid.uuid4()) for _ in range(LIMITS.max_list_items + 1)]
    body = await api.gql(
        "prairie-admin",
        "query($t: [ID!]) { services(filter: {tenantIds: $t}) { totalCount } }",
        {"t": tenants},
    )
    assert refusal(body)["argument"] == "filter.tenantIds"
    # A variable no argument uses was still sent, and is held to the same cap.
    body = await api.gql("prairie-admin", "{ viewer { name } }", {"unused": list(range(5_000))})
    assert refusal(body)["argument"] == "$unused"


async def test_a_list_at_the_cap_is_answered(api: Api) -> None:
    mine = await visible_ids(api, "prairie-admin")
    ids = mine + unknown_ids(LIMITS.max_list_items - len(mine))
    data = await api.data("prairie-admin", BY_IDS, {"ids": ids})
    assert data["contactRecords"]["totalCount"] == len(mine)

    partner = await visible_ids(api, "eastside-portal")
    batch = unknown_ids(LIMITS.max_list_items - len(partner)) + partner
    data = await api.data("eastside-portal", ENTITIES, {"r": representations(batch)})
    assert [e["id"] for e in data["_entities"] if e is not None] == partner


@pytest.mark.multiprocess
def test_a_batch_larger_than_one_statement_binds_resolves_in_chunks(
    demo_db: Database, backend: str
) -> None:
    # An operator raised the caps: 40,000 ids bind more parameters than PostgreSQL (32,767)
    # allows in one statement, yet every known record resolves and no unknown id does.
    # (SQLite's limit here is far higher; the direct tests below cover its chunking.)
    if backend != "postgresql":
        pytest.skip("the bind-parameter limit this proves is PostgreSQL's")
    roomy = {"SHAREGRAPH_MAX_LIST_ITEMS": "50000", "SHAREGRAPH_MAX_BODY_BYTES": str(16 * MB)}
    for principal in ("eastside-portal",):
        result = probe(demo_db, principal, 40_000, **roomy)
        assert result["status"] == 200 and result["extensions"] is None, result
        assert result["known"] > 0
        assert result["resolved_known"] == result["known"]
        assert result["resolved_unknown"] == 0


# -- chunked lookups, directly -----------------------------------------------------------------


async def _plan_of(db: Database, name: str) -> AccessPlan:
    store = PolicyStore(db)
    await store.reload()
    async with db.read_session() as session:
        principal_id = await session.scalar(select(Principal.id).where(Principal.name == name))
        assert principal_id is not None
        principal = await load_principal(session, principal_id)
    assert principal is not None
    return store.plan_for(principal)


async def test_by_ids_finds_every_visible_row_among_40000_ids(demo_db: Database) -> None:
    plan = await _plan_of(demo_db, "lakeside-admin")
    async with demo_db.read_session() as session:
        visible = {
            row.id: row
            for row in await session.scalars(
                select(ContactRecord).where(plan.row_filter(ContactRecord))
            )
        }
        everyone = set(await session.scalars(select(ContactRecord.id)))
        ids = [uuid.uuid4() for _ in range(40_000 - len(everyone))] + sorted(everyone)
        found = await rows.by_ids(session, plan, ContactRecord, ids)
    assert set(found) == set(visible) and len(visible) < len(everyone)
    assert all(found[i].id == i for i in visible)


async def test_children_keep_their_order_across_chunks(demo_db: Database) -> None:
    plan = await _plan_of(demo_db, "prairie-admin")
    async with demo_db.read_session() as session:
        phones = list(
            await session.scalars(
                select(Phone)
                .where(Phone.service_id.is_not(None), plan.row_filter(Phone))
                .order_by(Phone.number, Phone.id)
            )
        )
        services = list(dict.fromkeys(p.service_id for p in phones))
        parents = [uuid.uuid4() for _ in range(40_000)]
        for position, service in zip(
            range(0, 40_000, 40_000 // len(services)), services, strict=False
        ):
            parents[position] = service
        grouped = await rows.children(session, plan, Phone, "service_id", parents, [Phone.number])
    expected: dict[uuid.UUID, list[uuid.UUID]] = {}
    for phone in phones:
        expected.setdefault(phone.service_id, []).append(phone.id)
    assert {k: [p.id for p in v] for k, v in grouped.items()} == expected


async def test_scopes_of_40000_rows_are_matched_in_chunks(demo_db: Database) -> None:
    plan = await _plan_of(demo_db, "lakeside-admin")
    async with demo_db.read_session() as session:
        records = list(
            await session.scalars(select(ContactRecord).where(plan.row_filter(ContactRecord)))
        )
        alone = await plan.matched_scopes(session, ContactRecord, records)
        assert alone, "lakeside-admin should read some records under more than one scope"
        owner = next(r.tenant_id for r in records if r.id in alone)
        padding = [SimpleNamespace(id=uuid.uuid4(), tenant_id=owner) for _ in range(40_000)]
        padded = await plan.matched_scopes(session, ContactRecord, [*padding, *records])
    assert {k: v for k, v in padded.items() if k in alone} == alone
    assert all(not padded[row.id] for row in padding)


# -- the body ----------------------------------------------------------------------------------

BODY_120_MB = 120 * MB
CHUNK = 64 * 1024


class EndlessBody:
    """120 MB of request body produced as the server asks for it, counting what it took."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"query": "{ viewer { name } }", "variables": {"padding": "'
        while self.sent < BODY_120_MB:
            self.sent += CHUNK
            yield b"x" * CHUNK
        yield b'"}}'


@pytest.mark.parametrize(
    "declared",
    [str(BODY_120_MB), None, "1000"],
    ids=["content-length", "chunked", "content-length-that-lies"],
)
async def test_a_120_mb_body_is_refused_with_413_without_being_read(
    api: Api, declared: str | None
) -> None:
    body = EndlessBody()
    headers = {
        "Authorization": f"Bearer {api.keys['prairie-admin']}",
        "Content-Type": "application/json",
    }
    if declared is not None:
        headers["Content-Length"] = declared
    response = await api.http.post("/graphql", content=body, headers=headers)
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert refusal(response.json()) == {
        "code": "BAD_USER_INPUT",
        "reason": "BODY_TOO_LARGE",
        "limit": LIMITS.max_body_bytes,
    }
    # A declared length over the limit is refused before reading; otherwise reading stops at it.
    assert body.sent <= (0 if declared == str(BODY_120_MB) else LIMITS.max_body_bytes + CHUNK)
    await assert_still_answering(api.http)


async def test_a_body_under_the_limit_is_read_whole(api: Api) -> None:
    padding = "x" * (LIMITS.max_body_bytes - 1000)
    body = {"query": "{ viewer { name } }", "variables": {"padding": padding}}
    response = await api.post("prairie-admin", body)
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": {"name": "prairie-admin"}}


# -- JSON nesting --------------------------------------------------------------------------------


def nested(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


async def test_variables_nested_1000_levels_are_refused_as_too_deep(api: Api) -> None:
    content = '{"query": "{ viewer { name } }", "variables": {"deep": ' + nested(1000) + "}}"
    response = await api.http.post(
        "/graphql",
        content=content,
        headers={
            "Authorization": f"Bearer {api.keys['prairie-admin']}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400
    extensions = refusal(response.json())
    assert extensions["code"] == "BAD_USER_INPUT"
    assert extensions["reason"] == "JSON_TOO_DEEP"
    assert extensions["limit"] == LIMITS.max_json_depth
    await assert_still_answering(api.http)


async def test_nesting_within_the_limit_and_brackets_inside_strings_are_fine(api: Api) -> None:
    # The body itself is 2 levels, the value 60 more; a string full of brackets is not nesting.
    brackets = "[{" * 1000 + '\\"' + "}]" * 1000
    content = (
        '{"query": "{ viewer { name } }", "variables": {"deep": '
        + nested(60)
        + ', "text": "'
        + brackets
        + '"}}'
    )
    response = await api.http.post(
        "/graphql",
        content=content,
        headers={
            "Authorization": f"Bearer {api.keys['prairie-admin']}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"viewer": {"name": "prairie-admin"}}


# -- behind uvicorn, as `sharegraph serve` runs it --------------------------------------------


@pytest.fixture
async def served(demo_db: Database) -> AsyncIterator[int]:
    """The app under uvicorn with `sharegraph serve`'s limits, on a free loopback port."""
    async with _uvicorn(Settings(database_url=demo_db.url), demo_db) as port:
        yield port


def _uvicorn(settings: Settings, database: Database) -> contextlib.AbstractAsyncContextManager[int]:
    return _serving(create_app(settings, database=database), settings)


@contextlib.asynccontextmanager
async def _serving(app: Any, settings: Settings, lifespan: str = "on") -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, log_config=None, log_level="warning", lifespan=lifespan, **uvicorn_options(settings)
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the server stopped during startup"
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


def _send_while_reading(port: int, head: bytes, filler: bytes, total: int) -> tuple[bytes, int]:
    """Sends ``head``, then ``filler`` over and over (``total`` bytes at most) while reading, as
    a client that watches for an early answer does; stops sending once the server answers.
    Returns the answer and how many bytes after ``head`` went out. A plain socket, because
    asyncio's streams drop an answer already received once a write meets the server's reset."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        answer, sent, pending, writing = b"", 0, b"", total > 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            wanted = [sock] if writing and not answer else []
            readable, writable, _ = socket_select.select([sock], wanted, [], 1)
            if readable:
                try:
                    data = sock.recv(CHUNK)
                except ConnectionError:
                    break
                if not data:
                    break
                answer += data
            elif writable:
                pending = pending or filler
                try:
                    written = sock.send(pending)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    writing = False  # the server closed its end; what it answered is readable
                    continue
                sent += written
                pending = pending[written:]
                writing = sent < total
        return answer, sent


def _parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines if line)
    return int(status_line.split()[1]), headers, body


async def _healthy_over_http(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        await assert_still_answering(http)


POST_HEAD = b"POST /graphql HTTP/1.1\r\nHost: sharegraph\r\nContent-Type: application/json\r\n"


async def test_over_http_a_declared_120_mb_body_is_refused_before_it_is_sent(
    served: int,
) -> None:
    head = POST_HEAD + b"Content-Length: %d\r\n\r\n" % BODY_120_MB
    answer, _ = await asyncio.to_thread(_send_while_reading, served, head, b"", 0)
    status, headers, body = _parse(answer)
    assert status == 413 and headers["connection"] == "close"
    assert refusal(json.loads(body))["reason"] == "BODY_TOO_LARGE"
    await _healthy_over_http(served)


async def test_over_http_a_chunked_body_is_cut_off_at_the_limit(
    served: int, keys: dict[str, str]
) -> None:
    # With credentials: a caller that may run operations gets its body read, up to the limit
    # (without them it is refused before any of the body is read).
    credentials = b"Authorization: Bearer %s\r\n" % keys["prairie-admin"].encode()
    head = POST_HEAD + credentials + b"Transfer-Encoding: chunked\r\n\r\n"
    chunk = b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)
    answer, sent = await asyncio.to_thread(_send_while_reading, served, head, chunk, BODY_120_MB)
    status, _, body = _parse(answer)
    assert status == 413
    assert refusal(json.loads(body))["reason"] == "BODY_TOO_LARGE"
    # The limit plus what the socket buffers took before the answer came; never the whole body.
    assert sent < BODY_120_MB / 4, sent
    await _healthy_over_http(served)


async def test_over_http_an_oversized_header_is_refused_by_uvicorn_itself(served: int) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: sharegraph\r\nConnection: close\r\nX-Padding: "
    ordinary, _ = await asyncio.to_thread(
        _send_while_reading, served, head + b"x" * 4096 + b"\r\n\r\n", b"", 0
    )
    assert _parse(ordinary)[0] == 200
    # 1 MiB of one header: h11 stops buffering an unfinished request head at 16 KiB.
    answer, _ = await asyncio.to_thread(_send_while_reading, served, head, b"x" * 1024, MB)
    status, headers, _ = _parse(answer)
    assert status == 400 and headers["content-type"].startswith("text/plain")
    await _healthy_over_http(served)


async def test_over_http_a_long_head_sent_in_one_write_is_refused(
    served: int, keys: dict[str, str]
) -> None:
    """h11 alone bounds only a head left unfinished between reads: 17 KB or 100 KB of one
    header, or 5,000 short header lines, arriving whole in one write went through. A small head
    with a large body in the same write is still served."""
    head = b"GET /healthz HTTP/1.1\r\nHost: sharegraph\r\nConnection: close\r\n"
    just_over = head + b"X-Padding: " + b"x" * 17_000 + b"\r\n\r\n"
    one_line = head + b"X-Padding: " + b"x" * 100_000 + b"\r\n\r\n"
    many_lines = head + b"".join(b"X-%d: y\r\n" % i for i in range(5_000)) + b"\r\n"
    for whole in (just_over, one_line, many_lines):
        answer, _ = await asyncio.to_thread(_send_while_reading, served, whole, b"", 0)
        status, headers, _ = _parse(answer)
        assert status == 400 and headers["content-type"].startswith("text/plain")
    body = b'{"query": "{ __typename }"}' + b" " * 50_000
    credentials = b"Authorization: Bearer %s\r\n" % keys["prairie-admin"].encode()
    framing = b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    post = POST_HEAD + credentials + framing + body
    answer, _ = await asyncio.to_thread(_send_while_reading, served, post, b"", 0)
    status, _, answer_body = _parse(answer)
    assert status == 200 and json.loads(answer_body) == {"data": {"__typename": "Query"}}
    # Behind a request answered before its body ended, uvicorn parses the next head at once.
    answer = await asyncio.to_thread(_after_an_early_answer, served, just_over)
    status, headers, _ = _parse(answer)
    assert status == 400 and headers["content-type"].startswith("text/plain")


def _after_an_early_answer(port: int, following: bytes) -> bytes:
    """A POST without credentials, answered 401 before its body is read; then the rest of
    that body and ``following`` in one write. Returns the answer to ``following``."""
    body = b'{"query": "{ __typename }"}'
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(POST_HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body[:5])
        first = b""
        while b"\r\n\r\n" not in first:
            first += sock.recv(CHUNK)
        status, headers, rest = _parse(first)
        assert status == 401, first
        while len(rest) < int(headers["content-length"]):
            rest += sock.recv(CHUNK)
        sock.sendall(body[5:] + following)
        answer = b""
        with contextlib.suppress(ConnectionError):
            while chunk := sock.recv(CHUNK):
                answer += chunk
        return answer


# -- request heads sent slowly ------------------------------------------------------------------

HEAD_TIMEOUT = 1.0
SLACK = 2.0  # a loaded machine's late timer, and the client's own poll


@pytest.fixture
async def impatient(demo_db: Database) -> AsyncIterator[int]:
    """`sharegraph serve` with a 1 s request head timeout."""
    limits = Limits(request_head_timeout_seconds=HEAD_TIMEOUT)
    async with _uvicorn(Settings(database_url=demo_db.url, limits=limits), demo_db) as port:
        yield port


def _trickle(port: int, head: bytes, every: float, before: bytes = b"") -> tuple[bytes, float]:
    """Sends ``before`` at once, then ``head`` one byte every ``every`` seconds (none when
    empty) until the server answers it or closes; returns what it answered after ``before``'s
    answer and the seconds until it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        if before:
            sock.sendall(before)
            first = b""
            while not first.endswith(b"}"):  # the whole JSON answer
                first += sock.recv(CHUNK)
            assert first.startswith(b"HTTP/1.1 200"), first
        answer, pending = b"", head
        while time.monotonic() - started < 30:
            readable, _, _ = socket_select.select([sock], [], [], every)
            if readable:
                try:
                    data = sock.recv(CHUNK)
                except ConnectionError:
                    break
                if not data:
                    break
                answer += data
            elif pending and not answer:
                sock.send(pending[:1])
                pending = pending[1:]
        return answer, time.monotonic() - started


@pytest.mark.parametrize("keep_alive", [False, True], ids=["first head", "after a request"])
async def test_a_request_head_sent_slowly_gets_408_while_others_are_served(
    impatient: int, keep_alive: bool
) -> None:
    before = b"GET /healthz HTTP/1.1\r\nHost: sharegraph\r\n\r\n" if keep_alive else b""
    slow_head = b"GET /healthz HTTP/1.1\r\nHost: sharegraph\r\nX-Slowly: " + b"x" * 100
    slow = asyncio.create_task(asyncio.to_thread(_trickle, impatient, slow_head, 0.1, before))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{impatient}") as http:
        while not slow.done():  # served all along, on connections of their own
            await assert_still_answering(http)
            await asyncio.sleep(0.1)
    answer, closed_after = await slow
    status, headers, body = _parse(answer)
    assert status == 408 and headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    refused = refusal(json.loads(body))
    assert (refused["code"], refused["reason"]) == ("TIMEOUT", "CLIENT_TOO_SLOW")
    assert HEAD_TIMEOUT - 0.1 < closed_after < HEAD_TIMEOUT + SLACK


async def test_a_connection_that_sends_nothing_is_closed(impatient: int) -> None:
    answer, closed_after = await asyncio.to_thread(_trickle, impatient, b"", 0.1)
    assert answer == b""
    assert HEAD_TIMEOUT - 0.1 < closed_after < HEAD_TIMEOUT + SLACK


def _keep_alive_client(port: int, key: str) -> list[tuple[int, Any]]:
    """Five requests on one connection, each after a pause shorter than the head timeout,
    more than twice it in all; the last has a body that starts after more than the head timeout."""

    def late_body() -> Iterator[bytes]:
        time.sleep(HEAD_TIMEOUT * 1.5)
        yield b'{"query": "{ __typename }"}'

    connection = HTTPConnection("127.0.0.1", port, timeout=10)
    answers: list[tuple[int, Any]] = []
    try:
        connection.connect()
        sock = connection.sock
        for _ in range(4):
            time.sleep(HEAD_TIMEOUT * 0.6)
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            answers.append((response.status, json.loads(response.read())))
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        connection.request("POST", "/graphql", late_body(), headers, encode_chunked=True)
        response = connection.getresponse()
        answers.append((response.status, json.loads(response.read())))
        assert connection.sock is sock, "the connection was not kept"
    finally:
        connection.close()
    return answers


async def test_keep_alive_requests_and_a_late_body_are_not_cut_by_the_head_timeout(
    impatient: int, keys: dict[str, str]
) -> None:
    answers = await asyncio.to_thread(_keep_alive_client, impatient, keys["prairie-admin"])
    assert answers == [(200, {"status": "ok"})] * 4 + [(200, {"data": {"__typename": "Query"}})]


async def test_a_websocket_outlives_the_head_timeout(impatient: int, keys: dict[str, str]) -> None:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{impatient}/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await asyncio.sleep(HEAD_TIMEOUT + 0.5)
        init = {"authorization": f"Bearer {keys['prairie-admin']}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}


def _trickle_after_an_early_answer(port: int) -> tuple[bytes, float | None]:
    """A POST without credentials declaring a 1 MB body, answered 401 before its body is read;
    then the body a byte every 0.2 s. Returns the answer and the seconds from it until the
    server closed (None if it had not within the head timeout and slack)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(POST_HEAD + b"Content-Length: %d\r\n\r\n{" % MB)
        answer = b""
        while not answer.endswith(b"}"):
            answer += sock.recv(CHUNK)
        answered = time.monotonic()
        while time.monotonic() - answered < HEAD_TIMEOUT + SLACK:
            try:
                sock.send(b" ")
                if socket_select.select([sock], [], [], 0.2)[0] and not sock.recv(CHUNK):
                    break
            except ConnectionError:
                break
        else:
            return answer, None
        return answer, time.monotonic() - answered


async def test_the_rest_of_a_body_answered_early_must_arrive_within_the_head_timeout(
    impatient: int,
) -> None:
    """Once a request is answered before its body ended, uvicorn reads and drops the rest of it
    and no app timer runs; a byte now and then also kept uvicorn's keep-alive timer from
    firing, so a client could hold its connection for good."""
    answer, closed_after = await asyncio.to_thread(_trickle_after_an_early_answer, impatient)
    assert _parse(answer)[0] == 401
    assert closed_after is not None, "the connection was still open"
    assert closed_after < HEAD_TIMEOUT + SLACK
    await _healthy_over_http(impatient)


def _never_taking_the_answer(port: int, key: str, framing: bytes) -> tuple[int, int]:
    """Asks for the schema introspected 30 times over (some 7 MB, more than the kernel buffers
    of both ends hold) and takes none of it for two head timeouts and the slack; then reads
    what is left.
    Returns the answer's declared length and the bytes it got."""
    fields = "name description args { name description } type { name kind ofType { name } }"
    types = f"types {{ name description fields {{ {fields} }} }}"
    query = "{ " + " ".join(f"s{i}: __schema {{ {types} }}" for i in range(30)) + " }"
    body = json.dumps({"query": query}).encode()
    credentials = b"Authorization: Bearer %s\r\n" % key.encode()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        length = b"Content-Length: %d\r\n\r\n" % len(body)
        sock.sendall(POST_HEAD + credentials + framing + length + body)
        sock.settimeout(30)
        sock.recv(1, socket.MSG_PEEK)  # the answer is being written: taking none of it
        time.sleep(HEAD_TIMEOUT * 2 + SLACK)
        answer = b""
        with contextlib.suppress(ConnectionError):
            while chunk := sock.recv(MB):
                answer += chunk
    _, headers, got = _parse(answer)
    return int(headers["content-length"]), len(got)


@pytest.mark.parametrize("framing", [b"", b"Connection: close\r\n"], ids=["keep-alive", "close"])
async def test_an_answer_never_taken_does_not_hold_its_connection(
    impatient: int, keys: dict[str, str], framing: bytes
) -> None:
    """An answer uvicorn has written whole, but the client never reads, waits in the server's
    buffer; closing the connection, after the answer or at the head deadline (or uvicorn's
    keep-alive), waited for that buffer to drain, that is forever. A client that took none of
    it for a whole head timeout is cut off."""
    declared, got = await asyncio.to_thread(
        _never_taking_the_answer, impatient, keys["prairie-admin"], framing
    )
    assert declared > 6 * MB
    assert got < declared, "the whole answer was still there to read"
    await _healthy_over_http(impatient)


def test_worker_processes_get_the_same_request_head_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--workers N` spawns processes that unpickle uvicorn's config, protocol included."""
    monkeypatch.setenv("SHAREGRAPH_REQUEST_HEAD_TIMEOUT", "3.5")
    protocol = pickle.loads(pickle.dumps(uvicorn_options(Settings.from_env())["http"]))
    assert protocol.func is BoundedHeadProtocol and protocol.keywords == {"head_timeout": 3.5}


async def _streams_10_mb(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for _ in range(160):
        await send({"type": "http.response.body", "body": b"x" * CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _stops_reading_then_asks_again(port: int) -> int:
    """Takes nothing of a 10 MB streamed answer for two head timeouts and the slack, then
    asks again on a second connection, while still holding the first; returns its status."""
    with socket.socket() as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", port))
        stuck.sendall(b"GET / HTTP/1.1\r\nHost: sharegraph\r\n\r\n")
        stuck.settimeout(30)
        stuck.recv(1, socket.MSG_PEEK)
        time.sleep(HEAD_TIMEOUT * 2 + SLACK)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as again:
            again.sendall(b"GET / HTTP/1.1\r\nHost: sharegraph\r\nConnection: close\r\n\r\n")
            return int(again.recv(CHUNK).split(b" ")[1])


async def test_an_answer_abandoned_mid_stream_does_not_hold_its_connection() -> None:
    """web/body_limit.py abandons an answer its client stopped taking, and uvicorn then closes
    the connection; but a close waits for the answer's unsent rest to drain, so the connection
    stayed open, and counted against the connection cap, for as long as the client liked.
    Here the cap is two connections: the stalled one and the next."""
    limits = Limits(request_head_timeout_seconds=HEAD_TIMEOUT, max_connections=2)
    app = BodyLimit(_streams_10_mb, max_bytes=MB, io_timeout=0.2)
    async with _serving(app, Settings(limits=limits), lifespan="off") as port:
        assert await asyncio.to_thread(_stops_reading_then_asks_again, port) == 200


@pytest.mark.parametrize("raw", ["0", "-5", "nan"])
def test_a_head_timeout_that_is_not_a_positive_number_of_seconds_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    """0, which an operator may take for "no limit", closed every connection before its
    request could arrive; NaN made uvloop fail every connection as it opened."""
    monkeypatch.setenv("SHAREGRAPH_REQUEST_HEAD_TIMEOUT", raw)
    with pytest.raises(
        SystemExit, match=r"SHAREGRAPH_REQUEST_HEAD_TIMEOUT must be a (positive|number)"
    ):
        Settings.from_env()


# -- requests in flight and open connections ---------------------------------------------------


async def test_requests_past_the_in_flight_cap_get_a_json_503_and_the_next_is_served(
    demo_db: Database, keys: dict[str, str]
) -> None:
    """With one request in flight allowed, a second is refused at once (503 SERVICE_UNAVAILABLE
    / SERVER_BUSY, Retry-After), not queued; once the first ends, requests are served again."""
    settings = Settings(database_url=demo_db.url, limits=Limits(max_requests_in_flight=1))
    app = create_app(settings, database=demo_db)
    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename'
        await release.wait()
        yield b' }"}'

    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://sharegraph") as http,
    ):
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {keys['prairie-admin']}",
        }
        first = asyncio.create_task(http.post("/graphql", content=slow_body(), headers=headers))
        await asyncio.sleep(0.2)  # the first is in the app, reading its body
        refused = await http.get("/healthz")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refusal(refused.json())["code"] == "SERVICE_UNAVAILABLE"
        assert refusal(refused.json())["reason"] == "SERVER_BUSY"
        release.set()
        assert (await first).json() == {"data": {"__typename": "Query"}}
        assert (await http.get("/healthz")).status_code == 200


class _Caller:
    """One ``POST /graphql`` straight into the ASGI app: the body's messages, then a client
    that either goes away or (``stall``) never sends the rest; ``stuck_reader``: a client that
    never takes its answer. Returns the response's status (0 when none started)."""

    def __init__(self, app: Any, key: str) -> None:
        self.app = app
        headers = [
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {key}".encode()),
        ]
        self.scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/graphql", "raw_path": b"/graphql",
            "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 1), "server": ("t", 80),
        }  # fmt: skip
        self.sent: list[dict[str, Any]] = []

    async def __call__(
        self,
        messages: list[dict[str, Any]],
        stall: asyncio.Event | None = None,
        *,
        stuck_reader: bool = False,
    ) -> int:
        sent: list[dict[str, Any]] = []
        self.sent = sent
        queue = list(messages)

        async def receive() -> dict[str, Any]:
            if queue:
                return queue.pop(0)
            if stall is not None:
                stall.set()
                await asyncio.Event().wait()  # a client that never sends the rest
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if stuck_reader and message["type"] == "http.response.body":
                await asyncio.Event().wait()  # uvicorn waits for the socket to drain

        await self.app(dict(self.scope), receive, send)
        starts = [m["status"] for m in sent if m["type"] == "http.response.start"]
        return starts[0] if starts else 0


async def test_a_request_that_ends_badly_gives_its_in_flight_slot_back(
    demo_db: Database, keys: dict[str, str]
) -> None:
    """A client gone mid-body, a request over the body limit and a request cancelled while it
    waits for its body each give their slot back: with one slot, the next request is served."""
    settings = Settings(
        database_url=demo_db.url, limits=Limits(max_requests_in_flight=1, max_body_bytes=1_000)
    )
    app = create_app(settings, database=demo_db)
    call = _Caller(app, keys["prairie-admin"])
    part = {"type": "http.request", "body": b'{"query": "{ __typ', "more_body": True}
    async with app.router.lifespan_context(app):
        await call([part])  # gone mid-body
        assert (
            await call([{"type": "http.request", "body": b" " * 2_000, "more_body": True}]) == 413
        )
        waiting = asyncio.Event()
        stalled = asyncio.create_task(call([part], waiting))
        await waiting.wait()
        assert await call([]) == 503  # the stalled request holds the one slot
        stalled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stalled
        whole = {"type": "http.request", "body": b'{"query": "{ __typename }"}'}
        assert await call([whole]) == 200


async def test_serve_holds_more_websockets_than_requests_in_flight(
    served: int, keys: dict[str, str]
) -> None:
    """`sharegraph serve`'s connection cap is not the request cap: with 150 subscribers' sockets
    open (each acknowledged), more than the 100 requests in flight, queries are still served."""
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{served}/graphql"
    sockets = []
    try:
        for _ in range(150):
            ws = await connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
            sockets.append(ws)
            init = {"authorization": f"Bearer {keys['prairie-admin']}"}
            await ws.send(json.dumps({"type": "connection_init", "payload": init}))
            assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        await _healthy_over_http(served)  # uvicorn's connection cap would answer 503 here
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def test_a_client_that_stalls_gives_its_in_flight_slot_back(
    demo_db: Database, keys: dict[str, str]
) -> None:
    """A body that stops arriving is answered 408 TIMEOUT / CLIENT_TOO_SLOW after the client
    I/O timeout, and an answer the client never takes is abandoned: with one slot, each frees
    it for the next request instead of holding it for good."""
    limits = Limits(max_requests_in_flight=1, client_io_timeout_seconds=0.3)
    app = create_app(Settings(database_url=demo_db.url, limits=limits), database=demo_db)
    call = _Caller(app, keys["prairie-admin"])
    part = {"type": "http.request", "body": b'{"query": "{ __typ', "more_body": True}
    whole = {"type": "http.request", "body": b'{"query": "{ __typename }"}'}
    async with app.router.lifespan_context(app):
        async with asyncio.timeout(10):
            assert await call([part], asyncio.Event()) == 408
        start = call.sent[0]
        assert (b"connection", b"close") in start["headers"]
        refused = refusal(json.loads(call.sent[1]["body"]))
        assert (refused["code"], refused["reason"]) == ("TIMEOUT", "CLIENT_TOO_SLOW")
        assert await call([whole]) == 200

        async with asyncio.timeout(10):
            assert await call([whole], stuck_reader=True) == 200  # started, then abandoned
        assert call.sent[-1]["type"] == "http.response.body"
        assert await call([whole]) == 200
