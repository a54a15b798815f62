"""Domain vocabularies. Values are the standards' spellings (FHIR, HSDS, Gravity)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import Enum


def db_enum(enum: type[StrEnum], name: str) -> Enum:
    """A VARCHAR with a CHECK constraint (no native enum: adding a value needs no DDL dance)."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=40,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Role(StrEnum):
    TENANT_ADMIN = "tenant-admin"
    CALL_TAKER = "call-taker"
    API_CLIENT = "api-client"
    PORTAL_USER = "portal-user"


class GranteeKind(StrEnum):
    TENANT = "tenant"
    PARTNER = "partner"
    PUBLIC = "public"


class PrincipalKind(StrEnum):
    USER = "user"
    API_CLIENT = "api-client"


class Channel(StrEnum):
    CALL = "call"
    CHAT = "chat"
    TEXT = "text"
    EMAIL = "email"
    WALK_IN = "walk-in"


class RiskLevel(StrEnum):
    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    IMMINENT = "imminent"


class Sensitivity(StrEnum):
    """Ordered from least to most sensitive."""

    PUBLIC = "public"
    INTERNAL = "internal"
    PII = "pii"
    CLINICAL = "clinical"
    PART2 = "part2"

    @property
    def rank(self) -> int:
        return list(Sensitivity).index(self)


class FieldType(StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    SINGLE_SELECT = "single-select"
    MULTI_SELECT = "multi-select"


class ReferralStatus(StrEnum):
    """The FHIR SDOH Clinical Care (Gravity) Task lifecycle."""

    DRAFT = "draft"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    FAILED = "failed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"


STATUSES_NEEDING_REASON = frozenset(
    {
        ReferralStatus.REJECTED,
        ReferralStatus.CANCELLED,
        ReferralStatus.ON_HOLD,
        ReferralStatus.FAILED,
    }
)


class OutcomeCode(StrEnum):
    GOT_HELP = "got-help"
    COULD_NOT_GET_HELP = "could-not-get-help"
    NO_CAPACITY = "no-capacity"
    NOT_ELIGIBLE = "not-eligible"
    COULD_NOT_CONTACT = "could-not-contact"
    NO_LONGER_INTERESTED = "no-longer-interested"
    REFERRED_ELSEWHERE = "referred-elsewhere"
    NEEDS_CLIENT_ACTION = "needs-client-action"


class CapacityStatus(StrEnum):
    CAPACITY = "capacity"
    NO_CAPACITY = "no-capacity"
    WAITLIST = "waitlist"
    ADDITIONAL_ASSESSMENT_REQUIRED = "additional-assessment-required"


class FollowUpStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ServiceStatus(StrEnum):
    """HSDS 3.0 service.status."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    DEFUNCT = "defunct"
    TEMPORARILY_CLOSED = "temporarily closed"


class LocationType(StrEnum):
    PHYSICAL = "physical"
    POSTAL = "postal"
    VIRTUAL = "virtual"


class AddressType(StrEnum):
    PHYSICAL = "physical"
    POSTAL = "postal"
    VIRTUAL = "virtual"


class EventType(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


def enum_values(enum: type[StrEnum]) -> list[Any]:
    return [member.value for member in enum]
