"""The pin store interface: what a session pin is once stored, and the few operations every store offers.

A store keeps, per session, the model it is pinned to, the time of its last successful turn, and the cache
savings observed on each model the session used. It knows nothing of phases or windows: `SessionPins` decides
those from the record's age. A store only enforces its bounds: a pin is physically dropped `ttl_s` after its
last write (the soft window: an older pin is dead anyway), and the least recently written sessions are evicted
when more than `max_sessions` are held.

Errors::

    PinStoreError      the backend (SQLite file, Redis server) failed; the request routes as if unpinned
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar


class PinStoreError(RuntimeError):
    """The store's backend failed (disk, lock, connection, timeout). Never fatal to a request."""


@dataclass(frozen=True, slots=True)
class PinRecord:
    """One session's pin as stored: the pinned model, when it last answered, and its observed cache savings.

    `savings_usd` is the total saved on `model` in this session by cached-input pricing, `warm_calls` the number
    of calls on `model` that reported cached tokens; their ratio is what a warm call saves on average.
    """

    model: str
    last_ts: float
    savings_usd: float = 0.0
    warm_calls: int = 0


@dataclass(frozen=True, slots=True)
class PinWrite:
    """One successful turn to record: pin `session_id` to `model` at `ts` and add the turn's cache savings."""

    session_id: str
    model: str
    ts: float
    savings_usd: float
    warm: bool  # the turn reported cached tokens
    ttl_s: float  # how long the pin may live after `ts`


class PinStore(ABC):
    """Where session pins live. Every operation is atomic for one session, even across processes sharing it."""

    kind: ClassVar[str]

    @abstractmethod
    async def get(self, session_id: str) -> PinRecord | None:
        """The session's pin with the savings on its pinned model, or None when the store holds none."""

    @abstractmethod
    async def record(self, write: PinWrite) -> None:
        """Pin the session to `write.model`, stamp the time, and add the savings to (session, model)."""

    @abstractmethod
    async def drop(self, session_id: str, model: str) -> bool:
        """Drop the session's pin if, and only if, it still points at `model`; True when one was dropped.

        Conditional so that a failure on the old model cannot erase a pin another request just moved.
        """

    @abstractmethod
    async def count_since(self, cutoff_ts: float) -> int:
        """How many sessions had a successful turn after `cutoff_ts`."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What /optmod/status shows about the store (never a password)."""

    async def close(self) -> None:  # noqa: B027 - a store without resources has nothing to release
        """Release connections and files."""
