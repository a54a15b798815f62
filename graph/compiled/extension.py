"""The compiled read path inside strawberry's execution: covered root fields are answered by
their one statement, the others by the resolvers, in one response.

Runs after parsing, validation and the operation limits (it is the last extension). When every
root field is covered, graphql-core does not run at all; when some are, the resolvers run on a
copy of the document without the covered fields, and the answers are merged in the order the
operation asked for them. On only when ``Settings.compiled_reads`` is.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.execution.values import get_variable_values
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import ParseOptions
from strawberry.types.graphql import OperationType as StrawberryOperationType

from sharegraph.datastore.outage import unavailable
from sharegraph.graph.compiled import entities, lists, lookups
from sharegraph.graph.compiled.run import NOT_COVERED, Answerer
from sharegraph.graph.compiled.selection import Collector, document_memo
from sharegraph.graph.context import RequestContext
from sharegraph.graph.document_cache import MAX_CACHED_CHARS, parse_document
from sharegraph.graph.request_checks import check_again

log = logging.getLogger("sharegraph.graph.compiled")
# Root fields answered by compiled reads, and failures (a bug: the resolvers answered), since
# the process started; tests read them.
STATS: Counter[str] = Counter()
# Root fields answered by a module of their own (the others by ``Answerer.answer``).
ANSWERS: dict[str, Callable[[Answerer, str, GraphQLField, list[FieldNode]], Awaitable[Any]]] = {
    entities.ROOT: entities.answer,
    **dict.fromkeys(lookups.TYPES, lookups.answer),
    **dict.fromkeys(lists.LISTS, lists.answer),
}
ROOTS = frozenset({"contactRecords", "contactRecord", "node", "services", *ANSWERS})


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


class CompiledReads(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        ec = self.execution_context
        ctx = ec.context
        document = ec.graphql_document
        if (
            not isinstance(ctx, RequestContext)
            or not ctx.settings.compiled_reads
            or document is None
            or ec.result is not None
        ):
            yield
            return
        operation = _operation(document, ec.operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            yield
            return
        try:
            answered, order, answerer = await _answer(
                ec, ctx, document, operation, ec.variables or {}
            )
        except Exception as exc:  # a bug here must not cost the caller an answer: resolve instead
            if unavailable(exc) is not None:
                # The database out of reach: the resolvers would only fail on the session it
                # left broken (PendingRollbackError, an INTERNAL error); the request ends 503.
                raise
            log.exception("compiled read failed; the resolvers answer instead")
            STATS["failed"] += 1
            answered, order, answerer = {}, [], None
        STATS["answered"] += len(answered)
        if not answered or answerer is None:
            yield
            return
        if len(answered) == len(order):
            answerer.record()
            ec.result = GraphQLExecutionResult(data={k: answered[k] for k in order}, errors=None)
            _prepared(ec)
            yield
            return
        # Some root fields stay with the resolvers: run a copy without the answered ones.
        rest = tuple(
            s
            for s in operation.selection_set.selections
            if isinstance(s, FieldNode) and (s.alias or s.name).value not in answered
        )
        trimmed = OperationDefinitionNode(
            operation=operation.operation,
            name=operation.name,
            variable_definitions=operation.variable_definitions,
            directives=operation.directives,
            selection_set=SelectionSetNode(selections=rest),
        )
        ec.graphql_document = DocumentNode(
            definitions=tuple(trimmed if d is operation else d for d in document.definitions)
        )
        try:
            yield
        finally:
            ec.graphql_document = document
        result = ec.result
        if isinstance(result, GraphQLExecutionResult):
            # Also when a failing root field nulled the data: the resolvers' sibling root
            # fields run to the end (graph/settle.py) and record what they read; so do these.
            answerer.record()
            if result.data is not None:
                resolved = result.data
                result.data = {k: answered[k] if k in answered else resolved[k] for k in order}


async def _answer(
    ec: ExecutionContext,
    ctx: RequestContext,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    raw_variables: dict[str, Any],
) -> tuple[dict[str, Any], list[str], Answerer | None]:
    """(answers of the covered root fields, every root response key in order)."""
    schema = ec.schema._schema
    coerced = get_variable_values(schema, operation.variable_definitions or (), raw_variables)
    if isinstance(coerced, list):
        return {}, [], None  # the resolver path reports the variables' errors
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    # Only a document the parser cache keeps is the same object when it comes again.
    small = len(ec.query or "") <= MAX_CACHED_CHARS
    memo = document_memo(document, schema, coerced.coerced) if small else None
    collector = Collector(schema, fragments, coerced.coerced, memo)
    query_type = schema.query_type
    if query_type is None:
        return {}, [], None
    collected = collector.collect(query_type.name, [operation.selection_set])
    if collected is None:
        return {}, [], None
    order = list(collected)
    # Partial answers need root fields the resolvers can run apart from the others.
    separable = all(isinstance(s, FieldNode) for s in operation.selection_set.selections)
    candidates = {k: v for k, v in collected.items() if v[0].name.value in ROOTS}
    if not candidates or (len(candidates) < len(collected) and not separable):
        return {}, [], None
    answerer = Answerer(ctx, collector, coerced, ec.schema)
    answered: dict[str, Any] = {}
    for key, nodes in candidates.items():
        if len(nodes) > 1 and not separable:
            return {}, [], None
        field = query_type.fields[nodes[0].name.value]
        own = ANSWERS.get(nodes[0].name.value)
        value = await (
            own(answerer, key, field, nodes) if own else answerer.answer(key, field, nodes)
        )
        if value is not NOT_COVERED:
            answered[key] = value
    if len(answered) < len(collected) and not separable:
        return {}, [], None
    return answered, order, answerer


# -- the prepared lane ---------------------------------------------------------------------------
# Small documents whose every root field the compiled path answered, as strawberry parsed and
# validated them (no errors) for the operation named: (schema, the field budget of validation's
# overlap rule, text, operation name) -> (the schema, the parse options). The schema is kept so
# its id in the key cannot be another's. Not the document: it comes from the parse cache, so no
# parsed document outlives that cache's bound (graph/document_cache.py).
PREPARED: OrderedDict[tuple[int, int, str, str | None], tuple[Any, ParseOptions]] = OrderedDict()
PREPARED_DOCUMENTS = 256


def _budget(ctx: RequestContext) -> int:
    """What validation's rules depend on beyond the schema (graph/limits.py check_operation)."""
    return ctx.settings.limits.max_fields


def _prepared(ec: ExecutionContext) -> None:
    query = ec.query
    if query is None or len(query) > MAX_CACHED_CHARS:
        return
    key = (id(ec.schema), _budget(ec.context), query, ec._provided_operation_name)
    PREPARED[key] = (ec.schema, ParseOptions(**ec.parse_options))
    PREPARED.move_to_end(key)
    while len(PREPARED) > PREPARED_DOCUMENTS:
        PREPARED.popitem(last=False)


async def answer_prepared(
    schema: Any,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    ctx: RequestContext,
) -> ExecutionResult | None:
    """The answer of a document the compiled path answered whole before, without strawberry's
    extension runner (~15 % of a by-id request): the per-request checks its extensions run
    (graph/request_checks.py; validation is remembered with the text, parsing by its cache), then
    the compiled answer. ``None`` when anything differs from last time (a check refuses, the
    variables do not coerce, a root field is not covered this time): the full path then runs
    and answers in its own words, with nothing of this attempt recorded."""
    if not ctx.settings.compiled_reads:
        return None
    key = (id(schema), _budget(ctx), query, operation_name)
    found = PREPARED.get(key)
    if found is None or found[0] is not schema:
        return None
    options = found[1]
    ec = ExecutionContext(
        query=query,
        schema=schema,
        allowed_operations=(StrawberryOperationType.QUERY,),
        context=ctx,
        variables=variables,
        provided_operation_name=operation_name,
    )
    ec.parse_options = ParseOptions(**options)
    try:
        parse_document(ec)  # the parse cache's document, parsed again once it let it go
        check_again(ec)
    except Exception:
        return None
    document = ec.graphql_document
    if document is None:
        return None
    operation = _operation(document, ec.operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return None
    try:
        answered, order, answerer = await _answer(ec, ctx, document, operation, variables or {})
    except Exception as exc:
        if unavailable(exc) is not None:  # as the full path ends it: 503 (graph/responses.py)
            return ExecutionResult(data=None, errors=[GraphQLError(str(exc), original_error=exc)])
        log.exception("compiled read failed; the resolvers answer instead")
        STATS["failed"] += 1
        return None
    if answerer is None or not answered or len(answered) < len(order):
        PREPARED.pop(key, None)
        return None
    STATS["answered"] += len(answered)
    STATS["prepared"] += 1
    answerer.record()
    return ExecutionResult(data={k: answered[k] for k in order}, errors=None)
