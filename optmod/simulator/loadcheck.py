"""How much load the simulator takes: `python -m optmod.simulator.loadcheck [--stream] [--chunks 200]`.

Starts `python -m optmod.simulator` in its own process, sends `--requests` chat requests from `--concurrency`
keep-alive connections, and prints requests per second, latency percentiles, and the server process's CPU
time per request (read from /proc, so Linux only), the figure that says whether the simulator or the client
is the bottleneck. The client is plain aiohttp in this process: on a small machine it saturates first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import orjson

WARMUP_PER_CONNECTION = 20
START_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu_us: float | None  # server CPU time per request

    def describe(self) -> str:
        cpu = f", server CPU {self.server_cpu_us:.0f} us/request" if self.server_cpu_us is not None else ""
        rate = self.requests / self.seconds
        return f"{self.requests} requests in {self.seconds:.2f} s = {rate:.0f} req/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms{cpu}"


def process_cpu_s(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime are fields 14 and 15 of /proc/PID/stat; fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request_body(stream: bool) -> bytes:
    messages = [
        {"role": "system", "content": "You are a helpful assistant. " * 30},
        {"role": "user", "content": "Summarise the routing decision in one paragraph. " * 4},
    ]
    body = {"model": "bench-model", "messages": messages, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


async def drive(url: str, body: bytes, connections: int, per_connection: int) -> list[float]:
    latencies: list[float] = []
    headers = {"Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in range(per_connection):
            began = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"the simulator answered {response.status}")
            latencies.append(time.perf_counter() - began)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    return latencies


async def wait_until_serving(url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the simulator did not start") from None
                await asyncio.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_load(requests: int, concurrency: int, chunks: int, stream: bool) -> LoadResult:
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "optmod.simulator", "--port", str(port), "--chunks", str(chunks),
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_until_serving(f"{base}/v1/models")
        url, body = f"{base}/v1/chat/completions", request_body(stream)
        await drive(url, body, concurrency, WARMUP_PER_CONNECTION)
        cpu_before = process_cpu_s(server.pid)
        began = time.perf_counter()
        latencies = sorted(await drive(url, body, concurrency, max(requests // concurrency, 1)))
        seconds = time.perf_counter() - began
        cpu_after = process_cpu_s(server.pid)
    finally:
        server.terminate()
        await server.wait()
    cpu_us = None
    if cpu_before is not None and cpu_after is not None:
        cpu_us = (cpu_after - cpu_before) / len(latencies) * 1e6
    return LoadResult(
        requests=len(latencies),
        seconds=seconds,
        p50_ms=latencies[len(latencies) // 2] * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000,
        server_cpu_us=cpu_us,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optmod.simulator.loadcheck", description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--chunks", type=int, default=20, help="answer length in one-token stream chunks")
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(run_load(args.requests, args.concurrency, args.chunks, args.stream))
    mode = "stream" if args.stream else "non-stream"
    print(f"simulator, {mode}, {args.chunks} chunks, c={args.concurrency}: {result.describe()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
