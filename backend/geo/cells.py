"""Res-9 H3 cells as 64-bit integers, and inclusive integer ranges of them.

An H3 index is laid out, from the most significant bit: 1 reserved bit, 4 mode bits,
3 reserved bits, 4 resolution bits, 7 base-cell bits, then 15 digits of 3 bits each
(digit 1 first). Digits below the cell's resolution are 7. So all res-9 descendants of a
coarser cell share its base cell and leading digits, and differ only in digits r+1..9,
each 0..6: they are the valid res-9 cells between two integers (DESIGN.md decision 2).
"""

import bisect
import math
from collections.abc import Iterable, Sequence

import h3.api.basic_int as h3

from .errors import GeoError

RESOLUTION = 9

_RES_SHIFT = 52
_RES_MASK = 0xF << _RES_SHIFT
_DIGIT_BITS = 3
_MAX_DIGITS = 15
_DIGIT_SHIFT_AT_RESOLUTION = _DIGIT_BITS * (_MAX_DIGITS - RESOLUTION)


def _check_number(value: object, *, name: str, low: float, high: float) -> float:
    # bool is an int subclass; True is no latitude.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GeoError(f"{name} must be a number, got {type(value).__name__}.")
    number = float(value)
    if not math.isfinite(number):
        raise GeoError(f"{name} must be a finite number, got {number}.")
    if not low <= number <= high:
        raise GeoError(f"{name} must be between {low:g} and {high:g}, got {number:g}.")
    return number


def check_latlon(*, lat: object, lon: object) -> tuple[float, float]:
    """Return (lat, lon) as floats, or raise GeoError if either is not a valid coordinate."""
    return (
        _check_number(lat, name="Latitude", low=-90.0, high=90.0),
        _check_number(lon, name="Longitude", low=-180.0, high=180.0),
    )


def cell_for_point(*, lat: float, lon: float) -> int:
    """Return the res-9 H3 cell containing the point, as an integer for a 64-bit column."""
    lat, lon = check_latlon(lat=lat, lon=lon)
    return int(h3.latlng_to_cell(lat, lon, RESOLUTION))


def cell_range(cell: int) -> tuple[int, int]:
    """Return the inclusive integer range holding exactly the res-9 descendants of `cell`."""
    if not h3.is_valid_cell(cell):
        raise GeoError(f"{cell} is not a valid H3 cell.")
    res = h3.get_resolution(cell)
    if res > RESOLUTION:
        raise GeoError(f"Cell {cell} has resolution {res}; at most {RESOLUTION} is supported.")
    free_digits = RESOLUTION - res
    free_mask = ((1 << (_DIGIT_BITS * free_digits)) - 1) << _DIGIT_SHIFT_AT_RESOLUTION
    # Digit 6 in every free position: 0b110110...110.
    all_sixes = (6 * ((1 << (_DIGIT_BITS * free_digits)) - 1) // 7) << _DIGIT_SHIFT_AT_RESOLUTION
    lo = ((cell & ~_RES_MASK) | (RESOLUTION << _RES_SHIFT)) & ~free_mask
    return lo, lo | all_sixes


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return the ranges sorted, with overlapping or adjacent ones merged."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def ranges_contain(ranges: Sequence[tuple[int, int]], cell: int) -> bool:
    """Tell whether `cell` lies in one of `ranges` (sorted and merged, as merge_ranges gives)."""
    index = bisect.bisect_right(ranges, cell, key=lambda item: item[0]) - 1
    return index >= 0 and cell <= ranges[index][1]
