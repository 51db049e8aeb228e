"""The application state: everything made at start-up and closed at shutdown, in one object.

`Runtime` is the part that a config reload or a router swap replaces: it is frozen, and a request takes the
current one when it arrives and keeps it to the end, so requests in flight finish on the pool they started on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from optmod.config import Config
from optmod.escalation import Cooldowns
from optmod.forwarder import Forwarder
from optmod.log import RequestLog
from optmod.mutators import MutatorPipeline
from optmod.registry import ModelRegistry
from optmod.routing import ActiveRouter, build_router
from optmod.session_pin import SessionPins

logger = logging.getLogger("optmod")

COMPRESSOR = "tool_result_compressor"


@dataclass(frozen=True, slots=True)
class Runtime:
    config: Config
    registry: ModelRegistry
    router: ActiveRouter
    pipeline: MutatorPipeline
    secrets: frozenset[str]


def build_runtime(config: Config, forwarder: Forwarder, router_name: str | None = None) -> Runtime:
    registry = ModelRegistry(config.models, config.primary_model)
    return Runtime(
        config=config,
        registry=registry,
        router=build_router(router_name or config.router, config.routers, registry),
        pipeline=MutatorPipeline(config, config.mutators),
        secrets=forwarder.secrets(config.models),
    )


class TaskKeeper:
    """Runs background coroutines with a kept reference, and logs a failure instead of losing it."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task failed", exc_info=task.exception())

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass
class AppState:
    """The one mutable holder; its parts are replaced whole, never edited in place (a config reload also
    replaces the pin service's `windows`, a frozen value, whole)."""

    config_path: Path
    runtime: Runtime
    # The config the process started with: its start-up settings (`STARTUP_SETTINGS`) are the ones in force.
    started_config: Config
    forwarder: Forwarder
    log: RequestLog
    cooldowns: Cooldowns
    pins: SessionPins
    admin_token: str | None
    compressor_enabled: bool
    demo: bool = False
    # In demo mode every model points at the simulator; a config reload keeps it that way.
    demo_base_url: str | None = None
    stats: Any = None
    metrics: Any = None
    tasks: TaskKeeper = field(default_factory=TaskKeeper)
    # Learned routers decide here, off the event loop: one thread, so on a small machine concurrent decisions
    # queue instead of fighting the event loop (and each other) for the cores.
    router_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="optmod-router")
    )
    clock: Callable[[], float] = time.time
    started_at: float = field(default_factory=time.time)

    def disabled_mutators(self) -> frozenset[str]:
        return frozenset() if self.compressor_enabled else frozenset({COMPRESSOR})

    def swap_router(self, name: str) -> ActiveRouter:
        runtime = self.runtime
        router = build_router(name, runtime.config.routers, runtime.registry)
        self.runtime = replace(runtime, router=router)
        return router

    async def active_pin_count(self) -> int:
        return await self.pins.active_count()
