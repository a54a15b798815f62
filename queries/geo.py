"""Distance filters: a bounding box the indexes can use, then the great-circle distance."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import ColumnElement, and_, func

from sharegraph.errors import BadUserInput

EARTH_RADIUS_KM = 6371.0088


def validate(latitude: float, longitude: float, radius_km: float) -> None:
    if not -90 <= latitude <= 90:
        raise BadUserInput("`near.latitude` must be between -90 and 90", reason="BAD_NEAR")
    if not -180 <= longitude <= 180:
        raise BadUserInput("`near.longitude` must be between -180 and 180", reason="BAD_NEAR")
    if not 0 < radius_km <= 1000:
        raise BadUserInput("`near.radiusKm` must be above 0 and at most 1000", reason="BAD_NEAR")


def within(
    lat_column: Any,
    lon_column: Any,
    latitude: float,
    longitude: float,
    radius_km: float,
    dialect: str,
) -> ColumnElement[bool]:
    validate(latitude, longitude, radius_km)
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    cos_lat = max(math.cos(math.radians(latitude)), 1e-6)
    dlon = min(180.0, dlat / cos_lat)
    box = and_(
        lat_column.between(latitude - dlat, latitude + dlat),
        lon_column.between(longitude - dlon, longitude + dlon),
    )
    if dialect == "postgresql":
        p1, l1 = func.radians(lat_column), func.radians(lon_column)
        p2, l2 = math.radians(latitude), math.radians(longitude)
        haversine = func.power(func.sin((p1 - p2) / 2), 2) + func.cos(p1) * math.cos(
            p2
        ) * func.power(func.sin((l1 - l2) / 2), 2)
        distance = 2 * EARTH_RADIUS_KM * func.asin(func.least(1.0, func.sqrt(haversine)))
    else:
        distance = func.sg_distance_km(lat_column, lon_column, latitude, longitude)
    return and_(box, distance <= radius_km)
