"""The tool_result_compressor mutator: which messages it touches, what it reports, and that it keeps caches valid.

Tool outputs come from the real corpus in tests/corpus/tool_outputs/ (see its index.json).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import make_config_data

from bench.compressor_bench import CORPUS
from optmod.compression import compress_output
from optmod.config import Config, parse_config
from optmod.mutators import MUTATORS, MutatorPipeline
from optmod.mutators.tool_result_compressor import CompressionMemo, ToolResultCompressorMutator

DIFF = (CORPUS / "git" / "git_diff_stat_patch_jq.txt").read_text()
PYTEST_RUN = (CORPUS / "build" / "pytest_more_itertools.txt").read_text()
LISTING = (CORPUS / "listing" / "ls_la_site_packages.txt").read_text()
PIP_JSON = (CORPUS / "unchanged" / "pip_list_json.txt").read_text()


def make_config(**compressor: Any) -> Config:
    return parse_config(make_config_data(compressor={"enabled": True, "min_chars": 800, **compressor}))


@pytest.fixture
def mutator() -> ToolResultCompressorMutator:
    return ToolResultCompressorMutator(make_config())


@pytest.fixture
def model() -> Any:
    return make_config().models[0]


def tool_call(call_id: str, command: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": "shell", "arguments": json.dumps({"cmd": command})},
            }
        ],
    }


def tool_result(call_id: str, content: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def conversation(turns: int) -> dict[str, Any]:
    """An agent session: each turn runs a command and gets its real output back as a tool message."""
    outputs = [("git diff", DIFF), ("pytest -v", PYTEST_RUN), ("ls -la", LISTING), ("pip list", PIP_JSON)]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": "Fix the failing tests."},
    ]
    for n in range(turns):
        command, output = outputs[n % len(outputs)]
        messages += [tool_call(f"call_{n}", command), tool_result(f"call_{n}", output)]
    return {
        "model": "optmod-router",
        "messages": messages,
        "tools": [{"type": "function", "function": {"name": "shell"}}],
    }


def test_the_name_table_builds_the_mutator() -> None:
    pipeline = MutatorPipeline(make_config(), ["tool_result_compressor"])
    assert isinstance(pipeline.mutators[0], ToolResultCompressorMutator)
    assert MUTATORS["tool_result_compressor"] is ToolResultCompressorMutator


def test_tool_results_shrink_and_the_rest_is_shared(mutator: ToolResultCompressorMutator, model: Any) -> None:
    body = conversation(3)
    outcome = mutator.apply(body, model)
    assert outcome.applied
    before, after = body["messages"], outcome.body["messages"]
    for old, new in zip(before, after, strict=True):
        if old["role"] == "tool":
            assert len(new["content"]) < len(old["content"]) * (0.8 if old["content"] is DIFF else 0.5)
            assert new["tool_call_id"] == old["tool_call_id"]
        else:
            assert new is old
    assert outcome.body["tools"] is body["tools"]


def test_the_input_body_is_never_changed(mutator: ToolResultCompressorMutator, model: Any) -> None:
    body = conversation(4)
    snapshot = copy.deepcopy(body)
    mutator.apply(body, model)
    assert body == snapshot


def test_same_conversation_twice_gives_identical_bytes(mutator: ToolResultCompressorMutator, model: Any) -> None:
    first = mutator.apply(conversation(4), model).body
    second = mutator.apply(conversation(4), model).body
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_earlier_messages_stay_byte_identical_as_the_conversation_grows(
    mutator: ToolResultCompressorMutator, model: Any
) -> None:
    short = mutator.apply(conversation(2), model).body["messages"]
    longer = conversation(6)
    longer["messages"].insert(len(longer["messages"]), {"role": "user", "content": "and now?"})
    grown = mutator.apply(longer, model).body["messages"]
    assert len(grown) > len(short)
    for old, new in zip(short, grown[: len(short)], strict=True):
        assert json.dumps(old) == json.dumps(new)
    # The same output later in the conversation compresses to the same bytes as it did earlier.
    assert grown[3]["content"] == grown[3 + 8]["content"] == short[3]["content"]


@pytest.mark.parametrize("role", ["user", "system", "assistant"])
def test_only_tool_results_are_touched(mutator: ToolResultCompressorMutator, model: Any, role: str) -> None:
    body = {"messages": [{"role": role, "content": DIFF}]}
    outcome = mutator.apply(body, model)
    assert outcome.body is body
    assert not outcome.applied
    assert outcome.detail == {}


def test_legacy_function_results_are_compressed(mutator: ToolResultCompressorMutator, model: Any) -> None:
    body = {"messages": [{"role": "function", "name": "shell", "content": PYTEST_RUN}]}
    outcome = mutator.apply(body, model)
    assert outcome.applied
    assert "FAILED" in outcome.body["messages"][0]["content"]
    assert len(outcome.body["messages"][0]["content"]) < len(PYTEST_RUN)


def test_text_parts_are_compressed_and_other_parts_kept(mutator: ToolResultCompressorMutator, model: Any) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    parts = [{"type": "text", "text": LISTING}, image, {"type": "text", "text": "exit code 0"}]
    body = {"messages": [tool_result("c1", parts)]}
    outcome = mutator.apply(body, model)
    new_parts = outcome.body["messages"][0]["content"]
    assert outcome.applied
    assert len(new_parts[0]["text"]) < len(LISTING) / 2
    assert new_parts[1] is image
    assert new_parts[2] is parts[2]


def test_details_count_the_tool_tokens_before_and_after(mutator: ToolResultCompressorMutator, model: Any) -> None:
    body = conversation(2)
    outcome = mutator.apply(body, model)
    chars_before = len(DIFF) + len(PYTEST_RUN)
    chars_after = sum(len(m["content"]) for m in outcome.body["messages"] if m["role"] == "tool")
    assert outcome.detail == {"tokens_before": -(-chars_before // 4), "tokens_after": -(-chars_after // 4)}


def test_short_and_json_results_pass_unchanged_but_are_counted(
    mutator: ToolResultCompressorMutator, model: Any
) -> None:
    body = {"messages": [tool_result("a", "ok\n"), tool_result("b", PIP_JSON)]}
    outcome = mutator.apply(body, model)
    assert outcome.body is body
    assert not outcome.applied
    tokens = -(-(len("ok\n") + len(PIP_JSON)) // 4)
    assert outcome.detail == {"tokens_before": tokens, "tokens_after": tokens}


def test_min_chars_comes_from_the_config(model: Any) -> None:
    body = {"messages": [tool_result("a", DIFF)]}
    assert ToolResultCompressorMutator(make_config(min_chars=len(DIFF))).apply(body, model).applied
    assert not ToolResultCompressorMutator(make_config(min_chars=len(DIFF) + 1)).apply(body, model).applied


def test_the_pipeline_skips_it_when_the_runtime_toggle_is_off(model: Any) -> None:
    pipeline = MutatorPipeline(make_config(), ["tool_result_compressor"])
    body = conversation(1)
    assert pipeline.apply(body, model).applied == ("tool_result_compressor",)
    skipped = pipeline.apply(body, model, disabled=frozenset({"tool_result_compressor"}))
    assert skipped.body is body
    assert skipped.applied == ()


def test_bodies_without_a_message_list_pass_through(mutator: ToolResultCompressorMutator, model: Any) -> None:
    for body in ({"prompt": "hi"}, {"messages": "not a list"}, {"messages": [None, 3, {"role": "tool"}]}):
        outcome = mutator.apply(body, model)
        assert outcome.body is body
        assert not outcome.applied


def test_the_memo_returns_what_the_pure_function_returns_and_stays_within_budget() -> None:
    texts = [DIFF, PYTEST_RUN, LISTING]
    budget = len(DIFF) + len(compress_output(DIFF, 800).text) + 10
    memo = CompressionMemo(min_chars=800, budget_chars=budget)
    for text in texts + texts:
        assert memo.compress(text) == compress_output(text, 800).text
    assert len(memo) == 1  # each new output pushed the oldest out; the last one fits alone
    assert memo.compress("short") == "short" and len(memo) == 1


def test_an_output_larger_than_the_budget_is_compressed_but_not_remembered() -> None:
    memo = CompressionMemo(min_chars=800, budget_chars=1000)
    assert memo.compress(PYTEST_RUN) == compress_output(PYTEST_RUN, 800).text
    assert len(memo) == 0


def test_crlf_and_empty_outputs_are_safe(mutator: ToolResultCompressorMutator, model: Any) -> None:
    windows = PYTEST_RUN.replace("\n", "\r\n")
    body = {"messages": [tool_result("a", ""), tool_result("b", windows), tool_result("c", None)]}
    outcome = mutator.apply(body, model)
    texts = [m["content"] for m in outcome.body["messages"]]
    assert texts[0] == "" and texts[2] is None
    assert "FAILED" in texts[1] and len(texts[1]) <= len(windows)
    assert outcome.detail["tokens_before"] == -(-len(windows) // 4)


def test_crlf_output_compresses_like_its_lf_twin() -> None:
    windows = PYTEST_RUN.replace("\n", "\r\n")
    assert compress_output(windows, 800).text == compress_output(PYTEST_RUN, 800).text
