"""The domain's enums, exposed in GraphQL under their own names with UPPER_SNAKE values.

Registering the datastore's enums (rather than copying them) keeps one definition; import
them from here so the registration has happened. Each is described here, value by value, for
the partner developers who read the schema.
"""

from collections.abc import Callable
from enum import Enum
from typing import TypeVar

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

E = TypeVar("E", bound=type[Enum])


def describe_enum(enum: E, description: str, **values: str) -> E:
    """Registers ``enum`` (if strawberry has not yet) with its description and one for every
    value, by GraphQL name; a value left out or unknown fails at import."""
    if not hasattr(enum, "__strawberry_definition__"):
        strawberry.enum(enum)
    definition = enum.__strawberry_definition__  # type: ignore[attr-defined]
    names = {value.name for value in definition.values}
    if names != set(values):
        raise TypeError(f"{definition.name}: describe exactly {sorted(names)}")
    definition.description = description
    for value in definition.values:
        value.description = values[value.name]
    return enum


def described(description: str, /, name: str | None = None, **values: str) -> Callable[[E], E]:
    """``describe_enum`` as a class decorator (in place of ``@strawberry.enum``), for enums
    declared in the graph layer; ``name`` is the GraphQL name when not the class's."""

    def decorate(enum: E) -> E:
        return describe_enum(strawberry.enum(enum, name=name), description, **values)

    return decorate


describe_enum(
    CapacityStatus,
    "Whether a service can take referrals now (Gravity / HSDS capacity status).",
    CAPACITY="It has room: referrals are accepted.",
    NO_CAPACITY="It is full: referrals are not accepted now.",
    WAITLIST="It is full but keeps a waitlist: referrals join it.",
    ADDITIONAL_ASSESSMENT_REQUIRED="It takes referrals only after its own assessment.",
)
describe_enum(
    Channel,
    "How the caller reached the helpline.",
    CALL="A phone call.",
    CHAT="A web chat.",
    TEXT="A text message (SMS).",
    EMAIL="An e-mail.",
    WALK_IN="In person.",
)
describe_enum(
    FieldType,
    "The kind of answer a contact-form field takes (its value's JSON type in `answers`).",
    TEXT="One line of text (a JSON string).",
    TEXTAREA="Free text over several lines (a JSON string).",
    NUMBER="A number (a JSON number).",
    BOOLEAN="Yes or no (a JSON boolean).",
    DATE="A calendar date, `YYYY-MM-DD` (a JSON string), 1000-01-01 through 9998-12-31.",
    SINGLE_SELECT="One of the field's `options` (a JSON string).",
    MULTI_SELECT="Some of the field's `options` (a JSON array of strings).",
)
describe_enum(
    FollowUpStatus,
    "Where a follow-up stands.",
    OPEN="To be done by its due time.",
    COMPLETED="Done (completed by the assignee).",
    CANCELLED="No longer needed.",
)
describe_enum(
    LocationType,
    "What kind of place a location is (HSDS 3.0 `location_type`).",
    PHYSICAL="A place people can visit.",
    POSTAL="A mailing address only.",
    VIRTUAL="Online or by phone, with no place to visit.",
)
describe_enum(
    OutcomeCode,
    "What came of a referral for the client, as the receiving organization or the referrer "
    "reports it.",
    GOT_HELP="The client got the help they were referred for.",
    COULD_NOT_GET_HELP="The client did not get help, for another reason.",
    NO_CAPACITY="The service had no room.",
    NOT_ELIGIBLE="The client was not eligible.",
    COULD_NOT_CONTACT="The client could not be reached.",
    NO_LONGER_INTERESTED="The client no longer wanted the service.",
    REFERRED_ELSEWHERE="The client was sent to another service.",
    NEEDS_CLIENT_ACTION="Waiting on the client (a document, a visit).",
)
describe_enum(
    PrincipalKind,
    "Who a principal is.",
    USER="A person, signing in through the tenant's identity provider or with a key.",
    API_CLIENT="A system (a partner's integration, the federation router) with an API key.",
)
describe_enum(
    ReferralStatus,
    "Where a referral stands in the FHIR SDOH Clinical Care (Gravity) Task lifecycle. The "
    "referrer (requester) requests, cancels and marks entered-in-error; the receiving "
    "organization (performer) accepts, rejects, starts, holds, fails and completes. REJECTED, "
    "CANCELLED, ON_HOLD and FAILED need a reason.",
    DRAFT="Being prepared by the referrer; not yet sent.",
    REQUESTED="Sent to the receiving organization, awaiting its answer.",
    ACCEPTED="The receiving organization agreed to serve the client.",
    REJECTED="The receiving organization declined (with a reason).",
    IN_PROGRESS="The receiving organization is serving the client.",
    ON_HOLD="Paused by the receiving organization (with a reason).",
    FAILED="The receiving organization could not complete it (with a reason).",
    COMPLETED="The receiving organization finished serving the client.",
    CANCELLED="Withdrawn by the referrer (with a reason).",
    ENTERED_IN_ERROR="Created by mistake; to be ignored.",
)
describe_enum(
    RiskLevel,
    "The call-taker's assessment of the caller's risk of harm.",
    NONE="No risk identified.",
    LOW="Low risk.",
    MODERATE="Moderate risk: a safety plan is advised.",
    HIGH="High risk: intervention is advised.",
    IMMINENT="Imminent risk: emergency response.",
)
describe_enum(
    Role,
    "What a principal may do in its tenant (sharing agreements then decide what it may read "
    "of others').",
    TENANT_ADMIN="Manages the tenant: principals, keys, sharing agreements, forms, exports.",
    CALL_TAKER="Records contacts, refers clients, manages queues and follow-ups.",
    API_CLIENT="A system integration (a partner's or the federation router's).",
    PORTAL_USER="A partner organization's user, working the referrals sent to it.",
)
describe_enum(
    Sensitivity,
    "How sensitive a field is, from least to most; sharing agreements may be limited to a class.",
    PUBLIC="Published directory data.",
    INTERNAL="Operational data not meant for the public.",
    PII="Identifies a person (name, phone, date of birth).",
    CLINICAL="Health or risk information.",
    PART2="Substance-use treatment information protected by 42 CFR Part 2: disclosed only "
    "with the client's consent, and with the redisclosure notice.",
)
describe_enum(
    ServiceStatus,
    "Whether a service operates (HSDS 3.0 `service.status`).",
    ACTIVE="It operates.",
    INACTIVE="It does not operate now.",
    DEFUNCT="It has closed for good.",
    TEMPORARILY_CLOSED="It is closed for a while and will reopen.",
)

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
    "describe_enum",
    "described",
]


@strawberry.enum(description="Which side of a referral you are on.")
class ReferralDirection(Enum):
    RECEIVED = strawberry.enum_value(
        "received",
        description="Referrals to a service or program of an organization you operate (your "
        "inbox).",
    )
    SENT = strawberry.enum_value(
        "sent", description="Referrals your tenant made (your outbox); a partner has none."
    )
