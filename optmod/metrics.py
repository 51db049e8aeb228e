"""Prometheus metrics for `GET /metrics`, fed by the same log records as the stats.

Each app instance owns its `CollectorRegistry`, so several apps in one process (the tests) never share or
double-register series. Label values come from the pool and fixed tables (model, tier, status, router,
failure class), never from a request body, so the number of series stays bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from optmod.config import TIER_NAMES

# Seconds; requests to LLMs range from a cached one-liner to a long reasoning answer.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
# Routing and proxy overhead are meant to be milliseconds; the learned routers may take tens of them.
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
TOKEN_KINDS = {
    "prompt": "prompt_tokens",
    "completion": "completion_tokens",
    "cached": "cached_tokens",
    "cache_write": "cache_write_tokens",
}
NONE_LABEL = "none"


def _label(value: Any) -> str:
    return NONE_LABEL if value is None or value == "" else str(value)


def _tier_label(value: Any) -> str:
    return TIER_NAMES.get(value, NONE_LABEL) if isinstance(value, int) else NONE_LABEL


def _seconds(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value) / 1000.0
    return None


class _Children:
    """A labelled metric's children by label values, kept after the first use.

    `labels()` validates the values, builds a key and takes a lock on every call (about 1% of a request's CPU
    in a py-spy profile, for the six series a request touches). Label sets are bounded (see the module
    docstring), so this is too.
    """

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def get(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


class ProxyMetrics:
    """The proxy's Prometheus series, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter(
            "optmod_requests",
            "Requests answered, by the model that answered",
            ["model", "tier", "status", "router"],
            registry=reg,
        )
        self.attempts = Counter("optmod_attempts", "Provider attempts by outcome", ["model", "outcome"], registry=reg)
        self.escalations = Counter(
            "optmod_escalations",
            "Moves from one model to the next after a failure",
            ["from_model", "to_model", "reason"],
            registry=reg,
        )
        self.latency = Histogram(
            "optmod_request_latency_seconds", "Total request latency", ["model"], buckets=LATENCY_BUCKETS, registry=reg
        )
        self.ttft = Histogram(
            "optmod_time_to_first_token_seconds",
            "Time to the first content byte of a stream",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=reg,
        )
        self.tokens = Counter("optmod_tokens", "Tokens reported by providers", ["model", "kind"], registry=reg)
        self.cost = Counter("optmod_cost_usd", "USD spent, as priced from config.yaml", ["model"], registry=reg)
        self.routing = Histogram(
            "optmod_routing_decision_seconds",
            "Time a router took to decide",
            ["router"],
            buckets=FAST_BUCKETS,
            registry=reg,
        )
        self.overhead = Histogram(
            "optmod_proxy_overhead_seconds",
            "Time spent in optmod itself: total latency minus waiting on providers",
            buckets=FAST_BUCKETS,
            registry=reg,
        )
        self._requests, self._attempts = _Children(self.requests), _Children(self.attempts)
        self._latency, self._ttft = _Children(self.latency), _Children(self.ttft)
        self._tokens, self._cost, self._routing = _Children(self.tokens), _Children(self.cost), _Children(self.routing)

    def observe(self, record: Mapping[str, Any]) -> None:
        """A RequestLog listener: count one finished request."""
        model = _label(record.get("model"))
        # Positional label values, in the order the series declare them.
        self._requests.get(
            model, _tier_label(record.get("tier")), _label(record.get("status")), _label(record.get("router"))
        ).inc()
        self._observe_attempts(record.get("attempts"))
        latency = _seconds(record.get("latency_ms"))
        if latency is not None:
            self._latency.get(model).observe(latency)
        # The record carries the overhead, so the proxy need not call observe_overhead as well.
        overhead = _seconds(record.get("overhead_ms"))
        if overhead is not None:
            self.overhead.observe(overhead)
        ttft = _seconds(record.get("ttft_ms"))
        if ttft is not None:
            self._ttft.get(model).observe(ttft)
        for kind, field in TOKEN_KINDS.items():
            count = record.get(field)
            if isinstance(count, int) and count > 0:
                self._tokens.get(model, kind).inc(count)
        cost = record.get("cost_usd")
        if isinstance(cost, int | float) and cost > 0:
            self._cost.get(model).inc(cost)

    def _observe_attempts(self, attempts: Any) -> None:
        if not isinstance(attempts, list | tuple):
            return
        tried = [a for a in attempts if isinstance(a, dict)]
        for index, attempt in enumerate(tried):
            outcome = _label(attempt.get("outcome"))
            self._attempts.get(_label(attempt.get("model")), outcome).inc()
            if outcome != "ok" and index + 1 < len(tried):
                self.escalations.labels(
                    from_model=_label(attempt.get("model")),
                    to_model=_label(tried[index + 1].get("model")),
                    reason=outcome,
                ).inc()

    def observe_routing(self, router: str, seconds: float) -> None:
        self._routing.get(router).observe(seconds)

    def observe_overhead(self, seconds: float) -> None:
        """For callers that measure overhead outside a log record; records are observed by `observe`."""
        self.overhead.observe(max(seconds, 0.0))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
