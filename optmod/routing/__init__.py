"""Routers: the name table and the one function that builds a router by name.

Learned routers load their artifacts when built; one whose artifact or library is missing raises
`ArtifactError`, and `build_router` falls back to `rule_based`, says so once in the log, and reports the
fallback through `ActiveRouter` (shown by /optmod/status). A router that raises on a request has that
request decided by `rule_based` instead (`ActiveRouter.decide`): a routing bug costs a cheaper pick, not an
error the client sees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from optmod.config import RoutersSettings
from optmod.registry import ModelRegistry
from optmod.routing.base import ArtifactError, Decision, ModelScore, Router, RouteRequest
from optmod.routing.decision_tree import DecisionTreeRouter
from optmod.routing.passthrough import PassthroughRouter
from optmod.routing.perf_router import PerfRouter
from optmod.routing.rule_based import RuleBasedRouter
from optmod.routing.trouter import TRouter

logger = logging.getLogger("optmod.routing")

ROUTERS: dict[str, type[Router]] = {
    "passthrough": PassthroughRouter,
    "rule_based": RuleBasedRouter,
    "decision_tree": DecisionTreeRouter,
    "trouter": TRouter,
    "perf_router": PerfRouter,
}

__all__ = ["ROUTERS", "ActiveRouter", "ArtifactError", "Decision", "ModelScore", "RouteRequest", "Router"]


class UnknownRouterError(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name
        self.valid = tuple(ROUTERS)

    def __str__(self) -> str:
        return f"unknown router {self.name!r}; valid routers: {', '.join(self.valid)}"


@dataclass(frozen=True, slots=True)
class ActiveRouter:
    """The router in use: the name asked for, the router that decides, and why they differ if they do."""

    requested: str
    router: Router
    fallback_reason: str | None = None
    # Decides a request the router raised on; None when the router is rule_based itself.
    safety_net: Router | None = None

    def decide(self, request: RouteRequest) -> tuple[str, Decision]:
        """The deciding router's name and its decision."""
        try:
            return self.router.name, self.router.route(request)
        except Exception as exc:
            if self.safety_net is None:
                raise
            logger.exception("router %s failed on a request; %s decides it", self.router.name, self.safety_net.name)
            decision = self.safety_net.route(request)
            why = f"{self.router.name} failed ({type(exc).__name__}: {exc}); {decision.reason}"
            return self.safety_net.name, replace(decision, reason=why)


def build_router(name: str, settings: RoutersSettings, registry: ModelRegistry) -> ActiveRouter:
    try:
        router_class = ROUTERS[name]
    except KeyError:
        raise UnknownRouterError(name) from None
    try:
        router = router_class(settings, registry)
    except ArtifactError as exc:
        logger.warning("router %s unavailable (%s); falling back to rule_based", name, exc)
        return ActiveRouter(name, RuleBasedRouter(settings, registry), fallback_reason=str(exc))
    safety_net = None if isinstance(router, RuleBasedRouter) else RuleBasedRouter(settings, registry)
    return ActiveRouter(name, router, safety_net=safety_net)
