"""The in-memory pin store: one process, lost on restart, the fastest."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from optmod.pin_stores.base import PinRecord, PinStore, PinWrite


@dataclass(slots=True)
class _Savings:
    usd: float = 0.0
    warm_calls: int = 0


@dataclass(slots=True)
class _Entry:
    model: str
    last_ts: float
    expires_at: float
    savings: dict[str, _Savings] = field(default_factory=dict)


class MemoryPinStore(PinStore):
    """Pins in an insertion-ordered dict: the least recently written session is at the front, first evicted."""

    kind = "memory"

    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max_sessions
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # Event-loop code never yields inside an operation, but the store is also safe to share across threads.
        self._lock = threading.Lock()

    async def get(self, session_id: str) -> PinRecord | None:
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None:
                return None
            savings = entry.savings.get(entry.model)
            if savings is None:
                return PinRecord(entry.model, entry.last_ts)
            return PinRecord(entry.model, entry.last_ts, savings.usd, savings.warm_calls)

    async def record(self, write: PinWrite) -> None:
        with self._lock:
            entry = self._entries.get(write.session_id)
            if entry is None:
                entry = _Entry(write.model, write.ts, write.ts + write.ttl_s)
                self._entries[write.session_id] = entry
            else:
                entry.model, entry.last_ts, entry.expires_at = write.model, write.ts, write.ts + write.ttl_s
                self._entries.move_to_end(write.session_id)
            if write.savings_usd or write.warm:
                savings = entry.savings.setdefault(write.model, _Savings())
                savings.usd += write.savings_usd
                savings.warm_calls += int(write.warm)
            self._evict(now=write.ts)

    def _evict(self, now: float) -> None:
        """Drop expired sessions from the front, then the oldest beyond the bound."""
        entries = self._entries
        while entries:
            oldest = next(iter(entries.values()))
            if oldest.expires_at > now and len(entries) <= self.max_sessions:
                return
            entries.popitem(last=False)

    async def drop(self, session_id: str, model: str) -> bool:
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None or entry.model != model:
                return False
            del self._entries[session_id]
            return True

    async def count_since(self, cutoff_ts: float) -> int:
        with self._lock:
            return sum(1 for entry in self._entries.values() if entry.last_ts > cutoff_ts)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "max_sessions": self.max_sessions}
