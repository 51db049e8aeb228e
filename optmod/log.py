"""The request log: one JSON line per request, appended with a single write call.

Every line is ASCII-escaped JSON with a schema version `v`, written by one `os.write` on a file opened with
O_APPEND, so lines from several workers never interleave. Readers skip a line that does not parse and count
it. Listeners (the stats aggregate, the Prometheus metrics) see each record as it is written, so nothing
re-reads the file to answer a poll.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from operator import attrgetter
from pathlib import Path
from typing import Any

import orjson

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One try of one model: how it ended (`ok`, or the failure class), the status and how long it took."""

    model: str
    tier: int
    outcome: str
    status: int | None
    latency_ms: float
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Alternative:
    model: str
    quality: float
    cost: float
    score: float
    eligible: bool = True


@dataclass(frozen=True, slots=True)
class LogRecord:
    """Everything optmod knows about one request once it has been answered."""

    ts: float  # unix seconds when the request arrived
    request_id: str
    status: int  # HTTP status sent to the client
    ok: bool
    latency_ms: float
    session_id: str | None = None
    router: str | None = None
    model: str | None = None  # the model that answered (or the last one tried)
    tier: int | None = None
    requested_model: str | None = None  # the `model` field the client sent
    attempts: tuple[AttemptRecord, ...] = ()
    escalated: bool = False
    ttft_ms: float | None = None
    overhead_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    cost_estimated: bool = False
    reason: str | None = None
    confidence: float | None = None
    alternatives: tuple[Alternative, ...] = ()
    task_type: str | None = None
    difficulty: float | None = None
    stream: bool = False
    mutators: tuple[str, ...] = ()
    compressor_tokens_before: int | None = None
    compressor_tokens_after: int | None = None
    pin_state: str = "fresh"
    error_type: str | None = None
    error_message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data, like `dataclasses.asdict` but without its recursive deep copy."""
        # asdict took a sixth of the proxy's CPU per request; only `extra` can hold anything mutable.
        data = dict(zip(_RECORD_FIELDS, _record_values(self), strict=True))
        data["attempts"] = tuple(dict(zip(_ATTEMPT_FIELDS, _attempt_values(a), strict=True)) for a in self.attempts)
        data["alternatives"] = tuple(
            dict(zip(_ALTERNATIVE_FIELDS, _alternative_values(a), strict=True)) for a in self.alternatives
        )
        data["extra"] = copy.deepcopy(self.extra) if self.extra else {}
        data["v"] = SCHEMA_VERSION
        return data


_RECORD_FIELDS = tuple(f.name for f in fields(LogRecord))
_ATTEMPT_FIELDS = tuple(f.name for f in fields(AttemptRecord))
_ALTERNATIVE_FIELDS = tuple(f.name for f in fields(Alternative))
_record_values = attrgetter(*_RECORD_FIELDS)
_attempt_values = attrgetter(*_ATTEMPT_FIELDS)
_alternative_values = attrgetter(*_ALTERNATIVE_FIELDS)


def _ascii_json(data: dict[str, Any]) -> bytes:
    raw = orjson.dumps(data)
    if raw.isascii():
        return raw
    text = raw.decode("utf-8")
    return "".join(c if ord(c) < 128 else _escape(c) for c in text).encode("ascii")


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


RecordListener = Callable[[dict[str, Any]], None]


class RequestLog:
    """Appends records to the JSONL file and hands each one to the listeners."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._listeners: list[RecordListener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: RecordListener) -> None:
        self._listeners.append(listener)

    def append(self, record: LogRecord) -> None:
        data = record.to_dict()
        # ASCII-escaped so one write holds the whole line and any reader can split on newlines.
        line = _ascii_json(data) + b"\n"
        with self._lock:
            os.write(self._fd, line)
        for listener in self._listeners:
            listener(data)

    def clear(self) -> None:
        with self._lock:
            os.ftruncate(self._fd, 0)

    def close(self) -> None:
        os.close(self._fd)


@dataclass(slots=True)
class ReadResult:
    records: list[dict[str, Any]]
    corrupt_lines: int


def iter_records(path: Path, end: int | None = None) -> Iterator[dict[str, Any] | None]:
    """Each line's record, or None for a line that is not a JSON object (the caller counts those).

    `end`: read only the lines that lie within the first `end` bytes (the file as it was when a reader began).
    """
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        position = 0
        for line in handle:
            position += len(line)
            if end is not None and position > end:
                break
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                yield None
                continue
            yield record if isinstance(record, dict) else None


def read_records(path: Path) -> ReadResult:
    records: list[dict[str, Any]] = []
    corrupt = 0
    for record in iter_records(path):
        if record is None:
            corrupt += 1
        else:
            records.append(record)
    return ReadResult(records=records, corrupt_lines=corrupt)
