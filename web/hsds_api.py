"""The HSDS 3.0 REST API under ``/hsds/`` (Open Referral's ``openapi.json``).

Every path of the OpenAPI description: ``GET /hsds/``, ``/services``, ``/services/{id}``,
``/organizations``, ``/organizations/{id}``, ``/taxonomies``, ``/taxonomies/{id}``,
``/taxonomy_terms``, ``/taxonomy_terms/{id}``, ``/service_at_locations`` and
``/service_at_locations/{id}``. Lists come in HSDS's ``Page`` envelope, or with
``format=ndjson`` one object a line: the page asked for when ``page`` or ``per_page`` is given,
else every result (as the OpenAPI describes ``ndjson``).

Each route takes the query parameters the OpenAPI documents for it (:data:`PARAMETERS`, plus
the few extensions named there); any other is refused with 400 ``UNSUPPORTED_PARAMETER``
rather than ignored, so a misspelt filter never silently returns everything.

With credentials (``Authorization: Bearer``, the same API keys and JWTs as ``/graphql``) a
caller gets what its access plan lets it read; without, only what owners share with
``public`` (a plan compiled for a principal with no home and the api-client role, whose only
subject besides nothing is ``public``), so existing HSDS consumers work unchanged. The objects
come from :mod:`sharegraph.exporters.hsds`, the same code the HSDS exports use.

Errors are JSON: ``{"error": {"code", "reason", "message", ...}}`` with the status of the code
(400 bad or unsupported parameter, 401 bad credentials, 403 a filter on something the caller
may not read, 404 no such object for this caller).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.disclosure import Disclosure
from sharegraph.authz.plan import AccessPlan, Action
from sharegraph.datastore import models as m
from sharegraph.datastore.audit import AuditCollector, flush
from sharegraph.datastore.engine import Database
from sharegraph.datastore.rls import RlsScope
from sharegraph.datastore.values import clean, instant_problem, text_problem
from sharegraph.errors import (
    HTTP_STATUS,
    QUOTE_LIMIT,
    BadUserInput,
    Forbidden,
    NotFound,
    SharegraphError,
    UnsupportedParameter,
    quote,
)
from sharegraph.exporters.batches import keyset_batches
from sharegraph.exporters.cells import json_line
from sharegraph.exporters.hsds import HsdsBuilder
from sharegraph.exporters.hsds_spec import HSDS_VERSION
from sharegraph.queries import directory, search
from sharegraph.queries.directory import DirectoryFilter
from sharegraph.queries.pagination import count
from sharegraph.settings import Settings
from sharegraph.web.callers import Authentication
from sharegraph.web.fairness import Fairness

PROFILE = "https://docs.openreferral.org/en/latest/hsds/"
OPENAPI_URL = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/openapi.json"
NDJSON = "application/x-ndjson"
STREAM_BATCH = 100
UNSUPPORTED = ("postcode", "proximity")  # documented, but need a geocoder we do not have
_PAGED = frozenset({"page", "per_page", "format"})
_LOCATED = frozenset({"taxonomy_term_id", "taxonomy_id", "organization_id", "modified_after"})
# The query parameters each route takes: the OpenAPI's, plus our extensions (``organizations``
# filters by taxonomy term and modification time, ``taxonomy_terms`` by modification time;
# the full objects' routes accept ``full``, which they always are).
PARAMETERS: dict[str, frozenset[str]] = {
    "/": frozenset(),
    "/services": _PAGED | _LOCATED | {"search", "minimal", "full"},
    "/services/{id}": frozenset({"full"}),
    "/organizations": _PAGED
    | {"search", "full", "full_service", "taxonomy_term_id", "modified_after"},
    "/organizations/{id}": frozenset({"full", "full_service"}),
    "/service_at_locations": _PAGED | _LOCATED | {"search", "full", *UNSUPPORTED},
    "/service_at_locations/{id}": frozenset({"full"}),
    "/taxonomies": _PAGED | {"search"},
    "/taxonomies/{id}": frozenset(),
    "/taxonomy_terms": _PAGED
    | {"search", "taxonomy_id", "top_only", "parent_id", "modified_after"},
    "/taxonomy_terms/{id}": frozenset(),
}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _bad(parameter: str, message: str) -> BadUserInput:
    return BadUserInput(message, reason="BAD_PARAMETER", parameter=parameter)


def check_parameters(query: Any, accepted: frozenset[str]) -> None:
    """``UNSUPPORTED_PARAMETER`` for the first query parameter the route does not take;
    ``BAD_USER_INPUT`` for one given twice (only one value would be read)."""
    seen: set[str] = set()
    for name, raw in query.multi_items():
        problem = text_problem(name + raw)
        if problem is not None:
            raise _bad(clean(name), f"`{clean(name)}` {problem}")
        if name not in accepted:
            supported = ", ".join(sorted(accepted)) or "none"
            raise UnsupportedParameter(
                f"this route takes no parameter {quote(name)}; it takes: {supported}",
                reason="UNKNOWN_PARAMETER",
                parameter=clean(name)[:QUOTE_LIMIT],
                supported=sorted(accepted),
            )
        if name in seen:
            raise BadUserInput(
                f"`{name}` is given more than once; give it once"
                + (" (several ids separated by commas)" if name == "taxonomy_term_id" else ""),
                reason="REPEATED_PARAMETER",
                parameter=name,
            )
        seen.add(name)
    for name in UNSUPPORTED:
        if query.get(name):
            raise UnsupportedParameter(
                f"`{name}` is not supported by this API", reason="NOT_IMPLEMENTED", parameter=name
            )


def error_response(
    error: SharegraphError, status: int | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": error.code.value, "message": error.message}
    if error.reason:
        body["reason"] = error.reason
    body.update(error.extra)
    return JSONResponse(
        {"error": body},
        status_code=status or HTTP_STATUS[error.code],
        headers={**error.http_headers(), **(headers or {})},
    )


MAX_OFFSET = 2**31 - 1  # the offset must fit a 32-bit integer on every backend


@dataclass(frozen=True)
class Params:
    """The query parameters of the HSDS OpenAPI, checked."""

    page: int = 1
    per_page: int = 20
    search: str | None = None
    taxonomy_term_ids: tuple[uuid.UUID, ...] = ()
    taxonomy_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    parent_id: uuid.UUID | None = None
    modified_after: datetime | None = None
    minimal: bool = False
    full: bool = False
    full_service: bool = False
    top_only: bool = False
    ndjson: bool = False
    paged: bool = True  # False: an NDJSON stream of every result (no page asked for)

    @classmethod
    def parse(cls, query: Any, settings: Settings, accepted: frozenset[str]) -> Params:
        check_parameters(query, accepted)
        limits = settings.limits
        per_page = _int(query, "per_page", limits.default_page_size)
        if not 1 <= per_page <= limits.max_page_size:
            raise _bad("per_page", f"`per_page` must be between 1 and {limits.max_page_size}")
        page = _int(query, "page", 1)
        last_page = MAX_OFFSET // per_page
        if not 1 <= page <= last_page:
            raise _bad("page", f"`page` must be between 1 and {last_page}")
        fmt = (query.get("format") or "json").lower()
        if fmt not in ("json", "ndjson"):
            raise _bad("format", "`format` must be json or ndjson")
        search = query.get("search")
        terms = [t for t in (query.get("taxonomy_term_id") or "").split(",") if t.strip()]
        return cls(
            page=page,
            per_page=per_page,
            search=search if search and search.strip() else None,
            taxonomy_term_ids=tuple(_uuid(t, "taxonomy_term_id") for t in terms),
            taxonomy_id=_optional_uuid(query, "taxonomy_id"),
            organization_id=_optional_uuid(query, "organization_id"),
            parent_id=_optional_uuid(query, "parent_id"),
            modified_after=_datetime(query, "modified_after"),
            minimal=_bool(query, "minimal"),
            full=_bool(query, "full"),
            full_service=_bool(query, "full_service"),
            top_only=_bool(query, "top_only"),
            ndjson=fmt == "ndjson",
            paged=fmt != "ndjson" or bool(query.get("page") or query.get("per_page")),
        )


def _int(query: Any, name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    # Plain ASCII digits only: int() would also take "1_0", " 10" and other scripts' digits.
    if not re.fullmatch(r"-?[0-9]{1,9}", raw):
        raise _bad(name, f"`{name}` must be a whole number, got {quote(raw)}")
    return int(raw)


def _bool(query: Any, name: str) -> bool:
    raw = (query.get(name) or "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE or raw == "":
        return False
    raise _bad(name, f"`{name}` must be true or false, got {quote(raw)}")


def _uuid(raw: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        raise _bad(name, f"`{name}` must be a UUID, got {quote(raw)}") from None


def _optional_uuid(query: Any, name: str) -> uuid.UUID | None:
    raw = query.get(name)
    return _uuid(raw, name) if raw else None


def _datetime(query: Any, name: str) -> datetime | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        found = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(name, f"`{name}` must be an ISO 8601 date-time, got {quote(raw)}") from None
    problem = instant_problem(found)
    if problem is not None:
        raise _bad(name, f"`{name}` {quote(raw)} {problem}")
    # HSDS clients send naive times; they have always been read as UTC here.
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def page_envelope(total: int, params: Params, contents: list[Any]) -> dict[str, Any]:
    pages = math.ceil(total / params.per_page)
    return {
        "total_items": total,
        "total_pages": pages,
        "page_number": params.page,
        "size": len(contents),
        "first_page": params.page == 1,
        "last_page": params.page >= pages,
        "empty": not contents,
        "contents": contents,
    }


@dataclass(frozen=True)
class NdjsonPage:
    """One page of a list, answered one object a line."""

    objects: list[dict[str, Any]]


@dataclass
class Call:
    """One request: its plan, session and object builder."""

    plan: AccessPlan
    session: AsyncSession
    params: Params
    dialect: str
    audit: AuditCollector | None

    @property
    def builder(self) -> HsdsBuilder:
        return HsdsBuilder(self.session, Disclosure(self.plan, Action.READ))

    def require(self, type_name: str, fields: list[str], use: str = "filter") -> None:
        try:
            Disclosure(self.plan).require_filterable(type_name, fields, use=use)
        except Forbidden as error:
            if self.audit is not None:
                self.audit.denied(None, str(error.extra.get("coordinate")), "FORBIDDEN")
            raise

    def search_columns(self, type_name: str) -> tuple[str, ...]:
        candidates = (
            ("name", "code", "description")
            if type_name == "TaxonomyTerm"
            else ("name", "alternateName", "description")
        )
        readable = Disclosure(self.plan).filterable(type_name, candidates)
        if not readable:
            self.require(type_name, ["name"], use="search")
        columns = {"alternateName": "alternate_name"}
        return tuple(columns.get(f, f) for f in readable)

    def order(self, model: Any, type_name: str) -> list[Any]:
        name = getattr(model, "name", None)
        if name is not None and bool(Disclosure(self.plan).filterable(type_name, ["name"])):
            return [func.coalesce(name, "") if model is m.Location else name, model.id]
        return [model.id]


def _modified(statement: Select[Any], model: Any, params: Params) -> Select[Any]:
    if params.modified_after is None:
        return statement
    return statement.where(model.updated_at >= params.modified_after)


def _in_taxonomy(call: Call, entity: str, link_id: Any, taxonomy_id: uuid.UUID) -> Any:
    plan = call.plan
    return exists(
        select(m.Attribute.id)
        .join(m.TaxonomyTerm, m.TaxonomyTerm.id == m.Attribute.taxonomy_term_id)
        .where(
            m.Attribute.link_entity == entity,
            m.Attribute.link_id == link_id,
            m.TaxonomyTerm.taxonomy_id == taxonomy_id,
            plan.row_filter(m.Attribute),
            plan.row_filter(m.TaxonomyTerm),
        )
    )


def services_statement(call: Call) -> Select[Any]:
    params = call.params
    used = {
        "organization": params.organization_id is not None,
        "taxonomyTerms": bool(params.taxonomy_term_ids) or params.taxonomy_id is not None,
        "updatedAt": params.modified_after is not None,
    }
    call.require("Service", [f for f, on in used.items() if on])
    if params.taxonomy_id is not None:
        call.require("TaxonomyTerm", ["taxonomy"])
    flt = DirectoryFilter(
        search=params.search,
        search_columns=call.search_columns("Service") if params.search else None,
        taxonomy_term_ids=params.taxonomy_term_ids,
        organization_id=params.organization_id,
    )
    statement = _modified(directory.services(call.plan, flt, call.dialect), m.Service, params)
    if params.taxonomy_id is not None:
        statement = statement.where(_in_taxonomy(call, "service", m.Service.id, params.taxonomy_id))
    return statement


def organizations_statement(call: Call) -> Select[Any]:
    params = call.params
    used = {
        "taxonomyTerms": bool(params.taxonomy_term_ids),
        "updatedAt": params.modified_after is not None,
    }
    call.require("Organization", [f for f, on in used.items() if on])
    flt = DirectoryFilter(
        search=params.search,
        search_columns=call.search_columns("Organization") if params.search else None,
        taxonomy_term_ids=params.taxonomy_term_ids,
    )
    statement = directory.organizations(call.plan, flt, call.dialect)
    return _modified(statement, m.Organization, params)


def service_at_locations_statement(call: Call) -> Select[Any]:
    params = call.params
    call.require("ServiceAtLocation", ["updatedAt"] if params.modified_after else [])
    services = replace(call, params=replace(params, modified_after=None))
    statement = select(m.ServiceAtLocation).where(call.plan.row_filter(m.ServiceAtLocation))
    if params.search or params.organization_id or params.taxonomy_term_ids or params.taxonomy_id:
        call.require("ServiceAtLocation", ["service"])
        matching = services_statement(services).with_only_columns(m.Service.id)
        statement = statement.where(m.ServiceAtLocation.service_id.in_(matching))
    return _modified(statement, m.ServiceAtLocation, params)


def taxonomy_terms_statement(call: Call) -> Select[Any]:
    params = call.params
    used = {
        "taxonomy": params.taxonomy_id is not None,
        "parent": params.parent_id is not None or params.top_only,
        "updatedAt": params.modified_after is not None,
    }
    call.require("TaxonomyTerm", [f for f, on in used.items() if on])
    flt = DirectoryFilter(
        search=params.search,
        search_columns=call.search_columns("TaxonomyTerm") if params.search else None,
        taxonomy_id=params.taxonomy_id,
        extra={"parent_id": params.parent_id},
    )
    statement = directory.taxonomy_terms(call.plan, flt, call.dialect)
    if params.top_only:
        statement = statement.where(m.TaxonomyTerm.parent_id.is_(None))
    return _modified(statement, m.TaxonomyTerm, params)


def taxonomies_statement(call: Call) -> Select[Any]:
    params = call.params
    statement = select(m.Taxonomy).where(call.plan.row_filter(m.Taxonomy))
    if params.search:
        readable = Disclosure(call.plan).filterable("Taxonomy", ("name", "description"))
        if not readable:
            call.require("Taxonomy", ["name"], use="search")
        # Taxonomies are few and have no search index: a plain case-insensitive match.
        for word in search.words(params.search):
            statement = statement.where(
                or_(
                    *(
                        func.lower(func.coalesce(getattr(m.Taxonomy, f), "")).contains(word)
                        for f in readable
                    )
                )
            )
    return statement


Objects = Callable[[Call, list[Any]], Awaitable[list[dict[str, Any]]]]


async def _service_objects(call: Call, rows: list[Any]) -> list[dict[str, Any]]:
    objects = await call.builder.service_objects(rows, full=call.params.full)
    if call.params.minimal:
        keep = ("id", "name", "status", "last_modified")
        return [{k: o[k] for k in keep if k in o} for o in objects]
    return objects


async def _organization_objects(call: Call, rows: list[Any]) -> list[dict[str, Any]]:
    params = call.params
    full = params.full or params.full_service
    return await call.builder.organization_objects(
        rows, full=full, full_services=params.full_service
    )


async def _sal_objects(call: Call, rows: list[Any]) -> list[dict[str, Any]]:
    return await call.builder.service_at_location_objects(
        rows, full=call.params.full, with_service=True
    )


async def _taxonomy_objects(call: Call, rows: list[Any]) -> list[dict[str, Any]]:
    return await call.builder.taxonomy_objects(rows)


async def _term_objects(call: Call, rows: list[Any]) -> list[dict[str, Any]]:
    return await call.builder.taxonomy_term_list(rows)


@dataclass(frozen=True)
class Listing:
    model: Any
    type_name: str
    operation: str | None  # the GraphQL operation whose permission the list follows
    statement: Callable[[Call], Select[Any]]
    objects: Objects


LISTINGS = {
    "services": Listing(m.Service, "Service", "services", services_statement, _service_objects),
    "organizations": Listing(
        m.Organization, "Organization", "organizations", organizations_statement,
        _organization_objects,
    ),
    "service_at_locations": Listing(
        m.ServiceAtLocation, "ServiceAtLocation", "serviceAtLocations",
        service_at_locations_statement, _sal_objects,
    ),
    "taxonomies": Listing(m.Taxonomy, "Taxonomy", None, taxonomies_statement, _taxonomy_objects),
    "taxonomy_terms": Listing(
        m.TaxonomyTerm, "TaxonomyTerm", "taxonomyTerms", taxonomy_terms_statement, _term_objects
    ),
}  # fmt: skip


def hsds_router(settings: Settings, state: dict[str, Any], auth: Authentication) -> APIRouter:
    """The router; ``state`` is the app's (``db`` and ``policies`` once it has started)."""
    router = APIRouter()

    async def plan_of(request: Request) -> tuple[AccessPlan, AuditCollector | None]:
        caller = await auth.caller_or_public(request)
        fairness: Fairness = request.app.state.fairness
        # Anonymous callers share slots by client address.
        await fairness.admit(request, None if caller.anonymous else caller.principal)
        return caller.plan, None if caller.anonymous else caller.audit()

    async def run(request: Request, route: str, work: Callable[[Call], Awaitable[Any]]) -> Response:
        db: Database = state["db"]
        audit: AuditCollector | None = None
        try:
            params = Params.parse(request.query_params, settings, PARAMETERS[route])
            plan, audit = await plan_of(request)
            rls = plan.rls_scope()
            if params.ndjson and not params.paged:
                return await _ndjson(db, rls, plan, params, work)
            async with db.read_session(rls=rls) as session:
                call = Call(plan, session, params, db.dialect, audit)
                body = await work(call)
        except SharegraphError as error:
            if audit:
                await flush(db, audit)
            return error_response(error)
        if isinstance(body, NdjsonPage):
            return Response("".join(json_line(o) for o in body.objects), media_type=NDJSON)
        return JSONResponse(body)

    async def _ndjson(
        db: Database,
        rls: RlsScope,
        plan: AccessPlan,
        params: Params,
        work: Callable[[Call], Awaitable[Any]],
    ) -> Response:
        # Checked before the first byte leaves: a refused filter is still a JSON error.
        async with db.read_session(rls=rls) as session:
            prepared = await work(Call(plan, session, params, db.dialect, None))
        listing, statement = prepared

        async def lines() -> AsyncIterator[str]:
            async with db.read_session(rls=rls) as session:
                call = Call(plan, session, params, db.dialect, None)
                async for rows in keyset_batches(
                    session, listing.model, statement, batch_size=STREAM_BATCH, by_name=False
                ):
                    for obj in await listing.objects(call, rows):
                        yield json_line(obj)

        return StreamingResponse(lines(), media_type=NDJSON)

    @router.get("/")
    async def api_info(request: Request) -> Response:
        try:
            check_parameters(request.query_params, PARAMETERS["/"])
        except SharegraphError as error:
            return error_response(error)
        return JSONResponse(
            {"version": HSDS_VERSION, "profile": PROFILE, "openapi_url": OPENAPI_URL}
        )

    def list_route(name: str) -> None:
        listing = LISTINGS[name]

        async def endpoint(request: Request) -> Response:
            async def work(call: Call) -> Any:
                if listing.operation is not None:
                    call.plan.require_operation(listing.operation, Action.READ)
                statement = listing.statement(call)
                params = call.params
                if not params.paged:
                    return listing, statement
                page = (
                    statement.order_by(*call.order(listing.model, listing.type_name))
                    .offset((params.page - 1) * params.per_page)
                    .limit(params.per_page)
                )
                rows = list((await call.session.scalars(page)).all())
                objects = await listing.objects(call, rows)
                if params.ndjson:
                    return NdjsonPage(objects)
                return page_envelope(await count(call.session, statement), params, objects)

            return await run(request, f"/{name}", work)

        router.add_api_route(f"/{name}", endpoint, methods=["GET"], name=f"hsds_{name}")

    def item_route(name: str, full: bool) -> None:
        listing = LISTINGS[name]

        async def endpoint(request: Request, id: str) -> Response:
            async def work(call: Call) -> Any:
                if listing.operation is not None:
                    call.plan.require_operation(listing.operation, Action.READ)
                try:
                    row_id = uuid.UUID(id)
                except ValueError:
                    row_id = None
                row = None
                if row_id is not None:
                    row = await call.session.scalar(
                        select(listing.model).where(
                            listing.model.id == row_id, call.plan.row_filter(listing.model)
                        )
                    )
                call.params = replace(call.params, full=full, minimal=False)
                objects = await listing.objects(call, [row]) if row is not None else []
                if not objects:
                    raise NotFound(
                        f"no {listing.type_name} with id {quote(id)}", reason="NO_SUCH_ID"
                    )
                return objects[0]

            return await run(request, f"/{name}/{{id}}", work)

        router.add_api_route(f"/{name}/{{id}}", endpoint, methods=["GET"], name=f"hsds_{name}_id")

    for name in LISTINGS:
        list_route(name)
    item_route("services", True)
    item_route("organizations", True)
    item_route("taxonomies", False)
    item_route("taxonomy_terms", False)
    item_route("service_at_locations", True)
    return router
