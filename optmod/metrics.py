"""Prometheus metrics for `GET /metrics`, fed by the same log records as the stats.

Each app instance owns its `CollectorRegistry`, so several apps in one process (the tests) never share or
double-register series. Label values come from the pool and fixed tables (model, tier, status, router,
failure class), never from a request body, so the number of series stays bounded.

The series are plain tallies (`SeriesTally`) turned into metric families only when scraped: prometheus_client's
own Counter and Histogram take a lock and validate labels on every update, which was a tenth of the proxy's
CPU per request at 4,000 req/s. Every update comes from the event loop thread, as does the scrape.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

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
# The `le` spelling prometheus_client itself uses (it has no type hints).
_le_text: Callable[[float], str] = floatToGoString


def _label(value: Any) -> str:
    return NONE_LABEL if value is None or value == "" else str(value)


def _tier_label(value: Any) -> str:
    return TIER_NAMES.get(value, NONE_LABEL) if isinstance(value, int) else NONE_LABEL


def _seconds(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value) / 1000.0
    return None


class CounterTally:
    """A counter's value per label values."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        self.values[key] = self.values.get(key, 0.0) + amount

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, value in self.values.items():
            family.add_metric(key, value)
        return family


class HistogramTally:
    """A histogram's bucket counts and sum per label values; a value falls in the first bucket whose bound
    is >= it, as Prometheus's `le` says."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        self.bounds = tuple(buckets)
        self._les = [_le_text(b) for b in self.bounds] + ["+Inf"]
        self.counts: dict[tuple[str, ...], list[int]] = {}
        self.sums: dict[tuple[str, ...], float] = {}
        if not self.labels:  # an unlabelled histogram is shown from the start, at zero
            self.counts[()], self.sums[()] = [0] * len(self._les), 0.0

    def observe(self, key: tuple[str, ...], value: float) -> None:
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = [0] * len(self._les)
            self.sums[key] = 0.0
        counts[bisect_left(self.bounds, value)] += 1
        self.sums[key] += value

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, counts in self.counts.items():
            cumulative, buckets = 0, []
            for le, count in zip(self._les, counts, strict=True):
                cumulative += count
                buckets.append((le, float(cumulative)))
            family.add_metric(list(key), buckets, self.sums[key])
        return family


class _Collector:
    def __init__(self, series: Sequence[CounterTally | HistogramTally]) -> None:
        self._series = series

    def collect(self) -> Iterator[Metric]:
        for tally in self._series:
            yield tally.family()


class ProxyMetrics:
    """The proxy's Prometheus series, in a registry of their own."""

    def __init__(self) -> None:
        self.requests = CounterTally(
            "optmod_requests", "Requests answered, by the model that answered", ["model", "tier", "status", "router"]
        )
        self.attempts = CounterTally("optmod_attempts", "Provider attempts by outcome", ["model", "outcome"])
        self.escalations = CounterTally(
            "optmod_escalations",
            "Moves from one model to the next after a failure",
            ["from_model", "to_model", "reason"],
        )
        self.latency = HistogramTally(
            "optmod_request_latency_seconds", "Total request latency", ["model"], LATENCY_BUCKETS
        )
        self.ttft = HistogramTally(
            "optmod_time_to_first_token_seconds", "Time to the first content byte of a stream", ["model"], TTFT_BUCKETS
        )
        self.tokens = CounterTally("optmod_tokens", "Tokens reported by providers", ["model", "kind"])
        self.cost = CounterTally("optmod_cost_usd", "USD spent, as priced from config.yaml", ["model"])
        self.routing = HistogramTally(
            "optmod_routing_decision_seconds", "Time a router took to decide", ["router"], FAST_BUCKETS
        )
        self.overhead = HistogramTally(
            "optmod_proxy_overhead_seconds",
            "Time spent in optmod itself: total latency minus waiting on providers",
            [],
            FAST_BUCKETS,
        )
        series = (
            self.requests,
            self.attempts,
            self.escalations,
            self.latency,
            self.ttft,
            self.tokens,
            self.cost,
            self.routing,
            self.overhead,
        )
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Collector(series))

    def observe(self, record: Mapping[str, Any]) -> None:
        """A RequestLog listener: count one finished request."""
        model = _label(record.get("model"))
        key = (model,)
        status, router = _label(record.get("status")), _label(record.get("router"))
        self.requests.inc((model, _tier_label(record.get("tier")), status, router))
        self._observe_attempts(record.get("attempts"))
        latency = _seconds(record.get("latency_ms"))
        if latency is not None:
            self.latency.observe(key, latency)
        # The record carries the overhead, so the proxy need not call observe_overhead as well.
        overhead = _seconds(record.get("overhead_ms"))
        if overhead is not None:
            self.overhead.observe((), overhead)
        ttft = _seconds(record.get("ttft_ms"))
        if ttft is not None:
            self.ttft.observe(key, ttft)
        for kind, field in TOKEN_KINDS.items():
            count = record.get(field)
            if isinstance(count, int) and count > 0:
                self.tokens.inc((model, kind), count)
        cost = record.get("cost_usd")
        if isinstance(cost, int | float) and cost > 0:
            self.cost.inc(key, cost)

    def _observe_attempts(self, attempts: Any) -> None:
        if not isinstance(attempts, list | tuple):
            return
        tried = [a for a in attempts if isinstance(a, dict)]
        for index, attempt in enumerate(tried):
            outcome = _label(attempt.get("outcome"))
            self.attempts.inc((_label(attempt.get("model")), outcome))
            if outcome != "ok" and index + 1 < len(tried):
                following = _label(tried[index + 1].get("model"))
                self.escalations.inc((_label(attempt.get("model")), following, outcome))

    def observe_routing(self, router: str, seconds: float) -> None:
        self.routing.observe((router,), seconds)

    def observe_overhead(self, seconds: float) -> None:
        """For callers that measure overhead outside a log record; records are observed by `observe`."""
        self.overhead.observe((), max(seconds, 0.0))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
