"""`sharingCatalogue`: what an admin may put in a sharing agreement, read from the one field
catalogue (``authz/catalogue``), the row-scope vocabulary (``authz/scopes``) and the actions
(``authz/policy``). Nothing is copied: each answer is built from them when asked."""

from __future__ import annotations

import strawberry

from sharegraph.authz import catalogue
from sharegraph.authz.catalogue import CATALOGUE
from sharegraph.authz.policy import ACTIONS
from sharegraph.authz.scopes import SCOPE_NAMES
from sharegraph.datastore.enums import Sensitivity

# What each row scope's argument is and what the scope selects, in an admin's words. The
# vocabulary itself is ``authz.scopes.SCOPE_NAMES`` (tests/test_sharing_catalogue.py checks
# that every name has its words here and no other).
SCOPE_WORDS: dict[str, tuple[str | None, str]] = {
    "all": (None, "Every row of your tenant."),
    "referred_to_grantee": (
        None,
        "Contact records (and their clients) with a referral to the grantee; of referrals, "
        "only those to it.",
    ),
    "assigned_to_grantee": (
        None,
        "Contact records with a live queue entry assigned to one of the grantee's programs.",
    ),
    "follow_up_assigned_to_grantee": (
        None,
        "Follow-ups assigned to the grantee tenant and the contact records they are on.",
    ),
    "shared_form": ("form id", "Contact records taken on any version of one contact form."),
    "region": (
        "county or postal prefix",
        "Records of callers or clients in a county or postal area; directory records there.",
    ),
    "inventory": ("inventory id", "Directory records listed in one inventory."),
}


@strawberry.type(description="One field of a shared type, as the field catalogue declares it.")
class CatalogueField:
    name: str = strawberry.field(description="The field's name (`phone`).")
    coordinate: str = strawberry.field(
        description="Its coordinate (`Client.phone`), the value agreements list in `fields`."
    )
    label: str = strawberry.field(description="Its name in words (`Phone`).")
    description: str = strawberry.field(description="What it holds.")
    sensitivity: Sensitivity = strawberry.field(
        description="Its sensitivity class: PUBLIC, INTERNAL, PII, CLINICAL or PART2."
    )
    added_in_revision: int = strawberry.field(
        description="The catalogue revision that added it; agreements approved at an older "
        "revision list it in `pendingReview` until an admin approves them again."
    )


@strawberry.type(description="A shared type of the field catalogue, with its fields.")
class CatalogueType:
    name: str = strawberry.field(description="The type's name (`Client`); `Client.*` shares all.")
    description: str = strawberry.field(description="What its rows are.")
    kind: str = strawberry.field(
        description="`record` (contact data, audited per row) or `directory` (the resource "
        "directory)."
    )
    fields: list[CatalogueField] = strawberry.field(description="Its fields, in catalogue order.")


@strawberry.type(description="A row scope an agreement may choose (`rowScope`).")
class RowScopeKind:
    name: str = strawberry.field(
        description="The scope's name; with an argument it is written `<name>:<argument>`."
    )
    argument: str | None = strawberry.field(
        description="What its argument is (`form id`); null when it takes none."
    )
    description: str = strawberry.field(description="Which rows it selects.")


@strawberry.type(
    description="What a sharing agreement can name: the field catalogue's types and fields with "
    "their sensitivity, its revision, the row scopes and the actions."
)
class SharingCatalogue:
    revision: int = strawberry.field(
        description="The catalogue's current revision: saving or approving an agreement "
        "approves it at this revision."
    )
    types: list[CatalogueType] = strawberry.field(description="The shared types, by name.")
    row_scopes: list[RowScopeKind] = strawberry.field(description="The row-scope vocabulary.")
    actions: list[str] = strawberry.field(description="The actions an agreement may grant.")


def sharing_catalogue() -> SharingCatalogue:
    """The catalogue as the pickers show it, built from ``authz`` on each call."""
    return SharingCatalogue(
        revision=catalogue.REVISION,
        types=[
            CatalogueType(
                name=spec.name,
                description=spec.description,
                kind=spec.kind.value,
                fields=[
                    CatalogueField(
                        name=f.name,
                        coordinate=f.coordinate,
                        label=f.label,
                        description=f.description,
                        sensitivity=f.sensitivity,
                        added_in_revision=f.added,
                    )
                    for f in spec.fields
                ],
            )
            for spec in sorted(CATALOGUE.values(), key=lambda s: s.name)
        ],
        row_scopes=[
            RowScopeKind(name=name, argument=SCOPE_WORDS[name][0], description=SCOPE_WORDS[name][1])
            for name in SCOPE_NAMES
        ],
        actions=list(ACTIONS),
    )
