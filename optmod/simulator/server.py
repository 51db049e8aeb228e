"""The simulated provider: an OpenAI-compatible upstream served by aiohttp on a real socket.

A chat request is checked, billed (`usage.py`), answered (`answers.py`) and written (`replies.py`), unless a
queued fault takes it first. Same seed, same requests in the same order: same bytes back, ids included (they
come from a counter); only `created` follows the clock, which tests can replace.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from optmod.simulator.answers import JITTER_SLOT, Draws, compose_answer
from optmod.simulator.control import control_routes
from optmod.simulator.faults import Fault, FaultQueue
from optmod.simulator.journal import DEFAULT_KEEP, Journal, ReceivedRequest
from optmod.simulator.profiles import WILDCARD, ModelProfile, demo_profiles
from optmod.simulator.replies import FAULT_REPLIES, Exchange, Timing, json_response, send_answer, send_context_length
from optmod.simulator.usage import PrefixCache, Prices, Prompt, TokenCounts, analyse_prompt, build_usage
from optmod.simulator.wire import Envelope, error_bytes

if TYPE_CHECKING:
    from optmod.config import Config

# Handlers still running when the server stops (a held "timeout" fault) are cancelled after this long.
SHUTDOWN_GRACE_S = 1.0
MAX_BODY_BYTES = 64 * 1024 * 1024
# Fault kinds after which the provider has read the prompt, so its prefix is cached as for a normal answer.
ANSWERING_FAULTS = frozenset({"stream_cut", "slow_first_byte", "empty"})


class SimulatedProvider:
    """A fake OpenAI-compatible provider for tests, demo mode and benchmarks: seeded, deterministic, fast.

    `received` lists the chat requests it got (newest last); `inject` queues faults for the next requests.
    """

    def __init__(
        self,
        profiles: Sequence[ModelProfile],
        seed: int = 0,
        latency_scale: float = 1.0,
        *,
        clock: Callable[[], float] = time.time,
        keep_received: int = DEFAULT_KEEP,
    ) -> None:
        if not profiles:
            raise ValueError("a simulated provider needs at least one model profile")
        self.seed = seed
        self.latency_scale = latency_scale
        self._profiles = {profile.name: profile for profile in profiles}
        self._caches = {profile.name: PrefixCache() for profile in profiles}
        self._faults = FaultQueue()
        self._journal = Journal(keep_received)
        self._clock = clock
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url: str | None = None

    @classmethod
    def from_config(cls, config: Config, seed: int = 0, latency_scale: float = 1.0) -> SimulatedProvider:
        """The demo pool: one profile per configured model (pass the config before its URLs are rewritten)."""
        return cls(demo_profiles(config), seed=seed, latency_scale=latency_scale)

    @property
    def received(self) -> list[ReceivedRequest]:
        return self._journal.entries

    @property
    def journal(self) -> Journal:
        return self._journal

    @property
    def profiles(self) -> Mapping[str, ModelProfile]:
        return self._profiles

    def inject(self, *faults: Fault) -> None:
        self._faults.add(faults)

    def clear_faults(self) -> int:
        return self._faults.clear()

    def pending_faults(self) -> list[dict[str, Any]]:
        return self._faults.pending()

    def clear_received(self) -> int:
        return self._journal.clear()

    def clear_cache(self) -> None:
        for cache in self._caches.values():
            cache.clear()

    def profile_for(self, model: str) -> ModelProfile | None:
        return self._profiles.get(model) or self._profiles.get(WILDCARD)

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/v1/chat/completions", self.handle_chat)
        app.router.add_get("/v1/models", self.handle_models)
        app.router.add_routes(control_routes(self))
        app.router.add_route("*", "/{path:.*}", handle_unknown_path)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 picks a free port); returns the base URL, ending in /v1."""
        if self._runner is not None:
            raise RuntimeError("the simulated provider is already running")
        runner = web.AppRunner(
            self.build_app(), access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_GRACE_S
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, backlog=1024).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_port = runner.addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown_host}:{bound_port}/v1"
        return self.base_url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self.base_url = None

    async def __aenter__(self) -> SimulatedProvider:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def handle_models(self, request: web.Request) -> web.Response:
        created = int(self._clock())
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "optmod-simulator"}
            for name in self._profiles
            if name != WILDCARD
        ]
        return json_response(orjson.dumps({"object": "list", "data": data}))

    async def handle_chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return invalid_request("We could not parse the JSON body of your request.")
        problem = check_chat_body(body)
        if problem is not None:
            return invalid_request(*problem)
        model: str = body["model"]
        prompt = analyse_prompt(model, body["messages"], body.get("tools"))
        profile = self.profile_for(model)
        if profile is None:
            self._record(request, body, prompt, 0, None)
            return model_not_found(model)
        fault = self._faults.take(model)
        cache = self._caches[profile.name]
        cached = cache.cached_tokens(prompt) if profile.cache else 0
        self._record(request, body, prompt, cached, fault)
        exchange = self._exchange(request, body, profile, prompt, cached, fault)
        if fault is not None:
            if fault.kind in ANSWERING_FAULTS:
                cache.remember(prompt)
            return await FAULT_REPLIES[fault.kind](exchange, fault)
        if prompt.tokens > profile.context_window:
            return send_context_length(exchange)
        cache.remember(prompt)
        return await send_answer(exchange)

    def _record(
        self, request: web.Request, body: dict[str, Any], prompt: Prompt, cached: int, fault: Fault | None
    ) -> None:
        self._journal.add(
            ReceivedRequest(
                model=body["model"],
                body=body,
                headers={name.lower(): value for name, value in request.headers.items()},
                prompt_tokens=prompt.tokens,
                cached_tokens=cached,
                stream=body.get("stream") is True,
                fault=fault.kind if fault is not None else None,
            )
        )

    def _exchange(
        self,
        request: web.Request,
        body: dict[str, Any],
        profile: ModelProfile,
        prompt: Prompt,
        cached: int,
        fault: Fault | None,
    ) -> Exchange:
        draws = Draws.for_prompt(self.seed, prompt.digest)
        scale = self.latency_scale * (1.0 + profile.jitter * (2.0 * draws.unit(JITTER_SLOT) - 1.0))
        empty = fault is not None and fault.kind == "empty"
        answer = compose_answer(body, draws, profile.output_tokens, profile.chunk_tokens, empty=empty)
        counts = TokenCounts(prompt=prompt.tokens, cached=cached, completion=answer.completion_tokens)
        prices = Prices(profile.input_usd_per_mtok, profile.output_usd_per_mtok, profile.cached_input_usd_per_mtok)
        usage = build_usage(profile.usage_style, counts, prices)
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return Exchange(
            request=request,
            envelope=Envelope(id=f"chatcmpl-sim{next(self._ids)}", created=int(self._clock()), model=body["model"]),
            answer=answer,
            usage=usage,
            stream=body.get("stream") is True,
            include_usage=include_usage and usage is not None,
            timing=answer_timing(profile, scale, len(answer.pieces)),
            prompt_tokens=prompt.tokens,
            context_window=profile.context_window,
        )


def answer_timing(profile: ModelProfile, scale: float, chunks: int) -> Timing:
    """Stream: TTFT, then one chunk per chunk_tokens / tokens_per_s. Whole answer: the later of latency_ms
    and TTFT plus the time to generate every chunk."""
    first_s = profile.ttft_ms / 1000.0 * scale
    interval_s = profile.chunk_tokens / profile.tokens_per_s * scale if profile.tokens_per_s > 0 else 0.0
    complete_s = max(profile.latency_ms / 1000.0 * scale, first_s + chunks * interval_s)
    return Timing(first_s=first_s, chunk_interval_s=interval_s, complete_s=complete_s)


def check_chat_body(body: Any) -> tuple[str, str | None] | None:
    """Why the body is not a chat request (message, offending parameter), or None when it is one."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object.", None
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "you must provide a model parameter", "model"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array", "messages"
    if not all(isinstance(message, dict) for message in messages):
        return "each message must be an object", "messages"
    if "stream" in body and not isinstance(body["stream"], bool | None):
        return "'stream' must be a boolean", "stream"
    return None


def model_not_found(model: str) -> web.Response:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return json_response(error_bytes(message, "invalid_request_error", None, "model_not_found"), 404)


def invalid_request(message: str, param: str | None = None) -> web.Response:
    return json_response(error_bytes(message, "invalid_request_error", param, None), 400)


async def handle_unknown_path(request: web.Request) -> web.Response:
    message = f"Invalid URL ({request.method} {request.path})"
    return json_response(error_bytes(message, "invalid_request_error", None, "unknown_url"), 404)


async def serve_forever(provider: SimulatedProvider, host: str = "127.0.0.1", port: int = 0) -> None:
    """Start `provider` and serve until cancelled (Ctrl-C under asyncio.run), then stop it."""
    url = await provider.start(host, port)
    print(f"optmod simulator serving {len(provider.profiles)} model profile(s) at {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await provider.stop()
