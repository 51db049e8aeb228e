"""Rendering a `Tally` into the `/api/stats` body: rates, per-model costs, savings, latency, flows."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from optmod.config import TIER_NAMES, ModelConfig
from optmod.registry import ModelRegistry, Usage, call_cost
from optmod.stats.tally import (
    HISTOGRAM_EDGES_MS,
    LATENCY_RESOLUTION_PCT,
    M_CACHED,
    M_COMPLETION,
    M_COST,
    M_OK,
    M_PROMPT,
    M_REQUESTS,
    M_WRITTEN,
    Row,
    Tally,
    fine_edge_ms,
)

DEFINITIONS = {
    "success": "requests answered in full (a 2xx whose stream, if any, reached its end) / all requests",
    "error": "requests not answered in full (an error status, or a stream cut or left by the client) / all requests",
    "escalation": "requests that tried more than one model / all requests",
    "cache_hit": "prompt tokens read from the provider's prompt cache / all prompt tokens",
    "upstream_failure": "failed provider attempts / all provider attempts",
    "savings": "cost of the same tokens on the cheapest oracle-tier model minus the actual cost",
}
PERCENTILES = (50, 90, 99)


def render_tally(tally: Tally, pool: ModelRegistry, recorded_tiers: Mapping[str, int]) -> dict[str, Any]:
    """The aggregate part of the body; a model that left the pool keeps the tier its records gave it."""
    oracle = _oracle_model(tally, pool)
    models = [_render_model(name, slots, tally.n, pool, recorded_tiers, oracle) for name, slots in tally.models.items()]
    models.sort(key=lambda m: (-m["requests"], m["model"]))
    oracle_cost = sum(m["oracle_cost_usd"] for m in models) if oracle else None
    return {
        "totals": _render_totals(tally),
        "rates": _render_rates(tally),
        "models": models,
        "savings": _render_savings(tally.cost, oracle_cost, oracle),
        "task_types": _render_counts(tally.tasks, tally.n, "task_type"),
        "latency": _render_latency(tally),
        "escalations": [
            {"from": src, "to": dst, "why": why, "count": count}
            for (src, dst, why), count in sorted(tally.flows.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "statuses": {str(status): count for status, count in sorted(tally.statuses.items())},
    }


def _render_model(
    name: str,
    slots: list[float],
    total: int,
    pool: ModelRegistry,
    recorded_tiers: Mapping[str, int],
    oracle: ModelConfig | None,
) -> dict[str, Any]:
    config = pool.get(name)
    tier = config.tier if config is not None else recorded_tiers.get(name)
    oracle_cost = call_cost(oracle, _slots_usage(slots)) if oracle else None
    return {
        "model": name,
        "tier": tier,
        "tier_name": TIER_NAMES.get(tier) if tier is not None else None,
        "in_pool": config is not None,
        "requests": int(slots[M_REQUESTS]),
        "share": slots[M_REQUESTS] / total if total else 0.0,
        "ok": int(slots[M_OK]),
        "prompt_tokens": int(slots[M_PROMPT]),
        "completion_tokens": int(slots[M_COMPLETION]),
        "cached_tokens": int(slots[M_CACHED]),
        "cache_write_tokens": int(slots[M_WRITTEN]),
        "cost_usd": slots[M_COST],
        "oracle_cost_usd": oracle_cost,
        "savings_usd": oracle_cost - slots[M_COST] if oracle_cost is not None else None,
    }


def _slots_usage(slots: list[float]) -> Usage:
    return Usage(
        prompt_tokens=int(slots[M_PROMPT]),
        completion_tokens=int(slots[M_COMPLETION]),
        cached_tokens=int(slots[M_CACHED]),
        cache_write_tokens=int(slots[M_WRITTEN]),
    )


def _sum_usage(slot_lists: Iterable[list[float]]) -> Usage:
    sums = [0.0] * 7
    for slots in slot_lists:
        for index in (M_PROMPT, M_COMPLETION, M_CACHED, M_WRITTEN):
            sums[index] += slots[index]
    return _slots_usage(sums)


def _oracle_model(tally: Tally, pool: ModelRegistry) -> ModelConfig | None:
    """The top-tier model that would have cost least for these tokens: the savings shown are a floor."""
    if len(pool) == 0:
        return None
    usage = _sum_usage(tally.models.values())
    oracles = pool.tier(pool.top_tier)
    return min(oracles, key=lambda m: (call_cost(m, usage), m.name))


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def _render_totals(tally: Tally) -> dict[str, Any]:
    usage = _sum_usage(tally.models.values())
    return {
        "requests": tally.n,
        "ok": tally.ok,
        "errors": tally.n - tally.ok,
        "escalated": tally.escalated,
        "attempts": tally.attempts,
        "failed_attempts": tally.failed_attempts,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "cost_usd": tally.cost,
        "cost_estimated_requests": tally.estimated,
    }


def _render_rates(tally: Tally) -> dict[str, Any]:
    usage = _sum_usage(tally.models.values())
    return {
        "success": _ratio(tally.ok, tally.n),
        "error": _ratio(tally.n - tally.ok, tally.n),
        "escalation": _ratio(tally.escalated, tally.n),
        "cache_hit": _ratio(usage.cached_tokens, usage.prompt_tokens),
        "upstream_failure": _ratio(tally.failed_attempts, tally.attempts),
    }


def _render_savings(cost: float, oracle_cost: float | None, oracle: ModelConfig | None) -> dict[str, Any]:
    savings = oracle_cost - cost if oracle_cost is not None else None
    return {
        "oracle_model": oracle.name if oracle else None,
        "oracle_tier": oracle.tier if oracle else None,
        "oracle_cost_usd": oracle_cost,
        "actual_cost_usd": cost,
        "savings_usd": savings,
        "savings_pct": _ratio(savings, oracle_cost) * 100 if savings is not None and oracle_cost else None,
    }


def _render_counts(counts: Mapping[str, int], total: int, key: str) -> list[dict[str, Any]]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{key: name, "requests": count, "share": _ratio(count, total)} for name, count in ordered]


def _percentile(fine: Mapping[int, int], count: int, pct: int, cap: float) -> float | None:
    if count == 0:
        return None
    rank = math.ceil(pct / 100 * count)
    seen = 0
    for index in sorted(fine):
        seen += fine[index]
        if seen >= rank:
            return min(fine_edge_ms(index), cap)
    return cap


def _render_latency(tally: Tally) -> dict[str, Any]:
    body: dict[str, Any] = {
        "count": tally.n,
        "avg_ms": tally.lat_sum / tally.n if tally.n else None,
        "max_ms": tally.lat_max if tally.n else None,
        "resolution_pct": LATENCY_RESOLUTION_PCT,
        "ttft_count": tally.ttft_n,
        "ttft_avg_ms": tally.ttft_sum / tally.ttft_n if tally.ttft_n else None,
    }
    for pct in PERCENTILES:
        body[f"p{pct}_ms"] = _percentile(tally.fine, tally.n, pct, tally.lat_max)
    lower = [0, *HISTOGRAM_EDGES_MS]
    upper: list[int | None] = [*HISTOGRAM_EDGES_MS, None]
    body["histogram"] = [
        {"gt_ms": lo, "le_ms": hi, "count": count} for lo, hi, count in zip(lower, upper, tally.coarse, strict=True)
    ]
    return body


def render_recent(row: Row) -> dict[str, Any]:
    return {
        "ts": row.ts,
        "request_id": row.request_id,
        "model": row.model,
        "tier": row.tier,
        "models_tried": [{"model": model, "outcome": outcome} for model, outcome in row.chain],
        "cost_usd": row.cost,
        "cost_estimated": row.cost_estimated,
        "latency_ms": row.latency_ms,
        "status": row.status,
        "ok": row.ok,
        "escalated": row.escalated,
        "reason": row.reason,
        "confidence": row.confidence,
        "task_type": row.task_type,
        "stream": row.stream,
    }
