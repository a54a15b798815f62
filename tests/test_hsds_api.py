"""The HSDS 3.0 REST API: an existing HSDS consumer reads the public directory unchanged; a
caller with credentials reads what its plan allows; every answer validates against the HSDS
schemas and the OpenAPI `Page` envelope."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from functools import cache
from typing import Any

import pytest
from sqlalchemy import select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import GranteeKind
from sharegraph.datastore.models import Service, SharingAgreement
from sharegraph.datastore.policy_version import bump
from sharegraph.demo import demo_id

from .builders import add_tenant_with_admin
from .conftest import Api, StatementCounter, make_api
from .hsds_schema import HSDS, assert_no_empty_values, assert_valid, errors

PRAIRIE = demo_id("tenant", "prairie")
LAKESIDE = demo_id("tenant", "lakeside")
# The response schema of each list, as openapi.json names it (compiled/service.json and
# compiled/organization.json are not published with it: service.json/organization.json are).
LIST_ITEMS = {
    "services": "compiled/service_list.json",
    "organizations": "compiled/organization_list.json",
    "service_at_locations": "compiled/service_at_location_list.json",
    "taxonomies": "taxonomy.json",
    "taxonomy_terms": "taxonomy_term.json",
}
FULL_ITEMS = {
    "services": "service.json",
    "organizations": "organization.json",
    "service_at_locations": "service_at_location.json",
}


@cache
def openapi() -> dict[str, Any]:
    return json.loads((HSDS / "openapi.json").read_text())


def assert_page(body: dict[str, Any], item_schema: str) -> None:
    page = openapi()["components"]["schemas"]["Page"]
    from jsonschema import Draft202012Validator

    Draft202012Validator(page).validate(body)
    assert set(page["properties"]) | {"contents"} == set(body)
    for item in body["contents"]:
        assert_valid(item, item_schema)
        assert_no_empty_values(item)


async def get(api: Api, path: str, principal: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {api.keys[principal]}"} if principal else {}
    return await api.http.get(f"/hsds{path}", headers=headers)


async def test_the_api_describes_itself(api: Api) -> None:
    response = await get(api, "/")
    assert response.status_code == 200
    schema = openapi()["paths"]["/"]["get"]["responses"]["200"]["content"]["application/json"]
    from jsonschema import Draft202012Validator, FormatChecker

    Draft202012Validator(schema["schema"], format_checker=FormatChecker()).validate(response.json())
    assert response.json()["version"] == "3.0"


@pytest.mark.parametrize("listing", list(LIST_ITEMS))
async def test_every_list_validates_in_its_page(api: Api, listing: str) -> None:
    response = await get(api, f"/{listing}?per_page=100")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["contents"], listing
    assert_page(body, LIST_ITEMS[listing])
    if listing in FULL_ITEMS:
        full = (await get(api, f"/{listing}?per_page=100&full=true")).json()
        assert_page(full, FULL_ITEMS[listing])
        assert [o["id"] for o in full["contents"]] == [o["id"] for o in body["contents"]]


async def test_every_single_object_validates(api: Api) -> None:
    services = (await get(api, "/services?per_page=100")).json()["contents"]
    located = 0
    for service in services:
        full = await get(api, f"/services/{service['id']}")
        assert full.status_code == 200
        assert_valid(full.json(), "service.json")
        assert_no_empty_values(full.json())
        for capacity in full.json().get("capacities", []):
            assert_valid(capacity, "service_capacity.json", "3.1")
        located += "service_at_locations" in full.json()
    assert located
    for listing, schema in (("organizations", "organization.json"),
                            ("taxonomies", "taxonomy.json"),
                            ("taxonomy_terms", "taxonomy_term.json")):  # fmt: skip
        for item in (await get(api, f"/{listing}?per_page=100")).json()["contents"]:
            one = await get(api, f"/{listing}/{item['id']}")
            assert one.status_code == 200
            assert_valid(one.json(), schema)
    organization = (await get(api, "/organizations?per_page=1")).json()["contents"][0]
    nested = (await get(api, f"/organizations/{organization['id']}?full_service=true")).json()
    assert_valid(nested, "organization.json")
    assert all(errors(s, "service.json") == [] for s in nested.get("services", []))


async def test_pages_cover_every_item_once(api: Api) -> None:
    first = (await get(api, "/services?per_page=5")).json()
    total = first["total_items"]
    assert first["first_page"] and not first["last_page"] and first["size"] == 5
    assert first["total_pages"] == -(-total // 5)
    seen = []
    for page in range(1, first["total_pages"] + 1):
        body = (await get(api, f"/services?per_page=5&page={page}")).json()
        assert body["page_number"] == page and body["size"] == len(body["contents"])
        assert body["last_page"] == (page == first["total_pages"])
        seen += [s["id"] for s in body["contents"]]
    assert len(seen) == len(set(seen)) == total
    beyond = (await get(api, f"/services?per_page=5&page={first['total_pages'] + 1}")).json()
    assert beyond["empty"] and beyond["contents"] == [] and beyond["last_page"]
    streamed = await get(api, "/services?format=ndjson")
    assert streamed.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in streamed.text.splitlines()]
    assert sorted(s["id"] for s in lines) == sorted(seen)
    for line in lines:
        assert_valid(line, "compiled/service_list.json")


async def test_the_public_sees_only_the_directory_shared_with_public(api: Api) -> None:
    public = (await get(api, "/services?per_page=100")).json()
    lakeside = (await get(api, "/services?per_page=100", "lakeside-admin")).json()
    async with api.database.read_session() as session:
        owners = dict((await session.execute(select(Service.id, Service.tenant_id))).all())
    assert {owners[uuid.UUID(s["id"])] for s in public["contents"]} == {PRAIRIE}
    assert {owners[uuid.UUID(s["id"])] for s in lakeside["contents"]} == {PRAIRIE, LAKESIDE}
    own = next(s for s in lakeside["contents"] if owners[uuid.UUID(s["id"])] == LAKESIDE)
    assert (await get(api, f"/services/{own['id']}")).status_code == 404
    assert (await get(api, f"/services/{own['id']}", "lakeside-admin")).status_code == 200
    wrong = await api.http.get("/hsds/services", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "UNAUTHENTICATED"


async def test_filters(api: Api) -> None:
    services = (await get(api, "/services?per_page=100&full=true")).json()["contents"]
    tagged = next(s for s in services if s.get("attributes"))
    term = tagged["attributes"][0]["taxonomy_term"]
    by_term = (await get(api, f"/services?per_page=100&taxonomy_term_id={term['id']}")).json()
    assert tagged["id"] in {s["id"] for s in by_term["contents"]}
    assert all(
        term["id"] in {a["taxonomy_term_id"] for a in s.get("attributes", [])}
        for s in services
        if s["id"] in {x["id"] for x in by_term["contents"]}
    )
    by_taxonomy = await get(api, f"/services?per_page=100&taxonomy_id={term['taxonomy_id']}")
    assert tagged["id"] in {s["id"] for s in by_taxonomy.json()["contents"]}
    organization = tagged["organization_id"]
    by_org = (await get(api, f"/services?per_page=100&organization_id={organization}")).json()
    assert by_org["contents"] and all(
        s["organization_id"] == organization for s in by_org["contents"]
    )
    at_org = (await get(api, f"/service_at_locations?organization_id={organization}")).json()
    assert {a["service_id"] for a in at_org["contents"]} <= {s["id"] for s in by_org["contents"]}
    future = (await get(api, "/services?modified_after=2999-01-01T00:00:00Z")).json()
    assert future["empty"] and future["total_items"] == 0
    word = tagged["name"].split()[0]
    found = (await get(api, f"/services?search={word}")).json()["contents"]
    assert tagged["id"] in {s["id"] for s in found}
    top = (await get(api, "/taxonomy_terms?per_page=100&top_only=true")).json()["contents"]
    assert top and all("parent_id" not in t for t in top)
    children = (await get(api, f"/taxonomy_terms?parent_id={top[0]['id']}")).json()["contents"]
    assert all(t["parent_id"] == top[0]["id"] for t in children)
    minimal = (await get(api, "/services?minimal=true")).json()["contents"]
    assert all(set(s) <= {"id", "name", "status", "last_modified"} for s in minimal)


@pytest.mark.parametrize(
    ("path", "status", "reason", "parameter"),
    [
        ("/services?per_page=0", 400, "BAD_PARAMETER", "per_page"),
        ("/services?per_page=1000", 400, "BAD_PARAMETER", "per_page"),
        ("/services?page=0", 400, "BAD_PARAMETER", "page"),
        ("/services?page=two", 400, "BAD_PARAMETER", "page"),
        ("/services?taxonomy_term_id=food", 400, "BAD_PARAMETER", "taxonomy_term_id"),
        ("/services?modified_after=yesterday", 400, "BAD_PARAMETER", "modified_after"),
        ("/services?full=maybe", 400, "BAD_PARAMETER", "full"),
        ("/services?format=xml", 400, "BAD_PARAMETER", "format"),
        ("/service_at_locations?postcode=51410", 400, "NOT_IMPLEMENTED", "postcode"),
        ("/services?organisation_id=x", 400, "UNKNOWN_PARAMETER", "organisation_id"),
        ("/services/not-a-uuid", 404, "NO_SUCH_ID", None),
        ("/organizations/0b6f1a52-9d0e-4c33-8a67-0d3d6e0b2c11", 404, "NO_SUCH_ID", None),
        ("/taxonomy_terms/5c1f4e0a-77d2-4b9e-a1f3-2e6d9c8b7a44", 404, "NO_SUCH_ID", None),
    ],
)
async def test_errors_are_json_with_stable_codes(
    api: Api, path: str, status: int, reason: str, parameter: str | None
) -> None:
    response = await get(api, path)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["reason"] == reason and error["message"]
    unsupported = reason in ("NOT_IMPLEMENTED", "UNKNOWN_PARAMETER")
    expected = "UNSUPPORTED_PARAMETER" if unsupported else "BAD_USER_INPUT"
    assert error["code"] == (expected if status == 400 else "NOT_FOUND")
    if parameter:
        assert error["parameter"] == parameter


async def test_services_need_no_statement_per_service(
    api: Api, count_statements: StatementCounter
) -> None:
    await get(api, "/services?full=true&per_page=1")  # its API key looked up once, then remembered
    counts = []
    for per_page in (3, 20):
        count_statements.statements.clear()
        body = (await get(api, f"/services?full=true&per_page={per_page}")).json()
        assert body["size"] == per_page
        counts.append(count_statements.count)
    assert counts[0] == counts[1], count_statements.statements
    assert counts[0] <= 30, counts


# -- a caller whose plan withholds fields -------------------------------------------------------


@pytest.fixture
async def slice_api(seeded_db: Database, keys: dict[str, str]) -> AsyncIterator[Api]:
    """Keys plus "slice-admin": its tenant reads a slice of Lakeside's directory."""
    tenant, key = await add_tenant_with_admin(seeded_db, "Slice 211", "slice-admin")
    async with seeded_db.write_session() as session:
        session.add(
            SharingAgreement(
                tenant_id=LAKESIDE,
                name="Directory slice",
                purpose="information and referral",
                grantee_kind=GranteeKind.TENANT,
                grantee_tenant_id=tenant,
                actions=["read"],
                fields=["Service.name", "Service.status", "Organization.name"],
            )
        )
        await bump(session)
    async for client in make_api(seeded_db, {**keys, "slice-admin": key}):
        yield client


async def test_a_caller_reads_only_granted_fields_and_may_not_filter_on_others(
    slice_api: Api,
) -> None:
    body = (await get(slice_api, "/services?per_page=100&full=true", "slice-admin")).json()
    assert_page(body, "service.json")
    async with slice_api.database.read_session() as session:
        owners = dict((await session.execute(select(Service.id, Service.tenant_id))).all())
    lakeside = [s for s in body["contents"] if owners[uuid.UUID(s["id"])] == LAKESIDE]
    assert lakeside
    for service in lakeside:
        assert set(service) <= {"id", "name", "status"}
    refused = await get(slice_api, "/services?modified_after=2020-01-01", "slice-admin")
    assert refused.status_code == 403
    assert refused.json()["error"]["reason"] == "FORBIDDEN_FILTER"
    assert refused.json()["error"]["coordinate"] == "Service.updatedAt"


async def test_a_page_beyond_any_offset_is_a_bad_parameter_not_a_crash(api: Api) -> None:
    for page in ("100000000000000000000", str(2**31)):
        response = await api.http.get(f"/hsds/services?page={page}")
        assert response.status_code == 400, response.text
        assert response.json()["error"]["parameter"] == "page"


# -- the OpenAPI description, path by path ------------------------------------------------------

# A value of each documented query parameter that the API must accept.
SAMPLE_VALUES = {
    "search": "food", "page": "1", "per_page": "5", "format": "json", "minimal": "true",
    "full": "true", "full_service": "true", "modified_after": "2020-01-01T00:00:00Z",
    "taxonomy_term_id": str(uuid.UUID(int=1)), "taxonomy_id": str(uuid.UUID(int=2)),
    "organization_id": str(uuid.UUID(int=3)), "parent_id": str(uuid.UUID(int=4)),
    "top_only": "true", "postcode": "51410", "proximity": "1000",
}  # fmt: skip
# The response schema openapi.json names, as our copy holds it: compiled/service.json and
# compiled/organization.json are not published (service.json and organization.json are), and
# the description gives /service_at_locations/{id} the service schema by mistake.
OUR_SCHEMA = {
    "compiled/service.json": "service.json",
    "compiled/organization.json": "organization.json",
}


def _documented() -> list[tuple[str, str, list[str]]]:
    """(path, method, query parameter names) of every operation in openapi.json."""
    spec = openapi()
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            names = []
            for parameter in operation.get("parameters", []):
                if "$ref" in parameter:
                    parameter = spec["components"]["parameters"][parameter["$ref"].split("/")[-1]]
                if parameter["in"] == "query":
                    names.append(parameter["name"])
            found.append((path, method, names))
    return found


async def _concrete(api: Api, path: str) -> str:
    if "{id}" not in path:
        return path
    listing = path.split("/")[1]
    first = (await get(api, f"/{listing}?per_page=1")).json()["contents"][0]
    return path.replace("{id}", first["id"])


def _schema_name(path: str, method: str) -> str | None:
    response = openapi()["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    ref = response["schema"].get("$ref")
    if ref is None:
        return None
    if path == "/service_at_locations/{id}":
        return "service_at_location.json"
    name = ref.split("/schema/")[-1]
    return OUR_SCHEMA.get(name, name)


async def test_every_operation_of_the_openapi_description_is_served(api: Api) -> None:
    from sharegraph.web.hsds_api import PARAMETERS

    operations = _documented()
    assert {p for p, _, _ in operations} == set(PARAMETERS)
    assert "/service_at_locations/{id}" in {p for p, _, _ in operations}
    for path, method, names in operations:
        assert method == "get", (path, method)
        concrete = await _concrete(api, path)
        response = await api.http.request(method.upper(), f"/hsds{concrete}")
        assert response.status_code == 200, (path, response.text)
        schema = _schema_name(path, method)
        if schema is not None:
            assert_valid(response.json(), schema)
        assert set(names) <= PARAMETERS[path], path
        for name in names:
            answer = await api.http.get(f"/hsds{concrete}", params={name: SAMPLE_VALUES[name]})
            if name in ("postcode", "proximity"):
                assert answer.json()["error"]["reason"] == "NOT_IMPLEMENTED"
                continue
            assert answer.status_code == 200, (path, name, answer.text)


async def test_a_parameter_no_route_takes_is_refused_not_ignored(api: Api) -> None:
    from sharegraph.web.hsds_api import PARAMETERS

    for path, _, _ in _documented():
        concrete = await _concrete(api, path)
        response = await get(api, f"{concrete}?colour=blue")
        assert response.status_code == 400, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "UNSUPPORTED_PARAMETER" and error["reason"] == "UNKNOWN_PARAMETER"
        assert error["parameter"] == "colour"
        assert error["supported"] == sorted(PARAMETERS[path])
    # a parameter of another route is not this route's
    response = await get(api, "/taxonomies?organization_id=" + str(uuid.UUID(int=3)))
    assert response.json()["error"]["parameter"] == "organization_id"


@pytest.mark.parametrize("listing", list(LIST_ITEMS))
async def test_ndjson_honours_page_and_per_page(api: Api, listing: str) -> None:
    everything = (await get(api, f"/{listing}?format=ndjson")).text.splitlines()
    total = (await get(api, f"/{listing}?per_page=1")).json()["total_items"]
    assert len(everything) == total >= 1
    per_page = max(1, total // 2)
    for page in (1, 2, 3):
        paged = await get(api, f"/{listing}?format=ndjson&page={page}&per_page={per_page}")
        assert paged.status_code == 200
        assert paged.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in paged.text.splitlines()]
        page_json = (await get(api, f"/{listing}?page={page}&per_page={per_page}")).json()
        assert [o["id"] for o in lines] == [o["id"] for o in page_json["contents"]]
        assert len(lines) == min(per_page, max(0, total - (page - 1) * per_page))
    only_size = (await get(api, f"/{listing}?format=ndjson&per_page=1")).text.splitlines()
    assert len(only_size) == 1
    refused = await get(api, f"/{listing}?format=ndjson&per_page=0")
    assert refused.status_code == 400 and refused.json()["error"]["parameter"] == "per_page"
    for odd in ("1_0", "+1", " 1", "\u0661", "1e1", "99999999999"):
        refused = await api.http.get(f"/hsds/{listing}", params={"per_page": odd})
        assert refused.status_code == 400, (odd, refused.text)
        assert refused.json()["error"]["parameter"] == "per_page"


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "reason"),
    [
        ("GET", "/hsds/nothing", 404, "NOT_FOUND", "NO_SUCH_ROUTE"),
        ("GET", "/hsds/services/x/phones", 404, "NOT_FOUND", "NO_SUCH_ROUTE"),
        ("GET", "/hsds/service_at_location", 404, "NOT_FOUND", "NO_SUCH_ROUTE"),
        ("POST", "/hsds/services", 405, "BAD_USER_INPUT", "METHOD_NOT_ALLOWED"),
        ("DELETE", "/hsds/service_at_locations/x", 405, "BAD_USER_INPUT", "METHOD_NOT_ALLOWED"),
    ],
)
async def test_unknown_routes_under_hsds_answer_the_hsds_error_shape(
    api: Api, method: str, path: str, status: int, code: str, reason: str
) -> None:
    response = await api.http.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert (body["error"]["code"], body["error"]["reason"]) == (code, reason)
    assert body["error"]["message"]
