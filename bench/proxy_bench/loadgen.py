"""The load generator, run in its own process: `python -m bench.proxy_bench.loadgen --url URL [options]`.

A bare HTTP/1.1 client (asyncio protocol + httptools, on uvloop) costs a few tens of microseconds per request,
several times less than aiohttp or httpx, so on a 2-core machine it is not what limits the figures: each
result carries the generator's own CPU per request to show it. `--concurrency` keep-alive connections each
send one request at a time until `--requests` were sent or `--max-seconds` passed; the first `--warmup`
requests are not measured. One JSON object goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import orjson

# In-flight requests get this long after --max-seconds before they count as timed out.
DRAIN_GRACE_S = 10.0
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"loadgen: only loopback targets are allowed, not {parts.hostname}")
        return cls(parts.hostname, parts.port or 80, parts.path or "/")


def build_body(index: int, body_bytes: int, stream: bool, model: str) -> bytes:
    """A chat body whose first user message is unique per `index` (a session of its own)."""
    question = f"Conversation {index}: summarise the routing decision in one short paragraph."
    messages: list[dict[str, str]] = [{"role": "system", "content": "You are a concise assistant."}]
    if body_bytes > 0:
        # Padding as an earlier tool-free user turn, the shape of a long pasted document.
        filler = ("The quick brown fox jumps over the lazy dog near the river bank. " * (body_bytes // 64 + 1))[
            :body_bytes
        ]
        messages.append({"role": "user", "content": f"{question}\n\n{filler}"})
    else:
        messages.append({"role": "user", "content": question})
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": 256}
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


def build_request(target: Target, body: bytes, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [
        f"POST {target.path} HTTP/1.1",
        f"Host: {target.host}:{target.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


@dataclass(slots=True)
class Sample:
    latency_s: float
    ttfb_s: float
    status: int
    events: int


class ResponseReader(asyncio.Protocol):
    """One keep-alive connection; `send` writes a request and resolves when its response has been read."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Sample] | None = None
        self.sent_at = 0.0
        self.first_byte_at = 0.0
        self.events = 0
        self.tail = b""
        self.closed = False
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, hence the cast rather than a check.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed mid-response"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(exc)

    def on_headers_complete(self) -> None:
        # Read here: once the message is complete the parser has moved on and no longer knows.
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if self.first_byte_at == 0.0:
            self.first_byte_at = time.perf_counter()
        # SSE events end with a blank line; one may straddle two reads.
        joined = self.tail + body
        self.events += joined.count(b"\n\n")
        self.tail = joined[-1:]

    def on_message_complete(self) -> None:
        now = time.perf_counter()
        first = self.first_byte_at or now
        sample = Sample(now - self.sent_at, first - self.sent_at, self.parser.get_status_code(), self.events)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(sample)

    async def send(self, request: bytes) -> Sample:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.first_byte_at, self.events, self.tail = 0.0, 0, b""
        self.sent_at = time.perf_counter()
        self.transport.write(request)
        return await self.waiter


@dataclass(slots=True)
class Run:
    """Shared counters of one load run."""

    requests: list[bytes]
    total: int
    warmup: int
    deadline: float
    issued: int = 0
    errors: int = 0
    samples: list[Sample] = field(default_factory=list)
    measured_from: float = 0.0
    measuring: bool = False

    def take(self, max_seconds: float) -> int | None:
        if not self.measuring and self.issued < self.warmup and time.perf_counter() >= self.deadline:
            # The warm-up ran out of time: measure from here (requests in flight stay unmeasured).
            self.total -= self.warmup - self.issued
            self.warmup = self.issued
        if not self.measuring and self.issued == self.warmup:
            self.warmed(max_seconds)
        if self.issued >= self.total or time.perf_counter() >= self.deadline:
            return None
        self.issued += 1
        return self.issued - 1

    def warmed(self, max_seconds: float) -> None:
        # The time bound counts from the end of the warm-up, so a slow target still gets measured.
        self.measuring = True
        self.measured_from = time.perf_counter()
        self.deadline = self.measured_from + max_seconds


async def open_connection(target: Target) -> ResponseReader:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(CONNECT_TIMEOUT_S):
        _, reader = await loop.create_connection(ResponseReader, target.host, target.port)
    return reader


async def drive(target: Target, run: Run, max_seconds: float) -> None:
    reader: ResponseReader | None = None
    while (index := run.take(max_seconds)) is not None:
        try:
            if reader is None or reader.closed:
                reader = await open_connection(target)
            sample = await reader.send(run.requests[index % len(run.requests)])
        except (OSError, ConnectionError, TimeoutError, httptools.HttpParserError):
            run.errors += index >= run.warmup
            reader = None
            continue
        if index >= run.warmup:
            run.samples.append(sample)
        if not reader.keep_alive:
            assert reader.transport is not None
            reader.transport.close()
            reader = None
    if reader is not None and reader.transport is not None:
        reader.transport.close()


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(round(fraction * (len(sorted_values) - 1)), len(sorted_values) - 1)
    return sorted_values[index]


def summarise(run: Run, elapsed_s: float, cpu_s: float, timed_out: int) -> dict[str, Any]:
    ok = [s for s in run.samples if 200 <= s.status < 300]
    latencies = sorted(s.latency_s * 1000 for s in ok)
    ttfbs = sorted(s.ttfb_s * 1000 for s in ok)
    statuses: dict[str, int] = {}
    for sample in run.samples:
        statuses[str(sample.status)] = statuses.get(str(sample.status), 0) + 1
    measured = len(run.samples)
    return {
        "sent": run.issued,
        "measured": measured,
        "ok": len(ok),
        "errors": run.errors + timed_out + (measured - len(ok)),
        "statuses": statuses,
        "elapsed_s": round(elapsed_s, 4),
        "rps": round(len(ok) / elapsed_s, 2) if elapsed_s > 0 else 0.0,
        "latency_ms": {q: round(percentile(latencies, f), 4) for q, f in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))}
        | {"mean": round(sum(latencies) / len(latencies), 4) if latencies else float("nan")},
        "ttfb_ms": {q: round(percentile(ttfbs, f), 4) for q, f in (("p50", 0.5), ("p99", 0.99))},
        "events_per_response": round(sum(s.events for s in ok) / len(ok), 2) if ok else 0.0,
        "loadgen_cpu_us_per_request": round(cpu_s / max(run.issued, 1) * 1e6, 2),
    }


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    target = Target.parse(args.url)
    headers = [tuple(h.split(":", 1)) for h in args.header]
    pairs = [(name.strip(), value.strip()) for name, value in headers]
    requests = [
        build_request(target, build_body(i, args.body_bytes, args.stream, args.model), pairs)
        for i in range(args.variants)
    ]
    warmup = args.warmup if args.warmup >= 0 else max(args.concurrency, 20)
    started = time.perf_counter()
    # The warm-up gets --max-seconds too; a target too slow to finish it is measured from where it got to.
    run = Run(requests, args.requests + warmup, warmup, started + args.max_seconds)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    workers = [asyncio.ensure_future(drive(target, run, args.max_seconds)) for _ in range(args.concurrency)]
    _, pending = await asyncio.wait(workers, timeout=3 * args.max_seconds + 2 * DRAIN_GRACE_S)
    for task in pending:
        task.cancel()
    timed_out = len(pending)
    finished = time.perf_counter()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    elapsed = finished - run.measured_from
    return summarise(run, elapsed, cpu_s, timed_out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.proxy_bench.loadgen", description=__doc__)
    parser.add_argument("--url", required=True, help="a loopback chat completions URL")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1000, help="measured requests (after the warm-up)")
    parser.add_argument(
        "--warmup", type=int, default=-1, help="unmeasured requests first (default: concurrency, >= 20)"
    )
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--body-bytes", type=int, default=0, help="pad the user message to about this size")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--model", default="bench-model")
    parser.add_argument("--variants", type=int, default=1000, help="distinct conversations, sent in turn")
    parser.add_argument("--header", action="append", default=[], help="extra 'Name: value' header")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        result = runner.run(run_load(args))
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
