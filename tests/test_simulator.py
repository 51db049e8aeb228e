"""The simulated provider, over real sockets on 127.0.0.1: shapes, usage, tool calls, faults, determinism."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from optmod.config import load_config
from optmod.simulator import FAULT_KINDS, Fault, ModelProfile, SimulatedProvider, generic_profiles
from optmod.simulator.command import build_profiles
from optmod.simulator.replies import FAULT_REPLIES

REPO = Path(__file__).resolve().parent.parent
FIXED_CLOCK = 1_750_000_000.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)

    def events(self) -> list[Any]:
        """The SSE data payloads, parsed; "[DONE]" stays a string."""
        out: list[Any] = []
        for block in self.raw.decode().split("\n\n"):
            if block.startswith("data: "):
                data = block[len("data: ") :]
                out.append(data if data == "[DONE]" else json.loads(data))
        return out


def make_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "Why is the sky blue?"}]}
    body.update(overrides)
    return body


def long_history(turns: int) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "You are a careful assistant. " * 40}]
    for turn in range(turns):
        messages.append({"role": "user", "content": f"question {turn}: " + "tell me more about caching. " * 20})
        messages.append({"role": "assistant", "content": f"answer {turn}: " + "here is what I know. " * 20})
    return messages


Start = Callable[..., Awaitable[SimulatedProvider]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start simulated providers on free ports; every one is stopped when the test ends."""
    started: list[SimulatedProvider] = []

    async def _start(*profiles: ModelProfile, **kwargs: Any) -> SimulatedProvider:
        kwargs.setdefault("clock", lambda: FIXED_CLOCK)
        provider = SimulatedProvider(profiles or (ModelProfile("m", output_tokens=12),), **kwargs)
        await provider.start()
        started.append(provider)
        return provider

    yield _start
    for provider in started:
        await provider.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def post(http: aiohttp.ClientSession, sim: SimulatedProvider, body: Any, **kwargs: Any) -> Reply:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-test-planted-key"}
    async with http.post(f"{sim.base_url}/chat/completions", data=data, headers=headers, **kwargs) as response:
        return Reply(response.status, dict(response.headers), await response.read())


def control_url(sim: SimulatedProvider, path: str) -> str:
    assert sim.base_url is not None
    return sim.base_url.removesuffix("/v1") + path


# --- shapes -------------------------------------------------------------------------------------------


async def test_non_streamed_answer_has_the_openai_shape(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start(ModelProfile("m", output_tokens=17))
    reply = await post(http, sim, make_body())
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    obj = reply.json()
    assert obj["object"] == "chat.completion"
    assert obj["id"] and obj["model"] == "m" and isinstance(obj["created"], int)
    choice = obj["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    assert len(content.split()) == 17
    assert content[0].isupper() and content.endswith(".") and content.count(".") == 2  # sentences of 12 words
    assert obj["usage"]["completion_tokens"] == 17
    assert obj["usage"]["total_tokens"] == obj["usage"]["prompt_tokens"] + 17
    assert obj["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}


async def test_stream_has_role_content_finish_usage_and_done(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start(ModelProfile("m", output_tokens=20))
    plain = (await post(http, sim, make_body())).json()
    reply = await post(http, sim, make_body(stream=True, stream_options={"include_usage": True}))
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/event-stream"
    assert reply.headers["Transfer-Encoding"] == "chunked"  # as OpenAI streams, no Content-Length
    events = reply.events()
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(content) == 20
    assert "".join(c["choices"][0]["delta"]["content"] for c in content) == plain["choices"][0]["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 20


async def test_stream_without_include_usage_sends_no_usage(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    events = (await post(http, sim, make_body(stream=True))).events()
    assert events[-1] == "[DONE]"
    assert all("usage" not in c for c in events[:-1])
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(("output_tokens", "chunk_tokens", "chunks"), [(20, 1, 20), (200, 1, 200), (200, 10, 20)])
async def test_stream_chunk_count_follows_the_profile(
    start: Start, http: aiohttp.ClientSession, output_tokens: int, chunk_tokens: int, chunks: int
) -> None:
    sim = await start(ModelProfile("m", output_tokens=output_tokens, chunk_tokens=chunk_tokens))
    events = (await post(http, sim, make_body(stream=True))).events()
    content = [e for e in events[:-1] if e["choices"][0]["delta"].get("content")]
    assert len(content) == chunks


async def test_paced_stream_sends_the_same_chunks(start: Start, http: aiohttp.ClientSession) -> None:
    fast = await start(ModelProfile("m", output_tokens=30))
    paced = await start(ModelProfile("m", output_tokens=30, ttft_ms=5, tokens_per_s=3000, chunk_tokens=2))
    first = (await post(http, fast, make_body(stream=True))).events()
    second = (await post(http, paced, make_body(stream=True))).events()
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in first[:-1])
    assert text == "".join(e["choices"][0]["delta"].get("content") or "" for e in second[:-1])
    assert len(second) == 15 + 3  # role, 15 two-token chunks, finish, [DONE]


async def test_max_tokens_cuts_the_answer_with_finish_reason_length(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start(ModelProfile("m", output_tokens=50))
    obj = (await post(http, sim, make_body(max_tokens=7))).json()
    assert obj["choices"][0]["finish_reason"] == "length"
    assert obj["usage"]["completion_tokens"] == 7


async def test_default_answer_length_varies_with_the_prompt(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start(ModelProfile("m"))
    lengths = set()
    for n in range(6):
        body = make_body(messages=[{"role": "user", "content": f"prompt number {n}"}])
        lengths.add((await post(http, sim, body)).json()["usage"]["completion_tokens"])
    assert len(lengths) > 1
    assert all(20 <= n <= 200 for n in lengths)


# --- usage --------------------------------------------------------------------------------------------


async def test_shorter_prompt_counts_fewer_prompt_tokens(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    long = (await post(http, sim, make_body(messages=[{"role": "user", "content": "word " * 400}]))).json()
    short = (await post(http, sim, make_body(messages=[{"role": "user", "content": "word " * 100}]))).json()
    assert short["usage"]["prompt_tokens"] < long["usage"]["prompt_tokens"]
    assert [r.prompt_tokens for r in sim.received] == [long["usage"]["prompt_tokens"], short["usage"]["prompt_tokens"]]


async def test_tools_count_as_prompt_tokens(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    bare = (await post(http, sim, make_body())).json()["usage"]["prompt_tokens"]
    await post(http, sim, make_body(tools=[weather_tool()], tool_choice="none"))
    assert sim.received[-1].prompt_tokens > bare


def cached_of(usage: dict[str, Any]) -> int:
    if "prompt_cache_hit_tokens" in usage:
        assert usage["prompt_cache_miss_tokens"] == usage["prompt_tokens"] - usage["prompt_cache_hit_tokens"]
        return int(usage["prompt_cache_hit_tokens"])
    return int(usage["prompt_tokens_details"]["cached_tokens"])


@pytest.mark.parametrize("style", ["openai", "deepseek", "openrouter"])
async def test_repeated_prefix_is_reported_as_cached(start: Start, http: aiohttp.ClientSession, style: str) -> None:
    profile = ModelProfile(
        "m", output_tokens=10, usage_style=style, input_usd_per_mtok=1.0, cached_input_usd_per_mtok=0.1
    )
    sim = await start(profile)
    history = long_history(3)
    first = (await post(http, sim, make_body(messages=history))).json()["usage"]
    longer = [*history, {"role": "user", "content": "one more question"}]
    second = (await post(http, sim, make_body(messages=longer))).json()["usage"]
    assert cached_of(first) == 0
    assert cached_of(second) > 0
    assert cached_of(second) % 64 == 0
    assert first["prompt_tokens"] - 64 < cached_of(second) <= first["prompt_tokens"]
    assert sim.received[-1].cached_tokens == cached_of(second)
    if style == "deepseek":
        assert "prompt_tokens_details" not in second
    if style == "openrouter":
        assert second["cost"] < second["prompt_tokens"] / 1e6  # cached input is not priced as fresh
        assert first["cost"] == pytest.approx(first["prompt_tokens"] / 1e6)


async def test_changed_early_message_breaks_the_cache(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    history = long_history(3)
    await post(http, sim, make_body(messages=history))
    edited = [{"role": "system", "content": "A different system prompt."}, *history[1:]]
    usage = (await post(http, sim, make_body(messages=edited))).json()["usage"]
    assert cached_of(usage) == 0


async def test_cache_can_be_disabled_and_usage_omitted(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start(ModelProfile("m", cache=False), ModelProfile("quiet", usage_style="none"))
    body = make_body(messages=long_history(2))
    await post(http, sim, body)
    assert cached_of((await post(http, sim, body)).json()["usage"]) == 0
    quiet = (await post(http, sim, {**body, "model": "quiet"})).json()
    assert "usage" not in quiet
    events = (
        await post(http, sim, {**body, "model": "quiet", "stream": True, "stream_options": {"include_usage": True}})
    ).events()
    assert all("usage" not in e for e in events[:-1])


# --- tool calls ---------------------------------------------------------------------------------------


def weather_tool() -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer", "minimum": 3},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "when": {"$ref": "#/$defs/window"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "optional_note": {"type": "string"},
                },
                "required": ["city", "days", "unit", "when", "tags"],
                "$defs": {
                    "window": {
                        "type": "object",
                        "properties": {"start": {"type": "string", "format": "date"}, "hourly": {"type": "boolean"}},
                        "required": ["start", "hourly"],
                    }
                },
            },
        },
    }


def search_tool() -> dict[str, Any]:
    parameters = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
    return {"type": "function", "function": {"name": "search", "parameters": parameters}}


async def test_tool_call_fills_every_required_property(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    obj = (await post(http, sim, make_body(tools=[weather_tool(), search_tool()]))).json()
    choice = obj["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    args = json.loads(call["function"]["arguments"])
    assert set(args) == {"city", "days", "unit", "when", "tags"}
    assert isinstance(args["city"], str) and args["unit"] == "celsius"
    assert isinstance(args["days"], int) and args["days"] >= 3
    assert isinstance(args["when"]["start"], str) and args["when"]["hourly"] is True
    assert isinstance(args["tags"], list) and all(isinstance(t, str) for t in args["tags"])
    assert obj["usage"]["completion_tokens"] > 0


async def test_tool_choice_names_the_tool_or_turns_tools_off(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    named = {"type": "function", "function": {"name": "search"}}
    obj = (await post(http, sim, make_body(tools=[weather_tool(), search_tool()], tool_choice=named))).json()
    assert obj["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "search"
    off = (await post(http, sim, make_body(tools=[weather_tool()], tool_choice="none"))).json()
    assert off["choices"][0]["finish_reason"] == "stop"
    assert "tool_calls" not in off["choices"][0]["message"]


async def test_a_tool_result_is_answered_with_text_so_an_agent_loop_ends(
    start: Start, http: aiohttp.ClientSession
) -> None:
    sim = await start()
    first = (await post(http, sim, make_body(tools=[weather_tool()]))).json()["choices"][0]["message"]
    call = first["tool_calls"][0]
    turn = [
        {"role": "user", "content": "Why is the sky blue?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21 C"},
    ]
    answered = (await post(http, sim, make_body(messages=turn, tools=[weather_tool()]))).json()["choices"][0]
    assert answered["finish_reason"] == "stop" and answered["message"]["content"]
    # A caller that insists on the tool still gets a call.
    required = make_body(messages=turn, tools=[weather_tool()], tool_choice="required")
    assert (await post(http, sim, required)).json()["choices"][0]["finish_reason"] == "tool_calls"


async def test_streamed_tool_call_reassembles_to_the_same_call(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    body = make_body(tools=[weather_tool()])
    call = (await post(http, sim, body)).json()["choices"][0]["message"]["tool_calls"][0]
    events = (await post(http, sim, {**body, "stream": True})).events()
    assert events[-1] == "[DONE]"
    opening = events[0]["choices"][0]["delta"]["tool_calls"][0]
    assert opening["index"] == 0 and opening["id"] == call["id"]
    assert opening["function"] == {"name": "get_weather", "arguments": ""}
    fragments = [e["choices"][0]["delta"]["tool_calls"][0] for e in events[1:-2]]
    assert len(fragments) > 1 and all(f["index"] == 0 and "id" not in f for f in fragments)
    assert "".join(f["function"]["arguments"] for f in fragments) == call["function"]["arguments"]
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"


async def test_json_response_formats_answer_json(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    loose = (await post(http, sim, make_body(response_format={"type": "json_object"}))).json()
    assert isinstance(json.loads(loose["choices"][0]["message"]["content"])["answer"], str)
    schema = weather_tool()["function"]["parameters"]
    response_format = {"type": "json_schema", "json_schema": {"name": "weather", "schema": schema, "strict": True}}
    body = make_body(response_format=response_format)
    strict = json.loads((await post(http, sim, body)).json()["choices"][0]["message"]["content"])
    assert set(strict) == set(schema["required"])
    events = (await post(http, sim, {**body, "stream": True})).events()
    assert json.loads("".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1])) == strict


# --- faults -------------------------------------------------------------------------------------------


def test_every_fault_kind_has_a_reply() -> None:
    assert set(FAULT_REPLIES) == set(FAULT_KINDS)


async def test_status_fault_with_retry_after_then_recovers(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    sim.inject(Fault("status", status=429, retry_after=1.5), Fault("status", status=503, times=2))
    replies = [await post(http, sim, make_body()) for _ in range(4)]
    assert [r.status for r in replies] == [429, 503, 503, 200]
    assert replies[0].headers["Retry-After"] == "1.5"
    assert replies[0].headers["retry-after-ms"] == "1500"
    assert replies[0].json()["error"]["code"] == "rate_limit_exceeded"
    assert set(replies[1].json()["error"]) == {"message", "type", "param", "code"}
    assert "Retry-After" not in replies[1].headers
    assert [r.fault for r in sim.received] == ["status", "status", "status", None]


async def test_fault_hits_only_its_model(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start(ModelProfile("a"), ModelProfile("b"))
    sim.inject(Fault("status", model="b", status=500))
    assert (await post(http, sim, make_body(model="a"))).status == 200
    assert (await post(http, sim, make_body(model="b"))).status == 500
    assert (await post(http, sim, make_body(model="b"))).status == 200


async def test_html_and_non_json_faults(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    sim.inject(Fault("html", status=502), Fault("non_json"))
    page = await post(http, sim, make_body())
    assert page.status == 502 and page.headers["Content-Type"].startswith("text/html")
    assert b"502 Bad Gateway" in page.raw
    garbage = await post(http, sim, make_body())
    assert garbage.status == 200
    with pytest.raises(json.JSONDecodeError):
        garbage.json()


async def test_timeout_fault_never_answers(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    sim.inject(Fault("timeout", delay_s=30))
    with pytest.raises(asyncio.TimeoutError):
        await post(http, sim, make_body(), timeout=aiohttp.ClientTimeout(total=0.3))
    assert (await post(http, sim, make_body())).status == 200


async def test_timeout_fault_hangs_up_after_its_hold(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    sim.inject(Fault("timeout", delay_s=0.05))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(http, sim, make_body())


async def test_reset_fault_resets_the_connection(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    sim.inject(Fault("reset"))
    with pytest.raises(aiohttp.ClientOSError) as caught:
        await post(http, sim, make_body(stream=True))
    assert "reset" in str(caught.value).lower()
    assert (await post(http, sim, make_body())).status == 200


async def test_stream_cut_sends_some_chunks_then_drops(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start(ModelProfile("m", output_tokens=20))
    sim.inject(Fault("stream_cut", after_chunks=3))
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        body = json.dumps(make_body(stream=True)).encode()
        async with http.post(f"{sim.base_url}/chat/completions", data=body) as response:
            assert response.status == 200
            async for piece in response.content.iter_any():
                received += piece
    events = Reply(200, {}, received).events()
    assert [bool(e["choices"][0]["delta"].get("content")) for e in events] == [False, True, True, True]
    assert b"[DONE]" not in received


async def test_stream_cut_without_streaming_sends_half_a_body(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    sim.inject(Fault("stream_cut"))
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(http, sim, make_body())


async def test_slow_first_byte_delays_then_answers(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    sim.inject(Fault("slow_first_byte", delay_s=30))
    with pytest.raises(asyncio.TimeoutError):
        await post(http, sim, make_body(), timeout=aiohttp.ClientTimeout(total=0.3))
    sim.inject(Fault("slow_first_byte", delay_s=0.05))
    reply = await post(http, sim, make_body(stream=True))
    assert reply.status == 200 and reply.events()[-1] == "[DONE]"


async def test_stream_error_first_sends_an_error_event(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    sim.inject(Fault("stream_error_first", status=503))
    reply = await post(http, sim, make_body(stream=True))
    assert reply.status == 200 and reply.headers["Content-Type"] == "text/event-stream"
    first = reply.events()[0]
    assert set(first) == {"error"} and first["error"]["type"] == "server_error"


async def test_empty_fault_answers_without_content(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    sim.inject(Fault("empty", times=2))
    obj = (await post(http, sim, make_body())).json()
    assert obj["choices"][0]["message"]["content"] == ""
    assert obj["usage"]["completion_tokens"] == 0
    events = (await post(http, sim, make_body(stream=True))).events()
    assert not any(e["choices"][0]["delta"].get("content") for e in events[:-1])
    assert events[-1] == "[DONE]"


async def test_context_length_as_fault_and_from_the_window(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start(ModelProfile("m", context_window=200))
    sim.inject(Fault("context_length"))
    for body in (make_body(), make_body(messages=[{"role": "user", "content": "x" * 2000}])):
        reply = await post(http, sim, body)
        assert reply.status == 400
        error = reply.json()["error"]
        assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
        assert "maximum context length is 200 tokens" in error["message"]
    assert (await post(http, sim, make_body())).status == 200


# --- determinism, errors, pools -----------------------------------------------------------------------


async def test_same_seed_and_requests_give_the_same_bytes(start: Start, http: aiohttp.ClientSession) -> None:
    bodies = [
        make_body(),
        make_body(stream=True),
        make_body(tools=[weather_tool()]),
        make_body(messages=long_history(1)),
    ]
    runs = []
    for seed in (7, 7, 8):
        sim = await start(ModelProfile("m"), seed=seed)
        runs.append([(await post(http, sim, body)).raw for body in bodies])
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[2][0]


async def test_bad_requests_get_openai_errors(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    unknown = await post(http, sim, make_body(model="nope"))
    assert unknown.status == 404 and unknown.json()["error"]["code"] == "model_not_found"
    malformed = await post(http, sim, b"{not json")
    assert malformed.status == 400 and malformed.json()["error"]["type"] == "invalid_request_error"
    empty = await post(http, sim, make_body(messages=[]))
    assert empty.status == 400 and empty.json()["error"]["param"] == "messages"
    async with http.get(control_url(sim, "/v1/embeddings")) as response:
        assert response.status == 404
        assert set((await response.json())["error"]) == {"message", "type", "param", "code"}


async def test_wildcard_pool_answers_any_model_name(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start(*generic_profiles(chunks=20))
    obj = (await post(http, sim, make_body(model="vendor/any-model:free"))).json()
    assert obj["model"] == "vendor/any-model:free"
    assert obj["usage"]["completion_tokens"] == 20
    async with http.get(f"{sim.base_url}/models") as response:
        assert [m["id"] for m in (await response.json())["data"]] == ["sim-model"]


def test_demo_pool_follows_the_config() -> None:
    config = load_config(REPO / "config.yaml")
    sim = SimulatedProvider.from_config(config, latency_scale=0)
    assert list(sim.profiles) == [m.wire_name for m in config.models]
    for model in config.models:
        profile = sim.profiles[model.wire_name]
        assert profile.usage_style == ("deepseek" if "deepseek" in model.base_url else "openrouter")
        assert profile.context_window == model.context_window
        assert profile.input_usd_per_mtok == model.input_usd_per_mtok
    by_tier = {t: [sim.profiles[m.wire_name].ttft_ms for m in config.models if m.tier == t] for t in (0, 1, 2)}
    assert max(by_tier[0]) < min(by_tier[2])


def test_command_line_overrides_every_profile() -> None:
    profiles = build_profiles(REPO / "config.yaml", latency_ms=50, chunks=200)
    assert profiles and all(p.output_tokens == 200 and p.ttft_ms == 50 and p.tokens_per_s == 0 for p in profiles)
    assert [p.name for p in build_profiles()] == ["sim-model", "*"]


async def test_demo_pool_at_zero_latency_answers_streams(start: Start, http: aiohttp.ClientSession) -> None:
    config = load_config(REPO / "config.yaml")
    sim = await start(*SimulatedProvider.from_config(config).profiles.values(), latency_scale=0)
    body = make_body(model="deepseek-v4-pro", stream=True, stream_options={"include_usage": True})
    usage = (await post(http, sim, body)).events()[-2]["usage"]
    assert "prompt_cache_hit_tokens" in usage


# --- control endpoints --------------------------------------------------------------------------------


async def test_control_endpoints_queue_faults_and_report_requests(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start()
    faults = [{"kind": "status", "status": 429, "retry_after": 2}, {"kind": "html", "model": "m"}]
    async with http.post(control_url(sim, "/_sim/faults"), json=faults) as response:
        assert response.status == 200 and (await response.json())["queued"] == 2
    assert (await post(http, sim, make_body())).status == 429
    async with http.get(control_url(sim, "/_sim/faults")) as response:
        assert [f["kind"] for f in (await response.json())["pending"]] == ["html"]
    async with http.delete(control_url(sim, "/_sim/faults")) as response:
        assert (await response.json())["cleared"] == 1
    assert (await post(http, sim, make_body())).status == 200
    async with http.get(control_url(sim, "/_sim/received?last=1")) as response:
        summary = await response.json()
    assert summary["count"] == 2 and summary["by_fault"] == {"status": 1} and summary["by_model"] == {"m": 2}
    assert len(summary["last"]) == 1 and summary["last"][0]["body"]["messages"] == make_body()["messages"]
    assert "sk-test-planted-key" not in json.dumps(summary)
    assert sim.received[-1].headers["authorization"] == "Bearer sk-test-planted-key"
    async with http.delete(control_url(sim, "/_sim/received")) as response:
        assert (await response.json())["cleared"] == 2
    assert sim.received == []


@pytest.mark.parametrize(
    "payload", [[{"kind": "meteor"}], [{"kind": "status", "status": "429"}], [{"kind": "reset", "color": 1}], "x"]
)
async def test_control_refuses_bad_faults(start: Start, http: aiohttp.ClientSession, payload: Any) -> None:
    sim = await start()
    async with http.post(control_url(sim, "/_sim/faults"), json=payload) as response:
        assert response.status == 400
        assert "error" in await response.json()
    assert sim.pending_faults() == []


async def test_received_keeps_the_latest_but_counts_all(start: Start, http: aiohttp.ClientSession) -> None:
    sim = await start(keep_received=3)
    for n in range(8):
        await post(http, sim, make_body(messages=[{"role": "user", "content": f"request {n}"}]))
    assert 3 <= len(sim.received) < 6
    assert sim.received[-1].body["messages"][0]["content"] == "request 7"
    assert sim.journal.total == 8


def test_fault_and_profile_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault("meteor")
    with pytest.raises(ValueError, match="usage_style"):
        ModelProfile("m", usage_style="anthropic")
    assert replace(Fault("timeout"), delay_s=0).hold_s == 3600


# --- real clients -------------------------------------------------------------------------------------


async def test_official_openai_client_reads_answers_streams_and_tool_calls(start: Start) -> None:
    import openai

    sim = await start(ModelProfile("m", output_tokens=20))
    async with openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0) as client:
        done = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert done.choices[0].message.content and done.usage is not None
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
        )
        text, usage = "", None
        async for chunk in stream:
            text += "".join(c.delta.content or "" for c in chunk.choices)
            usage = chunk.usage or usage
        assert text == done.choices[0].message.content and usage is not None
        tools: Any = [weather_tool()]
        called = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], tools=tools
        )
        call = called.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert json.loads(call.function.arguments)["unit"] == "celsius"  # type: ignore[union-attr]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_module_entry_serves_in_its_own_process(http: aiohttp.ClientSession) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "optmod.simulator", "--port", str(port), "--chunks", "5",
        cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                async with http.post(url, json=make_body(model="whatever")) as response:
                    obj = await response.json()
                    break
            except aiohttp.ClientConnectionError:
                assert process.returncode is None and time.monotonic() < deadline, "the simulator did not start"
                await asyncio.sleep(0.1)
        assert obj["usage"]["completion_tokens"] == 5
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
