"""The simulated model's answer: deterministic text, or a well-formed tool call when the request offers tools.

Every choice is read from `Draws`: bytes of SHAKE-256 over the simulator's seed and the prompt's digest, so the
same seed and request always give the same answer, and a different prompt gives a different one. Hashing is
also far cheaper than seeding a `random.Random` per request, which matters when the simulator is under load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from optmod.simulator.usage import CHARS_PER_TOKEN, count_text_tokens

# 64 words, so that one byte (masked to 6 bits) picks a word.
VOCABULARY = (
    "the", "model", "routes", "each", "request", "to", "a", "cheaper", "tier", "when", "quality", "holds",
    "and", "climbs", "only", "if", "it", "must", "cache", "prefix", "stays", "warm", "across", "turns",
    "so", "cost", "falls", "while", "answers", "remain", "useful", "for", "agent", "tools", "stream",
    "tokens", "quickly", "under", "load", "with", "fewer", "retries", "than", "before", "latency", "drops",
    "because", "small", "models", "handle", "simple", "questions", "well", "larger", "ones", "reason",
    "about", "hard", "problems", "in", "code", "math", "plain", "words",
)  # fmt: skip
SPACED_WORDS = tuple(" " + word for word in VOCABULARY)
WORD_MASK = len(VOCABULARY) - 1
SENTENCE_WORDS = 12
MIN_OUTPUT_TOKENS = 20
MAX_OUTPUT_TOKENS = 200
# The function name and the call's framing count as tokens too, as providers bill them.
TOOL_CALL_OVERHEAD_TOKENS = 8
MAX_SCHEMA_DEPTH = 8


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON object, serialized, as OpenAI sends it


@dataclass(frozen=True, slots=True)
class Answer:
    """What the model says. `pieces` are the stream chunks: text, or the tool call's argument fragments."""

    pieces: tuple[str, ...]
    completion_tokens: int
    finish_reason: str
    tool_call: ToolCall | None = None

    @property
    def content(self) -> str | None:
        return None if self.tool_call else "".join(self.pieces)


@dataclass(frozen=True, slots=True)
class Draws:
    """The deterministic pseudo-random bytes of one request: fixed slots for single choices, then the words."""

    key: bytes

    @classmethod
    def for_prompt(cls, seed: int, digest: bytes) -> Draws:
        return cls(f"{seed}:".encode() + digest)

    def take(self, offset: int, count: int) -> bytes:
        return hashlib.shake_256(self.key).digest(offset + count)[offset:]

    def unit(self, slot: int) -> float:
        """A number in [0, 1) from the four bytes at 4 * slot."""
        return int.from_bytes(self.take(4 * slot, 4), "big") / 2**32

    def words(self, count: int) -> bytes:
        return self.take(WORDS_OFFSET, count)


# Where each choice reads its bytes: two Draws.unit slots (the delays' jitter, the answer's length), 12 bytes
# of tool call id from byte 8, the words from byte 32.
JITTER_SLOT, LENGTH_SLOT, CALL_ID_OFFSET, WORDS_OFFSET = 0, 1, 8, 32


def compose_answer(
    body: Mapping[str, Any],
    draws: Draws,
    output_tokens: int | None,
    chunk_tokens: int,
    empty: bool = False,
) -> Answer:
    """The answer to `body`: empty when asked to be, a tool call when tools are offered, JSON when the
    response_format asks for it, text otherwise."""
    if empty:
        return Answer(pieces=(), completion_tokens=0, finish_reason="stop")
    function = pick_function(body)
    if function is not None:
        return compose_tool_call(function, draws, chunk_tokens)
    text = compose_text(body, draws, output_tokens, chunk_tokens)
    json_format = requested_json(body)
    if json_format is not None:
        return compose_json(json_format, text, chunk_tokens)
    return text


def requested_limit(body: Mapping[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def compose_text(body: Mapping[str, Any], draws: Draws, output_tokens: int | None, chunk_tokens: int) -> Answer:
    count = output_tokens
    if count is None:
        span = MAX_OUTPUT_TOKENS - MIN_OUTPUT_TOKENS + 1
        count = MIN_OUTPUT_TOKENS + int(draws.unit(LENGTH_SLOT) * span)
    finish_reason = "stop"
    limit = requested_limit(body)
    if limit is not None and limit < count:
        count, finish_reason = limit, "length"
    tokens = [SPACED_WORDS[byte & WORD_MASK] for byte in draws.words(count)]
    if tokens:
        tokens[0] = tokens[0][1:].capitalize()
        for end in range(SENTENCE_WORDS - 1, count - 1, SENTENCE_WORDS):
            tokens[end] += "."
            tokens[end + 1] = tokens[end + 1].title()
        tokens[-1] += "."
    return Answer(pieces=group_tokens(tokens, chunk_tokens), completion_tokens=count, finish_reason=finish_reason)


def group_tokens(tokens: list[str], chunk_tokens: int) -> tuple[str, ...]:
    if chunk_tokens == 1:
        return tuple(tokens)
    return tuple("".join(tokens[i : i + chunk_tokens]) for i in range(0, len(tokens), chunk_tokens))


def split_text(text: str, chunk_tokens: int) -> tuple[str, ...]:
    step = CHARS_PER_TOKEN * chunk_tokens
    return tuple(text[i : i + step] for i in range(0, len(text), step))


def requested_json(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The response_format when it asks for JSON ("json_object" or "json_schema"), else None."""
    response_format = body.get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") in ("json_object", "json_schema"):
        return response_format
    return None


def compose_json(response_format: Mapping[str, Any], text: Answer, chunk_tokens: int) -> Answer:
    """A JSON answer: the schema filled in for "json_schema", the text under "answer" for "json_object"."""
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    value = fill_schema(schema, schema) if isinstance(schema, Mapping) else {"answer": text.content}
    serialized = orjson.dumps(value).decode()
    tokens = count_text_tokens(len(serialized))
    return Answer(pieces=split_text(serialized, chunk_tokens), completion_tokens=tokens, finish_reason="stop")


def pick_function(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The function to call: the one `tool_choice` names, else the first tool; None when tools are off, and
    under `auto` once the last message is a tool's result (the model answers it, so an agent's loop ends)."""
    tools = body.get("tools")
    choice = body.get("tool_choice", "auto")
    if not isinstance(tools, list) or choice == "none" or (choice == "auto" and _answers_a_tool(body)):
        return None
    functions: list[Mapping[str, Any]] = [
        tool["function"] for tool in tools if isinstance(tool, Mapping) and isinstance(tool.get("function"), Mapping)
    ]
    if not functions:
        return None
    named = choice.get("function") if isinstance(choice, Mapping) else None
    wanted = named.get("name") if isinstance(named, Mapping) else None
    return next((f for f in functions if f.get("name") == wanted), functions[0])


def _answers_a_tool(body: Mapping[str, Any]) -> bool:
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    return isinstance(last, Mapping) and last.get("role") == "tool"


def compose_tool_call(function: Mapping[str, Any], draws: Draws, chunk_tokens: int) -> Answer:
    schema = function.get("parameters")
    arguments = fill_schema(schema, schema) if isinstance(schema, Mapping) else {}
    if not isinstance(arguments, dict):
        arguments = {}
    text = orjson.dumps(arguments).decode()
    name = function.get("name")
    call_id = "call_" + draws.take(CALL_ID_OFFSET, 12).hex()
    call = ToolCall(id=call_id, name=name if isinstance(name, str) else "", arguments=text)
    tokens = count_text_tokens(len(text)) + TOOL_CALL_OVERHEAD_TOKENS
    return Answer(
        pieces=split_text(text, chunk_tokens), completion_tokens=tokens, finish_reason="tool_calls", tool_call=call
    )


def fill_schema(schema: Any, root: Any, depth: int = 0) -> Any:
    """A value that satisfies `schema` as far as a tool call needs: every required property, the right types."""
    if not isinstance(schema, Mapping) or depth > MAX_SCHEMA_DEPTH:
        return None
    if isinstance(schema.get("$ref"), str):
        return fill_schema(resolve_ref(root, schema["$ref"]), root, depth + 1)
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            typed = [o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")]
            return fill_schema((typed or options)[0], root, depth + 1)
    return VALUE_MAKERS.get(schema_type(schema), _make_string)(schema, root, depth)


def schema_type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    return "array" if "items" in schema else "string"


def resolve_ref(root: Any, ref: str) -> Any:
    """A local JSON pointer (`#/$defs/Name`) inside the tool's schema; None for anything else."""
    if not ref.startswith("#"):
        return None
    node = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        if not isinstance(node, Mapping):
            return None
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node


def _bounded_number(schema: Mapping[str, Any], preferred: float) -> float:
    value = preferred
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    if isinstance(minimum, int | float) and value < minimum:
        value = minimum
    if isinstance(maximum, int | float) and value > maximum:
        value = maximum
    return value


STRING_FORMATS = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def _make_string(schema: Mapping[str, Any], root: Any, depth: int) -> Any:
    fixed = STRING_FORMATS.get(str(schema.get("format")))
    if fixed is not None:
        return fixed
    length = schema.get("minLength")
    text = "example"
    if isinstance(length, int) and length > len(text):
        text = (text * (length // len(text) + 1))[:length]
    return text


def _make_integer(schema: Mapping[str, Any], root: Any, depth: int) -> Any:
    return int(_bounded_number(schema, 1))


def _make_number(schema: Mapping[str, Any], root: Any, depth: int) -> Any:
    return float(_bounded_number(schema, 1.5))


def _make_boolean(schema: Mapping[str, Any], root: Any, depth: int) -> Any:
    return True


def _make_null(schema: Mapping[str, Any], root: Any, depth: int) -> Any:
    return None


def _make_array(schema: Mapping[str, Any], root: Any, depth: int) -> Any:
    if schema.get("maxItems") == 0:
        return []
    count = schema.get("minItems")
    count = count if isinstance(count, int) and count > 1 else 1
    return [fill_schema(schema.get("items", {}), root, depth + 1) for _ in range(count)]


def _make_object(schema: Mapping[str, Any], root: Any, depth: int) -> Any:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = schema.get("required")
    names = [name for name in required if isinstance(name, str)] if isinstance(required, list) else []
    return {name: fill_schema(properties.get(name, {"type": "string"}), root, depth + 1) for name in names}


VALUE_MAKERS: dict[str, Callable[[Mapping[str, Any], Any, int], Any]] = {
    "string": _make_string,
    "integer": _make_integer,
    "number": _make_number,
    "boolean": _make_boolean,
    "null": _make_null,
    "array": _make_array,
    "object": _make_object,
}
