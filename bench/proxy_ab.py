"""Before/after for one optimisation: optmod at a git revision against the working tree, in one run.

    python -m bench.proxy_ab --base 2780c5c --concurrency 1,64 [--latency 50] [--stream --chunks 200] [--body 30000]
                             [--router perf_router]

Both proxies (rule_based unless `--router` names another, log on) serve the same simulator; each round runs
direct, then the two proxies in alternating order, so a busy patch of a shared machine hits both alike. The
base is `git archive <rev> optmod` put first on its PYTHONPATH. CPU is read from /proc/PID/task/*/schedstat
(nanoseconds on the CPU, every thread), which a loaded machine disturbs far less than wall-clock latency: use
it as the primary evidence.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.proxy_bench.scenarios import Budget, Scenario, Upstream, run_loadgen
from bench.proxy_bench.services import (
    REPO_ROOT,
    START_TIMEOUT_S,
    Service,
    free_port,
    optmod_config,
    spawn,
    start_simulator,
    wait_ready,
)


def thread_cpu_s(pid: int) -> float:
    """CPU seconds of every thread of a process, from the scheduler's nanosecond accounting."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended between the listing and the read
    return total / 1e9


def extract_revision(revision: str, folder: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", revision, "optmod"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")


def start_proxy(folder: Path, upstream: str, pythonpath: Path | None, router: str) -> Service:
    folder.mkdir(parents=True)
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(optmod_config(upstream, router), sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k != "OPTMOD_ADMIN_TOKEN"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    port = free_port()
    argv = [sys.executable, "-m", "optmod.cli", "serve", "--config", str(config_path), "--port", str(port)]
    process, log_path = spawn(folder.name, [*argv, "--log-level", "warning"], folder, env)
    service = Service(folder.name, process, port, log_path)
    wait_ready(service, "/optmod/status", START_TIMEOUT_S)
    return service


@dataclass(frozen=True, slots=True)
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    added_p50_ms: float
    cpu_ms: float  # per request


def measure(service: Service, scenario: Scenario, budget: Budget, direct: dict[str, float]) -> Sample:
    before = thread_cpu_s(service.pid)
    load = run_loadgen(service.chat_url, scenario, budget)
    cpu_ms = (thread_cpu_s(service.pid) - before) * 1000 / max(load["sent"], 1)
    if load["errors"]:
        raise RuntimeError(f"{service.name}: {load['errors']} errors")
    latency = load["latency_ms"]
    return Sample(load["rps"], latency["p50"], latency["p99"], latency["p50"] - direct["p50"], cpu_ms)


def describe(name: str, samples: Sequence[Sample]) -> str:
    def med(values: Sequence[float]) -> float:
        return statistics.median(values)

    return (
        f"  {name:6s} {med([s.rps for s in samples]):8,.0f} req/s  p50 {med([s.p50_ms for s in samples]):8.3f} ms"
        f"  p99 {med([s.p99_ms for s in samples]):8.3f} ms  +p50 {med([s.added_p50_ms for s in samples]):7.3f} ms"
        f"  CPU {med([s.cpu_ms for s in samples]):.3f} ms/req ({' '.join(f'{s.cpu_ms:.3f}' for s in samples)})"
    )


def idle_cpu(proxies: dict[str, Service], seconds: float) -> str:
    """CPU milliseconds per second each proxy spends with no request to serve (both idle side by side)."""
    before = {name: thread_cpu_s(service.pid) for name, service in proxies.items()}
    time.sleep(seconds)
    spent = {name: (thread_cpu_s(service.pid) - before[name]) * 1000 / seconds for name, service in proxies.items()}
    return "idle CPU: " + ", ".join(f"{name} {ms:.2f} ms/s" for name, ms in spent.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.proxy_ab", description=__doc__)
    parser.add_argument("--base", required=True, help="git revision to compare the working tree against")
    parser.add_argument("--latency", type=float, default=0.0, help="simulator delay, ms")
    parser.add_argument("--concurrency", default="1,64")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--body", type=int, default=0, help="request body bytes (0: small)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--max-seconds", type=float, default=2.5)
    parser.add_argument("--router", default="rule_based", help="the router both proxies use")
    parser.add_argument("--idle-seconds", type=float, default=0.0, help="first measure CPU while both sit idle")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    budget = Budget(args.requests, args.max_seconds, 1)
    with tempfile.TemporaryDirectory(prefix="optmod-ab-") as folder:
        workdir = Path(folder)
        extract_revision(args.base, workdir / "base-tree")
        simulator = start_simulator(workdir, args.latency, args.chunks)
        upstream = f"{simulator.root}/v1"
        proxies: dict[str, Service] = {}
        try:
            proxies["base"] = start_proxy(workdir / "base", upstream, workdir / "base-tree", args.router)
            proxies["new"] = start_proxy(workdir / "new", upstream, None, args.router)
            if args.idle_seconds > 0:
                print(idle_cpu(proxies, args.idle_seconds), flush=True)
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                scenario = Scenario(Upstream(args.latency, args.chunks), args.stream, args.body, concurrency)
                results: dict[str, list[Sample]] = {"base": [], "new": []}
                for round_index in range(args.rounds):
                    direct = run_loadgen(simulator.chat_url, scenario, budget)["latency_ms"]
                    for name in ("base", "new") if round_index % 2 == 0 else ("new", "base"):
                        results[name].append(measure(proxies[name], scenario, budget, direct))
                print(f"{scenario.key} (base {args.base} vs working tree)", flush=True)
                for name, samples in results.items():
                    print(describe(name, samples), flush=True)
        finally:
            for service in (*proxies.values(), simulator):
                service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
