"""perf_router: the default router. Predicted quality per candidate, weighed against its expected cost.

Per request: embed the last user message (`features.query`, head and tail when very long) with the encoder the
artifact was trained with, compare it with the task-type centroids of `task_taxonomy.json`, predict each
candidate's quality with the XGBoost model of `perf_router_inference`, and pick.

How the knobs in `config.yaml` (`routers.perf_router`) act, in this order:

1. `perf_router_min_similarity`: when the prompt's best cosine similarity to any task type is below it, the
   prompt is unfamiliar ("hi", "ok", a line of noise): the predictions are not trusted and rule_based, whose
   rules read the request's features, decides instead. The reason says so and the confidence is halved. (Taking
   each model's `quality_prior` instead sent every greeting to the oracle tier: with the priors alone the
   degradation threshold keeps only the strongest models.)
2. `perf_router_baseline` and `perf_router_degradation_threshold`: only candidates whose predicted quality is
   at least the baseline's predicted quality minus the threshold are eligible. The baseline is the named model
   when it is a candidate for this request, else (and when null) the candidate with the best predicted quality.
   A threshold of 0 keeps only models predicted as good as the baseline.
3. `perf_router_cost_weight` (alpha): among the eligible, the pick maximises
   `predicted quality - alpha * expected cost / the most expensive candidate's expected cost`, so alpha is the
   quality (on the 0..1 scale) one would give up to avoid the most expensive candidate entirely. 0 ignores cost.

Expected cost is `routing.base.request_cost`: the prompt's estimated tokens at the input price, plus
`max_tokens` (or 400) at the output price, less any warm-cache credit the session pin grants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optmod.config import ROUTING_DIR, ModelConfig, RoutersSettings
from optmod.registry import ModelRegistry
from optmod.routing.base import (
    ArtifactError,
    Decision,
    ModelScore,
    Router,
    RouteRequest,
    request_cost,
    trim_query,
)
from optmod.routing.model_description import (
    MODEL_REGISTRY_PATH,
    ModelDescription,
    describe_config_model,
    load_model_registry,
)
from optmod.routing.perf_router_inference import load_predictor
from optmod.routing.rule_based import RuleBasedRouter

# Queries whose embedding a router remembers (about 10 KB each at the longest).
QUERY_CACHE_SIZE = 1024


class QueryEmbeddings:
    """The encoder's vector for each query, remembered: an agent's tool loop re-sends the same last user message on
    every turn, and embedding it is most of a decision's time (0.5 ms for 2,000 characters).

    Bounded by emptying it when full (a dict's clear and update are atomic, so routing threads share it). The
    vectors are read-only: every caller gets the same array.
    """

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self._known: dict[str, np.ndarray] = {}

    def embed(self, query: str) -> np.ndarray:
        """float32 (1, dim)."""
        vector = self._known.get(query)
        if vector is None:
            vector = self.encoder.encode([query])
            vector.flags.writeable = False
            if len(self._known) >= QUERY_CACHE_SIZE:
                self._known.clear()
            self._known[query] = vector
        return vector

    def forget(self) -> None:
        """Empty it (benchmarks time decisions on queries never seen)."""
        self._known.clear()


def resolve_artifact(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else ROUTING_DIR / path


def load_router_encoder(name: str) -> Any:
    """The encoder an artifact was trained with; ArtifactError when it cannot load (the app falls back)."""
    from optmod.encoders import EncoderError, load_encoder

    try:
        return load_encoder(name)
    except EncoderError as exc:
        raise ArtifactError(str(exc)) from None


def check_encoder(router: str, meta: dict[str, Any], encoder: Any) -> None:
    """An artifact only fits the exact encoder it was trained with: another one puts prompts elsewhere."""
    trained_with = meta.get("encoder_fingerprint")
    current = getattr(encoder, "fingerprint", None)
    if trained_with is not None and current is not None and trained_with != current:
        raise ArtifactError(
            f"{router} was trained with encoder {trained_with}, but {current} is installed: retrain it "
            f"(optmod train --router {router})"
        )


def describe_candidates(
    candidates: Sequence[ModelConfig], registry: dict[str, dict[str, object]]
) -> tuple[ModelDescription, ...]:
    return tuple(describe_config_model(m, registry) for m in candidates)


@dataclass(frozen=True, slots=True)
class Choice:
    """The index picked among the candidates and the ModelScores of all of them."""

    index: int
    scores: tuple[ModelScore, ...]
    margin: float  # score of the pick minus the best other eligible score (inf when alone)


def choose(
    names: Sequence[str],
    quality: np.ndarray,
    costs: np.ndarray,
    cost_weight: float,
    eligible: np.ndarray | None = None,
) -> Choice:
    """argmax of quality - cost_weight * cost / max cost over the eligible candidates (all when None)."""
    top = float(costs.max())
    normalised = costs / top if top > 0 else np.zeros_like(costs)
    utility = quality - cost_weight * normalised
    allowed = np.ones(len(names), dtype=bool) if eligible is None else eligible
    masked = np.where(allowed, utility, -np.inf)
    index = int(np.argmax(masked))
    others = np.delete(masked, index)
    margin = float(masked[index] - others.max()) if others.size and np.isfinite(others.max()) else math.inf
    scores = tuple(
        ModelScore(model=name, quality=round(float(q), 4), cost=float(c), score=round(float(u), 4), eligible=bool(a))
        for name, q, c, u, a in zip(names, quality, costs, utility, allowed, strict=True)
    )
    return Choice(index=index, scores=scores, margin=margin)


def decide_by_utility(request: RouteRequest, quality: np.ndarray, cost_weight: float, label: str) -> Decision:
    """The decision of a router that only trades predicted quality against cost: the pick, why, how sure."""
    costs = np.array([request_cost(m, request) for m in request.candidates], dtype=np.float64)
    names = [m.name for m in request.candidates]
    choice = choose(names, quality, costs, cost_weight)
    return Decision(
        model=names[choice.index],
        reason=f"{label}: {compare_text(choice, choice.index)}",
        confidence=confidence_from_margin(choice.margin),
        scores=choice.scores,
    )


def confidence_from_margin(margin: float) -> float:
    """0.5 on a tie, towards 1 as the pick's lead over the runner-up grows (0.1 of utility is a clear lead)."""
    if math.isinf(margin):
        return 1.0
    return round(0.5 + 0.5 * math.tanh(max(margin, 0.0) / 0.1), 3)


def compare_text(choice: Choice, index: int) -> str:
    """How the pick compares with the best-predicted other candidate, in quality and cost."""
    picked = choice.scores[index]
    others = [s for i, s in enumerate(choice.scores) if i != index]
    if not others:
        return f"predicted quality {picked.quality:.2f}, the only candidate"
    rival = max(others, key=lambda s: s.quality)
    text = f"predicted quality {picked.quality:.2f} vs {rival.quality:.2f} for {rival.model}"
    if picked.cost == 0:
        return f"{text}, free" if rival.cost > 0 else f"{text}, both free"
    if picked.cost <= rival.cost:
        return f"{text}, at {100 * picked.cost / rival.cost:.0f}% of its cost"
    if rival.cost > 0:
        return f"{text}, at {picked.cost / rival.cost:.1f}x its cost"
    return f"{text}, which is free"


class PerfRouter(Router):
    """Quality predicted by XGBoost from the query and each model's description, traded against cost."""

    name = "perf_router"
    offload = True

    def __init__(self, settings: RoutersSettings, registry: ModelRegistry) -> None:
        super().__init__(settings, registry)
        own = settings.perf_router
        self.predictor = load_predictor(resolve_artifact(own.artifact_dir))
        self.encoder = load_router_encoder(self.predictor.encoder_name)
        check_encoder(self.name, self.predictor.meta, self.encoder)
        self.queries = QueryEmbeddings(self.encoder)
        try:
            self.model_registry = load_model_registry(MODEL_REGISTRY_PATH)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"perf_router cannot read {MODEL_REGISTRY_PATH.name}: {exc}") from None
        # Anchoring needs each model's mean prediction over the reference prompts, computed on first use and kept:
        # computed now for the whole pool (any request's candidates are among them), so the first request does
        # not wait for it (0.1 s or more: `bench/router_bench.py`'s first-decision column).
        pool = describe_candidates(registry.models, self.model_registry)
        self.predictor.predict_quality(self.encoder.encode(["warm-up"]), ["warm-up"], pool)
        self.unfamiliar = RuleBasedRouter(settings, registry)

    def route(self, request: RouteRequest) -> Decision:
        own = self.settings.perf_router
        candidates = request.candidates
        query = trim_query(request.features.query)
        embedding = self.queries.embed(query)
        tasks = self.predictor.task_mix(embedding)[0]
        best_task = int(np.argmax(tasks))
        task_name = self.predictor.parts.task_names[best_task]
        if tasks[best_task] < own.perf_router_min_similarity:
            return self._route_unfamiliar(request, f"{task_name} {tasks[best_task]:.2f}")
        descriptions = describe_candidates(candidates, self.model_registry)
        # The whole query, as in training: its length is a feature (the embedding read the trimmed one).
        quality = self.predictor.predict_quality(embedding, [request.features.query], descriptions)[0]
        costs = np.array([request_cost(m, request) for m in candidates], dtype=np.float64)
        names = [m.name for m in candidates]
        reference = self._reference_quality(names, quality)
        eligible = quality >= reference - own.perf_router_degradation_threshold - 1e-9
        choice = choose(names, quality, costs, own.perf_router_cost_weight, eligible)
        reason = f"perf_router: {compare_text(choice, choice.index)}; task: {task_name} {tasks[best_task]:.2f}"
        return Decision(
            model=names[choice.index],
            reason=reason,
            confidence=confidence_from_margin(choice.margin),
            scores=choice.scores,
        )

    def _route_unfamiliar(self, request: RouteRequest, nearest_task: str) -> Decision:
        floor = self.settings.perf_router.perf_router_min_similarity
        decision = self.unfamiliar.route(request)
        return Decision(
            model=decision.model,
            reason=f"perf_router: unfamiliar prompt (nearest task {nearest_task}, below {floor:.2f}), so "
            + decision.reason,
            confidence=round(decision.confidence / 2, 3),
            scores=decision.scores,
        )

    def _reference_quality(self, names: Sequence[str], quality: np.ndarray) -> float:
        baseline = self.settings.perf_router.perf_router_baseline
        if baseline is not None and baseline in names:
            return float(quality[list(names).index(baseline)])
        return float(quality.max())

    def describe(self) -> dict[str, Any]:
        own = self.settings.perf_router
        return {
            "name": self.name,
            "encoder": self.predictor.encoder_name,
            "trained_on": self.predictor.meta.get("dataset"),
            "task_types": list(self.predictor.parts.task_names),
            "cost_weight": own.perf_router_cost_weight,
            "baseline": own.perf_router_baseline,
            "degradation_threshold": own.perf_router_degradation_threshold,
            "min_similarity": own.perf_router_min_similarity,
        }
