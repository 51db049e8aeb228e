"""A client that goes away mid-stream: optmod closes the provider's connection (so it stops generating and
billing) and logs the request as client_disconnected. Real uvicorn server, real sockets, 127.0.0.1 only."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from conftest import RunningProxy, chat_body, start_proxy

CONTENT_EVENT = (
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
)


class HangingUpstream:
    """Answers with an event stream, sends one content event, then holds the stream open until closed; with
    `silent`, reads the request and says nothing at all until closed (a provider still thinking)."""

    def __init__(self, silent: bool = False) -> None:
        self.base_url: str | None = None
        self.closed = asyncio.Event()
        self.received = asyncio.Event()
        self.requests = 0
        self._silent = silent
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.base_url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"
        return self.base_url

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        self.requests += 1
        self.received.set()
        if not self._silent:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(b"%x\r\n%s\r\n" % (len(CONTENT_EVENT), CONTENT_EVENT))
            await writer.drain()
        await reader.read()  # b"" once optmod closes its side
        self.closed.set()
        writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


async def send_raw_chat(proxy: RunningProxy, body: dict[str, Any]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A chat request on a socket of the test's own, so the test can hang up whenever it likes."""
    host, port = proxy.root.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    payload = orjson.dumps(body)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(payload)
        + payload
    )
    await writer.drain()
    return reader, writer


async def test_a_client_leaving_mid_stream_closes_the_upstream_and_is_logged(tmp_path: Any) -> None:
    upstream = HangingUpstream()
    proxy, server, task = await start_proxy(tmp_path, simulator=upstream)  # type: ignore[arg-type]
    try:
        reader, writer = await send_raw_chat(proxy, chat_body(model="fast-a", stream=True))
        async with asyncio.timeout(10):
            received = b""
            while b'"Hi"' not in received:
                chunk = await reader.read(65536)
                assert chunk, f"the proxy closed the connection: {received!r}"  # at EOF read() never waits
                received += chunk
        writer.close()
        async with asyncio.timeout(10):
            await upstream.closed.wait()
        # The record is written right after optmod closes the upstream side, in the same step.
        [record] = proxy.records()
        assert record["stream"] is True and record["error_type"] == "client_disconnected"
        assert record["model"] == "fast-a"
    finally:
        server.should_exit = True
        await task
        await upstream.stop()


async def test_a_client_leaving_before_a_json_answer_stops_the_tries_and_is_logged(tmp_path: Any) -> None:
    upstream = HangingUpstream(silent=True)
    proxy, server, task = await start_proxy(tmp_path, simulator=upstream)  # type: ignore[arg-type]
    try:
        _, writer = await send_raw_chat(proxy, chat_body(model="fast-a"))
        async with asyncio.timeout(3):
            await upstream.received.wait()
        writer.close()  # the client gives up long before the 5 s first-byte limit
        async with asyncio.timeout(3):
            await upstream.closed.wait()  # optmod hung up on the provider: the try stopped
        for _ in range(100):  # the record follows the hang-up within a step or two
            if proxy.records():
                break
            await asyncio.sleep(0.01)
        [record] = proxy.records()
        assert record["status"] == 499 and record["ok"] is False
        assert record["error_type"] == "client_disconnected" and record["stream"] is False
        assert upstream.requests == 1, "nothing is tried again for a client that left"
    finally:
        server.should_exit = True
        await task
        await upstream.stop()
