"""The scenario matrix and the loop that runs it: per upstream, the targets in turn, round after round.

An upstream is one simulator process (its delay and its answer length). For each scenario every round runs
direct, optmod (rule_based), optmod (perf_router) and LiteLLM one after the other, so a slow patch of the
machine hits all of them alike; the report compares each proxy with the direct run of the same round.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.proxy_bench.services import (
    LITELLM_MASTER_KEY,
    Service,
    get_json,
    start_litellm,
    start_optmod,
    start_simulator,
)

TARGETS = ("direct", "optmod_rule_based", "optmod_perf_router", "litellm")
OPTMOD_ROUTERS = {"optmod_rule_based": "rule_based", "optmod_perf_router": "perf_router"}
CONCURRENCY = (1, 16, 64, 256)
LARGE_BODY_BYTES = 30_000


@dataclass(frozen=True, slots=True)
class Upstream:
    latency_ms: float
    chunks: int

    @property
    def key(self) -> str:
        return f"{self.latency_ms:g}ms/{self.chunks}"

    @property
    def label(self) -> str:
        return f"{'instant' if self.latency_ms == 0 else f'{self.latency_ms:g} ms'} upstream"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One load shape: the upstream, streamed or not, the body size, and the number of connections."""

    upstream: Upstream
    stream: bool
    body_bytes: int
    concurrency: int

    @property
    def key(self) -> str:
        mode = f"stream{self.upstream.chunks}" if self.stream else "json"
        body = "30k" if self.body_bytes else "small"
        return f"{self.upstream.latency_ms:g}ms/{mode}/{body}/c{self.concurrency}"


@dataclass(frozen=True, slots=True)
class Budget:
    """Bounds of every load run: measured requests and seconds (after the warm-up)."""

    requests: int
    max_seconds: float
    rounds: int


@dataclass
class RunResult:
    scenario: str
    target: str
    round: int
    load: dict[str, Any]
    proxy_cpu_s: float | None = None
    proxy_rss_bytes: int | None = None
    upstream_cpu_s: float | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    latencies: tuple[float, ...] = (0.0, 50.0)
    modes: tuple[str, ...] = ("json", "stream20", "stream200")
    bodies: tuple[int, ...] = (0, LARGE_BODY_BYTES)
    concurrency: tuple[int, ...] = CONCURRENCY
    targets: tuple[str, ...] = TARGETS


def build_matrix(selection: Selection) -> dict[Upstream, list[Scenario]]:
    """Scenarios grouped by the simulator they need (answer length is a simulator setting)."""
    groups: dict[Upstream, list[Scenario]] = {}
    for latency, mode, body, concurrency in itertools.product(
        selection.latencies, selection.modes, selection.bodies, selection.concurrency
    ):
        chunks = 200 if mode == "stream200" else 20
        upstream = Upstream(latency, chunks)
        groups.setdefault(upstream, []).append(Scenario(upstream, mode != "json", body, concurrency))
    return groups


def run_loadgen(url: str, scenario: Scenario, budget: Budget, headers: Sequence[str] = ()) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.proxy_bench.loadgen", "--url", url]
    argv += ["--concurrency", str(scenario.concurrency), "--requests", str(budget.requests)]
    argv += ["--max-seconds", str(budget.max_seconds), "--body-bytes", str(scenario.body_bytes)]
    if scenario.stream:
        argv.append("--stream")
    for header in headers:
        argv += ["--header", header]
    completed = subprocess.run(argv, capture_output=True, check=False, timeout=budget.max_seconds * 4 + 120)
    if completed.returncode != 0:
        raise RuntimeError(f"load generator failed: {completed.stderr.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


@dataclass
class Fleet:
    """The processes serving one upstream: the simulator and each proxy under test."""

    upstream: Service
    proxies: dict[str, Service] = field(default_factory=dict)

    def stop(self) -> None:
        for service in (*self.proxies.values(), self.upstream):
            service.stop()


def start_fleet(workdir: Path, upstream: Upstream, targets: Sequence[str], litellm_venv: Path) -> Fleet:
    folder = workdir / f"sim-{upstream.latency_ms:g}ms-{upstream.chunks}"
    folder.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(start_simulator(folder, upstream.latency_ms, upstream.chunks))
    base_url = f"{fleet.upstream.root}/v1"
    try:
        for target, router in OPTMOD_ROUTERS.items():
            if target in targets:
                fleet.proxies[target] = start_optmod(folder, base_url, router)
        if "litellm" in targets:
            fleet.proxies["litellm"] = start_litellm(folder, base_url, litellm_venv)
    except BaseException:
        fleet.stop()
        raise
    return fleet


def router_status(service: Service) -> dict[str, Any]:
    status: dict[str, Any] = get_json(f"{service.root}/optmod/status")["router"]
    return {key: status.get(key) for key in ("requested", "active", "fallback_reason")}


def run_target(fleet: Fleet, target: str, scenario: Scenario, budget: Budget, round_index: int) -> RunResult:
    if target == "direct":
        load = run_loadgen(fleet.upstream.chat_url, scenario, budget)
        return RunResult(scenario.key, target, round_index, load)
    proxy = fleet.proxies[target]
    headers = [f"Authorization: Bearer {LITELLM_MASTER_KEY}"] if target == "litellm" else []
    before, upstream_before = proxy.sample(), fleet.upstream.sample()
    load = run_loadgen(proxy.chat_url, scenario, budget, headers)
    after, upstream_after = proxy.sample(), fleet.upstream.sample()
    return RunResult(
        scenario.key,
        target,
        round_index,
        load,
        proxy_cpu_s=after.cpu_s - before.cpu_s,
        proxy_rss_bytes=after.rss_bytes,
        upstream_cpu_s=upstream_after.cpu_s - upstream_before.cpu_s,
    )


def run_group(
    fleet: Fleet, scenarios: Sequence[Scenario], targets: Sequence[str], budget: Budget
) -> Iterator[RunResult]:
    for scenario in scenarios:
        for round_index in range(budget.rounds):
            for target in targets:
                result = run_target(fleet, target, scenario, budget, round_index)
                print(f"  {scenario.key:28s} r{round_index} {target:20s} {describe_load(result.load)}", flush=True)
                yield result


def _ms(value: float | None) -> str:
    # A run that measured nothing (a target too slow for the time bound) has no percentiles.
    return "      -" if value is None else f"{value:8.2f}"


def describe_load(load: dict[str, Any]) -> str:
    latency = load["latency_ms"]
    return (
        f"{load['rps']:9.1f} req/s  p50 {_ms(latency['p50'])} ms  p99 {_ms(latency['p99'])} ms  errors {load['errors']}"
    )


def as_json(result: RunResult) -> dict[str, Any]:
    return asdict(result)
