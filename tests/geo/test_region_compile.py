"""What a compiled region holds: normalised geometry, area, cell count and summary."""

import math

import h3.api.basic_int as h3
import pytest

from backend.geo.cells import cell_for_point
from backend.geo.regions import (
    EARTH_RADIUS_KM,
    compile_circle,
    compile_geojson,
    compile_region,
)

MAX_AREA_KM2 = 20_000.0
MAX_RADIUS_M = 50_000.0

# Clockwise on purpose, with an altitude and integer-valued numbers.
CLOCKWISE_SQUARE = [[2, 48], [2, 48.1], [2.1, 48.1, 35], [2.1, 48], [2, 48]]


def test_polygon_is_normalised_to_2d_floats_with_the_exterior_counter_clockwise() -> None:
    region = compile_geojson(
        {"type": "Polygon", "coordinates": [CLOCKWISE_SQUARE]}, max_area_km2=MAX_AREA_KM2
    )

    assert region.geometry == {
        "type": "Polygon",
        "coordinates": [[[2.0, 48.0], [2.1, 48.0], [2.1, 48.1], [2.0, 48.1], [2.0, 48.0]]],
    }


def test_a_feature_is_unwrapped_to_its_geometry() -> None:
    feature = {
        "type": "Feature",
        "properties": {"name": "Paris"},
        "geometry": {"type": "MultiPolygon", "coordinates": [[CLOCKWISE_SQUARE]]},
    }

    region = compile_geojson(feature, max_area_km2=MAX_AREA_KM2)

    assert region.geometry["type"] == "MultiPolygon"
    assert len(region.geometry["coordinates"]) == 1
    assert region.summary.startswith("MultiPolygon, ")


def test_area_is_the_equal_area_projection_of_the_polygon() -> None:
    region = compile_geojson(
        {"type": "Polygon", "coordinates": [CLOCKWISE_SQUARE]}, max_area_km2=MAX_AREA_KM2
    )
    # A lon/lat rectangle's area on the sphere: R² · Δλ · (sin φ2 - sin φ1).
    exact = (
        EARTH_RADIUS_KM**2
        * math.radians(0.1)
        * (math.sin(math.radians(48.1)) - math.sin(math.radians(48)))
    )

    assert region.area_km2 == pytest.approx(exact, rel=1e-9)
    assert region.summary == f"Polygon, {exact:.1f} km²"


def test_holes_are_taken_out_of_the_area() -> None:
    hole = [[2.02, 48.02], [2.04, 48.02], [2.04, 48.04], [2.02, 48.04], [2.02, 48.02]]
    solid = compile_geojson(
        {"type": "Polygon", "coordinates": [CLOCKWISE_SQUARE]}, max_area_km2=MAX_AREA_KM2
    )
    holed = compile_geojson(
        {"type": "Polygon", "coordinates": [CLOCKWISE_SQUARE, hole]}, max_area_km2=MAX_AREA_KM2
    )

    assert holed.area_km2 == pytest.approx(solid.area_km2 * 0.96, rel=1e-3)
    assert holed.cell_count < solid.cell_count


def test_a_multipolygon_summary_names_its_parts() -> None:
    east = [[[3.0, 48.0], [3.1, 48.0], [3.1, 48.1], [3.0, 48.0]]]
    region = compile_geojson(
        {"type": "MultiPolygon", "coordinates": [[CLOCKWISE_SQUARE], east]},
        max_area_km2=MAX_AREA_KM2,
    )

    assert region.summary.startswith("MultiPolygon (2 parts), ")


def test_cell_count_matches_the_area_in_res9_cells() -> None:
    region = compile_geojson(
        {"type": "Polygon", "coordinates": [CLOCKWISE_SQUARE]}, max_area_km2=MAX_AREA_KM2
    )
    cell_here = h3.latlng_to_cell(48.05, 2.05, 9)
    cells_in_area = region.area_km2 / h3.cell_area(cell_here, unit="km^2")

    # Overlap mode adds the ring of edge cells (about 140 here) to the area's 880.
    assert cells_in_area < region.cell_count < cells_in_area * 1.2


def test_ranges_are_sorted_disjoint_and_not_adjacent() -> None:
    region = compile_geojson(
        {"type": "Polygon", "coordinates": [CLOCKWISE_SQUARE]}, max_area_km2=MAX_AREA_KM2
    )

    assert all(lo <= hi for lo, hi in region.ranges)
    assert all(a[1] + 1 < b[0] for a, b in zip(region.ranges, region.ranges[1:], strict=False))


def test_circle_keeps_its_centre_and_radius_not_the_polygon() -> None:
    region = compile_circle(
        lat=48.8566, lon=2.3522, radius_m=2000, max_radius_m=MAX_RADIUS_M, max_area_km2=100
    )

    assert region.geometry == {
        "type": "Circle",
        "coordinates": [2.3522, 48.8566],
        "radius_m": 2000.0,
    }
    assert region.summary == "Circle 2.0 km around 48.8566, 2.3522"
    assert region.area_km2 == pytest.approx(math.pi * 2.0**2, rel=1e-6)
    assert region.contains_cell(cell_for_point(lat=48.8566, lon=2.3522))


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Polygon", "coordinates": [CLOCKWISE_SQUARE]},
        {"type": "Circle", "coordinates": [2.3522, 48.8566], "radius_m": 1500},
    ],
    ids=["polygon", "circle"],
)
def test_a_stored_geometry_compiles_again_to_the_same_region(geometry: dict) -> None:
    first = compile_region(geometry, max_area_km2=MAX_AREA_KM2, max_radius_m=MAX_RADIUS_M)

    again = compile_region(first.geometry, max_area_km2=MAX_AREA_KM2, max_radius_m=MAX_RADIUS_M)

    assert again == first
