"""tool_result_compressor: shrinks tool results (diffs, test runs, listings, logs) before they reach the model.

Only tool results are touched: messages with role `tool` or the legacy `function`, whose content is a string
or a list of text parts. Each text is passed to `optmod.compression.compress_output`, a pure function of that
text alone, so a tool message compresses to the same bytes in every later turn and the provider's cached
prefix stays valid. The input body is never changed; untouched messages are shared with the new body.

An agent resends every earlier tool result on every turn, so the mutator remembers what it computed (up to
`MEMO_CHARS` characters): a long conversation pays for compressing each output once, not once per turn. The
memo is only a shortcut to the same pure function, so it cannot change a byte of the output.
"""

from __future__ import annotations

from typing import Any

from optmod.compression import compress_output
from optmod.config import Config, ModelConfig
from optmod.features import CHARS_PER_TOKEN
from optmod.mutators.base import Mutation, Mutator

TOOL_ROLES = ("tool", "function")
# The memo's budget in characters of tool output remembered (keys and values): tens of MB at most.
MEMO_CHARS = 8_000_000


class CompressionMemo:
    """A bounded memo of `compress_output` for one mutator: the oldest entries go first when it is full."""

    def __init__(self, min_chars: int, budget_chars: int = MEMO_CHARS) -> None:
        self.min_chars = min_chars
        self.budget_chars = budget_chars
        self._results: dict[str, str] = {}
        self._chars = 0

    def compress(self, text: str) -> str:
        if len(text) < self.min_chars:
            return text  # below the threshold nothing changes: not worth a memo slot
        cached = self._results.get(text)
        if cached is None:
            cached = compress_output(text, self.min_chars).text
            self._remember(text, cached)
        return cached

    def _remember(self, text: str, result: str) -> None:
        size = len(text) + len(result)
        if size > self.budget_chars:
            return
        while self._results and self._chars + size > self.budget_chars:
            oldest = next(iter(self._results))
            self._chars -= len(oldest) + len(self._results.pop(oldest))
        self._results[text] = result
        self._chars += size

    def __len__(self) -> int:
        return len(self._results)


class ToolResultCompressorMutator(Mutator):
    """Applies the compression filters to every tool result of a chat body."""

    name = "tool_result_compressor"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.memo = CompressionMemo(config.compressor.min_chars)

    def apply(self, body: dict[str, Any], model: ModelConfig) -> Mutation:
        messages = body.get("messages")
        if not isinstance(messages, list):
            return Mutation(body=body, applied=False)
        chars_before = chars_after = 0
        seen_tool_result = False
        rewritten: list[Any] = []
        for message in messages:
            new, before, after = self._compress_message(message)
            seen_tool_result = seen_tool_result or before is not None
            chars_before += before or 0
            chars_after += after or 0
            rewritten.append(new)
        if not seen_tool_result:
            return Mutation(body=body, applied=False)
        detail = {"tokens_before": _tokens(chars_before), "tokens_after": _tokens(chars_after)}
        changed = any(new is not old for new, old in zip(rewritten, messages, strict=True))
        if not changed:
            return Mutation(body=body, applied=False, detail=detail)
        return Mutation(body={**body, "messages": rewritten}, applied=True, detail=detail)

    def _compress_message(self, message: Any) -> tuple[Any, int | None, int | None]:
        """The message (a new dict only when something shrank) and its text length before and after."""
        if not isinstance(message, dict) or message.get("role") not in TOOL_ROLES:
            return message, None, None
        content = message.get("content")
        if isinstance(content, str):
            text = self.memo.compress(content)
            new = message if text == content else {**message, "content": text}
            return new, len(content), len(text)
        if isinstance(content, list):
            parts, before, after = self._compress_parts(content)
            new = message if parts is None else {**message, "content": parts}
            return new, before, after
        return message, 0, 0

    def _compress_parts(self, parts: list[Any]) -> tuple[list[Any] | None, int, int]:
        before = after = 0
        out: list[Any] = []
        for part in parts:
            text = part.get("text") if isinstance(part, dict) and part.get("type") == "text" else None
            if not isinstance(text, str):
                out.append(part)
                continue
            compressed = self.memo.compress(text)
            before, after = before + len(text), after + len(compressed)
            out.append(part if compressed == text else {**part, "text": compressed})
        changed = any(new is not old for new, old in zip(out, parts, strict=True))
        return (out if changed else None), before, after


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)
