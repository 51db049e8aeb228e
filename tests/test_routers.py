"""passthrough and rule_based, the router table, and the fallback when a learned router cannot load."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from conftest import make_config_data

from optmod.config import Config, parse_config
from optmod.features import extract_features
from optmod.registry import ModelRegistry
from optmod.routing import ROUTERS, ArtifactError, Router, RouteRequest, build_router
from optmod.routing.rule_based import RULES, RuleBasedRouter


def pool(**overrides: Any) -> tuple[Config, ModelRegistry]:
    config = parse_config(make_config_data(**overrides))
    return config, ModelRegistry(config.models, config.primary_model)


def route(
    router: Router, registry: ModelRegistry, body: dict[str, Any], credits: dict[str, float] | None = None
) -> str:
    features = extract_features(body)
    candidates = tuple(m for m in registry if not features.has_images or m.supports_vision)
    return router.route(RouteRequest(features, candidates, credits or {})).model


def user(content: Any, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], **extra}


def test_every_router_name_builds_from_config_yaml() -> None:
    from optmod.config import load_config

    config = load_config()
    registry = ModelRegistry(config.models, config.primary_model)
    for name in ROUTERS:
        active = build_router(name, config.routers, registry)
        assert active.requested == name
        decision = active.router.route(RouteRequest(extract_features(user("hi")), registry.models))
        assert decision.model in registry


def test_passthrough_always_answers_the_primary() -> None:
    config, registry = pool()
    router = ROUTERS["passthrough"](config.routers, registry)
    assert route(router, registry, user("prove the Riemann hypothesis rigorously")) == "reason-a"
    assert route(router, registry, user("hi")) == "reason-a"


def test_there_are_nine_rules() -> None:
    assert len(RULES) == 9


@pytest.mark.parametrize(
    ("body", "expected_model", "rule"),
    [
        (
            user([{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "x"}}]),
            "fast-a",
            1,
        ),
        (user("x " * 60_000), "fast-b", 2),
        (
            user(
                "Prove rigorously that this distributed algorithm is correct, derive its asymptotic complexity "
                "step by step and cover every edge case."
            ),
            "oracle-a",
            3,
        ),
        (user("Solve the equation 3x + 5 = 20"), "reason-a", 4),
        (user("please look up the weather", tools=[{"type": "function"}]), "reason-a", 5),
        (user("Расскажи мне, пожалуйста, интересную историю о коте"), "reason-a", 6),
        (
            user(
                "I'd like a thorough, detailed, in depth overview of the complex, scalable security architecture "
                "of my home network setup, from router to devices"
            ),
            "reason-a",
            7,
        ),
        (user("hi"), "fast-a", 8),
        (
            user(
                "Tell me about the weather patterns in spring in the northern parts of Europe and their "
                "effect on farming over recent decades. " * 4
            ),
            "reason-a",
            9,
        ),
    ],
)
def test_each_rule(body: dict[str, Any], expected_model: str, rule: int) -> None:
    config, registry = pool()
    router = RuleBasedRouter(config.routers, registry)
    features = extract_features(body)
    candidates = tuple(m for m in registry if not features.has_images or m.supports_vision)
    decision = router.route(RouteRequest(features, candidates))
    assert decision.reason.startswith(f"rule {rule} ")
    assert decision.model == expected_model


def test_within_a_tier_the_cheapest_wins_and_credits_count() -> None:
    data = make_config_data()
    data["models"][0]["output_usd_per_mtok"] = 0.8  # fast-a is now dearer than fast-b
    config, registry = pool(models=data["models"])
    router = RuleBasedRouter(config.routers, registry)
    assert route(router, registry, user("hi")) == "fast-b"
    assert route(router, registry, user("hi"), credits={"fast-a": 1.0}) == "fast-a"


def test_a_tier_without_candidates_gives_way_upwards() -> None:
    config, registry = pool()
    router = RuleBasedRouter(config.routers, registry)
    features = extract_features(user("hi"))
    only_upper = tuple(m for m in registry if m.tier >= 1)
    assert router.route(RouteRequest(features, only_upper)).model.startswith("reason")


def test_a_router_that_cannot_load_falls_back_to_rule_based(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(Router):
        name = "broken"

        def __init__(self, *args: Any) -> None:
            raise ArtifactError("artifact missing: /nowhere/model.bin")

        def route(self, request: RouteRequest) -> Any:
            raise AssertionError

    monkeypatch.setitem(ROUTERS, "broken", Broken)
    config, registry = pool()
    active = build_router("broken", config.routers, registry)
    assert active.router.name == "rule_based"
    assert active.requested == "broken" and "artifact missing" in (active.fallback_reason or "")


def test_the_default_router_serves_without_xgboost_or_torch() -> None:
    # The core install has neither: perf_router's trees are evaluated with numpy, its network with numpy too.
    code = """
import sys
from optmod.config import load_config
from optmod.features import extract_features
from optmod.registry import ModelRegistry
from optmod.routing import RouteRequest, build_router
config = load_config()
registry = ModelRegistry(config.models, config.primary_model)
active = build_router("perf_router", config.routers, registry)
assert active.fallback_reason is None, active.fallback_reason
body = {"messages": [{"role": "user", "content": "Prove that the square root of 2 is irrational."}]}
active.router.route(RouteRequest(features=extract_features(body), candidates=registry.models))
loaded = sorted(m for m in ("xgboost", "torch", "sklearn") if m in sys.modules)
sys.exit(f"imported {loaded}" if loaded else 0)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr + result.stdout


def test_perf_router_predicts_from_the_whole_query(monkeypatch: pytest.MonkeyPatch) -> None:
    # Training saw each prompt's full length (and shape); the embedding reads a trimmed query, the predictor not.
    from optmod.config import load_config

    config = load_config()
    registry = ModelRegistry(config.models, config.primary_model)
    router = build_router("perf_router", config.routers, registry).router
    predictor = router.predictor  # type: ignore[attr-defined]
    seen: list[str] = []
    original = predictor.predict_quality

    def spy(embeddings: Any, prompts: list[str], models: Any) -> Any:
        seen.extend(prompts)
        return original(embeddings, prompts, models)

    monkeypatch.setattr(predictor, "predict_quality", spy)
    features = extract_features(user("Explain why the cache invalidation fails after a deploy and fix it. " * 80))
    router.route(RouteRequest(features, registry.models))
    assert len(features.query) > 5000 and seen == [features.query]


def test_perf_router_anchors_the_whole_pool_before_its_first_request() -> None:
    from optmod.config import load_config

    config = load_config()
    registry = ModelRegistry(config.models, config.primary_model)
    router = build_router("perf_router", config.routers, registry).router
    anchored = router.predictor._reference_means  # type: ignore[attr-defined]
    assert {d.name for d in anchored} == {m.name for m in registry.models}
