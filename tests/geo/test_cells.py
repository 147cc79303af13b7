"""Res-9 cells, cell ranges and range lookups (DESIGN.md decisions 1 and 2)."""

import random

import h3.api.basic_int as h3
import pytest

from backend.geo.cells import (
    RESOLUTION,
    cell_for_point,
    cell_range,
    merge_ranges,
    ranges_contain,
)
from backend.geo.errors import GeoError

PARIS = (48.8566, 2.3522)
INT64_MAX = 2**63 - 1


def _parents() -> list[int]:
    """Return hexagon parents at every resolution up to 9, and pentagon parents."""
    hexagons = [h3.latlng_to_cell(*PARIS, res) for res in range(RESOLUTION + 1)]
    pentagons = [
        sorted(h3.get_pentagons(res))[index] for res, index in ((3, 0), (4, 5), (5, 11), (9, 3))
    ]
    return hexagons + pentagons


def test_cell_for_point_is_the_res9_cell_as_a_signed_64_bit_int() -> None:
    cell = cell_for_point(lat=PARIS[0], lon=PARIS[1])

    assert isinstance(cell, int)
    assert 0 < cell <= INT64_MAX
    assert h3.get_resolution(cell) == RESOLUTION
    assert cell == h3.latlng_to_cell(*PARIS, RESOLUTION)


def test_cell_for_point_accepts_the_extremes_of_the_valid_range() -> None:
    for lat, lon in ((90, 180), (-90, -180), (0, 0)):
        assert h3.is_valid_cell(cell_for_point(lat=lat, lon=lon))


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        (90.0001, 0.0, "Latitude must be between -90 and 90"),
        (-91, 0.0, "Latitude must be between -90 and 90"),
        (0.0, 180.5, "Longitude must be between -180 and 180"),
        (float("nan"), 0.0, "Latitude must be a finite number"),
        (0.0, float("inf"), "Longitude must be a finite number"),
        ("48.8", 2.3, "Latitude must be a number, got str"),
        (48.8, None, "Longitude must be a number, got NoneType"),
        (True, 2.3, "Latitude must be a number, got bool"),
    ],
)
def test_cell_for_point_rejects_bad_coordinates(lat: object, lon: object, message: str) -> None:
    with pytest.raises(GeoError, match=message):
        cell_for_point(lat=lat, lon=lon)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "parent",
    # Coarser parents have millions of descendants; the corner test below covers them.
    [cell for cell in _parents() if h3.get_resolution(cell) >= 3],
    ids=lambda cell: h3.int_to_str(cell),
)
def test_cell_range_holds_every_res9_descendant(parent: int) -> None:
    lo, hi = cell_range(parent)
    children = h3.cell_to_children(parent, RESOLUTION)

    assert all(lo <= child <= hi for child in children)
    assert min(children) == lo  # the all-zero-digits child always exists
    assert h3.get_resolution(lo) == h3.get_resolution(hi) == RESOLUTION


@pytest.mark.parametrize(
    "parent",
    [cell for cell in _parents() if h3.get_resolution(cell) >= 4],
    ids=lambda cell: h3.int_to_str(cell),
)
def test_cell_range_holds_no_res9_neighbour_of_the_descendants(parent: int) -> None:
    lo, hi = cell_range(parent)
    children = set(h3.cell_to_children(parent, RESOLUTION))
    outside = {n for child in children for n in h3.grid_disk(child, 1)} - children

    assert outside
    assert not any(lo <= cell <= hi for cell in outside)


@pytest.mark.parametrize("parent", _parents(), ids=lambda cell: h3.int_to_str(cell))
def test_cell_range_holds_a_res9_cell_near_the_parent_corners_iff_it_descends(
    parent: int,
) -> None:
    lo, hi = cell_range(parent)
    res = h3.get_resolution(parent)
    near_corners = {
        cell
        for corner in h3.cell_to_boundary(parent)
        for cell in h3.grid_disk(h3.latlng_to_cell(*corner, RESOLUTION), 3)
    }
    descends = {cell for cell in near_corners if h3.cell_to_parent(cell, res) == parent}

    assert descends or res == RESOLUTION
    assert near_corners - descends
    assert {cell for cell in near_corners if lo <= cell <= hi} == descends


@pytest.mark.parametrize("parent", _parents(), ids=lambda cell: h3.int_to_str(cell))
def test_cell_range_holds_no_random_res9_cell_of_another_parent(parent: int) -> None:
    rng = random.Random(parent)
    lo, hi = cell_range(parent)
    plat, plon = h3.cell_to_latlng(parent)
    res = h3.get_resolution(parent)
    checked = 0
    for _ in range(3000):
        # Half near the parent (same base cell, mostly), half anywhere on Earth.
        if rng.random() < 0.5:
            lat = max(-90.0, min(90.0, plat + rng.uniform(-3, 3)))
            lon = ((plon + rng.uniform(-3, 3) + 180) % 360) - 180
        else:
            lat, lon = rng.uniform(-90, 90), rng.uniform(-180, 180)
        cell = h3.latlng_to_cell(lat, lon, RESOLUTION)
        inside = h3.cell_to_parent(cell, res) == parent
        assert (lo <= cell <= hi) == inside
        checked += not inside

    assert checked > 1000


def test_cell_range_of_a_pentagon_skips_no_descendant_and_counts_its_children() -> None:
    pentagon = sorted(h3.get_pentagons(6))[7]
    lo, hi = cell_range(pentagon)
    children = h3.cell_to_children(pentagon, RESOLUTION)

    assert h3.is_pentagon(pentagon)
    assert len(children) == h3.cell_to_children_size(pentagon, RESOLUTION) == 286
    assert all(lo <= child <= hi for child in children)


def test_cell_range_of_a_res9_cell_is_that_cell_alone() -> None:
    cell = cell_for_point(lat=PARIS[0], lon=PARIS[1])

    assert cell_range(cell) == (cell, cell)


def test_cell_range_rejects_finer_cells_and_non_cells() -> None:
    with pytest.raises(GeoError, match="resolution 10; at most 9"):
        cell_range(h3.latlng_to_cell(*PARIS, 10))
    with pytest.raises(GeoError, match="not a valid H3 cell"):
        cell_range(12345)


def test_merge_ranges_sorts_and_merges_overlapping_and_adjacent_ranges() -> None:
    merged = merge_ranges([(20, 30), (1, 5), (6, 8), (25, 40), (50, 50), (3, 4)])

    assert merged == [(1, 8), (20, 40), (50, 50)]


def test_merge_ranges_of_nothing_is_empty() -> None:
    assert merge_ranges([]) == []


def test_ranges_contain_finds_cells_in_ranges_and_only_those() -> None:
    ranges = [(10, 20), (30, 30), (40, 50)]

    assert [cell for cell in range(60) if ranges_contain(ranges, cell)] == [
        *range(10, 21),
        30,
        *range(40, 51),
    ]
    assert not ranges_contain([], 10)
