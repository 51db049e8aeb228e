"""Session pinning, pure logic: identity, phases at each boundary, escapes, rehoming, credit and savings maths."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pytest
from starlette.datastructures import Headers

from optmod.config import ModelConfig
from optmod.features import Features
from optmod.pin_stores import PinRecord
from optmod.registry import ModelRegistry, Usage
from optmod.session_pin import (
    FRESH,
    PIN_STATES,
    PinPlan,
    PinWindows,
    cache_savings,
    fits_context,
    plan_for_pin,
    rehome_for_context,
    session_id_for,
    soft_credit,
)

HARD, SOFT = 300.0, 1800.0
WINDOWS = PinWindows(hard_s=HARD, soft_s=SOFT, soft_bonus_weight=0.5)


def make_model(name: str, tier: int = 1, context: int = 100_000, **overrides: Any) -> ModelConfig:
    fields: dict[str, Any] = {
        "name": name,
        "tier": tier,
        "base_url": "http://127.0.0.1:9/v1",
        "input_usd_per_mtok": 1.0,
        "output_usd_per_mtok": 2.0,
        "cached_input_usd_per_mtok": 0.1,
        "context_window": context,
    }
    fields.update(overrides)
    return ModelConfig(**fields)


def make_features(**overrides: Any) -> Features:
    fields: dict[str, Any] = {
        "task_type": "chat",
        "difficulty": 0.3,
        "natural_language": "en",
        "programming_language": None,
        "estimated_tokens": 1_000,
        "has_images": False,
        "image_count": 0,
        "has_tools": False,
        "turns": 3,
        "message_count": 5,
        "wants_json": False,
        "max_output_tokens": 1_000,
        "query": "and then?",
    }
    fields.update(overrides)
    return Features(**fields)


def make_registry(*models: ModelConfig) -> ModelRegistry:
    return ModelRegistry(models, primary=models[0].name)


POOL = make_registry(
    make_model("small", tier=1, context=8_000),
    make_model("eye", tier=1, context=8_000, supports_vision=True),
    make_model("big", tier=2, context=200_000),
)
PIN = PinRecord(model="small", last_ts=0.0, savings_usd=0.03, warm_calls=3)


# --- identity -------------------------------------------------------------------------------------------------


def chat_body(*messages: tuple[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "x", "messages": [{"role": role, "content": content} for role, content in messages], **fields}


def test_session_id_is_sha1_of_the_first_user_message() -> None:
    body = chat_body(("system", "be brief"), ("user", "plan my trip"), ("assistant", "ok"), ("user", "to Rome"))
    assert session_id_for(body, {}) == hashlib.sha1(b"plan my trip").hexdigest()


def test_later_turns_of_one_conversation_share_the_session() -> None:
    first = chat_body(("user", "plan my trip"))
    later = chat_body(("user", "plan my trip"), ("assistant", "where?"), ("user", "Rome"))
    other = chat_body(("user", "plan my holiday"))
    assert session_id_for(first, {}) == session_id_for(later, {})
    assert session_id_for(first, {}) != session_id_for(other, {})


def test_text_parts_hash_like_plain_text() -> None:
    parts = [{"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": "data:a"}}]
    assert session_id_for(chat_body(("user", parts)), {}) == hashlib.sha1(b"describe").hexdigest()


def test_image_only_first_messages_do_not_share_a_session() -> None:
    one = chat_body(("user", [{"type": "image_url", "image_url": {"url": "data:one"}}]))
    two = chat_body(("user", [{"type": "image_url", "image_url": {"url": "data:two"}}]))
    assert session_id_for(one, {}) != session_id_for(two, {})


def test_an_oversized_session_header_is_kept_as_its_hash() -> None:
    huge = "s" * 1_000_000
    session = session_id_for(chat_body(("user", "hi")), {"x-session-id": huge})
    assert session == "sid-" + hashlib.sha1(huge.encode()).hexdigest()
    assert session_id_for(chat_body(("user", "hi")), {"x-session-id": "agent-7"}) == "agent-7"


def test_user_field_beats_the_message_hash() -> None:
    session = session_id_for(chat_body(("user", "hi"), user="alice@example.com"), {})
    assert session is not None and "alice" not in session  # the address never lands in the log or the store
    assert session == "user-" + hashlib.sha1(b"alice@example.com").hexdigest()


@pytest.mark.parametrize("header", ["x-session-id", "X-Session-Id"])
def test_session_header_beats_the_user_field(header: str) -> None:
    headers = Headers(headers={"host": "127.0.0.1", header: "run-42"})
    assert session_id_for(chat_body(("user", "hi"), user="agent-7"), headers) == "run-42"


def test_empty_header_and_user_fall_through_to_the_hash() -> None:
    body = chat_body(("user", "hi"), user="")
    assert session_id_for(body, {"x-session-id": ""}) == hashlib.sha1(b"hi").hexdigest()


def test_no_user_message_means_no_session() -> None:
    assert session_id_for(chat_body(("system", "you are terse")), {}) is None
    assert session_id_for({"model": "x"}, {}) is None


# --- phases ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "phase"),
    [
        (0.0, "hard"),
        (HARD - 0.001, "hard"),
        (HARD, "soft"),
        (HARD + 0.001, "soft"),
        (SOFT - 0.001, "soft"),
        (SOFT, "fresh"),
        (SOFT + 0.001, "fresh"),
    ],
)
def test_phase_boundaries(age: float, phase: str) -> None:
    assert WINDOWS.phase(age) == phase


def test_hard_pin_forces_the_previous_model() -> None:
    plan = plan_for_pin(PIN, HARD - 0.001, make_features(), POOL, WINDOWS)
    assert plan == PinPlan("hard", model="small", pinned_model="small")


def test_soft_phase_credits_the_previous_model_and_forces_nothing() -> None:
    plan = plan_for_pin(PIN, HARD + 0.001, make_features(), POOL, WINDOWS)
    assert plan.state == "soft"
    assert plan.model is None
    assert plan.credits == {"small": pytest.approx(0.5 * 0.03 / 3)}


def test_past_the_soft_window_the_pin_is_dead() -> None:
    assert plan_for_pin(PIN, SOFT + 0.001, make_features(), POOL, WINDOWS) == FRESH


def test_zero_bonus_weight_turns_the_soft_phase_off() -> None:
    off = replace(WINDOWS, soft_bonus_weight=0.0)
    assert plan_for_pin(PIN, HARD + 1, make_features(), POOL, off) == FRESH
    assert plan_for_pin(PIN, HARD - 1, make_features(), POOL, off).state == "hard"


def test_zero_hard_window_leaves_only_the_soft_phase() -> None:
    assert plan_for_pin(PIN, 0.0, make_features(), POOL, replace(WINDOWS, hard_s=0.0)).state == "soft"


# --- soft credit and observed savings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("savings", "warm_calls", "weight", "credit"),
    [(0.03, 3, 0.5, 0.005), (0.03, 3, 1.0, 0.01), (0.02, 1, 0.25, 0.005), (0.0, 0, 0.5, 0.0)],
)
def test_soft_credit_is_weight_times_mean_warm_call_saving(
    savings: float, warm_calls: int, weight: float, credit: float
) -> None:
    pin = PinRecord("small", 0.0, savings_usd=savings, warm_calls=warm_calls)
    assert soft_credit(pin, weight) == pytest.approx(credit)


def test_cache_savings_price_cached_tokens_at_the_discount() -> None:
    model = make_model("m", input_usd_per_mtok=3.0, cached_input_usd_per_mtok=0.3)
    usage = Usage(prompt_tokens=10_000, completion_tokens=500, cached_tokens=8_000)
    assert cache_savings(model, usage) == pytest.approx(8_000 * 2.7 / 1e6)


def test_cache_savings_never_exceed_the_prompt_and_are_never_negative() -> None:
    model = make_model("m", input_usd_per_mtok=1.0, cached_input_usd_per_mtok=0.5)
    assert cache_savings(model, Usage(prompt_tokens=100, cached_tokens=1_000)) == pytest.approx(100 * 0.5 / 1e6)
    no_discount = make_model("n", input_usd_per_mtok=0.063, cached_input_usd_per_mtok=0.063)
    assert cache_savings(no_discount, Usage(prompt_tokens=100, cached_tokens=100)) == 0.0
    assert cache_savings(model, Usage(prompt_tokens=100)) == 0.0


# --- escapes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("age", [0.0, HARD + 1])
def test_pinned_model_removed_from_the_registry_is_evicted(age: float) -> None:
    pin = replace(PIN, model="retired")
    assert plan_for_pin(pin, age, make_features(), POOL, WINDOWS) == PinPlan(
        "evicted_missing_model", pinned_model="retired"
    )


@pytest.mark.parametrize("age", [0.0, HARD + 1])
def test_images_evict_a_pin_on_a_model_without_vision(age: float) -> None:
    features = make_features(has_images=True, image_count=1)
    assert plan_for_pin(PIN, age, features, POOL, WINDOWS) == PinPlan("evicted_vision", pinned_model="small")


def test_images_keep_a_pin_on_a_vision_model() -> None:
    pin = replace(PIN, model="eye")
    assert plan_for_pin(pin, 0.0, make_features(has_images=True, image_count=1), POOL, WINDOWS).state == "hard"


def test_missing_model_is_checked_before_vision() -> None:
    pin = replace(PIN, model="retired")
    features = make_features(has_images=True, image_count=1)
    assert plan_for_pin(pin, 0.0, features, POOL, WINDOWS).state == "evicted_missing_model"


def test_context_fit_leaves_room_for_the_answer() -> None:
    model = make_model("m", context=8_000)
    assert fits_context(model, make_features(estimated_tokens=7_000, max_output_tokens=1_000))
    assert not fits_context(model, make_features(estimated_tokens=7_001, max_output_tokens=1_000))


def test_hard_pin_outgrown_is_rehomed() -> None:
    features = make_features(estimated_tokens=9_000)
    assert plan_for_pin(PIN, 0.0, features, POOL, WINDOWS) == PinPlan(
        "rehomed_context", model="big", pinned_model="small"
    )


def test_soft_pin_outgrown_is_evicted_not_rehomed() -> None:
    features = make_features(estimated_tokens=9_000)
    assert plan_for_pin(PIN, HARD + 1, features, POOL, WINDOWS) == PinPlan("evicted_context", pinned_model="small")


def test_outgrowing_every_model_evicts_the_pin() -> None:
    features = make_features(estimated_tokens=500_000)
    assert plan_for_pin(PIN, 0.0, features, POOL, WINDOWS) == PinPlan("evicted_context", pinned_model="small")


def test_every_state_a_plan_can_take_is_a_logged_pin_state() -> None:
    seen = {
        plan_for_pin(pin, age, features, POOL, WINDOWS).state
        for pin in (PIN, replace(PIN, model="retired"))
        for age in (0.0, HARD + 1, SOFT + 1)
        for features in (make_features(), make_features(has_images=True), make_features(estimated_tokens=9_000))
    }
    assert seen <= set(PIN_STATES)
    assert set(PIN_STATES) - seen == {"evicted_post_failure"}  # the proxy's, after a forced model fails


# --- rehoming -------------------------------------------------------------------------------------------------


def rehome(pinned: str, *models: ModelConfig, **features: Any) -> str | None:
    registry = make_registry(*models)
    target = rehome_for_context(registry[pinned], make_features(**features), registry)
    return None if target is None else target.name


def test_rehoming_prefers_the_same_tier_over_a_closer_window() -> None:
    models = (
        make_model("pinned", tier=1, context=8_000),
        make_model("up-close", tier=2, context=16_000),
        make_model("same-far", tier=1, context=1_000_000),
    )
    assert rehome("pinned", *models, estimated_tokens=9_000) == "same-far"


def test_rehoming_takes_the_smallest_window_that_fits() -> None:
    models = (
        make_model("pinned", context=8_000),
        make_model("huge", context=1_000_000, input_usd_per_mtok=0.5),
        make_model("too-small", context=9_500),
        make_model("close", context=32_000),
    )
    assert rehome("pinned", *models, estimated_tokens=9_000) == "close"


def test_rehoming_ties_on_window_go_to_the_cheaper_model() -> None:
    models = (
        make_model("pinned", context=8_000),
        make_model("dear", context=32_000, input_usd_per_mtok=2.0),
        make_model("cheap", context=32_000, input_usd_per_mtok=0.5),
    )
    assert rehome("pinned", *models, estimated_tokens=9_000) == "cheap"


def test_rehoming_full_ties_keep_config_order() -> None:
    models = (
        make_model("pinned", context=8_000),
        make_model("first", context=32_000),
        make_model("second", context=32_000),
    )
    assert rehome("pinned", *models, estimated_tokens=9_000) == "first"


def test_rehoming_climbs_a_tier_before_descending() -> None:
    models = (
        make_model("pinned", tier=1, context=8_000),
        make_model("down", tier=0, context=32_000, input_usd_per_mtok=0.01),
        make_model("up", tier=2, context=32_000, input_usd_per_mtok=5.0),
    )
    assert rehome("pinned", *models, estimated_tokens=9_000) == "up"
    assert rehome("pinned", *models[:2], estimated_tokens=9_000) == "down"


def test_rehoming_with_images_needs_vision() -> None:
    models = (
        make_model("pinned", context=8_000, supports_vision=True),
        make_model("blind", context=32_000),
        make_model("seeing", context=64_000, supports_vision=True),
    )
    assert rehome("pinned", *models, estimated_tokens=9_000, has_images=True, image_count=1) == "seeing"
    assert rehome("pinned", *models[:2], estimated_tokens=9_000, has_images=True, image_count=1) is None
