"""The statewide part of the demo directory: what ``seed --scale N`` adds beyond scale 1.

Scale 1 is the hand-written network (33 services). Every further step adds
``SERVICES_PER_STEP`` generated services in generated towns: food pantries, community action
agencies, health centers, shelters, legal aid and the like, each with one to three locations
(address, front-desk phone, opening hours), an intake phone, languages, service areas and the
AIRS/211 taxonomy terms of what it does. Names, streets and hours are drawn from a
``random.Random`` seeded with ``RANDOM_SEED``, so the same scale gives the same directory.

Mostly Prairie 211's shared directory; towns in Lakeside's and Riverbend's regions are now and
then kept by those tenants, as their own small directories are.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sharegraph.demo.network import (
    BUSINESS_HOURS,
    EVERY_DAY,
    OPEN_24_7,
    RANDOM_SEED,
    WEEKDAYS,
    DirLocation,
    DirOrganization,
    DirService,
)

SERVICES_PER_STEP = 150
_T = TypeVar("_T")
# As network.CITIES: name, county, postal code, latitude, longitude, region.
City = tuple[str, str, str, float, float, str]

# region: (postal prefix, latitude range, longitude range, weight, tenant's own share)
_REGIONS: dict[str, tuple[str, tuple[float, float], tuple[float, float], int, float]] = {
    "prairie": ("51", (40.6, 43.4), (-96.4, -91.2), 75, 1.0),
    "lakeside": ("52", (42.6, 43.4), (-95.6, -94.6), 10, 0.3),
    "riverbend": ("69", (40.2, 42.9), (-104.0, -100.2), 15, 0.4),
}
_TOWN_STARTS = [
    "Oak",
    "Maple",
    "Elm",
    "Cedar",
    "Ash",
    "Willow",
    "Pine",
    "Birch",
    "Walnut",
    "Hickory",
    "Clear",
    "Silver",
    "Spring",
    "Stone",
    "Red",
    "White",
    "Black",
    "Green",
    "Mill",
    "Fair",
    "Prairie",
    "Sun",
    "Wolf",
    "Bear",
    "Eagle",
    "Fox",
    "Deer",
    "Buffalo",
    "Clay",
    "Iron",
]
_TOWN_ENDS = [
    "ton",
    "ville",
    "field",
    "wood",
    " Falls",
    " Grove",
    " Creek",
    " Center",
    " City",
    " Ridge",
    "burg",
    " Junction",
    " Hill",
    " Valley",
    " Springs",
    "dale",
    "ford",
    " Lake",
    " Point",
]
_COUNTY_NAMES = [
    "Adair",
    "Benton",
    "Calhoun",
    "Dallas",
    "Emmet",
    "Franklin",
    "Grundy",
    "Hardin",
    "Ida",
    "Jasper",
    "Kossuth",
    "Lyon",
    "Madison",
    "Nodaway",
    "Page",
    "Ringgold",
    "Shelby",
    "Tama",
    "Union",
    "Wayne",
    "Wright",
    "Keith",
    "Lincoln",
    "Logan",
    "Morrill",
    "Garden",
    "Banner",
    "Custer",
    "Grant",
    "Hooker",
    "Thomas",
    "Arthur",
    "McPherson",
    "Perkins",
    "Chase",
]
_STREETS = [
    "Main St",
    "1st Ave",
    "2nd St",
    "Broadway",
    "Church St",
    "Elm St",
    "Park Ave",
    "Market St",
    "Mill Rd",
    "River Rd",
    "Depot St",
    "College Ave",
    "Jefferson St",
    "Washington Ave",
    "Jackson St",
    "Court Ave",
    "Commercial St",
    "Franklin St",
    "Lincoln Hwy",
    "Water St",
]
_SURNAMES = [
    "Anderson",
    "Bauer",
    "Christensen",
    "Dvorak",
    "Eriksen",
    "Fischer",
    "Gutierrez",
    "Hansen",
    "Iverson",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Meyer",
    "Nguyen",
    "Olson",
    "Petersen",
    "Quintero",
    "Rasmussen",
    "Schmidt",
    "Thorson",
    "Vasquez",
    "Wagner",
    "Yoder",
    "Zimmerman",
]
_SAINTS = ["Mark", "Paul", "John", "Mary", "Joseph", "Luke", "Anne", "Vincent", "Francis"]
_HOURS: list[tuple[tuple[str, str, str], int]] = [
    (BUSINESS_HOURS, 50),
    ((WEEKDAYS, "08:00", "16:30"), 20),
    (("MO,WE,FR", "10:00", "14:00"), 10),
    (("TU,TH", "13:00", "19:00"), 8),
    (("SA", "09:00", "12:00"), 4),
    ((EVERY_DAY, "11:00", "13:00"), 4),
    (OPEN_24_7, 4),
]
_LANGUAGE_SETS: list[tuple[tuple[str, ...], int]] = [
    (("en",), 35),
    (("en", "es"), 45),
    (("en", "es", "vi"), 8),
    (("en", "so", "ar"), 6),
    (("en", "es", "so"), 6),
]

# (organization name pattern, description, services: (name, description, terms, eligibility))
_Kind = tuple[str, str, Sequence[tuple[str, str, tuple[str, ...], str | None]]]
_KINDS: list[tuple[_Kind, int]] = [
    (
        (
            "{town} Community Food Pantry",
            "A volunteer food pantry serving {town} and the surrounding farm country.",
            [
                (
                    "Emergency Food Boxes",
                    "A three-day supply of groceries for each household member.",
                    ("BD-1800.2000", "BD-1800"),
                    "One visit per household per month.",
                ),
                (
                    "Fresh Produce Market",
                    "Free fruit and vegetables from local growers, choose what you need.",
                    ("BD-1800.2000",),
                    None,
                ),
                (
                    "SNAP Application Help",
                    "Help applying for or renewing SNAP food benefits.",
                    ("NL-6000.2000",),
                    None,
                ),
                (
                    "Weekend Backpacks for Kids",
                    "Kid-friendly food sent home with students on Fridays during the school year.",
                    ("BD-1800",),
                    "Children in grades K-8.",
                ),
            ],
        ),
        24,
    ),
    (
        (
            "{county} Community Action Agency",
            "Anti-poverty programs for low-income households in {county} County.",
            [
                (
                    "Rent Assistance",
                    "One-time help with past-due rent to prevent eviction.",
                    ("BH-3800.7000",),
                    "Households at or below 200% of the poverty level.",
                ),
                (
                    "Security Deposit Assistance",
                    "Help with a first month's rent or deposit.",
                    ("BH-3800.7250",),
                    None,
                ),
                (
                    "Energy Assistance (LIHEAP)",
                    "Help paying heating and electric bills and avoiding disconnection.",
                    ("BV-8900.9300",),
                    "Income-eligible households.",
                ),
                (
                    "Transportation Vouchers",
                    "Gas cards and bus passes for work and medical trips.",
                    ("BT-8300", "BT-8300.1000"),
                    None,
                ),
                (
                    "Commodity Food Distribution",
                    "Monthly USDA commodity food boxes.",
                    ("BD-1800.2000",),
                    "Seniors 60 and older.",
                ),
            ],
        ),
        18,
    ),
    (
        (
            "{county} Community Health Center",
            "A federally qualified health center with a sliding fee scale.",
            [
                (
                    "Primary Care Clinic",
                    "Checkups, sick visits and chronic disease care for all ages, insured or not.",
                    ("LN-1500",),
                    None,
                ),
                (
                    "Dental Clinic",
                    "Cleanings, fillings and extractions on a sliding fee scale.",
                    ("LV-1600",),
                    None,
                ),
                (
                    "Behavioral Health Counseling",
                    "Counseling for depression, anxiety and substance use.",
                    ("RX-8250",),
                    None,
                ),
            ],
        ),
        12,
    ),
    (
        (
            "{town} Rescue Mission",
            "Emergency shelter, meals and recovery programs in {town}.",
            [
                (
                    "Emergency Overnight Shelter",
                    "Beds, showers and breakfast for adults experiencing homelessness.",
                    ("BH-1800.8500",),
                    "Adults 18 and older.",
                ),
                (
                    "Community Meals",
                    "A hot lunch and dinner every day, no questions asked.",
                    ("BD-5000.8300", "BD-5000"),
                    None,
                ),
                (
                    "Addiction Recovery Program",
                    "A residential recovery program with counseling.",
                    ("RX-8250",),
                    "Men and women 18 and older.",
                ),
            ],
        ),
        10,
    ),
    (
        (
            "St. {saint}'s Community Kitchen",
            "A church-run meal program open to everyone.",
            [
                (
                    "Free Hot Meals",
                    "A hot meal served at noon, take-out boxes available.",
                    ("BD-5000.8300",),
                    None,
                ),
                (
                    "Food Shelf",
                    "Groceries for households in need, once a month.",
                    ("BD-1800.2000",),
                    None,
                ),
            ],
        ),
        10,
    ),
    (
        (
            "{county} Legal Aid",
            "Free civil legal help for low-income residents of {county} County.",
            [
                (
                    "Eviction Defense",
                    "Advice and representation for tenants facing eviction.",
                    ("FT-3200",),
                    "Tenants with an eviction notice or hearing.",
                ),
                (
                    "Lawyer Referral",
                    "A 30-minute consultation with a local attorney for a small fee.",
                    ("FT-4800",),
                    None,
                ),
            ],
        ),
        7,
    ),
    (
        (
            "{surname} House Crisis Services",
            "Crisis support, safe shelter and advocacy for survivors of domestic violence.",
            [
                (
                    "Domestic Violence Shelter",
                    "A confidential shelter for survivors and their children.",
                    ("BH-1800.1500-100",),
                    None,
                ),
                (
                    "24-Hour Crisis Line",
                    "Call or text any time to talk with a trained advocate.",
                    ("RP-1500.1400", "RP-1500"),
                    None,
                ),
                ("Mobile Crisis Response", "A crisis team that comes to you.", ("RP-1500",), None),
            ],
        ),
        7,
    ),
    (
        (
            "{town} Area Transit",
            "Public transportation for {town} and rural {county} County.",
            [
                (
                    "Reduced Fare Bus Passes",
                    "Half-price monthly passes.",
                    ("BT-8300.1000",),
                    "Seniors, people with disabilities and low-income riders.",
                ),
                (
                    "Medical Ride Program",
                    "Door-to-door rides to medical appointments.",
                    ("BT-8300",),
                    None,
                ),
            ],
        ),
        6,
    ),
    (
        (
            "{surname} Family Resource Center",
            "A one-stop center helping families find food, housing and benefits.",
            [
                (
                    "Benefits Enrollment",
                    "Help applying for SNAP, Medicaid and other benefits.",
                    ("NL-6000.2000",),
                    None,
                ),
                (
                    "Housing Navigation",
                    "Help finding and keeping an affordable place to live.",
                    ("BH-3800.7000",),
                    None,
                ),
                (
                    "Family Food Pantry",
                    "Groceries and diapers for families with children.",
                    ("BD-1800.2000",),
                    "Families with children under 18.",
                ),
            ],
        ),
        6,
    ),
]


@dataclass(frozen=True)
class Statewide:
    organizations: list[DirOrganization]
    cities: dict[str, City]


def statewide(scale: int) -> Statewide:
    """The generated organizations and towns for ``scale`` (none at scale 1)."""
    rng = random.Random(f"{RANDOM_SEED}:statewide")
    steps = scale - 1
    towns = _towns(rng, town_count(scale))
    organizations: list[DirOrganization] = []
    names: set[str] = set()
    for step in range(steps):
        services = 0
        while services < SERVICES_PER_STEP:
            room = SERVICES_PER_STEP - services
            org = _organization(rng, f"sw{step}-{len(organizations)}", towns, room, names)
            organizations.append(org)
            services += len(org.services)
    return Statewide(organizations, dict(towns))


# Distinct town names the generator can make (start x end, and each with one of five
# prefixes) are 3,420; a state's incorporated places number in the hundreds to low thousands.
MAX_TOWNS = 2_000


def town_count(scale: int) -> int:
    """Towns of the generated directory: four per step, at most :data:`MAX_TOWNS`."""
    steps = scale - 1
    return min(max(8, 4 * steps), MAX_TOWNS) if steps else 0


def _weighted(rng: random.Random, weighted: Sequence[tuple[_T, int]]) -> _T:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _towns(rng: random.Random, count: int) -> list[tuple[str, City]]:
    names: set[str] = set()
    counties = [f"{name} County" for name in _COUNTY_NAMES]
    towns: list[tuple[str, City]] = []
    while len(towns) < count:
        name = rng.choice(_TOWN_STARTS) + rng.choice(_TOWN_ENDS)
        if name in names:
            name = f"{rng.choice(['North', 'South', 'East', 'West', 'New'])} {name}"
            if name in names:
                continue
        names.add(name)
        region = _weighted(rng, [(r, spec[3]) for r, spec in _REGIONS.items()])
        prefix, (lat0, lat1), (lon0, lon1), _, _ = _REGIONS[region]
        city: City = (
            name,
            rng.choice(counties),
            f"{prefix}{rng.randint(0, 999):03d}",
            round(rng.uniform(lat0, lat1), 4),
            round(rng.uniform(lon0, lon1), 4),
            region,
        )
        towns.append((f"town-{len(towns)}", city))
    return towns


def _organization(
    rng: random.Random, key: str, towns: list[tuple[str, City]], room: int, names: set[str]
) -> DirOrganization:
    pattern, description, offered = _weighted(rng, _KINDS)
    town_key, town = rng.choice(towns)
    region = town[5]
    tenant = region if rng.random() < _REGIONS[region][4] else "prairie"
    county = town[1].removesuffix(" County")
    words = {
        "town": town[0],
        "county": county,
        "surname": rng.choice(_SURNAMES),
        "saint": rng.choice(_SAINTS),
    }
    name = pattern.format(**words)
    if name in names:  # a second agency of a county, a second St. Mark's: name its town
        name = f"{name}, {town[0]}"
    if name in names:
        name = f"{name} #{sum(1 for n in names if n.startswith(name)) + 1}"
    names.add(name)
    nearby = [k for k, city in towns if city[5] == region and k != town_key]
    more = _weighted(rng, [(0, 60), (1, 30), (2, 10)])
    places = [town_key, *rng.sample(nearby, min(len(nearby), more))]
    city_of = dict(towns)
    locations = tuple(
        DirLocation(
            f"{key}-loc{n}",
            name if n == 0 else f"{name}, {city_of[place][0]}",
            f"{rng.randint(100, 2999)} {rng.choice(_STREETS)}",
            place,
            _hours(rng),
        )
        for n, place in enumerate(places)
    )
    count = min(room, len(offered), rng.randint(2, len(offered)))
    chosen = rng.sample(list(offered), count)
    languages = _weighted(rng, _LANGUAGE_SETS)
    services = tuple(
        DirService(
            f"{key}-svc{n}",
            service_name,
            service_description,
            terms,
            hours=_hours(rng) if rng.random() < 0.3 else None,
            languages=languages,
            eligibility=eligibility,
        )
        for n, (service_name, service_description, terms, eligibility) in enumerate(chosen)
    )
    slug = "".join(c for c in name.lower() if c.isalnum())[:40]
    return DirOrganization(
        key,
        tenant,
        name,
        description.format(**words),
        f"https://{slug}.example.org",
        rng.randint(1948, 2019),
        locations,
        services,
    )


def _hours(rng: random.Random) -> tuple[str, str, str]:
    return _weighted(rng, _HOURS)
