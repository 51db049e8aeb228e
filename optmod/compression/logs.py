"""Repetitive logs: lines that differ only in numbers, ids or timestamps are shown once, with a count.

Two lines share a pattern when they are equal after every digit run becomes `0` and every long hex id
becomes `x`. The first line of each pattern stays verbatim where it was; later ones go, and a line right
after the first says how many there were and repeats the last one verbatim, so the time span stays
visible. A pattern is never merged with a different one, so each distinct warning or error is still there.
"""

from __future__ import annotations

import re
from collections import Counter

_HEX_ID = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{8,}\b")
_DIGITS = re.compile(r"\d+")
MIN_LINES = 30
MAX_PATTERN_SHARE = 0.5
# Log lines carry a time of day or a level; a CSV file or a table whose rows differ only in their numbers does
# not, and there the numbers are the data.
_LOG_SHAPE = re.compile(
    r"\b\d{1,2}:\d{2}:\d{2}\b|\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL)\b|\b(error|warning)\b",
)
MIN_LOG_SHAPE_SHARE = 0.6


def pattern_of(line: str) -> str:
    return _DIGITS.sub("0", _HEX_ID.sub("x", line))


def detect_log(text: str) -> bool:
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < MIN_LINES or sum(1 for line in lines if _LOG_SHAPE.search(line)) < MIN_LOG_SHAPE_SHARE * len(lines):
        return False
    return len({pattern_of(line) for line in lines}) <= MAX_PATTERN_SHARE * len(lines)


def compress_log(text: str) -> str:
    lines = text.split("\n")
    patterns = [pattern_of(line) for line in lines]
    totals = Counter(patterns)
    last_of = {pattern: line for pattern, line in zip(patterns, lines, strict=True)}
    seen: set[str] = set()
    out: list[str] = []
    for line, pattern in zip(lines, patterns, strict=True):
        if not line.strip():
            if out and out[-1].strip():
                out.append(line)
            continue
        if pattern in seen:
            continue
        seen.add(pattern)
        out.append(line)
        if totals[pattern] > 1:
            out.append(_repeat_note(totals[pattern], last_of[pattern], line))
    return "\n".join(out).rstrip("\n") + "\n"


def _repeat_note(total: int, last: str, first: str) -> str:
    if last == first:
        return f"  [x{total} identical lines]"
    return f"  [x{total} lines like this; the last:]\n{last}"
