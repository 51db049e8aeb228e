"""Each escalation path through a real server: the simulated provider injects the fault, the log tells the story."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from conftest import FAKE_KEY, RunningProxy, chat_body, make_config_data

from optmod.config import parse_config
from optmod.simulator import Fault


async def post(proxy: RunningProxy, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=20) as http:
        return await http.post(f"{proxy.base_url}/chat/completions", json=body, headers=headers)


def outcomes(record: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["model"], a["outcome"]) for a in record["attempts"]]


@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        (Fault("status", model="fast-a", status=500), "server_error"),
        (Fault("status", model="fast-a", status=502), "server_error"),
        (Fault("status", model="fast-a", status=408), "timeout"),
        (Fault("status", model="fast-a", status=409), "conflict"),
        (Fault("html", model="fast-a", status=502), "server_error"),
        (Fault("non_json", model="fast-a"), "server_error"),
        (Fault("reset", model="fast-a"), "connection_reset"),
        (Fault("empty", model="fast-a"), "empty"),
    ],
    ids=lambda v: v if isinstance(v, str) else f"{v.kind}-{v.status}",
)
@pytest.mark.parametrize("stream", [False, True])
async def test_failure_before_content_escalates_one_tier(
    proxy: RunningProxy, fault: Fault, failure: str, stream: bool
) -> None:
    proxy.simulator.inject(fault)
    response = await post(proxy, chat_body(model="fast-a", stream=stream))
    assert response.status_code == 200
    assert response.headers["x-optmod-model"] == "reason-a"
    assert response.headers["x-optmod-attempts"] == "2"
    [record] = proxy.records()
    assert outcomes(record) == [("fast-a", failure), ("reason-a", "ok")]
    assert record["escalated"] is True and record["ok"] is True
    if stream:
        assert response.text.rstrip().endswith("data: [DONE]")


async def test_timeout_escalates_within_the_first_byte_limit(proxy_factory: Any) -> None:
    data = make_config_data()
    data["limits"] = {**data["limits"], "first_byte_timeout_s": 0.5}
    proxy = await proxy_factory(config_data=data)
    proxy.simulator.inject(Fault("timeout", model="fast-a", delay_s=5))
    response = await post(proxy, chat_body(model="fast-a"))
    assert response.status_code == 200
    assert outcomes(proxy.records()[0]) == [("fast-a", "timeout"), ("reason-a", "ok")]


async def test_slow_first_byte_within_the_limit_is_not_a_failure(proxy: RunningProxy) -> None:
    proxy.simulator.inject(Fault("slow_first_byte", model="fast-a", delay_s=0.3))
    response = await post(proxy, chat_body(model="fast-a", stream=True))
    assert response.headers["x-optmod-model"] == "fast-a"
    assert proxy.records()[0]["ttft_ms"] >= 300


async def test_stream_error_event_before_content_escalates(proxy: RunningProxy) -> None:
    proxy.simulator.inject(Fault("stream_error_first", model="fast-a"))
    response = await post(proxy, chat_body(model="fast-a", stream=True))
    assert response.headers["x-optmod-model"] == "reason-a"
    assert "error" not in response.text.split("\n\n")[0]
    assert outcomes(proxy.records()[0]) == [("fast-a", "stream_error"), ("reason-a", "ok")]


async def test_stream_cut_after_first_content_ends_visibly_and_is_not_resent(proxy: RunningProxy) -> None:
    proxy.simulator.inject(Fault("stream_cut", model="fast-a", after_chunks=3))
    response = await post(proxy, chat_body(model="fast-a", stream=True))
    assert response.status_code == 200 and response.headers["x-optmod-model"] == "fast-a"
    events = [e for e in response.text.split("\n\n") if e.strip()]
    assert "[DONE]" not in response.text
    last = orjson.loads(events[-1].removeprefix("data: "))
    assert last["error"]["code"] == "stream_interrupted"
    assert len(proxy.simulator.received) == 1, "after the commit point nothing may be re-sent"
    [record] = proxy.records()
    assert record["ok"] is False and record["error_type"] == "stream_cut"
    # The whole reason, not a repr cut off mid-sentence.
    assert last["error"]["message"] == record["error_message"]
    assert record["error_message"].endswith(")") and "Error: " in record["error_message"]


async def test_a_stream_the_provider_broke_releases_the_session_pin(proxy: RunningProxy) -> None:
    session = {"x-session-id": "cut-session"}
    first = await post(proxy, chat_body(model="fast-a"), headers=session)
    assert first.status_code == 200
    for _ in range(50):  # the pin is written just after the answer went out
        if await proxy.state.pins.store.get("cut-session") is not None:
            break
        await asyncio.sleep(0.02)
    assert await proxy.state.pins.store.get("cut-session") is not None
    proxy.simulator.inject(Fault("stream_cut", model="fast-a", after_chunks=3))
    await post(proxy, chat_body(stream=True), headers=session)  # hard-pinned to fast-a, which breaks
    await proxy.state.tasks.drain()
    assert await proxy.state.pins.store.get("cut-session") is None
    assert proxy.records()[-1]["pin_state"] == "hard"


async def test_rate_limit_cools_the_model_down_for_retry_after(proxy: RunningProxy) -> None:
    proxy.simulator.inject(Fault("status", model="fast-a", status=429, retry_after=20))
    first = await post(proxy, chat_body(model="fast-a"))
    assert first.headers["x-optmod-model"] == "reason-a"
    assert 19 < proxy.state.cooldowns.remaining("fast-a") <= 20
    record = proxy.records()[0]
    assert record["attempts"][0]["retry_after_s"] == 20
    # While fast-a cools down, escalation from fast-b passes it by.
    proxy.simulator.inject(Fault("status", model="fast-b", status=503))
    await post(proxy, chat_body(model="fast-b"))
    assert outcomes(proxy.records()[1]) == [("fast-b", "server_error"), ("reason-a", "ok")]


async def test_short_retry_after_is_waited_for_when_no_other_model_is_left(proxy_factory: Any) -> None:
    data = make_config_data(primary_model="solo", models=[{**make_config_data()["models"][0], "name": "solo"}])
    proxy = await proxy_factory(config_data=data)
    proxy.simulator.inject(Fault("status", model="solo", status=429, retry_after=0.2))
    response = await post(proxy, chat_body())
    assert response.status_code == 200
    assert outcomes(proxy.records()[0]) == [("solo", "rate_limited"), ("solo", "ok")]


async def test_context_length_error_goes_only_to_a_larger_context_model(proxy: RunningProxy) -> None:
    proxy.simulator.inject(Fault("context_length", model="reason-a"))
    response = await post(proxy, chat_body(model="reason-a"))
    assert response.status_code == 200
    # reason-a has 32k; fast-b (64k) is the smallest larger window, even though it is a lower tier.
    assert outcomes(proxy.records()[0]) == [("reason-a", "context_length"), ("fast-b", "ok")]


async def test_context_length_with_no_larger_model_reaches_the_client(proxy: RunningProxy) -> None:
    proxy.simulator.inject(Fault("context_length", model="oracle-b"))
    response = await post(proxy, chat_body(model="oracle-b"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


async def test_a_prompt_too_long_for_every_window_is_sent_once_to_the_largest(proxy_factory: Any) -> None:
    data = make_config_data()
    data["limits"]["max_body_bytes"] = 2_000_000
    proxy = await proxy_factory(config_data=data)
    response = await post(proxy, chat_body("word " * 200_000))  # about 250k tokens; the largest window is 200k
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert outcomes(proxy.records()[0]) == [("oracle-b", "context_length")]
    assert len(proxy.simulator.received) == 1


async def test_a_model_the_provider_does_not_serve_is_cooled_and_escalated(proxy: RunningProxy) -> None:
    proxy.simulator.inject(Fault("status", model="fast-a", status=404))
    response = await post(proxy, chat_body(model="fast-a"))
    assert response.status_code == 200
    assert outcomes(proxy.records()[0]) == [("fast-a", "model_unavailable"), ("reason-a", "ok")]
    assert proxy.state.cooldowns.is_cooling("fast-a")


async def test_the_router_leaves_a_cooling_model_alone_for_new_requests(proxy: RunningProxy) -> None:
    picked = (await post(proxy, chat_body("first question"))).headers["x-optmod-model"]
    proxy.simulator.inject(Fault("status", model=picked, status=429, retry_after=60))
    escalated = await post(proxy, chat_body("second question"))
    assert escalated.headers["x-optmod-attempts"] == "2"
    calls_before = sum(1 for r in proxy.simulator.received if r.model == picked)
    fresh = await post(proxy, chat_body("third question"))  # a new session the router would send to `picked`
    assert fresh.status_code == 200 and fresh.headers["x-optmod-attempts"] == "1"
    assert fresh.headers["x-optmod-model"] != picked
    assert sum(1 for r in proxy.simulator.received if r.model == picked) == calls_before


async def test_every_tier_failing_answers_502_without_retry(proxy: RunningProxy) -> None:
    proxy.simulator.inject(Fault("status", status=500, times=10))
    response = await post(proxy, chat_body(model="fast-a"))
    assert response.status_code == 502
    assert response.headers["x-should-retry"] == "false"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "upstream_error"
    record = proxy.records()[0]
    assert [m for m, _ in outcomes(record)] == ["fast-a", "reason-a", "oracle-a", "oracle-b"]
    assert record["status"] == 502 and record["ok"] is False


async def test_every_try_rate_limited_answers_429_with_when_to_come_back(proxy: RunningProxy) -> None:
    proxy.simulator.inject(Fault("status", status=429, times=10, retry_after=7))
    response = await post(proxy, chat_body(model="fast-a", stream=True))
    assert response.status_code == 429
    assert response.headers["x-should-retry"] == "false"
    assert response.headers["retry-after"] == "7"  # the soonest of the tried models' cooldowns, rounded up
    assert response.json()["error"]["type"] == "rate_limit_error"


async def test_caller_errors_pass_through_unchanged(proxy: RunningProxy) -> None:
    proxy.simulator.inject(Fault("status", model="fast-a", status=422))
    response = await post(proxy, chat_body(model="fast-a"))
    assert response.status_code == 422
    assert len(proxy.simulator.received) == 1, "a caller error must not be retried elsewhere"
    assert proxy.records()[0]["attempts"][0]["outcome"] == "client_error"


async def test_no_api_key_in_any_log_error_or_response(proxy: RunningProxy) -> None:
    proxy.simulator.inject(Fault("status", status=500, times=10))
    bodies = [(await post(proxy, chat_body(model="fast-a"))).content]
    bodies.append((await post(proxy, chat_body(model="fast-a", stream=True))).content)
    bodies.append((await post(proxy, {"messages": "nope"})).content)
    async with httpx.AsyncClient() as http:
        bodies.append((await http.get(f"{proxy.root}/optmod/status")).content)
    assert proxy.simulator.received[0].headers["authorization"] == f"Bearer {FAKE_KEY}", (
        "the key must reach the provider"
    )
    everything = b"".join(bodies) + proxy.state.log.path.read_bytes()
    assert FAKE_KEY.encode() not in everything


def test_a_key_a_provider_echoes_is_redacted_before_its_message_is_cut() -> None:
    from optmod.forwarder import _failure_message
    from optmod.proxy import MAX_ERROR_CHARS, _redact

    model = parse_config(make_config_data()).models[0]
    echoed = _failure_message(model, 400, {"message": "y" * (MAX_ERROR_CHARS - 20) + FAKE_KEY})
    assert FAKE_KEY in echoed  # the forwarder keeps the message whole, so redaction can find the key
    logged = _redact(echoed, frozenset({FAKE_KEY}), cut=MAX_ERROR_CHARS)
    assert logged is not None and len(logged) == MAX_ERROR_CHARS and FAKE_KEY[:6] not in logged
