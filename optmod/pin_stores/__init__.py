"""Session pin stores: the interface, the three stores, and the one function that builds one from config.

| kind     | where pins live          | survives a restart | shared by processes            |
|----------|--------------------------|--------------------|--------------------------------|
| memory   | this process             | no                 | no                             |
| sqlite   | a file (the default)     | yes                | by processes on one machine    |
| redis    | a Redis server (URL)     | yes, as Redis does | by every worker and replica    |
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from optmod.config import SessionStoreSettings
from optmod.pin_stores.base import PinRecord, PinStore, PinStoreError, PinWrite
from optmod.pin_stores.memory_store import MemoryPinStore
from optmod.pin_stores.redis_store import RedisPinStore
from optmod.pin_stores.sqlite_store import SqlitePinStore

__all__ = [
    "PIN_STORES",
    "MemoryPinStore",
    "PinRecord",
    "PinStore",
    "PinStoreError",
    "PinWrite",
    "RedisPinStore",
    "SqlitePinStore",
    "build_pin_store",
]


def _build_memory(settings: SessionStoreSettings, base_dir: Path) -> PinStore:
    return MemoryPinStore(settings.max_sessions)


def _build_sqlite(settings: SessionStoreSettings, base_dir: Path) -> PinStore:
    path = Path(settings.sqlite_path)
    return SqlitePinStore(path if path.is_absolute() else base_dir / path, settings.max_sessions)


def _build_redis(settings: SessionStoreSettings, base_dir: Path) -> PinStore:
    if not settings.redis_url:  # the config validator already refuses this; kept for direct callers
        raise PinStoreError("session_store.kind 'redis' needs session_store.redis_url")
    return RedisPinStore(settings.redis_url, settings.max_sessions, settings.redis_timeout_s)


PIN_STORES: dict[str, Callable[[SessionStoreSettings, Path], PinStore]] = {
    "memory": _build_memory,
    "sqlite": _build_sqlite,
    "redis": _build_redis,
}


def build_pin_store(settings: SessionStoreSettings, base_dir: Path) -> PinStore:
    """The store `settings.kind` names; a relative `sqlite_path` is taken from `base_dir` (the config's folder)."""
    return PIN_STORES[settings.kind](settings, base_dir)
