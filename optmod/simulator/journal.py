"""What the simulator received: every chat request, for tests to assert on, with counts that survive trimming."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_KEEP = 10_000
REDACTED = "<redacted>"


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One chat request as it arrived: the model asked for, the body, the headers (lower-case names), what its
    prompt counted as, and which fault (if any) answered it."""

    model: str
    body: Mapping[str, Any]
    headers: Mapping[str, str]
    prompt_tokens: int
    cached_tokens: int
    stream: bool = False
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        # Credentials stay in memory for in-process assertions but never leave through the control endpoint.
        headers = {
            name: REDACTED if name in ("authorization", "x-api-key") else value for name, value in self.headers.items()
        }
        return {
            "model": self.model,
            "body": self.body,
            "headers": headers,
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "stream": self.stream,
            "fault": self.fault,
        }


class Journal:
    """The received requests, newest last. Only the latest `keep` are held (a load test sends millions); the
    counts cover every request since the last clear."""

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        self.entries: list[ReceivedRequest] = []
        self.total = 0
        self.by_model: Counter[str] = Counter()
        self.by_fault: Counter[str] = Counter()
        self._keep = keep

    def add(self, entry: ReceivedRequest) -> None:
        self.entries.append(entry)
        self.total += 1
        self.by_model[entry.model] += 1
        if entry.fault is not None:
            self.by_fault[entry.fault] += 1
        # Trim in batches so that appending stays cheap on average.
        if len(self.entries) >= 2 * self._keep:
            del self.entries[: -self._keep]

    def clear(self) -> int:
        count = self.total
        self.entries.clear()
        self.total = 0
        self.by_model.clear()
        self.by_fault.clear()
        return count

    def summary(self, last: int) -> dict[str, Any]:
        recent = self.entries[-last:] if last > 0 else []
        return {
            "count": self.total,
            "by_model": dict(self.by_model),
            "by_fault": dict(self.by_fault),
            "last": [entry.to_json() for entry in recent],
        }
