"""/api/stats against statistics computed by hand from a generated log, for every range."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import RunningProxy, chat_body, make_config_data
from fastapi import FastAPI

from optmod import main as main_module
from optmod.config import ModelConfig
from optmod.dashboard import router
from optmod.log import AttemptRecord, LogRecord
from optmod.registry import ModelRegistry
from optmod.stats import RebuildResult, StatsAggregate
from optmod.stats import aggregate as aggregate_module

NOW = 1_800_001_234.5  # 20 minutes into an hour, so windows start mid-hour
TIERS = {0: "fast", 1: "reasoning", 2: "oracle"}
EDGES = [100, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 30_000, 60_000]
FAILURES = ["rate_limited", "server_error", "timeout", "connect_error", "empty"]
TASKS = ["code", "math", "chat", "reasoning", "creative"]


def make_model(name: str, tier: int, price_in: float, price_out: float, cached: float, **extra: Any) -> ModelConfig:
    return ModelConfig(
        name=name,
        tier=tier,  # type: ignore[arg-type]
        base_url="http://127.0.0.1:9/v1",
        input_usd_per_mtok=price_in,
        output_usd_per_mtok=price_out,
        cached_input_usd_per_mtok=cached,
        context_window=128_000,
        **extra,
    )


POOL = (
    make_model("free/fast-a", 0, 0.0, 0.0, 0.0),
    make_model("acme/fast-b", 0, 0.15, 0.6, 0.075),
    make_model("mid/reason", 1, 0.14, 0.28, 0.028),
    make_model("big/oracle-cheap", 2, 0.435, 0.87, 0.0435),
    make_model("big/oracle-dear", 2, 3.0, 15.0, 0.3, cache_write_usd_per_mtok=3.75),
)
GONE_MODEL = ("old/retired", 1)  # answered some requests but is no longer in the pool


def make_record(**overrides: Any) -> dict[str, Any]:
    """One log line as the proxy writes it, with chosen fields."""
    fields: dict[str, Any] = {"ts": NOW, "request_id": "r", "status": 200, "ok": True, "latency_ms": 300.0}
    fields.update(overrides)
    return LogRecord(**fields).to_dict()


def generate_records(count: int, burst_size: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    models = [(m.name, m.tier) for m in POOL] + [GONE_MODEL]
    stamps = [NOW - rng.uniform(0, 26 * 3600) for _ in range(count - 40)]
    stamps += [NOW - rng.uniform(3 * 86400, 4 * 86400) for _ in range(30)]
    for minutes in (60, 360, 1440):  # both sides of every window's first minute
        first = (math.floor(NOW / 60) - minutes + 1) * 60
        stamps += [first, first + 59.9, first - 0.001]
    stamps.append(NOW)
    # A dense burst over the last three minutes, written slightly out of arrival order as a busy proxy does.
    burst = [min(NOW - 170 + i * 0.5 + rng.uniform(-3, 3), NOW) for i in range(burst_size)]
    records = []
    for index, ts in enumerate(sorted(stamps) + burst):
        records.append(make_record(**random_fields(rng, models), ts=ts, request_id=f"req-{index}"))
    return records


def random_fields(rng: random.Random, models: list[tuple[str, int]]) -> dict[str, Any]:
    tried = rng.sample(models, rng.choice([1, 1, 1, 2, 3]))
    ok = rng.random() > 0.1
    attempts = [
        AttemptRecord(model=name, tier=tier, outcome=rng.choice(FAILURES), status=503, latency_ms=50.0)
        for name, tier in tried[:-1]
    ]
    last_name, last_tier = tried[-1]
    outcome = "ok" if ok else rng.choice(FAILURES)
    attempts.append(AttemptRecord(model=last_name, tier=last_tier, outcome=outcome, status=200, latency_ms=1.0))
    prompt = rng.randint(0, 20_000)
    stream = rng.random() < 0.4
    return {
        "status": 200 if ok else rng.choice([502, 429, 400]),
        "ok": ok,
        "latency_ms": rng.choice([rng.uniform(0.05, 900), rng.uniform(900, 70_000)]),
        "model": last_name,
        "tier": last_tier,
        "attempts": tuple(attempts),
        "escalated": len(attempts) > 1,
        "ttft_ms": rng.uniform(20, 800) if stream else None,
        "stream": stream,
        "prompt_tokens": prompt,
        "completion_tokens": rng.randint(0, 3000),
        "cached_tokens": rng.randint(0, prompt + 500),  # sometimes more than the prompt: clamped like call_cost
        "cache_write_tokens": rng.choice([0, 0, rng.randint(0, 4000)]),
        "cost_usd": rng.uniform(0, 0.05),
        "cost_estimated": rng.random() < 0.05,
        "reason": rng.choice(["rule 3: hard code", "cheapest that fits " * 5, None]),
        "confidence": rng.choice([None, round(rng.random(), 3)]),
        "task_type": rng.choice([*TASKS, None]),
        "router": "rule_based",
    }


# ---------------------------------------------------------------- expected values, by hand


def in_range(records: list[dict[str, Any]], range_: str) -> list[dict[str, Any]]:
    if range_ == "all":
        return list(records)
    if range_.isdigit():
        return records[-int(range_) :]
    minutes = {"1h": 60, "6h": 360, "24h": 1440}[range_]
    return [r for r in records if math.floor(r["ts"] / 60) > math.floor(NOW / 60) - minutes]


def tokens_of(record: dict[str, Any]) -> tuple[int, int, int, int]:
    prompt = record["prompt_tokens"]
    cached = min(record["cached_tokens"], prompt)
    written = min(record["cache_write_tokens"], prompt - cached)
    return prompt, record["completion_tokens"], cached, written


def price(model: ModelConfig, records: list[dict[str, Any]]) -> float:
    total = 0.0
    write_price = model.input_usd_per_mtok if model.cache_write_usd_per_mtok is None else model.cache_write_usd_per_mtok
    for record in records:
        prompt, completion, cached, written = tokens_of(record)
        total += (prompt - cached - written) * model.input_usd_per_mtok + cached * model.cached_input_usd_per_mtok
        total += written * write_price + completion * model.output_usd_per_mtok
    return total / 1e6


def by_count(counts: dict[str, int], key: str, total: int) -> list[dict[str, Any]]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{key: name, "requests": n, "share": n / total} for name, n in ordered]


def expected_models(rows: list[dict[str, Any]], pool: tuple[ModelConfig, ...], oracle: ModelConfig) -> list[Any]:
    names = sorted({r["model"] or "unknown" for r in rows})
    out = []
    for name in names:
        mine = [r for r in rows if (r["model"] or "unknown") == name]
        config = next((m for m in pool if m.name == name), None)
        recorded = [r["tier"] for r in mine if r["tier"] is not None]
        tier = config.tier if config else (recorded[-1] if recorded else None)
        cost = sum(r["cost_usd"] for r in mine)
        oracle_cost = price(oracle, mine)
        out.append(
            {
                "model": name,
                "tier": tier,
                "tier_name": TIERS.get(tier),  # type: ignore[arg-type]
                "in_pool": config is not None,
                "requests": len(mine),
                "share": len(mine) / len(rows),
                "ok": sum(r["ok"] for r in mine),
                "prompt_tokens": sum(tokens_of(r)[0] for r in mine),
                "completion_tokens": sum(tokens_of(r)[1] for r in mine),
                "cached_tokens": sum(tokens_of(r)[2] for r in mine),
                "cache_write_tokens": sum(tokens_of(r)[3] for r in mine),
                "cost_usd": cost,
                "oracle_cost_usd": oracle_cost,
                "savings_usd": oracle_cost - cost,
            }
        )
    return sorted(out, key=lambda m: (-m["requests"], m["model"]))


def expected_flows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flows: dict[tuple[str, str, str], int] = {}
    for record in rows:
        tried = record["attempts"]
        for first, second in itertools.pairwise(tried):
            if first["outcome"] != "ok":
                key = (first["model"], second["model"], first["outcome"])
                flows[key] = flows.get(key, 0) + 1
    ordered = sorted(flows.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"from": a, "to": b, "why": why, "count": n} for (a, b, why), n in ordered]


def expected_latency(rows: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = sorted(r["latency_ms"] for r in rows)
    ttfts = [r["ttft_ms"] for r in rows if r["ttft_ms"] is not None]
    bins = [0] * (len(EDGES) + 1)
    for value in latencies:
        bins[next((i for i, edge in enumerate(EDGES) if value <= edge), len(EDGES))] += 1
    lows, highs = [0, *EDGES], [*EDGES, None]
    return {
        "count": len(rows),
        "avg_ms": sum(latencies) / len(rows),
        "max_ms": latencies[-1],
        "resolution_pct": 9.1,
        "ttft_count": len(ttfts),
        "ttft_avg_ms": sum(ttfts) / len(ttfts) if ttfts else None,
        "histogram": [{"gt_ms": lo, "le_ms": hi, "count": n} for lo, hi, n in zip(lows, highs, bins, strict=True)],
        # nearest-rank percentiles; the API may round up by at most the bucket resolution
        **{f"p{p}_ms": latencies[math.ceil(p / 100 * len(latencies)) - 1] for p in (50, 90, 99)},
    }


def expected_recent(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("ts", "request_id", "model", "tier", "cost_usd", "cost_estimated", "latency_ms", "status", "ok")
    out = []
    for record in reversed(rows[-50:]):
        row = {key: record[key] for key in keys} | {"model": record["model"] or "unknown"}
        tried = [{"model": a["model"], "outcome": a["outcome"]} for a in record["attempts"]]
        row.update(models_tried=tried, escalated=record["escalated"], reason=record["reason"], stream=record["stream"])
        row.update(confidence=record["confidence"], task_type=record["task_type"] or "unknown")
        out.append(row)
    return out


def expected_stats(
    records: list[dict[str, Any]], range_: str, pool: tuple[ModelConfig, ...], corrupt: int = 2, pins: int = 3
) -> dict[str, Any]:
    rows = in_range(records, range_)
    n = len(rows)
    ok = sum(r["ok"] for r in rows)
    attempts = [a for r in rows for a in r["attempts"]]
    failed = sum(a["outcome"] != "ok" for a in attempts)
    prompt, completion, cached, written = (sum(tokens_of(r)[i] for r in rows) for i in range(4))
    cost = sum(r["cost_usd"] for r in rows)
    oracle = min((m for m in pool if m.tier == 2), key=lambda m: price(m, rows))
    oracle_cost = price(oracle, rows)
    tasks: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for record in rows:
        tasks[record["task_type"] or "unknown"] = tasks.get(record["task_type"] or "unknown", 0) + 1
        statuses[str(record["status"])] = statuses.get(str(record["status"]), 0) + 1
    return {
        "range": range_,
        "active_pins": pins,
        "totals": {
            "requests": n,
            "ok": ok,
            "errors": n - ok,
            "escalated": sum(r["escalated"] for r in rows),
            "attempts": len(attempts),
            "failed_attempts": failed,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cached_tokens": cached,
            "cache_write_tokens": written,
            "cost_usd": cost,
            "cost_estimated_requests": sum(r["cost_estimated"] for r in rows),
        },
        "rates": {
            "success": ok / n,
            "error": (n - ok) / n,
            "escalation": sum(r["escalated"] for r in rows) / n,
            "cache_hit": cached / prompt,
            "upstream_failure": failed / len(attempts),
        },
        "models": expected_models(rows, pool, oracle),
        "savings": {
            "oracle_model": oracle.name,
            "oracle_tier": 2,
            "oracle_cost_usd": oracle_cost,
            "actual_cost_usd": cost,
            "savings_usd": oracle_cost - cost,
            "savings_pct": (oracle_cost - cost) / oracle_cost * 100,
        },
        "task_types": by_count(tasks, "task_type", n),
        "latency": expected_latency(rows),
        "escalations": expected_flows(rows),
        "statuses": dict(sorted(statuses.items(), key=lambda kv: int(kv[0]))),
        "recent": expected_recent(rows),
        "log": {"records": len(records), "corrupt_lines": corrupt},
    }


def assert_close(actual: Any, expected: Any, path: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert set(actual) >= set(expected), f"{path}: missing {set(expected) - set(actual)}"
        for key, value in expected.items():
            assert_close(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, f"{path}[{index}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-12), path
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


# ---------------------------------------------------------------- the app under test


class FakeState:
    def __init__(self, stats: StatsAggregate) -> None:
        self.stats = stats
        self.metrics = None

    async def active_pin_count(self) -> int:
        return 3


def make_client(stats: StatsAggregate) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(router)
    app.state.optmod = FakeState(stats)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def write_log(path: Path, records: list[dict[str, Any]]) -> None:
    lines = [orjson.dumps(r) for r in records]
    lines.insert(5, b'{"ts": 1, "truncated')  # a torn line
    lines.insert(9, b"[1, 2, 3]")  # valid JSON, not a record
    path.write_bytes(b"\n".join(lines) + b"\n")


def pool_of(models: tuple[ModelConfig, ...]) -> Callable[[], ModelRegistry]:
    registry = ModelRegistry(models, primary=models[0].name)
    return lambda: registry


RANGES = ["1h", "6h", "24h", "all", "1", "37", "300", "400", "10000"]


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return generate_records(600, burst_size=340)


@pytest.fixture
def rebuilt(tmp_path: Path, records: list[dict[str, Any]]) -> StatsAggregate:
    path = tmp_path / "routing.log.jsonl"
    write_log(path, records)
    stats = StatsAggregate(pool_of(POOL), clock=lambda: NOW)
    result = stats.rebuild(path)
    assert (result.records, result.corrupt_lines) == (len(records), 2)
    return stats


@pytest.mark.parametrize("range_", RANGES)
async def test_every_field_matches_the_log(rebuilt: StatsAggregate, records: list[dict[str, Any]], range_: str) -> None:
    async with make_client(rebuilt) as client:
        response = await client.get("/api/stats", params={"range": range_})
    assert response.status_code == 200
    body = response.json()
    assert_stats(body, expected_stats(records, range_, POOL))


def assert_stats(body: dict[str, Any], expected: dict[str, Any]) -> None:
    exact_latency = {key: expected["latency"].pop(key) for key in ("p50_ms", "p90_ms", "p99_ms")}
    assert_close(body, expected)
    for key, exact in exact_latency.items():
        assert exact <= body["latency"][key] <= exact * 1.0906, key


async def test_records_added_live_give_the_same_stats(rebuilt: StatsAggregate, records: list[dict[str, Any]]) -> None:
    live = StatsAggregate(pool_of(POOL), clock=lambda: NOW)
    for record in records:
        live.add(record)
    for range_ in RANGES:
        rebuilt_body, live_body = rebuilt.snapshot(range_, 0), live.snapshot(range_, 0)
        rebuilt_body.pop("log"), live_body.pop("log")
        assert_close(live_body, rebuilt_body, range_)


async def test_windows_slide_as_the_clock_moves() -> None:
    clock = [NOW]
    stats = StatsAggregate(pool_of(POOL), clock=lambda: clock[0])
    stats.add(make_record(ts=NOW, model="mid/reason", tier=1))
    assert stats.snapshot("1h", 0)["totals"]["requests"] == 1
    clock[0] = NOW + 3600
    assert stats.snapshot("1h", 0)["totals"]["requests"] == 0
    assert stats.snapshot("6h", 0)["totals"]["requests"] == 1
    clock[0] = NOW + 25 * 3600
    assert stats.snapshot("24h", 0)["totals"]["requests"] == 0
    assert stats.snapshot("all", 0)["totals"]["requests"] == 1


async def test_buckets_stay_bounded_without_polls() -> None:
    """A week of one request a minute, never polled: only the last day keeps minute buckets."""
    clock = [NOW]
    stats = StatsAggregate(pool_of(POOL), clock=lambda: clock[0])
    for minute in range(7 * 1440):
        clock[0] = NOW + minute * 60
        stats.add(make_record(ts=clock[0], model="mid/reason", tier=1))
    assert stats.live(0)["requests"] == 7 * 1440
    assert len(stats._minutes) <= 1440 + 60 and len(stats._hours) <= 26
    assert stats.snapshot("24h", 0)["totals"]["requests"] == 1440


async def test_savings_follow_the_current_pool_and_retired_models_keep_their_tier() -> None:
    pools = [ModelRegistry(POOL, primary="mid/reason")]
    stats = StatsAggregate(lambda: pools[0], clock=lambda: NOW)
    stats.add(make_record(model="mid/reason", tier=1, prompt_tokens=1_000_000, cost_usd=0.14))
    before = stats.snapshot("all", 0)["savings"]
    assert before["oracle_model"] == "big/oracle-cheap"
    assert before["savings_usd"] == pytest.approx(0.435 - 0.14)
    pools[0] = ModelRegistry(tuple(m for m in POOL if m.name not in ("mid/reason", "big/oracle-cheap")), "free/fast-a")
    after = stats.snapshot("all", 0)
    assert after["savings"]["oracle_model"] == "big/oracle-dear"
    assert after["savings"]["savings_usd"] == pytest.approx(3.0 - 0.14)
    assert after["models"][0]["tier"] == 1 and after["models"][0]["in_pool"] is False


async def test_clear_empties_the_stats(rebuilt: StatsAggregate) -> None:
    rebuilt.clear()
    body = rebuilt.snapshot("all", 0)
    assert body["totals"]["requests"] == 0 and body["models"] == [] and body["recent"] == []
    assert body["latency"]["p50_ms"] is None and body["savings"]["savings_usd"] == 0
    assert rebuilt.live(0)["requests"] == 0


async def test_live_counts(rebuilt: StatsAggregate, records: list[dict[str, Any]]) -> None:
    async with make_client(rebuilt) as client:
        body = (await client.get("/api/stats/live")).json()
    this_minute = [r for r in records if math.floor(r["ts"] / 60) == math.floor(NOW / 60)]
    assert body["requests"] == len(records)
    assert body["ok"] == sum(r["ok"] for r in records)
    assert body["escalated"] == sum(r["escalated"] for r in records)
    assert body["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in records))
    assert body["requests_this_minute"] == len(this_minute)
    assert (body["last_request_ts"], body["active_pins"]) == (NOW, 3)


@pytest.mark.parametrize("range_", ["2h", "0", "-5", "10001", "1e3", "", "all ", "9" * 5000])
async def test_bad_range_is_an_openai_error(rebuilt: StatsAggregate, range_: str) -> None:
    async with make_client(rebuilt) as client:
        response = await client.get("/api/stats", params={"range": range_})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "range" and error["code"] is None
    assert "range" in error["message"]


async def test_rebuild_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    stats = StatsAggregate(pool_of(POOL), clock=lambda: NOW)
    result = stats.rebuild(tmp_path / "absent.jsonl")
    assert (result.records, result.corrupt_lines) == (0, 0)
    assert stats.snapshot("24h", 0)["totals"]["requests"] == 0


def gate_rebuild(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Holds a rebuild before its first record until the returned event is set: a rebuild caught mid-way."""
    release = threading.Event()
    original = aggregate_module.iter_records

    def gated(path: Path, end: int | None = None) -> Iterator[dict[str, Any] | None]:
        release.wait(timeout=10)
        yield from original(path, end)

    monkeypatch.setattr(aggregate_module, "iter_records", gated)
    return release


@dataclass
class HeldRebuild:
    stats: StatsAggregate
    path: Path
    release: threading.Event
    thread: threading.Thread
    results: list[RebuildResult]

    def finish(self) -> None:
        self.release.set()
        self.thread.join(timeout=10)


@pytest.fixture
def held(tmp_path: Path, records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldRebuild]:
    """A background rebuild of the first 400 records, held before its first one (released at the end)."""
    path = tmp_path / "routing.log.jsonl"
    write_log(path, records[:400])
    release = gate_rebuild(monkeypatch)
    stats = StatsAggregate(pool_of(POOL), clock=lambda: NOW)
    results: list[RebuildResult] = []
    thread = stats.rebuild_in_background(path, path.stat().st_size, results.append)
    rebuild = HeldRebuild(stats, path, release, thread, results)
    yield rebuild
    rebuild.finish()


async def test_a_background_rebuild_folds_the_log_then_the_records_written_meanwhile(
    held: HeldRebuild, records: list[dict[str, Any]]
) -> None:
    with held.path.open("ab") as log:  # as the proxy does: each new record is appended and handed to the listener
        for record in records[400:]:
            log.write(orjson.dumps(record) + b"\n")
            held.stats.add(record)
    during = held.stats.snapshot("all", 3)
    assert during["log"]["rebuilding"] and during["totals"]["requests"] == 0
    held.finish()
    assert [r.records for r in held.results] == [400] and not held.stats.rebuilding
    for range_ in RANGES:  # each record counted once, the file's first and then the ones added meanwhile
        assert_stats(held.stats.snapshot(range_, 3), expected_stats(records, range_, POOL))


async def test_clearing_the_log_during_a_background_rebuild_drops_what_it_was_reading(
    held: HeldRebuild, records: list[dict[str, Any]]
) -> None:
    held.stats.clear()
    for record in records[400:]:
        held.stats.add(record)
    held.finish()
    for range_ in RANGES:
        assert_stats(held.stats.snapshot(range_, 3), expected_stats(records[400:], range_, POOL, corrupt=0))


async def test_a_large_log_is_folded_while_the_proxy_already_serves(
    proxy_factory: Callable[..., Any], tmp_path: Path, records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    log_path = tmp_path / "big.log.jsonl"
    write_log(log_path, records)
    release = gate_rebuild(monkeypatch)
    monkeypatch.setattr(main_module, "BACKGROUND_REBUILD_BYTES", 0)  # every log counts as large
    proxy = await proxy_factory(config_data=make_config_data(log_path=str(log_path)))
    async with httpx.AsyncClient(timeout=20) as http:
        served = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body("hello"))
        assert served.status_code == 200  # the rebuild is still held: start-up did not wait for it
        during = (await http.get(f"{proxy.root}/api/stats", params={"range": "all"})).json()
        assert during["log"]["rebuilding"] and during["totals"]["requests"] == 0
        release.set()
        for _ in range(200):
            after = (await http.get(f"{proxy.root}/api/stats", params={"range": "all"})).json()
            if not after["log"]["rebuilding"]:
                break
            await asyncio.sleep(0.02)
    assert not after["log"]["rebuilding"]
    assert after["log"] == {"records": len(records) + 1, "corrupt_lines": 2, "rebuilding": False}


async def test_a_real_server_agrees_with_its_own_log(proxy: RunningProxy) -> None:
    """Through the simulator: the stats of every range equal the hand computation over the written log."""
    async with httpx.AsyncClient(timeout=20) as http:
        for index, prompt in enumerate(["write a python sort", "hi there", "prove that 2+2=4", "summarise this"] * 3):
            await http.post(f"{proxy.base_url}/chat/completions", json=chat_body(prompt, stream=index % 2 == 0))
        await http.post(f"{proxy.base_url}/chat/completions", json={"model": "optmod", "messages": "not a list"})
        records = proxy.records()
        pins = await proxy.state.active_pin_count()
        pool = proxy.state.runtime.registry.models
        for range_ in ("all", "5", "24h"):
            body = (await http.get(f"{proxy.root}/api/stats", params={"range": range_})).json()
            assert_stats(
                body, expected_stats(records, range_ if range_ != "24h" else "all", pool, 0, pins) | {"range": range_}
            )
        assert (await http.post(f"{proxy.root}/optmod/log/clear")).status_code == 200
        cleared = (await http.get(f"{proxy.root}/api/stats", params={"range": "all"})).json()
    assert cleared["totals"]["requests"] == 0 and cleared["recent"] == []
