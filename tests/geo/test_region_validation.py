"""Bad regions are refused with a GeoError whose message names the problem."""

from typing import Any

import pytest

from backend.geo.errors import GeoError
from backend.geo.regions import compile_circle, compile_geojson, compile_region

MAX_AREA_KM2 = 12_000.0
MAX_RADIUS_M = 50_000.0

SQUARE = [[2.30, 48.84], [2.36, 48.84], [2.36, 48.88], [2.30, 48.88], [2.30, 48.84]]


def _polygon(*rings: list[Any]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def _ring_with(index: int, position: Any) -> list[Any]:
    ring: list[Any] = [list(p) for p in SQUARE]
    ring[index] = position
    return ring


def _many_vertices(count: int, position: Any) -> dict[str, Any]:
    return _polygon([position] * count)


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        pytest.param([1, 2], "must be a GeoJSON object", id="not-an-object"),
        pytest.param(
            {"type": "Point", "coordinates": [2.3, 48.8]},
            "must be Polygon or MultiPolygon, got 'Point'",
            id="bad-type",
        ),
        pytest.param({"coordinates": [SQUARE]}, "got None", id="no-type"),
        pytest.param(
            {"type": "Feature", "geometry": None}, "Feature has no geometry", id="feature"
        ),
        pytest.param(
            {"type": "Polygon", "coordinates": "2.3 48.8"}, "must be a list of rings", id="coords"
        ),
        pytest.param(_polygon(), "needs at least one ring", id="no-ring"),
        pytest.param(
            {"type": "MultiPolygon", "coordinates": []}, "needs at least one polygon", id="no-part"
        ),
        pytest.param(_polygon("ring"), r"coordinates\[0\] must be a list of positions", id="ring"),
        pytest.param(
            _polygon(SQUARE[:3]), r"has 3 positions; a ring needs at least 4", id="too-few-points"
        ),
        pytest.param(_polygon(SQUARE[:4]), "is not closed", id="unclosed-ring"),
        pytest.param(
            _polygon(_ring_with(1, [2.36])),
            "must be \\[longitude, latitude\\]",
            id="short-position",
        ),
        pytest.param(
            _polygon(_ring_with(1, {"lon": 2.36, "lat": 48.84})),
            r"Position coordinates\[0\]\[1\] must be \[longitude, latitude\], got a dict of 2",
            id="position-object",
        ),
        pytest.param(
            {"type": "x" * 10_000, "coordinates": []},
            r"got 'x{36}\.{4}$",
            id="long-type-cut-short",
        ),
        pytest.param(
            _polygon(_ring_with(2, [2.36, "48.88"])),
            r"coordinates\[0\]\[2\].*Latitude must be a number, got str",
            id="non-numeric",
        ),
        pytest.param(
            _polygon(_ring_with(2, [2.36, float("nan")])),
            "Latitude must be a finite number",
            id="nan",
        ),
        pytest.param(
            _polygon(_ring_with(2, [float("inf"), 48.88])),
            "Longitude must be a finite number",
            id="infinite",
        ),
        pytest.param(
            _polygon(_ring_with(2, [2.36, 95.0])),
            "Latitude must be between -90 and 90, got 95",
            id="latitude-out-of-range",
        ),
        pytest.param(
            _polygon(_ring_with(2, [200.0, 48.88])),
            "Longitude must be between -180 and 180, got 200",
            id="longitude-out-of-range",
        ),
        pytest.param(
            _polygon([[2.30, 48.84], [2.36, 48.88], [2.36, 48.84], [2.30, 48.88], [2.30, 48.84]]),
            "not a valid polygon: Self-intersection",
            id="bow-tie",
        ),
        pytest.param(
            _polygon(SQUARE, [[2.40, 48.90], [2.41, 48.90], [2.41, 48.91], [2.40, 48.90]]),
            "not a valid polygon: Hole lies outside shell",
            id="hole-outside",
        ),
        pytest.param(
            {"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE]]},
            "not a valid polygon",
            id="overlapping-parts",
        ),
        pytest.param(
            _polygon([[179.0, 10.0], [-179.0, 10.0], [-179.0, 11.0], [179.0, 11.0], [179.0, 10.0]]),
            "crosses the antimeridian",
            id="antimeridian",
        ),
        pytest.param(
            _polygon([[0.0, 40.0], [1.5, 40.0], [1.5, 41.0], [0.0, 41.0], [0.0, 40.0]]),
            "area is 14,102.7 km²; at most 12,000.0 km² is allowed",
            id="too-large",
        ),
        pytest.param(
            _many_vertices(10_001, [2.3, 48.8]),
            "has 10001 vertices; at most 10000 are allowed",
            id="too-many-vertices",
        ),
        pytest.param(
            # Garbage positions prove the count comes before anything else is looked at.
            _many_vertices(100_000, "not a position"),
            "has 100000 vertices; at most 10000 are allowed",
            id="huge-input-rejected-first",
        ),
    ],
)
def test_bad_geojson_is_refused_with_a_message_naming_the_problem(
    geometry: Any, message: str
) -> None:
    with pytest.raises(GeoError, match=message):
        compile_geojson(geometry, max_area_km2=MAX_AREA_KM2)


def test_too_many_vertices_counts_every_ring_of_every_part() -> None:
    part = [SQUARE, [[2.32, 48.85], [2.33, 48.85], [2.33, 48.86], [2.32, 48.85]]]
    geometry = {"type": "MultiPolygon", "coordinates": [part]}

    with pytest.raises(GeoError, match="has 9 vertices; at most 8 are allowed"):
        compile_geojson(geometry, max_vertices=8, max_area_km2=MAX_AREA_KM2)


def test_geo_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="GeoJSON object"):
        compile_geojson("Paris", max_area_km2=MAX_AREA_KM2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("circle", "message"),
    [
        pytest.param({"radius_m": 0}, "Radius must be more than 0 metres, got 0", id="zero"),
        pytest.param({"radius_m": -5}, "Radius must be more than 0 metres, got -5", id="negative"),
        pytest.param({"radius_m": float("nan")}, "finite number of metres, got nan", id="nan"),
        pytest.param({"radius_m": float("inf")}, "finite number of metres, got inf", id="inf"),
        pytest.param({"radius_m": "5 km"}, "Radius must be a number of metres", id="text-radius"),
        pytest.param(
            {"radius_m": 50_001}, "Radius must be at most 50000 metres, got 50001", id="too-large"
        ),
        pytest.param({"lat": 91.0}, "Latitude must be between -90 and 90", id="bad-latitude"),
        pytest.param({"lon": None}, "Longitude must be a number", id="missing-longitude"),
        pytest.param({"lat": 89.99}, "reaches a pole", id="pole"),
        pytest.param({"lon": 179.99}, "crosses the antimeridian", id="antimeridian"),
    ],
)
def test_bad_circle_is_refused_with_a_message_naming_the_problem(
    circle: dict[str, Any], message: str
) -> None:
    arguments = {"lat": 48.8566, "lon": 2.3522, "radius_m": 2000.0, **circle}
    with pytest.raises(GeoError, match=message):
        compile_circle(**arguments, max_radius_m=MAX_RADIUS_M, max_area_km2=MAX_AREA_KM2)


def test_circle_larger_than_the_area_limit_is_refused() -> None:
    with pytest.raises(GeoError, match=r"area is 78\.5 km²; at most 50\.0 km² is allowed"):
        compile_circle(
            lat=48.8566, lon=2.3522, radius_m=5000, max_radius_m=MAX_RADIUS_M, max_area_km2=50
        )


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ({"type": "Circle", "radius_m": 100}, "needs coordinates"),
        ({"type": "Circle", "coordinates": [2.35, 48.85]}, "needs radius_m"),
        ({"type": "Circle", "coordinates": [2.35, 48.85], "radius_m": 0}, "more than 0"),
    ],
)
def test_bad_stored_circle_is_refused(geometry: dict[str, Any], message: str) -> None:
    with pytest.raises(GeoError, match=message):
        compile_region(geometry, max_area_km2=MAX_AREA_KM2, max_radius_m=MAX_RADIUS_M)
