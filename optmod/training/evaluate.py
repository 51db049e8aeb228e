"""`optmod eval`: routers and baselines on a data set's test split, measured in quality against cost.

For one pool of models (default: all of the data set's) the routers are trained on the TRAIN split (cached
under `.cache/trained/` until the data, the seed or the trainer's code changes), then each router's cost knob
is swept over the TEST prompts that every pool model answered. Baselines: each single model, "no routing"
(the best mix of single models at each budget, blind to the prompt), a random router at matched cost, the
oracle that knows the outcomes, and k-nearest-neighbours (each model's mean quality on the 50 most similar
TRAIN prompts, per encoder; not in leave-models-out runs, where the pool has no train outcomes to average). Metrics come from `optmod.training.metrics`; the timing of each router's
runtime decision path (encoder + predictor, one thread) from `optmod.training.timing`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from optmod.encoders import EMBEDDING_CACHE_DIR, Encoder, cached_embeddings, load_encoder
from optmod.routing.base import ArtifactError
from optmod.routing.model_description import ModelDescription, describe_dataset_models
from optmod.training import metrics
from optmod.training.data import DataError, RoutingDataset, expected_costs, load_dataset, median_output_tokens
from optmod.training.registry import QualityPredictor, RouterTrainer, get_trainer
from optmod.training.sweep import (
    CurvePoint,
    OutcomeTable,
    alpha_sweep,
    oracle_points,
    random_points,
    share_sweep,
    single_model_points,
)
from optmod.training.timing import time_decisions

TRAINED_CACHE_DIR = EMBEDDING_CACHE_DIR.parent / "trained"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
ARTIFACT_CODE = ("routing/*.py", "training/*.py", "encoders.py", "features.py")
KNN_K = 50
KNN_BLOCK = 512
COST_RATIO_SHARES = {"cost_ratio_at_95": 0.95, "cost_ratio_at_98": 0.98, "cost_ratio_at_100": 1.0}
logger = logging.getLogger("optmod.training")

Metrics = dict[str, float | None]


@dataclass(frozen=True)
class EvalRequest:
    """What `optmod eval` was asked to do."""

    data: Path
    routers: tuple[str, ...] = ()
    pool: tuple[str, ...] = ()
    category: str | None = None
    encoders: tuple[str, ...] = ("static",)
    seed: int = 0
    leave_models_out: bool = False
    # Evaluate on a held-out share of TRAIN instead of the test split (for tuning); 0 means the test split.
    validation_share: float = 0.0
    retrain: bool = False
    timing_queries: int = 200
    cache_dir: Path = EMBEDDING_CACHE_DIR
    trained_dir: Path = TRAINED_CACHE_DIR


@dataclass(frozen=True)
class RouterResult:
    """One curve of the report: a router (with an encoder), a baseline or a single model, and its metrics."""

    name: str
    kind: str  # "router" | "baseline" | "single"
    points: tuple[CurvePoint, ...]
    metrics: Metrics
    groups: dict[str, Metrics] = field(default_factory=dict)
    encoder: str | None = None


@dataclass(frozen=True)
class PoolFrame:
    """The fixed yardsticks of one pool on the test prompts: cost range, best model, weak and strong."""

    models: tuple[str, ...]
    low_cost: float
    high_cost: float
    best_quality: float
    best_cost: float
    weak: int | None = None  # two-model pools only
    strong: int | None = None


@dataclass(frozen=True)
class Report:
    dataset: str
    pool: tuple[str, ...]
    category: str | None
    test_prompts: int
    train_prompts: int
    leave_models_out: bool
    frame: PoolFrame
    results: tuple[RouterResult, ...]
    settings: dict[str, object]


def build_frame(table: OutcomeTable, models: tuple[str, ...], train_quality: np.ndarray) -> PoolFrame:
    costs, qualities = table.single_costs, table.single_qualities
    best = int(np.argmax(qualities))
    weak = strong = None
    if len(models) == 2:
        # The strong model is the one better on TRAIN: a fact known before the test prompts are seen.
        strong = int(np.argmax(train_quality))
        weak = 1 - strong
    return PoolFrame(
        models=models,
        low_cost=float(costs.min()),
        high_cost=float(costs.max()),
        best_quality=float(qualities[best]),
        best_cost=float(costs[best]),
        weak=weak,
        strong=strong,
    )


def curve_metrics(points: list[CurvePoint], frame: PoolFrame) -> Metrics:
    hull = metrics.build_hull([p.cost for p in points], [p.quality for p in points])
    result: Metrics = {
        "quality": float(hull.qualities[-1]),
        "aiq": metrics.aiq(hull, frame.low_cost, frame.high_cost),
    }
    for key, share in COST_RATIO_SHARES.items():
        result[key] = metrics.cost_ratio(hull, frame.best_quality, frame.best_cost, share)
    return result


def gap_metrics(points: list[CurvePoint], table: OutcomeTable, frame: PoolFrame) -> Metrics:
    assert frame.weak is not None and frame.strong is not None
    weak, strong = table.single_qualities[frame.weak], table.single_qualities[frame.strong]
    if strong <= weak:
        return {"apgr": None, "cpt50": None, "cpt80": None}
    shares = [p.strong_share or 0.0 for p in points]
    curve = metrics.build_gap_curve(shares, [p.quality for p in points], float(weak), float(strong))
    return {"apgr": metrics.apgr(curve), "cpt50": metrics.cpt(curve, 0.5), "cpt80": metrics.cpt(curve, 0.8)}


def two_model_result(
    name: str, kind: str, table: OutcomeTable, frame: PoolFrame, gain: np.ndarray, extra: list[CurvePoint]
) -> RouterResult:
    """A two-model curve: the share sweep by `gain` gives the gap metrics, overall and per category group."""
    assert frame.weak is not None and frame.strong is not None
    shares = share_sweep(table, gain, frame.weak, frame.strong)
    found = curve_metrics(shares + extra, frame) | gap_metrics(shares, table, frame)
    groups: dict[str, Metrics] = {}
    for group in sorted(set(table.groups)):
        mask = np.array([g == group for g in table.groups])
        part = table.rows(mask)
        groups[group] = gap_metrics(share_sweep(part, gain[mask], frame.weak, frame.strong), part, frame)
    return RouterResult(name, kind, tuple(shares + extra), found, groups)


def baseline_results(table: OutcomeTable, frame: PoolFrame, seed: int) -> list[RouterResult]:
    singles = single_model_points(table, frame.strong)
    # A lone model has no curve to take the area under: it shows its quality and cost instead of an AIQ.
    results = [
        RouterResult(
            model,
            "single",
            (point,),
            curve_metrics([point], frame) | {"aiq": None, "cost_usd": point.cost},
        )
        for model, point in zip(frame.models, singles, strict=True)
    ]
    blind = curve_metrics(singles, frame)
    if frame.strong is not None and frame.weak is not None:
        results.append(
            RouterResult("no_routing", "baseline", tuple(singles), blind | gap_metrics(singles, table, frame))
        )
        rng = np.random.default_rng(seed)
        true_gain = table.quality[:, frame.strong] - table.quality[:, frame.weak]
        results.append(two_model_result("random", "baseline", table, frame, rng.random(len(true_gain)), []))
        results.append(two_model_result("oracle", "baseline", table, frame, true_gain, []))
        return results
    results.append(RouterResult("no_routing", "baseline", tuple(singles), blind, alpha_groups(table, None)))
    randoms = random_points(table, seed)
    results.append(RouterResult("random", "baseline", tuple(randoms), curve_metrics(randoms, frame)))
    oracle = oracle_points(table)
    oracle_groups = alpha_groups(table, None, truth=True)
    results.append(RouterResult("oracle", "baseline", tuple(oracle), curve_metrics(oracle, frame), oracle_groups))
    return results


def group_parts(table: OutcomeTable) -> list[tuple[str, np.ndarray, OutcomeTable, PoolFrame]]:
    """Each category group's rows with its own yardsticks (cost range, best model); none when there is one group."""
    names = sorted(set(table.groups))
    if len(names) < 2:
        return []
    parts = []
    for group in names:
        mask = np.array([g == group for g in table.groups])
        part = table.rows(mask)
        # Model labels only matter for two-model pools, which take the gap-metric path instead.
        labels = tuple(str(j) for j in range(table.quality.shape[1]))
        parts.append((group, mask, part, build_frame(part, labels, np.zeros(len(labels)))))
    return parts


def alpha_groups(table: OutcomeTable, predicted: np.ndarray | None, truth: bool = False) -> dict[str, Metrics]:
    """Multi-model metrics per category group: a router's alpha sweep (`predicted`), the oracle's, or blind mixing."""
    groups: dict[str, Metrics] = {}
    for group, mask, part, frame in group_parts(table):
        if truth:
            points = oracle_points(part)
        elif predicted is None:
            points = single_model_points(part)
        else:
            points = alpha_sweep(part, predicted[mask])
        groups[group] = curve_metrics(points, frame)
    return groups


def router_result(
    name: str, encoder: str, predicted: np.ndarray, table: OutcomeTable, frame: PoolFrame, timing: Metrics
) -> RouterResult:
    by_alpha = alpha_sweep(table, predicted, strong=frame.strong)
    if frame.strong is not None and frame.weak is not None:
        gain = predicted[:, frame.strong] - predicted[:, frame.weak]
        result = two_model_result(name, "router", table, frame, gain, by_alpha)
    else:
        found = curve_metrics(by_alpha, frame)
        result = RouterResult(name, "router", tuple(by_alpha), found, alpha_groups(table, predicted))
    return RouterResult(
        f"{name}[{encoder}]", "router", result.points, result.metrics | timing, result.groups, encoder=encoder
    )


def trainer_fingerprint(trainer: RouterTrainer, train: RoutingDataset, encoder: Encoder, seed: int) -> str:
    """Changes whenever a retrain could give a different model: code, data rows, models, encoder or seed.

    The code is every module a router's training, artifact format or prediction can live in, not only the
    trainer's own file: a feature computed in a module of its own changes the model all the same.
    """
    digest = hashlib.sha256()
    own = {inspect.getsourcefile(function) for function in (trainer.train, trainer.load)}
    for source in sorted(filter(None, own)):  # a trainer may live outside the package
        digest.update(Path(source).read_bytes())
    for path in sorted(p for pattern in ARTIFACT_CODE for p in PACKAGE_DIR.glob(pattern)):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(json.dumps([trainer.name, train.name, train.model_names, seed, encoder.fingerprint]).encode())
    digest.update("\n".join(train.ids).encode())
    return digest.hexdigest()[:16]


def trained_predictor(
    trainer: RouterTrainer, train: RoutingDataset, encoder: Encoder, request: EvalRequest
) -> QualityPredictor:
    key = trainer_fingerprint(trainer, train, encoder, request.seed)
    folder = request.trained_dir / f"{trainer.name}-{encoder.name}-{key}"
    if not request.retrain and (folder / ".trained").is_file():
        try:
            return trainer.load(folder)
        except ArtifactError as exc:
            # Code outside the fingerprint (a library's version) can still change what an artifact needs.
            logger.warning("cached %s no longer loads (%s); training it again", folder, exc)
    shutil.rmtree(folder, ignore_errors=True)
    logger.info("training %s with %s on %d prompts -> %s", trainer.name, encoder.name, len(train), folder)
    trainer.train(train, encoder, folder, request.seed)
    (folder / ".trained").write_text(key, encoding="utf-8")
    return trainer.load(folder)


def pool_tables(
    full: RoutingDataset, request: EvalRequest
) -> tuple[RoutingDataset, OutcomeTable, tuple[ModelDescription, ...], np.ndarray]:
    pool = request.pool or full.model_names
    pooled = full.select_models(pool)
    test = pooled.split("test")
    if request.category:
        test = test.select_categories(request.category)
    if len(test) == 0:
        raise DataError(f"no test prompts with outcomes for every pool model (category {request.category!r})")
    train = full.split("train").select_models(pool)
    by_name = {d.name: d for d in describe_dataset_models(full)}
    descriptions = tuple(by_name[name] for name in pool)
    # What a router can know of a model's cost beforehand: list prices and its median answer length on TRAIN.
    medians = median_output_tokens(full.split("train"))[[full.model_names.index(name) for name in pool]]
    groups = tuple(c.split("/", 1)[0] for c in test.categories)
    table = OutcomeTable(test.quality.astype(np.float64), test.cost, expected_costs(test, medians), groups)
    train_quality = np.nanmean(train.quality, axis=0) if len(train) else np.zeros(len(pool))
    return test, table, descriptions, np.asarray(train_quality)


def knn_quality(train_embeddings: np.ndarray, train_quality: np.ndarray, embeddings: np.ndarray, k: int) -> np.ndarray:
    """Each model's mean quality on the k most similar TRAIN prompts (cosine): the simple baseline to beat."""
    k = min(k, len(train_embeddings))
    predicted = np.empty((len(embeddings), train_quality.shape[1]))
    for start in range(0, len(embeddings), KNN_BLOCK):
        similarity = embeddings[start : start + KNN_BLOCK] @ train_embeddings.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        predicted[start : start + KNN_BLOCK] = np.nanmean(train_quality[nearest], axis=1)
    return predicted


def knn_result(
    full: RoutingDataset, encoder: Encoder, embeddings: np.ndarray, table: OutcomeTable, frame: PoolFrame, cache: Path
) -> RouterResult:
    train = full.split("train").select_models(frame.models)
    predicted = knn_quality(cached_embeddings(train, encoder, cache), train.quality, embeddings, KNN_K)
    result = router_result(f"knn{KNN_K}", encoder.name, predicted, table, frame, {})
    return RouterResult(result.name, "baseline", result.points, result.metrics, result.groups, encoder.name)


def evaluate(request: EvalRequest) -> Report:
    full = load_dataset(request.data)
    if request.validation_share:
        full = full.validation_split(request.validation_share, request.seed)
    test, table, descriptions, train_quality = pool_tables(full, request)
    frame = build_frame(table, test.model_names, train_quality)
    results = baseline_results(table, frame, request.seed)
    train = full.split("train")
    if request.leave_models_out:
        train = train.without_models(frame.models)
    for encoder_name in request.encoders if request.routers else ():
        encoder = load_encoder(encoder_name)
        embeddings = cached_embeddings(test, encoder, request.cache_dir)
        if not request.leave_models_out:  # the pool's own outcomes are what the baseline averages
            results.append(knn_result(full, encoder, embeddings, table, frame, request.cache_dir))
        for router in request.routers:
            predictor = trained_predictor(get_trainer(router), train, encoder, request)
            predicted = np.asarray(predictor.predict_quality(embeddings, test.prompts, descriptions), dtype=np.float64)
            timing = time_decisions(
                encoder, predictor, test.prompts, descriptions, request.timing_queries, request.seed
            )
            results.append(router_result(router, encoder.name, predicted, table, frame, timing))
    return Report(
        dataset=full.name,
        pool=frame.models,
        category=request.category,
        test_prompts=len(test),
        train_prompts=len(train),
        leave_models_out=request.leave_models_out,
        frame=frame,
        results=tuple(results),
        settings={
            "seed": request.seed,
            "encoders": list(request.encoders),
            "routers": list(request.routers),
            "validation_share": request.validation_share,
        },
    )
