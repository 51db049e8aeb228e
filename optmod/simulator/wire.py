"""Bytes on the wire, shaped as OpenAI sends them: completions, stream chunks and error bodies.

Nothing here does I/O; `replies.py` writes what these functions build. A stream is built as a `StreamPlan`
(the opening chunk, the content chunks, the closing chunks) so that a fault can cut it between two chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson

from optmod.simulator.answers import Answer

DONE_FRAME = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class Envelope:
    """The fields every object of one response repeats."""

    id: str
    created: int
    model: str


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """A whole SSE stream: `head` (role, or the tool call's name), `body` (one frame per chunk), `tail`."""

    head: bytes
    body: tuple[bytes, ...]
    tail: bytes


def completion_bytes(envelope: Envelope, answer: Answer, usage: dict[str, Any] | None) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    if answer.tool_call is not None:
        call = answer.tool_call
        message["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
        ]
    obj: dict[str, Any] = {
        "id": envelope.id,
        "object": "chat.completion",
        "created": envelope.created,
        "model": envelope.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": answer.finish_reason}],
    }
    if usage is not None:
        obj["usage"] = usage
    return orjson.dumps(obj)


def sse_frame(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


# A string no answer piece equals; its JSON form is cut out of a template frame.
_SLOT = "\x00piece\x00"
_SLOT_JSON = orjson.dumps(_SLOT)


class _ChunkMaker:
    """Builds `chat.completion.chunk` frames; with include_usage every chunk carries `"usage": null`."""

    def __init__(self, envelope: Envelope, include_usage: bool) -> None:
        self._base: dict[str, Any] = {
            "id": envelope.id,
            "object": "chat.completion.chunk",
            "created": envelope.created,
            "model": envelope.model,
        }
        self._include_usage = include_usage

    def frame(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        obj = {**self._base, "choices": [choice]}
        if self._include_usage:
            obj["usage"] = None
        return sse_frame(obj)

    def frames(self, delta_of: Callable[[str], dict[str, Any]], pieces: tuple[str, ...]) -> tuple[bytes, ...]:
        """One frame per piece, delta `delta_of(piece)`: cut from one template frame, so byte-identical to
        `frame` and several times cheaper (a 200-chunk stream is built on every benchmark request)."""
        prefix, suffix = self.frame(delta_of(_SLOT)).split(_SLOT_JSON)
        return tuple(b"".join((prefix, orjson.dumps(piece), suffix)) for piece in pieces)

    def usage_frame(self, usage: dict[str, Any]) -> bytes:
        return sse_frame({**self._base, "choices": [], "usage": usage})


def content_delta(piece: str) -> dict[str, Any]:
    return {"content": piece}


def arguments_delta(piece: str) -> dict[str, Any]:
    return {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}


def stream_plan(envelope: Envelope, answer: Answer, usage: dict[str, Any] | None) -> StreamPlan:
    """The stream OpenAI would send; the usage chunk only when `usage` is given (the client asked for it)."""
    maker = _ChunkMaker(envelope, include_usage=usage is not None)
    call = answer.tool_call
    if call is None:
        head = maker.frame({"role": "assistant", "content": "", "refusal": None})
        body = maker.frames(content_delta, answer.pieces)
    else:
        opening = {"index": 0, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        head = maker.frame({"role": "assistant", "content": None, "tool_calls": [opening], "refusal": None})
        body = maker.frames(arguments_delta, answer.pieces)
    tail = maker.frame({}, answer.finish_reason)
    if usage is not None:
        tail += maker.usage_frame(usage)
    return StreamPlan(head=head, body=body, tail=tail + DONE_FRAME)


# OpenAI's `type` and `code` for the statuses a provider answers with; others fall back by class (4xx / 5xx).
ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", "timeout"),
    409: ("conflict", None),
    413: ("invalid_request_error", "request_too_large"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "gateway_timeout"),
    529: ("server_error", "overloaded"),
}


def error_bytes(message: str, type_: str, param: str | None = None, code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def status_error_bytes(status: int) -> bytes:
    """The OpenAI error body a provider sends with `status`."""
    type_, code = ERROR_KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return error_bytes(f"Simulated upstream error: {status_phrase(status)}.", type_, None, code)


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def html_error_page(status: int) -> bytes:
    """A bare error page like the ones load balancers and gateways send instead of JSON."""
    title = f"{status} {status_phrase(status)}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        f"<hr><center>simulated-gateway</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def context_length_bytes(context_window: int, prompt_tokens: int) -> bytes:
    message = (
        f"This model's maximum context length is {context_window} tokens. However, your messages resulted in "
        f"{prompt_tokens} tokens. Please reduce the length of the messages."
    )
    return error_bytes(message, "invalid_request_error", "messages", "context_length_exceeded")
