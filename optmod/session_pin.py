"""Session pinning: keep a conversation on the model whose provider-side prompt cache is still warm.

Phases, by the time since the session's last successful turn (`age`):

| phase | when                          | what the pin does                                                  |
|-------|-------------------------------|--------------------------------------------------------------------|
| hard  | age < hard window             | the router is bypassed; the previous model is forced               |
| soft  | hard <= age < soft window     | the router scores normally; the previous model is credited with    |
|       |                               | `soft_bonus_weight` x the mean saving of its warm calls            |
| fresh | age >= soft window, no pin,   | normal routing (a soft phase with weight 0 is fresh: the bonus is  |
|       | or no session id              | off, so the pin does nothing)                                      |

Escapes override a hard or soft pin, checked in this order: the pinned model left the registry
(`evicted_missing_model`); the request has images and the pinned model lacks vision (`evicted_vision`); the
prompt plus room for the answer no longer fits the pinned model's window (`evicted_context`), except that a
hard pin is first rehomed (`rehomed_context`, see `rehome_for_context`). An evicted or rehomed pin is dropped
from the store; whichever model answers is pinned afresh. `evicted_post_failure` is the proxy's: the forced model failed, `record_failure` drops the pin, and the
request escalates as usual.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson

from optmod.config import Config, ModelConfig
from optmod.features import Features, message_text
from optmod.pin_stores import PinRecord, PinStore, PinStoreError, PinWrite
from optmod.registry import TOKENS_PER_PRICE_UNIT, ModelRegistry, Usage, expected_cost
from optmod.routing.base import predicted_output_tokens

logger = logging.getLogger("optmod.session_pin")

# After a pin store failure, requests skip the store this long before it is tried again.
STORE_RETRY_S = 5.0
SESSION_HEADER = "x-session-id"
# Longer session ids (or ones with unprintable characters) are logged and stored as their hash.
MAX_SESSION_HEADER = 128
PIN_STATES = (
    "fresh",
    "hard",
    "soft",
    "rehomed_context",
    "evicted_vision",
    "evicted_missing_model",
    "evicted_context",
    "evicted_post_failure",
)


def session_id_for(body: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    """The session a request belongs to, or None when it has no user message and names no session.

    `headers` is looked up by lower-case name: Starlette's `Headers` (the request's) ignore case; a plain dict
    must use lower-case names. In order, the first that is present and non-empty wins:
    1. the `x-session-id` header, as the client sent it (`sid-` and its SHA1 when it is longer than
       `MAX_SESSION_HEADER` or holds unprintable characters);
    2. the OpenAI `user` field of the body, as `user-` and its SHA1 (hex): it names a person more often than a
       conversation, and the id lands in the log and the pin store;
    3. the SHA1 (hex) of the first user message's text; of its whole content, canonical JSON, when it has
       no text (an image-only first message), so such conversations do not all share one session.
    """
    header = headers.get(SESSION_HEADER)
    if header:
        # Kept as sent when it is a plausible id; anything longer goes to the log and the store as its hash.
        if len(header) <= MAX_SESSION_HEADER and header.isprintable():
            return header
        return "sid-" + hashlib.sha1(header.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()
    user = body.get("user")
    if isinstance(user, str) and user:
        return "user-" + hashlib.sha1(user.encode("utf-8"), usedforsecurity=False).hexdigest()
    messages = body.get("messages")
    if not isinstance(messages, Sequence):
        return None
    for message in messages:
        if isinstance(message, Mapping) and message.get("role") == "user":
            return _fingerprint(message.get("content"))
    return None


def _fingerprint(content: Any) -> str:
    text = message_text(content)
    data = text.encode("utf-8") if text else orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


NO_CREDITS: Mapping[str, float] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PinPlan:
    """What the pin asks of this request: a model to force, credits for the router, and the state to log."""

    state: str
    model: str | None = None  # the model to force (hard pin, rehomed); None: route normally
    credits: Mapping[str, float] = field(default_factory=lambda: NO_CREDITS)  # soft phase: {pinned model: USD credit}
    pinned_model: str | None = None  # the model the session was pinned to, if any

    @property
    def evicted(self) -> bool:
        return self.state.startswith("evicted_")


FRESH = PinPlan("fresh")


@dataclass(frozen=True, slots=True)
class PinWindows:
    """The phase boundaries in seconds since the last turn, and the weight of the soft bonus."""

    hard_s: float
    soft_s: float
    soft_bonus_weight: float

    @classmethod
    def from_config(cls, config: Config) -> PinWindows:
        return cls(
            config.session_pin_hard_window_s, config.session_pin_soft_window_s, config.session_pin_soft_bonus_weight
        )

    def phase(self, age_s: float) -> str:
        """`hard`, `soft` or `fresh` for a pin last used `age_s` ago; each window excludes its upper bound."""
        if age_s < self.hard_s:
            return "hard"
        if age_s < self.soft_s:
            return "soft"
        return "fresh"


def fits_context(model: ModelConfig, features: Features) -> bool:
    """The prompt plus room for the answer fits the model's window (the answer: max_tokens, or the default)."""
    return features.estimated_tokens + predicted_output_tokens(features) <= model.context_window


def rehome_for_context(pinned: ModelConfig, features: Features, registry: ModelRegistry) -> ModelConfig | None:
    """The model a hard pin moves to when the conversation outgrew `pinned`'s window, or None if none fits.

    Candidates fit the prompt plus room for the answer (`fits_context`) and have vision when the request has
    images. Preference, in order: the pinned model's tier, then one tier up, one tier down, two up, two down;
    within a tier the closest window (the smallest one that fits, as the cache is lost anyway and a bigger
    window buys nothing); then the cheapest expected cost for this request; then config order.
    """
    output_tokens = predicted_output_tokens(features)
    best: tuple[tuple[int, int, float, int], ModelConfig] | None = None
    for index, model in enumerate(registry):
        if model.name == pinned.name or not fits_context(model, features):
            continue
        if features.has_images and not model.supports_vision:
            continue
        distance = abs(model.tier - pinned.tier)
        tier_rank = 2 * distance - (1 if model.tier > pinned.tier else 0)
        cost = expected_cost(model, features.estimated_tokens, output_tokens)
        key = (tier_rank, model.context_window, cost, index)
        if best is None or key < best[0]:
            best = (key, model)
    return None if best is None else best[1]


def plan_for_pin(
    pin: PinRecord, age_s: float, features: Features, registry: ModelRegistry, windows: PinWindows
) -> PinPlan:
    """The plan for a stored pin last used `age_s` ago: the phases and escapes of the module docstring."""
    phase = windows.phase(age_s)
    if phase == "fresh" or (phase == "soft" and windows.soft_bonus_weight == 0):
        return FRESH
    pinned = registry.get(pin.model)
    if pinned is None:
        return PinPlan("evicted_missing_model", pinned_model=pin.model)
    if features.has_images and not pinned.supports_vision:
        return PinPlan("evicted_vision", pinned_model=pin.model)
    if not fits_context(pinned, features):
        target = rehome_for_context(pinned, features, registry) if phase == "hard" else None
        if target is None:
            return PinPlan("evicted_context", pinned_model=pin.model)
        return PinPlan("rehomed_context", model=target.name, pinned_model=pin.model)
    if phase == "hard":
        return PinPlan("hard", model=pin.model, pinned_model=pin.model)
    credits = MappingProxyType({pin.model: soft_credit(pin, windows.soft_bonus_weight)})
    return PinPlan("soft", credits=credits, pinned_model=pin.model)


def soft_credit(pin: PinRecord, weight: float) -> float:
    """USD the pinned model is credited in the soft phase: weight x what one of its warm calls saved on average."""
    if pin.warm_calls == 0:
        return 0.0
    return weight * pin.savings_usd / pin.warm_calls


def cache_savings(model: ModelConfig, usage: Usage) -> float:
    """USD the provider's cache saved on one call: cached tokens at (input price - cached input price)."""
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    discount = model.input_usd_per_mtok - model.cached_input_usd_per_mtok
    return max(cached, 0) * max(discount, 0.0) / TOKENS_PER_PRICE_UNIT


class SessionPins:
    """The session pin service the proxy calls: plan before routing, record after the answer or the failure.

    A store failure never fails a request: the request routes as if unpinned, and the failure is logged once
    until the store recovers. After a failure the store is left alone for `STORE_RETRY_S`, then tried again: a
    store that hangs until its timeout must not add that timeout to every request.
    """

    def __init__(self, store: PinStore, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.windows = PinWindows.from_config(config)
        self._clock = clock
        self._store_down = False
        self._retry_at = 0.0

    def _store_usable(self) -> bool:
        return not self._store_down or self._clock() >= self._retry_at

    async def plan(self, session_id: str | None, features: Features, registry: ModelRegistry) -> PinPlan:
        if session_id is None or not self._store_usable():
            return FRESH
        try:
            pin = await self.store.get(session_id)
        except PinStoreError as exc:
            self._note_store_error(exc)
            return FRESH
        self._note_store_ok()
        if pin is None:
            return FRESH
        plan = plan_for_pin(pin, max(self._clock() - pin.last_ts, 0.0), features, registry, self.windows)
        if plan.evicted or plan.state == "rehomed_context":
            # The old pin can no longer serve this session; the model that answers next is pinned instead.
            await self._drop(session_id, pin.model)
        return plan

    async def record_success(self, session_id: str | None, model: ModelConfig, usage: Usage) -> None:
        """Pin the session to `model` from now on, adding the cache savings this answer reported."""
        if session_id is None or self.windows.soft_s <= 0 or not self._store_usable():
            return  # with both windows at 0 pinning is off: a pin would be dead on arrival
        write = PinWrite(
            session_id=session_id,
            model=model.name,
            ts=self._clock(),
            savings_usd=cache_savings(model, usage),
            warm=usage.cached_tokens > 0,
            ttl_s=self.windows.soft_s,
        )
        try:
            await self.store.record(write)
        except PinStoreError as exc:
            self._note_store_error(exc)
            return
        self._note_store_ok()

    async def record_failure(self, session_id: str | None, model_name: str) -> None:
        """`model_name` failed for this session: drop the pin if it points there, so the next try routes."""
        if session_id is not None:
            await self._drop(session_id, model_name)

    async def active_count(self) -> int:
        """Sessions whose pin is still inside the soft window (0 while the store is down)."""
        if not self._store_usable():
            return 0
        try:
            return await self.store.count_since(self._clock() - self.windows.soft_s)
        except PinStoreError as exc:
            self._note_store_error(exc)
            return 0

    def describe(self) -> dict[str, Any]:
        return {
            "hard_window_s": self.windows.hard_s,
            "soft_window_s": self.windows.soft_s,
            "soft_bonus_weight": self.windows.soft_bonus_weight,
            "store": self.store.describe(),
            "store_ok": not self._store_down,
        }

    async def close(self) -> None:
        await self.store.close()

    async def _drop(self, session_id: str, model_name: str) -> None:
        if not self._store_usable():
            return
        try:
            await self.store.drop(session_id, model_name)
        except PinStoreError as exc:
            self._note_store_error(exc)

    def _note_store_error(self, exc: PinStoreError) -> None:
        if not self._store_down:
            logger.warning("session pin store failing, routing unpinned until it recovers: %s", exc)
        self._store_down = True
        self._retry_at = self._clock() + STORE_RETRY_S

    def _note_store_ok(self) -> None:
        if self._store_down:
            logger.warning("session pin store recovered")
        self._store_down = False
