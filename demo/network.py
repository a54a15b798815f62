"""Realistic, deterministic demo data: three tenants, two partners, four months of activity.

``seed`` migrates the database and, when it holds no tenant yet, writes in one transaction:

- Prairie 211 (a statewide 2-1-1 hosting the shared resource directory), Lakeside Crisis Line and
  Riverbend 211, each with an admin, a call-taker and an API client; the partner organizations
  Eastside Food Pantry and Harbor Housing, each with a portal user. Every demo principal gets an
  API key derived from the demo secret (``demo_principal_keys`` prints them again).
- A resource directory modelled on HSDS 3.x (organizations, programs, services, locations,
  service-at-locations, phones, schedules, languages, service areas, AIRS/211 taxonomy terms,
  units and capacity with its history), mostly Prairie's plus a small one per other tenant.
- Contact forms with fields of every type and sensitivity, clients, contact records spread over
  the past four months, needs, referrals through the Gravity lifecycle with their history,
  outcomes, cross-tenant follow-ups, referral queues with entries, and one outbox event per
  contact record, referral, outcome, queue entry and capacity row.

Ids are uuid5s and every choice comes from a seeded ``random.Random``, so two seeds produce the
same data; datetimes are relative to today's UTC midnight so the data always looks current.
Rows are collected in memory and bulk-inserted in foreign-key order, in chunks.
"""

from __future__ import annotations

import random
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from sharegraph.authz.credentials import demo_key
from sharegraph.datastore import migrate
from sharegraph.datastore.base import Base
from sharegraph.datastore.engine import Database
from sharegraph.datastore.enums import (
    STATUSES_NEEDING_REASON,
    AddressType,
    CapacityStatus,
    Channel,
    EventType,
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
from sharegraph.datastore.models import (
    Address,
    ApiKey,
    Attribute,
    CapacityChange,
    Client,
    ContactForm,
    ContactFormVersion,
    ContactRecord,
    ContactRecordNeed,
    Event,
    FollowUp,
    FormField,
    Instance,
    Language,
    Location,
    Organization,
    Outcome,
    PartnerOrganization,
    Phone,
    Principal,
    Program,
    QueueEntry,
    QueueForm,
    QueueProgram,
    QueueStatus,
    Referral,
    ReferralQueue,
    ReferralStatusChange,
    RoleAssignment,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    Taxonomy,
    TaxonomyTerm,
    Tenant,
    Unit,
)
from sharegraph.demo import queues as demo_queues
from sharegraph.demo import sharing as demo_sharing

# Fixed: changing either changes every demo id / every generated choice.
NAMESPACE = uuid.UUID("6b1f5a2e-9c0d-4e43-8a57-2d1e0f3c4b21")
RANDOM_SEED = 211
HISTORY_DAYS = 120
CHUNK_SIZE = 1000
# Contact records and clients of each step beyond scale 1, in multiples of scale 1's: with the
# ~150 services a step adds, scale 100 is a statewide network (~15,000 services, ~100,000
# contact records).
ACTIVITY_PER_STEP = 3.5
# The share of referrals (where the statewide directory offers the need) that go to it rather
# than to the hand-written services and the partners.
STATEWIDE_REFERRAL_SHARE = 0.5

Row = dict[str, Any]


def demo_id(kind: str, key: object) -> uuid.UUID:
    """The fixed id of a demo row, e.g. ``demo_id("contact-record", 0)``."""
    return uuid.uuid5(NAMESPACE, f"{kind}:{key}")


# --------------------------------------------------------------------------------------------
# Tenants, partner organizations, principals
# --------------------------------------------------------------------------------------------

# (slug, name, IANA time zone, phone area code)
TENANTS: list[tuple[str, str, str, str]] = [
    ("prairie", "Prairie 211", "America/Chicago", "515"),
    ("lakeside", "Lakeside Crisis Line", "America/Chicago", "712"),
    ("riverbend", "Riverbend 211", "America/Denver", "308"),
]
# (slug, name)
PARTNERS: list[tuple[str, str]] = [
    ("eastside", "Eastside Food Pantry"),
    ("harbor", "Harbor Housing"),
]
_TENANT_NAME = {slug: name for slug, name, _, _ in TENANTS}
_TENANT_ZONE = {slug: zone for slug, _, zone, _ in TENANTS}
_TENANT_AREA = {slug: area for slug, _, _, area in TENANTS}
_PARTNER_NAME = dict(PARTNERS)


@dataclass(frozen=True)
class DemoPrincipal:
    name: str
    tenant: str | None
    organization: str | None
    role: Role

    @property
    def kind(self) -> PrincipalKind:
        return PrincipalKind.API_CLIENT if self.role is Role.API_CLIENT else PrincipalKind.USER


_TENANT_ROLES: list[tuple[str, Role]] = [
    ("admin", Role.TENANT_ADMIN),
    ("call-taker", Role.CALL_TAKER),
    ("api", Role.API_CLIENT),
]

DEMO_PRINCIPALS: list[DemoPrincipal] = [
    *(
        DemoPrincipal(f"{slug}-{suffix}", name, None, role)
        for slug, name, _, _ in TENANTS
        for suffix, role in _TENANT_ROLES
    ),
    *(DemoPrincipal(f"{slug}-portal", None, name, Role.PORTAL_USER) for slug, name in PARTNERS),
]

# People behind the demo user accounts (API clients are named after their integration).
_DISPLAY_NAMES: dict[str, str] = {
    "prairie-admin": "Maria Alvarez",
    "prairie-call-taker": "Jordan Lee",
    "prairie-api": "Prairie 211 reporting integration",
    "lakeside-admin": "Samuel Okafor",
    "lakeside-call-taker": "Priya Natarajan",
    "lakeside-api": "Lakeside Crisis Line CAD integration",
    "riverbend-admin": "Emily Two Bulls",
    "riverbend-call-taker": "Carlos Mendoza",
    "riverbend-api": "Riverbend 211 data warehouse sync",
    "eastside-portal": "Grace Kowalski",
    "harbor-portal": "Marcus Bell",
}


def demo_principal_keys(demo_secret: str) -> list[dict[str, str | None]]:
    """Each demo principal with its API key (derived from the demo secret, never stored)."""
    return [
        {
            "name": p.name,
            "tenant": p.tenant,
            "organization": p.organization,
            "role": p.role.value,
            "apiKey": demo_key(demo_secret, p.name).plaintext,
        }
        for p in DEMO_PRINCIPALS
    ]


# --------------------------------------------------------------------------------------------
# Geography of the (fictional) state of Prairie: eastern counties on Central time, the
# Riverbend valley in the west on Mountain time.
# --------------------------------------------------------------------------------------------

STATE = "PS"
# key: (city, county, postal code, latitude, longitude, region)
CITIES: dict[str, tuple[str, str, str, float, float, str]] = {
    "fort-addison-e": ("Fort Addison", "Bluestem County", "51410", 41.6012, -93.5780, "prairie"),
    "fort-addison-w": ("Fort Addison", "Bluestem County", "51412", 41.5868, -93.6250, "prairie"),
    "cedar-bend": ("Cedar Bend", "Cedar County", "51620", 42.4871, -94.1695, "prairie"),
    "harlan-springs": ("Harlan Springs", "Osage County", "51730", 41.9903, -95.3150, "prairie"),
    "larkin": ("Larkin", "Osage County", "51735", 42.1210, -95.0021, "prairie"),
    "new-bremen": ("New Bremen", "Marsh County", "51840", 42.7552, -96.3884, "prairie"),
    "cottonwood": ("Cottonwood", "Cottonwood County", "51950", 41.2528, -96.0103, "prairie"),
    "lakeside": ("Lakeside", "Mirror Lake County", "52110", 42.9321, -95.1301, "lakeside"),
    "north-shore": ("North Shore", "Mirror Lake County", "52115", 42.9870, -95.0650, "lakeside"),
    "willow-point": ("Willow Point", "Dickens County", "52130", 42.8455, -95.3870, "lakeside"),
    "riverbend": ("Riverbend", "Platte Valley County", "69340", 41.8666, -103.6672, "riverbend"),
    "scotts-crossing": (
        "Scotts Crossing",
        "Platte Valley County",
        "69355",
        41.8270,
        -103.7020,
        "riverbend",
    ),
    "sandhill": ("Sandhill", "Sioux Butte County", "69360", 42.1000, -103.4000, "riverbend"),
}
# Where each tenant's callers live: (region, weight)
_CALLER_REGIONS: dict[str, list[tuple[str, int]]] = {
    "prairie": [("prairie", 8), ("lakeside", 2)],
    "lakeside": [("lakeside", 7), ("prairie", 3)],
    "riverbend": [("riverbend", 1)],
}
_STREETS = [
    "Grand Ave",
    "Locust St",
    "Walnut St",
    "Ingersoll Ave",
    "University Ave",
    "Cottage Grove Ave",
    "Maple St",
    "Hickory Ln",
    "Prairie View Dr",
    "Railroad St",
    "Lincoln Way",
    "Center St",
    "Woodland Ave",
    "Pleasant St",
    "Kellogg Ave",
    "Sunset Rd",
    "Highland Ave",
    "Oak Park Ave",
]

# --------------------------------------------------------------------------------------------
# Taxonomy (AIRS/211 LA County Taxonomy codes): (code, name, parent code)
# --------------------------------------------------------------------------------------------

TAXONOMY_NAME = "AIRS/211 LA County Taxonomy"
TERMS: list[tuple[str, str, str | None]] = [
    ("BD", "Food", None),
    ("BD-1800", "Emergency Food", "BD"),
    ("BD-1800.2000", "Food Pantries", "BD-1800"),
    ("BD-5000", "Meals", "BD"),
    ("BD-5000.8300", "Soup Kitchens", "BD-5000"),
    ("BH", "Housing/Shelter", None),
    ("BH-1800", "Emergency Shelter", "BH"),
    ("BH-1800.1500-100", "Domestic Violence Shelters", "BH-1800"),
    ("BH-1800.8500", "Homeless Shelter", "BH-1800"),
    ("BH-3800", "Housing Expense Assistance", "BH"),
    ("BH-3800.7000", "Rent Payment Assistance", "BH-3800"),
    ("BH-3800.7250", "Rental Deposit Assistance", "BH-3800"),
    ("BT-8300", "Transportation Expense Assistance", None),
    ("BT-8300.1000", "Bus Fare", "BT-8300"),
    ("BV-8900.9300", "Utility Service Payment Assistance", None),
    ("FT-3200", "General Legal Aid", None),
    ("FT-4800", "Lawyer Referral Services", None),
    ("LN-1500", "Community Clinics", None),
    ("LV-1600", "Dental Care", None),
    ("NL-6000.2000", "Food Stamps/SNAP", None),
    ("RP-1500", "Crisis Intervention", None),
    ("RP-1500.1400", "Crisis Intervention Hotlines/Helplines", "RP-1500"),
    ("RP-1500.1400-800", "Suicide Prevention Hotlines", "RP-1500.1400"),
    ("RX-8250", "Substance Use Disorder Counseling", None),
]

# Needs callers present: (term code, contact reason, weight at prairie/lakeside/riverbend,
# what the caller said as the narrative's first sentence, the topic when mentioned in passing)
NEEDS: list[tuple[str, str, tuple[int, int, int], str, str]] = [
    (
        "BD-1800.2000",
        "Food",
        (18, 3, 14),
        "is out of food until the next SNAP deposit and needs groceries for the household",
        "groceries",
    ),
    ("BD-5000.8300", "Food", (5, 1, 4), "is looking for a hot meal today", "free meals"),
    (
        "NL-6000.2000",
        "Income support",
        (6, 1, 6),
        "needs help applying for SNAP benefits",
        "applying for SNAP",
    ),
    (
        "BH-1800.8500",
        "Housing",
        (10, 4, 8),
        "is sleeping in their car and needs emergency shelter tonight",
        "emergency shelter",
    ),
    (
        "BH-1800.1500-100",
        "Housing",
        (2, 3, 2),
        "is fleeing domestic violence and needs a safe place to stay",
        "a safe place to stay away from an abusive partner",
    ),
    (
        "BH-3800.7000",
        "Housing",
        (14, 2, 10),
        "is behind on rent and has received an eviction notice",
        "help with past-due rent",
    ),
    (
        "BH-3800.7250",
        "Housing",
        (4, 1, 3),
        "found an apartment but cannot cover the security deposit",
        "a security deposit",
    ),
    (
        "BV-8900.9300",
        "Utilities",
        (12, 1, 12),
        "received a utility disconnection notice",
        "a past-due electric bill",
    ),
    (
        "BT-8300",
        "Transportation",
        (3, 1, 3),
        "needs a ride to a medical appointment next week",
        "a ride to the doctor",
    ),
    (
        "BT-8300.1000",
        "Transportation",
        (2, 0, 2),
        "needs a bus pass to get to a new job",
        "a bus pass",
    ),
    (
        "LN-1500",
        "Health care",
        (6, 2, 6),
        "is uninsured and needs to see a doctor",
        "a low-cost clinic",
    ),
    ("LV-1600", "Health care", (3, 0, 3), "has a toothache and no dental coverage", "dental care"),
    (
        "FT-3200",
        "Legal",
        (4, 1, 3),
        "has an eviction hearing next week and wants legal advice",
        "free legal advice",
    ),
    (
        "RP-1500",
        "Mental health",
        (2, 10, 2),
        "is in emotional distress and asked for someone to come out in person",
        "in-person crisis support",
    ),
    (
        "RP-1500.1400",
        "Mental health",
        (2, 14, 2),
        "felt overwhelmed and needed to talk through a crisis",
        "someone to talk to",
    ),
    (
        "RP-1500.1400-800",
        "Mental health",
        (1, 12, 1),
        "disclosed thoughts of suicide",
        "thoughts of suicide",
    ),
    (
        "RX-8250",
        "Substance use",
        (2, 6, 2),
        "wants counseling for alcohol or drug use",
        "substance use counseling",
    ),
]
_REGION_INDEX = {"prairie": 0, "lakeside": 1, "riverbend": 2}
CONTACT_REASONS: list[str] = [
    *dict.fromkeys(reason for _, reason, _, _, _ in NEEDS),
    "Other",
]

# --------------------------------------------------------------------------------------------
# Resource directory
# --------------------------------------------------------------------------------------------

WEEKDAYS = "MO,TU,WE,TH,FR"
EVERY_DAY = "MO,TU,WE,TH,FR,SA,SU"
BUSINESS_HOURS = (WEEKDAYS, "09:00", "17:00")
OPEN_24_7 = (EVERY_DAY, "00:00", "23:59")
_LANGUAGES = {"en": "English", "es": "Spanish", "vi": "Vietnamese", "so": "Somali", "ar": "Arabic"}


@dataclass(frozen=True)
class DirLocation:
    key: str
    name: str
    street: str
    city: str  # key of CITIES
    hours: tuple[str, str, str] = BUSINESS_HOURS


@dataclass(frozen=True)
class DirService:
    key: str
    name: str
    description: str
    terms: tuple[str, ...]
    program: str | None = None
    hours: tuple[str, str, str] | None = None  # None: the location's hours
    locations: tuple[str, ...] | None = None  # None: all of the organization's locations
    languages: tuple[str, ...] = ("en", "es")
    areas: tuple[str, ...] = ()  # counties; () = the counties of its locations
    eligibility: str | None = None
    fees: str | None = "Free"
    application: str | None = None
    referral_weight: int = 1


@dataclass(frozen=True)
class DirOrganization:
    key: str
    tenant: str
    name: str
    description: str
    website: str
    year: int
    locations: tuple[DirLocation, ...]
    services: tuple[DirService, ...]
    programs: tuple[tuple[str, str, str], ...] = ()  # (key, name, description)
    partner: str | None = None


DIRECTORY: list[DirOrganization] = [
    DirOrganization(
        "eastside",
        "prairie",
        "Eastside Food Pantry",
        "A volunteer-run pantry serving east Fort Addison and rural Cedar County since 1987.",
        "https://eastsidefoodpantry.example.org",
        1987,
        (
            DirLocation(
                "eastside-main",
                "Eastside Food Pantry",
                "1420 E Grand Ave",
                "fort-addison-e",
                (WEEKDAYS, "10:00", "18:00"),
            ),
            DirLocation(
                "eastside-stmark",
                "Mobile Pantry at St. Mark's Lutheran",
                "305 Walnut St",
                "cedar-bend",
                ("TU,TH", "14:00", "18:00"),
            ),
        ),
        (
            DirService(
                "eastside-food-boxes",
                "Emergency Food Boxes",
                "A three-day supply of shelf-stable food, produce and protein for each household "
                "member, packed to order with halal, vegetarian and diabetic-friendly options.",
                ("BD-1800.2000",),
                program="eastside-boxes",
                locations=("eastside-main",),
                languages=("en", "es", "so"),
                eligibility="Residents of Bluestem and Cedar counties; one box per household "
                "per month.",
                application="Walk in during open hours or call ahead to schedule a pickup. "
                "Bring a photo ID if you have one; no ID is required.",
                referral_weight=4,
            ),
            DirService(
                "eastside-mobile-pantry",
                "Mobile Pantry",
                "Fresh produce, dairy and staples handed out from a refrigerated truck in the "
                "St. Mark's parking lot. No appointment needed.",
                ("BD-1800.2000",),
                program="eastside-mobile",
                locations=("eastside-stmark",),
                referral_weight=2,
            ),
            DirService(
                "eastside-snap",
                "SNAP Application Help",
                "Volunteers help households apply for or renew SNAP (food stamp) benefits on "
                "site or by phone.",
                ("NL-6000.2000",),
                locations=("eastside-main",),
                referral_weight=2,
            ),
        ),
        programs=(
            (
                "eastside-boxes",
                "Emergency Food Boxes",
                "Three-day emergency food boxes for households facing a food crisis.",
            ),
            (
                "eastside-mobile",
                "Mobile Pantry",
                "A refrigerated truck bringing fresh food to rural towns twice a week.",
            ),
        ),
        partner="eastside",
    ),
    DirOrganization(
        "harbor",
        "prairie",
        "Harbor Housing",
        "Harbor Housing ends homelessness one household at a time through shelter, rapid "
        "re-housing and eviction prevention.",
        "https://harborhousing.example.org",
        2004,
        (
            DirLocation(
                "harbor-office",
                "Harbor Housing Resource Center",
                "88 Riverside Dr",
                "fort-addison-w",
            ),
            DirLocation(
                "harbor-shelter",
                "Harbor House Family Shelter",
                "1212 S 9th St",
                "fort-addison-e",
                OPEN_24_7,
            ),
        ),
        (
            DirService(
                "harbor-rrh",
                "Rapid Re-Housing",
                "Up to 12 months of rental assistance, security deposits and housing case "
                "management for households experiencing homelessness.",
                ("BH-3800.7000", "BH-3800.7250"),
                program="harbor-rrh",
                locations=("harbor-office",),
                areas=("Bluestem County", "Cedar County", "Osage County"),
                eligibility="Households that are literally homeless in Bluestem, Cedar or Osage "
                "county; a coordinated entry assessment is required.",
                application="Referral through coordinated entry or 2-1-1; a housing navigator "
                "calls back within two business days.",
                referral_weight=4,
            ),
            DirService(
                "harbor-family-shelter",
                "Family Emergency Shelter",
                "Private family rooms, three meals a day, laundry and on-site case management. "
                "Stays of up to 90 days.",
                ("BH-1800.8500",),
                program="harbor-shelter",
                locations=("harbor-shelter",),
                eligibility="Families with children under 18 and single adults experiencing "
                "homelessness.",
                referral_weight=4,
            ),
            DirService(
                "harbor-prevention",
                "Eviction Prevention Assistance",
                "One-time help with past-due rent for tenants facing eviction, paired with "
                "landlord mediation.",
                ("BH-3800.7000",),
                locations=("harbor-office",),
                referral_weight=3,
            ),
        ),
        programs=(
            (
                "harbor-rrh",
                "Rapid Re-Housing",
                "Short-term rental assistance and case management that move households from "
                "homelessness into permanent housing.",
            ),
            (
                "harbor-shelter",
                "Emergency Shelter",
                "Year-round emergency shelter for families with children and single adults.",
            ),
        ),
        partner="harbor",
    ),
    DirOrganization(
        "chc",
        "prairie",
        "Prairie Community Health Center",
        "A federally qualified health center offering medical and dental care regardless of "
        "insurance or ability to pay.",
        "https://prairiechc.example.org",
        1972,
        (
            DirLocation(
                "chc-main",
                "PCHC Downtown Clinic",
                "600 Locust St",
                "fort-addison-w",
                (WEEKDAYS, "08:00", "18:00"),
            ),
            DirLocation("chc-larkin", "PCHC Larkin Clinic", "21 Main St", "larkin"),
        ),
        (
            DirService(
                "chc-primary",
                "Primary Care for Uninsured Adults",
                "Checkups, chronic disease care, lab work and low-cost prescriptions.",
                ("LN-1500",),
                languages=("en", "es", "vi"),
                fees="Sliding scale from $20 a visit based on household income; no one is "
                "turned away for inability to pay.",
            ),
            DirService(
                "chc-dental",
                "Sliding-Scale Dental Clinic",
                "Exams, cleanings, fillings and extractions for adults and children.",
                ("LV-1600",),
                locations=("chc-main",),
                fees="Sliding scale from $25 a visit.",
            ),
        ),
    ),
    DirOrganization(
        "legal",
        "prairie",
        "Prairie Legal Aid",
        "Free civil legal help for people with low incomes across the state.",
        "https://prairielegalaid.example.org",
        1966,
        (
            DirLocation(
                "legal-office",
                "Prairie Legal Aid, Fort Addison Office",
                "410 Court Ave, Suite 300",
                "fort-addison-w",
            ),
        ),
        (
            DirService(
                "legal-eviction",
                "Eviction Defense",
                "Free advice and representation for tenants facing eviction, including same-day "
                "help at the courthouse on hearing days.",
                ("FT-3200",),
                areas=("Statewide",),
                eligibility="Household income at or below 200% of the federal poverty guidelines.",
            ),
            DirService(
                "legal-referral",
                "Lawyer Referral Service",
                "Connects people who do not qualify for free legal aid with a private attorney "
                "for a $35 half-hour consultation.",
                ("FT-4800",),
                areas=("Statewide",),
                fees="$35 for the first half hour.",
            ),
        ),
    ),
    DirOrganization(
        "energy",
        "prairie",
        "Heartland Energy Assistance Program",
        "The community action agency's energy program: LIHEAP, crisis payments and "
        "weatherization referrals.",
        "https://heartlandcap.example.org/energy",
        1981,
        (
            DirLocation(
                "energy-office",
                "Heartland Community Action Energy Office",
                "2250 Ingersoll Ave",
                "fort-addison-e",
            ),
            DirLocation(
                "energy-cottonwood",
                "Cottonwood County Outreach Office",
                "117 W 2nd St",
                "cottonwood",
            ),
        ),
        (
            DirService(
                "energy-liheap",
                "LIHEAP Heating Assistance",
                "Seasonal help paying heating bills for income-eligible households, November "
                "through April.",
                ("BV-8900.9300",),
                eligibility="Household income at or below 175% of the federal poverty guidelines.",
                application="Apply in person with proof of income for the past 30 days and a "
                "recent utility bill.",
            ),
            DirService(
                "energy-crisis",
                "Utility Disconnection Crisis Fund",
                "Emergency payments to stop a pending shut-off or restore service for households "
                "with a disconnection notice.",
                ("BV-8900.9300",),
                referral_weight=2,
            ),
        ),
    ),
    DirOrganization(
        "brigid",
        "prairie",
        "St. Brigid's Emergency Shelter",
        "Emergency shelter and domestic violence services in downtown Fort Addison since 1958.",
        "https://stbrigidshelter.example.org",
        1958,
        (
            DirLocation(
                "brigid-shelter",
                "St. Brigid's Shelter",
                "915 Mulberry St",
                "fort-addison-e",
                OPEN_24_7,
            ),
        ),
        (
            DirService(
                "brigid-overnight",
                "Overnight Emergency Shelter",
                "Walk-in overnight shelter for single adults with an evening meal, showers and a "
                "bed. Check-in from 6 pm.",
                ("BH-1800.8500",),
                areas=("Bluestem County",),
            ),
            DirService(
                "brigid-dv",
                "Safe Haven Domestic Violence Shelter",
                "Confidential shelter, advocacy and safety planning for survivors of domestic "
                "violence and their children.",
                ("BH-1800.1500-100",),
                areas=("Statewide",),
            ),
        ),
    ),
    DirOrganization(
        "crisis",
        "prairie",
        "Cedar Valley Mobile Crisis Team",
        "Behavioral health crisis response for central Prairie, 24 hours a day.",
        "https://cedarvalleycrisis.example.org",
        2016,
        (
            DirLocation(
                "crisis-base",
                "Cedar Valley Crisis Center",
                "1800 Woodland Ave",
                "cedar-bend",
                OPEN_24_7,
            ),
        ),
        (
            DirService(
                "crisis-mobile",
                "Mobile Crisis Response",
                "A mental health clinician and a peer specialist come to the person in crisis, "
                "usually within an hour.",
                ("RP-1500",),
                areas=("Cedar County", "Bluestem County", "Osage County"),
            ),
            DirService(
                "crisis-stabilization",
                "Crisis Stabilization Unit",
                "Stays of up to five days for adults in a mental health crisis who do not need "
                "hospital care.",
                ("RP-1500",),
            ),
        ),
    ),
    DirOrganization(
        "transit",
        "prairie",
        "Prairie Regional Transit",
        "Fixed-route buses and paratransit for the Fort Addison metro and surrounding counties.",
        "https://prairietransit.example.org",
        1979,
        (
            DirLocation(
                "transit-center",
                "Downtown Transit Center",
                "250 W Walnut St",
                "fort-addison-w",
                (EVERY_DAY, "06:00", "22:00"),
            ),
        ),
        (
            DirService(
                "transit-medical",
                "Medical Ride Vouchers",
                "Free round-trip ride vouchers to medical, dental and behavioral health "
                "appointments for riders on Medicaid or without insurance.",
                ("BT-8300",),
                hours=BUSINESS_HOURS,
            ),
            DirService(
                "transit-passes",
                "Reduced Fare Bus Passes",
                "Half-price monthly passes for riders with low incomes or disabilities and "
                "riders 65 and older.",
                ("BT-8300.1000",),
                hours=BUSINESS_HOURS,
                fees="$24 a month.",
            ),
        ),
    ),
    DirOrganization(
        "kitchen",
        "prairie",
        "Northside Community Kitchen",
        "A free hot lunch every weekday, no questions asked.",
        "https://northsidekitchen.example.org",
        1983,
        (
            DirLocation(
                "kitchen-hall",
                "Northside Community Kitchen",
                "1709 6th Ave",
                "fort-addison-e",
                (WEEKDAYS, "11:00", "13:00"),
            ),
        ),
        (
            DirService(
                "kitchen-lunch",
                "Hot Lunch",
                "A free hot lunch served in the parish hall; take-away meals for families.",
                ("BD-5000.8300",),
            ),
        ),
    ),
    DirOrganization(
        "neighbor",
        "prairie",
        "Good Neighbor Ministries",
        "Emergency financial help from a network of rural congregations.",
        "https://goodneighbor.example.org",
        1995,
        (
            DirLocation("neighbor-office", "Good Neighbor Ministries", "47 Elm St", "new-bremen"),
            DirLocation(
                "neighbor-harlan",
                "Good Neighbor Ministries, Harlan Springs",
                "302 Broadway",
                "harlan-springs",
                ("MO,WE", "09:00", "15:00"),
            ),
        ),
        (
            DirService(
                "neighbor-rent",
                "Emergency Rent Assistance",
                "One-time help with a month of rent for households facing eviction, once every "
                "12 months.",
                ("BH-3800.7000",),
            ),
            DirService(
                "neighbor-deposit",
                "Security Deposit Assistance",
                "Help with a security deposit for households moving into stable housing.",
                ("BH-3800.7250",),
            ),
        ),
    ),
    DirOrganization(
        "recovery",
        "prairie",
        "Bluestem Recovery Center",
        "Outpatient treatment for substance use disorders.",
        "https://bluestemrecovery.example.org",
        1990,
        (
            DirLocation(
                "recovery-clinic",
                "Bluestem Recovery Center",
                "3100 University Ave",
                "fort-addison-w",
                (WEEKDAYS, "08:00", "20:00"),
            ),
        ),
        (
            DirService(
                "recovery-outpatient",
                "Outpatient Substance Use Counseling",
                "Individual and group counseling for alcohol and drug use, including medication "
                "for opioid use disorder.",
                ("RX-8250",),
                fees="Medicaid, most insurance and a sliding fee scale.",
            ),
        ),
    ),
    DirOrganization(
        "family",
        "prairie",
        "Prairie Family Services",
        "Benefits enrollment and family support in western Osage County.",
        "https://prairiefamily.example.org",
        1948,
        (DirLocation("family-office", "Prairie Family Services", "510 High St", "harlan-springs"),),
        (
            DirService(
                "family-benefits",
                "Benefits Enrollment Help",
                "Help applying for SNAP, WIC, Medicaid and energy assistance in one appointment.",
                ("NL-6000.2000",),
                languages=("en", "es", "ar"),
            ),
        ),
    ),
    # Lakeside Crisis Line's own small directory.
    DirOrganization(
        "lcl",
        "lakeside",
        "Lakeside Crisis Line",
        "Confidential crisis support by phone, text and chat for the lakes region.",
        "https://lakesidecrisisline.example.org",
        1974,
        (
            DirLocation(
                "lcl-center",
                "Lakeside Crisis Line Call Center",
                "12 Harbor View Rd",
                "lakeside",
                OPEN_24_7,
            ),
        ),
        (
            DirService(
                "lcl-line",
                "24/7 Crisis Line",
                "Confidential phone, text and chat support for anyone in emotional distress or "
                "suicidal crisis.",
                ("RP-1500.1400", "RP-1500.1400-800"),
                areas=("Statewide",),
            ),
            DirService(
                "lcl-warmline",
                "Peer Warmline",
                "A non-crisis line staffed by peers with lived experience of mental illness.",
                ("RP-1500.1400",),
                hours=(EVERY_DAY, "17:00", "23:00"),
            ),
        ),
    ),
    DirOrganization(
        "nsbh",
        "lakeside",
        "North Shore Behavioral Health",
        "Community mental health and substance use treatment for Mirror Lake and Dickens counties.",
        "https://northshorebh.example.org",
        1969,
        (
            DirLocation(
                "nsbh-clinic",
                "North Shore Behavioral Health",
                "740 Lakeshore Dr",
                "north-shore",
                (WEEKDAYS, "08:00", "19:00"),
            ),
        ),
        (
            DirService(
                "nsbh-walkin",
                "Walk-in Crisis Assessment",
                "Same-day assessment by a licensed clinician, no appointment needed.",
                ("RP-1500",),
            ),
            DirService(
                "nsbh-sud",
                "Substance Use Treatment",
                "Assessment, outpatient counseling and recovery coaching.",
                ("RX-8250",),
            ),
        ),
    ),
    DirOrganization(
        "willow",
        "lakeside",
        "Willow Point Survivor Services",
        "Shelter and advocacy for survivors of domestic and sexual violence.",
        "https://willowpointsurvivors.example.org",
        1985,
        (
            DirLocation(
                "willow-office",
                "Willow Point Survivor Services (outreach office)",
                "9 Cedar St",
                "willow-point",
                OPEN_24_7,
            ),
        ),
        (
            DirService(
                "willow-dv",
                "Domestic Violence Shelter and Advocacy",
                "Confidential emergency shelter, protection order help and safety planning.",
                ("BH-1800.1500-100",),
            ),
        ),
    ),
    # Riverbend 211's own small directory.
    DirOrganization(
        "rca",
        "riverbend",
        "Riverbend Community Action",
        "Energy, rent and deposit assistance for the Platte Valley.",
        "https://riverbendcap.example.org",
        1966,
        (DirLocation("rca-office", "Riverbend Community Action", "1500 Broadway", "riverbend"),),
        (
            DirService(
                "rca-energy",
                "Energy Assistance",
                "LIHEAP and crisis help with heating and electric bills.",
                ("BV-8900.9300",),
            ),
            DirService(
                "rca-rent",
                "Rent and Deposit Assistance",
                "One-time help with past-due rent or a security deposit.",
                ("BH-3800.7000", "BH-3800.7250"),
            ),
        ),
    ),
    DirOrganization(
        "mission",
        "riverbend",
        "Riverbend Rescue Mission",
        "Shelter and meals for people experiencing homelessness in the Platte Valley.",
        "https://riverbendmission.example.org",
        1952,
        (
            DirLocation(
                "mission-main", "Riverbend Rescue Mission", "310 E 20th St", "riverbend", OPEN_24_7
            ),
        ),
        (
            DirService(
                "mission-shelter",
                "Emergency Shelter",
                "Overnight shelter for men, women and families.",
                ("BH-1800.8500",),
            ),
            DirService(
                "mission-meals",
                "Community Meals",
                "Breakfast and supper served daily to anyone in need.",
                ("BD-5000.8300",),
                hours=(EVERY_DAY, "07:00", "18:30"),
            ),
        ),
    ),
    DirOrganization(
        "pantry",
        "riverbend",
        "Platte Valley Food Bank",
        "Food pantries and mobile distributions across the Riverbend valley.",
        "https://plattevalleyfood.example.org",
        1989,
        (
            DirLocation(
                "pantry-scotts",
                "Scotts Crossing Pantry",
                "18 Depot St",
                "scotts-crossing",
                ("MO,WE,FR", "10:00", "16:00"),
            ),
        ),
        (
            DirService(
                "pantry-food",
                "Food Pantry",
                "Groceries once a month for households in Platte Valley and Sioux Butte counties.",
                ("BD-1800.2000",),
            ),
        ),
    ),
]

UNITS: list[tuple[str, str]] = [
    ("beds", "bed"),
    ("appointments", "appointment"),
    ("food boxes", "food-box"),
    ("vouchers", "voucher"),
]
# (program or service key, is_program, unit, available, maximum, status, note)
CAPACITIES: list[tuple[str, bool, str, int, int, CapacityStatus, str | None]] = [
    (
        "harbor-shelter",
        True,
        "beds",
        4,
        40,
        CapacityStatus.CAPACITY,
        "Family rooms are full; 4 single beds open tonight.",
    ),
    (
        "harbor-rrh",
        True,
        "vouchers",
        0,
        25,
        CapacityStatus.WAITLIST,
        "About 15 households on the waitlist, 4-6 weeks.",
    ),
    ("eastside-boxes", True, "food boxes", 120, 300, CapacityStatus.CAPACITY, None),
    (
        "eastside-mobile",
        True,
        "food boxes",
        35,
        80,
        CapacityStatus.CAPACITY,
        "Truck restocks Monday.",
    ),
    (
        "chc-primary",
        False,
        "appointments",
        12,
        40,
        CapacityStatus.CAPACITY,
        "Same-week appointments available at the Larkin clinic.",
    ),
    (
        "chc-dental",
        False,
        "appointments",
        0,
        16,
        CapacityStatus.NO_CAPACITY,
        "New appointments are released on the 1st of each month.",
    ),
    ("brigid-overnight", False, "beds", 9, 60, CapacityStatus.CAPACITY, None),
    ("transit-medical", False, "vouchers", 75, 200, CapacityStatus.CAPACITY, None),
    (
        "crisis-stabilization",
        False,
        "beds",
        2,
        8,
        CapacityStatus.ADDITIONAL_ASSESSMENT_REQUIRED,
        "Admission after a phone screening with the on-call clinician.",
    ),
]

# --------------------------------------------------------------------------------------------
# Contact forms
# --------------------------------------------------------------------------------------------

_AGE_RANGES = ["Under 18", "18-24", "25-44", "45-64", "65+", "Unknown"]
_ANONYMOUS_AGE_WEIGHTS = list(zip(_AGE_RANGES, (4, 12, 38, 26, 10, 10), strict=True))
_INSURANCE_WEIGHTS = [("Uninsured", 30), ("Medicaid", 40), ("Private", 20), ("Unknown", 10)]
# key: (label, type, sensitivity, required, options)
FIELDS: dict[str, tuple[str, FieldType, Sensitivity, bool, list[str] | None]] = {
    "caller_age_range": (
        "Caller age range",
        FieldType.SINGLE_SELECT,
        Sensitivity.PUBLIC,
        True,
        _AGE_RANGES,
    ),
    "referral_source": (
        "How did you hear about us?",
        FieldType.SINGLE_SELECT,
        Sensitivity.PUBLIC,
        False,
        ["211 website", "Friend or family", "Agency referral", "Social media", "Returning caller"],
    ),
    "contact_reason": (
        "Reason for contact",
        FieldType.MULTI_SELECT,
        Sensitivity.INTERNAL,
        True,
        CONTACT_REASONS,
    ),
    "household_size": ("Household size", FieldType.NUMBER, Sensitivity.INTERNAL, False, None),
    "callback_ok": ("OK to call back?", FieldType.BOOLEAN, Sensitivity.INTERNAL, True, None),
    "callback_window": (
        "Best time to call back",
        FieldType.SINGLE_SELECT,
        Sensitivity.INTERNAL,
        False,
        ["Morning", "Afternoon", "Evening"],
    ),
    "shelter_needed_tonight": (
        "Needs shelter tonight?",
        FieldType.BOOLEAN,
        Sensitivity.INTERNAL,
        False,
        None,
    ),
    "insurance_status": (
        "Health insurance",
        FieldType.SINGLE_SELECT,
        Sensitivity.INTERNAL,
        False,
        ["Uninsured", "Medicaid", "Medicare", "Private", "Unknown"],
    ),
    "follow_up_date": ("Follow-up date", FieldType.DATE, Sensitivity.INTERNAL, False, None),
    "caller_name": ("Caller name", FieldType.TEXT, Sensitivity.PII, False, None),
    "phone_number": ("Callback number", FieldType.TEXT, Sensitivity.PII, False, None),
    "address": ("Address", FieldType.TEXT, Sensitivity.PII, False, None),
    "date_of_birth": ("Date of birth", FieldType.DATE, Sensitivity.PII, False, None),
    "suicidal_ideation": (
        "Suicidal ideation",
        FieldType.SINGLE_SELECT,
        Sensitivity.CLINICAL,
        False,
        ["None", "Passive", "Active without plan", "Active with plan"],
    ),
    "safety_plan_reviewed": (
        "Safety plan reviewed",
        FieldType.BOOLEAN,
        Sensitivity.CLINICAL,
        False,
        None,
    ),
    "risk_assessment_notes": (
        "Risk assessment notes",
        FieldType.TEXTAREA,
        Sensitivity.CLINICAL,
        False,
        None,
    ),
    "substance_use": (
        "Substance use disclosed",
        FieldType.SINGLE_SELECT,
        Sensitivity.PART2,
        False,
        ["None disclosed", "Alcohol", "Opioids", "Stimulants", "Cannabis", "Other"],
    ),
}
_STANDARD_FIELDS = (
    "caller_age_range",
    "referral_source",
    "contact_reason",
    "household_size",
    "callback_ok",
    "callback_window",
    "insurance_status",
    "caller_name",
    "phone_number",
    "address",
    "date_of_birth",
    "substance_use",
    "risk_assessment_notes",
)
_CRISIS_FIELDS = (
    "caller_age_range",
    "contact_reason",
    "callback_ok",
    "caller_name",
    "phone_number",
    "suicidal_ideation",
    "safety_plan_reviewed",
    "substance_use",
    "risk_assessment_notes",
    "follow_up_date",
)
_AFTER_HOURS_FIELDS = (
    "caller_age_range",
    "contact_reason",
    "shelter_needed_tonight",
    "household_size",
    "callback_ok",
    "callback_window",
    "caller_name",
    "phone_number",
    "address",
    "risk_assessment_notes",
    "substance_use",
)
# (key, tenant, name, description, field keys)
FORMS: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    (
        "prairie-standard",
        "prairie",
        "Standard call report",
        "Prairie 211's information and referral call report.",
        _STANDARD_FIELDS,
    ),
    (
        "prairie-after-hours",
        "prairie",
        "After-hours intake",
        "Short intake used overnight and on weekends; shared with Lakeside Crisis Line, which "
        "answers Prairie 211's lines after hours.",
        _AFTER_HOURS_FIELDS,
    ),
    (
        "lakeside-standard",
        "lakeside",
        "Standard call report",
        "Lakeside Crisis Line's crisis contact report.",
        _CRISIS_FIELDS,
    ),
    (
        "riverbend-standard",
        "riverbend",
        "Standard call report",
        "Riverbend 211's information and referral call report.",
        _STANDARD_FIELDS,
    ),
]

# (form, tenant, records per unit of scale, channel weights, share with a known client, hours)
RECORD_PLAN: list[tuple[str, str, int, tuple[tuple[Channel, int], ...], float, str]] = [
    (
        "prairie-standard",
        "prairie",
        140,
        (
            (Channel.CALL, 60),
            (Channel.CHAT, 14),
            (Channel.TEXT, 14),
            (Channel.EMAIL, 6),
            (Channel.WALK_IN, 6),
        ),
        0.75,
        "day",
    ),
    ("prairie-after-hours", "prairie", 45, ((Channel.CALL, 85), (Channel.TEXT, 15)), 0.6, "night"),
    # Lakeside answers Prairie 211's lines overnight, on Prairie's shared after-hours form.
    ("prairie-after-hours", "lakeside", 20, ((Channel.CALL, 90), (Channel.TEXT, 10)), 0.6, "night"),
    (
        "lakeside-standard",
        "lakeside",
        60,
        ((Channel.CALL, 55), (Channel.TEXT, 30), (Channel.CHAT, 15)),
        0.5,
        "any",
    ),
    (
        "riverbend-standard",
        "riverbend",
        35,
        ((Channel.CALL, 70), (Channel.CHAT, 10), (Channel.TEXT, 15), (Channel.EMAIL, 5)),
        0.75,
        "day",
    ),
]
CLIENTS_PER_SCALE = {"prairie": 120, "lakeside": 50, "riverbend": 30}

_FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "Michael",
    "Jennifer",
    "David",
    "Linda",
    "Luis",
    "Guadalupe",
    "Ahmed",
    "Fatima",
    "Nguyen",
    "Linh",
    "Hodan",
    "Abdi",
    "Tyler",
    "Ashley",
    "Brandon",
    "Destiny",
    "Jose",
    "Maria",
    "Daniel",
    "Jessica",
    "Kevin",
    "Amanda",
    "Eh Htoo",
    "Paw Say",
    "Wendell",
    "Darlene",
    "Cody",
    "Brittany",
    "Terrence",
    "Keisha",
    "Samuel",
    "Rosa",
    "Hector",
    "Alma",
    "Dustin",
    "Crystal",
]
_LAST_NAMES = [
    "Johnson",
    "Smith",
    "Williams",
    "Brown",
    "Garcia",
    "Martinez",
    "Hernandez",
    "Nguyen",
    "Tran",
    "Mohamed",
    "Hassan",
    "Ali",
    "Olson",
    "Anderson",
    "Peterson",
    "Nelson",
    "Schmidt",
    "Meyer",
    "Hoffman",
    "Jackson",
    "Thomas",
    "Moore",
    "White",
    "Lopez",
    "Gonzalez",
    "Ramirez",
    "Htoo",
    "Paw",
    "Yellow Horse",
    "Red Cloud",
    "Miller",
    "Davis",
    "Wilson",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "King",
    "Wright",
    "Scott",
]
_CLIENT_LANGUAGES = [
    ("English", 80),
    ("Spanish", 12),
    ("Vietnamese", 2),
    ("Somali", 2),
    ("Karen", 2),
    ("Arabic", 2),
]

# --------------------------------------------------------------------------------------------
# Referral lifecycle
# --------------------------------------------------------------------------------------------

_S = ReferralStatus
_PATHS: dict[ReferralStatus, tuple[ReferralStatus, ...]] = {
    _S.DRAFT: (_S.DRAFT,),
    _S.REQUESTED: (_S.DRAFT, _S.REQUESTED),
    _S.ACCEPTED: (_S.DRAFT, _S.REQUESTED, _S.ACCEPTED),
    _S.IN_PROGRESS: (_S.DRAFT, _S.REQUESTED, _S.ACCEPTED, _S.IN_PROGRESS),
    _S.ON_HOLD: (_S.DRAFT, _S.REQUESTED, _S.ACCEPTED, _S.IN_PROGRESS, _S.ON_HOLD),
    _S.COMPLETED: (_S.DRAFT, _S.REQUESTED, _S.ACCEPTED, _S.IN_PROGRESS, _S.COMPLETED),
    _S.FAILED: (_S.DRAFT, _S.REQUESTED, _S.ACCEPTED, _S.IN_PROGRESS, _S.FAILED),
    _S.REJECTED: (_S.DRAFT, _S.REQUESTED, _S.REJECTED),
    _S.CANCELLED: (_S.DRAFT, _S.REQUESTED, _S.CANCELLED),
    _S.ENTERED_IN_ERROR: (_S.DRAFT, _S.ENTERED_IN_ERROR),
}
# Final status weights for referrals older than a week, and for recent ones.
_FINAL_WEIGHTS: list[tuple[ReferralStatus, int]] = [
    (_S.COMPLETED, 32),
    (_S.IN_PROGRESS, 10),
    (_S.ACCEPTED, 8),
    (_S.REQUESTED, 10),
    (_S.REJECTED, 8),
    (_S.CANCELLED, 7),
    (_S.ON_HOLD, 6),
    (_S.FAILED, 10),
    (_S.DRAFT, 3),
    (_S.ENTERED_IN_ERROR, 2),
]
_RECENT_WEIGHTS: list[tuple[ReferralStatus, int]] = [
    (_S.REQUESTED, 35),
    (_S.ACCEPTED, 25),
    (_S.IN_PROGRESS, 20),
    (_S.DRAFT, 10),
    (_S.CANCELLED, 5),
    (_S.REJECTED, 5),
]
# Who sets a status: the referrer (tenant call-taker) or the receiving organization.
_SET_BY_REFERRER = (_S.DRAFT, _S.REQUESTED, _S.CANCELLED, _S.ENTERED_IN_ERROR)
_REASONS: dict[ReferralStatus, list[str]] = {
    _S.REJECTED: [
        "Outside our service area.",
        "Household income is above program limits.",
        "Program is full; please refer to the waitlist.",
        "Service requires a coordinated entry assessment first.",
    ],
    _S.CANCELLED: [
        "Client found help elsewhere.",
        "Client asked to cancel the referral.",
        "Duplicate referral.",
    ],
    _S.ON_HOLD: [
        "Waiting for the client to return income paperwork.",
        "Client unreachable; will try again next week.",
        "Waiting for a unit to open up.",
    ],
    _S.FAILED: [
        "Could not reach the client after three attempts.",
        "Client did not attend the intake appointment.",
        "Client's phone number is disconnected.",
    ],
}
_OUTCOME_WEIGHTS: dict[ReferralStatus, list[tuple[OutcomeCode, int]]] = {
    _S.COMPLETED: [
        (OutcomeCode.GOT_HELP, 80),
        (OutcomeCode.REFERRED_ELSEWHERE, 10),
        (OutcomeCode.NEEDS_CLIENT_ACTION, 10),
    ],
    _S.FAILED: [
        (OutcomeCode.COULD_NOT_CONTACT, 35),
        (OutcomeCode.NO_CAPACITY, 20),
        (OutcomeCode.NOT_ELIGIBLE, 15),
        (OutcomeCode.COULD_NOT_GET_HELP, 15),
        (OutcomeCode.NO_LONGER_INTERESTED, 15),
    ],
}
_OUTCOME_NOTES: dict[OutcomeCode, str] = {
    OutcomeCode.GOT_HELP: "Client received the service.",
    OutcomeCode.REFERRED_ELSEWHERE: "Connected the client with a program better suited to "
    "their needs.",
    OutcomeCode.NEEDS_CLIENT_ACTION: "Service approved; client still needs to bring documents.",
    OutcomeCode.COULD_NOT_CONTACT: "Three calls and a text, no answer.",
    OutcomeCode.NO_CAPACITY: "No openings this month.",
    OutcomeCode.NOT_ELIGIBLE: "Client is outside the program's eligibility guidelines.",
    OutcomeCode.COULD_NOT_GET_HELP: "Client reached us but we could not resolve the need.",
    OutcomeCode.NO_LONGER_INTERESTED: "Client said the need was resolved.",
}
_EXTERNAL_ID_PREFIX = {"eastside": "EFP", "harbor": "HH"}

# Referral queues: (key, name, description, need code, statuses, program keys, form keys,
# need codes that enqueue a record). Statuses: (key, label, canonical status).
QUEUES: list[
    tuple[
        str,
        str,
        str,
        str,
        tuple[tuple[str, str, ReferralStatus], ...],
        tuple[str, ...],
        tuple[str, ...],
        tuple[str, ...],
    ]
] = [
    (
        "housing",
        "Supportive housing",
        "Households waiting for shelter or a rapid re-housing slot with a partner program.",
        "BH-3800.7000",
        (
            ("waiting", "Waiting for placement", _S.REQUESTED),
            ("assigned", "Assigned to a program", _S.ACCEPTED),
            ("paused", "Paused: client unreachable", _S.ON_HOLD),
            ("housed", "Housed", _S.COMPLETED),
            ("closed", "Closed", _S.CANCELLED),
        ),
        ("harbor-rrh", "harbor-shelter"),
        ("prairie-standard", "prairie-after-hours"),
        ("BH-1800.8500", "BH-3800.7000", "BH-3800.7250"),
    ),
    (
        "food",
        "Emergency food",
        "Households waiting for an emergency food box or a mobile pantry delivery.",
        "BD-1800.2000",
        (
            ("waiting", "Waiting", _S.REQUESTED),
            ("assigned", "Assigned to a pantry", _S.ACCEPTED),
            ("delivered", "Food delivered", _S.COMPLETED),
            ("closed", "Closed", _S.CANCELLED),
        ),
        ("eastside-boxes", "eastside-mobile"),
        ("prairie-standard",),
        ("BD-1800.2000",),
    ),
]
_QUEUE_STATUS_WEIGHTS = {
    _S.REQUESTED: 35,
    _S.ACCEPTED: 25,
    _S.ON_HOLD: 5,
    _S.COMPLETED: 25,
    _S.CANCELLED: 10,
}
_QUEUE_REMOVAL_REASONS = [
    "Client found housing on their own.",
    "Client moved out of the area.",
    "Could not reach the client for 30 days.",
]
_FOLLOW_UP_NOTES = [
    "Check whether the client reached the provider.",
    "Call back to confirm the food box was picked up.",
    "Crisis check-in: confirm the client is safe and has the safety plan.",
    "Confirm shelter placement and ask about next steps for housing.",
    "Help the client complete the assistance application.",
]

# --------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------


@dataclass
class SeedResult:
    created: bool = False
    tenants: int = 0
    partner_organizations: int = 0
    principals: int = 0
    api_keys: int = 0
    organizations: int = 0
    programs: int = 0
    services: int = 0
    locations: int = 0
    service_at_locations: int = 0
    taxonomy_terms: int = 0
    contact_forms: int = 0
    form_fields: int = 0
    clients: int = 0
    contact_records: int = 0
    contact_record_needs: int = 0
    referrals: int = 0
    referral_status_changes: int = 0
    outcomes: int = 0
    follow_ups: int = 0
    referral_queues: int = 0
    queue_entries: int = 0
    service_capacities: int = 0
    capacity_changes: int = 0
    events: int = 0
    seconds: float = 0.0


RESULT_MODELS: dict[str, type[Base]] = {
    "tenants": Tenant,
    "partner_organizations": PartnerOrganization,
    "principals": Principal,
    "api_keys": ApiKey,
    "organizations": Organization,
    "programs": Program,
    "services": Service,
    "locations": Location,
    "service_at_locations": ServiceAtLocation,
    "taxonomy_terms": TaxonomyTerm,
    "contact_forms": ContactForm,
    "form_fields": FormField,
    "clients": Client,
    "contact_records": ContactRecord,
    "contact_record_needs": ContactRecordNeed,
    "referrals": Referral,
    "referral_status_changes": ReferralStatusChange,
    "outcomes": Outcome,
    "follow_ups": FollowUp,
    "referral_queues": ReferralQueue,
    "queue_entries": QueueEntry,
    "service_capacities": ServiceCapacity,
    "capacity_changes": CapacityChange,
    "events": Event,
}


def _no_progress(written: int, total: int) -> None:
    return None


async def seed(
    db: Database,
    *,
    scale: int = 1,
    demo_secret: str,
    progress: Callable[[int, int], None] = _no_progress,
) -> SeedResult:
    """Migrate, then write the demo data unless the database already has a tenant.
    ``progress(n, total)`` hears of every ``n`` rows inserted of ``total``."""
    if scale < 1:
        raise ValueError("scale must be a positive integer")
    started = time.perf_counter()
    await migrate.upgrade(db)
    async with db.write_session() as session:
        if await session.scalar(select(Tenant.id).limit(1)) is not None:
            result = await _count_existing(session)
            result.seconds = time.perf_counter() - started
            return result
        builder = _Builder(scale=scale, demo_secret=demo_secret)
        rows = builder.build()
        demo_queues.extend(builder, rows)
        await _insert_all(session, rows, progress)
        session.add_all(
            demo_sharing.agreements(
                builder.tenant_ids, builder.partner_ids, builder.form_ids, demo_id
            )
        )
        instance = await session.get(Instance, 1)
        if instance is None:
            session.add(Instance(id=1, secret=secrets.token_hex(32), demo=True))
        else:
            instance.demo = True
    # Fresh tables have no planner statistics (SQLite never gathers them by itself, and
    # PostgreSQL's autovacuum may not have run yet): without them lookups by key pick the
    # tenant index and scan the whole tenant.
    async with db.engine.begin() as connection:
        await connection.exec_driver_sql("ANALYZE")
    result = SeedResult(created=True, seconds=time.perf_counter() - started)
    for name, model in RESULT_MODELS.items():
        setattr(result, name, len(rows.get(model, ())))
    return result


async def is_demo(db: Database) -> bool:
    async with db.read_session() as session:
        return bool(await session.scalar(select(Instance.demo).where(Instance.id == 1)))


async def _count_existing(session: AsyncSession) -> SeedResult:
    result = SeedResult(created=False)
    for name, model in RESULT_MODELS.items():
        count = await session.scalar(select(func.count()).select_from(model))
        setattr(result, name, int(count or 0))
    return result


async def _insert_all(
    session: AsyncSession,
    rows: dict[type[Base], list[Row]],
    progress: Callable[[int, int], None] = _no_progress,
) -> None:
    """Bulk-insert every table in foreign-key order (parents first within a table too).

    Core ``insert(table)`` executemany, not the ORM bulk path: the ORM leaves out None values
    so that server defaults apply, which splits a chunk into many small batches (row-by-row
    inserts for most of the demo tables, about 5x slower at scale 100).
    """
    model_of = {mapper.local_table: mapper.class_ for mapper in Base.registry.mappers}
    total = sum(len(table_rows) for table_rows in rows.values())
    for table in Base.metadata.sorted_tables:
        model = model_of.get(table)
        table_rows = rows.get(model, []) if model is not None else []
        for start in range(0, len(table_rows), CHUNK_SIZE):
            chunk = table_rows[start : start + CHUNK_SIZE]
            await session.execute(insert(table), chunk)
            progress(len(chunk), total)


_T = TypeVar("_T")


def _weighted(rng: random.Random, weighted: Sequence[tuple[_T, int]]) -> _T:
    return rng.choices([value for value, _ in weighted], [w for _, w in weighted])[0]


@dataclass
class _SalInfo:
    id: uuid.UUID
    service_key: str
    org: DirOrganization
    program_id: uuid.UUID | None
    weight: int


@dataclass
class _RecordContext:
    tenant: str
    client: Row | None
    needs: list[tuple[str, str, str, str]]  # (code, reason, phrase, topic)
    risk: RiskLevel
    started_at: datetime
    city: tuple[str, str, str, float, float, str] | None
    street: str
    household: int
    age_range: str


class _Builder:
    """Collects every demo row, keyed by model, from one seeded random stream."""

    def __init__(self, *, scale: int, demo_secret: str) -> None:
        self.scale = scale
        self.demo_secret = demo_secret
        self.rng = random.Random(RANDOM_SEED)
        self.now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.rows: dict[type[Base], list[Row]] = defaultdict(list)
        self.tenant_ids = {slug: demo_id("tenant", slug) for slug, _, _, _ in TENANTS}
        self.partner_ids = {slug: demo_id("partner-organization", slug) for slug, _ in PARTNERS}
        self.principal_ids = {p.name: demo_id("principal", p.name) for p in DEMO_PRINCIPALS}
        self.term_ids = {code: demo_id("taxonomy-term", code) for code, _, _ in TERMS}
        self.program_ids: dict[str, uuid.UUID] = {}
        self.service_ids: dict[str, uuid.UUID] = {}
        self.sals: list[_SalInfo] = []
        self.targets: dict[tuple[str, str, bool], list[tuple[_SalInfo, int]]] = {}
        self.form_versions: dict[str, tuple[uuid.UUID, list[str]]] = {}
        self.form_ids: dict[str, uuid.UUID] = {}
        self.clients: dict[str, list[Row]] = {}
        self.client_city: dict[uuid.UUID, tuple[str, str, str, float, float, str]] = {}
        self.events: list[Row] = []
        self.phone_counter = 100
        from sharegraph.demo.statewide import statewide

        grown = statewide(scale)
        self.directory: list[DirOrganization] = [*DIRECTORY, *grown.organizations]
        self.generated = {org.key for org in grown.organizations}
        self.cities: dict[str, tuple[str, str, str, float, float, str]] = {
            **CITIES,
            **grown.cities,
        }
        self.link_rng = random.Random(f"{RANDOM_SEED}:queue-referrals")

    def units(self, per_scale: int) -> int:
        """How many of a per-scale count to make: scale 1 is the hand-written network; each
        further step adds a statewide slice, ``ACTIVITY_PER_STEP`` times its activity."""
        return round(per_scale * (1 + ACTIVITY_PER_STEP * (self.scale - 1)))

    # -- helpers ------------------------------------------------------------------------------

    def add(self, model: type[Base], row: Row) -> Row:
        self.rows[model].append(row)
        return row

    def days_ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def event(
        self,
        record_type: str,
        record_id: uuid.UUID,
        tenant: uuid.UUID,
        occurred_at: datetime,
        actor: uuid.UUID | None,
    ) -> None:
        self.events.append(
            {
                "id": demo_id("event", f"{record_type}:{record_id}"),
                "event_type": EventType.CREATED,
                "record_type": record_type,
                "record_id": record_id,
                "tenant_id": tenant,
                "record_version": 1,
                "occurred_at": occurred_at,
                "actor_id": actor,
            }
        )

    def next_phone(self, area: str) -> str:
        # 555-0100 to 555-0199 are reserved for fiction; wrap around past that.
        number = 100 + (self.phone_counter - 100) % 100
        self.phone_counter += 1
        return f"({area}) 555-{number:04d}"

    def actor(self, tenant: str, suffix: str) -> uuid.UUID:
        return self.principal_ids[f"{tenant}-{suffix}"]

    # -- build --------------------------------------------------------------------------------

    def build(self) -> dict[type[Base], list[Row]]:
        self.build_tenants()
        self.build_taxonomy()
        self.build_directory()
        self.build_capacity()
        self.build_forms()
        self.build_clients()
        self.build_queues()
        self.build_contact_records()
        self.events.sort(key=lambda event: event["occurred_at"])
        self.rows[Event] = self.events
        return dict(self.rows)

    def build_tenants(self) -> None:
        created = self.days_ago(400)
        for slug, name, zone, _ in TENANTS:
            self.add(
                Tenant,
                {
                    "id": self.tenant_ids[slug],
                    "name": name,
                    "time_zone": zone,
                    "created_at": created,
                },
            )
        for slug, name in PARTNERS:
            self.add(
                PartnerOrganization,
                {
                    "id": self.partner_ids[slug],
                    "name": name,
                    "tenant_id": None,
                    "created_at": created,
                },
            )
        tenant_by_name = {name: self.tenant_ids[slug] for slug, name, _, _ in TENANTS}
        partner_by_name = {name: self.partner_ids[slug] for slug, name in PARTNERS}
        for principal in DEMO_PRINCIPALS:
            pid = self.principal_ids[principal.name]
            tenant_id = tenant_by_name[principal.tenant] if principal.tenant else None
            partner_id = partner_by_name[principal.organization] if principal.organization else None
            user = principal.kind is PrincipalKind.USER
            self.add(
                Principal,
                {
                    "id": pid,
                    "name": principal.name,
                    "display_name": _DISPLAY_NAMES.get(principal.name, principal.name),
                    "email": f"{principal.name}@demo.example" if user else None,
                    "kind": principal.kind,
                    "tenant_id": tenant_id,
                    "partner_organization_id": partner_id,
                    "disabled": False,
                    "created_at": created,
                },
            )
            self.add(
                RoleAssignment,
                {
                    "id": demo_id("role-assignment", principal.name),
                    "principal_id": pid,
                    "role": principal.role,
                    "tenant_id": tenant_id,
                    "partner_organization_id": partner_id,
                    "created_at": created,
                },
            )
            key = demo_key(self.demo_secret, principal.name)
            self.add(
                ApiKey,
                {
                    "id": demo_id("api-key", principal.name),
                    "principal_id": pid,
                    "prefix": key.prefix,
                    "key_hash": key.key_hash,
                    "label": "demo key",
                    "demo": True,
                    "created_at": created,
                    "expires_at": None,
                    "revoked_at": None,
                    "last_used_at": None,
                },
            )

    def build_taxonomy(self) -> None:
        prairie = self.tenant_ids["prairie"]
        stamp = {"created_at": self.days_ago(380), "updated_at": self.days_ago(380)}
        taxonomy_id = demo_id("taxonomy", TAXONOMY_NAME)
        self.add(
            Taxonomy,
            {
                "id": taxonomy_id,
                "tenant_id": prairie,
                "name": TAXONOMY_NAME,
                "description": "The 211 Human Services Indexing System (AIRS/211 LA County "
                "Taxonomy of Human Services), subset used by the demo directory.",
                "uri": "https://211taxonomy.org/",
                "version": "2024",
                "source_system": None,
                "source_key": None,
                **stamp,
            },
        )
        for code, name, parent in TERMS:
            self.add(
                TaxonomyTerm,
                {
                    "id": self.term_ids[code],
                    "tenant_id": prairie,
                    "taxonomy_id": taxonomy_id,
                    "parent_id": self.term_ids[parent] if parent else None,
                    "code": code,
                    "name": name,
                    "description": None,
                    "language": "en",
                    "term_uri": None,
                    "source_system": None,
                    "source_key": None,
                    **stamp,
                },
            )

    def build_directory(self) -> None:
        rng = self.rng
        for org in self.directory:
            tenant_id = self.tenant_ids[org.tenant]
            area = _TENANT_AREA[org.tenant]
            created = self.days_ago(rng.randint(300, 400))
            stamp = {"created_at": created, "updated_at": self.days_ago(rng.randint(1, 90))}
            tracked = {"source_system": None, "source_key": None}
            org_id = demo_id("organization", org.key)
            self.add(
                Organization,
                {
                    "id": org_id,
                    "tenant_id": tenant_id,
                    "name": org.name,
                    "alternate_name": None,
                    "description": org.description,
                    "website": org.website,
                    "email": f"info@{org.website.split('//')[1].split('/')[0]}",
                    "tax_status": "501(c)(3)",
                    "tax_id": None,
                    "year_incorporated": org.year,
                    "legal_status": "Nonprofit",
                    "logo": None,
                    "uri": None,
                    "parent_organization_id": None,
                    "partner_organization_id": self.partner_ids[org.partner]
                    if org.partner
                    else None,
                    "active": True,
                    **tracked,
                    **stamp,
                },
            )
            for key, name, description in org.programs:
                self.program_ids[key] = demo_id("program", key)
                self.add(
                    Program,
                    {
                        "id": self.program_ids[key],
                        "tenant_id": tenant_id,
                        "organization_id": org_id,
                        "name": name,
                        "alternate_name": None,
                        "description": description,
                        "active": True,
                        **tracked,
                        **stamp,
                    },
                )
            location_ids: dict[str, uuid.UUID] = {}
            location_counties: dict[str, str] = {}
            for loc in org.locations:
                city, county, postal, lat, lon, _ = self.cities[loc.city]
                loc_id = location_ids[loc.key] = demo_id("location", loc.key)
                location_counties[loc.key] = county
                self.add(
                    Location,
                    {
                        "id": loc_id,
                        "tenant_id": tenant_id,
                        "organization_id": org_id,
                        "location_type": LocationType.PHYSICAL,
                        "name": loc.name,
                        "alternate_name": None,
                        "description": None,
                        "transportation": "On a city bus line; free parking."
                        if city == "Fort Addison"
                        else "Free parking.",
                        "url": None,
                        "latitude": round(lat + rng.uniform(-0.01, 0.01), 6),
                        "longitude": round(lon + rng.uniform(-0.01, 0.01), 6),
                        "external_identifier": None,
                        "active": True,
                        **tracked,
                        **stamp,
                    },
                )
                self.add(
                    Address,
                    {
                        "id": demo_id("address", loc.key),
                        "tenant_id": tenant_id,
                        "location_id": loc_id,
                        "attention": None,
                        "address_1": loc.street,
                        "address_2": None,
                        "city": city,
                        "region": county,
                        "state_province": STATE,
                        "postal_code": postal,
                        "country": "US",
                        "address_type": AddressType.PHYSICAL,
                        **stamp,
                    },
                )
                self.add_phone(
                    tenant_id,
                    area,
                    f"location:{loc.key}",
                    stamp,
                    location_id=loc_id,
                    description="Front desk",
                )
                self.add_schedule(
                    tenant_id, f"location:{loc.key}", loc.hours, stamp, location_id=loc_id
                )
            for svc in org.services:
                self.add_service(
                    org, svc, org_id, tenant_id, area, location_ids, location_counties, stamp
                )

    def add_phone(
        self,
        tenant_id: uuid.UUID,
        area: str,
        key: str,
        stamp: Row,
        *,
        location_id: uuid.UUID | None = None,
        service_id: uuid.UUID | None = None,
        description: str | None = None,
    ) -> None:
        self.add(
            Phone,
            {
                "id": demo_id("phone", key),
                "tenant_id": tenant_id,
                "location_id": location_id,
                "service_id": service_id,
                "organization_id": None,
                "service_at_location_id": None,
                "number": self.next_phone(area),
                "extension": None,
                "type": "voice",
                "description": description,
                **stamp,
            },
        )

    def add_schedule(
        self,
        tenant_id: uuid.UUID,
        key: str,
        hours: tuple[str, str, str],
        stamp: Row,
        *,
        location_id: uuid.UUID | None = None,
        service_id: uuid.UUID | None = None,
    ) -> None:
        byday, opens, closes = hours
        around_clock = hours == OPEN_24_7
        self.add(
            Schedule,
            {
                "id": demo_id("schedule", key),
                "tenant_id": tenant_id,
                "service_id": service_id,
                "location_id": location_id,
                "service_at_location_id": None,
                "valid_from": None,
                "valid_to": None,
                "dtstart": None,
                "timezone": None,
                "until": None,
                "count": None,
                "wkst": "MO",
                "freq": "WEEKLY",
                "interval": None,
                "byday": byday,
                "byweekno": None,
                "bymonthday": None,
                "byyearday": None,
                "description": "Open 24 hours a day, 7 days a week"
                if around_clock
                else f"{byday.replace(',', ', ')} {opens}-{closes}",
                "opens_at": opens,
                "closes_at": closes,
                "schedule_link": None,
                "attending_type": None,
                "notes": None,
                **stamp,
            },
        )

    def add_service(
        self,
        org: DirOrganization,
        svc: DirService,
        org_id: uuid.UUID,
        tenant_id: uuid.UUID,
        area: str,
        location_ids: dict[str, uuid.UUID],
        location_counties: dict[str, str],
        stamp: Row,
    ) -> None:
        service_id = self.service_ids[svc.key] = demo_id("service", svc.key)
        program_id = self.program_ids[svc.program] if svc.program else None
        self.add(
            Service,
            {
                "id": service_id,
                "tenant_id": tenant_id,
                "organization_id": org_id,
                "program_id": program_id,
                "name": svc.name,
                "alternate_name": None,
                "description": svc.description,
                "url": org.website,
                "email": None,
                "status": ServiceStatus.ACTIVE,
                "interpretation_services": "Phone interpretation in 200+ languages.",
                "application_process": svc.application or "Call or walk in during open hours.",
                "fees_description": svc.fees,
                "eligibility_description": svc.eligibility,
                "minimum_age": None,
                "maximum_age": None,
                "alert": None,
                "wait_time": None,
                "assured_date": self.days_ago(self.rng.randint(10, 120)).date(),
                "source_system": None,
                "source_key": None,
                **stamp,
            },
        )
        self.add_phone(
            tenant_id,
            area,
            f"service:{svc.key}",
            stamp,
            service_id=service_id,
            description="Intake line",
        )
        if svc.hours is not None:
            self.add_schedule(
                tenant_id, f"service:{svc.key}", svc.hours, stamp, service_id=service_id
            )
        for code in svc.languages:
            self.add(
                Language,
                {
                    "id": demo_id("language", f"{svc.key}:{code}"),
                    "tenant_id": tenant_id,
                    "service_id": service_id,
                    "location_id": None,
                    "phone_id": None,
                    "name": _LANGUAGES[code],
                    "code": code,
                    "note": None,
                    **stamp,
                },
            )
        keys = svc.locations or tuple(location_ids)
        areas = svc.areas or tuple(dict.fromkeys(location_counties[k] for k in keys))
        for name in areas:
            self.add(
                ServiceArea,
                {
                    "id": demo_id("service-area", f"{svc.key}:{name}"),
                    "tenant_id": tenant_id,
                    "service_id": service_id,
                    "service_at_location_id": None,
                    "name": name,
                    "description": None,
                    "extent": None,
                    "extent_type": None,
                    "uri": None,
                    **stamp,
                },
            )
        # Only the host directory is indexed with taxonomy attributes: the other tenants'
        # small directories keep their own records free of references into Prairie's taxonomy.
        if org.tenant == "prairie":
            for code in svc.terms:
                self.add(
                    Attribute,
                    {
                        "id": demo_id("attribute", f"{svc.key}:{code}"),
                        "tenant_id": tenant_id,
                        "link_id": service_id,
                        "link_type": "taxonomy_term",
                        "link_entity": "service",
                        "taxonomy_term_id": self.term_ids[code],
                        "value": None,
                        "label": None,
                        **stamp,
                    },
                )
        for key in keys:
            sal_id = demo_id("service-at-location", f"{svc.key}:{key}")
            self.add(
                ServiceAtLocation,
                {
                    "id": sal_id,
                    "tenant_id": tenant_id,
                    "service_id": service_id,
                    "location_id": location_ids[key],
                    "description": None,
                    "active": True,
                    "source_system": None,
                    "source_key": None,
                    **stamp,
                },
            )
            self.sals.append(_SalInfo(sal_id, svc.key, org, program_id, svc.referral_weight))

    def build_capacity(self) -> None:
        rng = self.rng
        prairie = self.tenant_ids["prairie"]
        unit_ids: dict[str, uuid.UUID] = {}
        for name, identifier in UNITS:
            unit_ids[name] = demo_id("unit", name)
            self.add(
                Unit,
                {
                    "id": unit_ids[name],
                    "tenant_id": prairie,
                    "name": name,
                    "scheme": None,
                    "identifier": identifier,
                    "uri": None,
                    "created_at": self.days_ago(300),
                    "updated_at": self.days_ago(300),
                },
            )
        owner = {svc.key: org for org in DIRECTORY for svc in org.services}
        owner.update({key: org for org in DIRECTORY for key, _, _ in org.programs})
        for key, is_program, unit, available, maximum, status, note in CAPACITIES:
            org = owner[key]
            actor = (
                self.principal_ids[f"{org.partner}-portal"]
                if org.partner
                else self.actor("prairie", "admin")
            )
            capacity_id = demo_id("service-capacity", key)
            created = self.days_ago(45)
            history: list[tuple[datetime, int]] = []
            for days in (42, 28, 21, 14, 7):
                history.append(
                    (
                        self.days_ago(days) + timedelta(hours=rng.randint(14, 22)),
                        rng.randint(0, maximum),
                    )
                )
            updated = self.days_ago(rng.randint(1, 3)) + timedelta(hours=rng.randint(14, 22))
            history.append((updated, available))
            self.add(
                ServiceCapacity,
                {
                    "id": capacity_id,
                    "tenant_id": prairie,
                    "service_id": None if is_program else self.service_ids[key],
                    "program_id": self.program_ids[key] if is_program else None,
                    "unit_id": unit_ids[unit],
                    "available": available,
                    "reserved": 0,
                    "maximum": maximum,
                    "status": status,
                    "description": f"{unit.capitalize()}",
                    "note": note,
                    "updated": updated,
                    "version": 1,
                    "created_at": created,
                    "updated_at": updated,
                },
            )
            for index, (changed_at, value) in enumerate(history):
                last = index == len(history) - 1
                self.add(
                    CapacityChange,
                    {
                        "id": demo_id("capacity-change", f"{key}:{index}"),
                        "tenant_id": prairie,
                        "capacity_id": capacity_id,
                        "available": value,
                        "reserved": 0,
                        "maximum": maximum,
                        "status": status
                        if last
                        else (CapacityStatus.CAPACITY if value else CapacityStatus.NO_CAPACITY),
                        "note": note if last else None,
                        "changed_by_id": actor,
                        "changed_at": changed_at,
                    },
                )
            self.event("ServiceCapacity", capacity_id, prairie, created, actor)

    def build_forms(self) -> None:
        published = self.days_ago(200)
        stamp = {"created_at": published, "updated_at": published}
        for key, tenant, name, description, field_keys in FORMS:
            tenant_id = self.tenant_ids[tenant]
            form_id = self.form_ids[key] = demo_id("contact-form", key)
            version_id = demo_id("contact-form-version", f"{key}:1")
            self.add(
                ContactForm,
                {
                    "id": form_id,
                    "tenant_id": tenant_id,
                    "name": name,
                    "description": description,
                    **stamp,
                },
            )
            self.add(
                ContactFormVersion,
                {
                    "id": version_id,
                    "tenant_id": tenant_id,
                    "form_id": form_id,
                    "version": 1,
                    "published_at": published,
                    **stamp,
                },
            )
            for position, field_key in enumerate(field_keys):
                label, field_type, sensitivity, required, options = FIELDS[field_key]
                self.add(
                    FormField,
                    {
                        "id": demo_id("form-field", f"{key}:1:{field_key}"),
                        "tenant_id": tenant_id,
                        "form_version_id": version_id,
                        "key": field_key,
                        "label": label,
                        "type": field_type,
                        "options": options,
                        "required": required,
                        "sensitivity": sensitivity,
                        "position": position,
                    },
                )
            self.form_versions[key] = (version_id, list(field_keys))

    def pick_city(self, tenant: str) -> tuple[str, str, str, float, float, str]:
        region = _weighted(self.rng, _CALLER_REGIONS[tenant])
        return self.rng.choice([city for city in CITIES.values() if city[5] == region])

    def build_clients(self) -> None:
        rng = self.rng
        index = 0
        for tenant, per_scale in CLIENTS_PER_SCALE.items():
            tenant_id = self.tenant_ids[tenant]
            self.clients[tenant] = []
            for _ in range(self.units(per_scale)):
                city = self.pick_city(tenant)
                created = self.days_ago(rng.randint(HISTORY_DAYS + 5, 700))
                born = date(rng.randint(1942, 2006), rng.randint(1, 12), rng.randint(1, 28))
                client = self.add(
                    Client,
                    {
                        "id": demo_id("client", index),
                        "tenant_id": tenant_id,
                        "first_name": rng.choice(_FIRST_NAMES),
                        "last_name": rng.choice(_LAST_NAMES),
                        "phone": self.fictional_number(_TENANT_AREA[tenant]),
                        "date_of_birth": born,
                        "postal_code": city[2],
                        "county": city[1],
                        "preferred_language": _weighted(rng, _CLIENT_LANGUAGES),
                        "version": 1,
                        "created_at": created,
                        "updated_at": created,
                    },
                )
                self.client_city[client["id"]] = city
                self.clients[tenant].append(client)
                index += 1

    def fictional_number(self, area: str) -> str:
        return f"({area}) 555-{self.rng.randint(100, 199):04d}"

    def build_queues(self) -> None:
        prairie = self.tenant_ids["prairie"]
        created = self.days_ago(250)
        stamp = {"created_at": created, "updated_at": created}
        for key, name, description, need, statuses, programs, forms, _ in QUEUES:
            queue_id = demo_id("referral-queue", key)
            self.add(
                ReferralQueue,
                {
                    "id": queue_id,
                    "tenant_id": prairie,
                    "name": name,
                    "description": description,
                    "need_term_id": self.term_ids[need],
                    "active": True,
                    "version": 1,
                    **stamp,
                },
            )
            for position, (status_key, label, canonical) in enumerate(statuses):
                self.add(
                    QueueStatus,
                    {
                        "id": demo_id("queue-status", f"{key}:{status_key}"),
                        "tenant_id": prairie,
                        "queue_id": queue_id,
                        "key": status_key,
                        "label": label,
                        "canonical_status": canonical,
                        "position": position,
                    },
                )
            for program in programs:
                self.add(
                    QueueProgram,
                    {
                        "id": demo_id("queue-program", f"{key}:{program}"),
                        "tenant_id": prairie,
                        "queue_id": queue_id,
                        "program_id": self.program_ids[program],
                    },
                )
            for form in forms:
                self.add(
                    QueueForm,
                    {
                        "id": demo_id("queue-form", f"{key}:{form}"),
                        "tenant_id": prairie,
                        "queue_id": queue_id,
                        "form_id": self.form_ids[form],
                    },
                )

    # -- contact records and what hangs off them ------------------------------------------

    def build_contact_records(self) -> None:
        index = 0
        for form_key, tenant, per_scale, channels, client_share, hours in RECORD_PLAN:
            for _ in range(self.units(per_scale)):
                self.add_contact_record(index, form_key, tenant, channels, client_share, hours)
                index += 1

    def start_time(self, tenant: str, hours: str) -> datetime:
        rng = self.rng
        # Local dates from 2 to HISTORY_DAYS+1 days before today's UTC midnight: even 23:59
        # on Mountain time then stays before "now".
        day = (self.now - timedelta(days=rng.randint(2, HISTORY_DAYS + 1))).date()
        if hours == "day":
            hour = rng.randint(8, 17)
        elif hours == "night":
            hour = rng.choice([18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 5, 6, 7])
        else:
            hour = _weighted(rng, [(h, 3 if 9 <= h <= 23 else 1) for h in range(24)])
        local = datetime(
            day.year,
            day.month,
            day.day,
            hour,
            rng.randint(0, 59),
            rng.randint(0, 59),
            tzinfo=ZoneInfo(_TENANT_ZONE[tenant]),
        )
        return local.astimezone(UTC)

    def pick_needs(self, tenant: str) -> list[tuple[str, str, str, str]]:
        column = _REGION_INDEX[tenant]
        weighted = [
            ((code, reason, phrase, topic), weights[column])
            for code, reason, weights, phrase, topic in NEEDS
        ]
        count = _weighted(self.rng, [(1, 55), (2, 32), (3, 13)])
        chosen: list[tuple[str, str, str, str]] = []
        while len(chosen) < count:
            need = _weighted(self.rng, weighted)
            if need not in chosen:
                chosen.append(need)
        return chosen

    def pick_risk(self, codes: list[str]) -> RiskLevel:
        if "RP-1500.1400-800" in codes:
            return _weighted(
                self.rng, [(RiskLevel.MODERATE, 30), (RiskLevel.HIGH, 50), (RiskLevel.IMMINENT, 20)]
            )
        if any(code.startswith(("RP-", "RX-", "BH-1800.1500")) for code in codes):
            return _weighted(
                self.rng, [(RiskLevel.LOW, 50), (RiskLevel.MODERATE, 40), (RiskLevel.HIGH, 10)]
            )
        return _weighted(self.rng, [(RiskLevel.NONE, 85), (RiskLevel.LOW, 15)])

    def add_contact_record(
        self,
        index: int,
        form_key: str,
        tenant: str,
        channels: tuple[tuple[Channel, int], ...],
        client_share: float,
        hours: str,
    ) -> None:
        rng = self.rng
        tenant_id = self.tenant_ids[tenant]
        record_id = demo_id("contact-record", index)
        worker = self.actor(tenant, "call-taker")
        channel = _weighted(rng, channels)
        started = self.start_time(tenant, hours)
        minutes = {
            Channel.CALL: (3, 25),
            Channel.CHAT: (8, 45),
            Channel.TEXT: (10, 60),
            Channel.EMAIL: (2, 10),
            Channel.WALK_IN: (10, 40),
        }[channel]
        ended = started + timedelta(minutes=rng.randint(*minutes), seconds=rng.randint(0, 59))
        client = (
            rng.choice(self.clients[tenant])
            if self.clients[tenant] and rng.random() < client_share
            else None
        )
        needs = self.pick_needs(tenant)
        codes = [code for code, _, _, _ in needs]
        risk = self.pick_risk(codes)
        city = (
            self.client_city[client["id"]]
            if client
            else (self.pick_city(tenant) if rng.random() < 0.85 else None)
        )
        ctx = _RecordContext(
            tenant=tenant,
            client=client,
            needs=needs,
            risk=risk,
            started_at=started,
            city=city,
            street=f"{rng.randint(100, 4999)} {rng.choice(_STREETS)}",
            household=_weighted(rng, [(1, 30), (2, 22), (3, 18), (4, 15), (5, 9), (6, 4), (8, 2)]),
            age_range=self.age_range(client, started),
        )
        version_id, field_keys = self.form_versions[form_key]
        answers: Row = {}
        for key in field_keys:
            value = self.answer(key, ctx)
            if value is not None:
                answers[key] = value
        self.add(
            ContactRecord,
            {
                "id": record_id,
                "tenant_id": tenant_id,
                "form_version_id": version_id,
                "channel": channel,
                "started_at": started,
                "ended_at": ended,
                "worker_id": worker,
                "client_id": client["id"] if client else None,
                "answers": answers,
                "narrative": None,
                "risk_level": risk,
                "caller_postal_code": city[2] if city else None,
                "caller_county": city[1] if city else None,
                "version": 1,
                "created_at": ended,
                "updated_at": ended,
            },
        )
        record = self.rows[ContactRecord][-1]
        self.event("ContactRecord", record_id, tenant_id, ended, worker)
        for position, code in enumerate(codes):
            self.add(
                ContactRecordNeed,
                {
                    "id": demo_id("contact-record-need", f"{index}:{code}"),
                    "tenant_id": tenant_id,
                    "contact_record_id": record_id,
                    "taxonomy_term_id": self.term_ids[code],
                    "position": position,
                },
            )
        referred_to = self.add_referrals(index, record, ctx, codes)
        record["narrative"] = self.narrative(channel, ctx, referred_to)
        if answers.get("callback_ok") and rng.random() < 0.4:
            self.add_follow_up(index, record, ctx, form_key)
        if tenant == "prairie":
            self.add_queue_entry(index, record, codes, ctx)

    def age_range(self, client: Row | None, at: datetime) -> str:
        if client is None:
            return _weighted(self.rng, _ANONYMOUS_AGE_WEIGHTS)
        age = (at.date() - client["date_of_birth"]).days // 365
        bands = ((18, "Under 18"), (25, "18-24"), (45, "25-44"), (65, "45-64"))
        return next((label for limit, label in bands if age < limit), "65+")

    def answer(self, key: str, ctx: _RecordContext) -> Any:
        rng = self.rng
        _, field_type, _, required, options = FIELDS[key]
        client = ctx.client
        if key == "caller_age_range":
            return ctx.age_range
        if key == "insurance_status":
            if ctx.age_range == "65+":
                return "Medicare"
            if any(code in ("LN-1500", "LV-1600") for code, _, _, _ in ctx.needs):
                return "Uninsured"
            return _weighted(rng, _INSURANCE_WEIGHTS)
        if key == "contact_reason":
            return list(dict.fromkeys(reason for _, reason, _, _ in ctx.needs))
        if key == "household_size":
            return ctx.household
        if key == "caller_name":
            return f"{client['first_name']} {client['last_name']}" if client else None
        if key == "phone_number":
            return client["phone"] if client else None
        if key == "date_of_birth":
            return client["date_of_birth"].isoformat() if client else None
        if key == "address":
            if ctx.city is None or (client is None and rng.random() < 0.7):
                return None
            return f"{ctx.street}, {ctx.city[0]}, {STATE} {ctx.city[2]}"
        if key == "shelter_needed_tonight":
            return any(code.startswith("BH-1800") for code, _, _, _ in ctx.needs)
        if key == "follow_up_date":
            if ctx.risk in (RiskLevel.NONE, RiskLevel.LOW):
                return None
            return (ctx.started_at + timedelta(days=1)).date().isoformat()
        if key == "suicidal_ideation":
            return {
                RiskLevel.NONE: "None",
                RiskLevel.LOW: "None",
                RiskLevel.MODERATE: "Passive",
                RiskLevel.HIGH: "Active without plan",
                RiskLevel.IMMINENT: "Active with plan",
            }[ctx.risk]
        if key == "safety_plan_reviewed":
            return ctx.risk not in (RiskLevel.NONE, RiskLevel.LOW)
        if key == "risk_assessment_notes":
            return {
                RiskLevel.NONE: None,
                RiskLevel.LOW: "No current safety concerns; caller has support from family.",
                RiskLevel.MODERATE: "Passive ideation, no plan or means; protective factors "
                "reviewed and coping strategies discussed.",
                RiskLevel.HIGH: "Active ideation without a plan; safety plan completed and "
                "means restriction discussed. Next-day check-in scheduled.",
                RiskLevel.IMMINENT: "Active ideation with plan and access to means; mobile "
                "crisis team dispatched and stayed on the line until arrival.",
            }[ctx.risk]
        if key == "substance_use":
            if any(code == "RX-8250" for code, _, _, _ in ctx.needs):
                return rng.choice(["Alcohol", "Opioids", "Stimulants", "Cannabis"])
            return "None disclosed" if rng.random() < 0.9 else rng.choice(["Alcohol", "Cannabis"])
        if not required and rng.random() < 0.15:
            return None
        if field_type is FieldType.BOOLEAN:
            return rng.random() < 0.65
        if field_type is FieldType.NUMBER:
            return rng.randint(1, 6)
        if field_type is FieldType.DATE:
            return ctx.started_at.date().isoformat()
        if field_type is FieldType.MULTI_SELECT and options:
            return rng.sample(options, rng.randint(1, 2))
        if field_type is FieldType.SINGLE_SELECT and options:
            return rng.choice(options)
        return None

    def narrative(self, channel: Channel, ctx: _RecordContext, referred_to: list[str]) -> str:
        subject = {
            Channel.CALL: "Caller",
            Channel.CHAT: "Chat visitor",
            Channel.TEXT: "Texter",
            Channel.EMAIL: "Writer",
            Channel.WALK_IN: "Walk-in visitor",
        }[channel]
        text = f"{subject} {ctx.needs[0][2]}. "
        topics = [topic for _, _, _, topic in ctx.needs[1:]]
        if topics:
            text += f"Also asked about {' and '.join(topics)}. "
        if ctx.risk in (RiskLevel.HIGH, RiskLevel.IMMINENT):
            text += "Completed a suicide risk assessment and a safety plan. "
        if referred_to:
            text += (
                f"Referred to {' and '.join(referred_to)} with consent to share contact details."
            )
        else:
            text += "Provided information about community resources."
        return text

    def referral_targets(
        self, tenant: str, code: str, *, statewide: bool = False
    ) -> list[tuple[_SalInfo, int]]:
        """Prairie's shared directory, plus the tenant's own (preferred) but never itself: the
        hand-written services, or (``statewide``) the generated ones."""
        cached = self.targets.get((tenant, code, statewide))
        if cached is not None:
            return cached
        targets: list[tuple[_SalInfo, int]] = []
        self.targets[(tenant, code, statewide)] = targets
        for sal in self.sals:
            if (sal.org.key in self.generated) != statewide:
                continue
            service = next(s for s in sal.org.services if s.key == sal.service_key)
            if code not in service.terms or sal.org.name == _TENANT_NAME[tenant]:
                continue
            if sal.org.tenant == "prairie":
                targets.append((sal, sal.weight))
            elif sal.org.tenant == tenant:
                targets.append((sal, 4))
        return targets

    def add_referrals(
        self, index: int, record: Row, ctx: _RecordContext, codes: list[str]
    ) -> list[str]:
        rng = self.rng
        if rng.random() > 0.62:
            return []
        names: list[str] = []
        for number, code in enumerate(codes[:2]):
            if number == 1 and rng.random() > 0.25:
                break
            targets = self.referral_targets(ctx.tenant, code)
            statewide = self.referral_targets(ctx.tenant, code, statewide=True)
            if statewide and (not targets or rng.random() < STATEWIDE_REFERRAL_SHARE):
                targets = statewide
            if not targets:
                continue
            sal = _weighted(rng, targets)
            names.append(sal.org.name)
            self.add_referral(f"{index}:{number}", record, ctx, sal)
        return names

    def add_referral(
        self,
        key: str,
        record: Row,
        ctx: _RecordContext,
        sal: _SalInfo,
        *,
        rng: random.Random | None = None,
        final: ReferralStatus | None = None,
        created: datetime | None = None,
    ) -> uuid.UUID:
        rng = rng or self.rng
        tenant_id = record["tenant_id"]
        referral_id = demo_id("referral", key)
        referrer = self.actor(ctx.tenant, "call-taker")
        receiver = (
            self.principal_ids[f"{sal.org.partner}-portal"]
            if sal.org.partner
            else self.actor(ctx.tenant, "admin")
        )
        created = created or record["ended_at"]
        age = self.now - created
        if final is None:
            final = _weighted(rng, _RECENT_WEIGHTS if age < timedelta(days=7) else _FINAL_WEIGHTS)
        path = _PATHS[final]
        # The draft and the request happen on the contact; the receiver acts over the next days.
        times = [created]
        if len(path) > 1:
            times.append(created + timedelta(minutes=rng.randint(1, 15)))
        span = min(age - timedelta(hours=1), timedelta(days=rng.randint(3, 30)))
        for _ in path[2:]:
            times.append(times[-1] + span / len(path) * rng.uniform(0.5, 1.0))
        reason = rng.choice(_REASONS[final]) if final in STATUSES_NEEDING_REASON else None
        external_id = None
        if sal.org.partner and final not in (_S.DRAFT, _S.REQUESTED, _S.ENTERED_IN_ERROR):
            external_id = f"{_EXTERNAL_ID_PREFIX[sal.org.partner]}-{rng.randint(10000, 99999)}"
        self.add(
            Referral,
            {
                "id": referral_id,
                "tenant_id": tenant_id,
                "contact_record_id": record["id"],
                "client_id": record["client_id"],
                "service_at_location_id": sal.id,
                "program_id": sal.program_id,
                "status": final,
                "status_reason": reason,
                "external_id": external_id,
                "created_by_id": referrer,
                "version": 1,
                "created_at": created,
                "updated_at": times[-1],
            },
        )
        self.event("Referral", referral_id, tenant_id, created, referrer)
        previous: ReferralStatus | None = None
        for step, (status, changed_at) in enumerate(zip(path, times, strict=True)):
            self.add(
                ReferralStatusChange,
                {
                    "id": demo_id("referral-status-change", f"{key}:{step}"),
                    "tenant_id": tenant_id,
                    "referral_id": referral_id,
                    "from_status": previous,
                    "to_status": status,
                    "reason": reason if status is final and reason else None,
                    "changed_by_id": referrer if status in _SET_BY_REFERRER else receiver,
                    "changed_at": changed_at,
                },
            )
            previous = status
        if final in _OUTCOME_WEIGHTS:
            code = _weighted(rng, _OUTCOME_WEIGHTS[final])
            outcome_id = demo_id("outcome", key)
            reported = times[-1] + timedelta(minutes=rng.randint(5, 120))
            reporter = receiver if sal.org.partner else referrer
            self.add(
                Outcome,
                {
                    "id": outcome_id,
                    "tenant_id": tenant_id,
                    "referral_id": referral_id,
                    "code": code,
                    "note": _OUTCOME_NOTES[code],
                    "outcome_date": reported.date(),
                    "reported_by_id": reporter,
                    "version": 1,
                    "created_at": reported,
                    "updated_at": reported,
                },
            )
            self.event("Outcome", outcome_id, tenant_id, reported, reporter)
        return referral_id

    def add_follow_up(self, index: int, record: Row, ctx: _RecordContext, form_key: str) -> None:
        rng = self.rng
        # Cross-center call-backs: the crisis line hands basic-needs call-backs to Prairie 211,
        # and Prairie 211 asks the crisis line to check in on its higher-risk callers.
        assigned = ctx.tenant
        if ctx.tenant == "lakeside" and rng.random() < 0.4:
            assigned = "prairie"
        elif ctx.tenant == "prairie" and ctx.risk in (
            RiskLevel.MODERATE,
            RiskLevel.HIGH,
            RiskLevel.IMMINENT,
        ):
            assigned = "lakeside"
        assignee = self.actor(assigned, "call-taker")
        due = record["ended_at"] + timedelta(hours=rng.randint(16, 72))
        if due > self.now:
            status = FollowUpStatus.OPEN
        else:
            status = _weighted(
                rng,
                [
                    (FollowUpStatus.COMPLETED, 70),
                    (FollowUpStatus.OPEN, 18),
                    (FollowUpStatus.CANCELLED, 12),
                ],
            )
        completed = (
            due + timedelta(minutes=rng.randint(0, 240))
            if status is FollowUpStatus.COMPLETED
            else None
        )
        if completed is not None and completed > self.now:
            completed = self.now
        if ctx.risk in (RiskLevel.HIGH, RiskLevel.IMMINENT):
            note = _FOLLOW_UP_NOTES[2]
        elif form_key == "prairie-after-hours":
            note = _FOLLOW_UP_NOTES[3]
        else:
            note = rng.choice(_FOLLOW_UP_NOTES)
        self.add(
            FollowUp,
            {
                "id": demo_id("follow-up", index),
                "tenant_id": record["tenant_id"],
                "contact_record_id": record["id"],
                "assigned_tenant_id": self.tenant_ids[assigned],
                "assigned_principal_id": assignee,
                "due_at": due,
                "status": status,
                "note": note,
                "completed_at": completed,
                "completed_by_id": assignee if completed is not None else None,
                "version": 1,
                "created_at": record["ended_at"],
                "updated_at": completed or record["ended_at"],
            },
        )

    def add_queue_entry(
        self, index: int, record: Row, codes: list[str], ctx: _RecordContext
    ) -> None:
        rng = self.rng
        for key, _, _, _, statuses, programs, _, need_codes in QUEUES:
            if not any(code in need_codes for code in codes) or rng.random() > 0.45:
                continue
            status_key, _, canonical = _weighted(
                rng, [(status, _QUEUE_STATUS_WEIGHTS[status[2]]) for status in statuses]
            )
            enqueued: datetime = record["ended_at"]
            age = self.now - enqueued
            assigned_at = removed_at = None
            program_id = None
            referral_id = None
            if canonical in (_S.ACCEPTED, _S.COMPLETED):
                program_id = self.program_ids[rng.choice(programs)]
                assigned_at = enqueued + age * rng.uniform(0.05, 0.5)
                referral_id = self.add_referral(
                    f"queue:{key}:{index}",
                    record,
                    ctx,
                    next(sal for sal in self.sals if sal.program_id == program_id),
                    rng=self.link_rng,  # the main stream stays as it was before entries linked
                    final=canonical,
                    created=assigned_at,
                )
            if canonical is _S.CANCELLED:
                removed_at = enqueued + age * rng.uniform(0.1, 0.9)
            entry_id = demo_id("queue-entry", f"{key}:{index}")
            actor = self.actor("prairie", "call-taker")
            self.add(
                QueueEntry,
                {
                    "id": entry_id,
                    "tenant_id": record["tenant_id"],
                    "queue_id": demo_id("referral-queue", key),
                    "contact_record_id": record["id"],
                    "client_id": record["client_id"],
                    "status_key": status_key,
                    "priority": _weighted(rng, [(0, 50), (1, 30), (2, 15), (3, 5)]),
                    "assigned_program_id": program_id,
                    "assigned_at": assigned_at,
                    "referral_id": referral_id,
                    "enqueued_at": enqueued,
                    "removed_at": removed_at,
                    "removal_reason": rng.choice(_QUEUE_REMOVAL_REASONS) if removed_at else None,
                    "version": 1,
                    "created_at": enqueued,
                    "updated_at": removed_at or assigned_at or enqueued,
                },
            )
            self.event("QueueEntry", entry_id, record["tenant_id"], enqueued, actor)


__all__ = [
    "DEMO_PRINCIPALS",
    "DemoPrincipal",
    "SeedResult",
    "demo_id",
    "demo_principal_keys",
    "is_demo",
    "seed",
]
