"""A router that raises, and anything else unexpected on the request path: nothing is lost from the log."""

from __future__ import annotations

from dataclasses import replace

import httpx
from conftest import RunningProxy, chat_body

from optmod.routing import ActiveRouter
from optmod.routing.base import Decision, Router, RouteRequest
from optmod.routing.rule_based import RuleBasedRouter


class BrokenRouter(Router):
    name = "broken"
    offload = True  # decided on the routing thread, as the learned routers are

    def route(self, request: RouteRequest) -> Decision:
        raise RuntimeError("kaput")


def install(proxy: RunningProxy, safety_net: bool) -> None:
    state = proxy.state
    runtime = state.runtime
    settings, registry = runtime.config.routers, runtime.registry
    net = RuleBasedRouter(settings, registry) if safety_net else None
    active = ActiveRouter("broken", BrokenRouter(settings, registry), safety_net=net)
    state.runtime = replace(runtime, router=active)


async def test_a_router_that_raises_has_rule_based_decide_the_request(proxy: RunningProxy) -> None:
    install(proxy, safety_net=True)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body("What is 2 + 2?"))
    assert response.status_code == 200, response.text
    assert response.headers["x-optmod-router"] == "rule_based"
    record = proxy.records()[-1]
    assert record["router"] == "rule_based" and record["status"] == 200
    assert record["reason"].startswith("broken failed (RuntimeError: kaput); ")


async def test_an_unexpected_error_answers_500_and_still_writes_a_record(proxy: RunningProxy) -> None:
    install(proxy, safety_net=False)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body("What is 2 + 2?"))
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    record = proxy.records()[-1]
    assert record["status"] == 500 and record["ok"] is False
    assert response.headers["x-optmod-request-id"] == record["request_id"]
    assert record["error_type"] == "server_error" and record["error_message"] == "RuntimeError: kaput"


def test_build_router_gives_learned_routers_a_safety_net_and_rule_based_none(proxy: RunningProxy) -> None:
    from optmod.routing import build_router

    runtime = proxy.state.runtime
    assert build_router("rule_based", runtime.config.routers, runtime.registry).safety_net is None
    active = build_router("passthrough", runtime.config.routers, runtime.registry)
    assert isinstance(active.safety_net, RuleBasedRouter)
