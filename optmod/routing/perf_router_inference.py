"""perf_router's predictor: per-(prompt, model) quality from the prompt's embedding and the model's description.

The artifact folder (written by `optmod train --router perf_router`) holds:

- `meta.json`: format version, the encoder the embeddings came from, the task types, feature names, settings;
- `arrays.npz`: the PCA projection of the encoder space, the task-type centroids, the neighbour table (the
  TRAIN prompts projected and stored in float16, with each training model's outcome on them), the ridge
  probes, the category classifier with each training model's mean outcome per category, and the reference
  prompts the predictions are anchored on, with their shape features (see `PerfRouterPredictor`);
- the booster's trees, in `arrays.npz` too (`tree_ensemble`: trained by XGBoost, evaluated with numpy);
- `mlp/`: a trouter network trained on the same prompts (when `mlp_weight` > 0): perf_router's prediction is
  the booster's and the network's, averaged with that weight. The two err differently, so the mean picks
  better than either (see the README's table of what was tried).

Features of one (prompt, model) pair, built by `pair_features` both at training and at serving time:

- the prompt: its first PCA components, its cosine similarity to each task type and the largest of them, the log
  of its length, its shape when the artifact was trained with `shape_features` (`prompt_shape`: counts of
  numbers, words, sentences, code and maths marks, which a bag-of-tokens embedding cannot see), how well the
  training models did on its nearest training prompts on average, the mean of the training models' ridge probes
  (a linear map from the embedding to each training model's quality), and the mean of the category outcomes
  (each training model's mean outcome in the TRAIN categories, mixed by a softmax classifier's probabilities
  for the prompt: a smooth estimate, where the neighbours are a noisy one);
- the model: `model_description.MODEL_FEATURE_NAMES` (log prices, log size, capability score);
- the pair: the neighbours' outcome for this very model when it was in training (missing otherwise: training
  hides it for a share of rows so the trees learn the unseen-model branch), and the neighbours' outcome for the
  training models of similar capability (a Gaussian kernel on the capability score, leaving the model itself
  out at training time), which is how a model no data set holds inherits what similar models did; the same two
  views of the ridge probes and of the category outcomes (both out-of-fold for the training rows).

The category classifier learns the data set's own `category` labels, whatever they are; a data set with a
single category gives every prompt the same category outcomes, and the trees learn to ignore them.

Only numpy is needed: this runs on the core install.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optmod.routing.base import ArtifactError
from optmod.routing.model_description import MODEL_FEATURE_NAMES, ModelDescription, model_feature_matrix
from optmod.routing.prompt_shape import SHAPE_FEATURE_NAMES, shape_features
from optmod.routing.tree_ensemble import TreeEnsemble

if TYPE_CHECKING:
    from optmod.routing.trouter import TRouterPredictor

FORMAT_VERSION = 4
META_FILE = "meta.json"
ARRAYS_FILE = "arrays.npz"
TREE_PREFIX = "tree_"  # the booster's arrays in arrays.npz
MLP_DIR = "mlp"
NEIGHBOUR_BLOCK = 1024
PAIR_SIGNALS = ("knn", "probe", "category")
MAX_VIEWS = 256


@dataclass(frozen=True, slots=True)
class NeighbourTable:
    """The TRAIN prompts in the projected space and each training model's outcome on them."""

    keys: np.ndarray  # float32 (N, d_knn), L2-normalised
    quality: np.ndarray  # float32 (N, m_train), NaN where unknown
    model_names: tuple[str, ...]
    capability: np.ndarray  # float32 (m_train,)


@dataclass(frozen=True, slots=True)
class CategoryModel:
    """A softmax classifier from [embedding, 1] to the TRAIN categories, and each training model's mean there."""

    weights: np.ndarray  # float32 (dim + 1, C)
    quality: np.ndarray  # float32 (C, m_train), NaN where a model has no outcome in a category


@dataclass(frozen=True, slots=True)
class PerfRouterParts:
    """Everything but the booster: what turns embeddings and model descriptions into feature rows."""

    mean: np.ndarray  # float32 (dim,)
    projection: np.ndarray  # float32 (dim, d_knn)
    pca_features: int
    task_names: tuple[str, ...]
    task_centroids: np.ndarray  # float32 (T, dim), L2-normalised
    neighbours: NeighbourTable
    k: int
    capability_bandwidth: float
    # Training prompts on which each model's mean prediction is anchored to its capability score.
    reference_embeddings: np.ndarray  # float32 (R, dim)
    reference_rows: np.ndarray  # int64 (R,): their rows in the neighbour table
    reference_chars: np.ndarray  # float32 (R,)
    # Ridge probes: per training model, a linear map from [embedding, 1] to its quality.
    probes: np.ndarray  # float32 (dim + 1, m_train)
    categories: CategoryModel
    # The reference prompts' shapes (`prompt_shape`), when the prompt part has shape features at all.
    reference_shapes: np.ndarray | None = None  # float32 (R, len(SHAPE_FEATURE_NAMES))

    @property
    def shape_features(self) -> bool:
        return self.reference_shapes is not None


@dataclass(frozen=True, slots=True)
class ModelView:
    """What the features need of a list of described models, computed once per list."""

    features: np.ndarray  # float32 (m, model features): `model_description.model_feature_matrix`
    own_columns: np.ndarray  # int64 (m,): each model's column in the neighbour table, -1 if not trained on
    kernel: np.ndarray  # float32 (m, m_train): similar-capability weights of the training models


def model_view(parts: PerfRouterParts, models: Sequence[ModelDescription], leave_self_out: bool = False) -> ModelView:
    """`leave_self_out` (training): each model gets no weight in its own capability kernel."""
    table = parts.neighbours
    column_of = {name: j for j, name in enumerate(table.model_names)}
    own_columns = np.array([column_of.get(m.name, -1) for m in models], dtype=np.int64)
    capability = np.array([m.capability for m in models], dtype=np.float32)
    kernel = capability_weights(table, capability, parts.capability_bandwidth)
    if leave_self_out:
        trained = own_columns >= 0
        kernel[np.flatnonzero(trained), own_columns[trained]] = 0.0
    return ModelView(model_feature_matrix(models), own_columns, kernel)


def feature_names(parts: PerfRouterParts) -> tuple[str, ...]:
    prompt = (
        *(f"pca_{i}" for i in range(parts.pca_features)),
        *(f"task_{name}" for name in parts.task_names),
        "task_max",
        "log_chars",
        *(SHAPE_FEATURE_NAMES if parts.shape_features else ()),
        "knn_mean",
        "probe_mean",
        "category_mean",
    )
    pair = tuple(f"{signal}_{view}" for signal in PAIR_SIGNALS for view in ("self", "similar_capability"))
    return (*prompt, *MODEL_FEATURE_NAMES, *pair)


def project(parts: PerfRouterParts, embeddings: np.ndarray) -> np.ndarray:
    """Embeddings in the PCA space, L2-normalised (what neighbours are searched in)."""
    projected = (np.asarray(embeddings, dtype=np.float32) - parts.mean) @ parts.projection
    norms = np.linalg.norm(projected, axis=1, keepdims=True)
    return np.asarray(projected / np.maximum(norms, 1e-12), dtype=np.float32)


def task_similarities(parts: PerfRouterParts, embeddings: np.ndarray) -> np.ndarray:
    return np.asarray(np.asarray(embeddings, dtype=np.float32) @ parts.task_centroids.T, dtype=np.float32)


def neighbour_outcomes(
    table: NeighbourTable, keys: np.ndarray, k: int, table_rows: np.ndarray | None = None
) -> np.ndarray:
    """(n, m_train) each training model's mean outcome on the k nearest TRAIN prompts of each row.

    `table_rows[i]` is the table row that query i itself is (training rows, the anchoring reference): a prompt
    is never its own neighbour, so the feature is out-of-sample there as it is for a new prompt.
    """
    outcomes = np.empty((len(keys), table.quality.shape[1]), dtype=np.float32)
    k = max(1, min(k, len(table.keys) - int(table_rows is not None)))
    for start in range(0, len(keys), NEIGHBOUR_BLOCK):
        block = keys[start : start + NEIGHBOUR_BLOCK] @ table.keys.T
        if table_rows is not None:
            block[np.arange(len(block)), table_rows[start : start + len(block)]] = -np.inf
        nearest = np.argpartition(-block, k - 1, axis=1)[:, :k]
        outcomes[start : start + len(block)] = nan_mean(table.quality[nearest], axis=1)
    return outcomes


def nan_mean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean over the known (non-NaN) values; NaN where none is known, without numpy's empty-slice warning."""
    known = ~np.isnan(values)
    count = known.sum(axis=axis)
    total = np.where(known, values, 0.0).sum(axis=axis)
    return np.asarray(np.where(count > 0, total / np.maximum(count, 1), np.nan), dtype=np.float32)


def capability_weights(table: NeighbourTable, capability: np.ndarray, bandwidth: float) -> np.ndarray:
    """(m, m_train) Gaussian weights of each training model for each described model's capability."""
    gaps = (np.asarray(capability, dtype=np.float32)[:, None] - table.capability[None, :]) / bandwidth
    return np.asarray(np.exp(-0.5 * gaps * gaps), dtype=np.float32)


def pair_features(
    parts: PerfRouterParts,
    embeddings: np.ndarray,
    prompt_chars: np.ndarray,
    models: Sequence[ModelDescription],
    *,
    table_rows: np.ndarray | None = None,
    leave_self_out: bool = False,
    self_known: np.ndarray | None = None,
    probe_outcomes: np.ndarray | None = None,
    category_outcomes: np.ndarray | None = None,
    view: ModelView | None = None,
    shapes: np.ndarray | None = None,
) -> np.ndarray:
    """float32 (n * m, features): row i * m + j describes prompt i with model j.

    `table_rows`: the prompts are these rows of the neighbour table (each is left out of its own neighbours).
    `leave_self_out` (training): each model is left out of its own capability kernel. `self_known` (n, m) bool,
    training only: where False, the model's own neighbour outcome is hidden, as for a model never trained on.
    `probe_outcomes`, `category_outcomes` (training): out-of-fold values of those signals for these prompts.
    `view`: `model_view(parts, models, leave_self_out)` when the caller keeps it. `shapes`: the prompts'
    `shape_features`, required when the artifact uses them.
    """
    n, m = len(embeddings), len(models)
    shape_columns: list[np.ndarray] = []
    if parts.shape_features:
        if shapes is None or shapes.shape != (n, len(SHAPE_FEATURE_NAMES)):
            raise ValueError("this predictor needs the prompts' shape features")
        shape_columns.append(shapes)
    keys = project(parts, embeddings)
    sims = task_similarities(parts, embeddings)
    outcomes = neighbour_outcomes(parts.neighbours, keys, parts.k, table_rows)
    knn_mean = nan_mean(outcomes, axis=1)
    probed = probe_predictions(parts, embeddings) if probe_outcomes is None else probe_outcomes
    by_category = category_mix(parts.categories, embeddings) if category_outcomes is None else category_outcomes
    prompt_part = np.column_stack(
        [
            keys[:, : parts.pca_features] * np.sqrt(keys.shape[1]),
            sims,
            sims.max(axis=1),
            np.log1p(np.asarray(prompt_chars, dtype=np.float32)),
            *shape_columns,
            knn_mean,
            probed.mean(axis=1),
            nan_mean(by_category, axis=1),
        ]
    ).astype(np.float32)
    view = view or model_view(parts, models, leave_self_out)
    signals = [
        signal
        for per_model in (outcomes, probed, by_category)
        for signal in _model_signals(per_model, view, self_known)
    ]
    rows = np.concatenate(
        [np.repeat(prompt_part, m, axis=0), np.tile(view.features, (n, 1)), *(s.reshape(n * m, 1) for s in signals)],
        axis=1,
    )
    return np.asarray(rows, dtype=np.float32)


def probe_predictions(parts: PerfRouterParts, embeddings: np.ndarray) -> np.ndarray:
    """(n, m_train) each training model's quality as its ridge probe predicts it from the embedding."""
    weights = parts.probes
    return np.asarray(np.asarray(embeddings, dtype=np.float32) @ weights[:-1] + weights[-1], dtype=np.float32)


def category_mix(category: CategoryModel, embeddings: np.ndarray) -> np.ndarray:
    """(n, m_train) each training model's mean outcome per category, weighted by the prompt's category odds."""
    weights = category.weights
    logits = np.asarray(embeddings, dtype=np.float32) @ weights[:-1] + weights[-1]
    odds = np.exp(logits - logits.max(axis=1, keepdims=True))
    odds /= odds.sum(axis=1, keepdims=True)
    known = ~np.isnan(category.quality)
    with np.errstate(invalid="ignore", divide="ignore"):
        mixed = (odds @ np.where(known, category.quality, 0.0)) / (odds @ known.astype(np.float32))
    return np.asarray(mixed, dtype=np.float32)


def _model_signals(
    per_model: np.ndarray, view: ModelView, self_known: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """A per-training-model signal seen from each described model: its own column, and similar models' mix."""
    trained = view.own_columns >= 0
    own = np.where(trained, per_model[:, np.maximum(view.own_columns, 0)], np.nan)
    if self_known is not None:
        own = np.where(self_known, own, np.nan)
    known = ~np.isnan(per_model)
    with np.errstate(invalid="ignore", divide="ignore"):
        similar = (np.where(known, per_model, 0.0) @ view.kernel.T) / (known.astype(np.float32) @ view.kernel.T)
    return np.asarray(own, dtype=np.float32), np.asarray(similar, dtype=np.float32)


class PerfRouterPredictor:
    """The loaded perf_router artifact: predicts quality for any prompts and any described models.

    The booster's raw prediction is anchored: a model's prediction is shifted so that its mean over the
    reference prompts (training prompts kept in the artifact) equals its capability score. The booster decides
    which prompts a model does better or worse on; the description's capability decides how good it is overall.
    Without this, a model unlike any in training (the configured pool) gets an overall level the trees
    extrapolate badly (leave-models-out AIQ 0.645 raw, 0.674 anchored on the validation split).
    """

    def __init__(
        self, parts: PerfRouterParts, trees: TreeEnsemble, meta: dict[str, Any], mlp: TRouterPredictor | None = None
    ) -> None:
        self.parts = parts
        self.trees = trees
        self.meta = meta
        self.mlp = mlp
        self.mlp_weight = mlp_weight(meta) if mlp is not None else 0.0
        self.encoder_name: str = str(meta.get("encoder", "static"))
        self.relative = bool(meta.get("hyper_parameters", {}).get("relative_target", False))
        self._level_column = feature_names(parts).index("knn_mean")
        # Filled once per model description (list); a dict update is atomic, so routing threads may share them.
        self._reference_means: dict[ModelDescription, float] = {}
        self._views: dict[tuple[ModelDescription, ...], ModelView] = {}

    def raw_quality(
        self,
        embeddings: np.ndarray,
        chars: np.ndarray,
        shapes: np.ndarray | None,
        models: Sequence[ModelDescription],
        **options: Any,
    ) -> np.ndarray:
        view = self._view(models)
        rows = pair_features(self.parts, embeddings, chars, models, view=view, shapes=shapes, **options)
        predicted = self.trees.predict(rows)
        if self.relative:
            # The booster learned each model against the training models' mean on the prompt; the neighbours'
            # mean outcome puts that back on the quality scale.
            predicted = predicted + rows[:, self._level_column]
        return predicted.reshape(len(embeddings), len(models))

    def _view(self, models: Sequence[ModelDescription]) -> ModelView:
        key = tuple(models)
        view = self._views.get(key)
        if view is None:
            if len(self._views) >= MAX_VIEWS:  # candidate lists are subsets of the pool; bound them all the same
                self._views.clear()
            view = self._views[key] = model_view(self.parts, models)
        return view

    def reference_means(self, models: Sequence[ModelDescription]) -> np.ndarray:
        missing = [m for m in dict.fromkeys(models) if m not in self._reference_means]
        if missing:
            parts = self.parts
            raw = self.raw_quality(
                parts.reference_embeddings,
                parts.reference_chars,
                parts.reference_shapes,
                missing,
                table_rows=parts.reference_rows,
            )
            self._reference_means.update(zip(missing, raw.mean(axis=0).tolist(), strict=True))
        return np.array([self._reference_means[m] for m in models], dtype=np.float32)

    def predict_quality(
        self, embeddings: np.ndarray, prompts: Sequence[str], models: Sequence[ModelDescription]
    ) -> np.ndarray:
        chars = np.array([len(p) for p in prompts], dtype=np.float32)
        shapes = shape_features(prompts) if self.parts.shape_features else None
        raw = self.raw_quality(embeddings, chars, shapes, models)
        capability = np.array([m.capability for m in models], dtype=np.float32)
        boosted = np.clip(raw - self.reference_means(models) + capability, 0.0, 1.0)
        if self.mlp is not None:
            # Both are anchored to the capability score, so their weighted mean is too.
            mlp = self.mlp.predict_quality(embeddings, prompts, models)
            boosted = (1.0 - self.mlp_weight) * boosted + self.mlp_weight * mlp
        return np.asarray(boosted, dtype=np.float32)

    def task_mix(self, embeddings: np.ndarray) -> np.ndarray:
        return task_similarities(self.parts, embeddings)


def mlp_weight(meta: dict[str, Any]) -> float:
    """The network's share of the prediction, as trained (0: the booster alone)."""
    return float(meta.get("hyper_parameters", {}).get("mlp_weight", 0.0))


def save_predictor(out_dir: Path, parts: PerfRouterParts, trees: TreeEnsemble, meta: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    table = parts.neighbours
    arrays: dict[str, Any] = dict(
        mean=parts.mean,
        projection=parts.projection,
        task_centroids=parts.task_centroids,
        neighbour_keys=table.keys.astype(np.float16),
        neighbour_quality=table.quality.astype(np.float16),
        capability=table.capability,
        reference_embeddings=parts.reference_embeddings.astype(np.float16),
        reference_rows=parts.reference_rows.astype(np.float32),
        reference_chars=parts.reference_chars,
        probes=parts.probes,
        category_weights=parts.categories.weights,
        category_quality=parts.categories.quality,
        **trees.to_arrays(TREE_PREFIX),
    )
    if parts.reference_shapes is not None:
        arrays["reference_shapes"] = parts.reference_shapes
    np.savez_compressed(out_dir / ARRAYS_FILE, **arrays)
    full_meta = {
        **meta,
        "format_version": FORMAT_VERSION,
        "pca_features": parts.pca_features,
        "task_names": list(parts.task_names),
        "model_names": list(table.model_names),
        "k": parts.k,
        "capability_bandwidth": parts.capability_bandwidth,
        "feature_names": list(feature_names(parts)),
    }
    (out_dir / META_FILE).write_text(json.dumps(full_meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_predictor(artifact_dir: Path) -> PerfRouterPredictor:
    """Read a perf_router artifact folder; raises `ArtifactError` when it is missing or corrupt."""
    try:
        meta = json.loads((artifact_dir / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {meta.get('format_version')!r}, expected {FORMAT_VERSION}")
        with np.load(artifact_dir / ARRAYS_FILE, allow_pickle=False) as stored:
            trees = TreeEnsemble.from_arrays(
                {n: stored[n] for n in stored.files if n.startswith(TREE_PREFIX)}, TREE_PREFIX
            )
            arrays = {n: np.asarray(stored[n], dtype=np.float32) for n in stored.files if not n.startswith(TREE_PREFIX)}
        parts = _parts_from(meta, arrays)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"perf_router artifact in {artifact_dir} is missing or corrupt: {exc}") from None
    if meta.get("feature_names") != list(feature_names(parts)) or trees.feature_count > len(meta["feature_names"]):
        raise ArtifactError(f"perf_router artifact in {artifact_dir}: its trees were trained on other features")
    mlp = None
    if mlp_weight(meta) > 0:
        # Imported here: the trouter module builds on perf_router's, which builds on this one.
        from optmod.routing.trouter import load_trouter

        mlp = load_trouter(artifact_dir / MLP_DIR)
        if mlp.meta.get("encoder_fingerprint") != meta.get("encoder_fingerprint"):
            raise ArtifactError(f"perf_router artifact in {artifact_dir}: its network came from another encoder")
    return PerfRouterPredictor(parts, trees, meta, mlp)


def _parts_from(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> PerfRouterParts:
    table = NeighbourTable(
        keys=arrays["neighbour_keys"],
        quality=arrays["neighbour_quality"],
        model_names=tuple(str(n) for n in meta["model_names"]),
        capability=arrays["capability"],
    )
    if arrays["probes"].shape != (arrays["mean"].shape[0] + 1, len(table.model_names)):
        raise ValueError("probe weights disagree with the model list")
    if table.quality.shape != (len(table.keys), len(table.model_names)):
        raise ValueError("neighbour table shapes disagree with the model list")
    categories = CategoryModel(weights=arrays["category_weights"], quality=arrays["category_quality"])
    if categories.weights.shape[0] != arrays["mean"].shape[0] + 1 or categories.quality.shape != (
        categories.weights.shape[1],
        len(table.model_names),
    ):
        raise ValueError("category classifier disagrees with the encoder or the model list")
    task_names = tuple(str(n) for n in meta["task_names"])
    if arrays["task_centroids"].shape[0] != len(task_names):
        raise ValueError("task centroids disagree with the task list")
    shapes = arrays.get("reference_shapes")
    if shapes is not None and shapes.shape != (len(arrays["reference_rows"]), len(SHAPE_FEATURE_NAMES)):
        raise ValueError("reference shapes disagree with the shape features of this version")
    return PerfRouterParts(
        mean=arrays["mean"],
        projection=arrays["projection"],
        pca_features=int(meta["pca_features"]),
        task_names=task_names,
        task_centroids=arrays["task_centroids"],
        neighbours=table,
        k=int(meta["k"]),
        capability_bandwidth=float(meta["capability_bandwidth"]),
        reference_embeddings=arrays["reference_embeddings"],
        reference_rows=arrays["reference_rows"].astype(np.int64),
        reference_chars=arrays["reference_chars"],
        probes=arrays["probes"],
        categories=categories,
        reference_shapes=shapes,
    )
