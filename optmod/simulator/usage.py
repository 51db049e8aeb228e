"""Token usage counted from the request the simulator actually received, and its prompt-prefix cache.

Prompt tokens are a deterministic estimate (a token is about four characters of text), so a mutator that
shortens the prompt shows up as fewer prompt tokens. The prompt is hashed as a chain at message boundaries,
tools first, the way a provider's prefix cache sees it: a later request that repeats an earlier prefix reports
that prefix as cached tokens, rounded down to whole 64-token blocks as DeepSeek does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4  # role and separators
PROMPT_PRIMING_TOKENS = 3  # the assistant turn the provider appends
IMAGE_TOKENS = 85  # a low-detail image, as OpenAI bills it
CACHE_BLOCK_TOKENS = 64
DEFAULT_CACHE_ENTRIES = 200_000
TOKENS_PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Prompt:
    """A request's prompt as the simulator bills and caches it.

    `prefixes[k]` is the hash of the tools and the first k messages, `prefix_tokens[k]` their token count
    (k = 0 is tools only). `digest` identifies the whole prompt and seeds the answer.
    """

    tokens: int
    prefixes: tuple[bytes, ...]
    prefix_tokens: tuple[int, ...]

    @property
    def digest(self) -> bytes:
        return self.prefixes[-1]


def count_text_tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def _part_tokens(part: Any) -> int:
    if isinstance(part, Mapping):
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            return count_text_tokens(len(part["text"]))
        if part.get("type") == "image_url":
            return IMAGE_TOKENS
    return count_text_tokens(len(orjson.dumps(part)))


def _content_tokens(content: Any) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return count_text_tokens(len(content))
    if isinstance(content, list):
        return sum(_part_tokens(part) for part in content)
    return count_text_tokens(len(orjson.dumps(content)))


def count_message_tokens(message: Mapping[str, Any]) -> int:
    tokens = TOKENS_PER_MESSAGE + _content_tokens(message.get("content"))
    calls = message.get("tool_calls")
    if calls:
        tokens += count_text_tokens(len(orjson.dumps(calls)))
    return tokens


def _chain(previous: bytes, segment: Any) -> bytes:
    data = orjson.dumps(segment, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(previous + data, digest_size=16).digest()


def analyse_prompt(model: str, messages: Sequence[Mapping[str, Any]], tools: Any = None) -> Prompt:
    """Count the prompt's tokens and hash its prefixes; `messages` were checked to be a list of objects.

    The model name starts the hash chain: one wildcard profile answering many names keeps their caches apart,
    and two models asked the same question give different answers.
    """
    total = PROMPT_PRIMING_TOKENS
    if tools:
        total += count_text_tokens(len(orjson.dumps(tools)))
    digest = _chain(model.encode("utf-8"), tools or None)
    prefixes = [digest]
    prefix_tokens = [total]
    for message in messages:
        total += count_message_tokens(message)
        digest = _chain(digest, message)
        prefixes.append(digest)
        prefix_tokens.append(total)
    return Prompt(tokens=total, prefixes=tuple(prefixes), prefix_tokens=tuple(prefix_tokens))


class PrefixCache:
    """The prompt prefixes one model has seen, least recently used dropped first beyond `max_entries`."""

    def __init__(self, max_entries: int = DEFAULT_CACHE_ENTRIES) -> None:
        self._seen: dict[bytes, None] = {}
        self._max_entries = max_entries

    def cached_tokens(self, prompt: Prompt) -> int:
        """Tokens of the longest seen prefix of `prompt`, in whole cache blocks."""
        for digest, tokens in zip(reversed(prompt.prefixes), reversed(prompt.prefix_tokens), strict=True):
            if digest in self._seen:
                return tokens // CACHE_BLOCK_TOKENS * CACHE_BLOCK_TOKENS
        return 0

    def remember(self, prompt: Prompt) -> None:
        seen = self._seen
        for digest in prompt.prefixes:
            # Re-inserting moves the prefix to the young end of the dict's insertion order.
            seen.pop(digest, None)
            seen[digest] = None
        while len(seen) > self._max_entries:
            del seen[next(iter(seen))]

    def clear(self) -> None:
        self._seen.clear()


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """What one answered call used: prompt tokens (of which `cached` came from the cache) and completion."""

    prompt: int
    cached: int
    completion: int


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens, for the "openrouter" usage cost field."""

    input: float = 0.0
    output: float = 0.0
    cached_input: float | None = None

    def cost(self, counts: TokenCounts) -> float:
        cached_price = self.input if self.cached_input is None else self.cached_input
        fresh = counts.prompt - counts.cached
        dollars = fresh * self.input + counts.cached * cached_price + counts.completion * self.output
        return dollars / TOKENS_PER_MILLION


def _common_usage(counts: TokenCounts) -> dict[str, Any]:
    return {
        "prompt_tokens": counts.prompt,
        "completion_tokens": counts.completion,
        "total_tokens": counts.prompt + counts.completion,
    }


def _openai_usage(counts: TokenCounts, prices: Prices) -> dict[str, Any] | None:
    usage = _common_usage(counts)
    usage["prompt_tokens_details"] = {"cached_tokens": counts.cached}
    usage["completion_tokens_details"] = {"reasoning_tokens": 0}
    return usage


def _deepseek_usage(counts: TokenCounts, prices: Prices) -> dict[str, Any] | None:
    # Only DeepSeek's own cache fields, so a reader that knows just the OpenAI field is caught out.
    usage = _common_usage(counts)
    usage["prompt_cache_hit_tokens"] = counts.cached
    usage["prompt_cache_miss_tokens"] = counts.prompt - counts.cached
    return usage


def _openrouter_usage(counts: TokenCounts, prices: Prices) -> dict[str, Any] | None:
    usage = _openai_usage(counts, prices) or {}
    usage["cost"] = round(prices.cost(counts), 12)
    return usage


def _no_usage(counts: TokenCounts, prices: Prices) -> dict[str, Any] | None:
    return None


USAGE_BUILDERS = {
    "openai": _openai_usage,
    "deepseek": _deepseek_usage,
    "openrouter": _openrouter_usage,
    "none": _no_usage,
}


def build_usage(style: str, counts: TokenCounts, prices: Prices) -> dict[str, Any] | None:
    """The `usage` object in a provider's own shape; None for style "none" (the provider reports nothing)."""
    return USAGE_BUILDERS[style](counts, prices)
