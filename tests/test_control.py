"""Control endpoints: router swap (also under load), compressor toggle, log clear, restart, admin token."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from conftest import RunningProxy, chat_body, free_port, make_config_data, write_config

from optmod.cli import BindRefusedError, check_bind
from optmod.config import parse_config
from optmod.main import AppSettings, create_app
from optmod.routing import ROUTERS
from optmod.simulator import Fault


async def test_router_swap_and_unknown_router(proxy: RunningProxy) -> None:
    async with httpx.AsyncClient() as http:
        swapped = await http.post(f"{proxy.root}/optmod/router/passthrough")
        assert swapped.json()["active"] == "passthrough"
        response = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body())
        assert response.headers["x-optmod-router"] == "passthrough"
        assert response.headers["x-optmod-model"] == "reason-a"  # the primary model
        unknown = await http.post(f"{proxy.root}/optmod/router/magic")
        status = (await http.get(f"{proxy.root}/optmod/status")).json()
    assert unknown.status_code == 404
    message = unknown.json()["error"]["message"]
    assert all(name in message for name in ROUTERS)
    assert status["router"]["active"] == "passthrough"


async def test_router_swap_under_load_drops_nothing(proxy: RunningProxy) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        done = asyncio.Event()

        async def traffic(batch: int) -> list[int]:  # distinct prompts: no session pins between batches
            return [
                (await http.post(f"{proxy.base_url}/chat/completions", json=chat_body(f"q{batch}-{i}"))).status_code
                for i in range(15)
            ]

        async def swaps() -> None:
            names = ["passthrough", "rule_based"]
            turn = 0
            while not done.is_set():
                await http.post(f"{proxy.root}/optmod/router/{names[turn % 2]}")
                turn += 1
                await asyncio.sleep(0.002)

        swapper = asyncio.ensure_future(swaps())
        batches = await asyncio.gather(traffic(0), traffic(1), traffic(2))
        done.set()
        await swapper
    assert [s for batch in batches for s in batch] == [200] * 45
    assert {r["router"] for r in proxy.records()} == {"passthrough", "rule_based"}


async def test_compressor_toggle(proxy: RunningProxy) -> None:
    async with httpx.AsyncClient() as http:
        off = await http.post(f"{proxy.root}/optmod/compressor/off")
        assert off.json() == {"compressor": "off"}
        assert (await http.get(f"{proxy.root}/optmod/status")).json()["compressor"]["enabled"] is False
        await http.post(f"{proxy.root}/optmod/compressor/on")
        assert (await http.get(f"{proxy.root}/optmod/status")).json()["compressor"]["enabled"] is True
        bad = await http.post(f"{proxy.root}/optmod/compressor/maybe")
    assert bad.status_code == 404 and "on, off" in bad.json()["error"]["message"]


async def test_log_clear(proxy: RunningProxy) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(f"{proxy.base_url}/chat/completions", json=chat_body())
        assert len(proxy.records()) == 1
        await http.post(f"{proxy.root}/optmod/log/clear")
        assert proxy.records() == []
        await http.post(f"{proxy.base_url}/chat/completions", json=chat_body())
    assert len(proxy.records()) == 1


async def test_restart_reloads_config_and_keeps_it_when_invalid(proxy: RunningProxy) -> None:
    data = yaml.safe_load(proxy.config_path.read_text())
    async with httpx.AsyncClient(timeout=20) as http:
        # A request in flight on the old pool finishes there.
        proxy.simulator.inject(Fault("slow_first_byte", model="oracle-b", delay_s=0.5))
        in_flight = asyncio.ensure_future(
            http.post(f"{proxy.base_url}/chat/completions", json=chat_body(model="oracle-b"))
        )
        await asyncio.sleep(0.1)
        data["models"] = [m for m in data["models"] if m["name"] != "oracle-b"]
        proxy.config_path.write_text(yaml.safe_dump(data))
        reloaded = await http.post(f"{proxy.root}/optmod/restart")
        assert reloaded.status_code == 200 and reloaded.json()["models"] == 5
        assert (await in_flight).headers["x-optmod-model"] == "oracle-b"
        names = [m["id"] for m in (await http.get(f"{proxy.base_url}/models")).json()["data"]]
        assert "oracle-b" not in names

        proxy.config_path.write_text("models: [{name: broken}]\nprimary_model: broken\n")
        refused = await http.post(f"{proxy.root}/optmod/restart")
        assert refused.status_code == 400
        assert "models.0.tier" in refused.json()["error"]["message"]
        still = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body())
    assert still.status_code == 200
    assert len(proxy.state.runtime.registry) == 5


async def test_restart_applies_pin_windows_and_compressor_and_names_what_needs_a_new_process(
    proxy: RunningProxy, caplog: pytest.LogCaptureFixture
) -> None:
    data = yaml.safe_load(proxy.config_path.read_text())
    data["session_pin_hard_window_s"] = 7.0
    data["session_pin_soft_window_s"] = 70.0
    data["compressor"] = {"enabled": False}
    data["log_path"] = "elsewhere.jsonl"
    data["session_store"] = {"kind": "sqlite"}
    data["limits"] |= {"connect_timeout_s": 1.5, "read_timeout_s": 2.5}
    proxy.config_path.write_text(yaml.safe_dump(data))
    async with httpx.AsyncClient() as http:
        await http.post(f"{proxy.base_url}/chat/completions", json=chat_body())  # opens a provider pool
        reloaded = (await http.post(f"{proxy.root}/optmod/restart")).json()
        status = (await http.get(f"{proxy.root}/optmod/status")).json()
        unchanged = (await http.post(f"{proxy.root}/optmod/restart")).json()
    assert reloaded["needs_process_restart"] == ["log_path", "session_store"]
    assert "log_path, session_store take effect at the next start" in caplog.text
    forwarder = proxy.state.forwarder
    assert (forwarder.limits.connect_timeout_s, forwarder.limits.read_timeout_s) == (1.5, 2.5)
    assert [pool.connect_timeout_s for pool in forwarder._pools.values()] == [1.5]  # the pool opened before
    assert (status["session_pins"]["hard_window_s"], status["session_pins"]["soft_window_s"]) == (7.0, 70.0)
    assert status["compressor"]["enabled"] is False
    assert status["log_path"] == str(proxy.state.log.path) and not status["log_path"].endswith("elsewhere.jsonl")
    # Still pending on a second reload: the process runs with the log and store it started with.
    assert unchanged["needs_process_restart"] == ["log_path", "session_store"]


async def test_restart_keeps_runtime_switches_the_file_does_not_change(proxy: RunningProxy) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(f"{proxy.root}/optmod/compressor/off")
        await http.post(f"{proxy.root}/optmod/router/passthrough")
        reloaded = (await http.post(f"{proxy.root}/optmod/restart")).json()
        status = (await http.get(f"{proxy.root}/optmod/status")).json()
    assert reloaded["needs_process_restart"] == [] and reloaded["router"] == "passthrough"
    assert status["compressor"]["enabled"] is False
    assert status["router"]["active"] == "passthrough"


async def test_restart_applies_a_router_edited_in_the_file(proxy: RunningProxy) -> None:
    data = yaml.safe_load(proxy.config_path.read_text())
    assert data["router"] == "rule_based"
    data["router"] = "passthrough"
    proxy.config_path.write_text(yaml.safe_dump(data))
    async with httpx.AsyncClient() as http:
        reloaded = (await http.post(f"{proxy.root}/optmod/restart")).json()
        answer = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body())
    assert reloaded["router"] == "passthrough"
    assert answer.headers["x-optmod-router"] == "passthrough"


async def test_admin_token_guards_state_changes(proxy_factory: Any) -> None:
    proxy = await proxy_factory(environ={"OPTMOD_ADMIN_TOKEN": "s3cret-token"})
    async with httpx.AsyncClient() as http:
        for path in ["router/passthrough", "compressor/off", "log/clear", "restart"]:
            denied = await http.post(f"{proxy.root}/optmod/{path}")
            assert denied.status_code == 401, path
            assert denied.json()["error"]["type"] == "authentication_error"
        wrong = await http.post(f"{proxy.root}/optmod/router/passthrough", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        allowed = await http.post(
            f"{proxy.root}/optmod/router/passthrough", headers={"authorization": "Bearer s3cret-token"}
        )
        assert allowed.status_code == 200
        assert (await http.get(f"{proxy.root}/optmod/status")).status_code == 200


def test_non_loopback_bind_needs_a_token() -> None:
    config = parse_config(make_config_data())
    with pytest.raises(BindRefusedError):
        check_bind("0.0.0.0", config, {})
    check_bind("0.0.0.0", config, {"OPTMOD_ADMIN_TOKEN": "t"})
    check_bind("127.0.0.1", config, {})
    check_bind("::1", config, {})
    check_bind("localhost", config, {})


async def test_status_shows_pool_router_pins_and_compressor(proxy: RunningProxy) -> None:
    async with httpx.AsyncClient() as http:
        status = (await http.get(f"{proxy.root}/optmod/status")).json()
    assert status["primary_model"] == "reason-a"
    assert [m["name"] for m in status["models"]] == [m.name for m in proxy.state.runtime.registry]
    assert {"tier", "input_usd_per_mtok", "context_window", "supports_vision"} <= set(status["models"][0])
    assert status["router"]["requested"] == "rule_based" and status["router"]["fallback_reason"] is None
    assert status["session_pins"]["active"] == 0
    assert "enabled" in status["compressor"]


async def test_demo_mode_names_its_simulator_so_faults_can_be_injected(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, make_config_data())
    app = create_app(AppSettings(config_path=config_path, demo=True, environ={}, demo_latency_scale=0))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.get_running_loop().create_task(server.serve())
    try:
        for _ in range(250):  # bounded: at most 5 s
            if server.started:
                break
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(timeout=20) as http:
            status = (await http.get(f"http://127.0.0.1:{port}/optmod/status")).json()
            simulator = status["demo_simulator"]
            assert status["demo"] is True and simulator.startswith("http://127.0.0.1:")
            fault = [{"kind": "status", "status": 503, "times": 1}]
            assert (await http.post(f"{simulator}/_sim/faults", json=fault)).status_code == 200
            answer = await http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=chat_body())
        assert answer.status_code == 200 and answer.headers["x-optmod-attempts"] == "2"  # the fault was met
    finally:
        server.should_exit = True
        await task


async def test_a_web_page_elsewhere_cannot_flip_switches_or_spend_the_keys(proxy: RunningProxy) -> None:
    evil = {"Origin": "http://evil.example"}
    async with httpx.AsyncClient() as http:
        swap = await http.post(f"{proxy.root}/optmod/router/passthrough", headers=evil)
        chat = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body(), headers=evil)
        rebound = await http.get(f"{proxy.root}/optmod/status", headers={"Host": "attacker.example:8765"})
        own_page = await http.post(f"{proxy.root}/optmod/compressor/off", headers={"Origin": proxy.root})
        sdk = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body())  # no Origin: a program
    assert [r.status_code for r in (swap, chat, rebound)] == [403, 403, 403]
    assert swap.json()["error"]["type"] == "permission_error" and "evil.example" in swap.json()["error"]["message"]
    assert proxy.state.runtime.router.requested == "rule_based"
    assert len(proxy.simulator.received) == 1  # only the SDK's call reached a provider
    assert own_page.status_code == 200 and sdk.status_code == 200


def test_a_proxy_bound_beyond_loopback_answers_to_any_host_name() -> None:
    from optmod.main import LOOPBACK_NAMES, foreign_request

    headers = [(b"host", b"10.0.0.7:8765")]
    assert foreign_request(headers, LOOPBACK_NAMES) is not None
    assert foreign_request(headers, None) is None
    assert foreign_request([(b"host", b"[::1]:8765")], LOOPBACK_NAMES) is None
    assert foreign_request([*headers, (b"origin", b"http://elsewhere")], None) is not None
