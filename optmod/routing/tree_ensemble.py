"""A trained XGBoost tree ensemble, evaluated with numpy alone.

perf_router's booster is trained with XGBoost, but serving it through XGBoost costs more in the call (argument
checks, a JSON config per call, ctypes) than the trees themselves: 0.27 ms for ten rows against 0.13 ms here
(`bench/router_bench.py`'s parts table, run on the last revision that served through XGBoost, 60cf100, and on
this one). Serving without it also keeps xgboost out of the
core install: it is only needed to train.

Every tree is stored as a complete binary tree of the ensemble's depth in heap order (node i has children
2i + 1 and 2i + 2), so a row's path through all trees at once is a handful of array operations per level. As in
XGBoost, a value below the node's threshold goes left and a missing one (NaN) goes where the node says. A branch
that ends early is padded: the nodes below its leaf have a NaN threshold, which no comparison passes, so every
value goes left, to the one slot under the leaf that holds its value. The result equals XGBoost's prediction up
to the order of the float32 sum over the trees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

OBJECTIVES = ("reg:squarederror", "reg:logistic")
MAX_DEPTH = 12  # a complete tree of this depth has 8,191 slots; deeper ensembles would not fit an artifact
ROW_BLOCK = 2048  # rows evaluated at once: bounds the (trees, rows) temporaries


class TreeEnsembleError(ValueError):
    """An XGBoost model this evaluator cannot reproduce exactly (objective, categorical splits, depth)."""


@dataclass(frozen=True, slots=True)
class TreeEnsemble:
    """Regression trees in heap order; `predict` sums them and applies the objective's link."""

    features: np.ndarray  # int32 (trees, 2**depth - 1): the feature each inner node splits on
    thresholds: np.ndarray  # float32 (trees, 2**depth - 1): a value below it goes left (NaN: padding)
    missing_left: np.ndarray  # bool (trees, 2**depth - 1): where a missing (NaN) value goes
    leaves: np.ndarray  # float32 (trees, 2**depth)
    base_margin: float
    logistic: bool  # reg:logistic: the sigmoid of the margin; else the margin itself

    @property
    def depth(self) -> int:
        return int(self.leaves.shape[1]).bit_length() - 1

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """float32 (n,) predictions for float32 (n, features) rows; NaN is a missing value."""
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        out = np.empty(len(rows), dtype=np.float32)
        for start in range(0, len(rows), ROW_BLOCK):
            out[start : start + ROW_BLOCK] = self._margin(rows[start : start + ROW_BLOCK])
        if self.logistic:
            return np.asarray(1.0 / (1.0 + np.exp(-out)), dtype=np.float32)
        return out

    def _margin(self, rows: np.ndarray) -> np.ndarray:
        trees, inner = self.features.shape
        n, width = rows.shape
        # A missing value is replaced by -inf where the node sends it left and +inf where it sends it right, so
        # one comparison serves both: the rows twice, the node's `missing_left` picking the copy.
        missing = np.isnan(rows)
        both = np.concatenate([np.where(missing, np.inf, rows), np.where(missing, -np.inf, rows)]).reshape(-1)
        reads = (self.features + self.missing_left * (n * width)).reshape(-1)
        thresholds = self.thresholds.reshape(-1)
        tree = np.arange(trees, dtype=np.intp)[:, None]
        row_start = np.arange(n, dtype=np.intp)[None, :] * width
        # `at`: each (tree, row)'s node as an index into the flattened (trees, inner) arrays.
        at = np.broadcast_to(tree * inner, (trees, n)).copy()
        for _ in range(self.depth):
            right = both[reads[at] + row_start] >= thresholds[at]
            at *= 2
            at += 1 - tree * inner  # left child: 2 * node + 1 within the tree
            at += right
        leaf = at + tree - inner  # (tree, node) to the flattened (trees, inner + 1) leaves
        total = self.leaves.reshape(-1)[leaf].sum(axis=0, dtype=np.float32)
        return np.asarray(total + np.float32(self.base_margin), dtype=np.float32)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays to store (under names starting with `prefix`); `from_arrays` reads them back."""
        return {
            f"{prefix}features": self.features,
            f"{prefix}thresholds": self.thresholds,
            f"{prefix}missing_left": self.missing_left,
            f"{prefix}leaves": self.leaves,
            f"{prefix}link": np.array([self.base_margin, float(self.logistic)], dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> TreeEnsemble:
        features = np.asarray(arrays[f"{prefix}features"], dtype=np.int32)
        thresholds = np.asarray(arrays[f"{prefix}thresholds"], dtype=np.float32)
        missing_left = np.asarray(arrays[f"{prefix}missing_left"], dtype=bool)
        leaves = np.asarray(arrays[f"{prefix}leaves"], dtype=np.float32)
        link = np.asarray(arrays[f"{prefix}link"], dtype=np.float64)
        inner = features.shape[1] if features.ndim == 2 else -1
        if (
            thresholds.shape != features.shape
            or missing_left.shape != features.shape
            or leaves.shape != (features.shape[0], inner + 1)
            or (inner + 1) & inner
            or link.shape != (2,)
        ):
            raise ValueError("tree arrays have inconsistent shapes")
        return cls(features, thresholds, missing_left, leaves, float(link[0]), bool(link[1]))

    @property
    def feature_count(self) -> int:
        """One more than the largest feature index any node reads."""
        return int(self.features.max(initial=-1)) + 1


def from_xgboost(booster: Any) -> TreeEnsemble:
    """The ensemble of a trained `xgboost.Booster` (its JSON model; xgboost itself is not imported here)."""
    import json

    model = json.loads(bytes(booster.save_raw("json")))
    learner = model["learner"]
    objective = learner["objective"]["name"]
    if objective not in OBJECTIVES:
        raise TreeEnsembleError(f"objective {objective} is not supported (only {', '.join(OBJECTIVES)})")
    gbm = learner["gradient_booster"]
    if gbm.get("name") != "gbtree":
        raise TreeEnsembleError(f"booster {gbm.get('name')} is not supported (only gbtree)")
    trees = gbm["model"]["trees"]
    if not trees:
        raise TreeEnsembleError("the booster has no trees")
    depth = max(_depth(tree) for tree in trees)
    if depth > MAX_DEPTH:
        raise TreeEnsembleError(f"trees of depth {depth} are deeper than {MAX_DEPTH}")
    inner = 2**depth - 1
    features = np.zeros((len(trees), inner), dtype=np.int32)
    thresholds = np.full((len(trees), inner), np.nan, dtype=np.float32)
    missing_left = np.ones((len(trees), inner), dtype=bool)
    leaves = np.zeros((len(trees), inner + 1), dtype=np.float32)
    for index, tree in enumerate(trees):
        if any(int(t) != 0 for t in tree.get("split_type", [])):
            raise TreeEnsembleError("categorical splits are not supported")
        _fill(tree, index, depth, features, thresholds, missing_left, leaves)
    base_score = float(str(learner["learner_model_param"]["base_score"]).strip("[]"))
    logistic = objective == "reg:logistic"
    base_margin = math.log(base_score / (1.0 - base_score)) if logistic else base_score
    return TreeEnsemble(features, thresholds, missing_left, leaves, base_margin, logistic)


def _depth(tree: dict[str, Any]) -> int:
    """Edges on the longest root-to-leaf path."""
    left, right = tree["left_children"], tree["right_children"]
    deepest, stack = 0, [(0, 0)]
    while stack:
        node, level = stack.pop()
        if left[node] == -1:
            deepest = max(deepest, level)
        else:
            stack += [(left[node], level + 1), (right[node], level + 1)]
    return deepest


def _fill(
    tree: dict[str, Any],
    index: int,
    depth: int,
    features: np.ndarray,
    thresholds: np.ndarray,
    missing_left: np.ndarray,
    leaves: np.ndarray,
) -> None:
    """Write one XGBoost tree into row `index` of the heap-ordered arrays."""
    left, right = tree["left_children"], tree["right_children"]
    split, condition, default_left = tree["split_indices"], tree["split_conditions"], tree["default_left"]
    inner = features.shape[1]
    stack = [(0, 0, 0)]  # (XGBoost node, heap slot, level)
    while stack:
        node, slot, level = stack.pop()
        if left[node] != -1:
            features[index, slot] = split[node]
            thresholds[index, slot] = condition[node]
            missing_left[index, slot] = bool(default_left[node])
            stack += [(left[node], 2 * slot + 1, level + 1), (right[node], 2 * slot + 2, level + 1)]
            continue
        # A leaf above the bottom: the padding below always goes left, to the leftmost slot under it.
        leftmost = slot
        for _ in range(depth - level):
            leftmost = 2 * leftmost + 1
        leaves[index, leftmost - inner] = condition[node]
