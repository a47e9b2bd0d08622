"""Summary statistics of latency samples, computed the same way for every target's raw times."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolating linearly between closest ranks like numpy's
    default, so that p90 of few runs still moves with the slow tail instead of snapping to the max."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside [0, 100]")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return statistics.median(values)


def ratio(value: float | None, base: float | None) -> float | None:
    """value / base, or None when either is missing (a target that did not run) or base is 0."""
    if value is None or not base:
        return None
    return value / base
