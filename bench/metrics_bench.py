"""CPU cost of the Prometheus series per request: `ProxyMetrics.observe` on a typical log record, plus the
routing-time observation the proxy makes. Prints the p50 in microseconds; nothing is asserted.

Run: .venv/bin/python bench/metrics_bench.py [--repeats 20000]
For a before/after, run this file against another revision's package:
    git worktree add /tmp/old REV && PYTHONPATH=/tmp/old .venv/bin/python bench/metrics_bench.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import optmod
from optmod.metrics import ProxyMetrics

# A two-attempt request with usage and cost: every series but the stream's time to first token is touched.
RECORD = {
    "model": "deepseek-v4-flash",
    "tier": 1,
    "status": 200,
    "router": "rule_based",
    "latency_ms": 812.5,
    "overhead_ms": 0.41,
    "attempts": [
        {"model": "deepseek-v4-pro", "outcome": "server_error", "status": 503, "latency_ms": 12.0},
        {"model": "deepseek-v4-flash", "outcome": "ok", "status": 200, "latency_ms": 790.1},
    ],
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "cached_tokens": 800,
    "cost_usd": 0.00042,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20_000)
    args = parser.parse_args()
    metrics = ProxyMetrics()
    samples = np.empty(args.repeats)
    for index in range(-1000, args.repeats):  # the first thousand warm the label caches
        start = time.perf_counter()
        metrics.observe(RECORD)
        metrics.observe_routing("rule_based", 0.00001)
        if index >= 0:
            samples[index] = (time.perf_counter() - start) * 1e6
    print(f"optmod from {optmod.__file__}")
    print(f"metrics per request: p50 {np.percentile(samples, 50):.2f} us, p99 {np.percentile(samples, 99):.2f} us")


if __name__ == "__main__":
    main()
