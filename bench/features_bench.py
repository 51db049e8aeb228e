"""How long feature extraction takes per request, on requests shaped like real agent traffic.

    python bench/features_bench.py [--repeat N]

Prints p50 / p99 / mean microseconds per call for each request shape. The issue's budget is 1 ms for a
typical request; the figures are measured, never asserted by a test (this machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from optmod.features import extract_features

CODE = "```python\n" + "\n".join(f"def step_{i}(x):\n    return x * {i}  # why\n" for i in range(40)) + "```\n"
SHAPES: dict[str, dict[str, Any]] = {
    "chat, one short turn": {"messages": [{"role": "user", "content": "hi, how are you doing today?"}]},
    "question, 1 kB": {"messages": [{"role": "user", "content": "Explain why quicksort degrades. " * 32}]},
    "code review, 4 kB": {
        "messages": [
            {"role": "system", "content": "You are a reviewer."},
            {"role": "user", "content": CODE + "Find the bug and fix it."},
        ]
    },
    "agent, 20 turns with tools, 40 kB": {
        "messages": [{"role": "system", "content": "You are a coding agent. " * 40}]
        + [
            m
            for i in range(10)
            for m in (
                {"role": "user", "content": f"step {i}: run the tests and fix failures " * 20},
                {"role": "assistant", "content": "Running pytest now. " * 40},
            )
        ],
        "tools": [{"type": "function", "function": {"name": f"tool_{i}", "parameters": {}}} for i in range(8)],
    },
}


def measure(body: dict[str, Any], repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        began = time.perf_counter_ns()
        extract_features(body)
        timings.append((time.perf_counter_ns() - began) / 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    print(f"{'request shape':40} {'p50 us':>8} {'p99 us':>8} {'mean us':>8}")
    for name, body in SHAPES.items():
        measure(body, 50)  # warm the regex caches
        timings = sorted(measure(body, args.repeat))
        p50 = timings[len(timings) // 2]
        p99 = timings[int(len(timings) * 0.99)]
        print(f"{name:40} {p50:8.1f} {p99:8.1f} {statistics.fmean(timings):8.1f}")


if __name__ == "__main__":
    main()
