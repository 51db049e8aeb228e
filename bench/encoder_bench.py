"""Milliseconds per query of each encoder, one query at a time on one CPU thread, at 50, 500 and 8,000 tokens.

Run: .venv/bin/python bench/encoder_bench.py [--encoders static,minilm] [--queries 50]
Prints figures only; nothing here passes or fails on a timing.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy and torch load: one thread, as the proxy runs

import numpy as np

from optmod.encoders import load_encoder
from optmod.features import CHARS_PER_TOKEN

PARAGRAPH = (
    "The service returns a timeout when the upstream database is under load; explain why retries with "
    "exponential backoff help, compare them with a circuit breaker, and write a short Python function that "
    "retries a request three times. Also, what is the integral of x squared from 0 to 3, and who wrote Hamlet? "
)
TOKEN_COUNTS = (50, 500, 8_000)


def prompt_of(tokens: int, variant: int) -> str:
    """A prompt of about `tokens` tokens; the variant number keeps every query distinct (no caching helps)."""
    text = f"query {variant}: " + PARAGRAPH * (tokens * CHARS_PER_TOKEN // len(PARAGRAPH) + 1)
    return text[: tokens * CHARS_PER_TOKEN]


def time_encoder(name: str, tokens: int, queries: int) -> tuple[float, float]:
    encoder = load_encoder(name)
    for variant in range(3):  # warm-up
        encoder.encode([prompt_of(tokens, -variant - 1)])
    elapsed = []
    for variant in range(queries):
        prompt = prompt_of(tokens, variant)
        started = time.perf_counter()
        encoder.encode([prompt])
        elapsed.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(elapsed, 50)), float(np.percentile(elapsed, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default="static,minilm")
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    print(f"{'encoder':8} {'tokens':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for name in args.encoders.split(","):
        for tokens in TOKEN_COUNTS:
            p50, p99 = time_encoder(name, tokens, args.queries)
            print(f"{name:8} {tokens:>6} {p50:8.3f} {p99:8.3f}")


if __name__ == "__main__":
    main()
