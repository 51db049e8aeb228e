"""The upstream HTTP/1.1 client against scripted servers on 127.0.0.1: bodies of every framing, keep-alive
reuse, and each way a connection can fail, classified for escalation."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from optmod import escalation, upstream_client
from optmod.config import LimitsSettings, ModelConfig
from optmod.escalation import classify_exception
from optmod.forwarder import Completion, Forwarder
from optmod.upstream_client import (
    ConnectionPool,
    UpstreamConnectError,
    UpstreamDisconnectedError,
    UpstreamError,
    UpstreamProtocolError,
    encode_headers,
)

HEADERS = encode_headers({"Content-Type": "application/json", "Authorization": "Bearer sk-test"})


@dataclass
class Scripted:
    """A server that answers each request with the next scripted reply: bytes, then close the connection or not."""

    replies: list[tuple[bytes, bool]]
    pause_s: float = 0.0  # between the 40-byte writes of a reply
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.replies:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(
                    next(line for line in head.split(b"\r\n") if line.startswith(b"Content-Length")).split()[1]
                )
                self.requests.append(head + await reader.readexactly(length))
                reply, close = self.replies.pop(0)
                for piece in _pieces(reply):
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(self.pause_s)
                if close:
                    break
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()


def _pieces(reply: bytes) -> list[bytes]:
    return [reply[i : i + 40] for i in range(0, len(reply), 40)]


@asynccontextmanager
async def serve(script: Scripted) -> AsyncIterator[str]:
    server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/chat/completions"
    finally:
        server.close()


def json_reply(body: bytes, status: int = 200, extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def chunked_reply(parts: list[bytes]) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


async def test_sends_one_well_formed_post_and_reuses_the_connection() -> None:
    script = Scripted([(json_reply(b'{"a":1}'), False), (json_reply(b'{"b":2}', 429, "Retry-After: 3\r\n"), False)])
    async with serve(script) as url:
        pool = ConnectionPool(url, connect_timeout_s=2.0)
        async with await pool.post(b'{"q":1}', HEADERS) as first:
            assert (first.status, await first.read()) == (200, b'{"a":1}')
        async with await pool.post(b'{"q":22}', HEADERS) as second:
            assert second.status == 429 and second.headers["retry-after"] == "3"
            assert await second.read() == b'{"b":2}'
        pool.close()
    assert script.connections == 1
    head, _, body = script.requests[1].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions HTTP/1.1"
    assert f"Host: 127.0.0.1:{url.split(':')[2].split('/')[0]}".encode() in lines
    assert b"Authorization: Bearer sk-test" in lines and b"Content-Length: 8" in lines
    assert body == b'{"q":22}'


async def test_a_chunked_stream_arrives_in_order_and_whole() -> None:
    parts = [b"data: %d\n\n" % i for i in range(30)]
    script = Scripted([(chunked_reply(parts), False)], pause_s=0.005)
    async with serve(script) as url:
        pool = ConnectionPool(url, connect_timeout_s=2.0)
        response = await pool.post(b"{}", HEADERS)
        received = [piece async for piece in response.iter_any()]
        response.release()
        pool.close()
    assert b"".join(received) == b"".join(parts)
    assert len(received) > 1  # relayed as it came, not after the end


async def test_a_body_that_ends_with_the_connection_is_read_whole() -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + b"x" * 500
    async with serve(Scripted([(reply, True)])) as url:
        pool = ConnectionPool(url, connect_timeout_s=2.0)
        async with await pool.post(b"{}", HEADERS) as response:
            assert await response.read() == b"x" * 500
        pool.close()


async def test_a_connection_cut_mid_body_is_a_reset() -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"y" * 100
    async with serve(Scripted([(reply, True)])) as url:
        pool = ConnectionPool(url, connect_timeout_s=2.0)
        response = await pool.post(b"{}", HEADERS)
        with pytest.raises(UpstreamDisconnectedError) as caught:
            await response.read()
        response.release()
        pool.close()
    assert classify_exception(caught.value) == escalation.CONNECTION_RESET


async def test_an_answer_left_unread_is_not_reused() -> None:
    script = Scripted([(chunked_reply([b"a" * 50] * 5), False), (json_reply(b"{}"), False)], pause_s=0.005)
    async with serve(script) as url:
        pool = ConnectionPool(url, connect_timeout_s=2.0)
        first = await pool.post(b"{}", HEADERS)
        first.release()  # the rest of its body may still come: that connection cannot carry another request
        async with await pool.post(b"{}", HEADERS) as second:
            assert await second.read() == b"{}"
        pool.close()
    assert script.connections == 2


async def test_garbage_instead_of_http_is_a_protocol_error() -> None:
    async with serve(Scripted([(b"SSH-2.0-OpenSSH\r\n\r\n", True)])) as url:
        pool = ConnectionPool(url, connect_timeout_s=2.0)
        with pytest.raises(UpstreamProtocolError) as caught:
            await pool.post(b"{}", HEADERS)
        pool.close()
    assert classify_exception(caught.value) == escalation.SERVER_ERROR


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_refused_connection_is_a_connect_error() -> None:
    pool = ConnectionPool(f"http://127.0.0.1:{closed_port()}/v1/chat/completions", connect_timeout_s=2.0)
    with pytest.raises(UpstreamConnectError) as caught:
        await pool.post(b"{}", HEADERS)
    assert classify_exception(caught.value) == escalation.CONNECT_ERROR


def test_https_pools_speak_tls_and_others_are_refused() -> None:
    assert ConnectionPool("https://api.example.com/v1/chat/completions", 1.0)._tls is not None
    assert ConnectionPool("http://127.0.0.1:9/v1/chat/completions", 1.0)._tls is None
    with pytest.raises(UpstreamConnectError):
        ConnectionPool("ftp://example.com/x", 1.0)


@pytest.mark.parametrize(
    "make", [lambda: {"Authorization": "Bearer a\r\nX-Evil: 1"}, lambda: {"X\nY": "v"}], ids=["value", "name"]
)
def test_a_line_break_in_a_header_is_refused(make: Callable[[], dict[str, str]]) -> None:
    with pytest.raises(UpstreamProtocolError):
        encode_headers(make())


def every_upstream_error() -> list[type[BaseException]]:
    return [obj for obj in vars(upstream_client).values() if isinstance(obj, type) and issubclass(obj, UpstreamError)]


@pytest.mark.parametrize("exc_type", every_upstream_error(), ids=lambda t: t.__name__)
def test_every_upstream_error_is_mapped(exc_type: type[BaseException]) -> None:
    assert classify_exception(exc_type("x")) in escalation.RETRYABLE


async def test_a_stream_released_at_its_end_keeps_its_connection() -> None:
    script = Scripted([(chunked_reply([b"data: 1\n\n", b"data: [DONE]\n\n"]), False), (json_reply(b"{}"), False)])
    script.pause_s = 0.005
    async with serve(script) as url:
        pool = ConnectionPool(url, connect_timeout_s=2.0)
        stream = await pool.post(b"{}", HEADERS)
        async for piece in stream.iter_any():
            if b"[DONE]" in piece:
                break
        stream.release_at_end()  # the chunked terminator is still on its way
        await asyncio.sleep(0.05)
        async with await pool.post(b"{}", HEADERS) as second:
            assert await second.read() == b"{}"
        pool.close()
    assert script.connections == 1


@pytest.fixture
def tls_pair(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for 127.0.0.1, and a client context that trusts only it."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *subject, *files],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


async def test_https_answers_over_tls_and_an_untrusted_certificate_is_a_connect_error(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls_pair
    script = Scripted([(json_reply(b'{"tls":true}'), False)])
    server = await asyncio.start_server(script.handle, "127.0.0.1", 0, ssl=server_context)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"
    try:
        pool = ConnectionPool(url, connect_timeout_s=5.0, tls=client_context)
        async with await pool.post(b"{}", HEADERS) as response:
            assert await response.read() == b'{"tls":true}'
        pool.close()
        untrusting = ConnectionPool(url, connect_timeout_s=5.0)  # the system's CAs do not know this certificate
        with pytest.raises(UpstreamConnectError):
            await untrusting.post(b"{}", HEADERS)
    finally:
        server.close()


async def test_the_forwarder_sends_the_key_asks_for_no_compression_and_reads_the_answer() -> None:
    answer = b'{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}'
    script = Scripted([(json_reply(answer), False)])
    async with serve(script) as url:
        model = ModelConfig(
            name="m",
            tier=0,
            base_url=url.removesuffix("/chat/completions"),
            api_key_env="OPTMOD_TEST_KEY",
            input_usd_per_mtok=1.0,
            output_usd_per_mtok=2.0,
            cached_input_usd_per_mtok=0.1,
            context_window=8000,
        )
        forwarder = Forwarder(LimitsSettings(), environ={"OPTMOD_TEST_KEY": "sk-test-forwarder-key"})
        result = await forwarder.complete(model, b'{"model":"m"}', timeout_s=5.0)
        await forwarder.close()
    assert isinstance(result, Completion) and result.body == answer and result.content_chars == 2
    assert result.usage is not None and result.usage.prompt_tokens == 3
    head = script.requests[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert b"Authorization: Bearer sk-test-forwarder-key" in head
    assert b"Accept-Encoding: identity" in head
