"""The SQLite pin store across processes: pins outlive the process that wrote them, and writers never collide."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from optmod.config import SessionStoreSettings, parse_config
from optmod.features import extract_features
from optmod.pin_stores import SqlitePinStore, build_pin_store
from optmod.registry import ModelRegistry
from optmod.session_pin import SessionPins

REPO = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0
CONFIG_DATA: dict[str, Any] = {
    "primary_model": "deep",
    "session_store": {"kind": "sqlite", "sqlite_path": "pins.sqlite3"},
    "models": [
        {
            "name": "deep",
            "tier": 1,
            "base_url": "http://127.0.0.1:9/v1",
            "input_usd_per_mtok": 0.14,
            "output_usd_per_mtok": 0.28,
            "cached_input_usd_per_mtok": 0.028,
            "context_window": 131_072,
        }
    ],
}
CONFIG = parse_config(CONFIG_DATA)
REGISTRY = ModelRegistry(CONFIG.models, CONFIG.primary_model)
FEATURES = extract_features({"messages": [{"role": "user", "content": "go on"}]})

# The first server process: two turns of one session, the second one served mostly from the provider's cache.
WRITER = """
import asyncio, json, sys
from pathlib import Path
from optmod.config import parse_config
from optmod.pin_stores import build_pin_store
from optmod.registry import Usage
from optmod.session_pin import SessionPins

async def main() -> None:
    config = parse_config(json.loads(sys.argv[2]))
    store = build_pin_store(config.session_store, Path(sys.argv[1]))
    pins = SessionPins(store, config, clock=lambda: float(sys.argv[3]))
    deep = config.models[0]
    await pins.record_success("agent-run", deep, Usage(prompt_tokens=5_000))
    await pins.record_success("agent-run", deep, Usage(prompt_tokens=6_000, cached_tokens=5_000))
    await pins.close()

asyncio.run(main())
"""

# A worker hammering one session: every turn adds one warm call and 0.001 USD.
HAMMER = """
import asyncio, sys
from pathlib import Path
from optmod.pin_stores import PinWrite, SqlitePinStore

async def main() -> None:
    store = SqlitePinStore(Path(sys.argv[1]), 1000)
    for turn in range(int(sys.argv[2])):
        await store.record(PinWrite("shared", "deep", 1.0e9 + turn, 0.001, True, 1e9))
    await store.close()

asyncio.run(main())
"""


def run_python(code: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen[bytes]) -> None:
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()


async def test_pins_written_by_one_process_are_honoured_by_the_next(tmp_path: Path) -> None:
    finish(run_python(WRITER, str(tmp_path), json.dumps(CONFIG_DATA), repr(T0)))
    clock = T0 + 10
    pins = SessionPins(build_pin_store(CONFIG.session_store, tmp_path), CONFIG, clock=lambda: clock)
    try:
        hard = await pins.plan("agent-run", FEATURES, REGISTRY)
        assert (hard.state, hard.model) == ("hard", "deep")
        clock = T0 + CONFIG.session_pin_hard_window_s + 1
        soft = await pins.plan("agent-run", FEATURES, REGISTRY)
        saved = 5_000 * (0.14 - 0.028) / 1e6
        assert soft.credits == {"deep": pytest.approx(CONFIG.session_pin_soft_bonus_weight * saved)}
    finally:
        await pins.close()


async def test_two_processes_writing_one_session_lose_no_turn(tmp_path: Path) -> None:
    path = tmp_path / "pins.sqlite3"
    await SqlitePinStore(path, 1000).close()  # create the schema before the race
    workers = [run_python(HAMMER, str(path), "150") for _ in range(2)]
    for worker in workers:
        finish(worker)
    store = build_pin_store(SessionStoreSettings(kind="sqlite", sqlite_path=str(path)), tmp_path)
    try:
        pin = await store.get("shared")
        assert pin is not None
        assert pin.warm_calls == 300
        assert pin.savings_usd == pytest.approx(0.3)
    finally:
        await store.close()
