"""Control endpoints: status, model list, and the runtime switches (router, compressor, log, config reload).

Endpoints that change state need the admin token when one is configured (`Authorization: Bearer <token>`
or `x-optmod-admin-token`). Path parameters are checked against their tables; an unknown value is a 404
that lists the valid ones.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from optmod import __version__
from optmod.config import ConfigError, load_config
from optmod.errors import AuthenticationError, InvalidRequestError, NotFoundError
from optmod.routing import ROUTERS, UnknownRouterError
from optmod.session_pin import PinWindows
from optmod.state import COMPRESSOR, AppState, build_runtime

logger = logging.getLogger("optmod")

COMPRESSOR_STATES = {"on": True, "off": False}
VIRTUAL_MODEL = "optmod"


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.optmod
    return state


def require_admin(request: Request) -> None:
    token = _state(request).admin_token
    if not token:
        return
    header = request.headers.get("authorization", "")
    offered = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-optmod-admin-token", "")
    if not hmac.compare_digest(offered.encode(), token.encode()):
        raise AuthenticationError("this endpoint needs the admin token (Authorization: Bearer <token>)")


router = APIRouter()
admin = [Depends(require_admin)]


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    state = _state(request)
    created = int(state.started_at)
    models = [{"id": VIRTUAL_MODEL, "object": "model", "created": created, "owned_by": "optmod"}]
    models += [
        {"id": m.name, "object": "model", "created": created, "owned_by": m.tier_name} for m in state.runtime.registry
    ]
    return {"object": "list", "data": models}


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> dict[str, Any]:
    """One entry of the list (pool names hold slashes, hence the path parameter)."""
    listed: list[dict[str, Any]] = (await list_models(request))["data"]
    found = next((m for m in listed if m["id"] == model_id), None)
    if found is None:
        raise NotFoundError(f"no model {model_id!r} in the pool; GET /v1/models lists them", code="model_not_found")
    return found


@router.get("/optmod/status")
async def status(request: Request) -> dict[str, Any]:
    state = _state(request)
    runtime = state.runtime
    active = runtime.router
    pins = state.pins.describe()
    return {
        "version": __version__,
        "demo": state.demo,
        # Where the demo's simulated providers listen: their /_sim endpoints (faults, received) are there.
        "demo_simulator": state.demo_base_url.removesuffix("/v1") if state.demo_base_url else None,
        "uptime_s": round(time.time() - state.started_at, 1),
        "router": {
            "requested": active.requested,
            "active": active.router.name,
            "fallback_reason": active.fallback_reason,
            "available": list(ROUTERS),
            **active.router.describe(),
        },
        "primary_model": runtime.registry.primary.name,
        "models": [
            {
                "name": m.name,
                "tier": m.tier,
                "tier_name": m.tier_name,
                "input_usd_per_mtok": m.input_usd_per_mtok,
                "output_usd_per_mtok": m.output_usd_per_mtok,
                "cached_input_usd_per_mtok": m.cached_input_usd_per_mtok,
                "context_window": m.context_window,
                "supports_vision": m.supports_vision,
                "supports_thinking": m.supports_thinking,
                "cooldown_s": state.cooldowns.remaining(m.name),
            }
            for m in runtime.registry
        ],
        "session_pins": {"active": await state.active_pin_count(), **pins},
        "mutators": list(runtime.config.mutators),
        "compressor": {"enabled": state.compressor_enabled, "configured": COMPRESSOR in runtime.config.mutators},
        "log_path": str(state.log.path),
    }


@router.post("/optmod/router/{name}", dependencies=admin)
async def swap_router(name: str, request: Request) -> dict[str, Any]:
    state = _state(request)
    try:
        active = state.swap_router(name)
    except UnknownRouterError as exc:
        raise NotFoundError(str(exc), param="name") from None
    return {"router": active.requested, "active": active.router.name, "fallback_reason": active.fallback_reason}


@router.post("/optmod/compressor/{setting}", dependencies=admin)
async def toggle_compressor(setting: str, request: Request) -> dict[str, Any]:
    if setting not in COMPRESSOR_STATES:
        raise NotFoundError(
            f"unknown compressor state {setting!r}; valid states: {', '.join(COMPRESSOR_STATES)}", param="state"
        )
    state = _state(request)
    state.compressor_enabled = COMPRESSOR_STATES[setting]
    return {"compressor": setting}


@router.post("/optmod/log/clear", dependencies=admin)
async def clear_log(request: Request) -> dict[str, Any]:
    state = _state(request)
    state.log.clear()
    if state.stats is not None:
        state.stats.clear()
    return {"cleared": str(state.log.path)}


@router.post("/optmod/restart", dependencies=admin)
async def restart(request: Request) -> dict[str, Any]:
    """Re-read config.yaml in-process; requests in flight finish on the runtime they started with.

    The pool, routers' settings, mutators, limits and pin windows apply at once. The active router and the
    compressor switch follow the file only where it changed them: an edit wins over the last runtime switch,
    an untouched line keeps it. A change to a setting read only at start-up (`STARTUP_SETTINGS`) is listed in
    `needs_process_restart` and logged.
    """
    state = _state(request)
    try:
        config = load_config(state.config_path)
    except ConfigError as exc:
        raise InvalidRequestError(f"config not reloaded, the running one stays: {exc}") from None
    if state.demo_base_url:
        config = config.with_base_url(state.demo_base_url)
    previous = state.runtime.config
    router_name = config.router if config.router != previous.router else state.runtime.router.requested
    try:
        runtime = build_runtime(config, state.forwarder, router_name)
    except (KeyError, ValueError) as exc:
        raise InvalidRequestError(f"config not reloaded, the running one stays: {exc}") from None
    state.runtime = runtime
    state.forwarder.use_limits(config.limits)
    state.pins.windows = PinWindows.from_config(config)
    if config.compressor.enabled != previous.compressor.enabled:
        state.compressor_enabled = config.compressor.enabled
    pending = state.started_config.startup_changes(config)
    if pending:
        logger.warning("config reloaded; %s take effect at the next start of the process", ", ".join(pending))
    return {
        "reloaded": str(state.config_path),
        "models": len(runtime.registry),
        "router": runtime.router.requested,
        "needs_process_restart": pending,
    }
