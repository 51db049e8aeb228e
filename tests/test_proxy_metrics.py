"""/metrics: the Prometheus series move as records arrive, and each app has its own registry."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from optmod.dashboard import router
from optmod.log import AttemptRecord, LogRecord
from optmod.metrics import ProxyMetrics


def make_record(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ts": 1_800_000_000.0,
        "request_id": "r",
        "status": 200,
        "ok": True,
        "latency_ms": 1500.0,
        "model": "mid/reason",
        "tier": 1,
        "router": "rule_based",
        "attempts": (AttemptRecord("mid/reason", 1, "ok", 200, 1500.0),),
        "prompt_tokens": 1000,
        "completion_tokens": 200,
        "cached_tokens": 600,
        "cost_usd": 0.002,
    }
    fields.update(overrides)
    return LogRecord(**fields).to_dict()


ESCALATED = make_record(
    model="big/oracle",
    tier=2,
    escalated=True,
    stream=True,
    ttft_ms=300.0,
    attempts=(
        AttemptRecord("mid/reason", 1, "rate_limited", 429, 20.0),
        AttemptRecord("big/oracle", 2, "ok", 200, 900.0),
    ),
)


class FakeState:
    def __init__(self, metrics: ProxyMetrics) -> None:
        self.metrics = metrics

    async def active_pin_count(self) -> int:
        return 0


async def scrape(metrics: ProxyMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    app = FastAPI()
    app.include_router(router)
    app.state.optmod = FakeState(metrics)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_series_move_as_records_arrive() -> None:
    metrics = ProxyMetrics()
    before = await scrape(metrics)
    assert (
        value(before, "optmod_requests_total", model="mid/reason", tier="reasoning", status="200", router="rule_based")
        == 0
    )
    metrics.observe(make_record(overhead_ms=0.8))
    metrics.observe(make_record(status=502, ok=False, latency_ms=70_000.0))
    metrics.observe(ESCALATED)
    after = await scrape(metrics)
    requests = "optmod_requests_total"
    assert value(after, requests, model="mid/reason", tier="reasoning", status="200", router="rule_based") == 1
    assert value(after, requests, model="mid/reason", tier="reasoning", status="502", router="rule_based") == 1
    assert value(after, requests, model="big/oracle", tier="oracle", status="200", router="rule_based") == 1
    flow = {"from_model": "mid/reason", "to_model": "big/oracle", "reason": "rate_limited"}
    assert value(after, "optmod_escalations_total", **flow) == 1
    assert value(after, "optmod_attempts_total", model="mid/reason", outcome="rate_limited") == 1
    assert value(after, "optmod_attempts_total", model="mid/reason", outcome="ok") == 2
    assert value(after, "optmod_tokens_total", model="mid/reason", kind="prompt") == 2000
    assert value(after, "optmod_tokens_total", model="mid/reason", kind="cached") == 1200
    assert value(after, "optmod_cost_usd_total", model="big/oracle") == 0.002
    latency = "optmod_request_latency_seconds"
    assert value(after, latency + "_count", model="mid/reason") == 2
    assert value(after, latency + "_sum", model="mid/reason") == 71.5
    assert value(after, latency + "_bucket", model="mid/reason", le="2.0") == 1
    assert value(after, latency + "_bucket", model="mid/reason", le="+Inf") == 2
    assert value(after, "optmod_time_to_first_token_seconds_count", model="big/oracle") == 1
    assert value(after, "optmod_time_to_first_token_seconds_sum", model="big/oracle") == 0.3
    assert value(after, "optmod_proxy_overhead_seconds_count") == 1
    assert value(after, "optmod_proxy_overhead_seconds_bucket", le="0.001") == 1


async def test_routing_and_overhead_histograms() -> None:
    metrics = ProxyMetrics()
    metrics.observe_routing("perf_router", 0.004)
    metrics.observe_routing("perf_router", 0.02)
    metrics.observe_overhead(0.0007)
    samples = await scrape(metrics)
    decision = "optmod_routing_decision_seconds"
    assert value(samples, decision + "_count", router="perf_router") == 2
    assert value(samples, decision + "_bucket", router="perf_router", le="0.005") == 1
    assert value(samples, "optmod_proxy_overhead_seconds_bucket", le="0.001") == 1


async def test_each_instance_has_its_own_registry() -> None:
    first, second = ProxyMetrics(), ProxyMetrics()
    first.observe(make_record())
    labels = {"model": "mid/reason", "tier": "reasoning", "status": "200", "router": "rule_based"}
    assert value(await scrape(first), "optmod_requests_total", **labels) == 1
    assert value(await scrape(second), "optmod_requests_total", **labels) == 0


async def test_records_without_a_model_use_a_bounded_label() -> None:
    metrics = ProxyMetrics()
    metrics.observe(make_record(model=None, tier=None, status=400, ok=False, attempts=(), router=None))
    samples = await scrape(metrics)
    assert value(samples, "optmod_requests_total", model="none", tier="none", status="400", router="none") == 1


async def test_a_value_on_a_bucket_bound_counts_in_that_bucket() -> None:
    metrics = ProxyMetrics()
    for seconds in (0.001, 0.0010001, 2.0):
        metrics.observe_routing("rule_based", seconds)
    samples = await scrape(metrics)
    decision = "optmod_routing_decision_seconds"
    assert value(samples, decision + "_bucket", router="rule_based", le="0.0005") == 0
    assert value(samples, decision + "_bucket", router="rule_based", le="0.001") == 1
    assert value(samples, decision + "_bucket", router="rule_based", le="0.0025") == 2
    assert value(samples, decision + "_bucket", router="rule_based", le="1.0") == 2
    assert value(samples, decision + "_bucket", router="rule_based", le="+Inf") == 3
    assert value(samples, decision + "_sum", router="rule_based") == pytest.approx(2.0020001)
