"""When a provider fails: what kind of failure it was, which model to try next, and per-model cooldowns.

Failure classes (the `outcome` of an attempt in the log):

| class            | from                                                   | next move                          |
|------------------|--------------------------------------------------------|------------------------------------|
| connect_error    | the TCP/TLS connection could not be made                | next candidate                     |
| connection_reset | the connection dropped before the answer               | next candidate                     |
| timeout          | no answer within the deadline, or HTTP 408             | next candidate                     |
| conflict         | HTTP 409                                               | next candidate                     |
| rate_limited     | HTTP 429                                               | cooldown (Retry-After), next       |
| server_error     | HTTP 5xx, or a 2xx body that is not a completion       | 503: cooldown (Retry-After); next  |
| stream_error     | an error event before any content                      | next candidate                     |
| empty            | an answer with no content and no tool call             | next candidate                     |
| model_unavailable| HTTP 404: the provider does not serve this model (any more) | cooldown, next candidate     |
| context_length   | the prompt is over the model's context window          | only a model with a larger window  |
| client_error     | any other 4xx: the caller's fault                      | passed through unchanged           |

Escalation climbs tiers: after a failure the next candidate is an untried model of the lowest tier above the
failed one, then one of the same tier, then (a weaker answer beats none) one of the tiers below, the nearest
first; within a tier the cheapest for this request; models cooling down are skipped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from optmod.config import ModelConfig
from optmod.upstream_client import (
    UpstreamConnectError,
    UpstreamDisconnectedError,
    UpstreamError,
    UpstreamProtocolError,
)

CONNECT_ERROR = "connect_error"
CONNECTION_RESET = "connection_reset"
TIMEOUT = "timeout"
CONFLICT = "conflict"
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
STREAM_ERROR = "stream_error"
EMPTY = "empty"
CONTEXT_LENGTH = "context_length"
MODEL_UNAVAILABLE = "model_unavailable"
CLIENT_ERROR = "client_error"

RETRYABLE = frozenset(
    {
        CONNECT_ERROR,
        CONNECTION_RESET,
        TIMEOUT,
        CONFLICT,
        RATE_LIMITED,
        SERVER_ERROR,
        STREAM_ERROR,
        EMPTY,
        MODEL_UNAVAILABLE,
    }
)

# Foreign exceptions to failure classes, most specific first: the upstream client's own, then the standard
# library's that can escape a socket or a timeout.
TRANSPORT_FAILURES: tuple[tuple[type[BaseException], str], ...] = (
    (UpstreamConnectError, CONNECT_ERROR),
    (UpstreamDisconnectedError, CONNECTION_RESET),
    (UpstreamProtocolError, SERVER_ERROR),
    (UpstreamError, CONNECTION_RESET),
    (TimeoutError, TIMEOUT),
    (ConnectionError, CONNECTION_RESET),
    (OSError, CONNECT_ERROR),
)

# Providers report an over-long prompt in their own words; the code field is checked first, and where a
# provider puts only prose in the error this pattern is the documented fallback.
_CONTEXT_CODES = frozenset({"context_length_exceeded", "context_too_long", "string_above_max_length"})
_CONTEXT_WORDS = re.compile(r"(maximum context length|context length|context window|too many tokens)", re.I)


def classify_exception(exc: BaseException) -> str:
    for exc_type, failure in TRANSPORT_FAILURES:
        if isinstance(exc, exc_type):
            return failure
    raise TypeError(f"not a transport failure: {type(exc).__name__}")


def classify_status(status: int, error: Mapping[str, Any] | None) -> str:
    """The failure class of a non-2xx answer, given its parsed `error` object (or None)."""
    if status == 408:
        return TIMEOUT
    if status == 409:
        return CONFLICT
    if status == 429:
        return RATE_LIMITED
    if status == 404:
        # The chat endpoint exists wherever a pool model points, so a 404 is about the model: a provider that
        # retired it or never had it. The pool named it, not the caller: another model can answer.
        return MODEL_UNAVAILABLE
    if status >= 500:
        return SERVER_ERROR
    if status == 413 or (status == 400 and _is_context_error(error)):
        return CONTEXT_LENGTH
    return CLIENT_ERROR


def _is_context_error(error: Mapping[str, Any] | None) -> bool:
    if not error:
        return False
    if error.get("code") in _CONTEXT_CODES:
        return True
    message = error.get("message")
    return isinstance(message, str) and bool(_CONTEXT_WORDS.search(message))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; an HTTP date is treated as absent)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class Cooldowns:
    """Models that recently rate-limited or were unavailable, and until when to leave them alone."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._until: dict[str, float] = {}
        self._clock = clock

    def cool(self, model: str, seconds: float) -> None:
        if seconds > 0:
            self._until[model] = max(self._until.get(model, 0.0), self._clock() + seconds)

    def remaining(self, model: str) -> float:
        until = self._until.get(model)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._until[model]
            return 0.0
        return left

    def is_cooling(self, model: str) -> bool:
        return self.remaining(model) > 0

    def snapshot(self) -> dict[str, float]:
        return {name: round(left, 3) for name in list(self._until) if (left := self.remaining(name)) > 0}


@dataclass(frozen=True, slots=True)
class Escalation:
    """Chooses the next model after a failure, within the models able to serve the request."""

    eligible: tuple[ModelConfig, ...]
    cooldowns: Cooldowns
    cost: Callable[[ModelConfig], float]  # a model's expected cost for this request

    def next_model(self, failed: ModelConfig, failure: str, tried: Iterable[str]) -> ModelConfig | None:
        tried_names = set(tried)
        pool = [m for m in self.eligible if m.name not in tried_names and not self.cooldowns.is_cooling(m.name)]
        if failure == CONTEXT_LENGTH:
            return _smallest_larger_window(pool, failed)
        if not pool:
            return None

        def order(model: ModelConfig) -> tuple[int, int, float]:
            # The nearest tier above, then the same tier, then the nearest tier below; cheapest within each.
            tier = model.tier
            rank = (0, tier) if tier > failed.tier else (1, 0) if tier == failed.tier else (2, -tier)
            return (*rank, self.cost(model))

        return min(pool, key=order)


def _smallest_larger_window(pool: list[ModelConfig], failed: ModelConfig) -> ModelConfig | None:
    larger = [m for m in pool if m.context_window > failed.context_window]
    if not larger:
        return None
    # The smallest window that is larger is the cheapest way past the limit; same tier and price break ties.
    return min(larger, key=lambda m: (m.context_window, m.tier != failed.tier, m.input_usd_per_mtok))
