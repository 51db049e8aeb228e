"""What session pinning adds to a request: one `plan()` before routing plus one `record_success()` after.

Runs a stream of agent turns (many sessions, several turns each, cached tokens reported) through `SessionPins`
on each store and prints microseconds per turn (plan + record). Three SQLite variants are measured: direct
calls on the event loop with checkpoints in a worker thread (what optmod does); the same with SQLite's own
automatic checkpoint inside the commit (the stall that made it move them); and every call in a worker thread.
Redis is measured against a throwaway `redis-server` on 127.0.0.1 when the binary is installed.

    .venv/bin/python bench/pin_store_bench.py [--turns 4000] [--sessions 400]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from optmod.config import Config, load_config
from optmod.features import extract_features
from optmod.pin_stores import MemoryPinStore, PinRecord, PinStore, PinWrite, RedisPinStore, SqlitePinStore
from optmod.registry import ModelRegistry, Usage
from optmod.session_pin import SessionPins

T = TypeVar("T")


class ThreadedSqlitePinStore(PinStore):
    """The SQLite store with every call run in a worker thread: the alternative optmod measured and rejected."""

    kind = "sqlite-thread"

    def __init__(self, inner: SqlitePinStore) -> None:
        self.inner = inner

    async def get(self, session_id: str) -> PinRecord | None:
        return await asyncio.to_thread(finish_now, self.inner.get(session_id))

    async def record(self, write: PinWrite) -> None:
        await asyncio.to_thread(finish_now, self.inner.record(write))

    async def drop(self, session_id: str, model: str) -> bool:
        return await self.inner.drop(session_id, model)

    async def count_since(self, cutoff_ts: float) -> int:
        return await self.inner.count_since(cutoff_ts)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    async def close(self) -> None:
        await self.inner.close()


def auto_checkpointed(path: Path) -> SqlitePinStore:
    """The store as it would be with SQLite's default: a checkpoint every 1000 WAL pages, inside a commit."""
    store = SqlitePinStore(path, 100_000, checkpoint_every=10**9)
    store._db.execute("PRAGMA wal_autocheckpoint=1000")
    return store


def finish_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (the SQLite store's) to its end, in whatever thread calls this."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return cast(T, stop.value)
    raise RuntimeError("the coroutine suspended")


async def run_turns(pins: SessionPins, config: Config, turns: int, sessions: int) -> list[float]:
    registry = ModelRegistry(config.models, config.primary_model)
    model = registry.primary
    features = extract_features({"messages": [{"role": "user", "content": "continue the refactor"}]})
    timings: list[float] = []
    for turn in range(turns):
        session = f"session-{turn % sessions}"
        prompt = 2_000 + 500 * (turn // sessions)
        usage = Usage(prompt_tokens=prompt, completion_tokens=300, cached_tokens=prompt - 500)
        began = time.perf_counter()
        await pins.plan(session, features, registry)
        await pins.record_success(session, model, usage)
        timings.append((time.perf_counter() - began) * 1e6)
        await asyncio.sleep(0)  # a server yields between requests: background checkpoints get their turn
    return timings


def report(name: str, timings: list[float]) -> None:
    ordered = sorted(timings)
    p50, p90, p99 = (ordered[int(len(ordered) * q)] for q in (0.5, 0.9, 0.99))
    slow = sum(1 for t in ordered if t > 1000)
    print(
        f"{name:<22} plan+record, us: mean {statistics.fmean(ordered):6.1f}  p50 {p50:6.1f}  p90 {p90:6.1f}  "
        f"p99 {p99:7.1f}  max {ordered[-1]:8.1f}  turns over 1 ms: {slow}/{len(ordered)}"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def redis_server(workdir: Path) -> AsyncIterator[str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    process = await asyncio.create_subprocess_exec(
        binary, *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await asyncio.sleep(0.3)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        await process.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=4_000)
    parser.add_argument("--sessions", type=int, default=400)
    args = parser.parse_args()
    config = load_config()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        builders: dict[str, Callable[[], PinStore]] = {
            "memory": lambda: MemoryPinStore(config.session_store.max_sessions),
            "sqlite (optmod)": lambda: SqlitePinStore(workdir / "direct.sqlite3", 100_000),
            "sqlite (auto ckpt)": lambda: auto_checkpointed(workdir / "auto.sqlite3"),
            "sqlite (all threaded)": lambda: ThreadedSqlitePinStore(auto_checkpointed(workdir / "thread.sqlite3")),
        }
        async with redis_server(workdir) as url:
            if url is not None:
                builders["redis (127.0.0.1)"] = lambda: RedisPinStore(url, 100_000, timeout_s=1.0)
            for name, build in builders.items():
                pins = SessionPins(build(), config)
                await run_turns(pins, config, min(args.turns, 500), args.sessions)  # warm up
                report(name, await run_turns(pins, config, args.turns, args.sessions))
                await pins.close()
            if url is None:
                print("redis: skipped, no redis-server binary")


if __name__ == "__main__":
    asyncio.run(main())
