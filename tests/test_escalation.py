"""Failure classification, the next-model policy and cooldowns, without a server."""

from __future__ import annotations

import pytest
from conftest import make_config_data

from optmod import escalation
from optmod.config import ModelConfig, parse_config
from optmod.escalation import Cooldowns, Escalation, classify_exception, classify_status, parse_retry_after
from optmod.registry import ModelRegistry
from optmod.upstream_client import (
    UpstreamConnectError,
    UpstreamDisconnectedError,
    UpstreamError,
    UpstreamProtocolError,
)


def registry() -> ModelRegistry:
    config = parse_config(make_config_data())
    return ModelRegistry(config.models, config.primary_model)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (UpstreamConnectError("refused"), escalation.CONNECT_ERROR),
        (UpstreamDisconnectedError("closed early"), escalation.CONNECTION_RESET),
        (UpstreamProtocolError("not HTTP"), escalation.SERVER_ERROR),
        (UpstreamError("other"), escalation.CONNECTION_RESET),
        (TimeoutError(), escalation.TIMEOUT),
        (ConnectionResetError(), escalation.CONNECTION_RESET),
        (OSError("no route"), escalation.CONNECT_ERROR),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v,
)
def test_transport_errors_map_to_their_class(exc: BaseException, expected: str) -> None:
    assert classify_exception(exc) == expected


def test_every_upstream_client_error_is_retryable_or_a_server_error() -> None:
    for exc_type in (UpstreamError, *UpstreamError.__subclasses__()):
        assert classify_exception(exc_type("x")) in escalation.RETRYABLE | {escalation.SERVER_ERROR}
    with pytest.raises(TypeError):
        classify_exception(ValueError("not transport"))


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (408, None, escalation.TIMEOUT),
        (409, None, escalation.CONFLICT),
        (429, {"code": "rate_limit_exceeded"}, escalation.RATE_LIMITED),
        (500, None, escalation.SERVER_ERROR),
        (502, None, escalation.SERVER_ERROR),
        (503, None, escalation.SERVER_ERROR),
        (400, {"code": "context_length_exceeded", "message": "too long"}, escalation.CONTEXT_LENGTH),
        (400, {"message": "This endpoint's maximum context length is 8192 tokens"}, escalation.CONTEXT_LENGTH),
        (413, None, escalation.CONTEXT_LENGTH),
        (400, {"message": "temperature must be <= 2"}, escalation.CLIENT_ERROR),
        (401, {"message": "bad key"}, escalation.CLIENT_ERROR),
        (404, {"message": "The model `x` does not exist"}, escalation.MODEL_UNAVAILABLE),
        (422, None, escalation.CLIENT_ERROR),
    ],
)
def test_status_classification(status: int, error: dict[str, str] | None, expected: str) -> None:
    assert classify_status(status, error) == expected


def test_retry_after_parsing() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after("-1") is None


def by_input_price(model: ModelConfig) -> float:
    return model.input_usd_per_mtok


def test_escalation_climbs_one_tier_at_a_time_then_comes_down_then_gives_up() -> None:
    pool = registry()
    policy = Escalation(pool.models, Cooldowns(), cost=by_input_price)
    assert policy.next_model(pool["fast-a"], escalation.SERVER_ERROR, ["fast-a"]).name == "reason-a"
    assert policy.next_model(pool["reason-a"], escalation.TIMEOUT, ["fast-a", "reason-a"]).name == "oracle-a"
    tried = ["fast-a", "reason-a", "oracle-a"]
    assert policy.next_model(pool["oracle-a"], escalation.SERVER_ERROR, tried).name == "oracle-b"
    # Every oracle tried: a weaker answer beats none, the nearest tier below first.
    tried.append("oracle-b")
    assert policy.next_model(pool["oracle-b"], escalation.SERVER_ERROR, tried).name == "reason-b"
    tried.append("reason-b")
    assert policy.next_model(pool["reason-b"], escalation.SERVER_ERROR, tried).name == "fast-b"
    assert policy.next_model(pool["fast-b"], escalation.SERVER_ERROR, [*tried, "fast-b"]) is None


def test_within_a_tier_the_cheapest_for_the_request_goes_first() -> None:
    pool = registry()
    dearer_first = {"reason-a": 2.0, "reason-b": 1.0}
    policy = Escalation(pool.models, Cooldowns(), cost=lambda m: dearer_first.get(m.name, 0.0))
    assert policy.next_model(pool["fast-a"], escalation.SERVER_ERROR, ["fast-a"]).name == "reason-b"


def test_escalation_skips_cooling_models() -> None:
    pool = registry()
    now = [100.0]
    cooldowns = Cooldowns(clock=lambda: now[0])
    cooldowns.cool("reason-a", 5)
    policy = Escalation(pool.models, cooldowns, cost=by_input_price)
    assert policy.next_model(pool["fast-a"], escalation.RATE_LIMITED, ["fast-a"]).name == "reason-b"
    now[0] = 105.1
    assert policy.next_model(pool["fast-a"], escalation.RATE_LIMITED, ["fast-a"]).name == "reason-a"
    assert cooldowns.snapshot() == {}


def test_context_length_goes_only_to_a_larger_window() -> None:
    pool = registry()
    policy = Escalation(pool.models, Cooldowns(), cost=by_input_price)
    # fast-a has 32k; the smallest larger window is fast-b's 64k, even though it is the same tier.
    assert policy.next_model(pool["fast-a"], escalation.CONTEXT_LENGTH, ["fast-a"]).name == "fast-b"
    assert policy.next_model(pool["reason-b"], escalation.CONTEXT_LENGTH, ["reason-b"]).name == "oracle-b"
    assert policy.next_model(pool["oracle-b"], escalation.CONTEXT_LENGTH, ["oracle-b"]) is None
