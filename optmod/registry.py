"""The model pool: lookups by name and tier, and the cost of a call from the usage a provider reports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from optmod.config import ModelConfig

TOKENS_PER_PRICE_UNIT = 1_000_000


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one call. `cached_tokens` are the part of `prompt_tokens` read from the provider's cache."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0


def call_cost(model: ModelConfig, usage: Usage) -> float:
    """USD for one call: uncached input, cached input, cache writes and output, each at its own price."""
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    written = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
    write_price = model.cache_write_usd_per_mtok
    if write_price is None:
        write_price = model.input_usd_per_mtok
    fresh = usage.prompt_tokens - cached - written
    dollars = (
        fresh * model.input_usd_per_mtok
        + cached * model.cached_input_usd_per_mtok
        + written * write_price
        + usage.completion_tokens * model.output_usd_per_mtok
    )
    return dollars / TOKENS_PER_PRICE_UNIT


def expected_cost(model: ModelConfig, prompt_tokens: int, completion_tokens: int) -> float:
    """USD a call is expected to cost before it is made, with no cache hits: what routers weigh."""
    return call_cost(model, Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens))


class ModelRegistry:
    """The configured pool, in config order."""

    def __init__(self, models: tuple[ModelConfig, ...], primary: str) -> None:
        self._models = models
        self._by_name = {m.name: m for m in models}
        if primary not in self._by_name:
            raise KeyError(f"primary model {primary!r} is not in the pool")
        self.primary = self._by_name[primary]

    def __iter__(self) -> Iterator[ModelConfig]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> ModelConfig | None:
        return self._by_name.get(name)

    def __getitem__(self, name: str) -> ModelConfig:
        return self._by_name[name]

    @property
    def models(self) -> tuple[ModelConfig, ...]:
        return self._models

    def tier(self, tier: int) -> tuple[ModelConfig, ...]:
        return tuple(m for m in self._models if m.tier == tier)

    @property
    def top_tier(self) -> int:
        return max(m.tier for m in self._models)

    def fits(self, model: ModelConfig, prompt_tokens: int) -> bool:
        return prompt_tokens < model.context_window
