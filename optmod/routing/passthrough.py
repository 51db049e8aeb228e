"""passthrough: always the primary model (or the first able candidate when the primary cannot serve)."""

from __future__ import annotations

from optmod.routing.base import Decision, Router, RouteRequest


class PassthroughRouter(Router):
    name = "passthrough"

    def route(self, request: RouteRequest) -> Decision:
        primary = self.registry.primary
        if primary in request.candidates:
            return Decision(model=primary.name, reason="passthrough: primary model", confidence=1.0)
        fallback = request.candidates[0]
        return Decision(
            model=fallback.name,
            reason=f"passthrough: primary {primary.name} cannot serve this request",
            confidence=1.0,
        )
