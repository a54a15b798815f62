"""Admin convenience: share a contact form with another tenant by flags, or stop sharing it.

The flags become ordinary sharing agreements (see ``queries/form_sharing.py``);
`sharingAgreements` lists them and `explainAccess` explains them like any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.datastore.enums import Sensitivity
from sharegraph.graph.admin_sharing import AccessChange, SharingAgreement, access_changes
from sharegraph.graph.arguments import INPUT
from sharegraph.graph.context import Info
from sharegraph.graph.forms import form_id_from
from sharegraph.graph.relay import from_global_id
from sharegraph.graph.types.catalogued import catalogued_input
from sharegraph.queries import form_sharing


@strawberry.input(
    description=(
        "Shares the records on one of your tenant's contact forms "
        "with another tenant, iCarol-style: each flag becomes an "
        "ordinary sharing agreement on `shared_form:<form id>` "
        "(tenant admins of the form's owner)."
    )
)
@catalogued_input()
class ShareContactFormInput:
    form_id: strawberry.ID = strawberry.field(
        description="The form's UUID, or the id of one of its versions."
    )
    grantee_tenant_id: strawberry.ID = strawberry.field(
        description="The global id of the tenant to share with."
    )
    search: bool = strawberry.field(default=False, description="Read its records.")
    edit: bool = strawberry.field(default=False, description="Change its records (needs search).")
    follow_ups: bool = strawberry.field(default=False, description="See their follow-ups.")
    assign_follow_ups: bool = strawberry.field(
        default=False,
        description="Schedule follow-ups on them for your users (needs followUps).",
    )
    statistics: bool = strawberry.field(
        default=False, description="Count them in `networkStatistics`."
    )
    export: bool = strawberry.field(default=False, description="Include them in exports.")
    purpose: str = strawberry.field(
        description=("Why the records are shared (on every agreement made).")
    )
    valid_until: datetime | None = strawberry.field(
        default=None,
        description=("When the share ends (ISO 8601 with offset); left out: until unshared."),
    )
    answer_sensitivity: Sensitivity | None = strawberry.field(
        default=None,
        description="Form answers up to this class go with search, edit and export; none if null.",
    )
    dry_run: bool = strawberry.field(
        default=False, description="Only say what would change; write nothing."
    )

    def flags(self) -> frozenset[str]:
        chosen = {
            "search": self.search,
            "edit": self.edit,
            "followUps": self.follow_ups,
            "assignFollowUps": self.assign_follow_ups,
            "statistics": self.statistics,
            "export": self.export,
        }
        return frozenset(flag for flag, on in chosen.items() if on)


@strawberry.input(
    description=("Ends a form share: revokes its agreements (tenant admins of the form's owner).")
)
@catalogued_input()
class UnshareContactFormInput:
    form_id: strawberry.ID = strawberry.field(
        description="The form's UUID, or the id of one of its versions."
    )
    grantee_tenant_id: strawberry.ID = strawberry.field(
        description="The global id of the tenant it was shared with."
    )
    dry_run: bool = strawberry.field(
        default=False, description="True: only say what would change; write nothing."
    )


@strawberry.type(description=("The agreements a form share made, and what changed."))
class ContactFormSharePayload:
    agreements: list[SharingAgreement] = strawberry.field(
        description="The share's live agreements (after the change, unless dryRun)."
    )
    changes: list[AccessChange] = strawberry.field(
        description="What the grantee gains or loses, per coordinate."
    )
    applied: bool = strawberry.field(description="False for a dry run: nothing was written.")


Planner = Callable[[AsyncSession], Awaitable[form_sharing.ShareChanges]]


async def _run(info: Info, planner: Planner, dry_run: bool) -> ContactFormSharePayload:
    ctx = info.context
    if dry_run:
        async with ctx.db() as session:
            planned = await planner(session)
        changes = form_sharing.preview(ctx.policies.snapshot, planned)
        live = planned.kept + [c.before for c in planned.changes if c.before is not None]
    else:
        async with ctx.write_session() as session:
            planned = await planner(session)
            changes = form_sharing.preview(ctx.policies.snapshot, planned)
            live = await form_sharing.apply(session, ctx.principal, planned)
        await ctx.see_own_writes()
        await ctx.policies.reload()
    return ContactFormSharePayload(
        agreements=[SharingAgreement.of(row) for row in sorted(live, key=lambda r: r.name)],
        changes=await access_changes(info, changes),
        applied=not dry_run,
    )


@strawberry.type
class FormSharingMutation:
    @strawberry.mutation(
        name="shareContactForm",
        description="Share one of your tenant's contact forms with another tenant (admins of "
        "the form's owner). Sharing again replaces the flags; flags left false are revoked.",
    )
    async def share_contact_form(
        self, info: Info, input: Annotated[ShareContactFormInput, INPUT]
    ) -> ContactFormSharePayload:
        form_id = await form_id_from(info, input.form_id)
        share = form_sharing.FormShare(
            form_id=form_id,
            grantee_tenant_id=from_global_id(input.grantee_tenant_id, expected="Tenant")[1],
            flags=input.flags(),
            purpose=input.purpose,
            valid_until=input.valid_until,
            answer_sensitivity=input.answer_sensitivity,
        )
        plan = info.context.plan
        return await _run(
            info, lambda session: form_sharing.plan_share(session, plan, share), input.dry_run
        )

    @strawberry.mutation(
        name="unshareContactForm",
        description="Revoke every agreement sharing the form with that tenant.",
    )
    async def unshare_contact_form(
        self, info: Info, input: Annotated[UnshareContactFormInput, INPUT]
    ) -> ContactFormSharePayload:
        form_id = await form_id_from(info, input.form_id)
        grantee = from_global_id(input.grantee_tenant_id, expected="Tenant")[1]
        plan = info.context.plan
        return await _run(
            info,
            lambda session: form_sharing.plan_unshare(session, plan, form_id, grantee),
            input.dry_run,
        )
