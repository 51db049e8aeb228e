"""The proxy routes with each learned router and its committed artifacts, through the simulated providers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import RunningProxy, chat_body, make_config_data

LEARNED = ["perf_router", "trouter", "decision_tree"]
HARD = "Prove that the sum of the reciprocals of the primes diverges, rigorously and step by step."
EASY = "What is the capital of France?"


@pytest.mark.parametrize("name", LEARNED)
async def test_proxy_routes_with_learned_router(name: str, proxy_factory: Callable[..., Any]) -> None:
    proxy: RunningProxy = await proxy_factory(config_data=make_config_data(router=name))
    async with httpx.AsyncClient(timeout=20) as http:
        status = (await http.get(f"{proxy.root}/optmod/status")).json()
        assert status["router"]["active"] == name, status["router"].get("fallback_reason")
        for prompt in (HARD, EASY):
            response = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body(prompt))
            assert response.status_code == 200
            assert response.headers["x-optmod-router"] == name
            assert response.json()["choices"][0]["message"]["content"]
    records = proxy.records()
    assert len(records) == 2
    pool = {m.name for m in proxy.state.runtime.registry}
    for record in records:
        assert record["router"] == name and record["model"] in pool
        assert record["reason"].startswith(name)
        assert 0.0 <= record["confidence"] <= 1.0
        assert record["alternatives"], "the log keeps the alternatives the router weighed"
        for alternative in record["alternatives"]:
            assert alternative["model"] in pool and alternative["model"] != record["model"]
            assert 0.0 <= alternative["quality"] <= 1.0 and alternative["cost"] >= 0


async def test_swap_to_a_learned_router_at_runtime(proxy: RunningProxy) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        for name in LEARNED:
            swapped = await http.post(f"{proxy.root}/optmod/router/{name}")
            assert swapped.status_code == 200 and swapped.json()["active"] == name
            # A new first message per router: the same one would be a pinned session, bypassing the router.
            response = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body(f"{HARD} ({name})"))
            assert response.headers["x-optmod-router"] == name
