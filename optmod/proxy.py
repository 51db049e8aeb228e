"""The path of one chat request: features, pin, route, mutate, forward with escalation, log, answer.

`handle_chat` is the endpoint. A `ChatCall` carries one request through its tries: it picks the first model
(client's explicit pool model, then a hard pin, then the router), and on each failure before the commit point
asks `Escalation` for the next one. Streams commit at the first content event: before it a failure moves on,
after it nothing is re-sent and a broken stream ends with an SSE error event and no [DONE].
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

from optmod.answer import JsonAnswer, StreamAnswer
from optmod.config import ModelConfig
from optmod.errors import (
    AllRateLimitedError,
    InternalError,
    OptmodError,
    UpstreamUnavailableError,
    error_body,
)
from optmod.escalation import (
    CLIENT_ERROR,
    CONTEXT_LENGTH,
    MODEL_UNAVAILABLE,
    RATE_LIMITED,
    SERVER_ERROR,
    Escalation,
)
from optmod.features import CHARS_PER_TOKEN, Features, extract_features
from optmod.forwarder import Completion, Failure, OpenStream
from optmod.log import Alternative, AttemptRecord, LogRecord
from optmod.registry import Usage, call_cost
from optmod.request_body import check_chat_body, read_json_body
from optmod.routing import Decision, ModelScore, RouteRequest
from optmod.routing.base import request_cost
from optmod.session_pin import fits_context, session_id_for
from optmod.state import COMPRESSOR, AppState, Runtime

logger = logging.getLogger("optmod")

# A provider asking for a longer wait than this is not waited for; the model just cools down.
MAX_COOLDOWN_S = 300.0
CACHE_COOLING_STATUSES = (429, 503)
# Logged for a JSON request whose client left before the answer (nginx's code; nothing is sent).
CLIENT_CLOSED_STATUS = 499
# A provider's error message is kept to this many characters in the log (after its keys are redacted).
MAX_ERROR_CHARS = 300


def eligible_models(runtime: Runtime, features: Features) -> tuple[ModelConfig, ...]:
    """Pool models that can serve the request: the prompt fits the window, and vision when it has images."""
    pool = runtime.registry.models
    if features.has_images:
        pool = tuple(m for m in pool if m.supports_vision) or pool
    fitting = tuple(m for m in pool if fits_context(m, features))
    if fitting:
        return fitting
    # The estimate is rough: when nothing seems to fit, the largest window tries rather than refuse. Only the
    # largest: a smaller one would only send the whole prompt once more to hear it is too long.
    largest = max(m.context_window for m in pool)
    return tuple(m for m in pool if m.context_window == largest)


@dataclass(slots=True)
class ChatCall:
    state: AppState
    runtime: Runtime
    body: dict[str, Any]
    features: Features
    session_id: str | None
    started: float  # perf_counter at arrival
    arrived: float  # wall clock at arrival
    request_id: str
    eligible: tuple[ModelConfig, ...] = ()
    decision: Decision | None = None
    router_name: str | None = None
    pin_state: str = "fresh"
    pinned: bool = False
    attempts: list[AttemptRecord] = field(default_factory=list)
    waited_s: float = 0.0
    applied: tuple[str, ...] = ()
    compressor: dict[str, Any] = field(default_factory=dict)
    # A stream's overhead is fixed when it commits; relaying afterwards is not time spent deciding.
    committed_overhead_ms: float | None = None

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    def overhead_ms(self) -> float:
        return max((time.perf_counter() - self.started - self.waited_s) * 1000, 0.0)

    async def choose_first(self) -> ModelConfig:
        registry = self.runtime.registry
        requested = self.body.get("model")
        if isinstance(requested, str) and requested in registry:
            self.decision = Decision(model=requested, reason="client asked for this pool model", confidence=1.0)
            self.router_name = "explicit"
            return registry[requested]
        plan = await self.state.pins.plan(self.session_id, self.features, registry)
        self.pin_state = plan.state
        if plan.model is not None and self.state.cooldowns.is_cooling(plan.model):
            # The pinned model just failed for someone else: do not send this request into the same wall.
            self.pin_state = "evicted_post_failure"
        elif plan.model is not None and plan.model in registry:
            self.pinned = True
            self.router_name = "session_pin"
            self.decision = Decision(
                model=plan.model, reason=f"session pin ({plan.state}) keeps the warm cache", confidence=1.0
            )
            return registry[plan.model]
        return registry[(await self.route(dict(plan.credits), exclude=())).model]

    async def route(self, credits: dict[str, float], exclude: tuple[str, ...]) -> Decision:
        active = self.runtime.router
        untried = tuple(m for m in self.eligible if m.name not in exclude) or self.eligible
        # A model cooling down after a 429 or 503 asked to be left alone: route around it while others can serve.
        candidates = tuple(m for m in untried if not self.state.cooldowns.is_cooling(m.name)) or untried
        request = RouteRequest(features=self.features, candidates=candidates, credits=credits)
        began = time.perf_counter()
        if active.router.offload:
            loop = asyncio.get_running_loop()
            name, decision = await loop.run_in_executor(self.state.router_executor, active.decide, request)
        else:
            name, decision = active.decide(request)
        if self.state.metrics is not None:
            self.state.metrics.observe_routing(name, time.perf_counter() - began)
        self.decision = decision
        self.router_name = name
        return decision

    def payload_for(self, model: ModelConfig) -> bytes:
        result = self.runtime.pipeline.apply(self.body, model, self.state.disabled_mutators())
        self.applied = result.applied
        self.compressor = result.details.get(COMPRESSOR, {})
        body = {**result.body, "model": model.wire_name}
        if self.stream:
            options = body.get("stream_options")
            options = options if isinstance(options, dict) else {}
            body["stream_options"] = {**options, "include_usage": True}
        return orjson.dumps(body)

    def note_attempt(
        self, model: ModelConfig, outcome: str, status: int | None, waited: float, retry_after: float | None = None
    ) -> None:
        self.waited_s += waited
        self.attempts.append(
            AttemptRecord(model.name, model.tier, outcome, status, round(waited * 1000, 3), retry_after)
        )

    async def after_failure(self, model: ModelConfig, failure: Failure) -> ModelConfig | None:
        """Cool the model if the provider asked, drop a failed pin, and name the next model (or None)."""
        cooling = failure.failure in (RATE_LIMITED, SERVER_ERROR) and failure.status in CACHE_COOLING_STATUSES
        if cooling or failure.failure == MODEL_UNAVAILABLE:
            limits = self.runtime.config.limits
            seconds = failure.retry_after if failure.retry_after is not None else limits.cooldown_s
            self.state.cooldowns.cool(model.name, min(seconds, MAX_COOLDOWN_S))
        tried = tuple(a.model for a in self.attempts)
        await self.state.pins.record_failure(self.session_id, model.name)  # drops the pin only if it points here
        if self.pinned:
            self.pinned = False
            self.pin_state = "evicted_post_failure"
            if failure.failure != CONTEXT_LENGTH:
                decision = await self.route({}, exclude=tried)
                if decision.model not in tried:
                    return self.runtime.registry[decision.model]
        request = RouteRequest(features=self.features, candidates=self.eligible)
        escalation = Escalation(self.eligible, self.state.cooldowns, cost=lambda m: request_cost(m, request))
        following = escalation.next_model(model, failure.failure, tried)
        if following is None and self._may_wait(model, failure, tried):
            await asyncio.sleep(failure.retry_after or 0.0)
            return model
        return following

    def _may_wait(self, model: ModelConfig, failure: Failure, tried: tuple[str, ...]) -> bool:
        """Honour a short Retry-After once, when no other model is left to try."""
        limits = self.runtime.config.limits
        if failure.failure != RATE_LIMITED and failure.status != 503:
            return False
        if failure.retry_after is None or failure.retry_after > limits.retry_after_cap_s:
            return False
        if tried.count(model.name) > 1:
            return False
        return time.perf_counter() + failure.retry_after < self.started + limits.total_deadline_s

    def record(
        self,
        status: int,
        model: ModelConfig | None,
        usage: Usage | None,
        estimated: bool,
        ttft_ms: float | None = None,
        error: OptmodError | Failure | None = None,
        finished: float | None = None,
    ) -> LogRecord:
        """The log record; `finished` (perf_counter) is when the answer was ready, for a record built later."""
        usage = usage or Usage()
        decision = self.decision
        error_type = error_message = None
        if isinstance(error, OptmodError):
            error_type, error_message = error.type, error.message
        elif isinstance(error, Failure):
            error_type, error_message = error.failure, error.message
        return LogRecord(
            ts=self.arrived,
            request_id=self.request_id,
            status=status,
            ok=200 <= status < 300 and error is None,
            latency_ms=round(((finished or time.perf_counter()) - self.started) * 1000, 3),
            session_id=self.session_id,
            router=self.router_name,
            model=model.name if model else None,
            tier=model.tier if model else None,
            requested_model=self.body.get("model") if isinstance(self.body.get("model"), str) else None,
            attempts=tuple(self.attempts),
            escalated=len({a.model for a in self.attempts}) > 1,
            ttft_ms=ttft_ms,
            overhead_ms=round(self.committed_overhead_ms or self.overhead_ms(), 3),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cost_usd=call_cost(model, usage) if model else 0.0,
            cost_estimated=estimated,
            reason=decision.reason if decision else None,
            confidence=decision.confidence if decision else None,
            alternatives=tuple(_alternative(s) for s in decision.alternatives()) if decision else (),
            task_type=self.features.task_type,
            difficulty=self.features.difficulty,
            stream=self.stream,
            mutators=self.applied,
            compressor_tokens_before=self.compressor.get("tokens_before"),
            compressor_tokens_after=self.compressor.get("tokens_after"),
            pin_state=self.pin_state,
            error_type=error_type,
            error_message=_redact(error_message, self.runtime.secrets, cut=MAX_ERROR_CHARS),
        )

    def usage_of(self, reported: Usage | None, content_chars: int) -> tuple[Usage, bool]:
        """The provider's usage, or an estimate when it reported none (the flag says which)."""
        if reported is not None and reported.prompt_tokens > 0:
            return reported, False
        estimate = Usage(
            prompt_tokens=self.features.estimated_tokens, completion_tokens=max(content_chars // CHARS_PER_TOKEN, 1)
        )
        return estimate, True

    def headers(self, model: ModelConfig | None) -> dict[str, str]:
        headers = {
            "x-optmod-request-id": self.request_id,
            "x-optmod-router": self.router_name or "",
            "x-optmod-attempts": str(len(self.attempts)),
            "x-optmod-overhead-ms": f"{self.committed_overhead_ms or self.overhead_ms():.3f}",
        }
        if model is not None:
            headers["x-optmod-model"] = model.name
        return headers


def _alternative(score: ModelScore) -> Alternative:
    return Alternative(score.model, round(score.quality, 4), score.cost, round(score.score, 6), score.eligible)


def _redact(text: str | None, secrets: frozenset[str], cut: int | None = None) -> str | None:
    """`text` with every key in use replaced, then cut to `cut` characters (in that order: a cut key would no
    longer be found)."""
    if text is None:
        return None
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text if cut is None else text[:cut]


def _redact_bytes(body: bytes, secrets: frozenset[str]) -> bytes:
    for secret in secrets:
        body = body.replace(secret.encode(), b"[redacted]")
    return body


def new_request_id() -> str:
    return os.urandom(8).hex()


async def handle_chat(request: Request, request_id: str | None = None) -> Response:
    """The chat endpoint. `request_id` is the caller's, so that an error answer can name the logged request
    (the app's own entry passes one; the route table's, which POSTs never reach, does not)."""
    state: AppState = request.app.state.optmod
    runtime = state.runtime
    limits = runtime.config.limits
    started = time.perf_counter()
    arrived = state.clock()
    request_id = request_id or new_request_id()
    try:
        body = await read_json_body(request, limits.max_body_bytes, limits.max_json_depth)
        check_chat_body(body)
        features = extract_features(body)
        session_id = session_id_for(body, request.headers)
        call = ChatCall(state, runtime, body, features, session_id, started, arrived, request_id)
        call.eligible = eligible_models(runtime, features)
        model = await call.choose_first()
        if call.stream:  # a stream's relay notices a client that leaves (client_disconnected)
            return await _forward(call, model)
        return await _forward_while_connected(call, model, request.receive)
    except Exception as exc:
        # Every request leaves a line, an unexpected failure too (the app answers it with a 500 and logs it).
        error = exc if isinstance(exc, OptmodError) else InternalError(f"{type(exc).__name__}: {exc}")
        state.log.append(_rejected(error, request_id, arrived, started, runtime.secrets))
        raise


async def _forward_while_connected(call: ChatCall, model: ModelConfig | None, receive: Receive) -> Response:
    """`_forward`, stopped when the client leaves first: a JSON answer is sent whole at the end, so without this
    a client's timeout (and its SDK's retries) would leave every try running, and billed, to its end.

    One watcher task per request, which cancels this one on a disconnect (cheaper than running the tries in a
    task of their own and waiting on both)."""
    this = asyncio.current_task()
    assert this is not None
    watcher = asyncio.get_running_loop().create_task(_cancel_when_gone(receive, this))
    try:
        response = await _forward(call, model)
    except asyncio.CancelledError:
        if not watcher.done() or watcher.cancelled():
            raise  # cancelled from outside (a shutdown), not by the watcher
        this.uncancel()
        last = call.runtime.registry.get(call.attempts[-1].model) if call.attempts else None
        left = Failure("client_disconnected", None, "the client went away before the answer")
        call.state.log.append(call.record(CLIENT_CLOSED_STATUS, last, None, False, error=left))
        return Response(status_code=CLIENT_CLOSED_STATUS)  # nobody reads it: the connection is gone
    finally:
        watcher.cancel()
    if watcher.done() and not watcher.cancelled():
        # The client left just as the answer was ready: take back the cancel the watcher sent, so the answer's
        # own path (its log line) runs; sending it then finds the connection closed.
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            this.uncancel()
    return response


async def _cancel_when_gone(receive: Receive, task: asyncio.Task[Any]) -> None:
    """Cancels `task` when the client disconnects (its body is already read, so nothing else arrives)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    task.cancel()


def _rejected(exc: OptmodError, request_id: str, arrived: float, started: float, secrets: frozenset[str]) -> LogRecord:
    return LogRecord(
        ts=arrived,
        request_id=request_id,
        status=exc.status,
        ok=False,
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
        error_type=exc.type,
        error_message=_redact(exc.message, secrets, cut=MAX_ERROR_CHARS),
    )


def _deadline_left(call: ChatCall) -> float:
    limits = call.runtime.config.limits
    left = call.started + limits.total_deadline_s - time.perf_counter()
    return min(left, limits.first_byte_timeout_s)


async def _forward(call: ChatCall, model: ModelConfig | None) -> Response:
    """Try models until one answers (streams: until one reaches its first content), escalating on failure."""
    forwarder = call.state.forwarder
    max_attempts = call.runtime.config.limits.max_attempts
    while model is not None and len(call.attempts) < max_attempts and (left := _deadline_left(call)) > 0:
        payload = call.payload_for(model)
        result = await (forwarder.open_stream if call.stream else forwarder.complete)(model, payload, left)
        if not isinstance(result, Failure):
            call.note_attempt(model, "ok", 200, result.waited_s)
            if isinstance(result, OpenStream):
                return _stream_answer(call, model, result)
            return _answer(call, model, result)
        call.note_attempt(model, result.failure, result.status, result.waited_s, result.retry_after)
        if result.failure == CLIENT_ERROR:
            return _pass_through(call, model, result)
        following = await call.after_failure(model, result)
        if following is None and result.failure == CONTEXT_LENGTH:
            return _pass_through(call, model, result)
        model = following
    return _give_up(call)


def _answer(call: ChatCall, model: ModelConfig, completion: Completion) -> Response:
    finished = time.perf_counter()
    call.committed_overhead_ms = call.overhead_ms()

    async def after_answer() -> None:
        # The record, the log line and the stats and metrics fed from it wait until the answer is on its way:
        # they cost the client nothing there. No await before the line is written, so nothing runs in between.
        usage, estimated = call.usage_of(completion.usage, completion.content_chars)
        call.state.log.append(call.record(200, model, usage, estimated, finished=finished))
        # Awaited here rather than in a task of its own: the answer is already sent.
        try:
            await call.state.pins.record_success(call.session_id, model, usage)
        except Exception:
            logger.exception("recording the session pin failed")

    return JsonAnswer(completion.body, call.headers(model), after_answer)


def _pass_through(call: ChatCall, model: ModelConfig, failure: Failure) -> Response:
    """The provider said the request itself is wrong: the client gets the provider's answer unchanged."""
    status = failure.status or 400
    call.state.log.append(call.record(status, model, None, False, error=failure))
    body = _redact_bytes(
        failure.body or orjson.dumps(error_body(failure.message, "invalid_request_error")), call.runtime.secrets
    )
    return Response(body, status, headers=call.headers(model), media_type=failure.content_type or "application/json")


def _give_up(call: ChatCall) -> Response:
    outcomes = [a.outcome for a in call.attempts]
    summary = "; ".join(f"{a.model}: {a.outcome}" for a in call.attempts) or "no model was tried"
    error: OptmodError
    retry_after: dict[str, str] = {}
    if outcomes and all(o == RATE_LIMITED for o in outcomes):
        error = AllRateLimitedError(f"every model was rate-limited ({summary})", code="rate_limited")
        # When the first of them expects calls again: a client that schedules its own retry can use it.
        soonest = min((w for a in call.attempts if (w := call.state.cooldowns.remaining(a.model)) > 0), default=0)
        if soonest:
            retry_after["Retry-After"] = str(math.ceil(soonest))
    else:
        error = UpstreamUnavailableError(f"every model failed ({summary})", code="upstream_failed")
    error.message = _redact(error.message, call.runtime.secrets) or ""
    model = call.runtime.registry.get(call.attempts[-1].model) if call.attempts else None
    call.state.log.append(call.record(error.status, model, None, False, error=error))
    headers = {**call.headers(model), **error.headers(), **retry_after}
    return Response(orjson.dumps(error.body()), error.status, headers=headers, media_type="application/json")


def _stream_answer(call: ChatCall, model: ModelConfig, stream: OpenStream) -> Response:
    ttft_ms = round((time.perf_counter() - call.started) * 1000, 3)
    call.committed_overhead_ms = call.overhead_ms()
    options = call.body.get("stream_options")
    wants_usage = isinstance(options, dict) and options.get("include_usage") is True
    headers = {**call.headers(model), "Cache-Control": "no-cache"}

    async def relay() -> AsyncGenerator[bytes, None]:
        failure: Failure | None = None
        try:
            async for event in stream.relay(wants_usage):
                yield event
            if not stream.done:
                failure = Failure("stream_cut", 200, f"{model.name}: stream ended without [DONE]")
        except Exception as exc:
            failure = Failure(
                "stream_cut", 200, f"{model.name}: stream broke after the first content ({type(exc).__name__}: {exc})"
            )
        finally:
            stream.close()
            _finish_stream(call, model, stream, ttft_ms, failure)
        if failure is not None:
            yield _sse_error(_redact(failure.message, call.runtime.secrets, cut=MAX_ERROR_CHARS) or "")

    return StreamAnswer(relay(), headers)


def _finish_stream(
    call: ChatCall, model: ModelConfig, stream: OpenStream, ttft_ms: float, failure: Failure | None
) -> None:
    usage, estimated = call.usage_of(stream.usage, stream.content_chars)
    if not stream.done and failure is None:
        failure = Failure("client_disconnected", None, "the client went away before the stream ended")
    call.state.log.append(call.record(200, model, usage, estimated, ttft_ms=ttft_ms, error=failure))
    # Tasks of their own: this runs as the relay ends, where the client may already be gone.
    if failure is None:
        call.state.tasks.spawn(call.state.pins.record_success(call.session_id, model, usage))
    elif failure.failure == "stream_cut":
        # The provider broke the answer: the next turn routes afresh instead of being forced back into it.
        call.state.tasks.spawn(call.state.pins.record_failure(call.session_id, model.name))


def _sse_error(message: str) -> bytes:
    payload = error_body(message, "upstream_error", code="stream_interrupted")
    return b"data: " + orjson.dumps(payload) + b"\n\n"
