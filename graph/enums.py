"""The domain's enums, exposed in GraphQL under their own names with UPPER_SNAKE values.

Registering the datastore's enums (rather than copying them) keeps one definition; import
them from here so the registration has happened.
"""

import strawberry

from sharegraph.datastore.enums import (
    CapacityStatus,
    Channel,
    FieldType,
    FollowUpStatus,
    LocationType,
    OutcomeCode,
    PrincipalKind,
    ReferralStatus,
    RiskLevel,
    Role,
    Sensitivity,
    ServiceStatus,
)

for _enum in (
    CapacityStatus,
    Channel,
    FieldType,
    FollowUpStatus,
    LocationType,
    OutcomeCode,
    PrincipalKind,
    ReferralStatus,
    RiskLevel,
    Role,
    Sensitivity,
    ServiceStatus,
):
    strawberry.enum(_enum)

__all__ = [
    "CapacityStatus",
    "Channel",
    "FieldType",
    "FollowUpStatus",
    "LocationType",
    "OutcomeCode",
    "PrincipalKind",
    "ReferralStatus",
    "RiskLevel",
    "Role",
    "Sensitivity",
    "ServiceStatus",
]
