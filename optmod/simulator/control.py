"""Control endpoints for a simulator running in another process: queue and clear faults, read what arrived.

POST   /_sim/faults     a JSON list of Fault fields (or one object)  -> {"queued": n, "pending": [...]}
GET    /_sim/faults     the faults still queued
DELETE /_sim/faults     -> {"cleared": n}
GET    /_sim/received   ?last=N (default 20) -> {"count", "by_model", "by_fault", "last": [...]}
DELETE /_sim/received   -> {"cleared": n}
DELETE /_sim/cache      forget every cached prompt prefix
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from optmod.simulator.faults import FaultSpecError, parse_faults
from optmod.simulator.wire import error_bytes

if TYPE_CHECKING:
    from optmod.simulator.server import SimulatedProvider

DEFAULT_LAST = 20


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


def _bad_request(message: str) -> web.Response:
    return web.Response(body=error_bytes(message, "invalid_request_error"), status=400, content_type="application/json")


def control_routes(provider: SimulatedProvider) -> list[web.RouteDef]:
    """The /_sim/* routes bound to `provider`."""

    async def add_faults(request: web.Request) -> web.Response:
        try:
            faults = parse_faults(orjson.loads(await request.read()))
        except orjson.JSONDecodeError:
            return _bad_request("the body must be JSON: a list of faults")
        except (FaultSpecError, TypeError) as exc:
            return _bad_request(str(exc))
        provider.inject(*faults)
        return _json({"queued": len(faults), "pending": provider.pending_faults()})

    async def list_faults(request: web.Request) -> web.Response:
        return _json({"pending": provider.pending_faults()})

    async def clear_faults(request: web.Request) -> web.Response:
        return _json({"cleared": provider.clear_faults()})

    async def show_received(request: web.Request) -> web.Response:
        text = request.query.get("last", str(DEFAULT_LAST))
        if not text.isdigit():
            return _bad_request("last must be a non-negative integer")
        return _json(provider.journal.summary(int(text)))

    async def clear_received(request: web.Request) -> web.Response:
        return _json({"cleared": provider.clear_received()})

    async def clear_cache(request: web.Request) -> web.Response:
        provider.clear_cache()
        return _json({"cleared": True})

    return [
        web.post("/_sim/faults", add_faults),
        web.get("/_sim/faults", list_faults, allow_head=False),
        web.delete("/_sim/faults", clear_faults),
        web.get("/_sim/received", show_received, allow_head=False),
        web.delete("/_sim/received", clear_received),
        web.delete("/_sim/cache", clear_cache),
    ]
