"""The router interface every router implements, and the frozen decision it returns.

A router sees the request's `Features` (learned routers embed `features.query` themselves) and the pool
models able to serve the request; it never sees the HTTP request. It returns a `Decision`: the model, why,
how sure it is, and the per-model scores it weighed, which the log keeps as the top alternatives.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from optmod.config import ModelConfig, RoutersSettings
from optmod.features import Features
from optmod.registry import ModelRegistry, expected_cost

# Output tokens assumed when the request sets no limit: the median chat answer is a few hundred tokens.
DEFAULT_OUTPUT_TOKENS = 400
# What learned routers read of a long query: its head and tail, where the task shows; the encoder reads a few
# hundred tokens at most.
QUERY_HEAD_CHARS = 1536
QUERY_TAIL_CHARS = 512


def trim_query(query: str) -> str:
    """The query when short, else its head and tail joined by a newline (a trimmed query trims to itself)."""
    if len(query) <= QUERY_HEAD_CHARS + QUERY_TAIL_CHARS:
        return query
    return query[:QUERY_HEAD_CHARS] + "\n" + query[-QUERY_TAIL_CHARS:]


@dataclass(frozen=True, slots=True)
class ModelScore:
    """How a router rated one candidate: predicted quality in [0, 1], expected USD, and the combined score."""

    model: str
    quality: float
    cost: float
    score: float
    # False when a filter before the trade-off (perf_router's degradation threshold) ruled the model out, so a
    # reader of the log is not left wondering why a higher score lost.
    eligible: bool = True


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What a router decides on.

    `candidates` are the pool models able to serve the request (context fits, vision when it has images), in
    config order, never empty. `credits` are USD a model is expected to save on this call because its prompt
    cache is warm (the session pin's soft bonus); scoring routers subtract them from the expected cost.
    """

    features: Features
    candidates: tuple[ModelConfig, ...]
    credits: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    model: str
    reason: str
    confidence: float
    scores: tuple[ModelScore, ...] = ()

    def alternatives(self, count: int = 3) -> tuple[ModelScore, ...]:
        """The best-scored candidates other than the chosen one, the eligible ones first."""
        others = [s for s in self.scores if s.model != self.model]
        return tuple(sorted(others, key=lambda s: (s.eligible, s.score), reverse=True)[:count])


class ArtifactError(RuntimeError):
    """A learned router's artifact or library is missing or unreadable; the router falls back to rule_based."""


class Router(ABC):
    """Picks a model for a request. Built once at start-up (or on a runtime swap), then shared by all requests."""

    name: ClassVar[str]
    # True when route() does enough CPU work that it belongs in a worker thread, off the event loop.
    offload: ClassVar[bool] = False

    def __init__(self, settings: RoutersSettings, registry: ModelRegistry) -> None:
        self.settings = settings
        self.registry = registry

    @abstractmethod
    def route(self, request: RouteRequest) -> Decision: ...

    def describe(self) -> dict[str, Any]:
        """What /optmod/status shows about this router."""
        return {"name": self.name}


def predicted_output_tokens(features: Features) -> int:
    return features.max_output_tokens or DEFAULT_OUTPUT_TOKENS


def request_cost(model: ModelConfig, request: RouteRequest) -> float:
    """Expected USD of sending this request to `model`, less the model's warm-cache credit."""
    features = request.features
    cost = expected_cost(model, features.estimated_tokens, predicted_output_tokens(features))
    return max(cost - request.credits.get(model.name, 0.0), 0.0)


def cheapest(models: tuple[ModelConfig, ...], request: RouteRequest) -> ModelConfig:
    """The cheapest model for this request; config order breaks ties."""
    return min(models, key=lambda m: request_cost(m, request))
