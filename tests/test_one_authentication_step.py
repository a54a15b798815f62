"""Every HTTP entry authenticates through one step (web/callers.py), so the rules for who is
calling and under which plan cannot drift between GraphQL, the HSDS API and downloads."""

from __future__ import annotations

import ast
from pathlib import Path

import sharegraph

from .conftest import Api

PACKAGE = Path(sharegraph.__file__).resolve().parent


def _imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names |= {alias.name for alias in node.names}
    return names


def test_only_the_authentication_step_turns_credentials_into_principals() -> None:
    entries = [PACKAGE / "web", PACKAGE / "graph", PACKAGE / "cli", PACKAGE / "console"]
    callers = sorted(
        {
            path.name
            for entry in entries
            for path in entry.resolve().rglob("*.py")
            if _imports_of(path) & {"authenticate", "authenticate_remembered"}
        }
    )
    assert callers == ["callers.py"]


async def test_every_entry_refuses_the_same_bad_credentials_the_same_way(api: Api) -> None:
    headers = {"Authorization": "Bearer sg_notakey000_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
    graphql = await api.http.post(
        "/graphql", json={"query": "{ viewer { name } }"}, headers=headers
    )
    hsds = await api.http.get("/hsds/services", headers=headers)
    download = await api.http.get("/exports/00000000-0000-0000-0000-000000000000", headers=headers)
    assert graphql.status_code == hsds.status_code == download.status_code == 401
    graphql_error = graphql.json()["errors"][0]
    assert graphql_error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "BAD_CREDENTIALS"}
    assert hsds.json()["error"]["code"] == "UNAUTHENTICATED"
    assert hsds.json()["error"]["reason"] == graphql_error["extensions"]["reason"]
    assert download.json()["errors"][0]["extensions"] == graphql_error["extensions"]
