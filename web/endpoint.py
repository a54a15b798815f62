"""``POST /graphql`` through strawberry's own FastAPI integration, subclassed where we differ.

strawberry's router runs the operation (and, once enabled, the WebSocket protocols on the same
path); we keep what the gateway promises on top of it:
- the caller comes from the one authentication step (:mod:`.callers`), and the request's
  context holds its plan, one read session under the plan's RLS scope, and the audit collector;
- the body is JSON only, read within the JSON depth limit, one operation per request;
- fair use is admitted on the operation's cost before it runs, and it runs within the request
  timeout (``TIMEOUT`` with what was read before the cut recorded);
- the answer carries one ``FORBIDDEN_FIELD`` per denied coordinate and the 42 CFR Part 2
  redisclosure notice when due, and the audit trail is durable before the response leaves;
- every refusal is a :class:`SharegraphError`, shaped by the app's error handlers: strawberry's
  own plain-text ``HTTPException`` answers never reach a client.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from fastapi import BackgroundTasks, Request, Response, WebSocket
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from sharegraph.authz.store import PolicyStore
from sharegraph.datastore.engine import Database
from sharegraph.errors import BadUserInput, ErrorCode, SharegraphError
from sharegraph.graph.compiled.extension import answer_prepared
from sharegraph.graph.context import RequestContext
from sharegraph.graph.responses import finished_body
from sharegraph.graph.schema import Schema
from sharegraph.settings import Settings
from sharegraph.web.callers import Authentication, Caller
from sharegraph.web.fairness import Fairness
from sharegraph.web.json_depth import refuse_deep_json
from sharegraph.web.json_encoding import encode_json
from sharegraph.web.subscriptions import Connection, Encoded, SubscriptionHandler

CONTEXT_KEY = "graphql_context"
SUB_RESPONSE_KEY = "graphql_sub_response"


async def _no_context() -> None:
    raise AssertionError("POST /graphql and WebSockets build their own context")


class _Post:
    """``POST /graphql``: the one authentication step, the context, strawberry's run, and the
    response sent while the context's read session is still open (a streamed answer reads
    through it). Refusals propagate to the app's error handlers, as from any route."""

    def __init__(self, endpoint: GraphQLEndpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        caller = await self.endpoint.auth.caller(request)
        # What strawberry merges into its response: headers and a status set while the
        # operation ran (none today), as FastAPI's sub-response had them.
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        setattr(request.state, SUB_RESPONSE_KEY, sub_response)
        tasks = BackgroundTasks()
        async with self.endpoint.context(request, caller) as context:
            context.request = request
            context.response = sub_response
            context.background_tasks = tasks
            response = await self.endpoint.run(request=request, context=context)
            if tasks.tasks and response.background is None:
                response.background = tasks
            await response(scope, receive, send)


def _request_data(payload: Any) -> GraphQLRequestData:
    if not isinstance(payload, dict):
        raise BadUserInput(
            "the body must be a JSON object with `query` (one operation per request)",
            reason="BAD_REQUEST",
        )
    query = payload.get("query")
    variables = payload.get("variables")
    operation_name = payload.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise BadUserInput("`query` must be a non-empty string", reason="BAD_REQUEST")
    if variables is not None and not isinstance(variables, dict):
        raise BadUserInput("`variables` must be a JSON object", reason="BAD_REQUEST")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadUserInput("`operationName` must be a string", reason="BAD_REQUEST")
    return GraphQLRequestData(
        query=query,
        variables=variables,
        operation_name=operation_name,
        extensions=None,
        protocol="http",
    )


class GraphQLEndpoint(GraphQLRouter[RequestContext, None]):
    def __init__(
        self, schema: Schema, settings: Settings, state: dict[str, Any], auth: Authentication
    ) -> None:
        self.settings = settings
        self.state = state
        self.auth = auth

        super().__init__(
            schema,
            path="/graphql",
            graphql_ide=None,  # GET /graphql is the app's own route (GraphiQL or a refusal)
            allow_queries_via_get=False,
            # Never called: ``_Post`` builds the context for POST, the WebSocket route below
            # its connection, and strawberry's GET route is removed below.
            context_getter=_no_context,
            # Only graphql-transport-ws: the legacy graphql-ws protocol is not served.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(
                seconds=settings.subscriptions.connection_init_timeout_seconds
            ),
            multipart_uploads_enabled=False,
        )
        # WebSockets authenticate in connection_init, not with the request's header: their
        # route gets a connection of its own instead of the HTTP context.
        per_principal: Counter[Any] = Counter()

        async def websocket_endpoint(websocket: WebSocket) -> None:
            connection = Connection(
                auth,
                state["live"],
                state["policies"],
                settings.subscriptions,
                per_principal,
                upgrade=websocket,
            )
            await self.run(request=websocket, context=connection)

        self.routes[:] = [r for r in self.routes if not isinstance(r, APIWebSocketRoute)]
        self.add_api_websocket_route("/graphql", websocket_endpoint)
        # POST /graphql as a plain Starlette route: FastAPI solved strawberry's handler's four
        # nested dependencies (with a sub-response and background tasks) on every request,
        # ~550 Python calls of a by-id request's ~9,000; ``_Post`` does the same steps.
        # strawberry's GET route goes too: GET /graphql is the app's own (GraphiQL or a
        # refusal), and this router comes first in the app, where POSTs find it at once.
        self.routes[:] = [r for r in self.routes if not isinstance(r, APIRoute)]
        self.routes.append(Route("/graphql", _Post(self), methods=["POST"]))

    @asynccontextmanager
    async def context(self, request: Request, caller: Caller) -> AsyncIterator[RequestContext]:
        """The request's context: its caller, one read session under the plan's RLS scope
        (open until the response has been sent), the audit collector."""
        db: Database = self.state["db"]
        policies: PolicyStore = self.state["policies"]
        rls = caller.plan.rls_scope()
        async with db.read_session(rls=rls) as session:
            found = RequestContext(
                settings=self.settings,
                database=db,
                session=session,
                principal=caller.principal,
                plan=caller.plan,
                cursors=self.state["cursors"],
                audit=caller.audit(),
                policies=policies,
                rls=rls,
            )
            setattr(request.state, CONTEXT_KEY, found)
            yield found

    async def get_sub_response(self, request: Request) -> Response:
        return getattr(request.state, SUB_RESPONSE_KEY)  # type: ignore[no-any-return]

    graphql_transport_ws_handler_class = SubscriptionHandler  # type: ignore[assignment]

    async def on_ws_connect(self, context: Any) -> Any:
        await context.authenticate()
        return UNSET

    # -- the request ------------------------------------------------------------------------
    async def run(self, request: Any, context: Any = None, root_value: Any = None) -> Any:
        try:
            return await super().run(request, context=context, root_value=root_value)
        except HTTPException as error:  # strawberry's own refusals, in our shape
            raise BadUserInput(error.reason, reason="BAD_REQUEST") from error

    async def parse_http_body(self, request: Any) -> GraphQLRequestData:
        if "application/json" not in (request.content_type or ""):
            raise BadUserInput(
                "send the operation as JSON (Content-Type: application/json)",
                reason="BAD_REQUEST",
            )
        body = await request.get_body()
        refuse_deep_json(body, self.settings.limits.max_json_depth)
        try:
            # Decoded first, so json.loads reads the UTF-8 text json_depth scanned.
            payload = json.loads(body.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadUserInput(f"the body is not valid JSON: {exc}", reason="BAD_REQUEST") from exc
        return _request_data(payload)

    def encode_json(self, data: object) -> str:  # UTF-8 as it is, like Starlette's JSON
        if isinstance(data, Encoded):  # a delivery, encoded once for all its subscribers
            return str(data)
        return encode_json(data)

    # -- running it -------------------------------------------------------------------------
    async def execute_operation(  # type: ignore[override]
        self,
        request: Request,
        request_adapter: Any,
        request_data: GraphQLRequestData,
        context: RequestContext,
        root_value: Any,
        sub_response: Any,
    ) -> ExecutionResult:
        fairness: Fairness = request.app.state.fairness
        await fairness.admit_operation(
            request,
            context.principal,
            self.schema._schema,  # type: ignore[attr-defined]
            request_data.query or "",
            request_data.variables,
            request_data.operation_name,
        )
        limit = self.settings.limits.request_timeout_seconds
        try:
            # In this task (wait_for would start one per request to run it in).
            async with asyncio.timeout(limit):
                prepared = await answer_prepared(
                    self.schema,
                    request_data.query or "",
                    request_data.variables,
                    request_data.operation_name,
                    context,
                )
                result = prepared or await super().execute_operation(
                    request, request_adapter, request_data, context, root_value, sub_response
                )
        except TimeoutError:
            timeout = SharegraphError(
                f"the operation took longer than {limit:g}s", code=ErrorCode.TIMEOUT
            )
            return ExecutionResult(
                data=None, errors=[StrawberryGraphQLError(timeout.message, original_error=timeout)]
            )
        assert isinstance(result, ExecutionResult)
        return result

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        context: RequestContext = getattr(request.state, CONTEXT_KEY)
        return await finished_body(context, result)  # type: ignore[return-value]
