"""Validating against the published HSDS schemas (JSON Schema 2020-12, formats checked).

The schema files refer to each other by relative name (``"$ref": "phone.json"``); a registry
serves them under one base URI. HSDS 3.1's ``service_capacity`` and ``unit`` (which our
services carry as ``capacities``) come from ``hsds-3.1-dev``.
"""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .conftest import SAMPLE_DATA

HSDS = SAMPLE_DATA / "hsds-3.0" / "schema"
HSDS_31 = SAMPLE_DATA / "hsds-3.1-dev" / "schema"
BASE = "https://hsds.test/3.0/"
BASE_31 = "https://hsds.test/3.1/"


@cache
def registry() -> Registry[Any]:
    resources = []
    for base, folder in ((BASE, HSDS), (BASE_31, HSDS_31)):
        for path in [*folder.glob("*.json"), *folder.glob("compiled/*.json")]:
            if path.name == "openapi.json":
                continue
            contents = json.loads(path.read_text())
            resource = Resource.from_contents(contents, default_specification=DRAFT202012)
            resources.append((base + path.relative_to(folder).as_posix(), resource))
    return Registry().with_resources(resources)


@cache
def validator(name: str, version: str = "3.0") -> Draft202012Validator:
    base = BASE if version == "3.0" else BASE_31
    return Draft202012Validator(
        {"$ref": base + name}, registry=registry(), format_checker=FormatChecker()
    )


def errors(obj: Any, name: str, version: str = "3.0") -> list[str]:
    return [
        f"{list(e.absolute_path)}: {e.message}" for e in validator(name, version).iter_errors(obj)
    ]


def assert_valid(obj: Any, name: str, version: str = "3.0") -> None:
    found = errors(obj, name, version)
    assert not found, (name, obj.get("id") if isinstance(obj, dict) else None, found[:5])


def assert_no_empty_values(
    obj: Any, path: str = "", required: frozenset[str] = frozenset()
) -> None:
    """HSDS leaves empty values out: no null, no [] or {}, "" only for a required text."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            assert value is not None, f"{path}.{key} is null"
            assert value != [] and value != {}, f"{path}.{key} is empty"
            if value == "":
                assert key in {"description", "name", "address_1", "city", "state_province",
                               "postal_code", "country"}, f"{path}.{key} is an empty string"  # fmt: skip
            assert_no_empty_values(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            assert_no_empty_values(value, f"{path}[{i}]")


def assert_full_service_valid(service: dict[str, Any]) -> None:
    """A full service object against ``service.json``, its capacities against HSDS 3.1."""
    assert_valid(service, "service.json")
    for capacity in service.get("capacities", []):
        assert_valid(capacity, "service_capacity.json", "3.1")
    assert_no_empty_values(service)


def tabular_rows(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The package's tables as JSON objects, typed by ``datapackage.json`` (empty cells left
    out, except a required text, which is "")."""
    package = json.loads((folder / "datapackage.json").read_text())
    found: dict[str, list[dict[str, Any]]] = {}
    for resource in package["resources"]:
        types = {f["name"]: f for f in resource["schema"]["fields"]}
        rows = []
        with (folder / resource["path"]).open(encoding="utf-8", newline="") as stream:
            for raw in csv.DictReader(stream):
                row: dict[str, Any] = {}
                for key, value in raw.items():
                    field = types[key]
                    required = field.get("constraints", {}).get("required", False)
                    if value == "":
                        if required and field["type"] == "string":
                            row[key] = ""
                        continue
                    row[key] = float(value) if field["type"] == "number" else value
                    if field["type"] == "number" and row[key].is_integer():
                        row[key] = int(row[key])
                rows.append(row)
        found[resource["name"]] = rows
    return found
