"""Requests reduced to compact rows, and the additive counters (`Tally`) that windows are summed from.

Percentiles come from a fine log histogram whose buckets are 9% wide: the value shown is the upper edge of
the bucket holding the nearest-rank sample, capped by the largest latency seen, so it is at most 9% above
the exact value. The displayed histogram has its own fixed bins (`HISTOGRAM_EDGES_MS`), counted exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

UNKNOWN = "unknown"
# Fine latency buckets: bucket k holds (2^((k-1)/8), 2^(k/8)] ms, a ratio of 2^(1/8) = 1.09 per bucket.
FINE_STEPS_PER_DOUBLING = 8
FINE_FLOOR_BIN = -10 * FINE_STEPS_PER_DOUBLING  # 2^-10 ms, about a microsecond: everything below shares it
FINE_FLOOR_MS = 2.0 ** (FINE_FLOOR_BIN / FINE_STEPS_PER_DOUBLING)
LATENCY_RESOLUTION_PCT = round((2 ** (1 / FINE_STEPS_PER_DOUBLING) - 1) * 100, 1)
# The displayed histogram: a latency falls in the first bin whose upper edge (ms) is >= it; the last is open.
HISTOGRAM_EDGES_MS = (100, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 30_000, 60_000)
K = TypeVar("K")


class Row(NamedTuple):
    """One request reduced to what the stats need; token counts are clamped as the cost arithmetic does.

    A NamedTuple rather than a frozen dataclass: it is built once per request on the log's hot path, and a
    frozen dataclass pays one `object.__setattr__` per field.
    """

    ts: float
    minute: int
    request_id: str
    model: str
    tier: int | None
    status: int
    ok: bool
    escalated: bool
    latency_ms: float
    fine_bin: int
    coarse_bin: int
    ttft_ms: float | None
    prompt: int
    completion: int
    cached: int
    written: int
    cost: float
    cost_estimated: bool
    task_type: str
    chain: tuple[tuple[str, str], ...]  # (model, outcome) of every attempt
    reason: str | None
    confidence: float | None
    stream: bool


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def fine_bin(latency_ms: float) -> int:
    """The fine bucket of a latency; indices go negative below 1 ms (a local simulator answers that fast)."""
    if latency_ms <= FINE_FLOOR_MS:
        return FINE_FLOOR_BIN
    return math.ceil(FINE_STEPS_PER_DOUBLING * math.log2(latency_ms) - 1e-9)


def fine_edge_ms(index: int) -> float:
    return float(2 ** (index / FINE_STEPS_PER_DOUBLING))


def coarse_bin(latency_ms: float) -> int:
    for index, edge in enumerate(HISTOGRAM_EDGES_MS):
        if latency_ms <= edge:
            return index
    return len(HISTOGRAM_EDGES_MS)


def _chain(attempts: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(attempts, list | tuple):
        return ()
    return tuple(
        (str(a.get("model") or UNKNOWN), str(a.get("outcome") or UNKNOWN)) for a in attempts if isinstance(a, dict)
    )


def make_row(record: Mapping[str, Any]) -> Row:
    """The compact row of one log record; missing or odd fields get neutral values rather than failing."""
    ts = _num(record.get("ts")) or 0.0
    latency = max(_num(record.get("latency_ms")) or 0.0, 0.0)
    prompt = _int(record.get("prompt_tokens"))
    cached = min(_int(record.get("cached_tokens")), prompt)
    tier = record.get("tier")
    confidence = _num(record.get("confidence"))
    return Row(
        ts=ts,
        minute=int(ts // 60),
        request_id=str(record.get("request_id") or ""),
        model=str(record.get("model") or UNKNOWN),
        tier=tier if isinstance(tier, int) and not isinstance(tier, bool) else None,
        status=_int(record.get("status")),
        ok=record.get("ok") is True,
        escalated=record.get("escalated") is True,
        latency_ms=latency,
        fine_bin=fine_bin(latency),
        coarse_bin=coarse_bin(latency),
        ttft_ms=_num(record.get("ttft_ms")),
        prompt=prompt,
        completion=_int(record.get("completion_tokens")),
        cached=cached,
        written=min(_int(record.get("cache_write_tokens")), prompt - cached),
        cost=_num(record.get("cost_usd")) or 0.0,
        cost_estimated=record.get("cost_estimated") is True,
        task_type=str(record.get("task_type") or UNKNOWN),
        chain=_chain(record.get("attempts")),
        reason=record.get("reason") if isinstance(record.get("reason"), str) else None,
        confidence=confidence,
        stream=record.get("stream") is True,
    )


# Per-model counter slots in Tally.models.
M_REQUESTS, M_OK, M_PROMPT, M_COMPLETION, M_CACHED, M_WRITTEN, M_COST = range(7)


class Tally:
    """Additive counters over a set of requests; two tallies merge by adding."""

    __slots__ = (
        "attempts",
        "coarse",
        "cost",
        "escalated",
        "estimated",
        "failed_attempts",
        "fine",
        "flows",
        "lat_max",
        "lat_sum",
        "models",
        "n",
        "ok",
        "statuses",
        "tasks",
        "ttft_n",
        "ttft_sum",
    )

    def __init__(self) -> None:
        self.n = self.ok = self.escalated = self.attempts = self.failed_attempts = self.estimated = 0
        self.ttft_n = 0
        self.cost = self.lat_sum = self.lat_max = self.ttft_sum = 0.0
        self.models: dict[str, list[float]] = {}
        self.tasks: dict[str, int] = {}
        self.fine: dict[int, int] = {}
        self.coarse = [0] * (len(HISTOGRAM_EDGES_MS) + 1)
        self.flows: dict[tuple[str, str, str], int] = {}
        self.statuses: dict[int, int] = {}

    def add(self, row: Row) -> None:
        self.n += 1
        self.ok += row.ok
        self.escalated += row.escalated
        self.estimated += row.cost_estimated
        self.cost += row.cost
        self.lat_sum += row.latency_ms
        if row.latency_ms > self.lat_max:
            self.lat_max = row.latency_ms
        if row.ttft_ms is not None:
            self.ttft_n += 1
            self.ttft_sum += row.ttft_ms
        slots = self.models.get(row.model)
        if slots is None:
            slots = self.models[row.model] = [0, 0, 0, 0, 0, 0, 0.0]
        slots[M_REQUESTS] += 1
        slots[M_OK] += row.ok
        slots[M_PROMPT] += row.prompt
        slots[M_COMPLETION] += row.completion
        slots[M_CACHED] += row.cached
        slots[M_WRITTEN] += row.written
        slots[M_COST] += row.cost
        self.tasks[row.task_type] = self.tasks.get(row.task_type, 0) + 1
        self.fine[row.fine_bin] = self.fine.get(row.fine_bin, 0) + 1
        self.coarse[row.coarse_bin] += 1
        self.statuses[row.status] = self.statuses.get(row.status, 0) + 1
        chain = row.chain
        self.attempts += len(chain)
        for index, (model, outcome) in enumerate(chain):
            if outcome == "ok":
                continue
            self.failed_attempts += 1
            if index + 1 < len(chain):
                flow = (model, chain[index + 1][0], outcome)
                self.flows[flow] = self.flows.get(flow, 0) + 1

    def merge(self, other: Tally) -> None:
        self.n += other.n
        self.ok += other.ok
        self.escalated += other.escalated
        self.attempts += other.attempts
        self.failed_attempts += other.failed_attempts
        self.estimated += other.estimated
        self.cost += other.cost
        self.lat_sum += other.lat_sum
        self.lat_max = max(self.lat_max, other.lat_max)
        self.ttft_n += other.ttft_n
        self.ttft_sum += other.ttft_sum
        for model, theirs in other.models.items():
            mine = self.models.get(model)
            if mine is None:
                self.models[model] = list(theirs)
            else:
                for slot, value in enumerate(theirs):
                    mine[slot] += value
        _add_counts(self.tasks, other.tasks)
        _add_counts(self.fine, other.fine)
        _add_counts(self.flows, other.flows)
        _add_counts(self.statuses, other.statuses)
        self.coarse = [a + b for a, b in zip(self.coarse, other.coarse, strict=True)]


def _add_counts(mine: dict[K, int], theirs: Mapping[K, int]) -> None:
    for key, count in theirs.items():
        mine[key] = mine.get(key, 0) + count
