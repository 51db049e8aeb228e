"""The server wrapper that ticks once a second: a signal still stops it at once, and the date header is kept."""

from __future__ import annotations

import asyncio
import signal

import uvicorn

from optmod.main import QuietServer


async def app(scope: object, receive: object, send: object) -> None:  # never called: no socket is opened
    raise AssertionError("not reached")


def make_server() -> QuietServer:
    config = uvicorn.Config(app, log_level="warning")
    config.load()
    return QuietServer(config)


async def test_a_signal_ends_the_main_loop_without_waiting_for_the_tick() -> None:
    server = make_server()
    loop_task = asyncio.create_task(server.main_loop())
    await asyncio.sleep(0.05)
    assert not loop_task.done()
    server.handle_exit(signal.SIGTERM, None)
    # The tick is a second; woken by the signal, the loop ends long before that.
    async with asyncio.timeout(0.5):
        await loop_task


async def test_every_tick_refreshes_the_date_header() -> None:
    server = make_server()
    server.server_state.default_headers = []
    loop_task = asyncio.create_task(server.main_loop())
    await asyncio.sleep(0.05)
    assert any(name == b"date" for name, _ in server.server_state.default_headers)
    server.handle_exit(signal.SIGTERM, None)
    await loop_task
