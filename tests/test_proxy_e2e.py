"""The proxy end to end: the official openai client against a real uvicorn server and the simulated upstream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from conftest import RunningProxy, chat_body, make_config_data


def client(proxy: RunningProxy) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=proxy.base_url, api_key="anything", max_retries=0, timeout=20)


async def test_non_streaming_completion_with_openai_client(proxy: RunningProxy) -> None:
    async with client(proxy) as api:
        raw = await api.chat.completions.with_raw_response.create(
            model="optmod", messages=[{"role": "user", "content": "hello, how are you?"}]
        )
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    assert raw.headers["x-optmod-model"] in {m.name for m in proxy.state.runtime.registry}
    assert raw.headers["x-optmod-router"] == "rule_based"
    assert raw.headers["x-optmod-attempts"] == "1"
    assert float(raw.headers["x-optmod-overhead-ms"]) >= 0
    [record] = proxy.records()
    assert record["ok"] is True and record["status"] == 200
    assert record["model"] == raw.headers["x-optmod-model"]
    assert record["prompt_tokens"] == completion.usage.prompt_tokens
    assert record["completion_tokens"] == completion.usage.completion_tokens
    assert record["cost_estimated"] is False and record["cost_usd"] > 0
    assert record["reason"].startswith("rule ") and record["task_type"] == "chat"
    assert record["session_id"] and record["pin_state"] == "fresh"


async def test_streaming_relays_chunks_and_hides_usage_the_client_did_not_ask_for(proxy: RunningProxy) -> None:
    async with client(proxy) as api:
        stream = await api.chat.completions.create(
            model="optmod", messages=[{"role": "user", "content": "tell me a story"}], stream=True
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert all(c.choices for c in chunks), "a usage-only chunk reached a client that did not ask for usage"
    [received] = proxy.simulator.received
    assert received.body["stream_options"] == {"include_usage": True}, "optmod must ask the provider for usage"
    [record] = proxy.records()
    assert record["stream"] is True and record["ok"] is True
    assert record["completion_tokens"] > 0 and record["cost_estimated"] is False
    assert record["ttft_ms"] is not None


async def test_streaming_with_include_usage_gets_the_usage_chunk(proxy: RunningProxy) -> None:
    async with client(proxy) as api:
        stream = await api.chat.completions.create(
            model="optmod",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert proxy.records()[0]["completion_tokens"] == chunks[-1].usage.completion_tokens


@pytest.mark.parametrize("extra", [{"stream_options": {"include_usage": True}}, {}], ids=["usage", "no-usage"])
async def test_the_stream_bytes_are_exactly_the_providers(proxy: RunningProxy, extra: dict[str, Any]) -> None:
    body = chat_body("count to three", stream=True, **extra)
    async with httpx.AsyncClient() as http:
        via_proxy = await http.post(f"{proxy.base_url}/chat/completions", json=body)
        model = via_proxy.headers["x-optmod-model"]
        proxy.simulator.clear_cache()
        direct = await http.post(f"{proxy.simulator.base_url}/chat/completions", json={**body, "model": model})
    assert via_proxy.content.replace(b"sim2", b"sim1") == direct.content.replace(b"sim2", b"sim1")


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls_pass_through(proxy: RunningProxy, stream: bool) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]
    async with client(proxy) as api:
        if stream:
            response = await api.chat.completions.create(
                model="optmod", messages=[{"role": "user", "content": "weather in Paris?"}], tools=tools, stream=True
            )
            chunks = [c async for c in response]
            calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
            assert calls[0].function.name == "get_weather"
            arguments = "".join(tc.function.arguments or "" for tc in calls)
        else:
            completion = await api.chat.completions.create(
                model="optmod",
                messages=[{"role": "user", "content": "weather in Paris?"}],
                tools=tools,
                tool_choice="auto",
            )
            call = completion.choices[0].message.tool_calls[0]
            assert completion.choices[0].finish_reason == "tool_calls"
            assert call.function.name == "get_weather"
            arguments = call.function.arguments
    assert "city" in orjson.loads(arguments)
    received = proxy.simulator.received[-1].body
    assert received["tools"] == tools, "tools must reach the provider untouched"


async def test_unknown_fields_and_response_format_pass_through_untouched(proxy: RunningProxy) -> None:
    extra = {"response_format": {"type": "json_object"}, "seed": 7, "x_vendor_knob": {"a": [1, 2]}, "temperature": 0.2}
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body("give json", **extra))
    assert response.status_code == 200
    received = proxy.simulator.received[-1].body
    for key, value in extra.items():
        assert received[key] == value
    assert received["model"] == response.headers["x-optmod-model"]


async def test_images_go_to_a_vision_model(proxy: RunningProxy) -> None:
    content = [
        {"type": "text", "text": "what is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body(content))
    assert response.status_code == 200
    assert proxy.state.runtime.registry[response.headers["x-optmod-model"]].supports_vision
    assert proxy.simulator.received[-1].body["messages"][0]["content"] == content


async def test_explicit_pool_model_is_honoured(proxy: RunningProxy) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{proxy.base_url}/chat/completions", json=chat_body(model="oracle-b"))
    assert response.headers["x-optmod-model"] == "oracle-b"
    assert proxy.records()[0]["router"] == "explicit"


async def test_models_endpoint_lists_pool_and_virtual_model(proxy: RunningProxy) -> None:
    async with client(proxy) as api:
        models = [m.id async for m in api.models.list()]
    assert models[0] == "optmod"
    assert set(models[1:]) == {m.name for m in proxy.state.runtime.registry}


async def test_models_retrieve_answers_names_with_slashes_and_404s_unknown_ones(proxy_factory: Any) -> None:
    data = make_config_data()
    data["models"][0]["name"] = "vendor/fast-a:free"
    proxy = await proxy_factory(config_data=data)
    async with client(proxy) as api:
        assert (await api.models.retrieve("vendor/fast-a:free")).id == "vendor/fast-a:free"
        assert (await api.models.retrieve("optmod")).owned_by == "optmod"
        with pytest.raises(openai.NotFoundError) as missing:
            await api.models.retrieve("nope")
    assert missing.value.code == "model_not_found"


async def test_the_root_address_leads_to_the_dashboard(proxy: RunningProxy) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{proxy.root}/")
    assert response.status_code == 307 and response.headers["location"] == "/ui"


async def test_thinking_mode_prefixes_think_only_for_thinking_models(proxy: RunningProxy) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(f"{proxy.base_url}/chat/completions", json=chat_body(model="reason-a"))
        await http.post(f"{proxy.base_url}/chat/completions", json=chat_body(model="fast-b"))
    thinking, plain = (r.body["messages"] for r in proxy.simulator.received)
    assert thinking[0] == {"role": "system", "content": "/think"}
    assert plain[0]["role"] == "user"
    assert proxy.records()[0]["mutators"] == ["thinking_mode"]
    assert proxy.records()[1]["mutators"] == []


async def test_tool_results_are_compressed_on_the_way_and_logged(proxy_factory: Any) -> None:
    proxy = await proxy_factory(config_data=make_config_data(mutators=["tool_result_compressor"]))
    pytest_output = (Path(__file__).parent / "corpus/tool_outputs/build/pytest_more_itertools.txt").read_text()
    messages = [
        {"role": "user", "content": "run the tests"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "sh", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": pytest_output},
    ]
    async with httpx.AsyncClient() as http:
        await http.post(f"{proxy.base_url}/chat/completions", json={"model": "fast-a", "messages": messages})
        await http.post(f"{proxy.root}/optmod/compressor/off")
        await http.post(f"{proxy.base_url}/chat/completions", json={"model": "fast-a", "messages": messages})
    compressed, plain = (r.body["messages"][2]["content"] for r in proxy.simulator.received)
    assert plain == pytest_output and len(compressed) < len(pytest_output) / 2
    assert proxy.simulator.received[0].prompt_tokens < proxy.simulator.received[1].prompt_tokens
    on, off = proxy.records()
    assert on["mutators"] == ["tool_result_compressor"]
    assert on["compressor_tokens_before"] > on["compressor_tokens_after"]
    assert off["mutators"] == [] and off["compressor_tokens_before"] is None
