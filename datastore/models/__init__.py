"""All tables; importing this module registers them on ``Base.metadata``."""

from ..base import Base
from .audit import AuditSeal
from .contacts import (
    Client,
    ContactForm,
    ContactFormVersion,
    ContactRecord,
    ContactRecordNeed,
    FormField,
)
from .events import AuditEvent, Event
from .idempotency import IdempotencyKey
from .queues import QueueEntry, QueueForm, QueueProgram, QueueStatus, ReferralQueue
from .referrals import FollowUp, Outcome, Referral, ReferralStatusChange
from .resources import (
    Address,
    Attribute,
    CapacityChange,
    DirectoryChange,
    Language,
    Location,
    Organization,
    Phone,
    Program,
    Schedule,
    ScheduledCapacityChange,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    Taxonomy,
    TaxonomyTerm,
    Unit,
)
from .sharing import ClientConsent, Inventory, InventoryItem, SharingAgreement
from .tenants import ApiKey, Instance, PartnerOrganization, Principal, RoleAssignment, Tenant

__all__ = [
    "Address",
    "ApiKey",
    "Attribute",
    "AuditEvent",
    "AuditSeal",
    "Base",
    "CapacityChange",
    "Client",
    "ClientConsent",
    "ContactForm",
    "ContactFormVersion",
    "ContactRecord",
    "ContactRecordNeed",
    "DirectoryChange",
    "Event",
    "FollowUp",
    "FormField",
    "IdempotencyKey",
    "Instance",
    "Inventory",
    "InventoryItem",
    "Language",
    "Location",
    "Organization",
    "Outcome",
    "PartnerOrganization",
    "Phone",
    "Principal",
    "Program",
    "QueueEntry",
    "QueueForm",
    "QueueProgram",
    "QueueStatus",
    "Referral",
    "ReferralQueue",
    "ReferralStatusChange",
    "RoleAssignment",
    "Schedule",
    "ScheduledCapacityChange",
    "Service",
    "ServiceArea",
    "ServiceAtLocation",
    "ServiceCapacity",
    "SharingAgreement",
    "Taxonomy",
    "TaxonomyTerm",
    "Tenant",
    "Unit",
]
