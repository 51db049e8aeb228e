"""Live calls through optmod to the real providers; each test is skipped unless its provider's key is set.

DEEPSEEK_API_KEY=... OPENROUTER_API_KEY=... .venv/bin/python -m pytest tests/test_live_e2e.py -m live
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from optmod.config import DEFAULT_CONFIG_PATH, load_config
from optmod.main import AppSettings, create_app

pytestmark = pytest.mark.live


def cheapest_model_with_key(env_name: str) -> str:
    models = [m for m in load_config().models if m.api_key_env == env_name]
    return min(models, key=lambda m: (m.input_usd_per_mtok + m.output_usd_per_mtok, m.name)).name


@pytest.fixture
async def live_proxy(tmp_path: object) -> AsyncIterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(AppSettings(config_path=DEFAULT_CONFIG_PATH))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.get_running_loop().create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    await task


KEYS = [
    pytest.param(name, marks=pytest.mark.skipif(not os.environ.get(name), reason=f"{name} is not set"))
    for name in ("DEEPSEEK_API_KEY", "OPENROUTER_API_KEY")
]


@pytest.mark.parametrize("env_name", KEYS)
@pytest.mark.parametrize("stream", [False, True])
async def test_live_provider_answers_through_optmod(live_proxy: str, env_name: str, stream: bool) -> None:
    model = cheapest_model_with_key(env_name)
    body = {
        "model": model,
        "stream": stream,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "Reply with the single word: pong"}],
    }
    async with httpx.AsyncClient(timeout=120) as http:
        response = await http.post(f"{live_proxy}/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-optmod-attempts"] >= "1"
    if stream:
        assert response.text.rstrip().endswith("data: [DONE]")
    else:
        assert response.json()["choices"][0]["message"]
