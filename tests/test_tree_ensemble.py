"""The numpy evaluation of XGBoost trees: XGBoost's own predictions, missing values and padding included."""

from __future__ import annotations

import numpy as np
import pytest

from optmod.routing.tree_ensemble import TreeEnsemble, TreeEnsembleError, from_xgboost


def hand_made() -> TreeEnsemble:
    """Two trees of depth 2. Tree 0: x0 < 1 ? (x1 < 5 ? 10 : 20) : 30, missing x0 right, missing x1 left.
    Tree 1: a single leaf 0.5 (padded: every slot below goes left)."""
    nan = np.nan
    return TreeEnsemble(
        features=np.array([[0, 1, 0], [0, 0, 0]], dtype=np.int32),
        thresholds=np.array([[1.0, 5.0, nan], [nan, nan, nan]], dtype=np.float32),
        missing_left=np.array([[False, True, True], [True, True, True]]),
        leaves=np.array([[10.0, 20.0, 30.0, 0.0], [0.5, 0.0, 0.0, 0.0]], dtype=np.float32),
        base_margin=1.0,
        logistic=False,
    )


def test_hand_made_trees_follow_thresholds_missing_values_and_padding() -> None:
    rows = np.array(
        [
            [0.0, 4.0],  # left, left: 10
            [0.0, 5.0],  # a value equal to the threshold goes right: 20
            [2.0, 0.0],  # right: 30 (the padding below sends it to the first slot)
            [np.nan, 0.0],  # missing x0 goes right: 30
            [0.0, np.nan],  # missing x1 goes left: 10
            [-np.inf, np.inf],  # infinities compare as numbers: 20
        ],
        dtype=np.float32,
    )
    expected = np.array([10, 20, 30, 30, 10, 20], dtype=np.float32) + 0.5 + 1.0
    np.testing.assert_array_equal(hand_made().predict(rows), expected)
    assert hand_made().depth == 2 and hand_made().feature_count == 2


def test_arrays_round_trip_and_bad_shapes_are_refused() -> None:
    trees = hand_made()
    again = TreeEnsemble.from_arrays(trees.to_arrays("t_"), "t_")
    rows = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(rows), trees.predict(rows))
    arrays = trees.to_arrays("t_")
    arrays["t_leaves"] = arrays["t_leaves"][:, :3]
    with pytest.raises(ValueError, match="inconsistent"):
        TreeEnsemble.from_arrays(arrays, "t_")


@pytest.mark.parametrize("objective", ["reg:squarederror", "reg:logistic"])
def test_predictions_equal_xgboosts(objective: str) -> None:
    xgboost = pytest.importorskip("xgboost")
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(3000, 8)).astype(np.float32)
    rows[rng.random(rows.shape) < 0.15] = np.nan  # missing values learn a direction per node
    target = np.nan_to_num(rows[:, 0]) * np.nan_to_num(rows[:, 1]) + np.isnan(rows[:, 2]) + 0.1 * rng.normal(size=3000)
    if objective == "reg:logistic":
        target = 1.0 / (1.0 + np.exp(-target))
    booster = xgboost.train(
        # min_child_weight ends some branches early, so the padding is exercised
        {"objective": objective, "max_depth": 5, "eta": 0.3, "min_child_weight": 40, "seed": 0, "nthread": 1},
        xgboost.DMatrix(rows, label=target),
        num_boost_round=40,
    )
    trees = from_xgboost(booster)
    assert trees.depth == 5
    fresh = rng.normal(size=(500, 8)).astype(np.float32)
    fresh[rng.random(fresh.shape) < 0.15] = np.nan
    fresh[:5, 0] = [np.inf, -np.inf, 0.0, 1e30, -1e30]
    np.testing.assert_allclose(trees.predict(fresh), booster.inplace_predict(fresh), rtol=0, atol=2e-6)
    # More rows than one block: the blocks are stitched back in order.
    many = np.repeat(fresh, 6, axis=0)
    np.testing.assert_allclose(trees.predict(many), booster.inplace_predict(many), rtol=0, atol=2e-6)


def test_an_objective_it_cannot_reproduce_is_refused() -> None:
    xgboost = pytest.importorskip("xgboost")
    rows = np.random.default_rng(2).normal(size=(200, 3)).astype(np.float32)
    booster = xgboost.train(
        {"objective": "reg:absoluteerror", "nthread": 1}, xgboost.DMatrix(rows, label=rows[:, 0]), num_boost_round=2
    )
    with pytest.raises(TreeEnsembleError, match="absoluteerror"):
        from_xgboost(booster)
