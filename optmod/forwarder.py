"""Sends a request to a provider and reads its answer: one pool of keep-alive connections per base_url.

The HTTP side is `upstream_client`, a small keep-alive HTTP/1.1 client: httpx's pool degrades badly past ~64
concurrent requests (encode/httpx#3215), and aiohttp's request machinery was a quarter of the proxy's Python
time per request.

`Forwarder.complete` does one non-streamed try; `Forwarder.open_stream` does one streamed try up to the
commit point (the first content event) and returns an `OpenStream` that relays the rest. Either returns a
`Failure` instead when the try failed in a way escalation understands; nothing here decides what to do next.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from optmod.config import LimitsSettings, ModelConfig
from optmod.escalation import (
    CLIENT_ERROR,
    CONTEXT_LENGTH,
    EMPTY,
    SERVER_ERROR,
    STREAM_ERROR,
    classify_exception,
    classify_status,
    parse_retry_after,
)
from optmod.registry import Usage
from optmod.upstream_client import ConnectionPool, UpstreamResponse, encode_headers

DONE_EVENT = b"data: [DONE]\n\n"
_EVENT_END = b"\n\n"
_NULL_USAGE = b'"usage":null'


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed try: its class, the upstream status if any, and a message safe to show (no secrets)."""

    failure: str
    status: int | None
    message: str
    retry_after: float | None = None
    # The upstream's own body and content type, kept only for a client_error that passes through unchanged.
    body: bytes | None = None
    content_type: str | None = None
    waited_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Completion:
    """A non-streamed answer: the upstream's bytes, unchanged, and what optmod read from them."""

    body: bytes
    usage: Usage | None
    content_chars: int
    waited_s: float


def parse_usage(raw: Any) -> Usage | None:
    """Usage as DeepSeek, OpenAI, OpenRouter or Anthropic-style providers report it."""
    if not isinstance(raw, Mapping):
        return None
    details = raw.get("prompt_tokens_details")
    details = details if isinstance(details, Mapping) else {}
    cached = raw.get("prompt_cache_hit_tokens") or details.get("cached_tokens") or raw.get("cache_read_input_tokens")
    written = details.get("cache_write_tokens") or raw.get("cache_creation_input_tokens")
    return Usage(
        prompt_tokens=_int(raw.get("prompt_tokens")),
        completion_tokens=_int(raw.get("completion_tokens")),
        cached_tokens=_int(cached),
        cache_write_tokens=_int(written),
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _error_object(body: bytes) -> Mapping[str, Any] | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, Mapping) else None


def _failure_message(model: ModelConfig, status: int, error: Mapping[str, Any] | None) -> str:
    detail = error.get("message") if error else None
    if isinstance(detail, str) and detail:
        # Whole: cutting it here could cut a key the provider echoed, where redaction would no longer find it.
        return f"{model.name}: HTTP {status}: {detail}"
    return f"{model.name}: HTTP {status}"


def _answer_chars(data: Mapping[str, Any]) -> int | None:
    """Characters of content in a completion, or None when it is not a completion at all."""
    choices = data.get("choices")
    if not isinstance(choices, list):
        return None
    total = 0
    for choice in choices:
        message = choice.get("message") if isinstance(choice, Mapping) else None
        if not isinstance(message, Mapping):
            continue
        for key in ("content", "reasoning_content", "refusal"):
            value = message.get(key)
            if isinstance(value, str):
                total += len(value)
        if message.get("tool_calls") or message.get("function_call"):
            total += 1
    return total


class Forwarder:
    """The pooled HTTP client side of the proxy."""

    def __init__(self, limits: LimitsSettings, environ: Mapping[str, str] = os.environ) -> None:
        self._limits = limits
        self._environ = environ
        self._pools: dict[str, ConnectionPool] = {}
        self._header_blocks: dict[tuple[str, str | None], bytes] = {}

    @property
    def limits(self) -> LimitsSettings:
        return self._limits

    def use_limits(self, limits: LimitsSettings) -> None:
        """A reloaded config's timeouts: for the connections and streams that start from now on."""
        self._limits = limits
        for pool in self._pools.values():
            pool.connect_timeout_s = limits.connect_timeout_s

    def _pool(self, base_url: str) -> ConnectionPool:
        pool = self._pools.get(base_url)
        if pool is None:
            url = base_url.rstrip("/") + "/chat/completions"
            pool = self._pools[base_url] = ConnectionPool(url, self._limits.connect_timeout_s)
        return pool

    def _headers(self, model: ModelConfig) -> bytes:
        key = self._environ.get(model.api_key_env) if model.api_key_env else None
        block = self._header_blocks.get((model.name, key))
        if block is None:
            # The client does not decompress: say so, so a provider never compresses its answer.
            headers = {"Content-Type": "application/json", "User-Agent": "optmod", "Accept-Encoding": "identity"}
            if key:
                headers["Authorization"] = f"Bearer {key}"
            block = self._header_blocks[(model.name, key)] = encode_headers(headers)
        return block

    def secrets(self, models: tuple[ModelConfig, ...]) -> frozenset[str]:
        """The API key values in use, so error paths can scrub them from anything shown."""
        values = (self._environ.get(m.api_key_env) for m in models if m.api_key_env)
        return frozenset(v for v in values if v and len(v) >= 8)

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    async def _post(self, model: ModelConfig, payload: bytes) -> UpstreamResponse:
        return await self._pool(model.base_url).post(payload, self._headers(model))

    async def complete(self, model: ModelConfig, payload: bytes, timeout_s: float) -> Completion | Failure:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                async with await self._post(model, payload) as response:
                    body = await response.read()
                    status = response.status
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    content_type = response.headers.get("Content-Type")
        except Exception as exc:
            return Failure(
                classify_exception(exc),
                None,
                f"{model.name}: {classify_exception(exc)}",
                waited_s=time.perf_counter() - started,
            )
        waited = time.perf_counter() - started
        if status >= 300:
            return _status_failure(model, status, body, retry_after, content_type, waited)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Failure(SERVER_ERROR, status, f"{model.name}: answer is not JSON", waited_s=waited)
        chars = _answer_chars(data) if isinstance(data, dict) else None
        if chars is None:
            return Failure(SERVER_ERROR, status, f"{model.name}: answer is not a chat completion", waited_s=waited)
        if chars == 0:
            return Failure(EMPTY, status, f"{model.name}: empty answer", waited_s=waited)
        return Completion(body=body, usage=parse_usage(data.get("usage")), content_chars=chars, waited_s=waited)

    async def open_stream(self, model: ModelConfig, payload: bytes, timeout_s: float) -> OpenStream | Failure:
        """Start a streamed try and read up to the first content event (the commit point)."""
        started = time.perf_counter()
        response: UpstreamResponse | None = None
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._post(model, payload)
                if response.status >= 300:
                    body = await response.read()
                    response.release()
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    return _status_failure(
                        model,
                        response.status,
                        body,
                        retry_after,
                        response.headers.get("Content-Type"),
                        time.perf_counter() - started,
                    )
                if not response.headers.get("Content-Type", "").startswith("text/event-stream"):
                    response.close()
                    return Failure(
                        SERVER_ERROR,
                        response.status,
                        f"{model.name}: answer is not an event stream",
                        waited_s=time.perf_counter() - started,
                    )
                stream = OpenStream(model, response, self._limits.read_timeout_s)
                failure = await stream.read_to_commit()
        except Exception as exc:
            if response is not None:
                response.close()
            failure_class = classify_exception(exc)
            return Failure(
                failure_class, None, f"{model.name}: {failure_class}", waited_s=time.perf_counter() - started
            )
        stream.waited_s = time.perf_counter() - started
        if failure is not None:
            response.close()
            return failure
        return stream


def _status_failure(
    model: ModelConfig,
    status: int,
    body: bytes,
    retry_after: float | None,
    content_type: str | None,
    waited: float,
) -> Failure:
    error = _error_object(body)
    failure = classify_status(status, error)
    keep = failure in (CLIENT_ERROR, CONTEXT_LENGTH) and error is not None
    return Failure(
        failure,
        status,
        _failure_message(model, status, error),
        retry_after,
        body=body if keep else None,
        content_type=content_type if keep else None,
        waited_s=waited,
    )


@dataclass(slots=True)
class _EventInfo:
    content: bool = False
    finished: bool = False
    error: Mapping[str, Any] | None = None
    usage: Usage | None = None
    usage_only: bool = False
    chars: int = 0


def inspect_event(event: bytes) -> _EventInfo:
    """What one SSE event says: content, end of answer, an error, usage. Parses the JSON (pre-commit only)."""
    info = _EventInfo()
    data = _event_data(event)
    if data is None or data == b"[DONE]":
        return info
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return info
    if not isinstance(chunk, dict):
        return info
    if isinstance(chunk.get("error"), Mapping):
        info.error = chunk["error"]
        return info
    info.usage = parse_usage(chunk.get("usage"))
    choices = chunk.get("choices")
    if isinstance(choices, list):
        info.usage_only = not choices and info.usage is not None
        for choice in choices:
            if not isinstance(choice, Mapping):
                continue
            delta = choice.get("delta")
            if isinstance(delta, Mapping):
                for key in ("content", "reasoning_content", "reasoning", "refusal"):
                    value = delta.get(key)
                    if isinstance(value, str) and value:
                        info.content = True
                        info.chars += len(value)
                if delta.get("tool_calls") or delta.get("function_call"):
                    info.content = True
                    info.chars += 1
            if choice.get("finish_reason"):
                info.finished = True
    return info


def _event_data(event: bytes) -> bytes | None:
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            return line[5:].strip()
    return None


class OpenStream:
    """A stream past (or at) its commit point: the held events, then the rest relayed as it comes."""

    def __init__(self, model: ModelConfig, response: UpstreamResponse, read_timeout_s: float) -> None:
        self.model = model
        self.response = response
        self.read_timeout_s = read_timeout_s
        self.held: list[bytes] = []
        self.usage: Usage | None = None
        self.content_chars = 0
        self.waited_s = 0.0
        self.done = False
        self._buffer = b""
        self._chunks: AsyncIterator[bytes] = response.iter_any()

    async def _next_events(self, *, all_ready: bool) -> bytes | None:
        """The next complete SSE event, or with `all_ready` every complete event buffered so far; reads until
        there is one. None at the end of the body."""
        while True:
            end = self._buffer.rfind(_EVENT_END) if all_ready else self._buffer.find(_EVENT_END)
            if end >= 0:
                ready, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
                return ready
            try:
                async with asyncio.timeout(self.read_timeout_s):
                    chunk = await anext(self._chunks)
            except StopAsyncIteration:
                return None
            # Normalised together with what is left: a CRLF split between two reads leaves its CR at the end of the
            # buffer, and normalising the new read alone glued two events into one (and hid a [DONE] behind it).
            self._buffer = (self._buffer + chunk).replace(b"\r\n", b"\n")

    async def read_to_commit(self) -> Failure | None:
        """Hold events until the first one with content; a failure before it is returned for escalation."""
        while True:
            event = await self._next_events(all_ready=False)
            if event is None:
                return Failure(EMPTY, 200, f"{self.model.name}: stream ended before any content")
            if event.startswith(DONE_EVENT[:12]):
                return Failure(EMPTY, 200, f"{self.model.name}: stream finished without content")
            info = inspect_event(event)
            if info.error is not None:
                message = info.error.get("message")
                text = message if isinstance(message, str) else "error event"
                return Failure(STREAM_ERROR, 200, f"{self.model.name}: stream error: {text[:300]}")
            self.held.append(event)
            if info.content:
                self.content_chars += info.chars
                return None

    async def relay(self, client_wants_usage: bool) -> AsyncIterator[bytes]:
        """The held events, then every later event unchanged, minus a usage chunk the client did not ask for.

        Events that arrived together leave together, in one write: one send per event cost the proxy most of
        its CPU on long streams. Raises the transport's exception if the stream breaks; the caller ends the
        response visibly.
        """
        held, self.held = self.held, []
        if held:
            yield b"".join(held if client_wants_usage else [_without_null_usage(e) for e in held])
        while (events := await self._next_events(all_ready=True)) is not None:
            batch = self._relayed(events, client_wants_usage)
            if batch:
                yield batch
            if self.done:
                return

    def _relayed(self, events: bytes, client_wants_usage: bool) -> bytes:
        """The bytes to pass on for these events, noting usage, content and the end of the stream."""
        head, tail = _split_plain_head(events)
        if not client_wants_usage:
            head = head.replace(b"," + _NULL_USAGE, b"")
        return head + self._relayed_one_by_one(tail, client_wants_usage) if tail else head

    def _relayed_one_by_one(self, events: bytes, client_wants_usage: bool) -> bytes:
        out: list[bytes] = []
        # Split as repeated find() would: each piece up to and including its blank line.
        for piece in events.split(_EVENT_END)[:-1]:
            event = piece + _EVENT_END
            if event.startswith(DONE_EVENT[:12]):
                self.done = True
                out.append(event)
                break
            if b'"usage"' in event and not _null_usage(event):
                info = inspect_event(event)
                if info.usage is not None:
                    self.usage = info.usage
                if info.usage_only and not client_wants_usage:
                    continue
            elif b'"content"' in event and b'"usage"' not in event:
                self.content_chars += _content_chars_fast(event)
            out.append(event if client_wants_usage else _without_null_usage(event))
        return b"".join(out)

    def close(self) -> None:
        # After [DONE] only the body's last bytes are left: keep the connection for the next request. Otherwise
        # close it, which tells the provider to stop generating for a client that went away.
        if self.done:
            self.response.release_at_end()
        else:
            self.response.close()


def _without_null_usage(event: bytes) -> bytes:
    """The chunk as the client would have got it had optmod not asked the provider for usage."""
    if b'"usage"' not in event:
        return event
    return event.replace(b',"usage":null', b"").replace(b', "usage": null', b"")


def _split_plain_head(events: bytes) -> tuple[bytes, bytes]:
    """The leading events that each carry exactly one `"usage":null` and nothing else of note, and the rest.

    The middle of an OpenAI-style stream asked for usage looks like this: it is relayed as one block, with no
    per-event work. A CR (left from a CRLF split between two reads, which can glue two events together) or any
    other spelling of usage sends the whole batch the slow way.
    """
    marks = [m for m in (events.find(DONE_EVENT[:12]), events.find(b'"usage":{')) if m >= 0]
    cut = events.rfind(_EVENT_END, 0, min(marks)) + 2 if marks else len(events)
    head = events[:cut]
    if cut < 2 or b"\r" in head:
        return b"", events
    if not head.count(b'"usage"') == head.count(_NULL_USAGE) == head.count(_EVENT_END):
        return b"", events
    return head, events[cut:]


def _null_usage(event: bytes) -> bool:
    """The chunk's one usage key is null (OpenAI sends that on every chunk when asked for usage): no JSON parse."""
    return event.count(b'"usage"') == 1 and (b'"usage":null' in event or b'"usage": null' in event)


def _content_chars_fast(event: bytes) -> int:
    # Only used to estimate completion tokens when a provider reports no usage: the raw length is enough.
    return max(len(event) - 120, 1)
