"""The proxy benchmark in one command: `python -m bench.run [--quick] [--no-litellm] [--rss-100k]`.

Starts a simulated upstream (instant, and 50 ms), optmod (rule_based and perf_router, log on) and the LiteLLM
proxy (in its own virtualenv, made on first use) on 127.0.0.1, drives every scenario from a separate load
generator process in alternating runs, and writes `bench/results/proxy_bench.json` and `.md`.
`--quick` is the CI smoke: a few hundred requests, no LiteLLM, checks only that it all works.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from bench.proxy_bench.report import MIB, build_rows, check_targets, render_markdown
from bench.proxy_bench.scenarios import (
    CONCURRENCY,
    LARGE_BODY_BYTES,
    TARGETS,
    Budget,
    RunResult,
    Scenario,
    Selection,
    Upstream,
    build_matrix,
    router_status,
    run_group,
    run_loadgen,
    start_fleet,
)
from bench.proxy_bench.services import DEFAULT_LITELLM_VENV, REPO_ROOT, litellm_version, start_optmod, start_simulator

RESULTS_DIR = REPO_ROOT / "bench" / "results"
RSS_CONCURRENCY = 64
RSS_FIRST = 10_000
RSS_TOTAL = 100_000


def _csv(kind: type, text: str) -> tuple[Any, ...]:
    return tuple(kind(part) for part in text.split(",") if part)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI smoke: a few hundred requests, no LiteLLM")
    parser.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM proxy")
    parser.add_argument("--litellm-venv", type=Path, default=DEFAULT_LITELLM_VENV)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per run")
    parser.add_argument("--max-seconds", type=float, default=4.0, help="seconds per run after the warm-up")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latencies", type=lambda t: _csv(float, t), default=(0.0, 50.0), help="e.g. 0,50")
    parser.add_argument("--modes", type=lambda t: _csv(str, t), default=("json", "stream20", "stream200"))
    parser.add_argument("--bodies", type=lambda t: _csv(int, t), default=(0, LARGE_BODY_BYTES))
    parser.add_argument("--concurrency", type=lambda t: _csv(int, t), default=CONCURRENCY)
    parser.add_argument("--targets", type=lambda t: _csv(str, t), default=TARGETS)
    parser.add_argument("--rss", action="store_true", help="also measure optmod's RSS over 10k requests")
    parser.add_argument("--rss-100k", action="store_true", help="... and on to 100k requests (about 2 minutes)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for proxy_bench.json and .md")
    parser.add_argument("--name", default="proxy_bench", help="file name stem of the results")
    return parser


def selection_for(args: argparse.Namespace) -> tuple[Selection, Budget]:
    targets = tuple(t for t in args.targets if t in TARGETS)
    if args.quick or args.no_litellm:
        targets = tuple(t for t in targets if t != "litellm")
    if args.quick:
        selection = Selection(
            latencies=(0.0,), modes=("json", "stream20"), bodies=(0,), concurrency=(1, 16), targets=targets
        )
        return selection, Budget(requests=40, max_seconds=3.0, rounds=1)
    selection = Selection(args.latencies, args.modes, args.bodies, args.concurrency, targets)
    return selection, Budget(args.requests, args.max_seconds, args.rounds)


def measure_rss(workdir: Path, total: int) -> dict[str, Any]:
    """optmod's RSS at start, after 10k requests and (when total allows) after `total` requests."""
    folder = workdir / "rss"
    folder.mkdir()
    upstream = start_simulator(folder, 0.0, 20)
    proxy = start_optmod(folder, f"{upstream.root}/v1", "rule_based")
    try:
        result: dict[str, Any] = {"start_mib": round(proxy.sample().rss_bytes / MIB, 1)}
        scenario = Scenario(Upstream(0.0, 20), False, 0, RSS_CONCURRENCY)
        done = 0
        for mark, label in ((RSS_FIRST, "after_10k_mib"), (total, "after_100k_mib")):
            if mark <= done:
                continue
            load = run_loadgen(proxy.chat_url, scenario, Budget(mark - done - RSS_CONCURRENCY, 600.0, 1))
            done += load["sent"]
            result[label] = round(proxy.sample().rss_bytes / MIB, 1)
            result[f"{label}_requests"] = done
            print(f"  RSS after {done} requests: {result[label]} MiB ({load['rps']:.0f} req/s)", flush=True)
        return result
    finally:
        proxy.stop()
        upstream.stop()


def run_matrix(args: argparse.Namespace, workdir: Path) -> tuple[list[RunResult], dict[str, Any]]:
    selection, budget = selection_for(args)
    results: list[RunResult] = []
    meta: dict[str, Any] = {"budget": asdict(budget), "selection": asdict(selection)}
    for upstream, scenarios in build_matrix(selection).items():
        print(f"{upstream.label}, {upstream.chunks}-chunk answers: starting processes", flush=True)
        fleet = start_fleet(workdir, upstream, selection.targets, args.litellm_venv)
        try:
            if "optmod_perf_router" in fleet.proxies:
                # Per upstream: the router's artifacts may change between two starts of the proxy.
                status = router_status(fleet.proxies["optmod_perf_router"])
                meta.setdefault("perf_router_status", {})[upstream.key] = status
            for result in run_group(fleet, scenarios, selection.targets, budget):
                results.append(result)
        finally:
            fleet.stop()
            # Kept as it goes, so a long run cut short still leaves its measurements behind.
            partial = args.out / f"{args.name}.runs.tmp"
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(orjson.dumps([asdict(r) for r in results]))
    if "litellm" in selection.targets:
        meta["litellm_version"] = litellm_version(args.litellm_venv)
    return results, meta


def git_revision() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT, check=False
    )
    return result.stdout.strip() or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.time()
    # Read before the run: other commits may land while it goes on (the processes import the code as they start).
    revision = git_revision()
    loadavg_start = " ".join(f"{v:.2f}" for v in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="optmod-bench-") as folder:
        workdir = Path(folder)
        results, meta = run_matrix(args, workdir)
        rss = None
        if (args.rss or args.rss_100k) and not args.quick:
            rss = measure_rss(workdir, RSS_TOTAL if args.rss_100k else RSS_FIRST)
    rows = build_rows(results)
    checks = check_targets(rows, rss)
    meta |= {
        "command": "python -m bench.run " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "git": revision,
        "git_at_end": git_revision(),
        "cpus": os.cpu_count(),
        "loadavg_start": loadavg_start,
        "loadavg_end": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "seconds": round(time.time() - started, 1),
    }
    report = {
        "meta": meta,
        "checks": [asdict(c) for c in checks],
        "rows": [asdict(r) for r in rows],
        "rss": rss,
        "runs": [asdict(r) for r in results],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = args.out / f"{args.name}.json", args.out / f"{args.name}.md"
    json_path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    md_path.write_text(render_markdown(meta, rows, checks, rss))
    print(f"wrote {json_path} and {md_path} in {meta['seconds']} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
