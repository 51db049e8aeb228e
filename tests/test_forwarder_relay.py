"""The SSE relay passes on exactly the provider's events however the bytes are cut into reads.

A recorded-style OpenAI stream (a comment, a role chunk, content chunks with `"usage":null`, a multi-line
`data:` event, the finish chunk, the usage-only chunk and `[DONE]`) is fed to `OpenStream` in random pieces
(seeded, a bounded number of cuts), with LF and with CRLF line ends, including a CRLF or a blank-line
separator split across two reads.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from optmod.config import ModelConfig
from optmod.forwarder import OpenStream

SEEDS = range(150)
USAGE = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}


def make_model() -> ModelConfig:
    return ModelConfig(
        name="m",
        tier=0,
        base_url="http://127.0.0.1:9/v1",
        input_usd_per_mtok=1.0,
        output_usd_per_mtok=2.0,
        cached_input_usd_per_mtok=0.1,
        context_window=8000,
    )


def chunk_json(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return orjson.dumps({"id": "c1", "object": "chat.completion.chunk", "choices": [choice], "usage": None})


@dataclass(frozen=True, slots=True)
class Event:
    """One SSE event as the provider wrote it (LF line ends), and as a client that did not ask for usage gets it."""

    raw: bytes
    without_usage: bytes | None  # None: the event is dropped for such a client


def data_event(payload: bytes) -> Event:
    raw = b"data: " + payload + b"\n\n"
    return Event(raw, raw.replace(b',"usage":null', b""))


def recorded_events() -> list[Event]:
    events = [Event(b": keep-alive\n\n", b": keep-alive\n\n"), data_event(chunk_json({"role": "assistant"}))]
    events += [data_event(chunk_json({"content": f"word{i} "})) for i in range(12)]
    # One event whose data spans two lines (legal SSE: the client joins them with a newline).
    two_lines = b'data: {"id":"c1","object":"chat.completion.chunk",\ndata: "choices":[],"usage":null}\n\n'
    events.append(Event(two_lines, two_lines.replace(b',"usage":null', b"")))
    events.append(Event(b": still here\n\n", b": still here\n\n"))
    events += [data_event(chunk_json({"content": f"more{i} "})) for i in range(5)]
    events.append(data_event(chunk_json({}, finish="stop")))
    usage_only = orjson.dumps({"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": USAGE})
    events.append(Event(b"data: " + usage_only + b"\n\n", None))
    events.append(Event(b"data: [DONE]\n\n", b"data: [DONE]\n\n"))
    return events


class FakeResponse:
    """The part of `UpstreamResponse` a stream reads: its body in the given reads."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self._pieces = pieces
        self.closed = False

    async def iter_any(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece

    def close(self) -> None:
        self.closed = True


def split_at_random(stream: bytes, rng: random.Random, forced: Sequence[int]) -> list[bytes]:
    cuts = sorted({*forced, *(rng.randrange(1, len(stream)) for _ in range(rng.randrange(0, 40)))})
    bounds = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def separator_cuts(stream: bytes, rng: random.Random) -> list[int]:
    """Cut points inside a CRLF or between the two line ends of a blank line, a few of them per stream."""
    marks = [i + 1 for i in range(len(stream) - 1) if stream[i : i + 2] in (b"\r\n", b"\n\n", b"\n\r")]
    return rng.sample(marks, k=min(4, len(marks)))


async def relay_all(pieces: Sequence[bytes], wants_usage: bool) -> tuple[list[bytes], OpenStream]:
    stream = OpenStream(make_model(), FakeResponse(pieces), read_timeout_s=5.0)  # type: ignore[arg-type]
    assert await stream.read_to_commit() is None
    return [batch async for batch in stream.relay(wants_usage)], stream


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("wants_usage", [True, False], ids=["usage", "no-usage"])
async def test_relay_passes_every_event_whatever_the_reads(line_end: bytes, wants_usage: bool) -> None:
    events = recorded_events()
    sent = b"".join(e.raw for e in events).replace(b"\n", line_end)
    expected = b"".join(
        e.raw if wants_usage else e.without_usage for e in events if wants_usage or e.without_usage is not None
    )
    for seed in SEEDS:
        rng = random.Random(seed)
        pieces = split_at_random(sent, rng, separator_cuts(sent, rng))
        batches, stream = await relay_all(pieces, wants_usage)
        relayed = b"".join(batches)
        assert relayed == expected, f"seed {seed}: cut into {[len(p) for p in pieces]}"
        # Each write to the client holds whole events only, so a client never waits on half an event.
        assert all(batch.endswith(b"\n\n") for batch in batches), f"seed {seed}"
        assert stream.done, f"seed {seed}: [DONE] not seen"
        assert stream.usage is not None and stream.usage.completion_tokens == USAGE["completion_tokens"]


async def test_one_byte_reads_relay_the_same_bytes() -> None:
    events = recorded_events()
    sent = b"".join(e.raw for e in events).replace(b"\n", b"\r\n")
    batches, stream = await relay_all([sent[i : i + 1] for i in range(len(sent))], wants_usage=True)
    assert b"".join(batches) == b"".join(e.raw for e in events)
    assert stream.done
