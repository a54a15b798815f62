"""Run by tests/test_request_limits.py in a subprocess of its own, so the peak memory it reports
is one request's alone, and a regression that eats memory ends this process, not the test run.

Builds the app on a seeded database (settings from the environment, so SHAREGRAPH_MAX_* apply)
and sends one `_entities` request with COUNT ContactRecord representations as PRINCIPAL through
httpx.ASGITransport: the records PRINCIPAL can list (up to 100), spread among ids of records
that do not exist. Prints one JSON object: status, the first error's extensions, the body size,
how many known and unknown ids resolved, and the peak RSS growth in MB.

    python tests/entities_probe.py DATABASE_URL PRINCIPAL COUNT
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

import httpx

from sharegraph import demo
from sharegraph.datastore.engine import Database
from sharegraph.graph.relay import to_global_id
from sharegraph.settings import Settings
from sharegraph.web.app import create_app

ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on ContactRecord { id } } }"
VISIBLE = "{ contactRecords(first: 100) { edges { node { id } } } }"


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> None:
    # Linux: writing 5 resets VmHWM (the peak resident set) to the current RSS.
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def _batch(count: int, known: list[str]) -> list[str]:
    ids = [to_global_id("ContactRecord", uuid.uuid4()) for _ in range(count)]
    step = max(count // max(len(known), 1), 1)
    for position, record in zip(range(0, count, step), known, strict=False):
        ids[position] = record
    return ids


async def main(url: str, principal: str, count: int) -> dict[str, Any]:
    settings = Settings.from_env(database_url=url, scheduler=False)
    keys = {p["name"]: p["apiKey"] for p in demo.demo_principal_keys(settings.demo_secret)}
    db = Database(url)
    app = create_app(settings, database=db)
    headers = {"Authorization": f"Bearer {keys[principal]}", "Content-Type": "application/json"}
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
                listed = await http.post("/graphql", json={"query": VISIBLE}, headers=headers)
                edges = listed.json()["data"]["contactRecords"]["edges"]
                known = [edge["node"]["id"] for edge in edges]
                ids = _batch(count, known)
                body = json.dumps(
                    {
                        "query": ENTITIES,
                        "variables": {"r": [{"__typename": "ContactRecord", "id": i} for i in ids]},
                    }
                ).encode()
                _reset_peak()
                before = _status_kb("VmRSS")
                response = await http.post("/graphql", content=body, headers=headers)
                peak = _status_kb("VmHWM")
    finally:
        await db.dispose()
    answer = response.json()
    resolved = {e["id"] for e in (answer.get("data") or {}).get("_entities") or [] if e}
    return {
        "status": response.status_code,
        "extensions": (answer.get("errors") or [{}])[0].get("extensions"),
        "body_bytes": len(body),
        "known": len(known),
        "resolved_known": len(resolved & set(known)),
        "resolved_unknown": len(resolved - set(known)),
        "peak_growth_mb": round((peak - before) / 1024, 1),
    }


if __name__ == "__main__":
    url, principal, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(main(url, principal, count))))
