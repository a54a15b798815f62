"""A short fuzzing pass in the default run: ~100 schemathesis cases against the real server.

The full pass (1,200 cases or more, see benchmarks/README.md, "Fuzzing") is a command:
`python -m sharegraph.benchmarks.fuzz [--database URL]`. This one runs its `--quick` size on
each backend (10-15 s each on 2 cores, seeding included; under a minute, so it is in the
default run), so a change that makes some generated GraphQL document or HSDS query answer
500, a non-JSON error or an `INTERNAL` error fails the suite, with the request that did it.
Marked `fuzz`: `pytest -m fuzz` runs only these, `-m "not fuzz"` leaves them out.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from sharegraph.benchmarks import fuzz

from .conftest import POSTGRES_URL

pytestmark = pytest.mark.fuzz


def new_database_url(backend: str, tmp_path: Path) -> str:
    """A database the fuzzing run creates and throws away itself."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
    name = f"sg_fuzz_{uuid.uuid4().hex[:12]}"
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def test_a_quick_fuzzing_pass_gets_no_server_error_and_json_errors_only(
    backend: str, tmp_path: Path
) -> None:
    url = new_database_url(backend, tmp_path)
    # In a thread of its own: the run opens its own event loops (asyncio.run), which must not
    # replace the test session's.
    with ThreadPoolExecutor(max_workers=1) as pool:
        report = pool.submit(fuzz.run, cases=fuzz.QUICK_CASES, database=url, seed=2024).result()

    assert report.failures == 0, fuzz.render(report)
    assert report.server_errors == 0
    assert report.cases == fuzz.QUICK_CASES
    by_target = {t.target: t for t in report.targets}
    assert set(by_target) == {t.name for t in fuzz.TARGETS}
    assert all(t.cases > 0 for t in by_target.values())
    # Without credentials GraphQL answers 401 to everything; HSDS is public.
    assert set(by_target["graphql as anonymous"].statuses) == {401}
    assert by_target["graphql as anonymous"].codes.keys() == {"UNAUTHENTICATED"}
    assert by_target["hsds as anonymous"].statuses[200] > 0
    if backend == "sqlite":
        assert not list(tmp_path.iterdir())  # the database and its WAL files are thrown away


@pytest.mark.parametrize(
    ("status", "content_type", "body", "what"),
    [
        (500, "application/json", b'{"data": null}', "HTTP 500"),
        (502, "text/plain", b"Bad Gateway", "HTTP 502"),
        (404, "text/plain", b"Not Found", "non-JSON error body"),
        (400, "application/json", b"{not json", "non-JSON error body"),
        (
            200,
            "application/json",
            b'{"data": null, "errors": [{"message": "internal error (incident 1)",'
            b' "extensions": {"code": "INTERNAL"}}]}',
            "INTERNAL or code-less error",
        ),
        (
            200,
            "application/json",
            b'{"errors": [{"message": "no code"}]}',
            "INTERNAL or code-less error",
        ),
    ],
)
def test_the_oracle_flags_server_errors_and_unparseable_errors(
    status: int, content_type: str, body: bytes, what: str
) -> None:
    failure = fuzz.check(_response(status, content_type, body), fuzz.Counter())
    assert failure is not None and failure.what == what
    assert failure.request.startswith("POST http://127.0.0.1/graphql")


@pytest.mark.parametrize(
    ("status", "body", "codes"),
    [
        (200, b'{"data": {"viewer": null}}', {"data": 1}),
        (
            400,
            b'{"data": null, "errors": [{"message": "m", "extensions": {"code": "BAD_USER_INPUT"}}]}',
            {"BAD_USER_INPUT": 1},
        ),
        (
            404,
            b'{"error": {"code": "NOT_FOUND", "reason": "NO_SUCH_ID", "message": "m"}}',
            {"NOT_FOUND": 1},
        ),
    ],
)
def test_the_oracle_passes_answers_and_coded_json_errors(
    status: int, body: bytes, codes: dict[str, int]
) -> None:
    counted: fuzz.Counter[str] = fuzz.Counter()
    assert fuzz.check(_response(status, "application/json", body), counted) is None
    assert counted == codes


def _response(status: int, content_type: str, body: bytes) -> fuzz.Response:
    import requests

    request = requests.Request("POST", "http://127.0.0.1/graphql", data=b'{"query": "{ x }"}')
    return fuzz.Response(
        status_code=status,
        headers={"content-type": [content_type]},
        content=body,
        request=request.prepare(),
        elapsed=0.01,
        verify=True,
    )
