"""Contact data: contact records, clients, referrals, outcomes, follow-ups, form versions."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime

from sharegraph.authz.catalogue.spec import (
    PDF_ONLY,
    Export,
    Kind,
    TypeSpec,
    column,
    computed,
    identity,
    record_file,
    relation,
    uuid_of,
)
from sharegraph.datastore.enums import (
    Channel,
    FollowUpStatus,
    OutcomeCode,
    ReferralStatus,
    RiskLevel,
)
from sharegraph.datastore.enums import Sensitivity as S

NO_FILE = Export.none("no file export carries it; read it through the API")
# Referral notes and the client's version (for `updateClientContact`) came with revision 2.
NOTES_REVISION = 2

CONTACT_RECORD = TypeSpec(
    "ContactRecord",
    "One documented interaction (a call, chat, text, e-mail or walk-in) of a contact center, "
    "with the answers to its contact form.",
    Kind.RECORD,
    scoped=True,
    # In the order of the contact-record file columns.
    fields=(
        identity("contact record", record_file(("id", "Record ID"))),
        relation(
            "tenant",
            "Tenant",
            "The contact center that owns the record.",
            S.PUBLIC,
            export=record_file(("tenant", "Tenant")),
        ),
        relation(
            "formVersion",
            "ContactFormVersion",
            "The version of the contact form the record was taken on.",
            S.INTERNAL,
            inputs=("form_version_id",),
            export=record_file(("form", "Form"), ("formVersion", "Form version")),
        ),
        column(
            "channel",
            Channel,
            "How the contact came in: call, chat, text, e-mail or walk-in.",
            S.INTERNAL,
            inputs=("channel",),
            statistics=True,
            export=record_file(("channel", "Channel"), pdf=True),
        ),
        column(
            "startedAt",
            datetime,
            "When the contact started (UTC, ISO 8601).",
            S.INTERNAL,
            label="Started",
            inputs=("started_at",),
            statistics=True,
            export=record_file(("startedAt", "Started at"), pdf=True),
        ),
        column(
            "endedAt",
            datetime,
            "When the contact ended (UTC, ISO 8601); null while it is open.",
            S.INTERNAL,
            label="Ended",
            inputs=("ended_at",),
            export=record_file(("endedAt", "Ended at"), pdf=True),
        ),
        relation(
            "client",
            "Client",
            "The person the contact was about, when known.",
            S.PII,
            inputs=("client_id", "client"),
            export=record_file(("clientId", "Client ID")),
        ),
        column(
            "callerPostalCode",
            str,
            "The caller's postal code, as given.",
            S.PII,
            inputs=("caller_postal_code",),
            export=record_file(("callerPostalCode", "Caller postal code"), pdf=True),
        ),
        column(
            "callerCounty",
            str,
            "The caller's county, as given; networkStatistics can group by it.",
            S.INTERNAL,
            inputs=("caller_county",),
            statistics=True,
            export=record_file(("callerCounty", "Caller county"), pdf=True),
        ),
        column(
            "riskLevel",
            RiskLevel,
            "The assessed risk of harm (none, low, moderate, high, imminent).",
            S.CLINICAL,
            inputs=("risk_level",),
            export=record_file(("riskLevel", "Risk level"), pdf=True),
        ),
        relation(
            "needs",
            "TaxonomyTerm",
            "Needs coded with taxonomy terms, in the order recorded.",
            S.INTERNAL,
            many=True,
            inputs=("need_term_ids",),
            statistics=True,
            export=record_file(("needs", "Needs"), pdf=True),
        ),
        column(
            "narrative",
            str,
            "The worker's free-text account of the contact. Clinical: shared only where an "
            "agreement names it.",
            S.CLINICAL,
            inputs=("narrative",),
            export=record_file(("narrative", "Narrative"), pdf=True),
        ),
        column(
            "createdAt",
            datetime,
            "When the record was first stored (UTC).",
            S.INTERNAL,
            label="Created",
            export=record_file(("createdAt", "Created at"), pdf=True),
        ),
        column(
            "updatedAt",
            datetime,
            "When the record last changed (UTC).",
            S.INTERNAL,
            label="Last changed",
            export=record_file(("updatedAt", "Updated at"), pdf=True),
        ),
        column(
            "version",
            int,
            "Bumped by every change; pass it back to `updateContactRecord`.",
            S.INTERNAL,
            export=record_file(("version", "Version")),
        ),
        uuid_of("contact record", PDF_ONLY, label="Record id"),
        computed(
            "answers",
            dict,
            "Answers to the contact form, keyed by the form field's key. Each key is its own "
            "coordinate (`ContactRecord.answers.<key>`) with the sensitivity class of its form "
            "field; keys you may not read are left out, and 42 CFR Part 2 answers leave the "
            "owner only under the client's consent.",
            S.PART2,
            label="Form answers",
            export=record_file(pdf=True),
        ),
        relation(
            "referrals",
            "Referral",
            "Referrals given during the contact, oldest first.",
            S.INTERNAL,
            many=True,
            export=NO_FILE,
        ),
        relation(
            "followUps",
            "FollowUp",
            "Follow-ups scheduled on the record, by due time.",
            S.INTERNAL,
            many=True,
            export=NO_FILE,
        ),
    ),
)

CLIENT = TypeSpec(
    "Client",
    "A person a contact center knows across contacts. Every identifying field is PII.",
    Kind.RECORD,
    scoped=True,
    fields=(
        identity("client"),
        uuid_of("client", NO_FILE),
        column(
            "firstName",
            str,
            "Given name.",
            S.PII,
            inputs=("first_name",),
            export=PDF_ONLY,
        ),
        column(
            "lastName",
            str,
            "Family name.",
            S.PII,
            inputs=("last_name",),
            export=PDF_ONLY,
        ),
        column(
            "phone",
            str,
            "Phone number to reach the client, as given.",
            S.PII,
            inputs=("phone",),
            export=PDF_ONLY,
        ),
        column(
            "dateOfBirth",
            date,
            "Date of birth (ISO 8601 date).",
            S.PII,
            inputs=("date_of_birth",),
            export=PDF_ONLY,
        ),
        column(
            "postalCode",
            str,
            "Postal code of the client's home.",
            S.PII,
            inputs=("postal_code",),
            export=PDF_ONLY,
        ),
        column(
            "county",
            str,
            "County of the client's home.",
            S.INTERNAL,
            inputs=("county",),
            export=PDF_ONLY,
        ),
        column(
            "preferredLanguage",
            str,
            "The language the client prefers to be spoken to in.",
            S.PII,
            inputs=("preferred_language",),
            export=PDF_ONLY,
        ),
        column(
            "version",
            int,
            "Bumped by every change to the client; pass it back to `updateClientContact`.",
            S.INTERNAL,
            export=NO_FILE,
            added=NOTES_REVISION,
        ),
    ),
)

REFERRAL = TypeSpec(
    "Referral",
    "A contact record (its client) referred to a service at a location or to a program, "
    "tracked through the FHIR Task lifecycle until the receiving organization closes it.",
    Kind.RECORD,
    scoped=True,
    fields=(
        identity("referral"),
        uuid_of("referral", NO_FILE),
        column(
            "status",
            ReferralStatus,
            "Where the referral is in the FHIR Task lifecycle. The referrer requests, cancels "
            "and marks entered-in-error; the receiving organization accepts, rejects, starts, "
            "holds, fails and completes (`updateReferralStatus`).",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column(
            "statusReason",
            str,
            "Why the status was set; required for rejected, cancelled, on-hold and failed.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column(
            "externalId",
            str,
            "The receiving organization's own case number (`setReferralExternalId`).",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column(
            "version",
            int,
            "Bumped by every change; pass it back to status updates.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column(
            "createdAt", datetime, "When the referral was made (UTC).", S.INTERNAL, export=NO_FILE
        ),
        column(
            "updatedAt",
            datetime,
            "When the referral last changed (UTC).",
            S.INTERNAL,
            export=NO_FILE,
        ),
        relation(
            "tenant",
            "Tenant",
            "The contact center that made the referral.",
            S.PUBLIC,
            export=NO_FILE,
        ),
        relation(
            "contactRecord",
            "ContactRecord",
            "The contact record the referral was given on.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        relation(
            "serviceAtLocation",
            "ServiceAtLocation",
            "The service at a location referred to (null for a program referral).",
            S.PUBLIC,
            export=NO_FILE,
        ),
        relation(
            "service",
            "Service",
            "The service of `serviceAtLocation`.",
            S.PUBLIC,
            export=NO_FILE,
        ),
        relation(
            "program",
            "Program",
            "The program referred to (null for a service-at-location referral).",
            S.PUBLIC,
            export=NO_FILE,
        ),
        relation(
            "outcomes",
            "Outcome",
            "What happened, as reported by the receiving organization, oldest first.",
            S.INTERNAL,
            many=True,
            export=NO_FILE,
        ),
        relation(
            "history",
            "ReferralStatusChange",
            "Every status change, oldest first.",
            S.INTERNAL,
            many=True,
            export=NO_FILE,
        ),
        relation(
            "notes",
            "ReferralNote",
            "Case notes on the referral (`addReferralNote`), oldest first; only those the "
            "referring tenant's agreements let you read.",
            S.INTERNAL,
            many=True,
            export=NO_FILE,
            added=NOTES_REVISION,
        ),
    ),
)

OUTCOME = TypeSpec(
    "Outcome",
    "What happened after a referral, as the receiving organization reports it.",
    Kind.RECORD,
    fields=(
        uuid_of("outcome", NO_FILE),
        column(
            "code",
            OutcomeCode,
            "The outcome in findhelp-style codes (got help, no capacity, not eligible, ...).",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column("note", str, "A free-text note on the outcome.", S.CLINICAL, export=NO_FILE),
        column(
            "outcomeDate",
            date,
            "The day the outcome happened (ISO 8601 date).",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column("createdAt", datetime, "When it was reported (UTC).", S.INTERNAL, export=NO_FILE),
    ),
)

REFERRAL_NOTE = TypeSpec(
    "ReferralNote",
    "A case note on a referral, written by either side (`addReferralNote`). Notes are "
    "append-only and belong to the referring tenant: its sharing agreements decide who else "
    "reads them.",
    Kind.RECORD,
    fields=(
        replace(uuid_of("note", NO_FILE), added=NOTES_REVISION),
        column(
            "body",
            str,
            "The note's text, as written (at most 10,000 characters).",
            S.CLINICAL,
            inputs=("body",),
            export=NO_FILE,
            added=NOTES_REVISION,
        ),
        column(
            "createdAt",
            datetime,
            "When it was written (UTC).",
            S.INTERNAL,
            export=NO_FILE,
            added=NOTES_REVISION,
        ),
        relation(
            "authorTenant",
            "Tenant",
            "The tenant whose staff wrote it (null when a partner organization did).",
            S.PUBLIC,
            export=NO_FILE,
            added=NOTES_REVISION,
        ),
        relation(
            "authorPartnerOrganization",
            "PartnerOrganization",
            "The partner organization whose staff wrote it (null when a tenant did).",
            S.PUBLIC,
            export=NO_FILE,
            added=NOTES_REVISION,
        ),
    ),
)

REFERRAL_STATUS_CHANGE = TypeSpec(
    "ReferralStatusChange",
    "One move of a referral through its lifecycle.",
    Kind.RECORD,
    fields=(
        uuid_of("status change", NO_FILE),
        column("fromStatus", ReferralStatus, "The status before.", S.INTERNAL, export=NO_FILE),
        column("toStatus", ReferralStatus, "The status after.", S.INTERNAL, export=NO_FILE),
        column("reason", str, "Why, as given with the change.", S.INTERNAL, export=NO_FILE),
        column("changedAt", datetime, "When (UTC).", S.INTERNAL, export=NO_FILE),
    ),
)

FOLLOW_UP = TypeSpec(
    "FollowUp",
    "A call-back or other task scheduled on a contact record, possibly for another tenant.",
    Kind.RECORD,
    scoped=True,
    fields=(
        identity("follow-up"),
        uuid_of("follow-up", NO_FILE),
        column("dueAt", datetime, "When it is due (UTC).", S.INTERNAL, export=NO_FILE),
        column(
            "status",
            FollowUpStatus,
            "Open, completed or cancelled.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column("note", str, "What to do, and what was done.", S.CLINICAL, export=NO_FILE),
        column("completedAt", datetime, "When it was completed (UTC).", S.INTERNAL, export=NO_FILE),
        column(
            "version",
            int,
            "Bumped by every change; pass it back to updates.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        relation(
            "assignedTenant",
            "Tenant",
            "The tenant that is to do it, when it is not the owner.",
            S.PUBLIC,
            export=NO_FILE,
        ),
        relation(
            "contactRecord",
            "ContactRecord",
            "The contact record it is on.",
            S.INTERNAL,
            export=NO_FILE,
        ),
        column("createdAt", datetime, "When it was scheduled (UTC).", S.INTERNAL, export=NO_FILE),
        relation("tenant", "Tenant", "The tenant that owns it.", S.PUBLIC, export=NO_FILE),
    ),
)

CONTACT_FORM_VERSION = TypeSpec(
    "ContactFormVersion",
    "One published version of a contact form: the fields its answers are keyed by.",
    Kind.RECORD,
    fields=(
        identity("form version"),
        uuid_of("form version", NO_FILE),
        column("version", int, "The version number, from 1.", S.PUBLIC, export=NO_FILE),
        column("publishedAt", datetime, "When it was published (UTC).", S.PUBLIC, export=NO_FILE),
        computed(
            "formName",
            str,
            "The form's name.",
            S.PUBLIC,
            export=Export.none("contact-record files name the form in their `form` column"),
        ),
        relation(
            "fields",
            "FormField",
            "The form's fields, in order, with their keys, labels and sensitivity classes.",
            S.PUBLIC,
            many=True,
            export=NO_FILE,
        ),
        computed(
            "formId",
            uuid.UUID,
            "The form this is a version of (for `shareContactForm`).",
            S.PUBLIC,
            export=NO_FILE,
        ),
    ),
)

TYPES = (
    CONTACT_RECORD,
    CLIENT,
    REFERRAL,
    OUTCOME,
    REFERRAL_NOTE,
    REFERRAL_STATUS_CHANGE,
    FOLLOW_UP,
    CONTACT_FORM_VERSION,
)
