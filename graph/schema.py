"""The one schema every tenant shares: an Apollo Federation v2 subgraph."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from ..datastore.outage import unavailable
from ..errors import SharegraphError
from ..settings import Settings
from .admin_principals import PrincipalAdminMutation, PrincipalAdminQuery
from .admin_sharing import SharingAdminMutation, SharingAdminQuery
from .audit import AuditQuery
from .capacity import CapacityMutation
from .capacity_schedule import CapacityScheduleMutation
from .directory_edit import DirectoryEditMutation
from .email_pdf import EmailPdfMutation
from .email_templates import EmailTemplateMutation, EmailTemplateQuery
from .export_jobs import ExportJobMutation, ExportJobQuery
from .export_schedules import ExportScheduleMutation, ExportScheduleQuery
from .follow_ups import FollowUpMutation, FollowUpQuery
from .form_sharing import FormSharingMutation
from .guard import guard
from .inventories import InventoryMutation, InventoryQuery
from .limits import OperationLimits
from .mutations import DataMutation
from .queries import DataQuery
from .queues import QueueMutation, QueueQuery
from .referrals import ReferralMutation
from .statistics import StatisticsQuery
from .types.base import NODE_TYPES

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
        ExportScheduleQuery,
        InventoryQuery,
        QueueQuery,
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
        SharingAdminMutation,
        EmailTemplateMutation,
        EmailPdfMutation,
        ExportJobMutation,
        ExportScheduleMutation,
        FormSharingMutation,
    ),
)

log = logging.getLogger("sharegraph.graph")


class Schema(strawberry.federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected errors (bad input, not found, ...) are answers, not incidents: log only the
        # unexpected ones, with their traceback. The database out of reach (and what failed
        # after it on the same session) ends the request with SERVICE_UNAVAILABLE instead.
        if any(unavailable(error.original_error) for error in errors):
            return
        for error in errors:
            if not isinstance(error.original_error, SharegraphError) and error.path is not None:
                log.error("unexpected error at %s", error.path, exc_info=error.original_error)


def _domain_types() -> list[type[Any]]:
    """Every GraphQL type of the ``graph.types`` modules; the guard covers each of their fields
    that names a coordinate."""
    from . import types as package

    modules = [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
    ]
    return [
        obj
        for module in modules
        for obj in vars(module).values()
        if isinstance(obj, type)
        and hasattr(obj, "__strawberry_definition__")
        and obj.__module__ == module.__name__
    ]


def build_schema(settings: Settings) -> Schema:
    max_tokens = settings.limits.max_tokens
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        ParserCache,
        ValidationCache,
        OperationLimits,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    types: list[Any] = [cls for _, cls in NODE_TYPES.values()]
    guard(_domain_types())
    return Schema(
        query=Query,
        mutation=Mutation,
        types=types,
        extensions=extensions,
    )
