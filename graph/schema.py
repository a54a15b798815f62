"""The one schema every tenant shares: an Apollo Federation v2 subgraph."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import strawberry
from graphql import GraphQLError, is_union_type
from strawberry.extensions import (
    DisableIntrospection,
    SchemaExtension,
)
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from sharegraph.authz.catalogue import CATALOGUE
from sharegraph.datastore.outage import unavailable
from sharegraph.errors import BadUserInput, SharegraphError
from sharegraph.graph import settle
from sharegraph.graph.admin_principals import PrincipalAdminMutation, PrincipalAdminQuery
from sharegraph.graph.admin_sharing import SharingAdminMutation, SharingAdminQuery
from sharegraph.graph.audit import AuditQuery
from sharegraph.graph.capacity import CapacityMutation
from sharegraph.graph.capacity_schedule import CapacityScheduleMutation
from sharegraph.graph.compiled.extension import CompiledReads
from sharegraph.graph.directory_edit import DirectoryEditMutation
from sharegraph.graph.email_pdf import EmailPdfMutation
from sharegraph.graph.email_templates import EmailTemplateMutation, EmailTemplateQuery
from sharegraph.graph.export_jobs import ExportJobMutation, ExportJobQuery
from sharegraph.graph.export_schedules import ExportScheduleMutation, ExportScheduleQuery
from sharegraph.graph.federation import FederationQuery, checked_representations
from sharegraph.graph.follow_ups import FollowUpMutation, FollowUpQuery
from sharegraph.graph.form_sharing import FormSharingMutation
from sharegraph.graph.forms import ContactFormQuery
from sharegraph.graph.guard import guard
from sharegraph.graph.import_jobs import ImportJobQuery
from sharegraph.graph.inbox import InboxQuery
from sharegraph.graph.inventories import InventoryMutation, InventoryQuery
from sharegraph.graph.invitations import InvitationMutation
from sharegraph.graph.mutations import DataMutation
from sharegraph.graph.queries import DataQuery
from sharegraph.graph.queues import QueueMutation, QueueQuery
from sharegraph.graph.referrals import ReferralMutation
from sharegraph.graph.replication import ReplicationQuery
from sharegraph.graph.request_checks import RequestChecks
from sharegraph.graph.scalars import SCALAR_MAP
from sharegraph.graph.statistics import StatisticsQuery
from sharegraph.graph.subscriptions import Subscription
from sharegraph.graph.types.base import NODE_TYPES
from sharegraph.graph.types.catalogued import CATALOGUED
from sharegraph.graph.webhooks import WebhookMutation, WebhookQuery
from sharegraph.settings import Settings

# One root per domain module, merged: a newcomer finds `explainAccess` in admin_sharing.py.
Query = merge_types(
    "Query",
    (
        DataQuery,
        FollowUpQuery,
        StatisticsQuery,
        PrincipalAdminQuery,
        SharingAdminQuery,
        AuditQuery,
        EmailTemplateQuery,
        ExportJobQuery,
        ImportJobQuery,
        ExportScheduleQuery,
        WebhookQuery,
        InventoryQuery,
        ContactFormQuery,
        QueueQuery,
        InboxQuery,
        FederationQuery,
        ReplicationQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        DataMutation,
        ReferralMutation,
        QueueMutation,
        CapacityMutation,
        CapacityScheduleMutation,
        DirectoryEditMutation,
        InventoryMutation,
        FollowUpMutation,
        PrincipalAdminMutation,
        InvitationMutation,
        SharingAdminMutation,
        EmailTemplateMutation,
        EmailPdfMutation,
        ExportJobMutation,
        ExportScheduleMutation,
        WebhookMutation,
        FormSharingMutation,
    ),
)

Query.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "Reads. Every answer is decided by your sharing plan: rows outside it are left out (or "
    "null), fields you may not read are null with a `FORBIDDEN_FIELD` error."
)
Mutation.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "Writes. Each is checked by your roles and sharing agreements (operation, input fields, the "
    "row's write scopes) before anything is written, adds its event in the same transaction and "
    "is audited."
)

log = logging.getLogger("sharegraph.graph")

# graphql-core's suggestions (pyutils.did_you_mean): "Cannot query field 'dob' on type 'Client'.
# Did you mean 'dateOfBirth'?", the same for arguments, types, enum values ("Did you mean the
# enum value 'OPEN'?") and input fields, also inside a variable's error ("...; Did you mean
# 'search'? Found: ..."). They would spell the schema out to a caller, name by name. The
# suggested names are GraphQL names, which never hold a quote.
_NAME = r"'[^']*'"
SUGGESTION = re.compile(
    rf" ?Did you mean (?:the enum value |to use an inline fragment on )?{_NAME}"
    rf"(?:, {_NAME})*(?:,? or {_NAME})?\?"
)


def without_suggestions(message: str) -> str:
    message = SUGGESTION.sub("", message)
    # Should a future graphql-core word a suggestion otherwise, cut the message short rather
    # than let it through.
    return message.split(" Did you mean", 1)[0] if "Did you mean" in message else message


class Schema(strawberry.federation.Schema):
    # Set while introspection is off: the schema is not for every caller to discover.
    hide_suggestions: bool = False

    def entities_resolver(
        self, info: strawberry.Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        union = self._schema.get_type("_Entity")
        entity_types = (
            frozenset(t.name for t in union.types) if is_union_type(union) else frozenset()
        )
        results: list[Any] = []
        for item in checked_representations(representations, entity_types):
            if isinstance(item, BadUserInput):
                results.append(item)  # graphql-core raises it at the item's path
            else:
                results += super().entities_resolver(info, [FederationAny(item)])
        return results

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # The database out of reach (and what failed after it on the same session) ends the
        # request with SERVICE_UNAVAILABLE: an outage, logged once elsewhere, not per error.
        outage = any(unavailable(error.original_error) for error in errors)
        for error in errors:
            if self.hide_suggestions:
                error.message = without_suggestions(error.message)
            # Expected errors (bad input, not found, ...) are answers, not incidents: log only
            # the unexpected ones, with their traceback.
            if (
                not outage
                and not isinstance(error.original_error, SharegraphError)
                and error.path is not None
            ):
                log.error("unexpected error at %s", error.path, exc_info=error.original_error)


def build_schema(settings: Settings) -> Schema:
    """The schema for these settings: built once per distinct (token limit, introspection);
    every other limit is read from the request's settings when it runs."""
    settle.install()
    return _schema(settings.limits.max_tokens, settings.introspection)


@cache
def _schema(max_tokens: int, introspection: bool) -> Schema:
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: RequestChecks(max_tokens),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    extensions.append(CompiledReads)  # last: after the limits; on per Settings.compiled_reads
    types: list[Any] = [cls for _, cls in NODE_TYPES.values()]
    guard(CATALOGUED.values())
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=types,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )
    schema.hide_suggestions = not introspection
    require_catalogued(schema)
    return schema


def require_catalogued(schema: Schema) -> None:
    """Every GraphQL type named in the catalogue must be built from it (and so guarded): a
    domain type declared by hand elsewhere would slip past the field guard."""
    for name in CATALOGUE:
        found = schema.get_type_by_name(name)
        if found is not None and CATALOGUED.get(name) is not getattr(found, "origin", None):
            raise RuntimeError(f"{name} is a shared type: declare it with @shared_type")
