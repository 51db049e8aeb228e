"""HTTP edge of the statistics: `/api/stats`, `/api/stats/live`, `/metrics` and the `/ui` dashboard.

Handlers are thin: they read the state the app factory put on `app.state.optmod`, call one method and
return. The dashboard is static HTML, JS and CSS from `optmod/ui/`, served from a fixed table of assets (no
path from the request ever reaches the filesystem), and it reads every number it shows from `/api/stats`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from optmod.metrics import ProxyMetrics
from optmod.stats import RangeError, StatsAggregate

UI_DIR = Path(__file__).resolve().parent / "ui"
UI_ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
NO_STORE = {"Cache-Control": "no-store"}


class DashboardState(Protocol):
    """What the handlers need from the application state."""

    stats: StatsAggregate
    metrics: ProxyMetrics

    async def active_pin_count(self) -> int: ...


def _state(request: Request) -> DashboardState:
    state: DashboardState = request.app.state.optmod
    return state


def _openai_error(status: int, message: str, error_type: str, param: str | None) -> JSONResponse:
    body = {"error": {"message": message, "type": error_type, "param": param, "code": None}}
    return JSONResponse(body, status_code=status)


router = APIRouter()


@router.get("/api/stats")
async def get_stats(request: Request, range_: str = Query("24h", alias="range")) -> Response:
    state = _state(request)
    try:
        body: dict[str, Any] = state.stats.snapshot(range_, await state.active_pin_count())
    except RangeError as exc:
        return _openai_error(400, str(exc), "invalid_request_error", "range")
    return JSONResponse(body, headers=NO_STORE)


@router.get("/api/stats/live")
async def get_live_stats(request: Request) -> Response:
    state = _state(request)
    return JSONResponse(state.stats.live(await state.active_pin_count()), headers=NO_STORE)


@router.get("/metrics")
async def get_metrics(request: Request) -> Response:
    body, content_type = _state(request).metrics.render()
    return Response(body, media_type=content_type, headers=NO_STORE)


@router.get("/")
def get_root() -> Response:
    """A browser pointed at the proxy's address lands on the dashboard."""
    return RedirectResponse("/ui", status_code=307)


@router.get("/ui")
def get_dashboard() -> Response:
    html = (UI_DIR / "index.html").read_bytes()
    return Response(html, media_type="text/html; charset=utf-8", headers=NO_STORE)


@router.get("/ui/{asset}")
def get_dashboard_asset(asset: str) -> Response:
    content_type = UI_ASSETS.get(asset)
    if content_type is None:
        return _openai_error(404, f"no dashboard asset named {asset!r}", "not_found_error", "asset")
    return Response((UI_DIR / asset).read_bytes(), media_type=content_type, headers=NO_STORE)
