"""Session pinning through the whole proxy: real uvicorn servers on 127.0.0.1 against the simulated provider.

The simulator keeps a prompt-prefix cache per model and reports cached tokens as providers do, so a pinned
conversation pays cached-read prices where an unpinned one, hopping between models, pays full input prices.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FAKE_KEY, RunningProxy, free_port, make_config_data, start_proxy, write_config
from test_pin_store import running_redis

from optmod.log import read_records
from optmod.registry import Usage, call_cost
from optmod.simulator import Fault

# Every model at one price, so the runs below differ in what the cache saves and nothing else.
SAME_PRICES = {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0, "cached_input_usd_per_mtok": 0.1}
SYSTEM = "You are a careful assistant for a data engineering team. " * 40  # a long, cacheable prefix
# rule_based sends these to the fast, reasoning, fast and oracle tiers when nothing pins the session.
TURNS = (
    "hi, thanks for joining",
    "Write a python function that parses a CSV file and skips malformed rows",
    "ok thanks",
    "Prove rigorously, step by step, that the merge step is optimal and derive its complexity",
)


def pool_data(**overrides: Any) -> dict[str, Any]:
    models = [{**model, **SAME_PRICES} for model in make_config_data()["models"]]
    return make_config_data(models=models, **overrides)


def unpinned(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "session_pin_hard_window_s": 0, "session_pin_soft_window_s": 0}


class Conversation:
    """One agent conversation: each turn sends the whole history, as chat clients do."""

    def __init__(self, http: httpx.AsyncClient, system: str = SYSTEM) -> None:
        self.http = http
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system}]

    async def say(self, base_url: str, content: Any, model: str = "optmod") -> httpx.Response:
        self.messages.append({"role": "user", "content": content})
        response = await self.http.post(
            f"{base_url}/chat/completions", json={"model": model, "messages": self.messages}, timeout=20
        )
        assert response.status_code == 200, response.text
        self.messages.append({"role": "assistant", "content": response.json()["choices"][0]["message"]["content"]})
        await asyncio.sleep(0.05)  # the pin is written just after the answer; a user types slower than this
        return response


async def run_conversation(proxy: RunningProxy) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        conversation = Conversation(http)
        for turn in TURNS:
            await conversation.say(proxy.base_url, turn)
    return proxy.records()


def full_price(record: dict[str, Any], proxy: RunningProxy) -> float:
    model = proxy.state.runtime.registry[record["model"]]
    return call_cost(model, Usage(record["prompt_tokens"], record["completion_tokens"]))


async def test_pinned_turns_pay_cached_prices_and_cost_less_than_unpinned(proxy_factory: Any) -> None:
    pinned_proxy = await proxy_factory(config_data=pool_data())
    unpinned_proxy = await proxy_factory(config_data=unpinned(pool_data()))
    pinned, free = await run_conversation(pinned_proxy), await run_conversation(unpinned_proxy)

    assert [r["pin_state"] for r in pinned] == ["fresh", "hard", "hard", "hard"]
    assert len({r["model"] for r in pinned}) == 1
    for record in pinned[1:]:
        assert record["cached_tokens"] > record["prompt_tokens"] // 2
        model = pinned_proxy.state.runtime.registry[record["model"]]
        usage = Usage(record["prompt_tokens"], record["completion_tokens"], record["cached_tokens"])
        assert record["cost_usd"] == pytest.approx(call_cost(model, usage))
        assert record["cost_usd"] < full_price(record, pinned_proxy)

    assert [r["pin_state"] for r in free] == ["fresh"] * 4
    assert len({r["model"] for r in free}) >= 3, "the unpinned run should hop between models"
    pinned_cost, free_cost = sum(r["cost_usd"] for r in pinned), sum(r["cost_usd"] for r in free)
    assert sum(r["cached_tokens"] for r in pinned) > sum(r["cached_tokens"] for r in free)
    assert pinned_cost < free_cost
    print(
        f"\npinned conversation ${pinned_cost:.6f}, unpinned ${free_cost:.6f} ({1 - pinned_cost / free_cost:.0%} less)"
    )


async def test_a_failing_pinned_model_is_evicted_and_its_successor_pinned(proxy_factory: Any) -> None:
    proxy = await proxy_factory(config_data=pool_data())
    async with httpx.AsyncClient() as http:
        conversation = Conversation(http)
        first = (await conversation.say(proxy.base_url, "hi there")).headers["x-optmod-model"]
        proxy.simulator.inject(Fault("status", model=first, status=500))
        second = (await conversation.say(proxy.base_url, "and one more thing")).headers["x-optmod-model"]
        await conversation.say(proxy.base_url, "thanks")
    records = proxy.records()
    assert second != first
    assert [r["pin_state"] for r in records] == ["fresh", "evicted_post_failure", "hard"]
    assert [a["model"] for a in records[1]["attempts"]] == [first, second]
    assert records[2]["model"] == second


async def test_images_evict_a_pin_on_a_model_without_vision(proxy_factory: Any) -> None:
    proxy = await proxy_factory(config_data=pool_data())
    image = [
        {"type": "text", "text": "what is on this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    async with httpx.AsyncClient() as http:
        conversation = Conversation(http)
        await conversation.say(proxy.base_url, "hi there", model="reason-a")  # no vision
        await conversation.say(proxy.base_url, image)
    records = proxy.records()
    assert records[1]["pin_state"] == "evicted_vision"
    assert proxy.state.runtime.registry[records[1]["model"]].supports_vision


async def test_an_outgrown_pin_is_rehomed_to_the_closest_wider_model(proxy_factory: Any) -> None:
    proxy = await proxy_factory(config_data=pool_data())
    async with httpx.AsyncClient() as http:
        conversation = Conversation(http, system="be brief")
        await conversation.say(proxy.base_url, "hi there", model="fast-a")  # 32k window
        await conversation.say(proxy.base_url, "summarise this log:\n" + "GET /a 200 12ms\n" * 9_000)  # ~36k tokens
    records = proxy.records()
    assert (records[1]["pin_state"], records[1]["model"]) == ("rehomed_context", "fast-b")  # same tier, 64k


async def test_pins_survive_a_restart_of_the_proxy(tmp_path: Path) -> None:
    data = pool_data(session_store={"kind": "sqlite", "sqlite_path": str(tmp_path / "pins.sqlite3")})
    async with httpx.AsyncClient() as http:
        conversation = Conversation(http)
        for name in ("before", "after"):
            folder = tmp_path / name
            folder.mkdir()
            proxy, server, task = await start_proxy(folder, data)
            try:
                await conversation.say(proxy.base_url, "hi there" if name == "before" else "Prove it rigorously")
                records = proxy.records()
            finally:
                server.should_exit = True
                await task
                await proxy.simulator.stop()
            if name == "before":
                pinned_to = records[0]["model"]
    assert (records[0]["pin_state"], records[0]["model"]) == ("hard", pinned_to)


# --- two proxy processes sharing one Redis --------------------------------------------------------------------


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with running_redis(tmp_path) as url:
        yield url


@pytest.fixture
async def second_process(tmp_path: Path) -> AsyncIterator[Any]:
    """Starts `optmod serve` in a child process on a config aimed at the first proxy's simulator."""
    started: list[asyncio.subprocess.Process] = []

    async def start(data: dict[str, Any], simulator_url: str) -> tuple[str, Path]:
        folder = tmp_path / "second"
        folder.mkdir()
        config_path = write_config(folder, data, simulator_url)
        port = free_port()
        code = "from optmod.cli import main; raise SystemExit(main())"
        args = ["serve", "--config", str(config_path), "--port", str(port), "--log-level", "warning"]
        env = {**os.environ, "OPTMOD_TEST_KEY": FAKE_KEY}
        with (folder / "stderr.txt").open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", code, *args, cwd=folder, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr
            )
        started.append(process)
        root = f"http://127.0.0.1:{port}"
        await wait_until_serving(root, process, folder / "stderr.txt")
        return f"{root}/v1", folder / "routing.log.jsonl"

    yield start
    for process in started:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=20)


async def wait_until_serving(root: str, process: asyncio.subprocess.Process, stderr: Path) -> None:
    deadline = time.monotonic() + 40
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise AssertionError(f"optmod serve exited with {process.returncode}; its stderr is in {stderr}")
            try:
                if (await http.get(f"{root}/optmod/status", timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("optmod serve did not start in time")


@pytest.mark.redis
async def test_two_proxy_processes_sharing_redis_agree_on_the_model(
    proxy_factory: Any, second_process: Any, redis_url: str
) -> None:
    data = pool_data(session_store={"kind": "redis", "redis_url": redis_url})
    first = await proxy_factory(config_data=data)
    second_url, second_log = await second_process(data, first.simulator.base_url)
    async with httpx.AsyncClient() as http:
        conversation = Conversation(http)
        await conversation.say(first.base_url, "hi there", model="oracle-b")  # pins the session to oracle-b
        answer = await conversation.say(second_url, "thanks")  # alone, this easy turn would go to the fast tier
        await conversation.say(first.base_url, "ok")
        status = (await http.get(f"{second_url.removesuffix('/v1')}/optmod/status")).json()
    [seen_by_second] = read_records(second_log).records
    assert answer.headers["x-optmod-model"] == "oracle-b"
    assert (seen_by_second["pin_state"], seen_by_second["model"]) == ("hard", "oracle-b")
    assert [(r["pin_state"], r["model"]) for r in first.records()] == [("fresh", "oracle-b"), ("hard", "oracle-b")]
    assert status["session_pins"]["active"] == 1
    assert status["session_pins"]["store"]["kind"] == "redis"
