"""The Redis pin store: pins shared by several workers or replicas.

Layout, under a key prefix (default `optmod:`): one hash per session, `pin:<session>`, holding the pinned
model `m`, the last turn's time `t`, and per model `s:<model>` (USD saved) and `n:<model>` (warm calls); and
one sorted set `pins` of session ids scored by their last turn, which bounds the size and counts active pins.
Writes and conditional drops are Lua scripts, so each is atomic however many processes share the server.
The hash expires `ttl_s` after its last write; the sorted set is trimmed of expired and excess sessions in
the same script. The eviction script deletes keys it derives from the set, so it targets one Redis server
(or a primary with replicas), not a Redis Cluster.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from optmod.pin_stores.base import PinRecord, PinStore, PinStoreError, PinWrite

_RECORD = """
local pin, index = KEYS[1], KEYS[2]
local session, model, ts, savings, warm = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ttl_ms, cutoff, max_sessions, prefix = ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
redis.call('HSET', pin, 'm', model, 't', ts)
if tonumber(savings) ~= 0 then redis.call('HINCRBYFLOAT', pin, 's:' .. model, savings) end
if warm == '1' then redis.call('HINCRBY', pin, 'n:' .. model, 1) end
redis.call('PEXPIRE', pin, ttl_ms)
redis.call('ZADD', index, ts, session)
redis.call('ZREMRANGEBYSCORE', index, '-inf', cutoff)
local excess = redis.call('ZCARD', index) - max_sessions
if excess > 0 then
  local victims = redis.call('ZPOPMIN', index, excess)
  for i = 1, #victims, 2 do redis.call('DEL', prefix .. victims[i]) end
end
return 0
"""
_DROP = """
if redis.call('HGET', KEYS[1], 'm') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


class RedisPinStore(PinStore):
    """Pins in Redis, for several proxy processes that must agree on a session's model."""

    kind = "redis"

    def __init__(self, url: str, max_sessions: int, timeout_s: float, prefix: str = "optmod:") -> None:
        """`timeout_s`: connect and reply timeout (`session_store.redis_timeout_s`); slower counts as down."""
        self.url = url
        self.max_sessions = max_sessions
        self._pin_prefix = prefix + "pin:"
        self._index = prefix + "pins"
        self._client = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._record = self._client.register_script(_RECORD)
        self._drop = self._client.register_script(_DROP)

    async def get(self, session_id: str) -> PinRecord | None:
        with _translated_errors():
            # decode_responses=True: keys and values come back as str, whatever the stubs say.
            fields = cast(dict[str, str], await self._client.hgetall(self._pin_prefix + session_id))
        model = fields.get("m")
        if model is None:
            return None
        return PinRecord(
            model=model,
            last_ts=float(fields["t"]),
            savings_usd=float(fields.get("s:" + model, 0.0)),
            warm_calls=int(fields.get("n:" + model, 0)),
        )

    async def record(self, write: PinWrite) -> None:
        ttl_ms = max(math.ceil(write.ttl_s * 1000), 1)
        args = (
            write.session_id,
            write.model,
            repr(write.ts),
            repr(write.savings_usd),
            "1" if write.warm else "0",
            ttl_ms,
            repr(write.ts - write.ttl_s),
            self.max_sessions,
            self._pin_prefix,
        )
        with _translated_errors():
            await self._record(keys=[self._pin_prefix + write.session_id, self._index], args=args)

    async def drop(self, session_id: str, model: str) -> bool:
        with _translated_errors():
            dropped = await self._drop(keys=[self._pin_prefix + session_id, self._index], args=[model, session_id])
        return bool(dropped)

    async def count_since(self, cutoff_ts: float) -> int:
        with _translated_errors():
            count: int = await self._client.zcount(self._index, f"({cutoff_ts!r}", "+inf")
        return count

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": redact_url(self.url), "max_sessions": self.max_sessions}

    async def close(self) -> None:
        with _translated_errors():
            await self._client.aclose()


def redact_url(url: str) -> str:
    """The URL with its password replaced, fit for a status page or a log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise PinStoreError(f"redis pin store: {type(exc).__name__}: {exc}") from exc
