"""Fields waiting for an admin's review: added to the catalogue after an agreement's approval.

An agreement's globs grant the fields the catalogue held at the revision it was approved at
(see :mod:`.catalogue`). The fields its globs would reach at today's revision but did not then
are pending: not disclosed, listed to admins, until the agreement is approved again.
"""

from __future__ import annotations

from sharegraph.authz import catalogue
from sharegraph.authz.catalogue import CATALOGUE
from sharegraph.authz.coordinates import coordinate_matches
from sharegraph.authz.policy import AgreementRow


def pending_review(agreement: AgreementRow, revision: int | None = None) -> list[str]:
    """Coordinates the agreement's allow globs cover now (or at ``revision``) but not at its
    approved revision."""
    revision = catalogue.REVISION if revision is None else revision
    newer = [
        field.coordinate
        for spec in CATALOGUE.values()
        for field in spec.fields
        if agreement.catalogue_revision < field.added <= revision
    ]
    return sorted(
        c
        for c in newer
        if any(coordinate_matches(c, p) for p in agreement.fields)
        and not any(coordinate_matches(c, d) for d in agreement.denied_fields)
    )
