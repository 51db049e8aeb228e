"""Training perf_router: task-type centroids, a PCA of the encoder space, the neighbour table and the booster.

`train_perf_router(train, encoder, out_dir, seed)` reads only the rows it is given (the caller passes the
TRAIN split), and is deterministic: a fixed seed, a fixed thread count and XGBoost's exact-order `hist` method.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from optmod.encoders import EMBEDDING_CACHE_DIR, Encoder, cached_embeddings, normalise_rows
from optmod.routing.model_description import ModelDescription, describe_dataset_models
from optmod.routing.perf_router_inference import (
    MLP_DIR,
    CategoryModel,
    NeighbourTable,
    PerfRouterParts,
    category_mix,
    load_predictor,
    nan_mean,
    pair_features,
    project,
    save_predictor,
)
from optmod.routing.prompt_shape import shape_features
from optmod.routing.tree_ensemble import from_xgboost
from optmod.training.data import RoutingDataset
from optmod.training.train_trouter import TRouterHyperParameters, train_trouter

TAXONOMY_PATH = Path(__file__).resolve().parents[1] / "routing" / "task_taxonomy.json"


@dataclass(frozen=True, slots=True)
class PerfRouterHyperParameters:
    """Chosen on a validation split carved from train (see the README's perf_router section)."""

    knn_dims: int = 64
    pca_features: int = 24
    k: int = 40
    capability_bandwidth: float = 0.05
    # Share of training rows whose own-model neighbour outcome is hidden, so the booster learns to place
    # models it never saw (the configured pool) as well as the ones it did.
    hide_own_share: float = 0.4
    rounds: int = 300
    max_depth: int = 6
    learning_rate: float = 0.05
    threads: int = 2
    reference_prompts: int = 512
    ridge: float = 1.0
    probe_folds: int = 5
    # Inverse L2 strength of the category classifier; categories with fewer TRAIN prompts share one class.
    category_c: float = 10.0
    min_category_prompts: int = 20
    # Weight of the trouter network averaged into the prediction (0: the booster alone, and no torch needed).
    mlp_weight: float = 0.5
    mlp: TRouterHyperParameters = field(default_factory=TRouterHyperParameters)
    # Learn each model's outcome relative to the mean of all training models on the prompt: a pick only
    # compares models on one prompt, so the prompt's overall difficulty is noise to the trees.
    relative_target: bool = True
    # Prompt-shape features (`prompt_shape`: counts of numbers, words, sentences, code and maths marks), which the
    # static encoder cannot see. On five validation splits: routellm mmlu APGR +0.010 (better on all five), the
    # other pools' AIQ unchanged within 0.001; 2.6-27 us per request (`bench/prompt_shape_bench.py`).
    shape_features: bool = True


def load_taxonomy(path: Path = TAXONOMY_PATH) -> dict[str, list[str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    types = data["task_types"]
    if not isinstance(types, dict) or not types:
        raise ValueError(f"{path}: 'task_types' must map names to lists of sentences")
    return {str(name): [str(s) for s in sentences] for name, sentences in types.items()}


def task_centroids(encoder: Encoder, taxonomy: dict[str, list[str]]) -> np.ndarray:
    """One L2-normalised mean embedding per task type, in the taxonomy's order."""
    return normalise_rows(np.stack([encoder.encode(sentences).mean(axis=0) for sentences in taxonomy.values()]))


def fit_probes(embeddings: np.ndarray, quality: np.ndarray, ridge: float) -> np.ndarray:
    """(dim + 1, m) ridge regression of each model's quality on [embedding, 1]; the bias is not penalised."""
    inputs = np.column_stack([embeddings, np.ones(len(embeddings))]).astype(np.float64)
    column_means = np.nan_to_num(np.nanmean(quality, axis=0), nan=0.5) if len(quality) else np.zeros(quality.shape[1])
    targets = np.where(np.isnan(quality), column_means, quality).astype(np.float64)
    penalty = np.eye(inputs.shape[1]) * ridge
    penalty[-1, -1] = 0.0
    return np.linalg.solve(inputs.T @ inputs + penalty, inputs.T @ targets).astype(np.float32)


def fit_categories(
    embeddings: np.ndarray, categories: Sequence[str], quality: np.ndarray, params: PerfRouterHyperParameters
) -> CategoryModel:
    """A softmax classifier of the prompts' categories and each model's mean outcome per category.

    Rare categories (fewer than `min_category_prompts`) are pooled into one class; with a single class every
    prompt gets the overall means.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    names, counts = np.unique(np.asarray(categories), return_counts=True)
    common = {name: i for i, name in enumerate(names[counts >= params.min_category_prompts])}
    labels = np.array([common.get(c, len(common)) for c in categories])
    classes = np.unique(labels)
    labels = np.searchsorted(classes, labels)
    table = np.stack([nan_mean(quality[labels == c], axis=0) for c in range(len(classes))])
    weights = np.zeros((embeddings.shape[1] + 1, len(classes)), dtype=np.float32)
    if len(classes) > 1:
        # One BLAS thread: the solver's sums then come out in the same order, so retraining is byte-stable.
        with threadpool_limits(limits=1):
            fitted = LogisticRegression(C=params.category_c, max_iter=3000).fit(embeddings, labels)
        coef = np.vstack([fitted.coef_.T, fitted.intercept_[None, :]])
        # Two classes: scikit-learn keeps one logit for class 1; class 0's stays 0, which softmax agrees with.
        weights[:, -coef.shape[1] :] = coef
    return CategoryModel(weights=weights, quality=table)


def out_of_fold(
    embeddings: np.ndarray,
    params: PerfRouterHyperParameters,
    seed: int,
    fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Each training prompt's value from `fit_predict(train_rows, held_rows)` fitted on the other folds."""
    folds = np.random.default_rng(seed + 1).integers(0, params.probe_folds, size=len(embeddings))
    out: np.ndarray | None = None
    for fold in range(params.probe_folds):
        held = folds == fold
        predicted = fit_predict(~held, held)
        if out is None:
            out = np.empty((len(embeddings), predicted.shape[1]), dtype=np.float32)
        out[held] = predicted
    assert out is not None
    return out


def out_of_fold_probes(
    embeddings: np.ndarray, quality: np.ndarray, params: PerfRouterHyperParameters, seed: int
) -> np.ndarray:
    """Each training prompt's probe predictions from probes fitted on the other folds (as for a new prompt)."""

    def fit_predict(fit: np.ndarray, held: np.ndarray) -> np.ndarray:
        weights = fit_probes(embeddings[fit], quality[fit], params.ridge)
        return np.asarray(embeddings[held] @ weights[:-1] + weights[-1])

    return out_of_fold(embeddings, params, seed, fit_predict)


def out_of_fold_categories(
    dataset: RoutingDataset, embeddings: np.ndarray, params: PerfRouterHyperParameters, seed: int
) -> np.ndarray:
    """Each training prompt's category outcomes from a classifier and table fitted on the other folds."""
    categories = np.asarray(dataset.categories)

    def fit_predict(fit: np.ndarray, held: np.ndarray) -> np.ndarray:
        model = fit_categories(embeddings[fit], list(categories[fit]), dataset.quality[fit], params)
        return category_mix(model, embeddings[held])

    return out_of_fold(embeddings, params, seed, fit_predict)


def fit_parts(
    dataset: RoutingDataset,
    embeddings: np.ndarray,
    centroids: np.ndarray,
    task_names: tuple[str, ...],
    models: tuple[ModelDescription, ...],
    params: PerfRouterHyperParameters,
    seed: int,
) -> PerfRouterParts:
    mean = embeddings.mean(axis=0).astype(np.float32)
    rng = np.random.default_rng(seed)
    reference = np.sort(rng.choice(len(embeddings), size=min(params.reference_prompts, len(embeddings)), replace=False))
    # Right singular vectors of the centred TRAIN embeddings; the sign is fixed so retraining is byte-stable.
    _, _, vt = np.linalg.svd(embeddings - mean, full_matrices=False)
    components = vt[: params.knn_dims]
    components *= np.where(components[np.arange(len(components)), np.abs(components).argmax(axis=1)] < 0, -1, 1)[
        :, None
    ]
    partial = PerfRouterParts(
        mean=mean,
        projection=components.T.astype(np.float32),
        pca_features=params.pca_features,
        task_names=task_names,
        task_centroids=centroids,
        neighbours=NeighbourTable(
            keys=np.zeros((0, params.knn_dims), dtype=np.float32),
            quality=dataset.quality.astype(np.float32),
            model_names=tuple(m.name for m in models),
            capability=np.array([m.capability for m in models], dtype=np.float32),
        ),
        k=params.k,
        capability_bandwidth=params.capability_bandwidth,
        reference_embeddings=embeddings[reference].astype(np.float16).astype(np.float32),
        reference_rows=reference,
        reference_chars=np.array([len(dataset.prompts[i]) for i in reference], dtype=np.float32),
        probes=fit_probes(embeddings, dataset.quality, params.ridge),
        categories=fit_categories(embeddings, dataset.categories, dataset.quality, params),
        reference_shapes=shape_features([dataset.prompts[i] for i in reference]) if params.shape_features else None,
    )
    # The stored keys are float16; training uses the same rounded keys the router will serve with.
    keys = project(partial, embeddings).astype(np.float16).astype(np.float32)
    table = NeighbourTable(
        keys=keys,
        quality=dataset.quality.astype(np.float16).astype(np.float32),
        model_names=partial.neighbours.model_names,
        capability=partial.neighbours.capability,
    )
    return replace(partial, neighbours=table)


def training_rows(
    parts: PerfRouterParts,
    dataset: RoutingDataset,
    embeddings: np.ndarray,
    models: tuple[ModelDescription, ...],
    params: PerfRouterHyperParameters,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hidden = rng.random(dataset.quality.shape) < params.hide_own_share
    chars = np.array([len(p) for p in dataset.prompts], dtype=np.float32)
    rows = pair_features(
        parts,
        embeddings,
        chars,
        models,
        table_rows=np.arange(len(embeddings)),
        leave_self_out=True,
        self_known=~hidden,
        probe_outcomes=out_of_fold_probes(embeddings, dataset.quality, params, seed),
        category_outcomes=out_of_fold_categories(dataset, embeddings, params, seed),
        shapes=shape_features(dataset.prompts) if params.shape_features else None,
    )
    quality = dataset.quality
    if params.relative_target:
        quality = quality - nan_mean(quality, axis=1)[:, None]
    target = quality.reshape(-1)
    known = ~np.isnan(target)
    return rows[known], target[known].astype(np.float32)


def fit_booster(rows: np.ndarray, target: np.ndarray, params: PerfRouterHyperParameters, seed: int) -> Any:
    import xgboost

    matrix = xgboost.DMatrix(rows, label=target, nthread=params.threads)
    booster = xgboost.train(
        {
            "objective": "reg:squarederror" if params.relative_target else "reg:logistic",
            "tree_method": "hist",
            "max_depth": params.max_depth,
            "eta": params.learning_rate,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "min_child_weight": 20,
            "lambda": 1.0,
            "seed": seed,
            "nthread": params.threads,
        },
        matrix,
        num_boost_round=params.rounds,
    )
    return booster


def perf_router_needs() -> tuple[str, ...]:
    """The ml-extra modules training imports: XGBoost, and torch for the averaged network unless its weight is 0."""
    return ("xgboost", "torch") if PerfRouterHyperParameters().mlp_weight > 0 else ("xgboost",)


def train_perf_router(
    train: RoutingDataset,
    encoder: Encoder,
    out_dir: Path,
    seed: int,
    params: PerfRouterHyperParameters | None = None,
    embeddings: np.ndarray | None = None,
) -> None:
    """Fit perf_router on `train` (the TRAIN split) and write its artifact folder to `out_dir`.

    BLAS runs on one thread throughout: its sums then come out in the same order on any machine and in any
    process (the proxy limits BLAS for itself, which once made a retrain in the test run differ by a bit).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        _train_perf_router(train, encoder, out_dir, seed, params or PerfRouterHyperParameters(), embeddings)


def _train_perf_router(
    train: RoutingDataset,
    encoder: Encoder,
    out_dir: Path,
    seed: int,
    params: PerfRouterHyperParameters,
    embeddings: np.ndarray | None,
) -> None:
    if embeddings is None:
        embeddings = cached_embeddings(train, encoder, EMBEDDING_CACHE_DIR)
    taxonomy = load_taxonomy()
    models = describe_dataset_models(train)
    parts = fit_parts(train, embeddings, task_centroids(encoder, taxonomy), tuple(taxonomy), models, params, seed)
    rows, target = training_rows(parts, train, embeddings, models, params, seed)
    booster = fit_booster(rows, target, params, seed)
    meta = {
        "router": "perf_router",
        "encoder": encoder.name,
        "encoder_fingerprint": getattr(encoder, "fingerprint", encoder.name),
        "dataset": train.name,
        "train_prompts": len(train),
        "seed": seed,
        "hyper_parameters": asdict(params),
    }
    save_predictor(out_dir, parts, from_xgboost(booster), meta)
    if params.mlp_weight > 0:
        train_trouter(train, encoder, out_dir / MLP_DIR, seed, params.mlp, embeddings)


load_perf_router = load_predictor
