"""The simulator as its own process: `python -m optmod.simulator --port 9100 [--latency-ms 50] [--chunks 20]
[--config config.yaml]`, the same command and options as `optmod simulate` (defined once, in optmod.cli). With
--config it serves the demo pool of that file; without, `sim-model` plus a wildcard that answers any model name
(the benchmarks send arbitrary names).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from optmod.cli import add_simulator_options
from optmod.config import ConfigError, load_config
from optmod.simulator.profiles import ModelProfile, demo_profiles, generic_profiles, override_profiles
from optmod.simulator.server import SimulatedProvider, serve_forever


def build_profiles(
    config_path: Path | str | None = None, latency_ms: float | None = None, chunks: int | None = None
) -> tuple[ModelProfile, ...]:
    """The demo pool of `config_path`, or the generic pool; `latency_ms` and `chunks` override every profile."""
    profiles = demo_profiles(load_config(config_path)) if config_path is not None else generic_profiles()
    return override_profiles(profiles, latency_ms=latency_ms, chunks=chunks)


def run_simulator(
    host: str,
    port: int,
    *,
    config_path: Path | str | None = None,
    latency_ms: float | None = None,
    chunks: int | None = None,
    seed: int,
    latency_scale: float = 1.0,
) -> None:
    """Serve a simulated provider on host:port until SIGINT or SIGTERM (blocks; for `optmod simulate`)."""
    profiles = build_profiles(config_path, latency_ms, chunks)
    provider = SimulatedProvider(profiles, seed=seed, latency_scale=latency_scale)
    with asyncio.Runner(loop_factory=fast_loop_factory()) as runner:
        runner.run(serve_until_signal(provider, host, port))


def fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed (it comes with uvicorn[standard]): the simulator must outrun the proxy."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def serve_until_signal(provider: SimulatedProvider, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    serving = asyncio.ensure_future(serve_forever(provider, host, port))
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, serving.cancel)
    try:
        await serving
    except asyncio.CancelledError:
        if not serving.cancelled():
            raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m optmod.simulator", description=__doc__)
    add_simulator_options(parser)
    return parser


def simulate(args: argparse.Namespace) -> None:
    """Serve what the parsed simulator options describe until SIGINT or SIGTERM (blocks)."""
    run_simulator(
        args.host,
        args.port,
        config_path=args.config,
        latency_ms=args.latency_ms,
        chunks=args.chunks,
        seed=args.seed,
        latency_scale=args.latency_scale,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        simulate(args)
    except ConfigError as exc:
        print(f"optmod simulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"optmod simulator: cannot serve on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0
