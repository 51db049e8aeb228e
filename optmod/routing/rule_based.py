"""rule_based: nine deterministic rules on the request's features, first match wins.

| # | rule                | when                                                         | goes to                       |
|---|---------------------|--------------------------------------------------------------|-------------------------------|
| 1 | images              | the request carries images                                   | cheapest vision model, lowest tier |
| 2 | long context        | estimated prompt tokens >= long_context_tokens               | cheapest model whose window holds it twice over |
| 3 | hard reasoning task | code, math or reasoning with difficulty >= hard_difficulty   | oracle tier                   |
| 4 | code or math        | task is code or math                                         | reasoning tier                |
| 5 | tool use            | the request offers tools                                     | reasoning tier                |
| 6 | non-English         | the prompt is in a language other than English               | reasoning tier                |
| 7 | hard other task     | any other task with difficulty >= hard_difficulty            | reasoning tier                |
| 8 | easy                | difficulty <= easy_difficulty                                | fast tier                     |
| 9 | default             | nothing above matched                                        | primary model                 |

Within a tier the cheapest candidate for this request wins (config order on ties); a tier with no candidate
gives way to the next tier up, then down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from optmod.config import ModelConfig
from optmod.routing.base import Decision, Router, RouteRequest, cheapest

FAST, REASONING, ORACLE = 0, 1, 2
HARD_TASKS = frozenset({"code", "math", "reasoning"})


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    confidence: float
    applies: Callable[[RouteRequest, RuleBasedRouter], bool]
    pick: Callable[[RouteRequest, RuleBasedRouter], ModelConfig]


def _in_tier(tier: int) -> Callable[[RouteRequest, RuleBasedRouter], ModelConfig]:
    return lambda request, router: router.cheapest_in_tier(request, tier)


def _cheapest_vision(request: RouteRequest, router: RuleBasedRouter) -> ModelConfig:
    # The caller already keeps only vision-capable candidates when there are images.
    return router.cheapest_in_tier(request, FAST)


def _cheapest_roomy(request: RouteRequest, router: RuleBasedRouter) -> ModelConfig:
    needed = 2 * request.features.estimated_tokens
    roomy = tuple(m for m in request.candidates if m.context_window >= needed)
    if roomy:
        return cheapest(roomy, request)
    return max(request.candidates, key=lambda m: m.context_window)


def _primary(request: RouteRequest, router: RuleBasedRouter) -> ModelConfig:
    primary = router.registry.primary
    return primary if primary in request.candidates else router.cheapest_in_tier(request, primary.tier)


RULES = (
    _Rule("images", 0.9, lambda r, _: r.features.has_images, _cheapest_vision),
    _Rule(
        "long context",
        0.85,
        lambda r, rt: r.features.estimated_tokens >= rt.settings.rule_based.long_context_tokens,
        _cheapest_roomy,
    ),
    _Rule(
        "hard reasoning task",
        0.75,
        lambda r, rt: (
            r.features.task_type in HARD_TASKS and r.features.difficulty >= rt.settings.rule_based.hard_difficulty
        ),
        _in_tier(ORACLE),
    ),
    _Rule("code or math", 0.7, lambda r, _: r.features.task_type in ("code", "math"), _in_tier(REASONING)),
    _Rule("tool use", 0.65, lambda r, _: r.features.has_tools, _in_tier(REASONING)),
    _Rule(
        "non-English",
        0.6,
        lambda r, _: r.features.natural_language not in ("en", "other"),
        _in_tier(REASONING),
    ),
    _Rule(
        "hard other task",
        0.6,
        lambda r, rt: r.features.difficulty >= rt.settings.rule_based.hard_difficulty,
        _in_tier(REASONING),
    ),
    _Rule(
        "easy",
        0.6,
        lambda r, rt: r.features.difficulty <= rt.settings.rule_based.easy_difficulty,
        _in_tier(FAST),
    ),
    _Rule("default", 0.5, lambda r, _: True, _primary),
)


class RuleBasedRouter(Router):
    name = "rule_based"

    def route(self, request: RouteRequest) -> Decision:
        for number, rule in enumerate(RULES, start=1):
            if rule.applies(request, self):
                model = rule.pick(request, self)
                features = request.features
                reason = (
                    f"rule {number} ({rule.name}): task={features.task_type} "
                    f"difficulty={features.difficulty:.2f} tokens~{features.estimated_tokens} -> tier {model.tier}"
                )
                return Decision(model=model.name, reason=reason, confidence=rule.confidence)
        raise AssertionError("the default rule always applies")

    def cheapest_in_tier(self, request: RouteRequest, tier: int) -> ModelConfig:
        """The cheapest candidate of `tier`, else of the nearest tier above, else below."""
        tiers = sorted({m.tier for m in request.candidates}, key=lambda t: (t < tier, abs(t - tier)))
        in_tier = tuple(m for m in request.candidates if m.tier == tiers[0])
        return cheapest(in_tier, request)
