"""trouter: a small MLP over (sentence embedding, model description) that predicts quality, weighed against cost.

Trained with torch by `optmod train --router trouter` (the ml extra); the weights are exported to numpy
(`trouter.npz`, with `trouter_weights.pt`, the reference's checkpoint name, beside it for torch users), so
serving needs numpy and the encoder only. Its input is the prompt's embedding concatenated with the model's
standardised description features (`model_description.MODEL_FEATURE_NAMES`, an unknown parameter count
filled with the training mean and flagged by a mask input), so it scores any described model, including the
configured pool. The pick maximises `quality - cost_weight * cost / most expensive candidate's cost`
(`routers.trouter.cost_weight` in config.yaml).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optmod.config import RoutersSettings
from optmod.registry import ModelRegistry
from optmod.routing.base import ArtifactError, Decision, Router, RouteRequest, trim_query
from optmod.routing.model_description import (
    MODEL_REGISTRY_PATH,
    ModelDescription,
    load_model_registry,
    model_feature_matrix,
)
from optmod.routing.perf_router import (
    QueryEmbeddings,
    check_encoder,
    decide_by_utility,
    describe_candidates,
    load_router_encoder,
    resolve_artifact,
)

FORMAT_VERSION = 2
WEIGHTS_FILE = "trouter.npz"
META_FILE = "meta.json"
TORCH_CHECKPOINT = "trouter_weights.pt"
PARAMS_COLUMN = 2  # log_params_b in MODEL_FEATURE_NAMES: the only feature that may be unknown


@dataclass(frozen=True, slots=True)
class MLPWeights:
    """The exported network: dense layers with ReLU between them, a sigmoid at the end."""

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (weight (in, out), bias (out,))
    feature_mean: np.ndarray  # float32 (len(MODEL_FEATURE_NAMES),)
    feature_std: np.ndarray
    # The training models' range of each feature: a network extrapolates wildly outside it (a free model's log
    # price lies far below any data set's), so descriptions are clipped into it.
    feature_low: np.ndarray
    feature_high: np.ndarray
    # Training prompts on which each model's mean prediction is anchored to its capability score.
    reference_embeddings: np.ndarray  # float32 (R, dim)


def model_inputs(models: Sequence[ModelDescription], weights: MLPWeights) -> np.ndarray:
    """(m, features + 1): clipped, standardised description features, unknown size as the mean, plus its mask."""
    raw = model_feature_matrix(models)
    unknown = np.isnan(raw[:, PARAMS_COLUMN])
    filled = np.clip(np.where(np.isnan(raw), weights.feature_mean, raw), weights.feature_low, weights.feature_high)
    scaled = (filled - weights.feature_mean) / weights.feature_std
    return np.column_stack([scaled, unknown.astype(np.float32)]).astype(np.float32)


def forward(weights: MLPWeights, embeddings: np.ndarray, models: Sequence[ModelDescription]) -> np.ndarray:
    """(n, m) predicted quality in [0, 1]."""
    n, m = len(embeddings), len(models)
    described = model_inputs(models, weights)
    # The first layer on [embedding, description] is the sum of its two blocks: each prompt's block is
    # multiplied once, not once per model.
    first, first_bias = weights.layers[0]
    dim = first.shape[0] - described.shape[1]
    by_prompt = np.asarray(embeddings, dtype=np.float32) @ first[:dim]
    by_model = described @ first[dim:] + first_bias
    hidden = (by_prompt[:, None, :] + by_model[None, :, :]).reshape(n * m, -1)
    for weight, bias in weights.layers[1:]:
        np.maximum(hidden, 0.0, out=hidden)
        hidden = hidden @ weight + bias
    logits = hidden.reshape(n, m)
    return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float32)


class TRouterPredictor:
    """The loaded numpy export; what `optmod eval` and the router call.

    As perf_router does, it anchors each model's mean prediction over the reference prompts to the model's
    capability score, so the network decides where a model is stronger or weaker and the description how
    strong it is overall (leave-models-out AIQ on the validation split: 0.657 raw, 0.668 anchored).
    """

    def __init__(self, weights: MLPWeights, meta: dict[str, Any]) -> None:
        self.weights = weights
        self.meta = meta
        self.encoder_name = str(meta.get("encoder", "static"))
        # Filled once per model description; a dict update is atomic, so the routing threads may share it.
        self._reference_means: dict[ModelDescription, float] = {}

    def reference_means(self, models: Sequence[ModelDescription]) -> np.ndarray:
        missing = [m for m in dict.fromkeys(models) if m not in self._reference_means]
        if missing:
            raw = forward(self.weights, self.weights.reference_embeddings, missing)
            self._reference_means.update(zip(missing, raw.mean(axis=0).tolist(), strict=True))
        return np.array([self._reference_means[m] for m in models], dtype=np.float32)

    def predict_quality(
        self, embeddings: np.ndarray, prompts: Sequence[str], models: Sequence[ModelDescription]
    ) -> np.ndarray:
        raw = forward(self.weights, embeddings, models)
        capability = np.array([m.capability for m in models], dtype=np.float32)
        return np.asarray(np.clip(raw - self.reference_means(models) + capability, 0.0, 1.0), dtype=np.float32)


def save_weights(out_dir: Path, weights: MLPWeights, meta: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        "feature_mean": weights.feature_mean,
        "feature_std": weights.feature_std,
        "feature_low": weights.feature_low,
        "feature_high": weights.feature_high,
        "reference_embeddings": weights.reference_embeddings.astype(np.float16),
    }
    for i, (weight, bias) in enumerate(weights.layers):
        arrays[f"weight_{i}"] = weight.astype(np.float32)
        arrays[f"bias_{i}"] = bias.astype(np.float32)
    np.savez_compressed(out_dir / WEIGHTS_FILE, **arrays)
    full = {**meta, "format_version": FORMAT_VERSION, "layers": len(weights.layers)}
    (out_dir / META_FILE).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_trouter(artifact_dir: Path) -> TRouterPredictor:
    """Read the numpy export; raises `ArtifactError` when it is missing or corrupt."""
    try:
        meta = json.loads((artifact_dir / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {meta.get('format_version')!r}, expected {FORMAT_VERSION}")
        with np.load(artifact_dir / WEIGHTS_FILE, allow_pickle=False) as stored:
            layers = tuple(
                (np.asarray(stored[f"weight_{i}"], np.float32), np.asarray(stored[f"bias_{i}"], np.float32))
                for i in range(int(meta["layers"]))
            )
            weights = MLPWeights(
                layers,
                np.asarray(stored["feature_mean"], np.float32),
                np.asarray(stored["feature_std"], np.float32),
                np.asarray(stored["feature_low"], np.float32),
                np.asarray(stored["feature_high"], np.float32),
                np.asarray(stored["reference_embeddings"], np.float32),
            )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"trouter artifact in {artifact_dir} is missing or corrupt: {exc}") from None
    _check_shapes(weights, artifact_dir)
    return TRouterPredictor(weights, meta)


def _check_shapes(weights: MLPWeights, artifact_dir: Path) -> None:
    width = None
    for weight, bias in weights.layers:
        if weight.ndim != 2 or bias.shape != (weight.shape[1],) or (width is not None and weight.shape[0] != width):
            raise ArtifactError(f"trouter artifact in {artifact_dir} has inconsistent layer shapes")
        width = weight.shape[1]
    if width != 1:
        raise ArtifactError(f"trouter artifact in {artifact_dir} must end in one output")
    embedding_dim = weights.layers[0][0].shape[0] - len(weights.feature_mean) - 1
    if weights.reference_embeddings.ndim != 2 or weights.reference_embeddings.shape[1] != embedding_dim:
        raise ArtifactError(f"trouter artifact in {artifact_dir}: reference prompts disagree with the network")


class TRouter(Router):
    """Sentence embedding + MLP quality predictor (numpy inference), quality weighed against cost."""

    name = "trouter"
    offload = True

    def __init__(self, settings: RoutersSettings, registry: ModelRegistry) -> None:
        super().__init__(settings, registry)
        self.predictor = load_trouter(resolve_artifact(settings.trouter.artifact))
        self.encoder = load_router_encoder(self.predictor.encoder_name)
        check_encoder(self.name, self.predictor.meta, self.encoder)
        self.queries = QueryEmbeddings(self.encoder)
        expected = self.predictor.weights.layers[0][0].shape[0] - len(self.predictor.weights.feature_mean) - 1
        if expected != self.encoder.dim:
            raise ArtifactError(f"trouter expects {expected}-d embeddings, encoder gives {self.encoder.dim}")
        try:
            self.model_registry = load_model_registry(MODEL_REGISTRY_PATH)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"trouter cannot read {MODEL_REGISTRY_PATH.name}: {exc}") from None

    def route(self, request: RouteRequest) -> Decision:
        candidates = request.candidates
        query = trim_query(request.features.query)
        descriptions = describe_candidates(candidates, self.model_registry)
        quality = self.predictor.predict_quality(self.queries.embed(query), [query], descriptions)[0]
        return decide_by_utility(request, quality, self.settings.trouter.cost_weight, "trouter")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "encoder": self.predictor.encoder_name,
            "trained_on": self.predictor.meta.get("dataset"),
            "cost_weight": self.settings.trouter.cost_weight,
        }
