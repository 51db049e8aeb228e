"""The regex feature extractor."""

from __future__ import annotations

from typing import Any

import pytest

from optmod.features import extract_features


def body(content: Any, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], **extra}


@pytest.mark.parametrize(
    ("prompt", "task"),
    [
        ("```python\ndef f(x):\n    return x\n```\nwhy does this fail?", "code"),
        ("Refactor this function and add unit tests", "code"),
        ("Solve the equation 3x + 5 = 20", "math"),
        ("What is the probability of two heads in three coin flips?", "math"),
        ("Explain why the Roman empire declined, and compare it with Han China", "reasoning"),
        ("Write a poem about autumn leaves", "creative"),
        ("Summarize the key points of this article for me", "summarization"),
        ("Translate 'good morning' into French", "translation"),
        ("hello!", "chat"),
    ],
)
def test_task_types(prompt: str, task: str) -> None:
    assert extract_features(body(prompt)).task_type == task


def test_tool_use_when_tools_are_offered_and_nothing_else_matches() -> None:
    features = extract_features(body("what's the weather in Paris", tools=[{"type": "function"}]))
    assert features.task_type == "tool_use" and features.has_tools


def test_difficulty_orders_trivial_below_hard() -> None:
    easy = extract_features(body("hi")).difficulty
    hard = extract_features(
        body(
            "Prove rigorously that the algorithm is correct, derive its asymptotic complexity and handle "
            "every edge case of the distributed, concurrent version step by step."
        )
    ).difficulty
    assert 0 <= easy < 0.2 < 0.6 <= hard <= 1


def test_languages() -> None:
    assert extract_features(body("请解释一下快速排序的原理")).natural_language == "zh"
    assert extract_features(body("Объясни, пожалуйста, как работает быстрая сортировка")).natural_language == "ru"
    assert extract_features(body("explain quicksort")).natural_language == "en"
    code = extract_features(body("```rust\nfn main() {}\n```\nwhy won't this compile?"))
    assert code.programming_language == "rust"
    assert extract_features(body("write a bash script with cargo build")).task_type == "code"


def test_sizes_images_turns_and_query() -> None:
    parts = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "data:x"}}]
    request = {
        "messages": [
            {"role": "system", "content": "s" * 400},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "a" * 400},
            {"role": "user", "content": parts},
        ],
        "max_tokens": 50,
        "response_format": {"type": "json_object"},
    }
    features = extract_features(request)
    assert features.turns == 2 and features.message_count == 4
    assert features.has_images and features.image_count == 1
    assert features.estimated_tokens == (400 + 5 + 400 + 4) // 4 + 765
    assert features.query == "look" and features.max_output_tokens == 50 and features.wants_json


def test_garbage_messages_do_not_crash() -> None:
    features = extract_features({"messages": [None, 5, {"role": "user"}]})
    assert features.task_type == "chat" and features.estimated_tokens == 0
