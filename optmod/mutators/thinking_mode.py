"""thinking_mode: asks a thinking-capable model to reason first, by prepending `/think` to the system prompt.

Models that understand the soft switch (`supports_thinking: true`) get `/think` at the start of the first
system message, or a new `/think` system message when there is none. The rewrite depends only on the model
and the original messages, so every turn of a conversation gets the same prefix and the cache stays warm.
A request that already carries `/think` or `/no_think` is left as the caller wrote it.
"""

from __future__ import annotations

from typing import Any

from optmod.config import ModelConfig
from optmod.features import message_text
from optmod.mutators.base import Mutation, Mutator

THINK = "/think"
_SWITCHES = ("/think", "/no_think")


class ThinkingModeMutator(Mutator):
    name = "thinking_mode"

    def apply(self, body: dict[str, Any], model: ModelConfig) -> Mutation:
        messages = body.get("messages")
        if not model.supports_thinking or not isinstance(messages, list) or _has_switch(messages):
            return Mutation(body=body, applied=False)
        first = messages[0] if messages else None
        if isinstance(first, dict) and first.get("role") == "system" and isinstance(first.get("content"), str):
            rewritten = [{**first, "content": f"{THINK}\n{first['content']}"}, *messages[1:]]
        else:
            rewritten = [{"role": "system", "content": THINK}, *messages]
        return Mutation(body={**body, "messages": rewritten}, applied=True)


def _has_switch(messages: list[Any]) -> bool:
    for message in messages:
        if isinstance(message, dict) and message.get("role") in ("system", "user"):
            text = message_text(message.get("content"))
            if any(switch in text for switch in _SWITCHES):
                return True
    return False
