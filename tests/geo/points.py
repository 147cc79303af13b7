"""Seeded random points inside, near the edge of, and far outside a region, for the geo tests."""

import math
import random

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6371007.180918475  # H3's sphere, as the geo package uses
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180

LatLon = tuple[float, float]


def destination(lat: float, lon: float, *, distance_m: float, bearing_deg: float) -> LatLon:
    """Return the point `distance_m` from (lat, lon) on the sphere along `bearing_deg`."""
    angle = distance_m / EARTH_RADIUS_M
    lat1, bearing = math.radians(lat), math.radians(bearing_deg)
    lat2 = math.asin(
        math.sin(lat1) * math.cos(angle) + math.cos(lat1) * math.sin(angle) * math.cos(bearing)
    )
    dlon = math.atan2(
        math.sin(bearing) * math.sin(angle) * math.cos(lat1),
        math.cos(angle) - math.sin(lat1) * math.sin(lat2),
    )
    return math.degrees(lat2), lon + math.degrees(dlon)


def shape_of(geometry: dict) -> Polygon | MultiPolygon:
    """Return the shapely geometry of a GeoJSON Polygon or MultiPolygon, prepared for speed."""
    shape = shapely.geometry.shape(geometry)
    shapely.prepare(shape)
    return shape  # type: ignore[return-value]


def _in_metres(geometry: BaseGeometry, lat0: float) -> BaseGeometry:
    """Project lon/lat to local metres (equirectangular at lat0): good to 0.1% over 100 km."""
    scale_x = METRES_PER_DEGREE * math.cos(math.radians(lat0))
    return shapely.transform(geometry, lambda xy: xy * [scale_x, METRES_PER_DEGREE])


def points_inside(shape: BaseGeometry, count: int, rng: random.Random) -> list[LatLon]:
    """Return `count` points strictly inside `shape`, uniform in lon/lat within each part."""
    parts = list(getattr(shape, "geoms", [shape]))  # sampling each part's box stays quick
    points: list[LatLon] = []
    while len(points) < count:
        west, south, east, north = rng.choice(parts).bounds
        lon, lat = rng.uniform(west, east), rng.uniform(south, north)
        if shape.contains(Point(lon, lat)):
            points.append((lat, lon))
    return points


def points_near_edge_inside(
    shape: Polygon | MultiPolygon,
    count: int,
    rng: random.Random,
    *,
    min_m: float = 1.0,
    max_m: float = 10.0,
) -> list[LatLon]:
    """Return `count` points inside `shape`, each min_m..max_m from a random edge point."""
    parts = list(shape.geoms) if isinstance(shape, MultiPolygon) else [shape]
    rings = [list(ring.coords) for part in parts for ring in (part.exterior, *part.interiors)]
    points: list[LatLon] = []
    while len(points) < count:
        coords = rng.choice(rings)
        index = rng.randrange(len(coords) - 1)
        (lon1, lat1), (lon2, lat2) = coords[index], coords[index + 1]
        t = rng.random()
        lon, lat = lon1 + t * (lon2 - lon1), lat1 + t * (lat2 - lat1)
        # The edge's unit normal in local metres, then back to degrees.
        cos_lat = math.cos(math.radians(lat))
        dx, dy = (lon2 - lon1) * cos_lat, lat2 - lat1
        length = math.hypot(dx, dy)
        nx, ny = -dy / length, dx / length
        offset_deg = rng.uniform(min_m, max_m) / METRES_PER_DEGREE
        for side in (1, -1):
            candidate = Point(lon + side * nx * offset_deg / cos_lat, lat + side * ny * offset_deg)
            if shape.contains(candidate):
                points.append((candidate.y, candidate.x))
                break
    return points


def points_far_outside(
    shape: BaseGeometry,
    count: int,
    rng: random.Random,
    *,
    min_m: float = 1000.0,
    margin_m: float = 5000.0,
    within: BaseGeometry | None = None,
) -> list[LatLon]:
    """Return `count` points at least `min_m` from `shape` (optionally inside `within`)."""
    lat0 = shape.centroid.y
    in_metres = _in_metres(shape, lat0)
    area = within if within is not None else shape
    west, south, east, north = area.bounds
    pad_lat = margin_m / METRES_PER_DEGREE
    pad_lon = pad_lat / math.cos(math.radians(lat0))
    points: list[LatLon] = []
    while len(points) < count:
        lon = rng.uniform(west - pad_lon, east + pad_lon)
        lat = rng.uniform(south - pad_lat, north + pad_lat)
        point = Point(lon, lat)
        if within is not None and not within.contains(point):
            continue
        if _in_metres(point, lat0).distance(in_metres) >= min_m:
            points.append((lat, lon))
    return points
