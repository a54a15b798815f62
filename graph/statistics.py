"""`networkStatistics`: counts of contact records on a shared form across the tenants sharing it,
with small cells suppressed (see ``queries/statistics.py`` for the rules).

When another tenant's records may be counted (network mode), every figure is rounded to a
multiple of 5 and only whole, completed ISO weeks on the form owner's clock are counted; with
only your own tenant's records, counts are exact and any days may be asked for.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from sharegraph.authz.plan import Action
from sharegraph.datastore import models as m
from sharegraph.datastore.base import utcnow
from sharegraph.graph.context import Info
from sharegraph.graph.enums import Channel, describe_enum
from sharegraph.graph.forms import form_id_from
from sharegraph.graph.relay import to_global_id
from sharegraph.graph.types.base import maybe
from sharegraph.graph.types.resources import TaxonomyTerm
from sharegraph.queries import statistics as stats

# Decides which weeks are complete; tests pin it.
clock: Callable[[], datetime] = utcnow


@strawberry.enum
class StatisticsDimension(Enum):
    NEED = "need"
    CHANNEL = "channel"
    COUNTY = "county"
    WEEK = "week"


describe_enum(
    StatisticsDimension,
    "What network statistics can group records by.",
    NEED=("The record's needs (taxonomy terms); a record with several counts in each."),
    CHANNEL="How the contact came in.",
    COUNTY="The caller's county.",
    WEEK=("The ISO week the contact started in, on the form owner's clock."),
)


@strawberry.type(
    description="One count; withheld (`count` null, `suppressed` true) when small. In network "
    "mode rounded to the nearest multiple of 5."
)
class StatisticsCell:
    need_term: strawberry.Private[uuid.UUID | None]
    need_term_id: strawberry.ID | None = strawberry.field(
        description="The need's taxonomy term (grouped by NEED); null for records with no need."
    )
    channel: Channel | None = strawberry.field(description="The channel (grouped by CHANNEL).")
    county: str | None = strawberry.field(description="The caller's county, when recorded.")
    week: str | None = strawberry.field(
        description="ISO week on the form owner's clock, e.g. `2026-W05`."
    )
    count: int | None = strawberry.field(
        description="Records in the cell (rounded to 5 in network mode); null when suppressed."
    )
    suppressed: bool = strawberry.field(
        description=(
            "True when `count` is withheld: under the threshold, or it "
            "would let a withheld cell be derived."
        )
    )

    @strawberry.field(description="The need's taxonomy term, if you may read it.")
    async def need(self, info: Info) -> TaxonomyTerm | None:
        return maybe(TaxonomyTerm, await info.context.loaders.one(m.TaxonomyTerm, self.need_term))


@strawberry.type(
    description=(
        "Counts of contact records on one form across the tenants "
        "that grant you `statistics` on it, with small cells withheld"
        " so no person can be singled out."
    )
)
class NetworkStatistics:
    form_uuid: uuid.UUID = strawberry.field(description="The form's UUID.")
    time_zone: str = strawberry.field(description="The form owner's; days and weeks follow it.")
    group_by: list[StatisticsDimension] = strawberry.field(
        description="The dimensions the cells are grouped by."
    )
    threshold: int = strawberry.field(description="The threshold applied.")
    rounding: int = strawberry.field(
        description="Counts and the total are rounded to the nearest multiple of this: 5 in "
        "network mode (another tenant's records may be counted; only whole, completed ISO weeks "
        "are counted then), 1 (exact) when only your own tenant's records are."
    )
    total: int | None = strawberry.field(
        description="Distinct records (rounded to 5 in network mode); null when suppressed."
    )
    total_suppressed: bool = strawberry.field(
        description=("True when the total is withheld (under the threshold).")
    )
    cells: list[StatisticsCell] = strawberry.field(
        description=(
            "One cell per combination of the dimensions (withheld ones "
            "included, with `count` null)."
        )
    )


def _cell(
    group_by: tuple[stats.Dimension, ...], key: stats.Key, count: int | None
) -> StatisticsCell:
    values = dict(zip(group_by, key, strict=True))
    need = values.get(stats.Dimension.NEED)
    return StatisticsCell(
        need_term=need,
        need_term_id=strawberry.ID(to_global_id("TaxonomyTerm", need)) if need else None,
        channel=values.get(stats.Dimension.CHANNEL),
        county=values.get(stats.Dimension.COUNTY),
        week=values.get(stats.Dimension.WEEK),
        count=count,
        suppressed=count is None,
    )


@strawberry.type
class StatisticsQuery:
    @strawberry.field(
        name="networkStatistics",
        description="Contact records on (any version of) a form, counted across the tenants "
        "that grant you statistics on them (your own tenant's included), grouped as asked. "
        "Cells and totals under the threshold are suppressed, and so are cells that would let "
        "a suppressed one be derived by subtraction. Network mode (another tenant grants you "
        "statistics on the form, so its records may be counted): the threshold is at least 5, "
        "every count and total is rounded to the nearest multiple of 5, and only whole ISO "
        "weeks that have ended (on the form owner's clock) are counted. Counting only your own "
        "tenant's records gives exact counts over any days.",
    )
    async def network_statistics(
        self,
        info: Info,
        form_id: Annotated[
            strawberry.ID, strawberry.argument(description="The form's global id (or UUID).")
        ],
        from_: Annotated[
            date | None,
            strawberry.argument(
                name="from",
                description="First day, on the owner's clock; a Monday in network mode "
                "(else BAD_USER_INPUT / UNALIGNED_PERIOD).",
            ),
        ] = None,
        to: Annotated[
            date | None,
            strawberry.argument(
                description="Last day (inclusive); a Sunday in network mode (else "
                "BAD_USER_INPUT / UNALIGNED_PERIOD), where the current week is never counted."
            ),
        ] = None,
        group_by: Annotated[
            list[StatisticsDimension] | None,
            strawberry.argument(
                description=(
                    "Dimensions to group by (each at most once); left out: the total only."
                )
            ),
        ] = None,
        threshold: Annotated[
            int,
            strawberry.argument(
                description=(
                    "Cells counting fewer records are withheld (never below 5 in network mode)."
                )
            ),
        ] = stats.DEFAULT_THRESHOLD,
    ) -> NetworkStatistics:
        ctx = info.context
        plan = ctx.plan
        plan.require_operation("networkStatistics", Action.STATISTICS)
        dimensions = tuple(dict.fromkeys(stats.Dimension(d.value) for d in group_by or ()))
        form_uuid = await form_id_from(info, form_id)
        async with ctx.db() as session:
            form = await stats.find_form(session, plan, form_uuid)
        used = {stats.DIMENSION_FIELDS[d]: "group by" for d in dimensions}
        if from_ is not None or to is not None:
            used.setdefault("startedAt", "filter")
        stats.require_fields(plan, form.id, used)
        rules = stats.disclosure_for(plan, form.id, threshold)
        start, end = stats.period(form, from_, to, network=rules.network, now=clock())
        request = stats.Request(form=form, group_by=dimensions, start=start, end=end)
        async with ctx.db() as session:
            counts = await stats.count(session, plan, request, ctx.dialect)
        withheld = stats.suppress(counts.cells, counts.total, rules.threshold)
        for owner in sorted(counts.owners - {plan.home_tenant}, key=str):
            ctx.audit.disclosure(
                owner,
                ctx.audit.home,
                None,
                "ContactRecord",
                [],
                [f"ContactRecord.{field}" for field in used],
                detail={
                    "statistics": {
                        "formId": str(form.id),
                        "groupBy": [d.value for d in dimensions],
                        "threshold": rules.threshold,
                    }
                },
            )
        return NetworkStatistics(
            form_uuid=form.id,
            time_zone=form.time_zone,
            group_by=[StatisticsDimension(d.value) for d in dimensions],
            threshold=rules.threshold,
            rounding=rules.rounding,
            total=None if withheld.total_hidden else rules.shown(counts.total),
            total_suppressed=withheld.total_hidden,
            cells=[
                _cell(
                    dimensions,
                    key,
                    None if key in withheld.hidden else rules.shown(counts.cells[key]),
                )
                for key in sorted(counts.cells, key=stats.sort_key)
            ],
        )
