"""The running statistics of the request log, answering polls from incremental aggregates.

Every record is reduced once to a compact `Row` and added to three kinds of `Tally`: the bucket of its
minute, the bucket of its hour, and the running total. A time window (1h, 6h, 24h) is the sum of at most 59
minute buckets at its head and 25 hour buckets, so a poll costs the same on a log of a thousand or a million
records. The last-N range folds the rows kept in a bounded ring (`MAX_LAST_N`).

Window rule: a record belongs to the window of W minutes when its arrival minute is within the last W whole
minutes, the current minute included (`minute(ts) > minute(now) - W`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optmod.log import iter_records
from optmod.registry import ModelRegistry
from optmod.stats.render import DEFINITIONS, render_recent, render_tally
from optmod.stats.tally import Row, Tally, make_row

MAX_LAST_N = 10_000
RECENT_ROWS = 50
WINDOW_MINUTES = {"1h": 60, "6h": 360, "24h": 1440}
HORIZON_MINUTES = max(WINDOW_MINUTES.values())


class RangeError(ValueError):
    """A `range` that is none of 1h, 6h, 24h, all, or a request count from 1 to MAX_LAST_N."""


@dataclass(frozen=True, slots=True)
class RebuildResult:
    records: int
    corrupt_lines: int
    seconds: float


def parse_range(range_: str) -> int | str:
    """The window name, or the request count of a last-N range."""
    if range_ in WINDOW_MINUTES or range_ == "all":
        return range_
    if range_.isascii() and range_.isdigit() and 1 <= int(range_) <= MAX_LAST_N:
        return int(range_)
    raise RangeError(f"range must be 1h, 6h, 24h, all, or a request count from 1 to {MAX_LAST_N}; got {range_!r}")


class StatsAggregate:
    """The running statistics of the request log: a `RequestLog` listener that answers polls without I/O."""

    def __init__(self, pricing: Callable[[], ModelRegistry], clock: Callable[[], float] = time.time) -> None:
        self._pricing = pricing
        self._clock = clock
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._total = Tally()
        self._minutes: dict[int, Tally] = {}
        self._hours: dict[int, Tally] = {}
        self._ring: deque[Row] = deque(maxlen=MAX_LAST_N)
        self._tiers: dict[str, int] = {}  # last tier recorded per model, for models that left the pool
        self._corrupt_lines = 0
        self._last_ts: float | None = None

    def rebuild(self, path: Path) -> RebuildResult:
        """Fold the existing JSONL once at start-up, replacing whatever was aggregated before."""
        started = time.perf_counter()
        records = corrupt = 0
        with self._lock:
            self._reset()
            oldest_minute = int(self._clock() // 60) - HORIZON_MINUTES
            for record in iter_records(path):
                if record is None:
                    corrupt += 1
                    continue
                records += 1
                self._fold(make_row(record), oldest_minute)
            self._corrupt_lines = corrupt
        return RebuildResult(records=records, corrupt_lines=corrupt, seconds=time.perf_counter() - started)

    def add(self, record: Mapping[str, Any]) -> None:
        row = make_row(record)
        with self._lock:
            self._fold(row, int(self._clock() // 60) - HORIZON_MINUTES)

    def clear(self) -> None:
        with self._lock:
            self._reset()

    def _fold(self, row: Row, oldest_minute: int) -> None:
        self._total.add(row)
        self._ring.append(row)
        if row.tier is not None:
            self._tiers[row.model] = row.tier
        if self._last_ts is None or row.ts > self._last_ts:
            self._last_ts = row.ts
        # Records older than the longest window only count towards `all` and the ring.
        if row.minute <= oldest_minute:
            return
        bucket = self._minutes.get(row.minute)
        if bucket is None:
            bucket = self._minutes[row.minute] = Tally()
        bucket.add(row)
        hour = row.minute // 60
        bucket = self._hours.get(hour)
        if bucket is None:
            bucket = self._hours[hour] = Tally()
        bucket.add(row)

    def snapshot(self, range_: str, active_pins: int) -> dict[str, Any]:
        """The /api/stats body for one range; raises RangeError for a range it does not know."""
        selector = parse_range(range_)
        now = self._clock()
        with self._lock:
            tally, recent = self._select(selector, int(now // 60))
            body = render_tally(tally, self._pricing(), self._tiers)
            body["recent"] = [render_recent(row) for row in reversed(recent)]
            body["log"] = {"records": self._total.n, "corrupt_lines": self._corrupt_lines}
        body["range"] = range_
        body["generated_at"] = now
        body["active_pins"] = active_pins
        body["definitions"] = DEFINITIONS
        return body

    def live(self, active_pins: int) -> dict[str, Any]:
        """Light counts for frequent polling: totals since start-up (or the last clear) and the last minute."""
        now_minute = int(self._clock() // 60)
        with self._lock:
            total = self._total
            minute = self._minutes.get(now_minute, Tally())
            return {
                "requests": total.n,
                "ok": total.ok,
                "errors": total.n - total.ok,
                "escalated": total.escalated,
                "cost_usd": total.cost,
                "requests_this_minute": minute.n,
                "last_request_ts": self._last_ts,
                "active_pins": active_pins,
            }

    def _select(self, selector: int | str, now_minute: int) -> tuple[Tally, list[Row]]:
        """The tally of the range and its most recent rows (oldest first)."""
        if selector == "all":
            return self._total, self._last_rows(RECENT_ROWS)
        if isinstance(selector, int):
            rows = self._last_rows(selector)
            tally = Tally()
            for row in rows:
                tally.add(row)
            return tally, rows[-RECENT_ROWS:]
        first_minute = now_minute - WINDOW_MINUTES[selector] + 1
        self._prune(now_minute - HORIZON_MINUTES)
        recent = [row for row in self._last_rows(RECENT_ROWS) if row.minute >= first_minute]
        return self._window(first_minute), recent

    def _last_rows(self, count: int) -> list[Row]:
        ring = self._ring
        return [ring[i] for i in range(max(len(ring) - count, 0), len(ring))]

    def _window(self, first_minute: int) -> Tally:
        first_full_hour = -(-first_minute // 60)
        tally = Tally()
        for minute in range(first_minute, first_full_hour * 60):
            bucket = self._minutes.get(minute)
            if bucket is not None:
                tally.merge(bucket)
        for hour, bucket in self._hours.items():
            if hour >= first_full_hour:
                tally.merge(bucket)
        return tally

    def _prune(self, oldest_minute: int) -> None:
        for minute in [m for m in self._minutes if m <= oldest_minute]:
            del self._minutes[minute]
        for hour in [h for h in self._hours if (h + 1) * 60 - 1 <= oldest_minute]:
            del self._hours[hour]
