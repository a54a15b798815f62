"""The policy snapshot: the Casbin policy set compiled from the rows admins edit.

Agreements, role assignments and form definitions are stored as rows; this module is the only
writer of Casbin policies (we own every policy write; no adapter). A snapshot is immutable:
a policy change builds a new one and swaps it in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import casbin
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.catalogue import revision_of
from sharegraph.authz.coordinates import answer_coordinate, coordinate_matches
from sharegraph.datastore.enums import GranteeKind, Sensitivity
from sharegraph.datastore.models import (
    FormField,
    Principal,
    RoleAssignment,
    SharingAgreement,
    Tenant,
)
from sharegraph.datastore.policy_version import current as current_version

HERE = Path(__file__).parent
MODEL_PATH = HERE / "model.conf"
ROLE_POLICY_PATH = HERE / "role_policy.csv"
ACTIONS = ("read", "write", "export", "subscribe", "statistics")
# Actions only roles grant (no tenant's data is involved, so no agreement can share them).
ROLE_ONLY_ACTIONS = ("compose",)
OWN = "own"  # agreement column of each tenant's implicit agreement with itself
PUBLIC = "public"
ANY_REVISION = "*"  # rev column of rules that are not subject to review (a tenant's own data)


def tenant_subject(tenant_id: uuid.UUID) -> str:
    return f"tenant:{tenant_id}"


def partner_subject(partner_id: uuid.UUID) -> str:
    return f"partner:{partner_id}"


def role_subject(home: str, role: str) -> str:
    return f"{home}/role:{role}"


def principal_subject(principal_id: uuid.UUID) -> str:
    return f"principal:{principal_id}"


def stamp(moment: datetime | None) -> str:
    """Validity bounds as sortable UTC strings ("" = open)."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def valid_at(at: str, start: str, end: str) -> bool:
    return (start == "" or start <= at) and (end == "" or at < end)


def approved_at(coordinate: str, revision: str) -> bool:
    """Whether ``coordinate`` was in the catalogue at the revision an agreement was approved at
    (``*``: any)."""
    return revision == ANY_REVISION or revision_of(coordinate) <= int(revision)


def new_enforcer() -> casbin.Enforcer:
    enforcer = casbin.Enforcer(str(MODEL_PATH))
    enforcer.add_function("coordMatch", coordinate_matches)
    enforcer.add_function("validAt", valid_at)
    enforcer.add_function("approvedAt", approved_at)
    return enforcer


def role_rules() -> list[list[str]]:
    rules = []
    for line in ROLE_POLICY_PATH.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        ptype, *values = [part.strip() for part in line.split(",")]
        if ptype != "p" or len(values) != 4:
            raise ValueError(f"bad role policy line: {line!r}")
        rules.append(values)
    return rules


@dataclass(frozen=True)
class AgreementRow:
    """The fields of a sharing agreement the compiler needs (decoupled from the ORM)."""

    id: uuid.UUID
    name: str
    owner: uuid.UUID
    grantee_kind: GranteeKind
    grantee_tenant_id: uuid.UUID | None
    grantee_partner_id: uuid.UUID | None
    grantee_role: str | None
    actions: tuple[str, ...]
    fields: tuple[str, ...]
    denied_fields: tuple[str, ...]
    answer_sensitivity: Sensitivity | None
    row_scope: str
    valid_from: datetime | None
    valid_until: datetime | None
    purpose: str
    # The catalogue revision at which an admin last approved it: its globs grant the fields
    # that existed then, and fields added since wait for review.
    catalogue_revision: int

    @classmethod
    def of(cls, row: SharingAgreement) -> AgreementRow:
        return cls(
            id=row.id,
            name=row.name,
            owner=row.tenant_id,
            grantee_kind=row.grantee_kind,
            grantee_tenant_id=row.grantee_tenant_id,
            grantee_partner_id=row.grantee_partner_id,
            grantee_role=row.grantee_role.value if row.grantee_role else None,
            actions=tuple(row.actions),
            fields=tuple(row.fields),
            denied_fields=tuple(row.denied_fields or ()),
            answer_sensitivity=row.answer_sensitivity,
            row_scope=row.row_scope,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            purpose=row.purpose,
            catalogue_revision=row.catalogue_revision,
        )

    @property
    def subject(self) -> str:
        if self.grantee_kind is GranteeKind.PUBLIC:
            return PUBLIC
        home = (
            tenant_subject(self.grantee_tenant_id)
            if self.grantee_kind is GranteeKind.TENANT and self.grantee_tenant_id
            else partner_subject(self.grantee_partner_id)  # type: ignore[arg-type]
        )
        return role_subject(home, self.grantee_role) if self.grantee_role else home


def agreement_rules(
    agreement: AgreementRow, answer_keys: dict[str, Sensitivity]
) -> list[list[str]]:
    """p2 rules for one agreement: its allows (with its row scope) and its explicit denials."""
    start, end = stamp(agreement.valid_from), stamp(agreement.valid_until)
    allowed = list(agreement.fields)
    if agreement.answer_sensitivity is not None:
        ceiling = agreement.answer_sensitivity.rank
        allowed += sorted(answer_coordinate(k) for k, s in answer_keys.items() if s.rank <= ceiling)
    rules = []
    for action in agreement.actions:
        for pattern in dict.fromkeys(allowed):
            rules.append(
                [
                    str(agreement.owner),
                    agreement.subject,
                    pattern,
                    action,
                    "allow",
                    agreement.row_scope,
                    start,
                    end,
                    str(agreement.id),
                    str(agreement.catalogue_revision),
                ]
            )
        for pattern in agreement.denied_fields:
            rules.append(
                [
                    str(agreement.owner),
                    agreement.subject,
                    pattern,
                    action,
                    "deny",
                    "-",
                    start,
                    end,
                    str(agreement.id),
                    ANY_REVISION,
                ]
            )
    return rules


def own_tenant_rules(tenant_id: uuid.UUID) -> list[list[str]]:
    return [
        [
            str(tenant_id),
            tenant_subject(tenant_id),
            "**",
            action,
            "allow",
            "all",
            "",
            "",
            OWN,
            ANY_REVISION,
        ]
        for action in ACTIONS
    ]


@dataclass(frozen=True)
class Snapshot:
    """One immutable policy set, as of ``version``."""

    version: int
    enforcer: casbin.Enforcer
    tenants: frozenset[uuid.UUID]
    answer_keys: dict[uuid.UUID, dict[str, Sensitivity]]
    agreements: dict[str, AgreementRow]
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def role_rules(self) -> list[list[str]]:
        return self.enforcer.get_named_policy("p")  # type: ignore[no-any-return]

    def sharing_rules(self) -> list[list[str]]:
        return self.enforcer.get_named_policy("p2")  # type: ignore[no-any-return]

    def part2_keys(self, owner: uuid.UUID) -> frozenset[str]:
        return frozenset(
            k for k, s in self.answer_keys.get(owner, {}).items() if s is Sensitivity.PART2
        )


def build(
    version: int,
    tenants: list[uuid.UUID],
    agreements: list[AgreementRow],
    answer_keys: dict[uuid.UUID, dict[str, Sensitivity]],
    grants: list[tuple[uuid.UUID, str, str, str]],
) -> Snapshot:
    """A snapshot from plain data. ``grants``: (principal id, role, role domain, home subject)."""
    enforcer = new_enforcer()
    enforcer.add_named_policies("p", role_rules())
    sharing: list[list[str]] = []
    for tenant_id in tenants:
        sharing += own_tenant_rules(tenant_id)
    for agreement in agreements:
        sharing += agreement_rules(agreement, answer_keys.get(agreement.owner, {}))
    if sharing:
        enforcer.add_named_policies("p2", _unique(sharing))
    role_links = [[principal_subject(p), role, domain] for p, role, domain, _home in grants]
    if role_links:
        enforcer.add_named_grouping_policies("g", _unique(role_links))
    subject_links: list[list[str]] = []
    for principal_id, role, domain, home in grants:
        subject = principal_subject(principal_id)
        subject_links += [[subject, home], [subject, PUBLIC]]
        if domain == home:  # a role acts for its holder's home only
            subject_links.append([subject, role_subject(home, role)])
    if subject_links:
        enforcer.add_named_grouping_policies("g2", _unique(subject_links))
    return Snapshot(
        version=version,
        enforcer=enforcer,
        tenants=frozenset(tenants),
        answer_keys=answer_keys,
        agreements={str(a.id): a for a in agreements},
    )


def _unique(rules: list[list[str]]) -> list[list[str]]:
    return [list(r) for r in dict.fromkeys(tuple(r) for r in rules)]


async def load(session: AsyncSession) -> Snapshot:
    """Read the rows admins edit and compile them into a new snapshot."""
    version = await current_version(session)
    tenants = list((await session.scalars(select(Tenant.id))).all())
    agreements = [
        AgreementRow.of(row)
        for row in (
            await session.scalars(
                select(SharingAgreement).where(SharingAgreement.revoked_at.is_(None))
            )
        ).all()
    ]
    # Forms are shared across tenants (a record may be on another tenant's form), so every
    # owner's answers may carry any known key; a key used by several forms takes its most
    # sensitive class.
    known: dict[str, Sensitivity] = {}
    for key, sensitivity in (
        await session.execute(select(FormField.key, FormField.sensitivity))
    ).all():
        previous = known.get(key)
        if previous is None or sensitivity.rank > previous.rank:
            known[key] = sensitivity
    answer_keys = {tenant_id: known for tenant_id in tenants}
    grants: list[tuple[uuid.UUID, str, str, str]] = []
    rows = await session.execute(
        select(
            RoleAssignment.principal_id,
            RoleAssignment.role,
            RoleAssignment.tenant_id,
            RoleAssignment.partner_organization_id,
            Principal.tenant_id,
            Principal.partner_organization_id,
        ).join(Principal, Principal.id == RoleAssignment.principal_id)
    )
    for principal_id, role, tenant_id, partner_id, home_tenant, home_partner in rows.all():
        domain = tenant_subject(tenant_id) if tenant_id else partner_subject(partner_id)  # type: ignore[arg-type]
        home = tenant_subject(home_tenant) if home_tenant else partner_subject(home_partner)  # type: ignore[arg-type]
        grants.append((principal_id, role.value, domain, home))
    return build(version, tenants, agreements, answer_keys, grants)


def enforce_role(
    snapshot: Snapshot, principal_id: uuid.UUID, domain: str, coordinate: str, action: str
) -> bool:
    return bool(
        snapshot.enforcer.enforce(principal_subject(principal_id), domain, coordinate, action)
    )


def enforce_sharing(
    snapshot: Snapshot,
    principal_id: uuid.UUID,
    owner: uuid.UUID,
    coordinate: str,
    action: str,
    scope: str,
    at: datetime,
) -> tuple[bool, list[str]]:
    context = snapshot.enforcer.new_enforce_context("2")
    allowed, rule = snapshot.enforcer.enforce_ex(
        context, principal_subject(principal_id), str(owner), coordinate, action, scope, stamp(at)
    )
    return bool(allowed), list(rule)
