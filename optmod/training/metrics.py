"""Router quality-against-cost metrics: RouterBench's AIQ and cost ratios, RouteLLM's APGR and CPT.

A router evaluated at several settings of its cost knob gives (mean cost, mean quality) points. Two
routers can always be mixed (flip a biased coin per query), so any point on a segment between two points
is reachable too: multi-model metrics read the *non-decreasing convex hull* of the points, the best
quality reachable for each budget. Below the cheapest point nothing is reachable and the hull is 0.

Two-model pools (weak, strong) are measured as RouteLLM does, against the share of calls sent to the
strong model: PGR(s) = (quality(s) - weak) / (strong - weak), APGR its mean over s in [0, 1], CPT(x) the
least share reaching PGR x. There the router's own curve is read (linearly interpolated, anchored at
(0, weak) and (1, strong)), without a hull, as RouteLLM reports it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Hull:
    """Vertices of a non-decreasing concave curve: costs strictly increasing, qualities non-decreasing."""

    costs: np.ndarray
    qualities: np.ndarray

    def quality_at(self, cost: float) -> float:
        """Best quality reachable with a mean cost of at most `cost` (flat after the last vertex, 0 before the first)."""
        if cost < self.costs[0]:
            return 0.0
        return float(np.interp(cost, self.costs, self.qualities))


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def build_hull(costs: Sequence[float] | np.ndarray, qualities: Sequence[float] | np.ndarray) -> Hull:
    """The non-decreasing convex hull (upper concave envelope, cut flat at its peak) of (cost, quality) points."""
    points = sorted({(float(c), float(q)) for c, q in zip(costs, qualities, strict=True)}, key=lambda p: (p[0], -p[1]))
    if not points:
        raise ValueError("a hull needs at least one point")
    upper: list[tuple[float, float]] = []
    for point in points:
        if upper and upper[-1][0] == point[0]:
            continue  # same cost, lower quality: sorted after the best one
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], point) >= 0:
            upper.pop()
        upper.append(point)
    peak = max(range(len(upper)), key=lambda i: (upper[i][1], -i))
    kept = upper[: peak + 1]
    return Hull(np.array([p[0] for p in kept]), np.array([p[1] for p in kept]))


def aiq(hull: Hull, low: float, high: float) -> float:
    """Mean of the hull's quality over the budget range [low, high] (RouterBench's AIQ)."""
    if high <= low:
        return hull.quality_at(high)
    inner = hull.costs[(hull.costs > low) & (hull.costs < high)]
    knots = np.unique(np.concatenate(([low, high], inner)))
    area = 0.0
    # The first vertex is a knot when inside the range, so a segment lies wholly before it or wholly after.
    for left, right in itertools.pairwise(knots):
        if right <= hull.costs[0]:
            continue  # nothing reachable there
        area += (right - left) * (hull.quality_at(left) + hull.quality_at(right)) / 2
    return float(area / (high - low))


# Qualities are means of many floats: a curve that ends exactly on the target must count as reaching it.
REACH_TOLERANCE = 1e-9


def cost_to_reach(hull: Hull, target: float) -> float | None:
    """The least mean cost at which the hull reaches `target` quality, or None if it never does."""
    target -= REACH_TOLERANCE
    if hull.qualities[-1] < target:
        return None
    if hull.qualities[0] >= target:
        return float(hull.costs[0])
    above = int(np.argmax(hull.qualities >= target))
    c0, c1 = hull.costs[above - 1], hull.costs[above]
    q0, q1 = hull.qualities[above - 1], hull.qualities[above]
    return float(c0 + (target - q0) * (c1 - c0) / (q1 - q0))


def cost_ratio(hull: Hull, best_quality: float, best_cost: float, share: float) -> float | None:
    """Least cost reaching `share` of the best single model's quality, over that model's cost (None if never)."""
    cost = cost_to_reach(hull, share * best_quality)
    return None if cost is None or best_cost <= 0 else cost / best_cost


@dataclass(frozen=True, slots=True)
class GapCurve:
    """Performance gap recovered against the share of strong-model calls, sorted by share, from 0 to 1."""

    shares: np.ndarray
    recovered: np.ndarray


def build_gap_curve(
    shares: Sequence[float] | np.ndarray, qualities: Sequence[float] | np.ndarray, weak: float, strong: float
) -> GapCurve:
    """PGR at each share of strong calls; points at the same share are averaged; anchored at (0, 0) and (1, 1)."""
    gap = strong - weak
    if gap <= 0:
        raise ValueError(f"the strong model ({strong:.4f}) must beat the weak one ({weak:.4f}) for gap metrics")
    by_share: dict[float, list[float]] = {0.0: [], 1.0: []}
    for share, quality in zip(shares, qualities, strict=True):
        by_share.setdefault(float(share), []).append((float(quality) - weak) / gap)
    by_share[0.0] = by_share[0.0] or [0.0]
    by_share[1.0] = by_share[1.0] or [1.0]
    ordered = sorted(by_share)
    return GapCurve(np.array(ordered), np.array([np.mean(by_share[s]) for s in ordered]))


def apgr(curve: GapCurve) -> float:
    """Average performance gap recovered over strong-call shares from 0 to 1 (trapezoids between points)."""
    widths = np.diff(curve.shares)
    heights = (curve.recovered[:-1] + curve.recovered[1:]) / 2
    return float(np.sum(widths * heights))


def cpt(curve: GapCurve, recovered: float) -> float | None:
    """Least share of strong calls at which the interpolated curve recovers `recovered` of the gap."""
    reached = np.flatnonzero(curve.recovered >= recovered)
    if reached.size == 0:
        return None
    first = int(reached[0])
    if first == 0:
        return float(curve.shares[0])
    s0, s1 = curve.shares[first - 1], curve.shares[first]
    r0, r1 = curve.recovered[first - 1], curve.recovered[first]
    return float(s0 + (recovered - r0) * (s1 - s0) / (r1 - r0))
