"""How each simulated model behaves: delays, answer length, context window, usage style, prices.

`ModelProfile` is one simulated upstream model. `demo_profiles` turns the configured pool into profiles with
per-tier timings (the fast tier answers quickly, the oracle tier slowly), so demo mode feels like the real
providers; `generic_profiles` is the single catch-all pool the benchmarks use.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from optmod.config import Config, ModelConfig
from optmod.simulator.usage import USAGE_BUILDERS

WILDCARD = "*"
GENERIC_MODEL = "sim-model"


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """One simulated model, answering requests whose body names it (`name`, or any model for `"*"`)."""

    name: str
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    tokens_per_s: float = 0.0
    output_tokens: int | None = None
    chunk_tokens: int = 1
    context_window: int = 128_000
    usage_style: str = "openai"
    cache: bool = True
    input_usd_per_mtok: float = 0.0
    output_usd_per_mtok: float = 0.0
    # None prices cached reads like fresh input; only the "openrouter" usage cost field reads prices.
    cached_input_usd_per_mtok: float | None = None
    quality: float = 0.5
    # Each request's delays vary by up to this fraction, drawn from seed + prompt so runs stay repeatable.
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.usage_style not in USAGE_BUILDERS:
            raise ValueError(f"usage_style {self.usage_style!r} is not one of {', '.join(USAGE_BUILDERS)}")
        if self.chunk_tokens < 1:
            raise ValueError("chunk_tokens must be at least 1")
        if self.output_tokens is not None and self.output_tokens < 0:
            raise ValueError("output_tokens must not be negative")
        if min(self.latency_ms, self.ttft_ms, self.tokens_per_s, self.jitter) < 0:
            raise ValueError("delays, tokens_per_s and jitter must not be negative")


@dataclass(frozen=True, slots=True)
class TierTiming:
    """Typical timings of one tier, before the per-model spread."""

    ttft_ms: float
    tokens_per_s: float


# Rough shapes of public provider dashboards: small models start fast and stream fast, large ones neither.
TIER_TIMINGS = {
    0: TierTiming(ttft_ms=250.0, tokens_per_s=140.0),
    1: TierTiming(ttft_ms=600.0, tokens_per_s=90.0),
    2: TierTiming(ttft_ms=1200.0, tokens_per_s=55.0),
}
# Models of one tier differ by up to this fraction, fixed per model name so a demo is the same every time.
MODEL_SPREAD = 0.15
DEMO_JITTER = 0.2


def spread_factor(name: str) -> float:
    """A factor in [1 - MODEL_SPREAD, 1 + MODEL_SPREAD], stable for a model name across runs and machines."""
    unit = (zlib.crc32(name.encode("utf-8")) % 10_001) / 10_000
    return 1.0 + MODEL_SPREAD * (2.0 * unit - 1.0)


def demo_profile(model: ModelConfig) -> ModelProfile:
    timing = TIER_TIMINGS[model.tier]
    factor = spread_factor(model.name)
    return ModelProfile(
        name=model.wire_name,
        ttft_ms=timing.ttft_ms * factor,
        tokens_per_s=timing.tokens_per_s / factor,
        context_window=model.context_window,
        usage_style="deepseek" if "deepseek" in model.base_url else "openrouter",
        input_usd_per_mtok=model.input_usd_per_mtok,
        output_usd_per_mtok=model.output_usd_per_mtok,
        cached_input_usd_per_mtok=model.cached_input_usd_per_mtok,
        quality=model.quality_prior,
        jitter=DEMO_JITTER,
    )


def demo_profiles(config: Config) -> tuple[ModelProfile, ...]:
    """One profile per configured model. Give it the config as loaded: the usage style follows the base URL."""
    return tuple(demo_profile(model) for model in config.models)


def generic_profiles(latency_ms: float = 0.0, chunks: int | None = None) -> tuple[ModelProfile, ...]:
    """`sim-model` plus a wildcard that answers any other model name alike: the benchmarks' upstream."""
    base = ModelProfile(name=GENERIC_MODEL, latency_ms=latency_ms, ttft_ms=latency_ms, output_tokens=chunks)
    return base, replace(base, name=WILDCARD)


def override_profiles(
    profiles: Sequence[ModelProfile], latency_ms: float | None = None, chunks: int | None = None
) -> tuple[ModelProfile, ...]:
    """The same profiles with a fixed delay and/or a fixed answer length of `chunks` one-token chunks."""
    changed = []
    for profile in profiles:
        if latency_ms is not None:
            profile = replace(profile, latency_ms=latency_ms, ttft_ms=latency_ms, tokens_per_s=0.0, jitter=0.0)
        if chunks is not None:
            profile = replace(profile, output_tokens=chunks, chunk_tokens=1)
        changed.append(profile)
    return tuple(changed)
