"""Shared fixtures: a small test pool, the simulated provider, and a real optmod server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml

from optmod.config import Config, parse_config
from optmod.log import read_records
from optmod.main import AppSettings, create_app
from optmod.simulator import ModelProfile, SimulatedProvider
from optmod.state import AppState

FAKE_KEY = "sk-test-PLANTED-0123456789abcdef"


def make_model(name: str, tier: int, **overrides: Any) -> dict[str, Any]:
    model = {
        "name": name,
        "tier": tier,
        "base_url": "http://127.0.0.1:9/v1",
        "api_key_env": "OPTMOD_TEST_KEY",
        "input_usd_per_mtok": [0.1, 0.5, 3.0][tier],
        "output_usd_per_mtok": [0.4, 2.0, 15.0][tier],
        "cached_input_usd_per_mtok": [0.01, 0.05, 0.3][tier],
        "context_window": 32_000,
        "supports_vision": False,
        "supports_thinking": False,
    }
    model.update(overrides)
    return model


def make_config_data(**overrides: Any) -> dict[str, Any]:
    """A six-model pool, two per tier, with one larger-context model per tier for the context escapes."""
    data: dict[str, Any] = {
        "router": "rule_based",
        "primary_model": "reason-a",
        "mutators": ["thinking_mode"],
        "session_store": {"kind": "memory"},
        "log_path": "routing.log.jsonl",
        "limits": {
            "total_deadline_s": 10,
            "first_byte_timeout_s": 5,
            "read_timeout_s": 5,
            "retry_after_cap_s": 1,
            "cooldown_s": 30,
            "max_attempts": 4,
            "max_body_bytes": 200_000,
            "max_json_depth": 32,
        },
        "models": [
            make_model("fast-a", 0, supports_vision=True),
            make_model("fast-b", 0, context_window=64_000),
            make_model("reason-a", 1, supports_thinking=True),
            make_model("reason-b", 1, context_window=128_000),
            make_model("oracle-a", 2, supports_vision=True),
            make_model("oracle-b", 2, context_window=200_000),
        ],
    }
    data.update(overrides)
    return data


def write_config(folder: Path, data: dict[str, Any], base_url: str | None = None) -> Path:
    data = dict(data)
    if base_url is not None:
        data["models"] = [{**m, "base_url": base_url} for m in data["models"]]
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def instant_profiles(config: Config) -> list[ModelProfile]:
    return [
        ModelProfile(
            name=m.wire_name,
            context_window=m.context_window,
            output_tokens=12,
            usage_style="deepseek" if m.name.startswith("reason") else "openai",
        )
        for m in config.models
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningProxy:
    base_url: str  # ends in /v1
    root: str
    app: Any
    simulator: SimulatedProvider
    config_path: Path

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.optmod
        return state

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.state.log.path).records


async def start_proxy(
    tmp_path: Path,
    config_data: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    simulator: SimulatedProvider | None = None,
) -> tuple[RunningProxy, uvicorn.Server, asyncio.Task[None]]:
    data = config_data or make_config_data()
    if simulator is None:
        simulator = SimulatedProvider(instant_profiles(parse_config(data)), seed=1)
    sim_url = simulator.base_url or await simulator.start()
    config_path = write_config(tmp_path, data, sim_url)
    env = {"OPTMOD_TEST_KEY": FAKE_KEY, **(environ or {})}
    app = create_app(AppSettings(config_path=config_path, environ=env))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.get_running_loop().create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    root = f"http://127.0.0.1:{port}"
    return RunningProxy(f"{root}/v1", root, app, simulator, config_path), server, task


@pytest.fixture
async def proxy_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Starts proxies (each with its own simulator unless given one); all are stopped after the test."""
    running: list[tuple[RunningProxy, uvicorn.Server, asyncio.Task[None]]] = []

    async def factory(**kwargs: Any) -> RunningProxy:
        folder = tmp_path / f"proxy{len(running)}"
        folder.mkdir()
        started = await start_proxy(folder, **kwargs)
        running.append(started)
        return started[0]

    yield factory
    for proxy, server, task in running:
        server.should_exit = True
        await task
        await proxy.simulator.stop()


@pytest.fixture
async def proxy(proxy_factory: Callable[..., Any]) -> RunningProxy:
    result: RunningProxy = await proxy_factory()
    return result


def write_routing_dataset(
    folder: Path, prompts: list[dict[str, Any]], outcomes: list[tuple[Any, ...]], models: list[tuple[Any, ...]]
) -> Path:
    """A data set folder in the canonical format (prompts.jsonl.gz, outcomes.csv.gz, models.csv)."""
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "prompts.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(p) + "\n" for p in prompts)
    with gzip.open(folder / "outcomes.csv.gz", "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "model", "quality", "cost_usd", "output_tokens"])
        writer.writerows(outcomes)
    with (folder / "models.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "input_usd_per_mtok", "output_usd_per_mtok", "params_b", "notes"])
        writer.writerows(models)
    return folder


def chat_body(content: str = "hello there", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "optmod", "messages": [{"role": "user", "content": content}]}
    body.update(overrides)
    return body
