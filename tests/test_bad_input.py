"""Bad input gets an OpenAI-shaped 4xx, is logged, and leaves the server healthy."""

from __future__ import annotations

import httpx
import pytest
from conftest import RunningProxy, chat_body


def deep(levels: int) -> object:
    value: object = "x"
    for _ in range(levels):
        value = [value]
    return value


BAD_BODIES = [
    ("malformed json", b'{"messages": [', 400, None),
    ("empty body", b"", 400, None),
    ("not an object", b"[1, 2]", 400, None),
    ("messages missing", b'{"model": "optmod"}', 400, "messages"),
    ("messages empty", b'{"messages": []}', 400, "messages"),
    ("messages wrong type", b'{"messages": "hi"}', 400, "messages"),
    ("message not an object", b'{"messages": ["hi"]}', 400, "messages[0]"),
    ("unknown role", b'{"messages": [{"role": "wizard", "content": "hi"}]}', 400, "messages[0].role"),
    ("content wrong type", b'{"messages": [{"role": "user", "content": 5}]}', 400, "messages[0].content"),
    ("model wrong type", b'{"model": 5, "messages": [{"role": "user", "content": "hi"}]}', 400, "model"),
    ("stream wrong type", b'{"stream": "yes", "messages": [{"role": "user", "content": "hi"}]}', 400, "stream"),
    ("tools wrong type", b'{"tools": {}, "messages": [{"role": "user", "content": "hi"}]}', 400, "tools"),
    (
        "text part not a string",
        b'{"messages": [{"role": "user", "content": [{"type": "text", "text": 123}]}]}',
        400,
        "messages[0].content",
    ),
    ("max_tokens negative", b'{"max_tokens": -5, "messages": [{"role": "user", "content": "hi"}]}', 400, "max_tokens"),
    (
        "max_completion_tokens not a number",
        b'{"max_completion_tokens": "lots", "messages": [{"role": "user", "content": "hi"}]}',
        400,
        "max_completion_tokens",
    ),
]


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize(("name", "raw", "status", "param"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_bad_bodies_get_openai_errors_and_are_logged(
    proxy: RunningProxy, name: str, raw: bytes, status: int, param: str | None
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{proxy.base_url}/chat/completions", content=raw, headers={"content-type": "application/json"}
        )
        error = assert_openai_error(response, status)
        assert error["param"] == param
        assert error["type"] == "invalid_request_error"
        healthy = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body())
    assert healthy.status_code == 200
    first, second = proxy.records()
    assert first["status"] == status and first["ok"] is False and first["error_type"] == "invalid_request_error"
    assert response.headers["x-optmod-request-id"] == first["request_id"]  # the answer names its log line
    assert second["ok"] is True
    assert len(proxy.simulator.received) == 1, "a rejected request must never reach a provider"


async def test_oversized_body_is_413(proxy: RunningProxy) -> None:
    body = chat_body("x" * 250_000)  # the test config's limit is 200 kB
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{proxy.base_url}/chat/completions", json=body)
        assert_openai_error(response, 413)

        async def chunked():  # no content-length: the limit must hold while reading
            yield b'{"messages": [{"role": "user", "content": "'
            for _ in range(30):
                yield b"y" * 10_000
            yield b'"}]}'

        response = await http.post(f"{proxy.base_url}/chat/completions", content=chunked())
        assert_openai_error(response, 413)


async def test_deep_nesting_is_refused(proxy: RunningProxy) -> None:
    body = chat_body(metadata=deep(40))  # the test config's limit is 32 levels
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{proxy.base_url}/chat/completions", json=body)
    assert "nested" in assert_openai_error(response, 400)["message"]


async def test_brackets_inside_strings_are_not_nesting(proxy: RunningProxy) -> None:
    # More brackets than the depth limit, all inside one string: the body is shallow and must pass.
    body = chat_body(messages=[{"role": "user", "content": "[{" * 100 + " what does this bracket soup mean?"}])
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{proxy.base_url}/chat/completions", json=body)
    assert response.status_code == 200, response.text


async def test_unknown_paths_and_methods(proxy: RunningProxy) -> None:
    async with httpx.AsyncClient() as http:
        assert_openai_error(await http.get(f"{proxy.root}/v1/nothing"), 404)
        assert_openai_error(await http.get(f"{proxy.base_url}/chat/completions"), 405)
        assert_openai_error(await http.delete(f"{proxy.root}/optmod/status"), 405)
        assert_openai_error(await http.post(f"{proxy.root}/optmod/router/"), 404)
        assert (await http.get(f"{proxy.root}/optmod/status")).status_code == 200
