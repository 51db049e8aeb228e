"""Stats on big logs: start-up rebuild time and /api/stats latency per range.

Generates logs of 10k, 100k and 1M records (a week of traffic ending now, to a temp dir), rebuilds the
aggregate from each, then polls /api/stats in-process (ASGI, so JSON encoding is included) for every range and
prints p50/p99. Run: `.venv/bin/python bench/stats_bench.py [--sizes 10000,100000,1000000] [--polls 40]`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from optmod.config import load_config
from optmod.dashboard import router
from optmod.log import AttemptRecord, LogRecord
from optmod.registry import ModelRegistry
from optmod.stats import StatsAggregate

RANGES = ("1h", "6h", "24h", "all", "100", "10000")
SPAN_S = 7 * 86400
FAILURES = ("rate_limited", "server_error", "timeout", "empty")
TASKS = ("code", "math", "reasoning", "chat", "creative", "summarization", "translation", "tool_use")


def make_line(rng: random.Random, ts: float, index: int, models: list[tuple[str, int]]) -> bytes:
    name, tier = rng.choice(models)
    attempts = [AttemptRecord(name, tier, "ok", 200, 800.0)]
    if rng.random() < 0.08:
        first, first_tier = rng.choice(models)
        attempts.insert(0, AttemptRecord(first, first_tier, rng.choice(FAILURES), 503, 40.0))
    prompt = rng.randint(50, 30_000)
    record = LogRecord(
        ts=ts,
        request_id=f"req-{index:08d}",
        status=200 if rng.random() > 0.03 else 502,
        ok=True,
        latency_ms=rng.lognormvariate(6.5, 0.9),
        session_id=f"s{rng.randint(0, 5000)}",
        router="perf_router",
        model=name,
        tier=tier,
        requested_model="optmod",
        attempts=tuple(attempts),
        escalated=len(attempts) > 1,
        prompt_tokens=prompt,
        completion_tokens=rng.randint(10, 2000),
        cached_tokens=rng.randint(0, prompt),
        cost_usd=rng.uniform(0, 0.02),
        reason="perf_router: best quality - 1.0 x cost among 10 candidates",
        confidence=rng.random(),
        task_type=rng.choice(TASKS),
        difficulty=rng.random(),
        mutators=("thinking_mode",),
    )
    return orjson.dumps(record.to_dict()) + b"\n"


def write_log(path: Path, count: int, now: float) -> None:
    rng = random.Random(count)
    models = [(m.name, m.tier) for m in load_config().models]
    step = SPAN_S / count
    with path.open("wb") as handle:
        for index in range(count):
            handle.write(make_line(rng, now - SPAN_S + index * step, index, models))


async def poll(client: httpx.AsyncClient, range_: str, polls: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per poll: CPU time does not grow when other processes share the cores."""
    wall, cpu = [], []
    for _ in range(polls):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = await client.get("/api/stats", params={"range": range_})
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        response.raise_for_status()
    return wall, cpu


class BenchState:
    def __init__(self, stats: StatsAggregate) -> None:
        self.stats = stats

    async def active_pin_count(self) -> int:
        return 0


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(pct / 100 * len(ordered)))]


async def bench_size(count: int, polls: int, folder: Path) -> list[dict[str, Any]]:
    now = time.time()
    path = folder / f"log-{count}.jsonl"
    write_log(path, count, now)
    config = load_config()
    registry = ModelRegistry(config.models, config.primary_model)
    stats = StatsAggregate(lambda: registry)
    started_cpu = time.process_time()
    result = stats.rebuild(path)
    rebuild_cpu = time.process_time() - started_cpu
    size_mb = path.stat().st_size / 1e6
    add_us = measure_add(stats, now)
    print(
        f"\n{count:>9,} records ({size_mb:,.0f} MB): rebuild {result.seconds:.2f} s wall, {rebuild_cpu:.2f} s CPU "
        f"({count / rebuild_cpu:,.0f} records/CPU-s), add() {add_us:.1f} us CPU/record"
    )
    app = FastAPI()
    app.include_router(router)
    app.state.optmod = BenchState(stats)
    rows = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for range_ in RANGES:
            wall, cpu = await poll(client, range_, polls)
            row = {"records": count, "range": range_, "p50": statistics.median(wall), "p99": percentile(wall, 99)}
            row["cpu50"] = statistics.median(cpu)
            rows.append(row)
            print(
                f"  range={range_:<6} wall p50 {row['p50']:7.2f} ms  p99 {row['p99']:7.2f} ms  CPU p50 {row['cpu50']:6.2f} ms"
            )
    path.unlink()
    return rows


def measure_add(stats: StatsAggregate, now: float) -> float:
    """Microseconds per `add` call, the cost the log listener adds to every request."""
    rng = random.Random(0)
    models = [(m.name, m.tier) for m in load_config().models]
    records = [orjson.loads(make_line(rng, now, i, models)) for i in range(5000)]
    started = time.process_time()
    for record in records:
        stats.add(record)
    return (time.process_time() - started) / len(records) * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--polls", type=int, default=40)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="optmod-stats-bench-") as tmp:
        rows = [row for count in sizes for row in await bench_size(count, args.polls, Path(tmp))]
    print("\n| records | " + " | ".join(RANGES) + " |")
    print("|---:|" + "---:|" * len(RANGES))
    for count in sizes:
        cells = [f"{r['p50']:.1f} / {r['p99']:.1f} / {r['cpu50']:.1f}" for r in rows if r["records"] == count]
        print(f"| {count:,} | " + " | ".join(cells) + " |")
    print("(wall p50 / wall p99 / CPU p50, ms per /api/stats poll)")


if __name__ == "__main__":
    asyncio.run(main())
