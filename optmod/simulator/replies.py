"""Writing an answer, or a fault, to the client: the only module here that paces, writes and drops connections.

`send_answer` sends a normal answer (paced when the profile asks for delays). `FAULT_REPLIES` maps every fault
kind to the coroutine that answers it; a test checks that it covers `faults.FAULT_KINDS`.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from aiohttp import web

from optmod.simulator.answers import Answer
from optmod.simulator.faults import Fault
from optmod.simulator.wire import (
    Envelope,
    completion_bytes,
    context_length_bytes,
    html_error_page,
    status_error_bytes,
    stream_plan,
)

JSON_TYPE = "application/json"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
# Sleeping for less than this costs more than it is worth: such chunks are sent together instead.
MIN_SLEEP_S = 0.002
# After dropping a connection the server cancels the handler; this only bounds the wait if it does not.
DROP_GRACE_S = 5.0
NON_JSON_BODY = b"upstream says: OK (this body is deliberately not JSON)\n"


@dataclass(frozen=True, slots=True)
class Timing:
    """Delays of one answer, already scaled: before the first chunk, between chunks, and for a whole answer."""

    first_s: float = 0.0
    chunk_interval_s: float = 0.0
    complete_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Exchange:
    """One chat request ready to be answered: what was asked, the answer, its usage and its timing."""

    request: web.Request
    envelope: Envelope
    answer: Answer
    usage: dict[str, Any] | None
    stream: bool
    include_usage: bool
    timing: Timing
    prompt_tokens: int
    context_window: int


async def pause(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON_TYPE, headers=headers)


async def send_answer(exchange: Exchange) -> web.StreamResponse:
    if exchange.stream:
        return await send_stream(exchange)
    await pause(exchange.timing.complete_s)
    return json_response(completion_bytes(exchange.envelope, exchange.answer, exchange.usage))


async def send_stream(exchange: Exchange, cut_after: int | None = None) -> web.StreamResponse:
    """Stream the answer; with `cut_after`, drop the connection after that many content chunks instead."""
    plan = stream_plan(exchange.envelope, exchange.answer, exchange.usage if exchange.include_usage else None)
    await pause(exchange.timing.first_s)
    interval = exchange.timing.chunk_interval_s
    if cut_after is None and interval <= 0:
        # Unpaced: headers and the whole chunked stream leave in one send, which keeps the simulator cheap
        # under load (a StreamResponse sends its headers on their own, then the body, then the last chunk).
        whole = web.Response(body=plan.head + b"".join(plan.body) + plan.tail, headers=SSE_HEADERS)
        whole.enable_chunked_encoding()
        return whole
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(exchange.request)
    if cut_after is not None:
        await write_paced(response, (plan.head, *plan.body[:cut_after]), interval)
        await drop_connection(exchange.request, reset=False)
    await write_paced(response, (plan.head, *plan.body), interval)
    await response.write_eof(plan.tail)
    return response


async def write_paced(response: web.StreamResponse, frames: tuple[bytes, ...], interval: float) -> None:
    """Write frame i at start + (i - 1) * interval; frames already due go out together in one write."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    pending: list[bytes] = []
    for index, frame in enumerate(frames):
        wait = start + max(index - 1, 0) * interval - loop.time()
        if wait > MIN_SLEEP_S and pending:
            await response.write(b"".join(pending))
            pending.clear()
            await asyncio.sleep(wait)
        pending.append(frame)
    if pending:
        await response.write(b"".join(pending))


async def drop_connection(request: web.Request, reset: bool) -> NoReturn:
    """Close the TCP connection without finishing the response: with an RST when `reset`, else a plain FIN."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if reset and sock is not None:
            # A zero linger time makes close() send RST, which the client sees as "connection reset by peer".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    await asyncio.sleep(DROP_GRACE_S)
    raise ConnectionResetError("the simulator dropped this connection on purpose")


async def reply_status(exchange: Exchange, fault: Fault) -> web.StreamResponse:
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = f"{fault.retry_after:g}"
        headers["retry-after-ms"] = str(round(fault.retry_after * 1000))
    return json_response(status_error_bytes(fault.status), fault.status, headers)


async def reply_html(exchange: Exchange, fault: Fault) -> web.StreamResponse:
    return web.Response(body=html_error_page(fault.status), status=fault.status, content_type="text/html")


async def reply_non_json(exchange: Exchange, fault: Fault) -> web.StreamResponse:
    return json_response(NON_JSON_BODY)


async def reply_timeout(exchange: Exchange, fault: Fault) -> web.StreamResponse:
    await asyncio.sleep(fault.hold_s)
    await drop_connection(exchange.request, reset=False)


async def reply_reset(exchange: Exchange, fault: Fault) -> web.StreamResponse:
    await drop_connection(exchange.request, reset=True)


async def reply_stream_cut(exchange: Exchange, fault: Fault) -> web.StreamResponse:
    if exchange.stream:
        return await send_stream(exchange, cut_after=fault.after_chunks)
    # Not streaming: announce the whole body, send half of it, then hang up.
    body = completion_bytes(exchange.envelope, exchange.answer, exchange.usage)
    response = web.StreamResponse(headers={"Content-Type": JSON_TYPE})
    response.content_length = len(body)
    await response.prepare(exchange.request)
    await response.write(body[: len(body) // 2])
    await drop_connection(exchange.request, reset=False)


async def reply_slow_first_byte(exchange: Exchange, fault: Fault) -> web.StreamResponse:
    await pause(fault.delay_s)
    return await send_answer(exchange)


async def reply_stream_error_first(exchange: Exchange, fault: Fault) -> web.StreamResponse:
    error = status_error_bytes(fault.status)
    if not exchange.stream:
        # What some gateways do without streaming: a 200 whose JSON body is an error.
        return json_response(error)
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(exchange.request)
    await response.write_eof(sse_frame_raw(error))
    return response


def sse_frame_raw(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


async def reply_empty(exchange: Exchange, fault: Fault) -> web.StreamResponse:
    # The provider composed this exchange's answer empty; it is sent like any other.
    return await send_answer(exchange)


async def reply_context_length(exchange: Exchange, fault: Fault) -> web.StreamResponse:
    return send_context_length(exchange)


def send_context_length(exchange: Exchange) -> web.Response:
    return json_response(context_length_bytes(exchange.context_window, exchange.prompt_tokens), 400)


FaultReply = Callable[[Exchange, Fault], Awaitable[web.StreamResponse]]

FAULT_REPLIES: dict[str, FaultReply] = {
    "status": reply_status,
    "html": reply_html,
    "timeout": reply_timeout,
    "reset": reply_reset,
    "stream_cut": reply_stream_cut,
    "slow_first_byte": reply_slow_first_byte,
    "stream_error_first": reply_stream_error_first,
    "empty": reply_empty,
    "non_json": reply_non_json,
    "context_length": reply_context_length,
}
