"""decision_tree: a scikit-learn regression tree over the request's features and the model's description.

The tree predicts a (request, model) pair's quality from what `optmod.features.extract_features` reads with
regular expressions (task type, difficulty, language, size) and the model's description features
(`model_description.MODEL_FEATURE_NAMES`), so it needs no encoder at all and scores any described model. It
is trained by `optmod train --router decision_tree` and saved as `routing_policy.pkl` (the reference's
name): a pickle of a dict with the format version, the feature names and the fitted tree. The pick maximises
`quality - cost_weight * cost / most expensive candidate's cost` with the cost weight stored in the artifact
(`DEFAULT_COST_WEIGHT` unless training chose another). A missing or unreadable artifact raises
`ArtifactError` and the app falls back to rule_based.

The pickle is the project's own committed artifact; never point `routers.decision_tree.artifact` at a file
from elsewhere (unpickling runs code).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optmod.config import RoutersSettings
from optmod.features import TASK_TYPES, Features, extract_features
from optmod.registry import ModelRegistry
from optmod.routing.base import ArtifactError, Decision, Router, RouteRequest
from optmod.routing.model_description import (
    MODEL_FEATURE_NAMES,
    MODEL_REGISTRY_PATH,
    ModelDescription,
    load_model_registry,
    model_feature_matrix,
)
from optmod.routing.perf_router import (
    decide_by_utility,
    describe_candidates,
    resolve_artifact,
)

FORMAT_VERSION = 2
DEFAULT_COST_WEIGHT = 0.2
REQUEST_FEATURE_NAMES = (
    *(f"task_{t}" for t in TASK_TYPES),
    "difficulty",
    "log_tokens",
    "english",
    "programming_language",
    "question_marks",
)
FEATURE_NAMES = (*REQUEST_FEATURE_NAMES, *MODEL_FEATURE_NAMES)


def request_vector(features: Features) -> np.ndarray:
    task = [1.0 if features.task_type == t else 0.0 for t in TASK_TYPES]
    return np.array(
        [
            *task,
            features.difficulty,
            math.log1p(features.estimated_tokens),
            1.0 if features.natural_language == "en" else 0.0,
            1.0 if features.programming_language else 0.0,
            min(features.query.count("?"), 5),
        ],
        dtype=np.float32,
    )


def prompt_features(prompt: str) -> Features:
    return extract_features({"messages": [{"role": "user", "content": prompt}]})


def pair_rows(requests: np.ndarray, models: Sequence[ModelDescription]) -> np.ndarray:
    """(n * m, features): request i with model j at row i * m + j; unknown size as -1 (trees cannot take NaN)."""
    described = np.nan_to_num(model_feature_matrix(models), nan=-1.0)
    n, m = len(requests), len(models)
    return np.concatenate([np.repeat(requests, m, axis=0), np.tile(described, (n, 1))], axis=1)


class TreePolicy:
    """The loaded routing_policy.pkl: a regression tree over FEATURE_NAMES and the cost weight to pick with.

    Like the other learned routers it anchors each model's mean prediction over the reference requests (kept in
    the artifact) to the model's capability score: a tree cannot extrapolate to a model better than any it saw,
    and without the anchor the leave-models-out pool fell to AIQ 0.554 (no routing: 0.664).
    """

    def __init__(self, tree: Any, cost_weight: float, reference: np.ndarray, meta: dict[str, Any]) -> None:
        self.tree = tree
        self.cost_weight = cost_weight
        self.reference = reference
        self.meta = meta
        # Filled once per model description; a dict update is atomic, so the routing threads may share it.
        self._reference_means: dict[ModelDescription, float] = {}

    def predict_quality(
        self, embeddings: np.ndarray, prompts: Sequence[str], models: Sequence[ModelDescription]
    ) -> np.ndarray:
        requests = np.stack([request_vector(prompt_features(p)) for p in prompts]) if prompts else self.reference[:0]
        return self.predict_for(requests, models)

    def raw_quality(self, requests: np.ndarray, models: Sequence[ModelDescription]) -> np.ndarray:
        predicted = self.tree.predict(pair_rows(requests, models))
        return np.asarray(predicted, dtype=np.float32).reshape(len(requests), len(models))

    def reference_means(self, models: Sequence[ModelDescription]) -> np.ndarray:
        missing = [m for m in dict.fromkeys(models) if m not in self._reference_means]
        if missing:
            raw = self.raw_quality(self.reference, missing)
            self._reference_means.update(zip(missing, raw.mean(axis=0).tolist(), strict=True))
        return np.array([self._reference_means[m] for m in models], dtype=np.float32)

    def predict_for(self, requests: np.ndarray, models: Sequence[ModelDescription]) -> np.ndarray:
        raw = self.raw_quality(requests, models)
        capability = np.array([m.capability for m in models], dtype=np.float32)
        return np.asarray(np.clip(raw - self.reference_means(models) + capability, 0.0, 1.0), dtype=np.float32)


def save_policy(path: Path, tree: Any, cost_weight: float, reference: np.ndarray, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": FORMAT_VERSION,
        "feature_names": list(FEATURE_NAMES),
        "cost_weight": cost_weight,
        "reference": np.asarray(reference, dtype=np.float32),
        "meta": meta,
        "tree": tree,
    }
    path.write_bytes(pickle.dumps(payload, protocol=5))


def load_policy(path: Path) -> TreePolicy:
    """Read routing_policy.pkl; raises `ArtifactError` when it or scikit-learn is missing or it is corrupt."""
    try:
        import sklearn.tree  # noqa: F401  (unpickling the tree needs it; say so clearly when absent)
    except ImportError as exc:
        raise ArtifactError(f"decision_tree needs scikit-learn: {exc}") from None
    try:
        payload = pickle.loads(path.read_bytes())
        if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
            raise ValueError("not a routing policy of this format version")
        if tuple(payload["feature_names"]) != FEATURE_NAMES:
            raise ValueError("its features differ from this version's")
        tree = payload["tree"]
        if getattr(tree, "n_features_in_", None) != len(FEATURE_NAMES):
            raise ValueError("its tree does not take this version's features")
        reference = np.asarray(payload["reference"], dtype=np.float32)
        if reference.ndim != 2 or reference.shape[1] != len(REQUEST_FEATURE_NAMES) or not len(reference):
            raise ValueError("its reference requests do not match this version's features")
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        EOFError,
        AttributeError,
        ImportError,
        pickle.UnpicklingError,
    ) as exc:
        raise ArtifactError(f"decision_tree artifact {path} is missing or corrupt: {exc}") from None
    return TreePolicy(tree, float(payload["cost_weight"]), reference, dict(payload.get("meta", {})))


class DecisionTreeRouter(Router):
    """Regression tree over regex request features and model descriptions; no encoder needed."""

    name = "decision_tree"

    def __init__(self, settings: RoutersSettings, registry: ModelRegistry) -> None:
        super().__init__(settings, registry)
        self.policy = load_policy(resolve_artifact(settings.decision_tree.artifact))
        try:
            self.model_registry = load_model_registry(MODEL_REGISTRY_PATH)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"decision_tree cannot read {MODEL_REGISTRY_PATH.name}: {exc}") from None

    def route(self, request: RouteRequest) -> Decision:
        candidates = request.candidates
        descriptions = describe_candidates(candidates, self.model_registry)
        quality = self.policy.predict_for(request_vector(request.features)[None, :], descriptions)[0]
        features = request.features
        label = f"decision_tree (task={features.task_type} difficulty={features.difficulty:.2f})"
        return decide_by_utility(request, quality, self.policy.cost_weight, label)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trained_on": self.policy.meta.get("dataset"),
            "cost_weight": self.policy.cost_weight,
        }
