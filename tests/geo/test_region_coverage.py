"""No one inside a region is missed; no one far outside is included (DESIGN.md decision 2)."""

import random

import h3.api.basic_int as h3
import pytest
from shapely.geometry import Point, Polygon

from backend.geo.cells import cell_for_point
from backend.geo.regions import (
    CompiledRegion,
    _pieces,
    circle_ring,
    compile_circle,
    compile_geojson,
)
from tests.geo.points import (
    LatLon,
    destination,
    points_far_outside,
    points_inside,
    points_near_edge_inside,
    shape_of,
)

MAX_AREA_KM2 = 20_000.0
MAX_RADIUS_M = 100_000.0

# Central Paris, roughly the Boulevard Périphérique, with a concave notch in the east.
PARIS = {
    "type": "Polygon",
    "coordinates": [
        [
            [2.2795, 48.8350],
            [2.3300, 48.8160],
            [2.3950, 48.8260],
            [2.4150, 48.8500],
            [2.3700, 48.8560],
            [2.4080, 48.8800],
            [2.3900, 48.9000],
            [2.3200, 48.9010],
            [2.2550, 48.8790],
            [2.2450, 48.8500],
            [2.2795, 48.8350],
        ]
    ],
}


def _square(lat: float, lon: float, half_deg: float) -> list[list[float]]:
    return [
        [lon - half_deg, lat - half_deg],
        [lon + half_deg, lat - half_deg],
        [lon + half_deg, lat + half_deg],
        [lon - half_deg, lat + half_deg],
        [lon - half_deg, lat - half_deg],
    ]


# Lyon, about 10 km across, with a 4 km hole in the middle.
WITH_HOLE = {
    "type": "Polygon",
    "coordinates": [_square(45.76, 4.84, 0.05), _square(45.76, 4.84, 0.02)[::-1]],
}

# Two parts 300 km apart: Lille and Reims.
TWO_PARTS = {
    "type": "MultiPolygon",
    "coordinates": [[_square(50.63, 3.06, 0.03)], [_square(49.25, 4.03, 0.02)]],
}

# Around the res-0 pentagon centred in the Norwegian Sea: H3 is most distorted there.
_PENTAGON = next(p for p in h3.get_pentagons(0) if 55 < h3.cell_to_latlng(p)[0] < 70)
NEAR_PENTAGON = {
    "type": "Polygon",
    "coordinates": [_square(*h3.cell_to_latlng(_PENTAGON), 0.15)],
}


def _star(lat: float, lon: float, points: int) -> list[list[float]]:
    """Return a closed ring zig-zagging between 3 km and 6 km from the centre."""
    ring = [
        [
            destination(
                lat, lon, distance_m=6000 if k % 2 else 3000, bearing_deg=-360 * k / points
            )[i]
            for i in (1, 0)
        ]
        for k in range(points)
    ]
    return [*ring, ring[0]]


# Many vertices, so covering cuts it into pieces (regions._pieces): the cover must not change.
JAGGED_STAR = {"type": "Polygon", "coordinates": [_star(48.8566, 2.3522, 2500)]}

POLYGONS = {
    "paris": PARIS,
    "jagged_star": JAGGED_STAR,
    "with_hole": WITH_HOLE,
    "two_parts": TWO_PARTS,
    "near_pentagon": NEAR_PENTAGON,
}

CIRCLES = {
    "paris_2km": (48.8566, 2.3522, 2_000.0),
    "paris_5km": (48.8566, 2.3522, 5_000.0),
    "tromso_20km": (69.6492, 18.9553, 20_000.0),
    "quito_50km": (-0.1807, -78.4678, 50_000.0),
    "small_150m": (51.5007, -0.1246, 150.0),
}


def _uncovered(region: CompiledRegion, points: list[LatLon]) -> list[LatLon]:
    return [p for p in points if not region.contains_cell(cell_for_point(lat=p[0], lon=p[1]))]


def _covered(region: CompiledRegion, points: list[LatLon]) -> list[LatLon]:
    return [p for p in points if region.contains_cell(cell_for_point(lat=p[0], lon=p[1]))]


@pytest.mark.parametrize("name", POLYGONS)
def test_every_point_inside_a_polygon_is_covered(name: str) -> None:
    geometry = POLYGONS[name]
    region = compile_geojson(geometry, max_area_km2=MAX_AREA_KM2)
    shape = shape_of(geometry)

    inside = points_inside(shape, 3000, random.Random(f"inside {name}"))

    assert _uncovered(region, inside) == []


@pytest.mark.parametrize("name", POLYGONS)
def test_every_point_one_to_ten_metres_inside_the_edge_is_covered(name: str) -> None:
    geometry = POLYGONS[name]
    region = compile_geojson(geometry, max_area_km2=MAX_AREA_KM2)
    shape = shape_of(geometry)

    near_edge = points_near_edge_inside(shape, 3000, random.Random(f"edge {name}"))

    assert _uncovered(region, near_edge) == []


@pytest.mark.parametrize("name", POLYGONS)
def test_no_point_a_kilometre_outside_a_polygon_is_covered(name: str) -> None:
    geometry = POLYGONS[name]
    region = compile_geojson(geometry, max_area_km2=MAX_AREA_KM2)
    shape = shape_of(geometry)

    outside = points_far_outside(shape, 3000, random.Random(f"outside {name}"))

    assert _covered(region, outside) == []


def test_no_point_deep_inside_a_hole_is_covered() -> None:
    region = compile_geojson(WITH_HOLE, max_area_km2=MAX_AREA_KM2)
    hole = Polygon(WITH_HOLE["coordinates"][1])

    in_hole = points_far_outside(
        shape_of(WITH_HOLE), 1000, random.Random("hole"), within=hole, margin_m=0
    )

    assert _covered(region, in_hole) == []


def test_each_part_of_a_multipolygon_is_covered_and_the_gap_between_is_not() -> None:
    region = compile_geojson(TWO_PARTS, max_area_km2=MAX_AREA_KM2)
    rng = random.Random("parts")
    lille, reims = (Polygon(part[0]) for part in TWO_PARTS["coordinates"])
    between = [(49.94, 3.55), (50.3, 3.3), (49.6, 3.8)]

    assert _uncovered(region, points_inside(lille, 1000, rng)) == []
    assert _uncovered(region, points_inside(reims, 1000, rng)) == []
    assert _covered(region, between) == []


@pytest.mark.parametrize("name", POLYGONS)
def test_the_cover_is_exactly_the_res9_cells_overlapping_the_polygon(name: str) -> None:
    geometry = POLYGONS[name]
    region = compile_geojson(geometry, max_area_km2=MAX_AREA_KM2)
    shape = shape_of(geometry)
    parts = list(getattr(shape, "geoms", [shape]))
    overlapping: set[int] = set()
    for part in parts:
        loops = [
            [(lat, lon) for lon, lat in ring.coords] for ring in (part.exterior, *part.interiors)
        ]
        overlapping.update(
            h3.h3shape_to_cells_experimental(h3.LatLngPoly(*loops), 9, contain="overlap")
        )

    # The ranges hold cell_count valid cells, and every overlapping cell is among them.
    assert region.cell_count == len(overlapping)
    assert all(region.contains_cell(cell) for cell in overlapping)
    assert len(region.ranges) < len(overlapping) / 3  # compacting and merging did work


def test_the_jagged_star_is_covered_in_several_pieces() -> None:
    # Keeps the tests above meaningful for the piecewise path.
    assert len(list(_pieces(shape_of(JAGGED_STAR)))) >= 2


def test_a_polygon_smaller_than_a_cell_is_covered() -> None:
    tiny = {"type": "Polygon", "coordinates": [_square(48.8584, 2.2945, 0.00005)]}
    region = compile_geojson(tiny, max_area_km2=MAX_AREA_KM2)

    assert region.cell_count >= 1
    assert region.contains_cell(cell_for_point(lat=48.8584, lon=2.2945))


def _circle_points(
    lat: float, lon: float, rng: random.Random, count: int, low_m: float, high_m: float
) -> list[LatLon]:
    return [
        destination(
            lat, lon, distance_m=rng.uniform(low_m, high_m), bearing_deg=rng.uniform(0, 360)
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize("name", CIRCLES)
def test_every_point_inside_a_circle_is_covered(name: str) -> None:
    lat, lon, radius = CIRCLES[name]
    region = compile_circle(
        lat=lat, lon=lon, radius_m=radius, max_radius_m=MAX_RADIUS_M, max_area_km2=MAX_AREA_KM2
    )
    rng = random.Random(f"circle {name}")

    inside = _circle_points(lat, lon, rng, 2000, 0, radius)
    near_rim = _circle_points(lat, lon, rng, 2000, radius - 10, radius - 0.5)

    assert all(h3.great_circle_distance((lat, lon), p, unit="m") < radius for p in near_rim)
    assert _uncovered(region, inside) == []
    assert _uncovered(region, near_rim) == []


@pytest.mark.parametrize("name", CIRCLES)
def test_no_point_a_kilometre_outside_a_circle_is_covered(name: str) -> None:
    lat, lon, radius = CIRCLES[name]
    region = compile_circle(
        lat=lat, lon=lon, radius_m=radius, max_radius_m=MAX_RADIUS_M, max_area_km2=MAX_AREA_KM2
    )

    outside = _circle_points(lat, lon, random.Random(name), 2000, radius + 1000, radius + 5000)

    assert _covered(region, outside) == []


@pytest.mark.parametrize("name", CIRCLES)
def test_the_polygon_standing_for_a_circle_contains_the_whole_circle(name: str) -> None:
    lat, lon, radius = CIRCLES[name]
    polygon = Polygon(circle_ring(lat=lat, lon=lon, radius_m=radius))

    # One point every 0.1° of bearing falls between the polygon's vertices too.
    rim = [
        destination(lat, lon, distance_m=radius, bearing_deg=tenth / 10) for tenth in range(3600)
    ]

    assert polygon.is_valid
    assert all(polygon.contains(Point(p_lon, p_lat)) for p_lat, p_lon in rim)
