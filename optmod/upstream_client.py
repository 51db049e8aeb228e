"""A small HTTP/1.1 client for provider calls: keep-alive connections per provider, asyncio protocols, httptools.

aiohttp's request machinery was about a quarter of the proxy's Python time per request (py-spy, c=1, instant
upstream). A provider call needs much less than a general client: one POST with a JSON body; a status, headers
and a body read whole or streamed as it arrives; TLS for https; chunked, length-delimited or close-delimited
bodies. No redirects, cookies, proxies or compression (optmod never asks for an encoding, so none comes).

Timeouts are the caller's (`asyncio.timeout` around the call, which closes the connection); only the connect
has its own bound. Errors, mapped to failure classes in `escalation.TRANSPORT_FAILURES`:

    UpstreamError
     +-- UpstreamConnectError        the TCP or TLS connection could not be made
     +-- UpstreamDisconnectedError   the connection closed before the answer was complete
     +-- UpstreamProtocolError       the answer is not HTTP/1.1 the parser accepts
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import cast
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

# A stream the client reads slower than the provider writes stops being read past this much buffered data.
PAUSE_BYTES = 1 << 20
# Idle connections older than this are closed rather than reused: providers drop idle ones on their side.
IDLE_LIMIT_S = 30.0
MAX_IDLE_PER_ORIGIN = 256


class UpstreamError(Exception):
    """A provider call failed below HTTP: no status to look at."""


class UpstreamConnectError(UpstreamError):
    """The connection (TCP or TLS) could not be made."""


class UpstreamDisconnectedError(UpstreamError):
    """The provider closed the connection before its answer was complete."""


class UpstreamProtocolError(UpstreamError):
    """The provider's bytes are not an HTTP/1.1 answer."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; parses the answer to the request in flight into its `UpstreamResponse`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self._parser = httptools.HttpResponseParser(self)
        self._response: UpstreamResponse | None = None
        self._header_list: list[tuple[str, str]] = []
        self._delimited = True  # False: the body ends when the connection does

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport, so no isinstance check).
        self.transport = cast(asyncio.Transport, transport)

    def start(self, response: UpstreamResponse, request: bytes) -> None:
        self._response, self._header_list, self._delimited = response, [], True
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        if self._response is None:  # bytes on an idle connection: it is no longer in a known state
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamProtocolError(f"bad HTTP answer: {exc}"))

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost ends the body or fails it

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self._response
        if response is None:
            return
        if response.headers_done and not self._delimited:
            self.on_message_complete()
        else:
            self._fail(UpstreamDisconnectedError("the provider closed the connection before the answer ended"))

    def _fail(self, error: UpstreamError) -> None:
        response, self._response = self._response, None
        self.close()
        if response is not None:
            response.fail(error)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_list.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        assert self._response is not None
        headers = CIMultiDict(self._header_list)
        status = self._parser.get_status_code()
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        self._delimited = chunked or "Content-Length" in headers or status in (204, 304) or 100 <= status < 200
        self._response.set_head(status, CIMultiDictProxy(headers))

    def on_body(self, body: bytes) -> None:
        assert self._response is not None and self.transport is not None
        if self._response.feed(bytes(body)) > PAUSE_BYTES:
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        response, self._response = self._response, None
        if response is None:
            return
        if not self._parser.should_keep_alive() or not self._delimited:
            self.close()
        response.finish()

    def usable(self) -> bool:
        """Open, and not already closing (a provider's close may not have been delivered yet)."""
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def resume(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamResponse:
    """A provider's answer: status and headers, then the body whole (`read`) or as it arrives (`iter_any`)."""

    def __init__(self, connection: _Connection, pool: ConnectionPool) -> None:
        self.status = 0
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
        self.headers_done = False
        self._connection = connection
        self._pool = pool
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._release_at_end = False

    def set_head(self, status: int, headers: CIMultiDictProxy[str]) -> None:
        self.status, self.headers, self.headers_done = status, headers, True
        self._wake()

    def feed(self, chunk: bytes) -> int:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        self._wake()
        return self._buffered

    def finish(self) -> None:
        self._done = True
        self._wake()
        if self._release_at_end:
            self.release()

    def fail(self, error: UpstreamError) -> None:
        self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def wait_head(self) -> None:
        while not self.headers_done:
            if self._error is not None:
                raise self._error
            await self._wait()

    async def _next(self) -> bytes | None:
        """Every body byte buffered so far (waiting for some), or None at the end of the body."""
        while not self._chunks:
            if self._done:
                return None
            if self._error is not None:
                raise self._error
            await self._wait()
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        if self._buffered > PAUSE_BYTES:
            self._connection.resume()
        self._buffered = 0
        return data

    async def read(self) -> bytes:
        parts = []
        while (data := await self._next()) is not None:
            parts.append(data)
        return b"".join(parts)

    async def iter_any(self) -> AsyncIterator[bytes]:
        while (data := await self._next()) is not None:
            yield data

    def release(self) -> None:
        """Done with this answer: the connection goes back to the pool if the answer was read to its end."""
        if self._done and self._error is None:
            self._pool.put(self._connection)
        else:
            self._connection.close()

    def release_at_end(self) -> None:
        """Nothing more will be read, but the body is known to be nearly over (a stream's [DONE] came): the
        connection goes back to the pool when its last bytes arrive, instead of being closed now."""
        self._chunks.clear()
        if self._done or self._error is not None:
            self.release()
        else:
            self._release_at_end = True

    def close(self) -> None:
        self._connection.close()

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class ConnectionPool:
    """Keep-alive connections to one provider URL, and the request line and headers that go to it."""

    def __init__(self, url: str, connect_timeout_s: float, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamConnectError(f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        default_port = self._port == (443 if self._https else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        authority = host if default_port else f"{host}:{self._port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._request_head = f"POST {path} HTTP/1.1\r\nHost: {authority}\r\n".encode("latin-1")
        # Read at every new connection, so a config reload may change it for the connections that follow.
        self.connect_timeout_s = connect_timeout_s
        self._tls = (tls or ssl.create_default_context()) if self._https else None
        self._idle: list[_Connection] = []

    async def post(self, body: bytes, header_block: bytes) -> UpstreamResponse:
        """Send the request and wait for the answer's status and headers (the body follows on the response).

        `header_block` is `encode_headers(...)`: a provider's headers are the same on every call.
        """
        length = b"Content-Length: %d\r\n\r\n" % len(body)
        request = b"".join((self._request_head, header_block, length, body))
        connection = self._idle_connection() or await self._connect()
        response = UpstreamResponse(connection, self)
        try:
            connection.start(response, request)
            await response.wait_head()
        except BaseException:
            connection.close()
            raise
        return response

    def _idle_connection(self) -> _Connection | None:
        oldest = time.monotonic() - IDLE_LIMIT_S
        while self._idle:
            connection = self._idle.pop()
            if connection.usable() and connection.idle_since >= oldest:
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, connection = await loop.create_connection(
                    _Connection,
                    self._host,
                    self._port,
                    ssl=self._tls,
                    server_hostname=self._host if self._tls else None,
                )
        except OSError as exc:  # refused, unreachable, name resolution, TLS handshake (ssl.SSLError)
            raise UpstreamConnectError(f"cannot connect to {self._host}:{self._port}: {exc.strerror or exc}") from exc
        return connection

    def put(self, connection: _Connection) -> None:
        if connection.closed or len(self._idle) >= MAX_IDLE_PER_ORIGIN:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        self._idle.append(connection)

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """Request header lines, refusing a line break in a name or a value (it would inject a header)."""
    for name, value in headers.items():
        if any(c in name or c in value for c in "\r\n"):
            raise UpstreamProtocolError(f"the {name} header holds a line break")
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")
