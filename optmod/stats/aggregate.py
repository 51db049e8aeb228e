"""The running statistics of the request log, answering polls from incremental aggregates.

Every record is reduced once to a compact `Row`, kept in a bounded ring (`MAX_LAST_N`), and added to the
open *block*: a `Tally` of consecutive records of one minute. When a block closes (a record of another
minute, `BLOCK_RECORDS` records, or a poll) it is merged into the bucket of its minute, the bucket of its hour
and the running total, so each record costs one `Tally.add`. A time window (1h, 6h, 24h) is the sum of at
most 59 minute buckets at its head and 25 hour buckets; a last-N range is the sum of the blocks it covers
plus the rows of one partial block. A poll therefore costs the same on a log of a thousand or a million.

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
BLOCK_RECORDS = 256
# A block this small is cheaper to re-add row by row than to merge.
MIN_MERGED_BLOCK = 8
# Records folded per hold of the lock while the log is read at start-up (about 10 ms of work).
REBUILD_BATCH = 1000


class RangeError(ValueError):
    """A `range` that is none of 1h, 6h, 24h, all, or a request count from 1 to MAX_LAST_N."""


@dataclass(slots=True)
class _Block:
    """Consecutive records of one minute, counted together; `start` is the log index of the first."""

    start: int
    minute: int
    tally: Tally


@dataclass(frozen=True, slots=True)
class RebuildResult:
    records: int
    corrupt_lines: int
    seconds: float


def parse_range(range_: str) -> int | str:
    """The window name, or the request count of a last-N range."""
    if range_ in WINDOW_MINUTES or range_ == "all":
        return range_
    # The length first: int() refuses (with a ValueError) a string of digits longer than 4,300.
    if range_.isascii() and range_.isdigit() and len(range_) <= len(str(MAX_LAST_N)) and 1 <= int(range_) <= MAX_LAST_N:
        return int(range_)
    raise RangeError(f"range must be 1h, 6h, 24h, all, or a request count from 1 to {MAX_LAST_N}; got {range_!r}")


class StatsAggregate:
    """The running statistics of the request log: a `RequestLog` listener that answers polls without I/O."""

    def __init__(self, pricing: Callable[[], ModelRegistry], clock: Callable[[], float] = time.time) -> None:
        self._pricing = pricing
        self._clock = clock
        self._lock = threading.Lock()
        # While a background rebuild runs: the records written meanwhile, folded after it (None: no rebuild).
        self._pending: list[Row] | None = None
        self._discard_rebuild = False  # the log was cleared during the rebuild: what it reads is stale
        self._reset()

    def _reset(self) -> None:
        self._total = Tally()
        self._minutes: dict[int, Tally] = {}
        self._hours: dict[int, Tally] = {}
        self._ring: deque[Row] = deque(maxlen=MAX_LAST_N)
        self._blocks: deque[_Block] = deque()  # closed blocks covering at least the ring, oldest first
        self._open: _Block | None = None
        self._seen = 0  # records folded since the last reset: the log index of the next one
        self._tiers: dict[str, int] = {}  # last tier recorded per model, for models that left the pool
        self._corrupt_lines = 0
        self._last_ts: float | None = None

    def rebuild(self, path: Path, end: int | None = None) -> RebuildResult:
        """Fold the existing JSONL once at start-up (its first `end` bytes), replacing what was aggregated."""
        with self._lock:
            self._reset()
        return self._fold_log(path, end)

    def rebuild_in_background(self, path: Path, end: int, done: Callable[[RebuildResult], None]) -> threading.Thread:
        """Fold the JSONL's first `end` bytes (its size now) in a thread of its own, so a large log does not hold
        up start-up.

        The ranges fill in as it reads; records written meanwhile wait and are folded right after it, in order,
        and `/api/stats` says `rebuilding` until then. `done` gets the result in that thread.
        """
        with self._lock:
            self._reset()
            self._pending, self._discard_rebuild = [], False
        thread = threading.Thread(target=lambda: done(self._fold_log(path, end)), name="stats-rebuild", daemon=True)
        thread.start()
        return thread

    def _fold_log(self, path: Path, end: int | None) -> RebuildResult:
        """Fold the log's records a batch per lock, so polls and new records never wait for the whole file;
        then the records that arrived meanwhile, if a background rebuild kept them back."""
        started = time.perf_counter()
        records = corrupt = 0
        batch: list[Row] = []
        for record in iter_records(path, end):
            if record is None:
                corrupt += 1
                continue
            batch.append(make_row(record))
            if len(batch) == REBUILD_BATCH:
                records += self._fold_batch(batch)
                batch = []
        with self._lock:
            records += self._fold_batch_locked(batch)
            if not self._discard_rebuild:
                self._close_block()
                self._corrupt_lines = corrupt
            pending, self._pending, self._discard_rebuild = self._pending or [], None, False
            for row in pending:
                self._fold(row)
        return RebuildResult(records=records, corrupt_lines=corrupt, seconds=time.perf_counter() - started)

    def _fold_batch(self, rows: list[Row]) -> int:
        with self._lock:
            return self._fold_batch_locked(rows)

    def _fold_batch_locked(self, rows: list[Row]) -> int:
        if self._discard_rebuild:  # the log was cleared while it was being read: the rest is stale too
            return 0
        for row in rows:
            self._fold(row)
        return len(rows)

    @property
    def rebuilding(self) -> bool:
        return self._pending is not None

    def add(self, record: Mapping[str, Any]) -> None:
        row = make_row(record)
        with self._lock:
            if self._pending is not None:
                self._pending.append(row)  # a rebuild is running: the log's older records come first
            else:
                self._fold(row)

    def clear(self) -> None:
        with self._lock:
            self._reset()
            if self._pending is not None:
                self._pending.clear()
                self._discard_rebuild = True

    def _fold(self, row: Row) -> None:
        self._ring.append(row)
        if row.tier is not None:
            self._tiers[row.model] = row.tier
        if self._last_ts is None or row.ts > self._last_ts:
            self._last_ts = row.ts
        block = self._open
        if block is None or block.minute != row.minute or block.tally.n >= BLOCK_RECORDS:
            self._close_block()
            block = self._open = _Block(start=self._seen, minute=row.minute, tally=Tally())
        block.tally.add(row)
        self._seen += 1

    def _close_block(self) -> None:
        block = self._open
        if block is None:
            return
        self._open = None
        self._total.merge(block.tally)
        # Records older than the longest window only count towards `all` and the last-N ranges.
        oldest_minute = int(self._clock() // 60) - HORIZON_MINUTES
        if block.minute > oldest_minute:
            if block.minute // 60 not in self._hours:
                # Once an hour, so memory stays bounded even when nobody polls a window.
                self._prune(oldest_minute)
            _bucket(self._minutes, block.minute).merge(block.tally)
            _bucket(self._hours, block.minute // 60).merge(block.tally)
        blocks = self._blocks
        blocks.append(block)
        while blocks and blocks[0].start + blocks[0].tally.n <= self._seen - MAX_LAST_N:
            blocks.popleft()

    def snapshot(self, range_: str, active_pins: int) -> dict[str, Any]:
        """The /api/stats body for one range; raises RangeError for a range it does not know."""
        selector = parse_range(range_)
        now = self._clock()
        with self._lock:
            self._close_block()
            tally, recent = self._select(selector, int(now // 60))
            body = render_tally(tally, self._pricing(), self._tiers)
            body["recent"] = [render_recent(row) for row in reversed(recent)]
            body["log"] = {
                "records": self._total.n,
                "corrupt_lines": self._corrupt_lines,
                "rebuilding": self._pending is not None,
            }
        body["range"] = range_
        body["generated_at"] = now
        body["active_pins"] = active_pins
        body["definitions"] = DEFINITIONS
        return body

    def live(self, active_pins: int) -> dict[str, Any]:
        """Light counts for frequent polling: totals since start-up (or the last clear) and the last minute."""
        now_minute = int(self._clock() // 60)
        with self._lock:
            self._close_block()
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
            return self._total, self._rows_from(self._seen - RECENT_ROWS)
        if isinstance(selector, int):
            return self._last_n(selector), self._rows_from(self._seen - min(selector, RECENT_ROWS))
        first_minute = now_minute - WINDOW_MINUTES[selector] + 1
        self._prune(now_minute - HORIZON_MINUTES)
        recent = [row for row in self._rows_from(self._seen - RECENT_ROWS) if row.minute >= first_minute]
        return self._window(first_minute), recent

    def _rows_from(self, index: int, end: int | None = None) -> list[Row]:
        """Rows by log index, from `index` (clamped to what the ring holds) to `end` (exclusive)."""
        ring, offset = self._ring, self._seen - len(self._ring)
        stop = self._seen if end is None else end
        return [ring[i - offset] for i in range(max(index, offset), stop)]

    def _last_n(self, count: int) -> Tally:
        first = self._seen - count
        tally = Tally()
        for block in reversed(self._blocks):
            end = block.start + block.tally.n
            if end <= first:
                break
            if block.start >= first and block.tally.n >= MIN_MERGED_BLOCK:
                tally.merge(block.tally)
            else:
                for row in self._rows_from(max(first, block.start), end):
                    tally.add(row)
        return tally

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


def _bucket(buckets: dict[int, Tally], key: int) -> Tally:
    bucket = buckets.get(key)
    if bucket is None:
        bucket = buckets[key] = Tally()
    return bucket
