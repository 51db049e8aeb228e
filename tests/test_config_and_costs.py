"""config.yaml validation, the cost arithmetic, usage parsing, the log file, and the thinking_mode mutator."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from conftest import make_config_data

from optmod.config import ConfigError, load_config, parse_config
from optmod.forwarder import parse_usage
from optmod.log import LogRecord, RequestLog, read_records
from optmod.mutators import MUTATORS, MutatorPipeline, UnknownMutatorError
from optmod.registry import Usage, call_cost


def test_the_shipped_config_is_valid_and_has_the_reference_pool() -> None:
    config = load_config()
    assert len(config.models) == 10
    assert {m.tier for m in config.models} == {0, 1, 2}
    assert {m.api_key_env for m in config.models} == {"DEEPSEEK_API_KEY", "OPENROUTER_API_KEY"}
    assert config.router == "perf_router"
    assert config.primary_model in {m.name for m in config.models}
    assert config.session_pin_hard_window_s == 300 and config.session_pin_soft_window_s == 1800


def test_a_config_that_leaves_settings_out_gets_the_shipped_config_values() -> None:
    """Leaving a block out of config.yaml must not quietly change routing or turn the compressor off."""
    shipped = load_config()
    minimal = parse_config({"primary_model": shipped.primary_model, "models": [m.model_dump() for m in shipped.models]})
    differing = [name for name in type(shipped).model_fields if getattr(minimal, name) != getattr(shipped, name)]
    assert differing == []


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"primary_model": "nope"}, "primary_model 'nope' is not in models"),
        ({"router": 5}, "router: Input should be a valid string"),
        ({"limits": {"max_attempts": 0}}, "limits.max_attempts"),
        ({"unknown_key": 1}, "unknown_key: Extra inputs are not permitted"),
        ({"session_pin_hard_window_s": 2000}, "session_pin_soft_window_s must not be shorter"),
        ({"session_store": {"kind": "redis"}}, "kind 'redis' needs redis_url"),
    ],
)
def test_invalid_config_names_the_field_and_reason(change: dict[str, object], names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(make_config_data(**change))
    assert names in str(caught.value)


def test_invalid_model_fields_are_named() -> None:
    data = make_config_data()
    data["models"][2] = {**data["models"][2], "tier": 7, "context_window": -1}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    message = str(caught.value)
    assert "models.2.tier" in message and "models.2.context_window" in message


def test_duplicate_models_and_bad_yaml(tmp_path: Path) -> None:
    data = make_config_data()
    data["models"].append(data["models"][0])
    with pytest.raises(ConfigError, match="listed twice"):
        parse_config(data)
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")


def test_cost_prices_cached_and_written_tokens_separately() -> None:
    model = load_config().model("anthropic/claude-sonnet-4.6")
    assert model is not None
    usage = Usage(prompt_tokens=10_000, completion_tokens=1_000, cached_tokens=6_000, cache_write_tokens=2_000)
    expected = (2_000 * 3.0 + 6_000 * 0.3 + 2_000 * 3.75 + 1_000 * 15.0) / 1e6
    assert call_cost(model, usage) == pytest.approx(expected)
    uncached = call_cost(model, Usage(prompt_tokens=10_000, completion_tokens=1_000))
    assert uncached == pytest.approx((10_000 * 3.0 + 1_000 * 15.0) / 1e6)


@pytest.mark.parametrize(
    ("raw", "cached", "written"),
    [
        (
            {
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "prompt_cache_hit_tokens": 64,
                "prompt_cache_miss_tokens": 36,
            },
            64,
            0,
        ),  # DeepSeek
        ({"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 32}}, 32, 0),
        (
            {
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "cost": 0.01,
                "prompt_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 50},
            },
            10,
            50,
        ),  # OpenRouter
        (
            {
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "cache_read_input_tokens": 7,
                "cache_creation_input_tokens": 9,
            },
            7,
            9,
        ),  # Anthropic-style
        ({"prompt_tokens": 100, "completion_tokens": 5}, 0, 0),
    ],
)
def test_usage_parsing_across_providers(raw: dict[str, object], cached: int, written: int) -> None:
    usage = parse_usage(raw)
    assert usage == Usage(prompt_tokens=100, completion_tokens=5, cached_tokens=cached, cache_write_tokens=written)
    assert parse_usage(None) is None


def test_log_lines_are_ascii_json_and_corrupt_lines_are_counted(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "log.jsonl")
    seen: list[dict[str, object]] = []
    log.subscribe(seen.append)
    log.append(LogRecord(ts=1.0, request_id="a", status=200, ok=True, latency_ms=1.0, reason="naïve 😀"))
    with open(log.path, "ab") as handle:
        handle.write(b'{"torn": \n')
        handle.write(b"[1, 2]\n")
    log.append(LogRecord(ts=2.0, request_id="b", status=502, ok=False, latency_ms=2.0))
    raw = log.path.read_bytes()
    assert raw.isascii()
    result = read_records(log.path)
    assert [r["request_id"] for r in result.records] == ["a", "b"]
    assert result.corrupt_lines == 2
    assert result.records[0]["reason"] == "naïve 😀" and result.records[0]["v"] == 1
    assert orjson.loads(orjson.dumps(seen)) == result.records, "listeners see what the file holds"
    log.clear()
    assert read_records(log.path).records == []
    log.close()


def test_log_appends_from_several_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    children = []
    for worker in range(4):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            log = RequestLog(path)
            for i in range(300):
                log.append(
                    LogRecord(
                        ts=float(i), request_id=f"{worker}-{i}", status=200, ok=True, latency_ms=1.0, reason="x" * 3000
                    )
                )
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    lines = path.read_bytes().splitlines()
    assert len(lines) == 1200
    assert all(orjson.loads(line)["reason"] == "x" * 3000 for line in lines)


def test_mutator_table_is_complete_and_unknown_names_fail() -> None:
    config = parse_config(make_config_data())
    pipeline = MutatorPipeline(config, list(MUTATORS))
    assert [m.name for m in pipeline.mutators] == list(MUTATORS)
    with pytest.raises(UnknownMutatorError, match="valid mutators"):
        MutatorPipeline(config, ["nope"])


def test_thinking_mode_is_deterministic_and_leaves_the_input_alone() -> None:
    config = parse_config(make_config_data())
    thinker = next(m for m in config.models if m.supports_thinking)
    plain = next(m for m in config.models if not m.supports_thinking)
    pipeline = MutatorPipeline(config, ["thinking_mode"])
    body = {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}
    snapshot = orjson.dumps(body)
    once = pipeline.apply(body, thinker)
    twice = pipeline.apply(body, thinker)
    assert orjson.dumps(body) == snapshot, "a mutator must not change its input"
    assert once.body == twice.body and once.applied == ("thinking_mode",)
    assert once.body["messages"][0]["content"] == "/think\nbe brief"
    assert pipeline.apply(body, plain).body is body
    already = {"messages": [{"role": "user", "content": "/no_think hi"}]}
    assert pipeline.apply(already, thinker).applied == ()
