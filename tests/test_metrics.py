"""Routing metrics on tiny cases computed by hand in each test."""

from __future__ import annotations

import numpy as np
import pytest

from optmod.training.metrics import aiq, apgr, build_gap_curve, build_hull, cost_ratio, cost_to_reach, cpt

# (cost, quality): (2, 0.6) lies under the chord from (1, 0.5) to (3, 0.9); (4, 0.8) is past the peak.
COSTS = [1.0, 2.0, 3.0, 4.0, 2.0]
QUALITIES = [0.5, 0.6, 0.9, 0.8, 0.2]


def test_hull_drops_points_under_the_chord_and_past_the_peak() -> None:
    hull = build_hull(COSTS, QUALITIES)
    assert hull.costs.tolist() == [1.0, 3.0]
    assert hull.qualities.tolist() == [0.5, 0.9]
    assert hull.quality_at(0.5) == 0.0  # cheaper than any point: nothing reachable
    assert hull.quality_at(2.0) == pytest.approx(0.7)
    assert hull.quality_at(10.0) == pytest.approx(0.9)  # flat after the peak


def test_hull_keeps_a_concave_middle_point() -> None:
    hull = build_hull([0.0, 1.0, 2.0], [0.0, 0.8, 1.0])
    assert hull.costs.tolist() == [0.0, 1.0, 2.0]


def test_aiq_is_the_mean_hull_quality_over_the_budget_range() -> None:
    hull = build_hull(COSTS, QUALITIES)
    # [0, 1]: nothing; [1, 3]: trapezoid (0.5 + 0.9) / 2 * 2 = 1.4; [3, 4]: flat 0.9. (1.4 + 0.9) / 4.
    assert aiq(hull, 0.0, 4.0) == pytest.approx(2.3 / 4)
    # [2, 3]: (0.7 + 0.9) / 2; [3, 4]: 0.9.
    assert aiq(hull, 2.0, 4.0) == pytest.approx((0.8 + 0.9) / 2)


def test_aiq_of_a_single_point_router() -> None:
    hull = build_hull([2.0], [0.6])
    assert aiq(hull, 1.0, 3.0) == pytest.approx(0.6 / 2)


def test_cost_to_reach_interpolates_on_the_hull() -> None:
    hull = build_hull(COSTS, QUALITIES)
    assert cost_to_reach(hull, 0.8) == pytest.approx(1 + 0.3 / 0.4 * 2)
    assert cost_to_reach(hull, 0.4) == pytest.approx(1.0)
    assert cost_to_reach(hull, 0.95) is None


def test_cost_ratio_against_the_best_single_model() -> None:
    hull = build_hull(COSTS, QUALITIES)
    # Best model: quality 0.9 at cost 4. 95% of 0.9 = 0.855, reached at 1 + 0.355 / 0.4 * 2 = 2.775.
    assert cost_ratio(hull, best_quality=0.9, best_cost=4.0, share=0.95) == pytest.approx(2.775 / 4)
    assert cost_ratio(hull, best_quality=0.9, best_cost=4.0, share=1.0) == pytest.approx(3 / 4)
    assert cost_ratio(hull, best_quality=1.0, best_cost=4.0, share=1.0) is None


def test_apgr_and_cpt_by_hand() -> None:
    # weak 0.5, strong 0.9: 25% strong calls give 0.7 (PGR 0.5), 50% give 0.8 (PGR 0.75).
    curve = build_gap_curve([0.25, 0.5], [0.7, 0.8], weak=0.5, strong=0.9)
    assert curve.shares.tolist() == [0.0, 0.25, 0.5, 1.0]
    # Trapezoids: 0.25 * 0.25 + 0.25 * 0.625 + 0.5 * 0.875.
    assert apgr(curve) == pytest.approx(0.0625 + 0.15625 + 0.4375)
    assert cpt(curve, 0.5) == pytest.approx(0.25)
    assert cpt(curve, 0.8) == pytest.approx(0.5 + 0.05 / 0.25 * 0.5)


def test_random_routing_recovers_half_the_gap() -> None:
    shares = np.linspace(0, 1, 11)
    curve = build_gap_curve(shares, 0.2 + 0.6 * shares, weak=0.2, strong=0.8)
    assert apgr(curve) == pytest.approx(0.5)
    assert cpt(curve, 0.5) == pytest.approx(0.5)
    assert cpt(curve, 0.8) == pytest.approx(0.8)


def test_gap_metrics_need_a_real_gap_and_may_never_be_reached() -> None:
    with pytest.raises(ValueError, match="must beat"):
        build_gap_curve([0.5], [0.5], weak=0.6, strong=0.6)
    flat = build_gap_curve([0.0, 0.5, 1.0], [0.5, 0.5, 0.6], weak=0.5, strong=1.0)
    assert cpt(flat, 0.5) is None
