"""The checks every operation passes before it runs, as one strawberry extension.

Each extension costs strawberry ~50 Python calls per request and hook (an instance, a wrapped
hook per phase, entering and leaving it); seven of them were a tenth of a by-id request's
calls. Each check stays in its own module; here they run in the order they always did:

1. the parser's token limit (``Limits.max_tokens``) goes into the parse options;
2. parse, cached for small documents (:mod:`.document_cache`);
3. the operation's limits: depth, aliases, fields, cost (:mod:`.limits`);
4. input strings no database can store (:mod:`.input_text`);
5. validation, cached for small documents, its errors marked ``GRAPHQL_VALIDATION_FAILED``
   (:mod:`.validation_failures`);
6. over-long input lists, before anything executes (:mod:`.list_limits`).
"""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from sharegraph.graph.document_cache import parse_document, validate
from sharegraph.graph.input_text import refuse_unstorable_input
from sharegraph.graph.limits import check_operation
from sharegraph.graph.list_limits import check_list_limits
from sharegraph.graph.validation_failures import mark_validation_failures


class RequestChecks(SchemaExtension):
    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.max_tokens
        yield

    def on_parse(self) -> Iterator[None]:
        parse_document(self.execution_context)
        yield
        check_operation(self.execution_context)

    def on_validate(self) -> Iterator[None]:
        refuse_unstorable_input(self.execution_context)
        validate(self.execution_context)
        yield
        mark_validation_failures(self.execution_context)

    def on_execute(self) -> Iterator[None]:
        check_list_limits(self.execution_context)
        yield


def check_again(ctx: ExecutionContext) -> None:
    """The checks of a document parsed and validated before without errors (the compiled
    path's prepared lane, graph/compiled/extension.py): those that depend on this request's
    variables and limits, in the order :class:`RequestChecks` runs them."""
    check_operation(ctx)
    refuse_unstorable_input(ctx)
    check_list_limits(ctx)
