"""Timing a learned router's decision path the way the proxy runs it: one query at a time, on one CPU thread.

A decision is: embed the query, predict every pool model's quality, weigh it against cost and pick. The
sample mixes real test prompts with long ones built by joining test prompts, up to about 8,000 tokens, since
the encoder's cost grows with the prompt.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from optmod.encoders import Encoder
from optmod.features import CHARS_PER_TOKEN

if TYPE_CHECKING:
    from optmod.routing.model_description import ModelDescription
    from optmod.training.registry import QualityPredictor

LONG_SHARE = 0.25
LONG_TOKENS = (1_000, 8_000)
WARM_UP = 5


def timing_prompts(prompts: Sequence[str], count: int, seed: int) -> list[str]:
    """`count` prompts: about three quarters drawn from `prompts`, the rest joined to 1k-8k tokens."""
    rng = np.random.default_rng(seed)
    long_count = round(count * LONG_SHARE)
    sample = [prompts[i] for i in rng.integers(0, len(prompts), count - long_count)]
    for target in rng.integers(LONG_TOKENS[0], LONG_TOKENS[1] + 1, long_count):
        parts: list[str] = []
        length = 0
        while length < target * CHARS_PER_TOKEN:
            parts.append(prompts[int(rng.integers(0, len(prompts)))])
            length += len(parts[-1]) + 2
        sample.append("\n\n".join(parts)[: target * CHARS_PER_TOKEN])
    return sample


def time_decisions(
    encoder: Encoder,
    predictor: QualityPredictor,
    prompts: Sequence[str],
    models: Sequence[ModelDescription],
    count: int,
    seed: int,
) -> dict[str, float | None]:
    """p50 and p99 milliseconds of one decision (encode, predict, pick), every library held to one thread."""
    if count <= 0 or not prompts:
        return {"decision_ms_p50": None, "decision_ms_p99": None}
    from threadpoolctl import threadpool_limits

    sample = timing_prompts(prompts, count, seed)
    costs = np.linspace(0.0, 1.0, len(models))  # stands in for the cost term: its arithmetic is what counts
    elapsed = []
    with threadpool_limits(limits=1):
        for index, prompt in enumerate([*sample[:WARM_UP], *sample]):
            started = time.perf_counter()
            embedding = encoder.encode([prompt])
            quality = predictor.predict_quality(embedding, [prompt], models)
            int(np.argmax(quality[0] - costs))
            if index >= WARM_UP:
                elapsed.append((time.perf_counter() - started) * 1000)
    return {
        "decision_ms_p50": float(np.percentile(elapsed, 50)),
        "decision_ms_p99": float(np.percentile(elapsed, 99)),
    }
