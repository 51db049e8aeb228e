"""Injectable upstream failures and the queue that hands them out.

A `Fault` is queued with `SimulatedProvider.inject` (or `POST /_sim/faults`); each chat request takes the first
queued fault whose `model` matches, and a fault is used up after `times` requests. How each kind is answered
lives in `replies.py`, in the `FAULT_REPLIES` table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FAULT_KINDS = (
    "status",
    "html",
    "timeout",
    "reset",
    "stream_cut",
    "slow_first_byte",
    "stream_error_first",
    "empty",
    "non_json",
    "context_length",
)
ANY_MODEL = "*"
# A "timeout" fault with no delay holds the request for an hour: longer than any client waits.
DEFAULT_TIMEOUT_HOLD_S = 3600.0


class FaultSpecError(ValueError):
    """A fault description (from code or from the control endpoint) is not valid; the message says why."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One failure to inject: what kind, for which model, how many requests it hits, and its parameters."""

    kind: str
    model: str = ANY_MODEL
    times: int = 1
    status: int = 500
    retry_after: float | None = None
    delay_s: float = 0.0
    after_chunks: int = 1

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise FaultSpecError(f"fault kind {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if self.times < 1:
            raise FaultSpecError("times must be at least 1")
        if not 100 <= self.status <= 599:
            raise FaultSpecError("status must be an HTTP status code (100..599)")
        if self.delay_s < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise FaultSpecError("delay_s and retry_after must not be negative")
        if self.after_chunks < 0:
            raise FaultSpecError("after_chunks must not be negative")

    def matches(self, model: str) -> bool:
        return self.model in (ANY_MODEL, model)

    @property
    def hold_s(self) -> float:
        """How long a "timeout" fault holds its request."""
        return self.delay_s or DEFAULT_TIMEOUT_HOLD_S


# Field types accepted from JSON: bool is an int subclass, so it is refused explicitly.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "model": (str,),
    "times": (int,),
    "status": (int,),
    "retry_after": (int, float, type(None)),
    "delay_s": (int, float),
    "after_chunks": (int,),
}


def parse_fault(data: Any) -> Fault:
    """A `Fault` from a JSON object, refusing unknown fields and wrong types."""
    if not isinstance(data, Mapping):
        raise FaultSpecError("each fault must be a JSON object")
    unknown = sorted(set(data) - set(_FIELD_TYPES))
    if unknown:
        raise FaultSpecError(f"unknown fault fields: {', '.join(unknown)}")
    if "kind" not in data:
        raise FaultSpecError("a fault needs a kind")
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, _FIELD_TYPES[name]):
            raise FaultSpecError(f"fault field {name!r} has the wrong type")
    return Fault(**data)


def parse_faults(data: Any) -> tuple[Fault, ...]:
    """Faults from the control endpoint's body: a JSON list of fault objects, or one object."""
    items = data if isinstance(data, list) else [data]
    return tuple(parse_fault(item) for item in items)


def describe_fault(fault: Fault) -> dict[str, Any]:
    return dataclasses.asdict(fault)


class FaultQueue:
    """Queued faults in injection order, each with the number of requests it may still hit."""

    def __init__(self) -> None:
        self._entries: list[tuple[Fault, int]] = []

    def add(self, faults: Iterable[Fault]) -> None:
        self._entries.extend((fault, fault.times) for fault in faults)

    def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        return count

    def take(self, model: str) -> Fault | None:
        """The first fault matching `model`, counted as used once; None when none matches."""
        for index, (fault, remaining) in enumerate(self._entries):
            if fault.matches(model):
                if remaining > 1:
                    self._entries[index] = (fault, remaining - 1)
                else:
                    del self._entries[index]
                return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        return [{**describe_fault(fault), "remaining": remaining} for fault, remaining in self._entries]

    def __len__(self) -> int:
        return len(self._entries)
