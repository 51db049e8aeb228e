"""The application factory: builds the state at start-up, closes it at shutdown, and mounts the endpoints.

`create_app(settings)` returns the ASGI app. The chat endpoint is a plain Starlette route (no dependency
injection on the hot path), and `OptmodApp` sends it its requests before FastAPI's middleware stack (six
layers that cost about a tenth of a request's CPU and do nothing for it); the control and stats endpoints
are ordinary FastAPI routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from threadpoolctl import threadpool_limits

from optmod import __version__
from optmod.config import DEFAULT_CONFIG_PATH, Config, load_config, resolve_path
from optmod.control import router as control_router
from optmod.dashboard import router as dashboard_router
from optmod.errors import (
    ForbiddenError,
    InternalError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    OptmodError,
    error_json,
)
from optmod.escalation import Cooldowns
from optmod.forwarder import Forwarder
from optmod.log import RequestLog
from optmod.metrics import ProxyMetrics
from optmod.pin_stores import build_pin_store
from optmod.proxy import handle_chat, new_request_id
from optmod.session_pin import SessionPins
from optmod.state import AppState, build_runtime
from optmod.stats import RebuildResult, StatsAggregate

logger = logging.getLogger("optmod")

CHAT_PATH = "/v1/chat/completions"
# The names a browser may use for a proxy on loopback; any other Host is a DNS-rebinding page (or a typo).
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
# A log larger than this (about 70k records, a second to fold) is folded while the proxy already serves.
BACKGROUND_REBUILD_BYTES = 64 * 2**20


@dataclass(frozen=True, slots=True)
class AppSettings:
    """How to start: which config, demo or not, and the environment to read secrets from."""

    config_path: Path = DEFAULT_CONFIG_PATH
    demo: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    # Demo mode's simulated providers: 1.0 is realistic pacing, 0 answers at once (tests).
    demo_latency_scale: float = 1.0
    # Host names requests may carry (None: any, for a proxy bound beyond loopback, behind its admin token).
    allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES


def host_name(authority: str) -> str:
    """The host of `host:port`, lower-cased (an IPv6 literal keeps its brackets)."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority.split("]", 1)[0] + "]"
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


def foreign_request(headers: list[tuple[bytes, bytes]], allowed_hosts: frozenset[str] | None) -> str | None:
    """Why a request looks like a web page's on another site, or None.

    A browser sends `Origin` with every cross-origin POST, so a page elsewhere cannot flip the switches or spend
    the keys of a proxy on 127.0.0.1 (SDKs and curl send no Origin and are never refused for it); and a page that
    rebinds its own DNS name to 127.0.0.1 still sends that name as Host.
    """
    host = origin = None
    for name, value in headers:
        if name == b"host":
            host = value.decode("latin-1")
        elif name == b"origin":
            origin = value.decode("latin-1")
    if host is not None and allowed_hosts is not None and host_name(host) not in allowed_hosts:
        return f"Host {host!r} is not one of this proxy's names"
    if origin is not None and origin.split("://", 1)[-1].lower() != (host or "").strip().lower():
        return f"cross-origin request from {origin!r}"
    return None


def _error_response(error: OptmodError, request_id: str | None = None) -> Response:
    headers = error.headers()
    if request_id is not None:  # a chat request's error names its line in the log
        headers = headers | {"x-optmod-request-id": request_id}
    return Response(error_json(error), error.status, headers=headers, media_type="application/json")


async def _optmod_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OptmodError)
    return _error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return _error_response(NotFoundError(f"no such endpoint: {request.method} {request.url.path}"))
    if exc.status_code == 405:
        return _error_response(MethodNotAllowedError(f"method {request.method} is not allowed on {request.url.path}"))
    error = InvalidRequestError(str(exc.detail))
    response = _error_response(error)
    response.status_code = exc.status_code
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
    return _error_response(InvalidRequestError(f"invalid request: {first.get('msg', 'bad input')}", param=param))


async def _unexpected_error(request: Request, exc: Exception, request_id: str | None = None) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return _error_response(InternalError("optmod hit an internal error; see its log"), request_id)


class OptmodApp(FastAPI):
    """The FastAPI app, with the chat endpoint served without the middleware stack in front of it.

    Errors come out as the stack would make them: an OptmodError as its OpenAI JSON, anything else as a
    logged 500 in OpenAI JSON that is then re-raised to the server (as Starlette's ServerErrorMiddleware does).
    """

    allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (why := foreign_request(scope["headers"], self.allowed_hosts)) is not None:
            response = _error_response(ForbiddenError(f"refused: {why}"))
            await response(scope, receive, send)
            return
        if scope["type"] != "http" or scope["path"] != CHAT_PATH or scope["method"] != "POST":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        request = Request(scope, receive, send)
        request_id = new_request_id()
        try:
            response = await handle_chat(request, request_id)
        except OptmodError as exc:
            response = _error_response(exc, request_id)
        except Exception as exc:
            await (await _unexpected_error(request, exc, request_id))(scope, receive, send)
            raise
        await response(scope, receive, send)


class QuietServer(uvicorn.Server):
    """uvicorn's server with its housekeeping tick (date header, exit and request-limit checks) once a second
    instead of every 100 ms.

    Those ten wake-ups a second were all the CPU an idle proxy burned (2-3 ms/s), and at a few requests a
    second each one was a tenth of a millisecond per request. A signal still stops the server at once.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_wanted: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop, self._exit_wanted = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            # on_tick refreshes the date header when counter % 10 == 0: every tick here.
            counter = (counter + 10) % 864_000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._exit_wanted.wait()
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._exit_wanted is not None:
            self._loop.call_soon_threadsafe(self._exit_wanted.set)


async def start_state(settings: AppSettings, config: Config) -> tuple[AppState, Any]:
    """Everything a running proxy needs, and the demo simulator (or None) to stop at shutdown."""
    # One BLAS thread: a routing decision is a few small matrix products, and multi-threaded BLAS on a small
    # machine costs more in contention with the event loop than it saves (perf_router went from 120 to 470
    # req/s at c=16 with this, `python -m bench.run --targets optmod_perf_router ...`).
    threadpool_limits(limits=1, user_api="blas")
    # The log first: a log that cannot be opened stops the start before anything else is running.
    log = RequestLog(resolve_path(settings.config_path, config.log_path))
    simulator = None
    if settings.demo:
        from optmod.simulator import SimulatedProvider

        simulator = SimulatedProvider.from_config(config, latency_scale=settings.demo_latency_scale)
        base_url = await simulator.start()
        config = config.with_base_url(base_url)
        logger.info("demo: simulated providers at %s (faults: POST /_sim/faults there)", base_url.removesuffix("/v1"))
    forwarder = Forwarder(config.limits, settings.environ)
    store = build_pin_store(config.session_store, settings.config_path.resolve().parent)
    token_env = config.server.admin_token_env
    state = AppState(
        config_path=settings.config_path,
        runtime=build_runtime(config, forwarder),
        started_config=config,
        forwarder=forwarder,
        log=log,
        cooldowns=Cooldowns(),
        pins=SessionPins(store, config),
        admin_token=settings.environ.get(token_env) or None,
        compressor_enabled=config.compressor.enabled,
        demo=settings.demo,
        demo_base_url=config.models[0].base_url if settings.demo else None,
    )
    _attach_observers(state)
    return state, simulator


def _attach_observers(state: AppState) -> None:
    """Stats and metrics fold every log record as it is written; the log already there is folded first."""
    stats = StatsAggregate(lambda: state.runtime.registry)
    path = state.log.path
    size = path.stat().st_size  # the log is open, so the file exists

    def report(rebuilt: RebuildResult) -> None:
        logger.info(
            "stats: %d records from %s in %.2f s, %d corrupt lines skipped",
            rebuilt.records,
            path,
            rebuilt.seconds,
            rebuilt.corrupt_lines,
        )

    if size > BACKGROUND_REBUILD_BYTES:
        logger.info("stats: folding %.0f MB of %s in the background; /api/stats fills in when done", size / 1e6, path)
        stats.rebuild_in_background(path, size, report)
    else:
        report(stats.rebuild(path))
    metrics = ProxyMetrics()
    state.log.subscribe(stats.add)
    state.log.subscribe(metrics.observe)
    state.stats, state.metrics = stats, metrics


def create_app(settings: AppSettings | None = None) -> OptmodApp:
    settings = settings or AppSettings()
    config = load_config(settings.config_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state, simulator = await start_state(settings, config)
        app.state.optmod = state
        logger.info(
            "optmod %s: router %s, %d models%s",
            __version__,
            state.runtime.router.requested,
            len(state.runtime.registry),
            " (demo: simulated providers)" if settings.demo else "",
        )
        # What exists now (modules, config, router tables: about 85k objects) lives as long as the app: frozen
        # out of the collector's way, a full collection no longer rescans it (24 ms each time on this machine).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            await state.tasks.drain()
            state.router_executor.shutdown(wait=False)
            await state.forwarder.close()
            await state.pins.close()
            state.log.close()
            if simulator is not None:
                await simulator.stop()

    app = OptmodApp(title="optmod", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.allowed_hosts = settings.allowed_hosts
    # Still routed here too, for OPTIONS/HEAD answers and the route listing; POSTs never reach it.
    app.add_route(CHAT_PATH, handle_chat, methods=["POST"])
    app.include_router(control_router)
    app.include_router(dashboard_router)
    app.add_exception_handler(OptmodError, _optmod_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.state.started = time.time()
    return app
